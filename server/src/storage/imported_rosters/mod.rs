//! Imported rosters' rows (migration 0013): the rosters (`imported_roster`), their good
//! rows sealed with the keyed hash of each ID number (`imported_roster_row`), the column
//! mapping remembered per kind, the ledger members a roster row matches, and the open
//! mismatches (`mismatch`), whose detail is sealed too. What the rows mean is
//! `comparison/`'s business; this module only stores and finds them.

use crate::storage::db::{Backend, Db, rows_per_statement};
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::HashMap;

/// One import, as listed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImportedRoster {
    pub id: String,
    pub kind: String,
    pub area: String,
    pub file_name: String,
    pub file_hash: String,
    pub row_count: i64,
    pub set_aside_count: i64,
    pub imported_by: String,
    pub imported_at: i64,
    pub withdrawn_at: Option<i64>,
    pub withdrawn_by: Option<String>,
}

/// A roster's row as stored: its ID number's hash and its sealed values.
#[derive(Debug, Clone)]
pub struct StoredRow {
    pub row_number: i64,
    pub id_number_hash: String,
    pub values_sealed: Vec<u8>,
}

/// A row of a roster currently compared, with the roster it belongs to.
#[derive(Debug, Clone)]
pub struct CurrentRow {
    pub roster_id: String,
    pub kind: String,
    pub area: String,
    pub row: StoredRow,
}

/// What the ledger holds of one live member, found by the keyed hash of the ID number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerPerson {
    pub household_id: String,
    pub village: String,
    pub member_key: String,
    pub name: Option<String>,
    pub sex: Option<String>,
    pub birth_year: Option<i64>,
    /// `MM-DD`.
    pub birth_month_day: Option<String>,
    /// The member status code (`01` present).
    pub status: String,
    pub employment_status: Option<String>,
    /// How many of the member's trainings were completed or gave a certificate.
    pub trainings_completed: i64,
}

/// A mismatch as stored.
#[derive(Debug, Clone)]
pub struct StoredMismatch {
    pub id: String,
    pub kind: String,
    pub rule: String,
    pub roster_id: String,
    pub area: String,
    pub household_id: Option<String>,
    pub member_key: Option<String>,
    pub id_number_hash: String,
    pub detail_sealed: Vec<u8>,
    pub found_at: i64,
}

const ROSTER_COLUMNS: &str = "id, kind, area, file_name, file_hash, row_count, set_aside_count, \
     imported_by, imported_at, withdrawn_at, withdrawn_by";

fn roster_of(row: &sqlx::any::AnyRow) -> Result<ImportedRoster, sqlx::Error> {
    Ok(ImportedRoster {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        area: row.try_get("area")?,
        file_name: row.try_get("file_name")?,
        file_hash: row.try_get("file_hash")?,
        row_count: row.try_get("row_count")?,
        set_aside_count: row.try_get("set_aside_count")?,
        imported_by: row.try_get("imported_by")?,
        imported_at: row.try_get("imported_at")?,
        withdrawn_at: row.try_get("withdrawn_at")?,
        withdrawn_by: row.try_get("withdrawn_by")?,
    })
}

/// The import of this very file for this kind and area, unless withdrawn.
pub async fn same_file(
    conn: &mut AnyConnection,
    kind: &str,
    area: &str,
    file_hash: &str,
) -> Result<Option<ImportedRoster>, sqlx::Error> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {ROSTER_COLUMNS} FROM imported_roster
         WHERE kind = $1 AND area = $2 AND file_hash = $3 AND withdrawn_at IS NULL"
    )))
    .bind(kind)
    .bind(area)
    .bind(file_hash)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(roster_of).transpose()
}

