//! The sync client's state in the device schema (`sync_state`, `sync_household`): where the
//! device is in the server's feed, whether it was revoked, and its notes on households.

use crate::error::Result;
use crate::store::Store;
use rusqlite::{Connection, OptionalExtension, params};
use schema::Message;
use schema::ids::HouseholdId;
use schema::quarantine::Rule;
use schema::wire::{Cursor, RejectCode};
use serde::{Deserialize, Serialize};

/// A household the server refused, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub household: String,
    pub code: RejectCode,
    pub reason: Message,
}

/// A household some of whose changes the server holds in quarantine for county staff, and
/// why. The changes are safely on the server and stay on the device; staff release them
/// (they take effect) or discard them (a staff change undoes them, and arrives here).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quarantine {
    pub household: String,
    /// The rule broken.
    pub rule: Rule,
    pub reason: Message,
    /// How many of the changes sent were held.
    pub changes: u32,
}

/// When the server revoked this device, and what it said.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub at: i64,
    pub message: Message,
}

/// What a sync starts from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SyncState {
    pub cursor: Option<Cursor>,
    /// Households whose next upload carries their whole history.
    pub full_history: Vec<HouseholdId>,
    pub quarantined: Vec<Quarantine>,
}

pub(crate) fn load(store: &Store) -> Result<SyncState> {
    store.with_connection(|conn| {
        let full_history = conn
            .prepare_cached(
                "SELECT household_id FROM sync_household WHERE full_history = 1
                 ORDER BY household_id",
            )?
            .query_map([], |row| row.get::<_, String>(0))?
            .collect::<rusqlite::Result<Vec<_>>>()?
            .iter()
            .filter_map(|id| HouseholdId::parse(id).ok())
            .collect();
        Ok(SyncState {
            cursor: read_cursor(conn)?,
            full_history,
            quarantined: read_quarantined(conn)?,
        })
    })
}

/// Where the device is in the server's feed; `None` before its first completed download.
pub fn cursor(store: &Store) -> Result<Option<Cursor>> {
    store.with_connection(|conn| read_cursor(conn))
}

/// Moves the device in the server's feed; `None` starts the first download again.
pub fn set_cursor(store: &Store, cursor: Option<&Cursor>) -> Result<()> {
    store.with_connection(|conn| {
        conn.prepare_cached(
            "INSERT INTO sync_state (id, cursor_feed, cursor_download_after) VALUES (1, ?1, ?2)
             ON CONFLICT (id) DO UPDATE SET cursor_feed = excluded.cursor_feed,
                 cursor_download_after = excluded.cursor_download_after",
        )?
        .execute(params![
            cursor.map(|c| c.feed as i64),
            cursor.and_then(|c| c.download_after.as_deref())
        ])?;
        Ok(())
    })
}

fn read_cursor(conn: &Connection) -> Result<Option<Cursor>> {
    let row: Option<(Option<i64>, Option<String>)> = conn
        .prepare_cached("SELECT cursor_feed, cursor_download_after FROM sync_state")?
        .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    Ok(row.and_then(|(feed, download_after)| {
        Some(Cursor {
            feed: u64::try_from(feed?).ok()?,
            download_after,
        })
    }))
}

/// The households the server refused at the last attempt, and why.
pub fn rejections(store: &Store) -> Result<Vec<Rejection>> {
    store.with_connection(|conn| {
        let rows = conn
            .prepare_cached(
                "SELECT household_id, rejected_code, rejected_zh, rejected_en
                 FROM sync_household WHERE rejected_code IS NOT NULL ORDER BY household_id",
            )?
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, String>(3)?,
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(household, code, zh, en)| {
                Some(Rejection {
                    household,
                    code: RejectCode::parse(&code)?,
                    reason: Message::new(zh, en),
                })
            })
            .collect())
    })
}

/// The households with changes held in quarantine at their last upload, and why. A note
/// goes when a later upload of the household is accepted whole.
pub fn quarantined(store: &Store) -> Result<Vec<Quarantine>> {
    store.with_connection(|conn| read_quarantined(conn))
}

fn read_quarantined(conn: &Connection) -> Result<Vec<Quarantine>> {
    let rows = conn
        .prepare_cached(
            "SELECT household_id, quarantined_rule, quarantined_zh, quarantined_en,
                    quarantined_changes
             FROM sync_household WHERE quarantined_rule IS NOT NULL ORDER BY household_id",
        )?
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, String>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, i64>(4)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows
        .into_iter()
        .filter_map(|(household, rule, zh, en, changes)| {
            Some(Quarantine {
                household,
                rule: Rule::parse(&rule)?,
                reason: Message::new(zh, en),
                changes: u32::try_from(changes).ok()?,
            })
        })
        .collect())
}

pub(crate) fn save_rejection(store: &Store, rejection: &Rejection) -> Result<()> {
    store.with_connection(|conn| {
        conn.prepare_cached(
            "INSERT INTO sync_household (household_id, rejected_code, rejected_zh, rejected_en)
             VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (household_id) DO UPDATE SET rejected_code = excluded.rejected_code,
                 rejected_zh = excluded.rejected_zh, rejected_en = excluded.rejected_en",
        )?
        .execute(params![
            rejection.household,
            rejection.code.as_str(),
            rejection.reason.zh,
            rejection.reason.en
        ])?;
        Ok(())
    })
}

