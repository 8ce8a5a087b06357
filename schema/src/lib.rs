//! Doorstep's data model: everything the phone and the server must agree on.
//!
//! No I/O and no async: every function here is a pure function of its inputs, so both sides
//! compute the same validation, the same member keys and the same document layout.

pub mod codes;
pub mod id_number;
pub mod message;

pub use id_number::{IdNumber, IdNumberError, Sex};
pub use message::Message;
