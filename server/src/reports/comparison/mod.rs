//! System information comparison (系统信息比对, issue 17, ADR 0012): other offices' rosters
//! imported, and the mismatches between them and the ledger.
//!
//! Part of `reports/` (layer 3): it reads the register and writes its own tables through
//! `storage::imported_rosters`, audits through `access`, and writes a refused file's errors
//! as a `reports::sheet`. `ingest/` (layer 4) may call [`recompute_household`].
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
    /// What the clerk is told when the file is refused whole for its bad rows.
    pub fn refusal(&self) -> Message {
        Message::new(
            format!(
                "{} 行有误，整个文件未导入：改正后重新上传，或选择“跳过错误行”导入其余 {} 行",
                self.bad_rows, self.good_rows
            ),
            format!(
                "{} rows are bad and nothing was imported: correct them and upload again, or \
                 set the bad rows aside to import the other {}",
                self.bad_rows, self.good_rows
            ),
        )
    }

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
    /// Of those, the ones filed under no village: people the ledger lacks whose row names
    /// no village (a county-wide roster often has no village column). They are counted
    /// under the roster's area, so no village's list shows them and no phone is asked to
    /// find them; the clerk has to place them (ADR 0014).
    pub unplaced: usize,
}

/// What a recomputation of a kind left open.
#[derive(Debug, Clone, Copy, Default)]
struct Recomputed {
    mismatches: usize,
    unplaced: usize,
}