pub(crate) fn save_quarantine(store: &Store, note: &Quarantine) -> Result<()> {
    store.with_connection(|conn| {
        conn.prepare_cached(
            "INSERT INTO sync_household (household_id, quarantined_rule, quarantined_zh,
                 quarantined_en, quarantined_changes)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (household_id) DO UPDATE SET
                 quarantined_rule = excluded.quarantined_rule,
                 quarantined_zh = excluded.quarantined_zh,
                 quarantined_en = excluded.quarantined_en,
                 quarantined_changes = excluded.quarantined_changes",
        )?
        .execute(params![
            note.household,
            note.rule.as_str(),
            note.reason.zh,
            note.reason.en,
            note.changes
        ])?;
        Ok(())
    })
}

pub(crate) fn mark_full_history(store: &Store, household: &HouseholdId) -> Result<()> {
    store.with_connection(|conn| {
        conn.prepare_cached(
            "INSERT INTO sync_household (household_id, full_history) VALUES (?1, 1)
             ON CONFLICT (household_id) DO UPDATE SET full_history = 1",
        )?
        .execute([household.as_str()])?;
        Ok(())
    })
}

/// One of a household's notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Note {
    Rejection,
    Quarantine,
    FullHistory,
}

/// Forgets one of a household's notes; a household left without any loses its row.
pub(crate) fn forget(store: &Store, household: &HouseholdId, note: Note) -> Result<()> {
    let clear = match note {
        Note::Rejection => {
            "UPDATE sync_household SET rejected_code = NULL, rejected_zh = NULL,
                 rejected_en = NULL
             WHERE household_id = ?1"
        }
        Note::Quarantine => {
            "UPDATE sync_household SET quarantined_rule = NULL, quarantined_zh = NULL,
                 quarantined_en = NULL, quarantined_changes = NULL
             WHERE household_id = ?1"
        }
        Note::FullHistory => "UPDATE sync_household SET full_history = 0 WHERE household_id = ?1",
    };
    store.with_connection(|conn| {
        conn.prepare_cached(clear)?.execute([household.as_str()])?;
        conn.prepare_cached(
            "DELETE FROM sync_household WHERE household_id = ?1 AND full_history = 0
                 AND rejected_code IS NULL AND quarantined_rule IS NULL",
        )?
        .execute([household.as_str()])?;
        Ok(())
    })
}

/// Whether this device was revoked (and its data erased) since it last enrolled.
pub fn revocation_of(store: &Store) -> Result<Option<Revocation>> {
    store.with_connection(|conn| {
        let row: Option<(Option<i64>, Option<String>, Option<String>)> = conn
            .prepare_cached("SELECT revoked_at, revoked_zh, revoked_en FROM sync_state")?
            .query_row([], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))
            .optional()?;
        Ok(row.and_then(|(at, zh, en)| {
            Some(Revocation {
                at: at?,
                message: Message::new(zh?, en?),
            })
        }))
    })
}

/// Remembers that the server revoked this device, or (`None`) forgets it on enrollment.
pub(crate) fn set_revocation(store: &Store, revocation: Option<&Revocation>) -> Result<()> {
    store.with_connection(|conn| {
        conn.prepare_cached(
            "INSERT INTO sync_state (id, revoked_at, revoked_zh, revoked_en) VALUES (1, ?1, ?2, ?3)
             ON CONFLICT (id) DO UPDATE SET revoked_at = excluded.revoked_at,
                 revoked_zh = excluded.revoked_zh, revoked_en = excluded.revoked_en",
        )?
        .execute(params![
            revocation.map(|r| r.at),
            revocation.map(|r| r.message.zh.as_str()),
            revocation.map(|r| r.message.en.as_str())
        ])?;
        Ok(())
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::db::{VERSION_3_SYNC_SETTINGS, create_version_3};

    #[test]
    fn test_a_device_upgraded_from_settings_syncs_on_from_where_it_was() {
        let dir = tempfile::tempdir().unwrap();
        create_version_3(
            &dir.path().join(crate::store::DB_FILE),
            VERSION_3_SYNC_SETTINGS,
        );
        let store = Store::open(dir.path()).unwrap();

        assert_eq!(
            cursor(&store).unwrap(),
            Some(Cursor {
                feed: 42,
                download_after: Some("h9".to_owned())
            })
        );
        assert_eq!(
            rejections(&store).unwrap(),
            vec![Rejection {
                household: "h1".to_owned(),
                code: RejectCode::MissingHistory,
                reason: Message::new("缺少历史", "missing"),
            }]
        );
        assert_eq!(
            quarantined(&store).unwrap(),
            vec![Quarantine {
                household: "h2".to_owned(),
                rule: Rule::OutOfScope,
                reason: Message::new("不在本村", "village"),
                changes: 3,
            }]
        );
        assert_eq!(
            revocation_of(&store).unwrap(),
            Some(Revocation {
                at: 7,
                message: Message::new("已撤销", "Revoked"),
            })
        );
        assert_eq!(
            store.setting("server").unwrap().as_deref(),
            Some("https://county.example")
        );
    }

    #[test]
    fn test_a_household_note_goes_with_its_last_mark() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let household = HouseholdId::from_random([7; 16]);
        mark_full_history(&store, &household).unwrap();
        save_rejection(
            &store,
            &Rejection {
                household: household.to_string(),
                code: RejectCode::MissingHistory,
                reason: Message::new("缺", "missing"),
            },
        )
        .unwrap();
        forget(&store, &household, Note::Rejection).unwrap();
        assert!(rejections(&store).unwrap().is_empty());
        assert_eq!(load(&store).unwrap().full_history, vec![household.clone()]);
        forget(&store, &household, Note::FullHistory).unwrap();
        let rows: i64 = store
            .with_connection(|conn| {
                Ok(conn.query_row("SELECT COUNT(*) FROM sync_household", [], |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(rows, 0);
    }
}
