//! Monthly figures that stay put. A county admin closes a month of an area: its indicators as
//! of the month's last day are stored (`closed_month`, migration 0010, whose triggers refuse
//! any change) and print again unchanged ever after. Asked for later, a closed month comes
//! with the figures the register gives for the same day now, and every difference between
//! the two: a correction made since shows, it never changes the closed figures silently.

use super::definitions::{DEFAULT_EMPLOYED_WITHIN_MONTHS, Definitions};
use super::indicators::{self, Indicators};
use crate::access::audit::{self, Entry};
use crate::storage::db::Db;
use jiff::civil::Date;
use schema::Message;
use schema::ids::AreaCode;
use serde::Serialize;
use serde_json::Value;
use sqlx::{AnyPool, Row};
use std::collections::BTreeMap;

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Month {
    first_day: Date,
}

impl Month {
    /// Reads `YYYY-MM`.
    pub fn parse(input: &str) -> Result<Month, Message> {
        let refused = || {
            Message::new(
                format!("月份“{input}”无效：应为 YYYY-MM，如 2025-06"),
                format!("Invalid month \"{input}\": expected YYYY-MM, such as 2025-06"),
            )
        };
        let (year, month) = input.split_once('-').ok_or_else(refused)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(refused());
        }
        let year: i16 = year.parse().map_err(|_| refused())?;
        let month: i8 = month.parse().map_err(|_| refused())?;
        let first_day = Date::new(year, month, 1).map_err(|_| refused())?;
        Ok(Month { first_day })
    }

    /// The month's last day: the day its figures are as of.
    pub fn last_day(self) -> Date {
        self.first_day.last_of_month()
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:04}-{:02}",
            self.first_day.year(),
            self.first_day.month()
        )
    }
}

/// A closed month, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClosedMonth {
    pub area: String,
    pub month: String,
    pub closed_by: String,
    /// Seconds since the epoch.
    pub closed_at: i64,
    pub figures: Indicators,
}

/// One figure that differs between a closed month and the register now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// Where in the figures: `coverage.households`, `labour.by_sex[2].count`,
    /// `failing_households[<household id>]`, …
    pub path: String,
    /// As closed; none when the closed month did not have it.
    pub closed: Option<Value>,
    /// As the register gives it now; none when it is gone.
    pub now: Option<Value>,
}

/// The indicators an area is asked for: as of a date, or of a month (its last day), and
/// for a closed month also the figures as closed and how they differ from those now.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub month: Option<String>,
    /// The figures the register gives now.
    pub figures: Indicators,
    pub closed: Option<ClosedMonth>,
    /// Empty unless the month is closed and the register has changed since.
    pub differences: Vec<Difference>,
}

#[derive(Debug, thiserror::Error)]
pub enum CloseError {
    #[error("{}", .0.en)]
    AlreadyClosed(Message),
    #[error("{}", .0.en)]
    NotOver(Message),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error("the figures cannot be stored: {0}")]
    Encoding(#[from] serde_json::Error),
}

/// The indicators of `area` as of `date`, or of `month` when given (its last day), with the
/// closed figures and their differences when that month is closed.
pub async fn report(
    pool: &AnyPool,
    area: &AreaCode,
    month: Option<Month>,
    date: Date,
    employed_within_months: u32,
) -> Result<Report, sqlx::Error> {
    let date = month.map_or(date, Month::last_day);
    let figures = indicators::compute(
        pool,
        &Definitions::new(area.clone(), date, employed_within_months),
    )
    .await?;
    let closed = match month {
        Some(month) => closed(pool, area, month).await?,
        None => None,
    };
    let differences = closed
        .as_ref()
        .map(|closed| differences(&closed.figures, &figures))
        .unwrap_or_default();
    Ok(Report {
        month: month.map(|m| m.to_string()),
        figures,
        closed,
        differences,
    })
}

/// The stored figures of a closed month, if it is closed.
pub async fn closed(
    pool: &AnyPool,
    area: &AreaCode,
    month: Month,
) -> Result<Option<ClosedMonth>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT figures, closed_by, closed_at FROM closed_month WHERE area = $1 AND month = $2",
    )
    .bind(area.as_str())
    .bind(month.to_string())
    .fetch_optional(pool)
    .await?;
    let Some(row) = row else {
        return Ok(None);
    };
    let figures: String = row.try_get("figures")?;
    let figures = serde_json::from_str(&figures).map_err(|err| sqlx::Error::Decode(err.into()))?;
    Ok(Some(ClosedMonth {
        area: area.to_string(),
        month: month.to_string(),
        closed_by: row.try_get("closed_by")?,
        closed_at: row.try_get("closed_at")?,
        figures,
    }))
}

