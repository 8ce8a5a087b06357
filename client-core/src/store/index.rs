//! The household list: one `household_index` row per household, rewritten with each
//! change, and the queries over it.

use super::derived::Checked;
use super::{HouseholdSummary, SearchQuery, Store, now};
use crate::error::Result;
use rusqlite::{Connection, OptionalExtension, params};
use schema::ids::{AreaCode, HouseholdId};
use schema::layout::HouseholdView;

impl Store {
    /// Lists households, filtered by village and by part of a name, ID number or household
    /// number, in village and household-number order.
    pub fn search(&self, query: &SearchQuery) -> Result<Vec<HouseholdSummary>> {
        let inner = self.lock();
        let pattern = query.text.as_deref().and_then(schema::search::like_pattern);
        // A text search matches a few rows of thousands: scanning the table and sorting the
        // matches beats walking the village index, which fetches every row in list order.
        // The list without text is the other way round.
        let mut statement = inner.conn.prepare_cached(if pattern.is_some() {
            "SELECT i.household_id, i.village, i.number, i.head_name, i.member_count,
                    i.error_count, i.warning_count, i.conflict_count, i.updated_at,
                    i.unsynced_changes
             FROM household_index i
             WHERE (?1 IS NULL OR i.village = ?1)
               AND i.search_text LIKE ?2 ESCAPE '\\'
               AND i.merged_into IS NULL
             ORDER BY +i.village, +i.number
             LIMIT ?3 OFFSET ?4"
        } else {
            "SELECT i.household_id, i.village, i.number, i.head_name, i.member_count,
                    i.error_count, i.warning_count, i.conflict_count, i.updated_at,
                    i.unsynced_changes
             FROM household_index i
             WHERE (?1 IS NULL OR i.village = ?1) AND i.merged_into IS NULL
             ORDER BY i.village, i.number
             LIMIT ?3 OFFSET ?4"
        })?;
        let rows = statement.query_map(
            params![
                query.village.as_ref().map(AreaCode::as_str),
                pattern,
                query.limit.map_or(-1, i64::from),
                query.offset
            ],
            |row| {
                Ok(HouseholdSummary {
                    id: row.get(0)?,
                    village: row.get(1)?,
                    number: row.get(2)?,
                    head_name: row.get(3)?,
                    member_count: row.get(4)?,
                    error_count: row.get(5)?,
                    warning_count: row.get(6)?,
                    conflict_count: row.get(7)?,
                    updated_at: row.get(8)?,
                    unsynced_changes: row.get(9)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    }

    /// Changes recorded on this device that the server has not confirmed yet.
    pub fn unsynced_changes(&self) -> Result<i64> {
        Ok(self.lock().conn.query_row(
            "SELECT COALESCE(SUM(unsynced_changes), 0) FROM household_index",
            [],
            |row| row.get(0),
        )?)
    }

    /// Households with changes the server has not confirmed.
    pub fn households_with_unsynced_changes(&self) -> Result<Vec<HouseholdId>> {
        let inner = self.lock();
        let mut statement = inner.conn.prepare(
            "SELECT household_id FROM household_index WHERE unsynced_changes > 0
             ORDER BY household_id",
        )?;
        let ids = statement.query_map([], |row| row.get::<_, String>(0))?;
        ids.map(|id| Ok(HouseholdId::parse(&id?)?)).collect()
    }

    /// The ids of every household on this device.
    pub fn household_ids(&self) -> Result<Vec<HouseholdId>> {
        let inner = self.lock();
        let mut statement = inner
            .conn
            .prepare("SELECT household_id FROM document ORDER BY household_id")?;
        let ids = statement.query_map([], |row| row.get::<_, String>(0))?;
        ids.map(|id| Ok(HouseholdId::parse(&id?)?)).collect()
    }
}

pub(super) fn insert_index(
    tx: &Connection,
    household: &str,
    view: &HouseholdView,
    checked: &Checked,
    unsynced: i64,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO household_index (household_id, village, number, head_name, member_count,
             error_count, warning_count, conflict_count, search_text, unsynced_changes,
             updated_at, merged_into, open_tasks)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        household,
        view.household_text("village").unwrap_or_default(),
        view.household_text("number").unwrap_or_default(),
        view.head_name(),
        view.present_members().count() as i64,
        checked.errors(),
        checked.warnings(),
        checked.conflicts.len() as i64,
        schema::search::index_text(view),
        unsynced,
        now(),
        view.household_text("merged_into"),
        open_tasks(view),
    ])?;
    Ok(())
}

/// Rewrites a household's index row after a change, adding `unsynced_added` to its count
/// of unsynced changes, and returns that count.
///
/// The village and household number are written only when they differ: naming them in
/// the main `UPDATE` would make SQLite rewrite their entry in `household_index_village`
/// on every edit, one more page in the commit.
pub(super) fn update_index(
    tx: &Connection,
    household: &str,
    view: &HouseholdView,
    checked: &Checked,
    unsynced_added: i64,
) -> Result<i64> {
    let (village, number, unsynced): (String, String, i64) = tx
        .prepare_cached(
            "UPDATE household_index SET head_name = ?2, member_count = ?3, error_count = ?4,
                 warning_count = ?5, conflict_count = ?6, search_text = ?7,
                 unsynced_changes = unsynced_changes + ?8, updated_at = ?9, merged_into = ?10,
                 open_tasks = ?11
             WHERE household_id = ?1
             RETURNING village, number, unsynced_changes",
        )?
        .query_row(
            params![
                household,
                view.head_name(),
                view.present_members().count() as i64,
                checked.errors(),
                checked.warnings(),
                checked.conflicts.len() as i64,
                schema::search::index_text(view),
                unsynced_added,
                now(),
                view.household_text("merged_into"),
                open_tasks(view),
            ],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )?;
    let new_village = view.household_text("village").unwrap_or_default();
    let new_number = view.household_text("number").unwrap_or_default();
    if village != new_village || number != new_number {
        tx.prepare_cached(
            "UPDATE household_index SET village = ?2, number = ?3 WHERE household_id = ?1",
        )?
        .execute(params![household, new_village, new_number])?;
    }
    Ok(unsynced)
}

/// How many of a household's visit tasks are open, for the to-do list.
fn open_tasks(view: &HouseholdView) -> i64 {
    schema::tasks::tasks(view)
        .iter()
        .filter(|task| task.status.is_open())
        .count() as i64
}

pub(super) fn unsynced_in(conn: &Connection, household: &str) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT unsynced_changes FROM household_index WHERE household_id = ?1")?
        .query_row([household], |row| row.get(0))
        .optional()?
        .unwrap_or_default())
}
