//! Layer 3, reports: outputs built from the register's rows: the members CSV (`export`),
//! the indicators of issue 16, every one built from the definitions written once in
//! `definitions`; subsidy eligibility per year (`subsidies`), with the subsidy rules the
//! review queue judges too; the village rosters and indicator lists (`rosters`), and the
//! spreadsheet files they are written as (`sheet`); the console's progress counts of an
//! area (`progress`); system information comparison (`comparison`): other offices' rosters
//! imported and their mismatches with the ledger, the one part of this layer that writes
//! (its own tables, through `storage::imported_rosters`).
//!
//! Reports read storage and use access (what a reader may see), never decisions, ingest,
//! `http` or the CLI.

pub mod comparison;
pub mod definitions;
pub mod export;
pub mod indicators;
pub mod months;
pub mod progress;
pub mod rosters;
pub mod sheet;
pub mod subsidies;
