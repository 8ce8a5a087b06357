//! `doorstep report roster --area CODE --roster NAME [--xlsx FILE | --csv FILE] [--reveal]`:
//! a roster or indicator list (`reports::rosters`) as an XLSX or CSV file, or as JSON on
//! standard output. ID numbers are masked unless `--reveal`; the export is audited (action
//! `export`) either way.

use crate::access::privacy::Sight;
use crate::cli::{audit_operator, database_failed};
use crate::clock::Clock;
use crate::reports::rosters::{self, Roster};
use crate::storage::db::Db;
use crate::storage::vault::Vault;
use clap::Args;
use schema::Message;
use schema::ids::AreaCode;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct RosterArgs {
    /// A village, township or county code.
    #[arg(long, value_parser = area)]
    pub area: AreaCode,
    /// poor_labour, training, transfer_employment, self_employment, public_welfare,
    /// failing_households or untrained.
    #[arg(long, value_parser = roster)]
    pub roster: Roster,
    /// Write an XLSX workbook to this file.
    #[arg(long, conflicts_with = "csv")]
    pub xlsx: Option<PathBuf>,
    /// Write a CSV file (UTF-8 with a byte order mark) to this file.
    #[arg(long)]
    pub csv: Option<PathBuf>,
    /// ID numbers and other sensitive fields in full.
    #[arg(long)]
    pub reveal: bool,
}

fn area(text: &str) -> Result<AreaCode, String> {
    AreaCode::parse(text).map_err(|err| err.message.to_string())
}

fn roster(text: &str) -> Result<Roster, String> {
    Roster::from_slug(text).ok_or_else(|| {
        let known = Roster::ALL.map(Roster::slug).join(", ");
        Message::new(
            format!("没有名为“{text}”的花名册；可用：{known}"),
            format!("no roster named \"{text}\"; the rosters are: {known}"),
        )
        .to_string()
    })
}

pub async fn run(db: &Db, vault: &Vault, clock: &Clock, args: RosterArgs) -> Result<(), String> {
    let sight = Sight::for_operator(args.reveal);
    let sheet = rosters::roster(db, vault, args.roster, &args.area, sight, clock.today())
        .await
        .map_err(database_failed)?;
    let (format, bytes) = match (&args.xlsx, &args.csv) {
        (Some(_), _) => (
            "xlsx",
            sheet.to_xlsx().map_err(|err| {
                Message::new(
                    format!("无法生成 XLSX：{err}"),
                    format!("cannot write the XLSX: {err}"),
                )
                .to_string()
            })?,
        ),
        (None, Some(_)) => ("csv", sheet.to_csv().into_bytes()),
        (None, None) => (
            "json",
            serde_json::to_vec_pretty(&sheet).map_err(|err| err.to_string())?,
        ),
    };
    let detail = format!(
        "roster {} ({}), {format}, {} rows, ID numbers {}",
        args.roster.slug(),
        args.roster.name().zh,
        sheet.rows.len(),
        if args.reveal { "in full" } else { "masked" }
    );
    audit_operator(db, clock, "export", args.area.as_str(), &detail).await?;
    match args.xlsx.as_ref().or(args.csv.as_ref()) {
        Some(file) => {
            write(file, &bytes)?;
            println!("{} rows → {}", sheet.rows.len(), file.display());
        }
        None => println!("{}", String::from_utf8_lossy(&bytes)),
    }
    Ok(())
}

fn write(file: &Path, bytes: &[u8]) -> Result<(), String> {
    std::fs::write(file, bytes).map_err(|err| {
        Message::new(
            format!("无法写入文件 {}：{err}", file.display()),
            format!("cannot write {}: {err}", file.display()),
        )
        .to_string()
    })
}
