//! The register: households, members and visits as plain rows, projected from the documents
//! in the same transaction as the changes, and read back for staff.
//!
//! An ID number is stored sealed, beside its keyed lookup hash ([`Vault::lookup_hash`]): a
//! search for a whole number and duplicate detection compare hashes, and nothing else needs
//! the number itself. The search text holds names and household numbers, not ID numbers.
//! A member's full birth date and employer are sealed too, since no query filters on them
//! (the export opens them); the birth year stays plain, for age-band reports. What stays
//! plain, and why, is listed in `docs/SECURITY.md`.
//!
//! Every member the document holds has a row, with its status (`layout::member_status`);
//! only present members count (`member_count`) and are searched for. The others are history,
//! shown with their status.

use crate::clock::Clock;
use crate::storage::db::{Backend, MAX_PARAMS, rows_per_statement};
use crate::storage::ledger::LedgerError;
use crate::storage::vault::{self, Vault};
use schema::codes;
use schema::ids::AreaCode;
use schema::layout::{self, FieldValue, HouseholdView, Record};
use schema::validation::{self, Issue, Severity};
use serde::Serialize;
use sqlx::{AnyConnection, AnyPool, AssertSqlSafe, Row};
use std::collections::HashMap;

fn text(record: &Record, name: &str) -> Option<String> {
    record.get(name).map(|field| field.value.display())
}

fn flag(record: &Record, name: &str) -> Option<i64> {
    record
        .get(name)
        .and_then(|field| field.value.as_bool())
        .map(i64::from)
}

fn integer(record: &Record, name: &str) -> Option<i64> {
    record.get(name).and_then(|field| match field.value {
        FieldValue::Integer(number) => Some(number),
        _ => None,
    })
}

/// One household's register rows, computed from its merged view, ready to be written.
#[derive(Debug, Clone)]
pub struct Projection {
    pub household: String,
    /// The view's validation issues, which the household row counts.
    pub issues: Vec<Issue>,
    row: HouseholdValues,
    members: Vec<MemberValues>,
    visits: Vec<VisitValues>,
}

#[derive(Debug, Clone)]
struct HouseholdValues {
    village: String,
    number: String,
    head_name: Option<String>,
    address: Option<String>,
    member_count: i64,
    visit_count: i64,
    last_visit_at: Option<i64>,
    error_count: i64,
    warning_count: i64,
    conflict_count: i64,
    search_text: String,
    /// Set on a household merged into another: it leaves the lists, not the database.
    merged_into: Option<String>,
}

#[derive(Debug, Clone)]
struct MemberValues {
    key: String,
    name: Option<String>,
    id_number: Option<String>,
    sex: Option<String>,
    birth_date: Option<String>,
    /// The year of a birth date that is a date; plain, unlike the date.
    birth_year: Option<i64>,
    relation: Option<String>,
    labour_capacity: Option<String>,
    employment_status: Option<String>,
    employer: Option<String>,
    wants_work: Option<i64>,
    wants_training: Option<i64>,
    /// The member status code, present when the document has none.
    status: String,
    left_on: Option<String>,
    moved_to: Option<String>,
}

#[derive(Debug, Clone)]
struct VisitValues {
    key: String,
    volunteer: Option<String>,
    device: Option<String>,
    started_at: Option<i64>,
    finished_at: Option<i64>,
    outcome: Option<String>,
}

