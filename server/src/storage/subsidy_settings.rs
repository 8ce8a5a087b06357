//! The yearly subsidy parameters (policy §五(十二)(十三)) as rows a county admin edits:
//! `subsidy_settings`, one row a year, seeded with the policy's maxima (migration 0011).
//! Editing goes through `decisions::subsidy_settings`, which audits it and brings the review
//! queue up to date; this module only reads and writes the rows.

use schema::validation::subsidy::SubsidyParameters;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

const COLUMNS: &str = "year, transport_cap, service_cap, insurance_share_numerator,
    insurance_share_denominator, insurance_max_years, base_floor_percent, average_wage";

fn parameters(row: &AnyRow) -> Result<SubsidyParameters, sqlx::Error> {
    Ok(SubsidyParameters {
        year: row.try_get("year")?,
        transport_cap: row.try_get("transport_cap")?,
        service_cap: row.try_get("service_cap")?,
        insurance_share_numerator: row.try_get("insurance_share_numerator")?,
        insurance_share_denominator: row.try_get("insurance_share_denominator")?,
        insurance_max_years: row.try_get("insurance_max_years")?,
        base_floor_percent: row.try_get("base_floor_percent")?,
        average_wage: row.try_get("average_wage")?,
    })
}

/// Every year's parameters, by year: a few dozen rows, read whole by whoever judges claims.
pub async fn all(conn: &mut AnyConnection) -> Result<Vec<SubsidyParameters>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM subsidy_settings ORDER BY year");
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(parameters).collect()
}

/// One year's parameters, if the year has any.
pub async fn of_year(
    conn: &mut AnyConnection,
    year: i64,
) -> Result<Option<SubsidyParameters>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM subsidy_settings WHERE year = $1");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(year)
        .fetch_optional(&mut *conn)
        .await?;
    row.as_ref().map(parameters).transpose()
}

/// Writes a year's parameters, replacing what it had, as edited by `by` at `now`.
pub async fn put(
    conn: &mut AnyConnection,
    parameters: &SubsidyParameters,
    by: &str,
    now: i64,
) -> Result<(), sqlx::Error> {
    let p = parameters;
    sqlx::query(
        "INSERT INTO subsidy_settings (year, transport_cap, service_cap,
             insurance_share_numerator, insurance_share_denominator, insurance_max_years,
             base_floor_percent, average_wage, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (year) DO UPDATE SET
             transport_cap = excluded.transport_cap, service_cap = excluded.service_cap,
             insurance_share_numerator = excluded.insurance_share_numerator,
             insurance_share_denominator = excluded.insurance_share_denominator,
             insurance_max_years = excluded.insurance_max_years,
             base_floor_percent = excluded.base_floor_percent,
             average_wage = excluded.average_wage, updated_at = excluded.updated_at,
             updated_by = excluded.updated_by",
    )
    .bind(p.year)
    .bind(p.transport_cap)
    .bind(p.service_cap)
    .bind(p.insurance_share_numerator)
    .bind(p.insurance_share_denominator)
    .bind(p.insurance_max_years)
    .bind(p.base_floor_percent)
    .bind(p.average_wage)
    .bind(now)
    .bind(by)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The live or merged households holding a subsidy record of `year`: whose review items a
/// change of the year's parameters may change.
pub async fn households_claiming_in(
    conn: &mut AnyConnection,
    year: i64,
) -> Result<Vec<String>, sqlx::Error> {
    let rows = sqlx::query("SELECT DISTINCT household_id FROM subsidy WHERE year = $1")
        .bind(year)
        .fetch_all(&mut *conn)
        .await?;
    rows.iter().map(|row| row.try_get("household_id")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn test_years_start_with_the_policy_and_an_edit_replaces_one_year() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::db::test_sqlite(dir.path()).await;
        let mut conn = db.pool.acquire().await.unwrap();
        let seeded = of_year(&mut conn, 2020).await.unwrap().unwrap();
        assert_eq!(
            (
                seeded.transport_cap,
                seeded.service_cap,
                seeded.average_wage
            ),
            (800, 300, None)
        );
        assert_eq!(
            (
                seeded.insurance_share_numerator,
                seeded.insurance_share_denominator,
                seeded.insurance_max_years,
                seeded.base_floor_percent
            ),
            (2, 3, 3, 40)
        );
        let edited = SubsidyParameters {
            transport_cap: 600,
            average_wage: Some(72_000),
            ..seeded
        };
        put(&mut conn, &edited, "staff:admin", 5).await.unwrap();
        assert_eq!(of_year(&mut conn, 2020).await.unwrap(), Some(edited));
        let later = SubsidyParameters {
            year: 2040,
            ..of_year(&mut conn, 2021).await.unwrap().unwrap()
        };
        put(&mut conn, &later, "operator", 6).await.unwrap();
        let years: Vec<i64> = all(&mut conn)
            .await
            .unwrap()
            .iter()
            .map(|p| p.year)
            .collect();
        assert_eq!(years.first(), Some(&2017));
        assert_eq!(years.last(), Some(&2040));
        assert_eq!(of_year(&mut conn, 2031).await.unwrap(), None);
    }
}