/// Stores a roster and its rows (in the caller's transaction).
pub async fn insert(
    conn: &mut AnyConnection,
    roster: &ImportedRoster,
    rows: &[StoredRow],
) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO imported_roster ({ROSTER_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )))
    .bind(&roster.id)
    .bind(&roster.kind)
    .bind(&roster.area)
    .bind(&roster.file_name)
    .bind(&roster.file_hash)
    .bind(roster.row_count)
    .bind(roster.set_aside_count)
    .bind(&roster.imported_by)
    .bind(roster.imported_at)
    .bind(roster.withdrawn_at)
    .bind(roster.withdrawn_by.clone())
    .execute(&mut *conn)
    .await?;
    let backend = Backend::of(conn);
    for batch in rows.chunks(rows_per_statement(4)) {
        let sql = format!(
            "INSERT INTO imported_roster_row (roster_id, row_number, id_number_hash, values_sealed)
             VALUES {}",
            backend.value_rows(batch.len(), 4)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in batch {
            query = query
                .bind(&roster.id)
                .bind(row.row_number)
                .bind(&row.id_number_hash)
                .bind(&row.values_sealed);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Every import, newest first.
pub async fn list(db: &Db) -> Result<Vec<ImportedRoster>, sqlx::Error> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {ROSTER_COLUMNS} FROM imported_roster ORDER BY imported_at DESC, id"
    )))
    .fetch_all(&db.pool)
    .await?;
    rows.iter().map(roster_of).collect()
}

pub async fn get(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<ImportedRoster>, sqlx::Error> {
    let row = sqlx::query(AssertSqlSafe(format!(
        "SELECT {ROSTER_COLUMNS} FROM imported_roster WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(roster_of).transpose()
}

/// Marks a roster withdrawn; its rows stay (the audit log names them), out of comparison.
pub async fn withdraw(
    conn: &mut AnyConnection,
    id: &str,
    by: &str,
    at: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE imported_roster SET withdrawn_at = $1, withdrawn_by = $2
         WHERE id = $3 AND withdrawn_at IS NULL",
    )
    .bind(at)
    .bind(by)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The rosters compared now: per kind and area, the newest one not withdrawn.
const CURRENT_ROSTERS: &str = "SELECT r.id, r.kind, r.area FROM imported_roster r
     WHERE r.withdrawn_at IS NULL AND NOT EXISTS (
         SELECT 1 FROM imported_roster n
         WHERE n.kind = r.kind AND n.area = r.area AND n.withdrawn_at IS NULL
           AND (n.imported_at > r.imported_at OR (n.imported_at = r.imported_at AND n.id > r.id)))";

fn current_row_of(row: &sqlx::any::AnyRow) -> Result<CurrentRow, sqlx::Error> {
    Ok(CurrentRow {
        roster_id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        area: row.try_get("area")?,
        row: StoredRow {
            row_number: row.try_get("row_number")?,
            id_number_hash: row.try_get("id_number_hash")?,
            values_sealed: row.try_get("values_sealed")?,
        },
    })
}

/// The rows of the current rosters of `kind`.
pub async fn current_rows(
    conn: &mut AnyConnection,
    kind: &str,
) -> Result<Vec<CurrentRow>, sqlx::Error> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT c.id, c.kind, c.area, w.row_number, w.id_number_hash, w.values_sealed
         FROM ({CURRENT_ROSTERS}) c JOIN imported_roster_row w ON w.roster_id = c.id
         WHERE c.kind = $1 ORDER BY c.id, w.row_number"
    )))
    .bind(kind)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(current_row_of).collect()
}

