//! `doorstep report …`: the policy's reports from the database, for a county's own scripts
//! and the operator, each audited as `operator`. One file per report; this enum names them.

mod indicators;

use crate::clock::Clock;
use crate::storage::db::Db;
use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// The indicators of an area (village, township or county) as of a date or a month.
    Indicators(indicators::IndicatorsArgs),
}

pub async fn run(db: &Db, clock: &Clock, command: ReportCommand) -> Result<(), String> {
    match command {
        ReportCommand::Indicators(args) => indicators::run(db, clock, args).await,
    }
}
