//! `doorstep roster …`: imported rosters on the database, for the operator and a county's
//! scripts (`comparison`), audited as `operator`:
//!
//! - `roster import FILE --kind K [--area A] [--map HEADER=FIELD…] [--set-aside-bad-rows]
//!   [--errors-xlsx OUT]`: a file refused for its rows prints every error (and writes them
//!   as a spreadsheet with `--errors-xlsx`) and stores nothing;
//! - `roster list`, `roster withdraw ID`;
//! - `roster mismatches --area A [--kind K] [--reveal]`: the open mismatches as JSON lines,
//!   then the counts per village.

use crate::access::privacy::Sight;
use crate::cli::{audit_operator, database_failed, unreadable};
use crate::clock::Clock;
use crate::decisions::error::ReviewError;
use crate::ingest::tasks;
use crate::reports::comparison::kinds::{Mapping, RosterKind, mapping_pair};
use crate::reports::comparison::{self, Clerk, ComparisonError, ImportRequest};
use crate::storage::db::Db;
use crate::storage::ledger::Ledger;
use crate::storage::vault::Vault;
use clap::{Args, Subcommand};
use schema::Message;
use schema::ids::AreaCode;
use std::path::PathBuf;

#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Import a roster (XLSX or CSV, UTF-8 or GBK) of another office for comparison.
    Import(ImportArgs),
    /// Every import, newest first.
    List,
    /// Withdraw an import: it leaves the comparison.
    Withdraw {
        /// The import's id (`roster list`).
        id: String,
    },
    /// The open mismatches of an area.
    Mismatches(MismatchArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    pub file: PathBuf,
    /// registry, social_insurance, employment_registration or training_completion.
    #[arg(long, value_parser = kind)]
    pub kind: RosterKind,
    /// The area the roster covers (a newer roster of the kind and area replaces it).
    #[arg(long, value_parser = area, default_value = "141124")]
    pub area: AreaCode,
    /// A column of the file and the field it holds, `缴费单位=employer`; repeatable.
    #[arg(long = "map")]
    pub map: Vec<String>,
    /// Import the good rows and set the bad ones aside, instead of refusing the file.
    #[arg(long)]
    pub set_aside_bad_rows: bool,
    /// When the file is refused for its rows, write their errors to this XLSX file.
    #[arg(long)]
    pub errors_xlsx: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct MismatchArgs {
    #[arg(long, value_parser = area)]
    pub area: AreaCode,
    #[arg(long, value_parser = kind)]
    pub kind: Option<RosterKind>,
    /// ID numbers and birth dates in full.
    #[arg(long)]
    pub reveal: bool,
}

fn kind(text: &str) -> Result<RosterKind, String> {
    RosterKind::from_slug(text).ok_or_else(|| RosterKind::unknown(text).to_string())
}

fn area(text: &str) -> Result<AreaCode, String> {
    AreaCode::parse(text).map_err(|err| err.message.to_string())
}

fn operator() -> Clerk {
    Clerk {
        actor: "operator".into(),
        role: "operator".into(),
        client: "cli".into(),
    }
}

fn failed(err: ComparisonError) -> String {
    match err {
        ComparisonError::Refused(message) | ComparisonError::NotFound(message) => {
            message.to_string()
        }
        ComparisonError::Database(err) => database_failed(err),
        err => Message::new(
            format!("比对失败：{err}"),
            format!("comparison failed: {err}"),
        )
        .to_string(),
    }
}

fn json_line(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The comparison's open mismatches become visit tasks, and vanished ones settle theirs, as
/// after an import through the API.
async fn follow(db: &Db, vault: &Vault, clock: &Clock) -> Result<(), String> {
    let ledger = Ledger::new(db.clone(), vault.clone(), clock.clone());
    tasks::follow_all(&ledger)
        .await
        .map(|_| ())
        .map_err(|err| match err {
            ReviewError::NotFound(message)
            | ReviewError::Refused(message)
            | ReviewError::Stale(message) => message.to_string(),
            ReviewError::Database(err) => database_failed(err),
            err => Message::new(
                format!("核实任务未能更新：{err}"),
                format!("visit tasks were not brought up to date: {err}"),
            )
            .to_string(),
        })
}

pub async fn run(
    db: &Db,
    vault: &Vault,
    clock: &Clock,
    command: RosterCommand,
) -> Result<(), String> {
    match command {
        RosterCommand::Import(args) => import(db, vault, clock, args).await,
        RosterCommand::List => {
            for roster in comparison::imports(db).await.map_err(failed)? {
                println!("{}", json_line(&roster));
            }
            Ok(())
        }
        RosterCommand::Withdraw { id } => {
            let roster = comparison::withdraw(
                db,
                vault,
                &id,
                &operator(),
                clock.now_seconds(),
                clock.today(),
            )
            .await
            .map_err(failed)?;
            follow(db, vault, clock).await?;
            println!("{}", json_line(&roster));
            Ok(())
        }
        RosterCommand::Mismatches(args) => {
            let sight = Sight::for_operator(args.reveal);
            let found = comparison::mismatches(db, vault, &args.area, args.kind, sight)
                .await
                .map_err(failed)?;
            for mismatch in &found {
                println!("{}", json_line(mismatch));
            }
            for count in comparison::counts(db, &args.area).await.map_err(failed)? {
                if args.kind.is_none_or(|kind| kind == count.kind) {
                    eprintln!("{}\t{}\t{}", count.area, count.kind.slug(), count.count);
                }
            }
            let detail = format!(
                "mismatches{}, {} listed, ID numbers {}",
                args.kind
                    .map(|k| format!(" of {}", k.slug()))
                    .unwrap_or_default(),
                found.len(),
                if args.reveal { "in full" } else { "masked" }
            );
            audit_operator(db, clock, "mismatch.list", args.area.as_str(), &detail).await
        }
    }
}

async fn import(db: &Db, vault: &Vault, clock: &Clock, args: ImportArgs) -> Result<(), String> {
    let bytes = std::fs::read(&args.file).map_err(|err| unreadable(&args.file, &err))?;
    let mut mapping = Mapping::new();
    for pair in &args.map {
        let (field, header) = mapping_pair(args.kind, pair).map_err(|m| m.to_string())?;
        mapping.insert(field, header);
    }
    let request = ImportRequest {
        kind: args.kind,
        area: args.area,
        file_name: args
            .file
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default(),
        bytes: &bytes,
        mapping,
        set_aside_bad_rows: args.set_aside_bad_rows,
    };
    match comparison::import(
        db,
        vault,
        request,
        &operator(),
        clock.now_seconds(),
        clock.today(),
    )
    .await
    {
        Ok(outcome) => {
            follow(db, vault, clock).await?;
            for error in &outcome.set_aside {
                eprintln!(
                    "第 {} 行已跳过 row {} set aside: {}",
                    error.row, error.row, error.message
                );
            }
            println!("{}", json_line(&outcome));
            Ok(())
        }
        Err(ComparisonError::BadRows(report)) => {
            for error in &report.errors {
                eprintln!(
                    "第 {} 行 row {}{}: {}",
                    error.row,
                    error.row,
                    error
                        .column
                        .as_deref()
                        .map(|c| format!("（{c}）"))
                        .unwrap_or_default(),
                    error.message
                );
            }
            if let Some(path) = &args.errors_xlsx {
                let xlsx = report.sheet().to_xlsx().map_err(|err| err.to_string())?;
                std::fs::write(path, xlsx).map_err(|err| {
                    Message::new(
                        format!("无法写入 {}：{err}", path.display()),
                        format!("cannot write {}: {err}", path.display()),
                    )
                    .to_string()
                })?;
            }
            Err(Message::new(
                format!(
                    "{} 行有误，整个文件未导入：改正后重新导入，或加 --set-aside-bad-rows 导入其余 {} 行",
                    report.bad_rows, report.good_rows
                ),
                format!(
                    "{} rows are bad and nothing was imported: correct them, or add \
                     --set-aside-bad-rows to import the other {}",
                    report.bad_rows, report.good_rows
                ),
            )
            .to_string())
        }
        Err(err) => Err(failed(err)),
    }
}
