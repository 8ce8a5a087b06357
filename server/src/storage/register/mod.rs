//! The register: households, members, visits, trainings and subsidies as plain rows, projected from the documents
//! in the same transaction as the changes, and read back for staff.
//!
//! An ID number is stored sealed, beside its keyed lookup hash ([`Vault::lookup_hash`]): a
//! search for a whole number and duplicate detection compare hashes, and nothing else needs
//! the number itself. The search text holds names and household numbers, not ID numbers.
//! A member's employer is sealed too, since no query filters on it (the export opens it).
//! The birth date is sealed whole, and its year and its month and day are kept plain beside
//! it, so that the indicators place a member's age exactly at any date in SQL. What stays
//! plain, and why, is listed in `docs/SECURITY.md`.
//!
//! Trainings and subsidies (migration 0009) are rows too, each naming its member by key:
//! the indicators count trainees and employment after training, and the subsidy rules check
//! amounts per person and year, over a whole county at once.
//!
//! What only the rosters show of a member (education, the job's place and income, the
//! training wanted, …: `DETAIL_FIELDS`) is sealed together as one JSON object, since no
//! query filters on it.
//!
//! Every member the document holds has a row, with its status (`layout::member_status`);
//! only present members count (`member_count`) and are searched for. The others are history,
//! shown with their status.
//!
//! `projection.rs` computes a household's rows from its view; `write.rs` writes them;
//! `list.rs` reads the household list for staff.

mod list;
mod projection;
mod write;

pub use list::{After, Attention, HouseholdPage, HouseholdQuery, HouseholdRow, list};
pub use projection::{DETAIL_FIELDS, MemberDetails, Projection};
pub use write::{open_details, project, refill_pending, write};

#[cfg(test)]
mod tests;