/// The rows of every current roster about these ID number hashes.
pub async fn current_rows_about(
    conn: &mut AnyConnection,
    hashes: &[String],
) -> Result<Vec<CurrentRow>, sqlx::Error> {
    let backend = Backend::of(conn);
    let mut found = Vec::new();
    for batch in hashes.chunks(rows_per_statement(1).min(1_000)) {
        let sql = format!(
            "SELECT c.id, c.kind, c.area, w.row_number, w.id_number_hash, w.values_sealed
             FROM ({CURRENT_ROSTERS}) c JOIN imported_roster_row w ON w.roster_id = c.id
             WHERE w.id_number_hash IN ({})",
            backend.placeholders(batch.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for hash in batch {
            query = query.bind(hash);
        }
        for row in query.fetch_all(&mut *conn).await? {
            found.push(current_row_of(&row)?);
        }
    }
    Ok(found)
}

/// The live members (of households not merged away) with these ID number hashes, by hash.
pub async fn ledger_people(
    conn: &mut AnyConnection,
    hashes: &[String],
) -> Result<HashMap<String, Vec<LedgerPerson>>, sqlx::Error> {
    let backend = Backend::of(conn);
    let mut people: HashMap<String, Vec<LedgerPerson>> = HashMap::new();
    for batch in hashes.chunks(rows_per_statement(1).min(1_000)) {
        let sql = format!(
            "SELECT m.id_number_hash, m.household_id, h.village, m.member_key, m.name, m.sex,
                    m.birth_year, m.birth_month_day, m.status, m.employment_status,
                    (SELECT COUNT(*) FROM training t
                     WHERE t.household_id = m.household_id AND t.member_key = m.member_key
                       AND (t.completed = 1 OR t.certificate <> '')) AS trainings_completed
             FROM member m JOIN household h ON h.id = m.household_id
             WHERE h.merged_into IS NULL AND m.id_number_hash IN ({})",
            backend.placeholders(batch.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for hash in batch {
            query = query.bind(hash);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let hash: String = row.try_get("id_number_hash")?;
            people.entry(hash).or_default().push(LedgerPerson {
                household_id: row.try_get("household_id")?,
                village: row.try_get("village")?,
                member_key: row.try_get("member_key")?,
                name: row.try_get("name")?,
                sex: row.try_get("sex")?,
                birth_year: row.try_get("birth_year")?,
                birth_month_day: row.try_get("birth_month_day")?,
                status: row.try_get("status")?,
                employment_status: row.try_get("employment_status")?,
                trainings_completed: row.try_get("trainings_completed")?,
            });
        }
    }
    Ok(people)
}

/// The ID number hashes of a household's members.
pub async fn household_hashes(
    conn: &mut AnyConnection,
    household_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id_number_hash FROM member WHERE household_id = $1 AND id_number_hash IS NOT NULL
         UNION SELECT id_number_hash FROM mismatch WHERE household_id = $2",
    )
    .bind(household_id)
    .bind(household_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(|row| row.try_get(0)).collect()
}

// ─── Mappings ──────────────────────────────────────────────────────────────────────────────

/// The columns last mapped for `kind` (JSON), if any.
pub async fn mapping(conn: &mut AnyConnection, kind: &str) -> Result<Option<String>, sqlx::Error> {
    let row = sqlx::query("SELECT columns FROM imported_roster_mapping WHERE kind = $1")
        .bind(kind)
        .fetch_optional(&mut *conn)
        .await?;
    row.map(|row| row.try_get(0)).transpose()
}

pub async fn save_mapping(
    conn: &mut AnyConnection,
    kind: &str,
    columns: &str,
    by: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO imported_roster_mapping (kind, columns, updated_by, updated_at)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (kind) DO UPDATE SET columns = excluded.columns,
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
    )
    .bind(kind)
    .bind(columns)
    .bind(by)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

// ─── Mismatches ────────────────────────────────────────────────────────────────────────────

/// When each of these open mismatches was first found.
async fn found_times(
    conn: &mut AnyConnection,
    condition: &str,
    values: &[String],
) -> Result<HashMap<String, i64>, sqlx::Error> {
    // The condition is one of this module's literals; only values are bound.
    let mut query = sqlx::query_as::<_, (String, i64)>(AssertSqlSafe(format!(
        "SELECT id, found_at FROM mismatch WHERE {condition}"
    )));
    for value in values {
        query = query.bind(value);
    }
    Ok(query.fetch_all(&mut *conn).await?.into_iter().collect())
}

async fn insert_mismatches(
    conn: &mut AnyConnection,
    mismatches: &mut [StoredMismatch],
    kept: &HashMap<String, i64>,
) -> Result<(), sqlx::Error> {
    let backend = Backend::of(conn);
    for batch in mismatches.chunks_mut(rows_per_statement(10)) {
        let sql = format!(
            "INSERT INTO mismatch (id, kind, rule, roster_id, area, household_id, member_key,
                 id_number_hash, detail_sealed, found_at)
             VALUES {} ON CONFLICT (id) DO NOTHING",
            backend.value_rows(batch.len(), 10)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for m in batch.iter_mut() {
            if let Some(&first) = kept.get(&m.id) {
                m.found_at = first;
            }
            query = query
                .bind(m.id.clone())
                .bind(m.kind.clone())
                .bind(m.rule.clone())
                .bind(m.roster_id.clone())
                .bind(m.area.clone())
                .bind(m.household_id.clone())
                .bind(m.member_key.clone())
                .bind(m.id_number_hash.clone())
                .bind(m.detail_sealed.clone())
                .bind(m.found_at);
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Replaces every mismatch of `kind` with `mismatches`; one found before keeps its time.
pub async fn replace_kind(
    conn: &mut AnyConnection,
    kind: &str,
    mismatches: &mut [StoredMismatch],
) -> Result<(), sqlx::Error> {
    let kept = found_times(conn, "kind = $1", &[kind.to_owned()]).await?;
    sqlx::query("DELETE FROM mismatch WHERE kind = $1")
        .bind(kind)
        .execute(&mut *conn)
        .await?;
    insert_mismatches(conn, mismatches, &kept).await
}

/// Replaces the mismatches about these ID number hashes with `mismatches`.
pub async fn replace_about(
    conn: &mut AnyConnection,
    hashes: &[String],
    mismatches: &mut [StoredMismatch],
) -> Result<(), sqlx::Error> {
    let backend = Backend::of(conn);
    let mut kept = HashMap::new();
    for batch in hashes.chunks(1_000) {
        let condition = format!("id_number_hash IN ({})", backend.placeholders(batch.len()));
        kept.extend(found_times(conn, &condition, batch).await?);
        let sql = format!("DELETE FROM mismatch WHERE {condition}");
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for hash in batch {
            query = query.bind(hash);
        }
        query.execute(&mut *conn).await?;
    }
    insert_mismatches(conn, mismatches, &kept).await
}

/// The sealed details of the open mismatches in `area` (a prefix of the village code), of
/// one kind or all, in a stable order.
pub async fn mismatches_in(
    db: &Db,
    area: &str,
    kind: Option<&str>,
) -> Result<Vec<StoredMismatch>, sqlx::Error> {
    let mut sql = String::from(
        "SELECT id, kind, rule, roster_id, area, household_id, member_key, id_number_hash,
                detail_sealed, found_at
         FROM mismatch WHERE area LIKE $1",
    );
    if kind.is_some() {
        sql.push_str(" AND kind = $2");
    }
    sql.push_str(" ORDER BY area, household_id, kind, rule, id");
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(format!("{area}%"));
    if let Some(kind) = kind {
        query = query.bind(kind);
    }
    let rows = query.fetch_all(&db.pool).await?;
    rows.iter()
        .map(|row| {
            Ok(StoredMismatch {
                id: row.try_get("id")?,
                kind: row.try_get("kind")?,
                rule: row.try_get("rule")?,
                roster_id: row.try_get("roster_id")?,
                area: row.try_get("area")?,
                household_id: row.try_get("household_id")?,
                member_key: row.try_get("member_key")?,
                id_number_hash: row.try_get("id_number_hash")?,
                detail_sealed: row.try_get("detail_sealed")?,
                found_at: row.try_get("found_at")?,
            })
        })
        .collect()
}

/// How many open mismatches each area (village, or the roster's area for people placed
/// nowhere) inside `area` has, per kind.
pub async fn counts_in(db: &Db, area: &str) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT area, kind, COUNT(*) FROM mismatch WHERE area LIKE $1
         GROUP BY area, kind ORDER BY area, kind",
    )
    .bind(format!("{area}%"))
    .fetch_all(&db.pool)
    .await
}
