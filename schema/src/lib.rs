//! Doorstep's data model: everything the phone and the server must agree on.
//!
//! No I/O and no async: every function here is a pure function of its inputs, so both sides
//! compute the same validation, the same member keys and the same document layout.

pub mod codes;
pub mod enrollment;
pub mod error_code;
pub mod fields;
pub mod id_number;
pub mod ids;
pub mod layout;
pub mod message;
pub mod photo;
pub mod quarantine;
pub mod search;
pub mod shape;
pub mod tasks;
pub mod validation;
pub mod wire;

pub use id_number::{IdNumber, IdNumberError, Sex};
pub use message::Message;

/// Today's date in China (UTC+8) at the given moment. The policy's dates (ages, "in the
/// future", months of this year) are Chinese calendar dates, whatever the server's zone.
pub fn china_date(moment: jiff::Timestamp) -> jiff::civil::Date {
    moment
        .to_zoned(jiff::tz::TimeZone::fixed(jiff::tz::offset(8)))
        .date()
}
