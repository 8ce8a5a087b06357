//! The review queue as staff read it: the list by area, kind and status, one item, its
//! history, and the counts per village.

use super::{Kind, ReviewStatus};
use crate::storage::db::{Backend, MAX_PARAMS};
use schema::Message;
use serde::Serialize;
use sqlx::{AnyConnection, AnyPool, Row};
use std::collections::{BTreeMap, BTreeSet};

/// One line of the review list.
#[derive(Debug, Clone, Serialize)]
pub struct ItemRow {
    pub id: String,
    pub kind: Kind,
    pub status: ReviewStatus,
    pub household_id: String,
    /// The household's number and head, so a clerk knows which family without opening it.
    pub household_number: Option<String>,
    pub head_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_household_id: Option<String>,
    pub village: String,
    /// The field it is about, when it is about one.
    pub path: String,
    /// The rule that failed, for rule items; which sort of duplicate, for duplicates.
    pub rule: String,
    pub summary: Message,
    pub opened_at: i64,
    pub updated_at: i64,
    pub closed_at: Option<i64>,
}

/// The columns of an [`ItemRow`]; a constant, formatted into queries that read items.
const ITEM_COLUMNS: &str = "r.id, r.kind, r.status, r.household_id, r.other_household_id,
    r.village, r.path, r.rule, r.summary_zh, r.summary_en, r.opened_at, r.updated_at,
    r.closed_at, h.number, h.head_name";

fn item_row(row: &sqlx::any::AnyRow) -> Result<ItemRow, sqlx::Error> {
    let kind: String = row.try_get("kind")?;
    let status: String = row.try_get("status")?;
    let decode = |column: &str, what: &str| sqlx::Error::ColumnDecode {
        index: column.to_owned(),
        source: format!("unknown {what}").into(),
    };
    Ok(ItemRow {
        id: row.try_get("id")?,
        kind: Kind::parse(&kind).ok_or_else(|| decode("kind", "kind"))?,
        status: ReviewStatus::parse(&status).ok_or_else(|| decode("status", "status"))?,
        household_id: row.try_get("household_id")?,
        household_number: row.try_get("number")?,
        head_name: row.try_get("head_name")?,
        other_household_id: row.try_get("other_household_id")?,
        village: row.try_get("village")?,
        path: row.try_get("path")?,
        rule: row.try_get("rule")?,
        summary: Message::new(
            row.try_get::<String, _>("summary_zh")?,
            row.try_get::<String, _>("summary_en")?,
        ),
        opened_at: row.try_get("opened_at")?,
        updated_at: row.try_get("updated_at")?,
        closed_at: row.try_get("closed_at")?,
    })
}

/// What to list.
#[derive(Debug, Clone)]
pub struct ReviewFilter {
    /// An area code of any level: its prefix selects villages.
    pub area: String,
    pub kind: Option<Kind>,
    pub status: ReviewStatus,
    pub limit: i64,
    pub offset: i64,
}

/// Open items of one village.
#[derive(Debug, Clone, Serialize)]
pub struct VillageCount {
    pub village: String,
    pub open: i64,
}

/// A page of items, with the counts a clerk needs to see the size of the work.
#[derive(Debug, Clone, Serialize)]
pub struct ItemPage {
    /// Items matching the filter.
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    /// In the area, by kind, then by status, whatever the filter.
    pub counts: BTreeMap<String, BTreeMap<String, i64>>,
    /// Open items per village of the area.
    pub villages: Vec<VillageCount>,
    pub items: Vec<ItemRow>,
}

pub async fn list(pool: &AnyPool, filter: &ReviewFilter) -> Result<ItemPage, sqlx::Error> {
    let prefix = format!("{}%", filter.area);
    let kind = filter.kind.map(Kind::as_str).unwrap_or("");
    let total: i64 = sqlx::query(
        "SELECT COUNT(*) AS total FROM review_item
         WHERE status = $1 AND village LIKE $2 AND ($3 = '' OR kind = $3)",
    )
    .bind(filter.status.as_str())
    .bind(&prefix)
    .bind(kind)
    .fetch_one(pool)
    .await?
    .try_get("total")?;
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLUMNS} FROM review_item r LEFT JOIN household h ON h.id = r.household_id
         WHERE r.status = $1 AND r.village LIKE $2 AND ($3 = '' OR r.kind = $3)
         ORDER BY r.village, r.opened_at, r.id LIMIT $4 OFFSET $5"
    )))
    .bind(filter.status.as_str())
    .bind(&prefix)
    .bind(kind)
    .bind(filter.limit)
    .bind(filter.offset)
    .fetch_all(pool)
    .await?;
    let items = rows.iter().map(item_row).collect::<Result<Vec<_>, _>>()?;
    let mut counts: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for kind in Kind::ALL {
        let by_status = counts.entry(kind.as_str().to_owned()).or_default();
        for status in ReviewStatus::ALL {
            by_status.insert(status.as_str().to_owned(), 0);
        }
    }
    let rows = sqlx::query(
        "SELECT kind, status, COUNT(*) AS n FROM review_item WHERE village LIKE $1
         GROUP BY kind, status",
    )
    .bind(&prefix)
    .fetch_all(pool)
    .await?;
    for row in rows {
        let kind: String = row.try_get("kind")?;
        let status: String = row.try_get("status")?;
        counts
            .entry(kind)
            .or_default()
            .insert(status, row.try_get("n")?);
    }
    let villages = open_by_village(pool, &filter.area).await?;
    Ok(ItemPage {
        total,
        limit: filter.limit,
        offset: filter.offset,
        counts,
        villages,
        items,
    })
}

