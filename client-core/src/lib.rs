//! Doorstep on one device: the durable offline store and the recording API a phone UI calls.
//!
//! The store keeps each household as an Automerge document in SQLite, checks every edit
//! against the policy's rules, and remembers what the server has confirmed. It knows nothing
//! of the server crate; the sync client talks to it only through the wire types in `schema`.

mod db;
pub mod error;
pub mod photo;
pub mod store;
pub mod sync;
pub mod transport;

pub use error::{Error, Result};
pub use store::{
    DeviceProfile, GpsPoint, HouseholdDetail, HouseholdSummary, SearchQuery, Store, TodoItem,
};