/// Whether a mismatch is filed under a village, where a village's list shows it.
fn placed(area: &str) -> bool {
    area.len() == 12
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
        let entry = Entry::new("roster.import", Outcome::Ok)
            .by(clerk.actor.clone(), clerk.role.clone())
            .on(roster.id.as_str())
            .from(clerk.client.clone())
            .saying(format!(
                "{} for {}, file {}: the same file as this import, nothing new stored",
                kind.slug(),
                request.area,
                request.file_name
            ));
        audit::record_in(&mut write.tx, entry, now).await?;
        write.commit().await?;
        let open = stored::mismatches_in(db, "", Some(kind.slug())).await?;
        return Ok(ImportOutcome {
            roster,
            already_imported: true,
            set_aside: Vec::new(),
            mismatches: open.len(),
            unplaced: open.iter().filter(|m| !placed(&m.area)).count(),
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
    let recomputed = recompute_kind(&mut write.tx, vault, kind, now, today).await?;
    let entry = Entry::new("roster.import", Outcome::Ok)
        .by(clerk.actor.clone(), clerk.role.clone())
        .on(id.as_str())
        .from(clerk.client.clone())
        .saying(format!(
            "{} for {}, file {} ({}), {} rows imported, {} set aside, {} mismatches ({} in no village)",
            kind.slug(),
            request.area,
            request.file_name,
            roster.file_hash,
            roster.row_count,
            roster.set_aside_count,
            recomputed.mismatches,
            recomputed.unplaced
        ));
    audit::record_in(&mut write.tx, entry, now).await?;
    write.commit().await?;
    Ok(ImportOutcome {
        roster,
        already_imported: false,
        set_aside: checked.errors,
        mismatches: recomputed.mismatches,
        unplaced: recomputed.unplaced,
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
    let mismatches = recompute_kind(&mut write.tx, vault, kind, now, today)
        .await?
        .mismatches;
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
) -> Result<Recomputed, ComparisonError> {
    let rows = stored::current_rows(conn, kind.slug()).await?;
    let mut found = mismatches_of(conn, vault, &rows, now, today).await?;
    stored::replace_kind(conn, kind.slug(), &mut found).await?;
    Ok(Recomputed {
        mismatches: found.len(),
        unplaced: found.iter().filter(|m| !placed(&m.area)).count(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    const ZHANG: &str = "11010519491231002X";
    const VILLAGE: &str = "141124100201";

    async fn database(dir: &std::path::Path) -> Db {
        let url = format!("sqlite://{}?mode=rwc", dir.join("test.db").display());
        let db = Db::connect(&url).await.expect("SQLite opens");
        db.migrate().await.expect("migrated");
        db
    }

    /// A household whose one member, 张伟, is recorded with `employment_status`.
    async fn household(db: &Db, vault: &Vault, employment_status: &str) {
        sqlx::query(
            "INSERT INTO document (household_id, village, heads, last_feed, updated_at)
             VALUES ('h1', $1, $2, 0, 0)",
        )
        .bind(VILLAGE)
        .bind(Vec::<u8>::new())
        .execute(&db.pool)
        .await
        .expect("document row");
        sqlx::query(
            "INSERT INTO household (id, village, number, member_count, visit_count, error_count,
                 warning_count, conflict_count, search_text, updated_at)
             VALUES ('h1', $1, '001', 1, 0, 0, 0, 0, '', 0)",
        )
        .bind(VILLAGE)
        .execute(&db.pool)
        .await
        .expect("household row");
        sqlx::query(
            "INSERT INTO member (household_id, member_key, name, id_number_hash, sex,
                 birth_year, birth_month_day, status, employment_status)
             VALUES ('h1', 'm1', '张伟', $1, '2', 1949, '12-31', '01', $2)",
        )
        .bind(vault.lookup_hash(ZHANG))
        .bind(employment_status)
        .execute(&db.pool)
        .await
        .expect("member row");
    }

    fn clerk() -> Clerk {
        Clerk {
            actor: "operator".into(),
            role: "operator".into(),
            client: "test".into(),
        }
    }

    async fn open(db: &Db, vault: &Vault) -> Vec<(Rule, Option<String>)> {
        let area = AreaCode::parse("141124").expect("area");
        mismatches(db, vault, &area, None, Sight::MASKED)
            .await
            .expect("listed")
            .into_iter()
            .map(|m| (m.get().rule, m.get().household_id.clone()))
            .collect()
    }

    /// A valid ID number of Lin County from its first 17 digits.
    fn valid(first17: &str) -> String {
        let mut digits = [0u8; 17];
        for (digit, byte) in digits.iter_mut().zip(first17.bytes()) {
            *digit = byte - b'0';
        }
        format!("{first17}{}", schema::id_number::check_character(&digits))
    }

    #[tokio::test]
    async fn people_missing_from_the_ledger_without_a_village_are_counted_unplaced() {
        let dir = tempfile::tempdir().expect("a folder");
        let db = database(dir.path()).await;
        let vault = Vault::generate();
        household(&db, &vault, "10").await;
        let today = jiff::civil::date(2026, 12, 1);
        // 张伟 is in the ledger; 李四 is not and the roster names no village for him; 王五 is
        // not either, in a village the roster names.
        let li_si = valid("14112419800101001");
        let wang_wu = valid("14112419810202003");
        let file = format!(
            "姓名,身份证号码,户籍状态,村代码\n张伟,{ZHANG},01,{VILLAGE}\n李四,{li_si},01,\n\
             王五,{wang_wu},01,141124100202\n"
        );
        let request = ImportRequest {
            kind: RosterKind::Registry,
            area: AreaCode::parse("141124").expect("area"),
            file_name: "hj.csv".into(),
            bytes: file.as_bytes(),
            mapping: Mapping::new(),
            set_aside_bad_rows: false,
        };
        let outcome = import(&db, &vault, request, &clerk(), 100, today)
            .await
            .expect("imported");
        assert_eq!((outcome.mismatches, outcome.unplaced), (2, 1));
        let county = AreaCode::parse("141124").expect("area");
        let areas: Vec<String> = mismatches(&db, &vault, &county, None, Sight::MASKED)
            .await
            .expect("listed")
            .iter()
            .map(|m| m.get().area.clone())
            .collect();
        assert_eq!(areas, ["141124", "141124100202"]);
    }

    #[tokio::test]
    async fn a_household_recomputed_after_a_visit_closes_what_it_settled() {
        let dir = tempfile::tempdir().expect("a folder");
        let db = database(dir.path()).await;
        let vault = Vault::generate();
        household(&db, &vault, "10").await;
        let today = jiff::civil::date(2026, 12, 1);
        let file = format!("姓名,身份证号码,参保单位\n张伟,{ZHANG},富士康\n");
        let request = ImportRequest {
            kind: RosterKind::SocialInsurance,
            area: AreaCode::parse("141124").expect("area"),
            file_name: "sb.csv".into(),
            bytes: file.as_bytes(),
            mapping: Mapping::new(),
            set_aside_bad_rows: false,
        };
        let outcome = import(&db, &vault, request, &clerk(), 100, today)
            .await
            .expect("imported");
        assert_eq!(outcome.mismatches, 1);
        let before = open(&db, &vault).await;
        assert_eq!(
            before,
            [(Rule::NotEmployedButInsured, Some("h1".to_owned()))]
        );

        // A visit records that he works: the register row changes, the household is
        // recomputed in the writer's transaction, and the mismatch is gone.
        sqlx::query("UPDATE member SET employment_status = '01' WHERE member_key = 'm1'")
            .execute(&db.pool)
            .await
            .expect("updated");
        let mut write = db.begin_write().await.expect("write");
        recompute_household(&mut write.tx, &vault, "h1", 200, today)
            .await
            .expect("recomputed");
        write.commit().await.expect("committed");
        assert!(open(&db, &vault).await.is_empty());

        // Recorded as not employed again, the same mismatch comes back with the same id.
        sqlx::query("UPDATE member SET employment_status = '10' WHERE member_key = 'm1'")
            .execute(&db.pool)
            .await
            .expect("updated");
        let mut write = db.begin_write().await.expect("write");
        recompute_household(&mut write.tx, &vault, "h1", 300, today)
            .await
            .expect("recomputed");
        write.commit().await.expect("committed");
        let area = AreaCode::parse(VILLAGE).expect("area");
        let again = mismatches(&db, &vault, &area, None, Sight::MASKED)
            .await
            .expect("listed");
        assert_eq!(again.len(), 1);
        assert_eq!(
            again[0].get().id,
            rules::mismatch_id(
                RosterKind::SocialInsurance,
                Rule::NotEmployedButInsured,
                &vault.lookup_hash(ZHANG)
            )
        );
    }
}