/// A closed month of an area as listed: which, by whom and when (its figures stay stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClosedMonthEntry {
    pub month: String,
    pub closed_by: String,
    /// Seconds since the epoch.
    pub closed_at: i64,
}

/// The closed months of `area`, latest first.
pub async fn closed_months(
    pool: &AnyPool,
    area: &AreaCode,
) -> Result<Vec<ClosedMonthEntry>, sqlx::Error> {
    sqlx::query(
        "SELECT month, closed_by, closed_at FROM closed_month WHERE area = $1
         ORDER BY month DESC",
    )
    .bind(area.as_str())
    .fetch_all(pool)
    .await?
    .iter()
    .map(|row| {
        Ok(ClosedMonthEntry {
            month: row.try_get("month")?,
            closed_by: row.try_get("closed_by")?,
            closed_at: row.try_get("closed_at")?,
        })
    })
    .collect()
}

/// Closes `month` of `area`: computes its indicators as of its last day and stores them, with
/// the audit record `report.close_month` of `entry` (who, from where), in one transaction. A
/// month not yet over on `today`, or already closed, is refused.
pub async fn close(
    db: &Db,
    area: &AreaCode,
    month: Month,
    entry: Entry,
    now: i64,
    today: Date,
) -> Result<ClosedMonth, CloseError> {
    if month.last_day() >= today {
        return Err(CloseError::NotOver(Message::new(
            format!("{month} 尚未结束，月末之后才能关账"),
            format!("{month} is not over yet: a month is closed after its last day"),
        )));
    }
    if let Some(closed) = closed(&db.pool, area, month).await? {
        return Err(already_closed(&closed));
    }
    let figures = indicators::compute(
        &db.pool,
        &Definitions::new(
            area.clone(),
            month.last_day(),
            DEFAULT_EMPLOYED_WITHIN_MONTHS,
        ),
    )
    .await?;
    let closed_by = entry.actor.clone();
    let mut write = db.begin_write().await?;
    let stored = sqlx::query(
        "INSERT INTO closed_month (area, month, figures, closed_by, closed_at)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (area, month) DO NOTHING",
    )
    .bind(area.as_str())
    .bind(month.to_string())
    .bind(serde_json::to_string(&figures)?)
    .bind(&closed_by)
    .bind(now)
    .execute(&mut *write.tx)
    .await?;
    if stored.rows_affected() == 0 {
        // Another admin closed it since the check above.
        drop(write);
        let closed = closed(&db.pool, area, month).await?;
        return Err(closed.map_or_else(
            || CloseError::Database(sqlx::Error::RowNotFound),
            |closed| already_closed(&closed),
        ));
    }
    let detail = format!(
        "{month}: {} households, {} failing, {} untrained",
        figures.coverage.households,
        figures.failing_households.len(),
        figures.untrained.len()
    );
    audit::record_in(&mut write.tx, entry.on(area.as_str()).saying(detail), now).await?;
    write.commit().await?;
    Ok(ClosedMonth {
        area: area.to_string(),
        month: month.to_string(),
        closed_by,
        closed_at: now,
        figures,
    })
}

fn already_closed(closed: &ClosedMonth) -> CloseError {
    CloseError::AlreadyClosed(Message::new(
        format!(
            "{} 已由 {} 关账，关账数字不再改变",
            closed.month, closed.closed_by
        ),
        format!(
            "{} was already closed by {}; closed figures never change",
            closed.month, closed.closed_by
        ),
    ))
}

/// Every figure that differs between the closed figures and those now, in path order. Lists
/// are compared by what their lines are about (a code, a household, a member, a volunteer, a
/// group), so a household added to a list shows as that household, not as every line after
/// it shifting.
pub fn differences(closed: &Indicators, now: &Indicators) -> Vec<Difference> {
    // A month closed before the figures had lines per part has none: their absence is not a
    // correction.
    let now = if closed.parts.is_empty() {
        &Indicators {
            parts: Vec::new(),
            ..now.clone()
        }
    } else {
        now
    };
    let mut was = BTreeMap::new();
    let mut is = BTreeMap::new();
    flatten(
        "",
        &serde_json::to_value(closed).unwrap_or(Value::Null),
        &mut was,
    );
    flatten(
        "",
        &serde_json::to_value(now).unwrap_or(Value::Null),
        &mut is,
    );
    let mut paths: Vec<&String> = was.keys().chain(is.keys()).collect();
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .filter(|path| was.get(*path) != is.get(*path))
        .map(|path| Difference {
            path: path.clone(),
            closed: was.get(path).cloned(),
            now: is.get(path).cloned(),
        })
        .collect()
}

