//! `doorstep areas import`: administrative areas (province to village codes) from a CSV file,
//! audited as `operator`.

use super::{audit_operator, database_failed, unreadable};
use crate::clock::Clock;
use crate::storage::areas;
use crate::storage::db::Db;
use clap::Subcommand;
use schema::Message;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum AreasCommand {
    /// Add or rename areas from a CSV file of `code,name` lines.
    Import { file: PathBuf },
}

pub async fn run(db: &Db, clock: &Clock, command: AreasCommand) -> Result<(), String> {
    let AreasCommand::Import { file } = command;
    let text = std::fs::read_to_string(&file).map_err(|err| unreadable(&file, &err))?;
    let parsed = areas::parse(&text).map_err(|err| {
        Message::new(
            format!("{} 第 {} 行：{}", file.display(), err.line, err.message.zh),
            format!("{} line {}: {}", file.display(), err.line, err.message.en),
        )
        .to_string()
    })?;
    let count = areas::import(db, &parsed).await.map_err(database_failed)?;
    audit_operator(
        db,
        clock,
        "areas.import",
        &file.display().to_string(),
        &format!("{count} areas"),
    )
    .await?;
    println!("imported {count} areas");
    Ok(())
}
