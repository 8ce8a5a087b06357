//! Layer 3, reports: outputs built from the register's rows: the members CSV (`export`), the
//! village rosters (`rosters`), and the spreadsheet files both are written as (`sheet`).
//!
//! Reports read storage and use access (what a reader may see), never decisions, ingest,
//! `http` or the CLI.

pub mod export;
pub mod rosters;
pub mod sheet;
