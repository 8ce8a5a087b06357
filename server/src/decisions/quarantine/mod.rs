//! Quarantine: changes a device uploaded that screening refused (`decisions::screen`), held
//! for county staff to release or discard.
//!
//! Nothing a device sends is dropped. A refused change is stored here, sealed like every
//! change, with the rule it broke, and the device is told it is held, so it stops sending it.
//! Staff then decide:
//!
//! - **Release**: the change is applied as if it had been accepted, in one write
//!   transaction, with the register rows and the review queue, as any accepted change.
//! - **Discard**: the change still enters the household's history, and a staff change made
//!   right after it restores what it overwrote. The phone's later changes build on it, so
//!   dropping it would strand them, and the phone could never converge with the server
//!   (ADR 0006).
//!
//! Either way, changes held only because they build on the decided one (rule `waits`) are
//! applied with it: they broke no rule of their own. A change that waits for another still
//! open cannot be decided first; a change of a household the server never created is
//! discarded outright, with everything built on it, since there is no document to enter.
//!
//! The files: `held` reads the quarantine's changes for ingest and writes what screening
//! held; `screened` is an upload's changes sorted by screening; `items` lists and shows held
//! changes to staff; `decide` releases or discards one; `undo` makes the staff changes that
//! undo a discarded one.

mod decide;
mod held;
mod items;
mod screened;
mod undo;

pub use decide::{Decided, HoldDecision, QuarantineError, decide, not_found};
pub use held::{held_elsewhere, held_for, write_holds};
pub use items::{
    HoldDetail, HoldFilter, HoldItem, HoldPage, KeyChange, detail, item, key_changes, list,
};
pub use screened::{Screened, ScreenedUpload};
pub use undo::undo;

use automerge::{Change, ChangeHash};
use schema::Message;
use schema::quarantine::Rule;
use serde::Serialize;

/// A change of a household held in quarantine, as ingest needs it.
#[derive(Debug, Clone)]
pub struct HeldChange {
    pub change: Change,
    pub village: String,
    /// The device that sent it.
    pub device_id: String,
    pub status: HoldStatus,
    pub rule: Option<Rule>,
    pub reason: Message,
    pub waits_for: Option<ChangeHash>,
}

/// Where a quarantined change stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldStatus {
    /// Waiting for staff.
    Open,
    /// Applied as sent, by a staff decision (or with the change it waited for).
    Released,
    /// In the history, its effect undone by a staff change; or, for a household the server
    /// never created, kept here only.
    Discarded,
    /// Sent again later by a device allowed to write it, and applied then.
    Accepted,
}

impl HoldStatus {
    pub const ALL: [HoldStatus; 4] = [
        HoldStatus::Open,
        HoldStatus::Released,
        HoldStatus::Discarded,
        HoldStatus::Accepted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            HoldStatus::Open => "open",
            HoldStatus::Released => "released",
            HoldStatus::Discarded => "discarded",
            HoldStatus::Accepted => "accepted",
        }
    }

    pub fn parse(text: &str) -> Option<HoldStatus> {
        HoldStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}
