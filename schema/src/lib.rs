//! Doorstep's data model: everything the phone and the server must agree on.
//!
//! No I/O and no async: every function here is a pure function of its inputs, so both sides
//! compute the same validation, the same member keys and the same document layout.

pub mod codes;
pub mod fields;
pub mod id_number;
pub mod ids;
pub mod layout;
pub mod message;
pub mod validation;
pub mod wire;

pub use id_number::{IdNumber, IdNumberError, Sex};
pub use message::Message;
