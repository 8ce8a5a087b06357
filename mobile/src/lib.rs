//! Doorstep's phone core: the one crate that knows about FFI.
//!
//! A thin UniFFI facade (proc-macros, no UDL) over `client-core`: the store object a phone
//! UI holds ([`DoorstepStore`]), plain records for what it reads, one small error with the
//! message to show in Chinese and English ([`DoorstepError`]), and a sync that runs on its
//! own thread, reports through a listener the app implements, and can be cancelled.
//! `scripts/mobile-bindings` generates the Kotlin, Swift and Python bindings from the
//! built library.

uniffi::setup_scaffolding!();

#[cfg(feature = "bench")]
pub mod bench;
mod catalog;
mod error;
mod household;
mod photos;
mod store;
mod sync;

pub use catalog::{Choice, FieldSpec, InputKind, RecordKind, field_catalog, visit_outcomes};
pub use error::{DoorstepError, Result};
pub use household::{
    Bilingual, Candidate, FieldConflict, FieldEntry, Household, HouseholdQuery, HouseholdSummary,
    Member, Severity, TodoItem, ValidationIssue, Visit, VisitTask,
};
pub use photos::{Photo, PhotoHeld, PhotoUpload};
pub use store::{DeviceProfile, DoorstepStore, FieldEdit, GpsPoint};
pub use sync::{
    PhotoUploadReport, SyncListener, SyncOptions, SyncOutcome, SyncProgress, SyncReport, SyncTask,
};
