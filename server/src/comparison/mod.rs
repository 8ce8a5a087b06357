//! System information comparison (系统信息比对, issue 17, ADR 0012): other offices' rosters
//! imported, and the mismatches between them and the ledger.
//!
//! Layer 3, beside `decisions/` and `reports/`: it reads the register and writes its own
//! tables through `storage::imported_rosters`, and audits through `access`.
//!
//! - `file`: a file's bytes to a table of text, hostile files refused;
//! - `kinds`: the four roster kinds, their fields, the column mapping;
//! - `check`: every row checked, good rows and per-row errors;
//! - `rules`: one row against the ledger, pure, giving [`Mismatch`]es;
//! - here: the workflows. [`import`] (read → map → check → refuse whole or set bad rows aside
//!   → store sealed, recompute the kind, audit, in one write transaction), [`withdraw`],
//!   [`mismatches`] (the open mismatches of an area, masked by `Sight`), [`counts`] (per
//!   village) and [`recompute_household`] (for a household that changed: the task side
//!   calls it in its own transaction).

pub mod check;
pub mod file;
pub mod kinds;
pub mod rules;

use crate::access::audit::{self, Entry, Outcome};
use crate::access::privacy::{Seen, Sight};
use crate::storage::db::Db;
use crate::storage::imported_rosters::{
    self as stored, CurrentRow, ImportedRoster, StoredMismatch,
};
use crate::storage::vault::Vault;
use check::{RosterRow, RowError};
use jiff::civil::Date;
use kinds::{Mapping, RosterKind};
pub use rules::{Mismatch, Rule};
use schema::Message;
use schema::ids::AreaCode;
use sqlx::AnyConnection;
use std::collections::HashMap;

/// Who imports or withdraws, for the audit log.
#[derive(Debug, Clone)]
pub struct Clerk {
    /// `staff:<username>` or `operator`.
    pub actor: String,
    pub role: String,
    /// The client's address, or `cli`.
    pub client: String,
}

/// Why an import or withdrawal did not happen.
#[derive(Debug, thiserror::Error)]
pub enum ComparisonError {
    /// The file or the mapping cannot be read: nothing was stored.
    #[error("{0}")]
    Refused(Message),
    /// Some rows are bad and the clerk did not ask to set them aside: nothing was stored.
    #[error("{} rows are bad", .0.bad_rows)]
    BadRows(RowReport),
    #[error("{0}")]
    NotFound(Message),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A sealed row the vault cannot open: the key ring lacks its key, or it was altered.
    #[error("a sealed roster row cannot be opened: {0}")]
    Sealed(String),
}

/// The rows of a file that were refused, each problem with its row and column.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RowReport {
    pub good_rows: usize,
    pub bad_rows: usize,
    pub errors: Vec<RowError>,
}

impl RowReport {
    /// The per-row errors as a spreadsheet: row, column, the error in both languages.
    pub fn sheet(&self) -> crate::reports::sheet::Sheet {
        use crate::reports::sheet::{Cell, Column, ColumnKind, Sheet};
        Sheet {
            name: "错误行".into(),
            title: "名册错误行 Rows with errors".into(),
            subtitle: format!(
                "{} 行有误，{} 行无误 / {} bad rows, {} good rows",
                self.bad_rows, self.good_rows, self.bad_rows, self.good_rows
            ),
            columns: vec![
                Column::new("行号", "Row", ColumnKind::Number, 8.0),
                Column::new("列", "Column", ColumnKind::Text, 16.0),
                Column::new("错误", "Error (Chinese)", ColumnKind::Text, 50.0),
                Column::new("Error", "Error (English)", ColumnKind::Text, 60.0),
            ],
            rows: self
                .errors
                .iter()
                .map(|e| {
                    vec![
                        Cell::Number(e.row as i64),
                        Cell::text(e.column.clone().unwrap_or_default()),
                        Cell::text(e.message.zh.clone()),
                        Cell::text(e.message.en.clone()),
                    ]
                })
                .collect(),
        }
    }
}

/// What the clerk asks to import.
#[derive(Debug, Clone)]
pub struct ImportRequest<'a> {
    pub kind: RosterKind,
    /// The area the roster covers: a newer roster of the same kind and area replaces it.
    pub area: AreaCode,
    pub file_name: String,
    pub bytes: &'a [u8],
    /// The clerk's columns for this import; the remembered mapping fills the rest.
    pub mapping: Mapping,
    /// Import the good rows and set the bad ones aside, rather than refuse the file whole.
    pub set_aside_bad_rows: bool,
}