/// The open items about a household, as either of a duplicate's two, oldest first.
pub async fn open_of_household(
    pool: &AnyPool,
    household: &str,
) -> Result<Vec<ItemRow>, sqlx::Error> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLUMNS} FROM review_item r LEFT JOIN household h ON h.id = r.household_id
         WHERE r.status = 'open' AND (r.household_id = $1 OR r.other_household_id = $2)
         ORDER BY r.opened_at, r.id"
    )))
    .bind(household)
    .bind(household)
    .fetch_all(pool)
    .await?;
    rows.iter().map(item_row).collect()
}

/// The number of open items in each village of an area that has any.
pub async fn open_by_village(pool: &AnyPool, area: &str) -> Result<Vec<VillageCount>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT village, COUNT(*) AS n FROM review_item WHERE status = 'open' AND village LIKE $1
         GROUP BY village ORDER BY village",
    )
    .bind(format!("{area}%"))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(VillageCount {
                village: row.try_get("village")?,
                open: row.try_get("n")?,
            })
        })
        .collect()
}

pub async fn item(conn: &mut AnyConnection, id: &str) -> Result<Option<ItemRow>, sqlx::Error> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {ITEM_COLUMNS} FROM review_item r LEFT JOIN household h ON h.id = r.household_id
         WHERE r.id = $1"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.as_ref().map(item_row).transpose()
}

/// One step of an item's history.
#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub at: i64,
    pub who: String,
    pub action: String,
    pub detail: serde_json::Value,
}

pub async fn events(conn: &mut AnyConnection, id: &str) -> Result<Vec<Event>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT at, who, action, detail FROM review_event WHERE item_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let detail: String = row.try_get("detail")?;
            Ok(Event {
                at: row.try_get("at")?,
                who: row.try_get("who")?,
                action: row.try_get("action")?,
                detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
            })
        })
        .collect()
}

/// When the server received each of these changes (hex hashes), in seconds since 1970.
pub async fn received_at(
    conn: &mut AnyConnection,
    hashes: &[String],
) -> Result<BTreeMap<String, i64>, sqlx::Error> {
    let wanted: BTreeSet<Vec<u8>> = hashes.iter().filter_map(|h| hex::decode(h).ok()).collect();
    let mut out = BTreeMap::new();
    let wanted: Vec<Vec<u8>> = wanted.into_iter().collect();
    for chunk in wanted.chunks(MAX_PARAMS) {
        // Only numbered placeholders are formatted into the SQL; the hashes are bound.
        let sql = format!(
            "SELECT hash, received_at FROM change WHERE hash IN ({})",
            Backend::of(conn).placeholders(chunk.len())
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for hash in chunk {
            query = query.bind(hash.clone());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let hash: Vec<u8> = row.try_get("hash")?;
            out.insert(hex::encode(hash), row.try_get("received_at")?);
        }
    }
    Ok(out)
}

/// The live households of one village, and how many of them hold a disputed field.
#[derive(Debug, Clone)]
pub struct VillageHouseholds {
    pub village: String,
    pub households: i64,
    pub disputed: i64,
}

/// Households per village of an area, and how many of them hold a disputed field. Merged
/// households (tombstones) are not counted.
pub async fn household_counts(
    pool: &AnyPool,
    area: &str,
) -> Result<Vec<VillageHouseholds>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT village, COUNT(*) AS households,
                SUM(CASE WHEN conflict_count > 0 THEN 1 ELSE 0 END) AS disputed
         FROM household WHERE village LIKE $1 AND merged_into IS NULL
         GROUP BY village ORDER BY village",
    )
    .bind(format!("{area}%"))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(VillageHouseholds {
                village: row.try_get("village")?,
                households: row.try_get("households")?,
                disputed: row.try_get("disputed")?,
            })
        })
        .collect()
}
