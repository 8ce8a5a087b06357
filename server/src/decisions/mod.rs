//! Layer 3, decisions: what county staff decide, and the rules a device's upload is held to.
//!
//! The review queue (`review`): finding conflicts, rule errors and duplicates in a merged
//! household, listing them, an item's history. The staff decisions: pure change-makers that
//! turn a decision into Automerge changes, and the workflows that run one in a write
//! transaction as read → decide → write → refresh the review queue → audit (resolving an
//! item, merging households, moving a member, dismissing a duplicate, removing a member
//! entered by mistake, releasing or discarding a quarantined change), and editing a year's
//! subsidy parameters, which judges that year's claims again. Screening (`screen`,
//! pure) and the quarantine's holds.
//!
//! Decisions may use storage, access and the base modules, never ingest, `http` or the CLI.
//! Their errors are their own; `http` maps them to answers.

pub mod changes;
pub mod dismiss;
pub mod error;
pub mod member_removal;
pub mod merge;
pub mod move_member;
pub mod quarantine;
pub mod resolve;
pub mod review;
pub mod screen;
pub mod subsidy_settings;
pub mod tasks;
#[cfg(test)]
mod test_support;
pub mod workflow;
pub mod write;