/// What an import did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportOutcome {
    pub roster: ImportedRoster,
    /// The same file was imported already: nothing new was stored.
    pub already_imported: bool,
    /// The bad rows set aside, with their errors.
    pub set_aside: Vec<RowError>,
    /// The open mismatches of the kind after the import.
    pub mismatches: usize,
}

fn sealed_error(err: impl std::fmt::Display) -> ComparisonError {
    ComparisonError::Sealed(err.to_string())
}

/// The remembered mapping of `kind`, with `explicit` laid over it.
async fn mapping_for(
    conn: &mut AnyConnection,
    kind: RosterKind,
    explicit: &Mapping,
) -> Result<Mapping, ComparisonError> {
    let mut mapping: Mapping = match stored::mapping(conn, kind.slug()).await? {
        Some(json) => serde_json::from_str(&json).unwrap_or_default(),
        None => Mapping::new(),
    };
    mapping.extend(explicit.clone());
    Ok(mapping)
}

/// The mapping remembered for `kind`.
pub async fn remembered_mapping(db: &Db, kind: RosterKind) -> Result<Mapping, ComparisonError> {
    let mut conn = db.pool.acquire().await?;
    mapping_for(&mut conn, kind, &Mapping::new()).await
}

/// Remembers the clerk's columns for `kind` (a field the kind lacks is refused), audited.
pub async fn save_mapping(
    db: &Db,
    kind: RosterKind,
    mapping: &Mapping,
    clerk: &Clerk,
    now: i64,
) -> Result<(), ComparisonError> {
    for (field, header) in mapping {
        if kind.field(field).is_none() {
            return Err(ComparisonError::Refused(Message::new(
                format!("{}没有字段“{field}”", kind.label().zh),
                format!("A {} has no field \"{field}\"", kind.label().en),
            )));
        }
        if header.trim().is_empty() || header.chars().count() > file::MAX_CELL_CHARS {
            return Err(ComparisonError::Refused(Message::new(
                format!("“{field}”的列名为空或过长"),
                format!("The header for \"{field}\" is empty or too long"),
            )));
        }
    }
    let json = serde_json::to_string(mapping).unwrap_or_default();
    let mut write = db.begin_write().await?;
    stored::save_mapping(&mut write.tx, kind.slug(), &json, &clerk.actor, now).await?;
    let entry = Entry::new("roster.mapping", Outcome::Ok)
        .by(clerk.actor.clone(), clerk.role.clone())
        .on(kind.slug())
        .from(clerk.client.clone())
        .saying(json);
    audit::record_in(&mut write.tx, entry, now).await?;
    write.commit().await?;
    Ok(())
}

