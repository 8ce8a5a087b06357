//! Layer 3, reports: outputs built from the register's rows, such as the members CSV
//! (`export`) and the progress counts of an area (`progress`).
//!
//! Reports read storage and use access (what a reader may see), never decisions, ingest,
//! `http` or the CLI.

pub mod export;
pub mod progress;