/// What a line of a list is about: the fields that name it, joined.
fn line_key(line: &Value, index: usize) -> String {
    let named = |field: &str| line.get(field).and_then(Value::as_str);
    if let Some(member) = named("member_key") {
        return format!("{}/{member}", named("household_id").unwrap_or_default());
    }
    ["household_id", "code", "group", "volunteer"]
        .iter()
        .find_map(|field| named(field))
        .map_or_else(|| index.to_string(), str::to_owned)
}

fn flatten(path: &str, value: &Value, into: &mut BTreeMap<String, Value>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                flatten(&join(key), field, into);
            }
        }
        Value::Array(lines) => {
            for (index, line) in lines.iter().enumerate() {
                flatten(&format!("{path}[{}]", line_key(line, index)), line, into);
            }
        }
        scalar => {
            into.insert(path.to_owned(), scalar.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn test_months_are_read_exactly() {
        assert_eq!(
            Month::parse("2024-02").unwrap().last_day().to_string(),
            "2024-02-29"
        );
        assert_eq!(Month::parse("2025-12").unwrap().to_string(), "2025-12");
        for bad in ["2025-13", "2025-6", "25-06", "2025/06", "", "2025-06-01"] {
            assert!(Month::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn test_a_closed_month_reprints_unchanged_and_a_correction_shows_as_a_difference() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::storage::db::test_sqlite(dir.path()).await;
        let add_household = |id: &'static str| {
            let pool = db.pool.clone();
            async move {
                sqlx::query(
                    "INSERT INTO document (household_id, village, heads, last_feed, updated_at)
                     VALUES ($1, '141124100201', x'', 0, 0)",
                )
                .bind(id)
                .execute(&pool)
                .await
                .unwrap();
                sqlx::query(
                    "INSERT INTO household (id, village, number, member_count, visit_count,
                         error_count, warning_count, conflict_count, search_text, updated_at)
                     VALUES ($1, '141124100201', $1, 0, 0, 0, 0, 0, '', 0)",
                )
                .bind(id)
                .execute(&pool)
                .await
                .unwrap();
            }
        };
        add_household("h1").await;
        let area = AreaCode::parse("141124").unwrap();
        let month = Month::parse("2025-05").unwrap();
        let today: Date = "2025-06-01".parse().unwrap();
        let entry = || {
            Entry::new("report.close_month", audit::Outcome::Ok).by("staff:admin", "county_admin")
        };
        let closed = close(&db, &area, month, entry(), 100, today).await.unwrap();
        assert_eq!(closed.figures.coverage.households, 1);
        assert!(matches!(
            close(&db, &area, month, entry(), 101, today).await,
            Err(CloseError::AlreadyClosed(_))
        ));
        assert!(matches!(
            close(
                &db,
                &area,
                Month::parse("2025-06").unwrap(),
                entry(),
                101,
                today
            )
            .await,
            Err(CloseError::NotOver(_))
        ));

        add_household("h2").await;
        let report = report(&db.pool, &area, Some(month), today, 6)
            .await
            .unwrap();
        let kept = report.closed.unwrap();
        assert_eq!(kept.figures, closed.figures, "reprinted unchanged");
        assert_eq!(report.figures.coverage.households, 2);
        let households = report
            .differences
            .iter()
            .find(|d| d.path == "coverage.households")
            .unwrap();
        assert_eq!(households.closed, Some(Value::from(1)));
        assert_eq!(households.now, Some(Value::from(2)));
        assert!(
            sqlx::query("UPDATE closed_month SET figures = '{}'")
                .execute(&db.pool)
                .await
                .is_err(),
            "the stored figures cannot be changed"
        );
        let audited: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'report.close_month' AND target = '141124'",
        )
        .fetch_one(&db.pool)
        .await
        .unwrap();
        assert_eq!(audited, 1);
    }
}