/// Imports a roster file: refused whole (nothing stored) when it cannot be read or has bad
/// rows and the clerk did not ask to set them aside; otherwise the good rows are stored
/// sealed, the mapping remembered, the kind's mismatches recomputed and the import
/// audited, all in one write transaction. The same file again is the same import.
pub async fn import(
    db: &Db,
    vault: &Vault,
    request: ImportRequest<'_>,
    clerk: &Clerk,
    now: i64,
    today: Date,
) -> Result<ImportOutcome, ComparisonError> {
    let kind = request.kind;
    let refused = |detail: String| {
        Entry::new("roster.import", Outcome::Failed)
            .by(clerk.actor.clone(), clerk.role.clone())
            .on(request.area.as_str())
            .from(clerk.client.clone())
            .saying(detail)
    };
    let table = match file::read(request.bytes) {
        Ok(table) => table,
        Err(message) => {
            audit::record(
                db,
                refused(format!("{} file refused: {}", kind.slug(), message.en)),
                now,
            )
            .await?;
            return Err(ComparisonError::Refused(message));
        }
    };
    let file_hash = blake3::hash(request.bytes).to_hex().to_string();
    let mut write = db.begin_write().await?;
    if let Some(roster) = stored::same_file(
        &mut write.tx,
        kind.slug(),
        request.area.as_str(),
        &file_hash,
    )
    .await?
    {
        let mismatches = stored::mismatches_in(db, "", Some(kind.slug()))
            .await?
            .len();
        return Ok(ImportOutcome {
            roster,
            already_imported: true,
            set_aside: Vec::new(),
            mismatches,
        });
    }
    let mapping = mapping_for(&mut write.tx, kind, &request.mapping).await?;
    let columns = match kinds::columns(kind, &mapping, &table.headers) {
        Ok(columns) => columns,
        Err(message) => {
            drop(write);
            audit::record(
                db,
                refused(format!("{} mapping refused: {}", kind.slug(), message.en)),
                now,
            )
            .await?;
            return Err(ComparisonError::Refused(message));
        }
    };
    let checked = check::check(kind, &table, &columns, today);
    if checked.bad_rows > 0 && !request.set_aside_bad_rows {
        drop(write);
        audit::record(
            db,
            refused(format!(
                "{} refused whole: {} bad rows of {}",
                kind.slug(),
                checked.bad_rows,
                checked.bad_rows + checked.rows.len()
            )),
            now,
        )
        .await?;
        return Err(ComparisonError::BadRows(RowReport {
            good_rows: checked.rows.len(),
            bad_rows: checked.bad_rows,
            errors: checked.errors,
        }));
    }
    if checked.rows.is_empty() {
        drop(write);
        let message = Message::new("文件中没有可导入的行", "The file has no row to import");
        audit::record(
            db,
            refused(format!("{} refused: no good row", kind.slug())),
            now,
        )
        .await?;
        return Err(ComparisonError::Refused(message));
    }
    let id = hex::encode(
        &blake3::hash(format!("{file_hash}|{now}|{}", request.area).as_bytes()).as_bytes()[..8],
    );
    let roster = ImportedRoster {
        id: id.clone(),
        kind: kind.slug().to_owned(),
        area: request.area.as_str().to_owned(),
        file_name: request.file_name.clone(),
        file_hash,
        row_count: checked.rows.len() as i64,
        set_aside_count: checked.bad_rows as i64,
        imported_by: clerk.actor.clone(),
        imported_at: now,
        withdrawn_at: None,
        withdrawn_by: None,
    };
    let rows: Vec<stored::StoredRow> = checked
        .rows
        .iter()
        .map(|row| {
            let json = serde_json::to_vec(row).unwrap_or_default();
            stored::StoredRow {
                row_number: row.row as i64,
                id_number_hash: vault.lookup_hash(&row.id_number),
                values_sealed: vault.seal(&json),
            }
        })
        .collect();
    stored::insert(&mut write.tx, &roster, &rows).await?;
    let used: Mapping = columns
        .iter()
        .filter_map(|(field, &column)| {
            table
                .headers
                .get(column)
                .map(|header| ((*field).to_owned(), header.clone()))
        })
        .collect();
    let mapping_json = serde_json::to_string(&used).unwrap_or_default();
    stored::save_mapping(&mut write.tx, kind.slug(), &mapping_json, &clerk.actor, now).await?;
    let mismatches = recompute_kind(&mut write.tx, vault, kind, now, today).await?;
    let entry = Entry::new("roster.import", Outcome::Ok)
        .by(clerk.actor.clone(), clerk.role.clone())
        .on(id.as_str())
        .from(clerk.client.clone())
        .saying(format!(
            "{} for {}, file {} ({}), {} rows imported, {} set aside, {} mismatches",
            kind.slug(),
            request.area,
            request.file_name,
            roster.file_hash,
            roster.row_count,
            roster.set_aside_count,
            mismatches
        ));
    audit::record_in(&mut write.tx, entry, now).await?;
    write.commit().await?;
    Ok(ImportOutcome {
        roster,
        already_imported: false,
        set_aside: checked.errors,
        mismatches,
    })
}

/// Withdraws an import: it leaves the comparison (the kind's mismatches are recomputed
/// without it, against the area's previous roster if there is one), audited.
pub async fn withdraw(
    db: &Db,
    vault: &Vault,
    id: &str,
    clerk: &Clerk,
    now: i64,
    today: Date,
) -> Result<ImportedRoster, ComparisonError> {
    let mut write = db.begin_write().await?;
    let not_found = || {
        ComparisonError::NotFound(Message::new(
            format!("没有编号为 {id} 的在用名册"),
            format!("No imported roster {id} in use"),
        ))
    };
    let Some(roster) = stored::get(&mut write.tx, id).await? else {
        return Err(not_found());
    };
    if !stored::withdraw(&mut write.tx, id, &clerk.actor, now).await? {
        return Err(not_found());
    }
    let kind = RosterKind::from_slug(&roster.kind).ok_or_else(not_found)?;
    let mismatches = recompute_kind(&mut write.tx, vault, kind, now, today).await?;
    let entry = Entry::new("roster.withdraw", Outcome::Ok)
        .by(clerk.actor.clone(), clerk.role.clone())
        .on(id)
        .from(clerk.client.clone())
        .saying(format!(
            "{} for {}, file {}, {} mismatches left",
            roster.kind, roster.area, roster.file_name, mismatches
        ));
    audit::record_in(&mut write.tx, entry, now).await?;
    write.commit().await?;
    let mut roster = roster;
    roster.withdrawn_at = Some(now);
    roster.withdrawn_by = Some(clerk.actor.clone());
    Ok(roster)
}

