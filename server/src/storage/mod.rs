//! Layer 1, storage: the database and what is kept in it.
//!
//! `db` (the pool, migrations, the write order, batch helpers, planner statistics), `vault`
//! (sealing at rest) and `data_key` (the key ring tied to its database); the ledger of
//! household documents (changes, the feed, first downloads, snapshots, compaction, the
//! document cache); the register's rows, projected from the documents and queried for
//! staff; the administrative `areas`; and the yearly `subsidy_settings`.
//!
//! Storage may use the base modules (`clock`, `config`, `parallel`) and nothing above it: it
//! never calls the review queue, the quarantine, decisions or ingest. A caller that writes
//! through the ledger does what follows a write (refreshing the review queue) itself.

pub mod areas;
pub mod data_key;
pub mod db;
pub mod imported_rosters;
pub mod ledger;
pub mod register;
pub mod subsidy_settings;
#[cfg(test)]
mod test_support;
pub mod vault;