impl Projection {
    /// The rows of a household's merged view, validated as of `today`.
    pub fn of(household: &str, view: &HouseholdView, today: jiff::civil::Date) -> Projection {
        let issues = validation::validate(view, today);
        let errors = issues
            .iter()
            .filter(|i| i.severity == Severity::Error)
            .count() as i64;
        let row = HouseholdValues {
            village: view
                .household_text("village")
                .unwrap_or_default()
                .to_owned(),
            number: view.household_text("number").unwrap_or_default().to_owned(),
            head_name: view.head_name().map(str::to_owned),
            address: view.household_text("address").map(str::to_owned),
            member_count: view.present_members().count() as i64,
            visit_count: view.visits.len() as i64,
            last_visit_at: view
                .visits
                .values()
                .filter_map(|visit| {
                    integer(visit, "finished_at").or_else(|| integer(visit, "started_at"))
                })
                .max(),
            error_count: errors,
            warning_count: issues.len() as i64 - errors,
            conflict_count: view.conflicts().len() as i64,
            search_text: search_text(view),
            merged_into: view.household_text("merged_into").map(str::to_owned),
        };
        let members = view
            .members
            .iter()
            .map(|(key, member)| MemberValues {
                key: key.clone(),
                name: text(member, "name"),
                id_number: text(member, "id_number"),
                sex: text(member, "sex"),
                birth_date: text(member, "birth_date"),
                birth_year: text(member, "birth_date")
                    .and_then(|date| date.trim().parse::<jiff::civil::Date>().ok())
                    .map(|date| i64::from(date.year())),
                relation: text(member, "relation"),
                labour_capacity: text(member, "labour_capacity"),
                employment_status: text(member, "employment.status"),
                employer: text(member, "employment.employer"),
                wants_work: flag(member, "intent.wants_work"),
                wants_training: flag(member, "intent.wants_training"),
                status: layout::member_status(member).to_owned(),
                left_on: text(member, "left_on"),
                moved_to: text(member, "moved_to"),
            })
            .collect();
        let visits = view
            .visits
            .iter()
            .map(|(key, visit)| VisitValues {
                key: key.clone(),
                volunteer: text(visit, "volunteer"),
                device: text(visit, "device"),
                started_at: integer(visit, "started_at"),
                finished_at: integer(visit, "finished_at"),
                outcome: text(visit, "outcome"),
            })
            .collect();
        Projection {
            household: household.to_owned(),
            issues,
            row,
            members,
            visits,
        }
    }
}

/// The text a household is found by on the server: its number and its present members'
/// names, one per line, lowercase. Unlike the phone's index it leaves ID numbers out, which
/// would otherwise lie in the clear in this column; a whole ID number is found by its hash.
fn search_text(view: &HouseholdView) -> String {
    let names = view
        .present_members()
        .filter_map(|(_, m)| m.get("name").and_then(|f| f.value.as_text()));
    view.household_text("number")
        .into_iter()
        .chain(names)
        .collect::<Vec<_>>()
        .join("\n")
        .to_lowercase()
}

/// Rewrites one household's register rows from its document.
pub async fn project(
    conn: &mut AnyConnection,
    vault: &Vault,
    household: &str,
    view: &HouseholdView,
    clock: &Clock,
) -> Result<(), sqlx::Error> {
    let projection = Projection::of(household, view, clock.today());
    write(conn, vault, &[&projection], clock.now_seconds()).await
}