/// The mismatches of current roster rows against the ledger, ready to store.
async fn mismatches_of(
    conn: &mut AnyConnection,
    vault: &Vault,
    rows: &[CurrentRow],
    now: i64,
    today: Date,
) -> Result<Vec<StoredMismatch>, ComparisonError> {
    let hashes: Vec<String> = rows.iter().map(|r| r.row.id_number_hash.clone()).collect();
    let people = stored::ledger_people(conn, &hashes).await?;
    let mut found = Vec::new();
    for current in rows {
        let Some(kind) = RosterKind::from_slug(&current.kind) else {
            continue;
        };
        let json = vault
            .open(&current.row.values_sealed)
            .map_err(sealed_error)?;
        let row: RosterRow = serde_json::from_slice(&json).map_err(sealed_error)?;
        let hash = &current.row.id_number_hash;
        let side = rules::RosterSide {
            kind,
            roster_id: &current.roster_id,
            area: &current.area,
        };
        let ledger = people.get(hash).map(Vec::as_slice).unwrap_or_default();
        for mismatch in rules::compare(side, &row, hash, ledger, today) {
            let detail = serde_json::to_vec(&mismatch).map_err(sealed_error)?;
            found.push(StoredMismatch {
                id: mismatch.id,
                kind: kind.slug().to_owned(),
                rule: mismatch.rule.slug().to_owned(),
                roster_id: mismatch.roster_id,
                area: mismatch.area,
                household_id: mismatch.household_id,
                member_key: mismatch.member_key,
                id_number_hash: hash.clone(),
                detail_sealed: vault.seal(&detail),
                found_at: now,
            });
        }
    }
    Ok(found)
}

/// Recomputes every mismatch of `kind` from its current rosters; returns how many are open.
async fn recompute_kind(
    conn: &mut AnyConnection,
    vault: &Vault,
    kind: RosterKind,
    now: i64,
    today: Date,
) -> Result<usize, ComparisonError> {
    let rows = stored::current_rows(conn, kind.slug()).await?;
    let mut found = mismatches_of(conn, vault, &rows, now, today).await?;
    stored::replace_kind(conn, kind.slug(), &mut found).await?;
    Ok(found.len())
}

/// Recomputes the mismatches about the people of one household (its members now, and
/// anyone it had a mismatch about), in the caller's transaction: called after the
/// household's register rows are written, so a visit that records the settling value
/// closes the mismatch, and a person recorded at last leaves "missing from the ledger".
pub async fn recompute_household(
    conn: &mut AnyConnection,
    vault: &Vault,
    household_id: &str,
    now: i64,
    today: Date,
) -> Result<(), ComparisonError> {
    let hashes = stored::household_hashes(conn, household_id).await?;
    if hashes.is_empty() {
        return Ok(());
    }
    let rows = stored::current_rows_about(conn, &hashes).await?;
    let mut found = mismatches_of(conn, vault, &rows, now, today).await?;
    stored::replace_about(conn, &hashes, &mut found).await?;
    Ok(())
}

/// The open mismatches in `area` (a village, township or county), of one kind or all, as
/// a reader with `sight` sees them.
pub async fn mismatches(
    db: &Db,
    vault: &Vault,
    area: &AreaCode,
    kind: Option<RosterKind>,
    sight: Sight,
) -> Result<Vec<Seen<Mismatch>>, ComparisonError> {
    let rows = stored::mismatches_in(db, area.as_str(), kind.map(RosterKind::slug)).await?;
    rows.iter()
        .map(|row| {
            let json = vault.open(&row.detail_sealed).map_err(sealed_error)?;
            let mismatch: Mismatch = serde_json::from_slice(&json).map_err(sealed_error)?;
            Ok(Seen::new(mismatch, sight))
        })
        .collect()
}

/// How many open mismatches of each kind each area inside `area` has.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AreaCount {
    pub area: String,
    pub kind: RosterKind,
    pub count: i64,
}

pub async fn counts(db: &Db, area: &AreaCode) -> Result<Vec<AreaCount>, ComparisonError> {
    Ok(stored::counts_in(db, area.as_str())
        .await?
        .into_iter()
        .filter_map(|(area, kind, count)| {
            RosterKind::from_slug(&kind).map(|kind| AreaCount { area, kind, count })
        })
        .collect())
}

/// The imports, newest first.
pub async fn imports(db: &Db) -> Result<Vec<ImportedRoster>, ComparisonError> {
    Ok(stored::list(db).await?)
}

/// The counts by village, as a map for pages that list villages.
pub fn by_area(counts: &[AreaCount]) -> HashMap<String, i64> {
    let mut map = HashMap::new();
    for count in counts {
        *map.entry(count.area.clone()).or_default() += count.count;
    }
    map
}
