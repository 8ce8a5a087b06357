//! Writing register rows: upserted for many households in a few statements, the rows of
//! records gone from the document deleted; and the refill of rows an old migration dropped.

use super::projection::{
    MemberDetails, MemberValues, Projection, SubsidyValues, TrainingValues, VisitValues,
};
use crate::clock::Clock;
use crate::storage::db::{Backend, MAX_PARAMS, rows_per_statement};
use crate::storage::ledger::{Ledger, LedgerError};
use crate::storage::vault::Vault;
use schema::layout::HouseholdView;
use schema::tasks::Task;
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::HashMap;

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
    for batch in members.chunks(rows_per_statement(22)) {
        let sql = format!(
            "INSERT INTO member (household_id, member_key, name, id_number_sealed,
                 id_number_hash, sex, birth_date_sealed, birth_year, birth_month_day, relation,
                 labour_capacity, employment_status, employer_sealed, wants_work,
                 wants_training, status, left_on, moved_to_sealed, employment_channel,
                 employment_place_area, moved_to_area, details_sealed)
             VALUES {}
             ON CONFLICT (household_id, member_key) DO UPDATE SET
                 name = excluded.name, id_number_sealed = excluded.id_number_sealed,
                 id_number_hash = excluded.id_number_hash, sex = excluded.sex,
                 birth_date_sealed = excluded.birth_date_sealed,
                 birth_year = excluded.birth_year,
                 birth_month_day = excluded.birth_month_day, relation = excluded.relation,
                 labour_capacity = excluded.labour_capacity,
                 employment_status = excluded.employment_status,
                 employer_sealed = excluded.employer_sealed,
                 wants_work = excluded.wants_work, wants_training = excluded.wants_training,
                 status = excluded.status, left_on = excluded.left_on,
                 moved_to_sealed = excluded.moved_to_sealed,
                 employment_channel = excluded.employment_channel,
                 employment_place_area = excluded.employment_place_area,
                 moved_to_area = excluded.moved_to_area,
                 details_sealed = excluded.details_sealed",
            Backend::of(conn).value_rows(batch.len(), 22)
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
                .bind(member.birth_month_day.clone())
                .bind(member.relation.clone())
                .bind(member.labour_capacity.clone())
                .bind(member.employment_status.clone())
                .bind(seal_text(vault, member.employer.as_deref()))
                .bind(member.wants_work)
                .bind(member.wants_training)
                .bind(member.status.clone())
                .bind(member.left_on.clone())
                .bind(seal_text(vault, member.moved_to.as_deref()))
                .bind(member.employment_channel.clone())
                .bind(member.employment_place_area.clone())
                .bind(member.moved_to_area.clone())
                .bind(seal_details(vault, &member.details));
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
    let trainings: Vec<(&str, &TrainingValues)> = projections
        .iter()
        .flat_map(|p| p.trainings.iter().map(|t| (p.household.as_str(), t)))
        .collect();
    for batch in trainings.chunks(rows_per_statement(12)) {
        let sql = format!(
            "INSERT INTO training (household_id, training_id, member_key, institution, trade,
                 model, start_date, end_date, completed, certificate, employed_on,
                 months_to_employment)
             VALUES {}
             ON CONFLICT (household_id, training_id) DO UPDATE SET
                 member_key = excluded.member_key, institution = excluded.institution,
                 trade = excluded.trade, model = excluded.model,
                 start_date = excluded.start_date, end_date = excluded.end_date,
                 completed = excluded.completed, certificate = excluded.certificate,
                 employed_on = excluded.employed_on,
                 months_to_employment = excluded.months_to_employment",
            Backend::of(conn).value_rows(batch.len(), 12)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (household, training) in batch {
            query = query
                .bind(household.to_string())
                .bind(training.key.clone())
                .bind(training.member.clone())
                .bind(training.institution.clone())
                .bind(training.trade.clone())
                .bind(training.model.clone())
                .bind(training.start_date.clone())
                .bind(training.end_date.clone())
                .bind(training.completed)
                .bind(training.certificate.clone())
                .bind(training.employed_on.clone())
                .bind(training.months_to_employment);
        }
        query.execute(&mut *conn).await?;
    }
    let subsidies: Vec<(&str, &SubsidyValues)> = projections
        .iter()
        .flat_map(|p| p.subsidies.iter().map(|s| (p.household.as_str(), s)))
        .collect();
    for batch in subsidies.chunks(rows_per_statement(10)) {
        let sql = format!(
            "INSERT INTO subsidy (household_id, subsidy_id, member_key, kind, year, amount,
                 status, insurance_type, contribution_base, contribution)
             VALUES {}
             ON CONFLICT (household_id, subsidy_id) DO UPDATE SET
                 member_key = excluded.member_key, kind = excluded.kind,
                 year = excluded.year, amount = excluded.amount, status = excluded.status,
                 insurance_type = excluded.insurance_type,
                 contribution_base = excluded.contribution_base,
                 contribution = excluded.contribution",
            Backend::of(conn).value_rows(batch.len(), 10)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (household, subsidy) in batch {
            query = query
                .bind(household.to_string())
                .bind(subsidy.key.clone())
                .bind(subsidy.member.clone())
                .bind(subsidy.kind.clone())
                .bind(subsidy.year)
                .bind(subsidy.amount)
                .bind(subsidy.status.clone())
                .bind(subsidy.insurance_type.clone())
                .bind(subsidy.contribution_base)
                .bind(subsidy.contribution);
        }
        query.execute(&mut *conn).await?;
    }
    let tasks: Vec<(&str, &Task)> = projections
        .iter()
        .flat_map(|p| p.tasks.iter().map(|t| (p.household.as_str(), t)))
        .collect();
    for batch in tasks.chunks(rows_per_statement(12)) {
        let sql = format!(
            "INSERT INTO visit_task (household_id, task_id, member_key, status, source,
                 field, check_zh, check_en, opened_at, closed_at, closed_by, mismatch_id)
             VALUES {}
             ON CONFLICT (household_id, task_id) DO UPDATE SET
                 member_key = excluded.member_key, status = excluded.status,
                 source = excluded.source, field = excluded.field,
                 check_zh = excluded.check_zh, check_en = excluded.check_en,
                 opened_at = excluded.opened_at, closed_at = excluded.closed_at,
                 closed_by = excluded.closed_by, mismatch_id = excluded.mismatch_id",
            Backend::of(conn).value_rows(batch.len(), 12)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (household, task) in batch {
            query = query
                .bind(household.to_string())
                .bind(task.id.clone())
                .bind(task.member.clone())
                .bind(task.status.as_str())
                .bind(task.source.clone())
                .bind(task.field.clone())
                .bind(task.check.zh.clone())
                .bind(task.check.en.clone())
                .bind(task.opened_at)
                .bind(task.closed_at)
                .bind(task.closed_by.clone())
                .bind(task.mismatch.clone());
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

/// A member's details sealed as one JSON object, or NULL when there are none.
fn seal_details(vault: &Vault, details: &MemberDetails) -> Option<Vec<u8>> {
    if details.is_empty() {
        return None;
    }
    serde_json::to_vec(details)
        .ok()
        .map(|json| vault.seal(&json))
}

/// A member's details as `seal_details` stored them; none when the column is NULL or cannot
/// be opened.
pub fn open_details(vault: &Vault, sealed: Option<&[u8]>) -> MemberDetails {
    sealed
        .and_then(|sealed| vault.open(sealed).ok())
        .and_then(|json| serde_json::from_slice(&json).ok())
        .unwrap_or_default()
}

/// Projects again the households that migration 0007 listed in `register_refill`: their
/// member rows held a plain birth date or employer, which SQL could not seal, so the
/// migration dropped them. Run at start, before serving; returns how many were refilled.
/// Each household is written under the write order, so a server already serving on the same
/// database cannot interleave a stale projection. A household that cannot be read is named
/// in the log and stays listed for the next start; it does not keep the server from
/// starting.
pub async fn refill_pending(ledger: &Ledger) -> Result<usize, LedgerError> {
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

async fn refill(ledger: &Ledger, household: &str) -> Result<(), LedgerError> {
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

/// The tables of a household's records, with the column naming the record: each row of
/// these whose record has left the document is deleted.
const RECORD_TABLES: [(&str, &str); 5] = [
    ("member", "member_key"),
    ("visit", "visit_id"),
    ("training", "training_id"),
    ("subsidy", "subsidy_id"),
    ("visit_task", "task_id"),
];

/// The keys of a projection's records stored in `table` (one of [`RECORD_TABLES`]).
fn projected_keys<'a>(projection: &'a Projection, table: &str) -> Vec<&'a str> {
    match table {
        "member" => projection.members.iter().map(|m| m.key.as_str()).collect(),
        "visit" => projection.visits.iter().map(|v| v.key.as_str()).collect(),
        "training" => projection
            .trainings
            .iter()
            .map(|t| t.key.as_str())
            .collect(),
        "visit_task" => projection.tasks.iter().map(|t| t.id.as_str()).collect(),
        _ => projection
            .subsidies
            .iter()
            .map(|s| s.key.as_str())
            .collect(),
    }
}

/// Deletes the member, visit, training and subsidy rows of these households that their
/// documents no longer hold. One read of the rows' keys; a delete only when something is
/// gone, which is rare.
async fn delete_stale_rows(
    conn: &mut AnyConnection,
    projections: &[&Projection],
) -> Result<(), sqlx::Error> {
    let mut stale: Vec<(&'static str, &'static str, String, String)> = Vec::new();
    for batch in projections.chunks(MAX_PARAMS / RECORD_TABLES.len()) {
        let backend = Backend::of(conn);
        // Only the constant table and column names are formatted into the SQL.
        let sql = RECORD_TABLES
            .iter()
            .enumerate()
            .map(|(n, (table, column))| {
                let households = backend.placeholders_from(n * batch.len() + 1, batch.len());
                format!(
                    "SELECT '{table}' AS kind, household_id, {column} AS record FROM {table}
                         WHERE household_id IN ({households})"
                )
            })
            .collect::<Vec<_>>()
            .join(" UNION ALL ");
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for _ in RECORD_TABLES {
            for projection in batch {
                query = query.bind(projection.household.clone());
            }
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
            let Some(&(table, column)) = RECORD_TABLES.iter().find(|(table, _)| *table == kind)
            else {
                continue;
            };
            if !projected_keys(projection, table).contains(&record.as_str()) {
                stale.push((table, column, household, record));
            }
        }
    }
    for (table, column, household, record) in stale {
        let sql = format!("DELETE FROM {table} WHERE household_id = $1 AND {column} = $2");
        sqlx::query(AssertSqlSafe(sql))
            .bind(household)
            .bind(record)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}
