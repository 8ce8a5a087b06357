//! The register: households, members and visits as plain rows, projected from the documents
//! in the same transaction as the changes, and read back for staff.

use schema::ids::AreaCode;
use schema::layout::{FieldValue, HouseholdView, Record};
use schema::validation::{self, Severity};
use serde::Serialize;
use sqlx::{AnyConnection, AnyPool, Row};

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

/// Today in China (UTC+8), for validation.
pub fn today() -> jiff::civil::Date {
    schema::china_date(jiff::Timestamp::now())
}

/// Rewrites one household's register rows from its document.
pub async fn project(
    conn: &mut AnyConnection,
    household: &str,
    view: &HouseholdView,
) -> Result<(), sqlx::Error> {
    let issues = validation::validate(view, today());
    let errors = issues
        .iter()
        .filter(|i| i.severity == Severity::Error)
        .count() as i64;
    let warnings = issues.len() as i64 - errors;
    let last_visit = view
        .visits
        .values()
        .filter_map(|visit| integer(visit, "finished_at").or_else(|| integer(visit, "started_at")))
        .max();
    let search_text = schema::search::index_text(view);
    for table in ["member", "visit"] {
        let sql = match table {
            "member" => "DELETE FROM member WHERE household_id = $1",
            _ => "DELETE FROM visit WHERE household_id = $1",
        };
        sqlx::query(sql).bind(household).execute(&mut *conn).await?;
    }
    sqlx::query(
        "INSERT INTO household (id, village, number, head_name, address, member_count, visit_count,
             last_visit_at, error_count, warning_count, conflict_count, search_text, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
         ON CONFLICT (id) DO UPDATE SET
             village = excluded.village, number = excluded.number, head_name = excluded.head_name,
             address = excluded.address, member_count = excluded.member_count,
             visit_count = excluded.visit_count, last_visit_at = excluded.last_visit_at,
             error_count = excluded.error_count, warning_count = excluded.warning_count,
             conflict_count = excluded.conflict_count, search_text = excluded.search_text,
             updated_at = excluded.updated_at",
    )
    .bind(household)
    .bind(view.household_text("village").unwrap_or_default())
    .bind(view.household_text("number").unwrap_or_default())
    .bind(view.head_name())
    .bind(view.household_text("address"))
    .bind(view.members.len() as i64)
    .bind(view.visits.len() as i64)
    .bind(last_visit)
    .bind(errors)
    .bind(warnings)
    .bind(view.conflicts().len() as i64)
    .bind(search_text)
    .bind(jiff::Timestamp::now().as_second())
    .execute(&mut *conn)
    .await?;
    for (key, member) in &view.members {
        sqlx::query(
            "INSERT INTO member (household_id, member_key, name, id_number, sex, birth_date, relation,
                 labour_capacity, employment_status, employer, wants_work, wants_training)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(household)
        .bind(key)
        .bind(text(member, "name"))
        .bind(text(member, "id_number"))
        .bind(text(member, "sex"))
        .bind(text(member, "birth_date"))
        .bind(text(member, "relation"))
        .bind(text(member, "labour_capacity"))
        .bind(text(member, "employment.status"))
        .bind(text(member, "employment.employer"))
        .bind(flag(member, "intent.wants_work"))
        .bind(flag(member, "intent.wants_training"))
        .execute(&mut *conn)
        .await?;
    }
    for (key, visit) in &view.visits {
        sqlx::query(
            "INSERT INTO visit (household_id, visit_id, volunteer, device, started_at, finished_at, outcome)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(household)
        .bind(key)
        .bind(text(visit, "volunteer"))
        .bind(text(visit, "device"))
        .bind(integer(visit, "started_at"))
        .bind(integer(visit, "finished_at"))
        .bind(text(visit, "outcome"))
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

/// Households in an area (any level), optionally matching part of a name, ID number or
/// household number, in village and household-number order.
pub async fn list(
    pool: &AnyPool,
    area: &AreaCode,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<Page, sqlx::Error> {
    let prefix = format!("{}%", area.as_str());
    let pattern = search
        .and_then(schema::search::like_pattern)
        .unwrap_or_else(|| "%".to_owned());
    let total: i64 = sqlx::query(
        "SELECT COUNT(*) AS total FROM household WHERE village LIKE $1 AND search_text LIKE $2 ESCAPE '\\'",
    )
    .bind(&prefix)
    .bind(&pattern)
    .fetch_one(pool)
    .await?
    .try_get("total")?;
    let rows = sqlx::query(
        "SELECT id, village, number, head_name, address, member_count, visit_count, last_visit_at,
                error_count, warning_count, conflict_count, updated_at
         FROM household WHERE village LIKE $1 AND search_text LIKE $2 ESCAPE '\\'
         ORDER BY village, number, id LIMIT $3 OFFSET $4",
    )
    .bind(&prefix)
    .bind(&pattern)
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
