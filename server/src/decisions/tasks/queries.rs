//! The visit tasks of an area as the register holds them (`visit_task`, migration 0015):
//! counts per village and status, and the list of an area's tasks.

use schema::Message;
use schema::ids::AreaCode;
use schema::tasks::TaskStatus;
use serde::Serialize;
use sqlx::{AnyPool, Row};
use std::collections::{BTreeMap, HashMap};

/// The most tasks one list shows: a village has tens, a township a few hundred.
pub const MAX_LISTED: i64 = 1000;

/// How many tasks of a village stand at each status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TaskCounts {
    pub open: i64,
    pub settled: i64,
    pub checked: i64,
    pub closed: i64,
}

impl TaskCounts {
    fn add(&mut self, status: TaskStatus, count: i64) {
        match status {
            TaskStatus::Open => self.open += count,
            TaskStatus::Settled => self.settled += count,
            TaskStatus::Checked => self.checked += count,
            TaskStatus::Closed => self.closed += count,
        }
    }

    pub fn total(&self) -> i64 {
        self.open + self.settled + self.checked + self.closed
    }
}

/// Counts of the tasks of every live household of `area`, by village code.
pub async fn counts_by_village(
    pool: &AnyPool,
    area: &AreaCode,
) -> Result<BTreeMap<String, TaskCounts>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT h.village, t.status, COUNT(*) AS tasks
         FROM visit_task t JOIN household h ON h.id = t.household_id
         WHERE h.village LIKE $1 AND h.merged_into IS NULL
         GROUP BY h.village, t.status",
    )
    // An area code is digits only, so it holds no LIKE wildcard.
    .bind(format!("{area}%"))
    .fetch_all(pool)
    .await?;
    let mut villages: BTreeMap<String, TaskCounts> = BTreeMap::new();
    for row in rows {
        let status: String = row.try_get("status")?;
        let Some(status) = TaskStatus::parse(&status) else {
            continue;
        };
        let village: String = row.try_get("village")?;
        villages
            .entry(village)
            .or_default()
            .add(status, row.try_get("tasks")?);
    }
    Ok(villages)
}

/// One task of the list.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRow {
    pub household: String,
    pub village: String,
    pub number: String,
    pub head_name: Option<String>,
    pub task: String,
    pub member: Option<String>,
    pub status: TaskStatus,
    pub source: Option<String>,
    pub field: Option<String>,
    pub check: Message,
    pub opened_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub closed_by: Option<String>,
}

/// The tasks of the live households of `area`, at `status` if given, by village, household
/// number and task, at most [`MAX_LISTED`].
pub async fn list(
    pool: &AnyPool,
    area: &AreaCode,
    status: Option<TaskStatus>,
) -> Result<Vec<TaskRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT t.household_id, h.village, h.number, h.head_name, t.task_id, t.member_key,
                t.status, t.source, t.field, t.check_zh, t.check_en, t.opened_at,
                t.closed_at, t.closed_by
         FROM visit_task t JOIN household h ON h.id = t.household_id
         WHERE h.village LIKE $1 AND h.merged_into IS NULL
           AND ($2 = '' OR t.status = $2)
         ORDER BY h.village, h.number, t.household_id, t.task_id
         LIMIT $3",
    )
    .bind(format!("{area}%"))
    .bind(status.map(TaskStatus::as_str).unwrap_or_default())
    .bind(MAX_LISTED)
    .fetch_all(pool)
    .await?;
    let mut tasks = Vec::with_capacity(rows.len());
    for row in rows {
        let status: String = row.try_get("status")?;
        tasks.push(TaskRow {
            household: row.try_get("household_id")?,
            village: row.try_get("village")?,
            number: row.try_get("number")?,
            head_name: row.try_get("head_name")?,
            task: row.try_get("task_id")?,
            member: row.try_get("member_key")?,
            status: TaskStatus::parse(&status).unwrap_or(TaskStatus::Open),
            source: row.try_get("source")?,
            field: row.try_get("field")?,
            check: Message::new(
                row.try_get::<Option<String>, _>("check_zh")?
                    .unwrap_or_default(),
                row.try_get::<Option<String>, _>("check_en")?
                    .unwrap_or_default(),
            ),
            opened_at: row.try_get("opened_at")?,
            closed_at: row.try_get("closed_at")?,
            closed_by: row.try_get("closed_by")?,
        });
    }
    Ok(tasks)
}

/// The status of the task each of `area`'s mismatches became, by mismatch id: the
/// comparison's pages say of each mismatch whether its visit is still to come.
pub async fn statuses_by_mismatch(
    pool: &AnyPool,
    area: &AreaCode,
) -> Result<HashMap<String, TaskStatus>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT t.mismatch_id, t.status
         FROM visit_task t JOIN household h ON h.id = t.household_id
         WHERE h.village LIKE $1 AND h.merged_into IS NULL AND t.mismatch_id IS NOT NULL",
    )
    .bind(format!("{area}%"))
    .fetch_all(pool)
    .await?;
    let mut statuses = HashMap::with_capacity(rows.len());
    for row in rows {
        let status: String = row.try_get("status")?;
        if let Some(status) = TaskStatus::parse(&status) {
            statuses.insert(row.try_get("mismatch_id")?, status);
        }
    }
    Ok(statuses)
}