/// Writes the register rows of several households (each at most once) in a few statements
/// whatever their number: the household rows and every member and visit row are upserted,
/// and only rows whose member or visit is gone from the document are deleted. Rewriting
/// rows in place instead of deleting and re-inserting them all keeps the cost of a visit
/// from growing with the household's past visits. `now` is the households' `updated_at`.
pub async fn write(
    conn: &mut AnyConnection,
    vault: &Vault,
    projections: &[&Projection],
    now: i64,
) -> Result<(), sqlx::Error> {
    if projections.is_empty() {
        return Ok(());
    }
    delete_stale_rows(conn, projections).await?;
    for batch in projections.chunks(rows_per_statement(14)) {
        let sql = format!(
            "INSERT INTO household (id, village, number, head_name, address, member_count,
                 visit_count, last_visit_at, error_count, warning_count, conflict_count,
                 search_text, merged_into, updated_at)
             VALUES {}
             ON CONFLICT (id) DO UPDATE SET
                 village = excluded.village, number = excluded.number,
                 head_name = excluded.head_name, address = excluded.address,
                 member_count = excluded.member_count, visit_count = excluded.visit_count,
                 last_visit_at = excluded.last_visit_at, error_count = excluded.error_count,
                 warning_count = excluded.warning_count,
                 conflict_count = excluded.conflict_count, search_text = excluded.search_text,
                 merged_into = excluded.merged_into, updated_at = excluded.updated_at",
            Backend::of(conn).value_rows(batch.len(), 14)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for projection in batch {
            let row = &projection.row;
            query = query
                .bind(projection.household.clone())
                .bind(row.village.clone())
                .bind(row.number.clone())
                .bind(row.head_name.clone())
                .bind(row.address.clone())
                .bind(row.member_count)
                .bind(row.visit_count)
                .bind(row.last_visit_at)
                .bind(row.error_count)
                .bind(row.warning_count)
                .bind(row.conflict_count)
                .bind(row.search_text.clone())
                .bind(row.merged_into.clone())
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }
    let members: Vec<(&str, &MemberValues)> = projections
        .iter()
        .flat_map(|p| p.members.iter().map(|m| (p.household.as_str(), m)))
        .collect();
    for batch in members.chunks(rows_per_statement(17)) {
        let sql = format!(
            "INSERT INTO member (household_id, member_key, name, id_number_sealed,
                 id_number_hash, sex, birth_date_sealed, birth_year, relation, labour_capacity,
                 employment_status, employer_sealed, wants_work, wants_training, status,
                 left_on, moved_to_sealed)
             VALUES {}
             ON CONFLICT (household_id, member_key) DO UPDATE SET
                 name = excluded.name, id_number_sealed = excluded.id_number_sealed,
                 id_number_hash = excluded.id_number_hash, sex = excluded.sex,
                 birth_date_sealed = excluded.birth_date_sealed,
                 birth_year = excluded.birth_year, relation = excluded.relation,
                 labour_capacity = excluded.labour_capacity,
                 employment_status = excluded.employment_status,
                 employer_sealed = excluded.employer_sealed,
                 wants_work = excluded.wants_work, wants_training = excluded.wants_training,
                 status = excluded.status, left_on = excluded.left_on,
                 moved_to_sealed = excluded.moved_to_sealed",
            Backend::of(conn).value_rows(batch.len(), 17)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (household, member) in batch {
            let number = member.id_number.as_deref().filter(|n| !n.trim().is_empty());
            query = query
                .bind(household.to_string())
                .bind(member.key.clone())
                .bind(member.name.clone())
                .bind(number.map(|n| vault.seal(n.as_bytes())))
                .bind(number.map(|n| vault.lookup_hash(n)))
                .bind(member.sex.clone())
                .bind(seal_text(vault, member.birth_date.as_deref()))
                .bind(member.birth_year)
                .bind(member.relation.clone())
                .bind(member.labour_capacity.clone())
                .bind(member.employment_status.clone())
                .bind(seal_text(vault, member.employer.as_deref()))
                .bind(member.wants_work)
                .bind(member.wants_training)
                .bind(member.status.clone())
                .bind(member.left_on.clone())
                .bind(seal_text(vault, member.moved_to.as_deref()));
        }
        query.execute(&mut *conn).await?;
    }
    let visits: Vec<(&str, &VisitValues)> = projections
        .iter()
        .flat_map(|p| p.visits.iter().map(|v| (p.household.as_str(), v)))
        .collect();
    for batch in visits.chunks(rows_per_statement(7)) {
        let sql = format!(
            "INSERT INTO visit (household_id, visit_id, volunteer, device, started_at,
                 finished_at, outcome)
             VALUES {}
             ON CONFLICT (household_id, visit_id) DO UPDATE SET
                 volunteer = excluded.volunteer, device = excluded.device,
                 started_at = excluded.started_at, finished_at = excluded.finished_at,
                 outcome = excluded.outcome",
            Backend::of(conn).value_rows(batch.len(), 7)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (household, visit) in batch {
            query = query
                .bind(household.to_string())
                .bind(visit.key.clone())
                .bind(visit.volunteer.clone())
                .bind(visit.device.clone())
                .bind(visit.started_at)
                .bind(visit.finished_at)
                .bind(visit.outcome.clone());
        }
        query.execute(&mut *conn).await?;
    }
    Ok(())
}

/// A text sealed, or NULL when there is none (an empty text is none).
fn seal_text(vault: &Vault, value: Option<&str>) -> Option<Vec<u8>> {
    value
        .filter(|v| !v.trim().is_empty())
        .map(|v| vault.seal(v.as_bytes()))
}

/// Projects again the households that migration 0007 listed in `register_refill`: their
/// member rows held a plain birth date or employer, which SQL could not seal, so the
/// migration dropped them. Run at start, before serving; returns how many were refilled.
/// Each household is written under the write order, so a server already serving on the same
/// database cannot interleave a stale projection. A household that cannot be read is named
/// in the log and stays listed for the next start; it does not keep the server from
/// starting.
pub async fn refill_pending(ledger: &crate::storage::ledger::Ledger) -> Result<usize, LedgerError> {
    let pending: Vec<String> = sqlx::query("SELECT household_id FROM register_refill")
        .fetch_all(&ledger.db().pool)
        .await?
        .iter()
        .map(|row| row.try_get("household_id"))
        .collect::<Result<_, _>>()?;
    let mut refilled = 0;
    for household in &pending {
        match refill(ledger, household).await {
            Ok(()) => refilled += 1,
            Err(err) => tracing::warn!(
                household,
                error = %err,
                "cannot refill the register rows of a household; tried again at the next start"
            ),
        }
    }
    Ok(refilled)
}

async fn refill(
    ledger: &crate::storage::ledger::Ledger,
    household: &str,
) -> Result<(), LedgerError> {
    let mut write = ledger.db().begin_write().await?;
    if let Some((_, mut doc)) = ledger.load_for_write(&mut write.tx, household).await? {
        let view = schema::layout::read_household(doc.document())?;
        project(
            &mut write.tx,
            ledger.vault(),
            household,
            &view,
            ledger.clock(),
        )
        .await?;
    }
    sqlx::query("DELETE FROM register_refill WHERE household_id = $1")
        .bind(household)
        .execute(&mut *write.tx)
        .await?;
    write.commit().await?;
    Ok(())
}

/// Deletes the member and visit rows of these households that their documents no longer
/// hold. One read of the rows' keys; a delete only when something is gone, which is rare.
async fn delete_stale_rows(
    conn: &mut AnyConnection,
    projections: &[&Projection],
) -> Result<(), sqlx::Error> {
    let mut stale: Vec<(&'static str, String, String)> = Vec::new();
    for batch in projections.chunks(MAX_PARAMS / 2) {
        let backend = Backend::of(conn);
        let members = backend.placeholders(batch.len());
        let visits = backend.placeholders_from(batch.len() + 1, batch.len());
        let sql = format!(
            "SELECT 'member' AS kind, household_id, member_key AS record FROM member
                 WHERE household_id IN ({members})
             UNION ALL
             SELECT 'visit' AS kind, household_id, visit_id AS record FROM visit
                 WHERE household_id IN ({visits})"
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for projection in batch.iter().chain(batch) {
            query = query.bind(projection.household.clone());
        }
        let by_household: HashMap<&str, &Projection> =
            batch.iter().map(|p| (p.household.as_str(), *p)).collect();
        for row in query.fetch_all(&mut *conn).await? {
            let kind: String = row.try_get("kind")?;
            let household: String = row.try_get("household_id")?;
            let record: String = row.try_get("record")?;
            let Some(projection) = by_household.get(household.as_str()) else {
                continue;
            };
            let (table, present) = if kind == "member" {
                ("member", projection.members.iter().any(|m| m.key == record))
            } else {
                ("visit", projection.visits.iter().any(|v| v.key == record))
            };
            if !present {
                stale.push((table, household, record));
            }
        }
    }
    for (table, household, record) in stale {
        let sql = if table == "member" {
            "DELETE FROM member WHERE household_id = $1 AND member_key = $2"
        } else {
            "DELETE FROM visit WHERE household_id = $1 AND visit_id = $2"
        };
        sqlx::query(sql)
            .bind(household)
            .bind(record)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// One line of the household list.
#[derive(Debug, Clone, Serialize)]
pub struct HouseholdRow {
    pub id: String,
    pub village: String,
    pub number: String,
    pub head_name: Option<String>,
    pub address: Option<String>,
    pub member_count: i64,
    pub visit_count: i64,
    pub last_visit_at: Option<i64>,
    pub error_count: i64,
    pub warning_count: i64,
    pub conflict_count: i64,
    pub updated_at: i64,
}

/// A page of households.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub households: Vec<HouseholdRow>,
}

/// Households in an area (any level), optionally matching part of a present member's name or
/// the household number, or a present member's whole ID number, in village and
/// household-number order.
pub async fn list(
    pool: &AnyPool,
    vault: &Vault,
    area: &AreaCode,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Page, sqlx::Error> {
    let prefix = format!("{}%", area.as_str());
    let pattern = search
        .and_then(schema::search::like_pattern)
        .unwrap_or_else(|| "%".to_owned());
    // A whole ID number is looked for by its hash; anything else only in the search text,
    // and the hash is then NULL, which equals nothing.
    let hash = search
        .filter(|s| vault::looks_like_id_number(s))
        .map(|number| vault.lookup_hash(number));
    let total: i64 = sqlx::query(
        "SELECT COUNT(*) AS total FROM household
         WHERE village LIKE $1 AND merged_into IS NULL
           AND (search_text LIKE $2 ESCAPE '\\'
                OR id IN (SELECT household_id FROM member
                          WHERE id_number_hash = $3 AND status = $4))",
    )
    .bind(&prefix)
    .bind(&pattern)
    .bind(hash.clone())
    .bind(codes::PRESENT)
    .fetch_one(pool)
    .await?
    .try_get("total")?;
    let rows = sqlx::query(
        "SELECT id, village, number, head_name, address, member_count, visit_count, last_visit_at,
                error_count, warning_count, conflict_count, updated_at
         FROM household
         WHERE village LIKE $1 AND merged_into IS NULL
           AND (search_text LIKE $2 ESCAPE '\\'
                OR id IN (SELECT household_id FROM member
                          WHERE id_number_hash = $3 AND status = $4))
         ORDER BY village, number, id LIMIT $5 OFFSET $6",
    )
    .bind(&prefix)
    .bind(&pattern)
    .bind(hash)
    .bind(codes::PRESENT)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let households = rows
        .iter()
        .map(|row| {
            Ok(HouseholdRow {
                id: row.try_get("id")?,
                village: row.try_get("village")?,
                number: row.try_get("number")?,
                head_name: row.try_get("head_name")?,
                address: row.try_get("address")?,
                member_count: row.try_get("member_count")?,
                visit_count: row.try_get("visit_count")?,
                last_visit_at: row.try_get("last_visit_at")?,
                error_count: row.try_get("error_count")?,
                warning_count: row.try_get("warning_count")?,
                conflict_count: row.try_get("conflict_count")?,
                updated_at: row.try_get("updated_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(Page {
        total,
        limit,
        offset,
        households,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use automerge::AutoCommit;
    use schema::fields::{Entity, FieldPath};
    use schema::ids::{AreaCode, HouseholdId, MemberKey, RecordId};
    use schema::layout::{self, FieldValue};

    /// Migration 0007 keeps a plain birth date's year, drops the plain date and employer,
    /// and lists the household for refilling; the refill seals them from the document.
    #[tokio::test]
    async fn test_rows_migration_0007_could_not_seal_are_refilled_sealed_from_the_document() {
        let dir = tempfile::tempdir().unwrap();
        let before = dir.path().join("before");
        std::fs::create_dir(&before).unwrap();
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        for entry in std::fs::read_dir(&source).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            if name.as_str() < "0007" {
                std::fs::copy(entry.path(), before.join(&name)).unwrap();
            }
        }
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
        let db = crate::storage::db::Db::connect(&url).await.unwrap();
        sqlx::migrate::Migrator::new(before.as_path())
            .await
            .unwrap()
            .run(&db.pool)
            .await
            .unwrap();

        // A household as ingest stored it before 0007: its document, and a member row with
        // the birth date and employer in the clear.
        let vault = Vault::generate();
        let ledger =
            crate::storage::ledger::Ledger::new(db.clone(), vault.clone(), Clock::system());
        let id = HouseholdId::from_random([7; 16]);
        let village = AreaCode::parse_village("141124100201").unwrap();
        let mut doc = AutoCommit::new();
        layout::init_household(&mut doc, &id, &village, "0007", 1_700_000_000).unwrap();
        let key = MemberKey::from_random([8; 16]);
        for (name, value) in [
            ("name", "王芳"),
            ("birth_date", "1957-03-14"),
            ("employment.employer", "宏达煤业"),
        ] {
            let path = FieldPath::member(&key, name).unwrap();
            let value = FieldValue::Text(value.to_owned());
            layout::write_field(&mut doc, &path, Some(&value)).unwrap();
        }
        doc.commit();
        let changes = doc.get_changes(&[]);
        sqlx::query(
            "INSERT INTO document (household_id, village, heads, last_feed, updated_at)
             VALUES ($1, $2, $3, 0, 0)",
        )
        .bind(id.as_str())
        .bind(village.as_str())
        .bind(Vec::<u8>::new())
        .execute(&db.pool)
        .await
        .unwrap();
        for change in &changes {
            sqlx::query(
                "INSERT INTO change (household_id, hash, actor, bytes, received_at)
                 VALUES ($1, $2, $3, $4, 0)",
            )
            .bind(id.as_str())
            .bind(change.hash().as_ref().to_vec())
            .bind(change.actor_id().to_hex_string())
            .bind(vault.seal(change.raw_bytes()))
            .execute(&db.pool)
            .await
            .unwrap();
        }
        sqlx::query(
            "INSERT INTO household (id, village, number, member_count, visit_count,
                 error_count, warning_count, conflict_count, search_text, updated_at)
             VALUES ($1, $2, '0007', 1, 0, 0, 0, 0, '', 0)",
        )
        .bind(id.as_str())
        .bind(village.as_str())
        .execute(&db.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO member (household_id, member_key, name, birth_date, employer)
             VALUES ($1, $2, '王芳', '1957-03-14', '宏达煤业')",
        )
        .bind(id.as_str())
        .bind(key.as_str())
        .execute(&db.pool)
        .await
        .unwrap();

        sqlx::query("UPDATE document SET last_feed = (SELECT MAX(feed) FROM change)")
            .execute(&db.pool)
            .await
            .unwrap();

        db.migrate().await.unwrap();
        let plain_gone = sqlx::query("SELECT birth_date FROM member")
            .fetch_all(&db.pool)
            .await;
        assert!(plain_gone.is_err(), "the plain column is dropped");
        let row = sqlx::query("SELECT birth_year, birth_date_sealed FROM member")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        assert_eq!(
            row.try_get::<Option<i64>, _>("birth_year").unwrap(),
            Some(1957)
        );
        assert!(
            row.try_get::<Option<Vec<u8>>, _>("birth_date_sealed")
                .unwrap()
                .is_none()
        );

        assert_eq!(refill_pending(&ledger).await.unwrap(), 1);
        let row = sqlx::query("SELECT birth_year, birth_date_sealed, employer_sealed FROM member")
            .fetch_one(&db.pool)
            .await
            .unwrap();
        let opened = |column: &str| {
            let sealed: Vec<u8> = row.try_get(column).unwrap();
            vault.open_text(&sealed).unwrap()
        };
        assert_eq!(opened("birth_date_sealed"), "1957-03-14");
        assert_eq!(opened("employer_sealed"), "宏达煤业");
        assert_eq!(
            row.try_get::<Option<i64>, _>("birth_year").unwrap(),
            Some(1957)
        );
        assert_eq!(refill_pending(&ledger).await.unwrap(), 0, "refilled once");
    }

    /// A member who moved out keeps a row, with status, date and destination, but leaves
    /// the household's member count and search text.
    #[test]
    fn test_a_member_who_moved_out_is_projected_as_history() {
        let id = HouseholdId::from_random([1; 16]);
        let village = AreaCode::parse_village("141124100201").unwrap();
        let mut doc = AutoCommit::new();
        layout::init_household(&mut doc, &id, &village, "0007", 1_700_000_000).unwrap();
        let [stays, moved] = [[2; 16], [3; 16]].map(MemberKey::from_random);
        let mut put = |key: &MemberKey, name: &str, value: &str| {
            let path = FieldPath::member(key, name).unwrap();
            let value = FieldValue::Text(value.to_owned());
            layout::write_field(&mut doc, &path, Some(&value)).unwrap();
        };
        put(&stays, "name", "刘伟");
        put(&moved, "name", "王芳");
        put(&moved, "status", "02");
        put(&moved, "left_on", "2026-03-01");
        put(&moved, "moved_to", "太原");
        doc.commit();
        let view = layout::read_household(doc.document()).unwrap();
        let projection = Projection::of(id.as_str(), &view, Clock::system().today());
        assert_eq!(projection.row.member_count, 1);
        assert_eq!(projection.row.search_text, "0007\n刘伟");
        let row = |key: &MemberKey| {
            projection
                .members
                .iter()
                .find(|m| m.key == key.as_str())
                .unwrap()
        };
        assert_eq!(row(&stays).status, "01");
        let moved = row(&moved);
        assert_eq!(moved.status, "02");
        assert_eq!(moved.left_on.as_deref(), Some("2026-03-01"));
        assert_eq!(moved.moved_to.as_deref(), Some("太原"));
    }

    /// The rows of members and visits that have left the document go; the others stay.
    #[tokio::test]
    async fn test_rows_of_records_gone_from_the_document_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::db::test_sqlite(dir.path()).await;
        let vault = Vault::generate();
        let id = HouseholdId::from_random([1; 16]);
        let village = AreaCode::parse_village("141124100201").unwrap();
        let mut doc = AutoCommit::new();
        layout::init_household(&mut doc, &id, &village, "0007", 1_700_000_000).unwrap();
        let members = [[2; 16], [3; 16]].map(MemberKey::from_random);
        for key in &members {
            let name = FieldValue::Text("王芳".to_owned());
            let path = FieldPath::member(key, "name").unwrap();
            layout::write_field(&mut doc, &path, Some(&name)).unwrap();
        }
        let visits = [[4; 8], [5; 8]].map(RecordId::from_random);
        for visit in &visits {
            let path = FieldPath::record(Entity::Visit, visit, "started_at").unwrap();
            layout::write_field(&mut doc, &path, Some(&FieldValue::Integer(1))).unwrap();
        }
        doc.commit();
        let mut view = layout::read_household(doc.document()).unwrap();
        sqlx::query(
            "INSERT INTO document (household_id, village, heads, last_feed, updated_at)
             VALUES ($1, $2, $3, 1, 1)",
        )
        .bind(id.as_str())
        .bind(village.as_str())
        .bind(Vec::<u8>::new())
        .execute(&db.pool)
        .await
        .unwrap();
        let mut conn = db.pool.acquire().await.unwrap();
        let clock = Clock::system();
        let projection = Projection::of(id.as_str(), &view, clock.today());
        write(&mut conn, &vault, &[&projection], clock.now_seconds())
            .await
            .unwrap();

        view.members.remove(members[0].as_str());
        view.visits.remove(visits[0].as_str());
        let clock = Clock::system();
        let projection = Projection::of(id.as_str(), &view, clock.today());
        write(&mut conn, &vault, &[&projection], clock.now_seconds())
            .await
            .unwrap();
        let left: Vec<String> = sqlx::query(
            "SELECT member_key AS record FROM member UNION ALL SELECT visit_id FROM visit",
        )
        .fetch_all(&mut *conn)
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get("record").unwrap())
        .collect();
        assert_eq!(
            left,
            [members[1].to_string(), visits[1].to_string()],
            "the rows left"
        );
    }
}
