//! `doorstep report …`: the reports of issue 16 from the command line, on the database
//! directly, audited as `operator`.

pub mod roster;

use crate::clock::Clock;
use crate::storage::db::Db;
use crate::storage::vault::Vault;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// A roster of 一库五册 or an indicator list of an area, as XLSX, CSV or JSON.
    Roster(roster::RosterArgs),
}

pub async fn run(
    db: &Db,
    vault: &Vault,
    clock: &Clock,
    command: ReportCommand,
) -> Result<(), String> {
    match command {
        ReportCommand::Roster(args) => roster::run(db, vault, clock, args).await,
    }
}
