//! `doorstep report …`: the policy's reports from the database, for a county's own scripts
//! and the operator, each audited as `operator`. One file per report; this enum names them.

mod indicators;
mod roster;
mod subsidies;

use crate::clock::Clock;
use crate::storage::db::Db;
use crate::storage::vault::Vault;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The indicators of an area (village, township or county) as of a date or a month.
    Indicators(indicators::IndicatorsArgs),
    /// A roster of 一库五册 or an indicator list of an area, as XLSX, CSV or JSON.
    Roster(roster::RosterArgs),
    /// Subsidy eligibility of an area in a year: who is eligible, what was claimed and
    /// paid, which claims break a rule.
    Subsidies(subsidies::SubsidiesArgs),
}

pub async fn run(
    db: &Db,
    vault: &Vault,
    clock: &Clock,
    command: ReportCommand,
) -> Result<(), String> {
    match command {
        ReportCommand::Indicators(args) => indicators::run(db, clock, args).await,
        ReportCommand::Roster(args) => roster::run(db, vault, clock, args).await,
        ReportCommand::Subsidies(args) => subsidies::run(db, clock, args).await,
    }
}
