//! How a household lives inside an Automerge document.
//!
//! The document's root map is flat: every field is one root key, and the key is the field's
//! path (`members.<key>.employment.status`). A multi-select stores one key per chosen code
//! (`household.causes.07 = true`). Nothing is ever written as a nested object, because two
//! phones that create the same nested object offline create two competing objects, and one
//! side's fields would vanish behind the other's. Flat keys merge field by field. See
//! `docs/adr/0001-flat-household-documents.md`.
//!
//! Besides fields the root holds `schema_version` and, per Automerge actor that wrote to the
//! document, `actors.<actor hex>.device` and `actors.<actor hex>.volunteer` (or `.staff` for a
//! county staff member deciding a review item), so every value can be traced to a device and
//! a person without asking the server.

mod history;
mod identity;
mod migrate;
mod origin;
mod read;
mod value;
mod view;
mod write;

pub use history::{HistoryEntry, field_history, histories};
pub use identity::identity_problem;
pub use migrate::migrate;
pub use origin::{ChangeOrigin, review_message, visit_message};
pub use read::{read_household, refresh_household};
pub use value::FieldValue;
pub use view::{
    ActorInfo, Candidate, Conflict, Field, HouseholdView, Record, is_present, member_status,
};
pub use write::{has_actor, init_household, write_actor, write_field};

use crate::message::Message;
use crate::shape::{self, READABLE_FROM, VERSION_KEY};

/// The layout this code reads and writes: the fields of the catalog, each with the version
/// that added it (`FieldSpec::since`). `docs/LAYOUT.md` describes every version. What a
/// document says in `schema_version` is another number, `shape::READABLE_FROM` (ADR 0009).
pub const SCHEMA_VERSION: u64 = 3;

/// Why a document could not be read or written as a household.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    #[error("the document is not a household document (it has no schema_version)")]
    NotAHousehold,
    #[error(
        "the document was written by a newer version (layout {found}, this one knows {SCHEMA_VERSION})"
    )]
    TooNew { found: u64 },
    /// `schema_version` holds something other than a whole number: `found` names it.
    #[error("schema_version must be the unsigned integer {READABLE_FROM}, but it holds {}", found.en)]
    BadVersion { found: Message },
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

impl LayoutError {
    pub fn message(&self) -> Message {
        match self {
            LayoutError::NotAHousehold => Message::new(
                "该文档不是户档案（缺少 schema_version）",
                "The document is not a household document (it has no schema_version)",
            ),
            LayoutError::TooNew { found } => Message::new(
                format!("该户档案由更新版本的程序写入（格式 {found}），请先升级本程序"),
                format!(
                    "This household was written by a newer version (layout {found}); please update the app"
                ),
            ),
            LayoutError::BadVersion { found } => shape::wrong_type(VERSION_KEY, found),
            LayoutError::Automerge(err) => Message::new(
                format!("文档数据损坏：{err}"),
                format!("The document data is damaged: {err}"),
            ),
        }
    }
}
