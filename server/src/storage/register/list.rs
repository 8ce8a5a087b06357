//! The household list staff read: by area, optionally by a name, household number or whole
//! ID number.

use crate::storage::vault::{self, Vault};
use schema::codes;
use schema::ids::AreaCode;
use serde::Serialize;
use sqlx::{AnyPool, Row};

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
pub struct HouseholdPage {
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
) -> Result<HouseholdPage, sqlx::Error> {
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
    Ok(HouseholdPage {
        total,
        limit,
        offset,
        households,
    })
}
