//! What a device downloads: the feed of changes after its cursor, or, on its first sync,
//! whole documents of its villages in id order.

use super::rows::{max_feed, stored_document};
use super::{Ledger, LedgerError};
use schema::wire::{Bytes, Cursor, DocumentUpdate, Payload};
use sqlx::{AnyConnection, Row};

/// Change rows read for one page of the feed, at most.
const FEED_ROWS_PER_PAGE: i64 = 2000;

impl Ledger {
    /// The page of updates a device gets after its uploads were applied. `actor` is the
    /// device's Automerge actor: its own changes are not sent back.
    pub async fn feed_page(
        &self,
        device_id: &str,
        actor: &str,
        cursor: Option<Cursor>,
        page_bytes: u32,
    ) -> Result<(Vec<DocumentUpdate>, Cursor, bool), LedgerError> {
        let mut conn = self.db.pool.acquire().await?;
        let budget = page_bytes.max(1) as usize;
        let cursor = match cursor {
            Some(cursor) => cursor,
            None => Cursor {
                feed: max_feed(&mut conn).await?,
                download_after: Some(String::new()),
            },
        };
        if let Some(after) = &cursor.download_after {
            return self
                .download_page(&mut conn, device_id, cursor.feed, after, budget)
                .await;
        }
        // The feed is read change by change, in feed order, so that wherever a page stops,
        // every change at or below the new cursor has been sent. Only households changed
        // since the cursor are looked at (`document_village_feed`). The device's own changes
        // pass the cursor too, without their bytes: right after an upload they are most of
        // the page, and the database need not read them.
        let rows = sqlx::query(
            "SELECT c.feed, c.household_id,
                    CASE WHEN c.actor = $4 THEN NULL ELSE c.bytes END AS bytes
             FROM change c
             JOIN document d ON d.household_id = c.household_id AND d.last_feed > $2
             JOIN device_village v ON v.village = d.village AND v.device_id = $1
             WHERE c.feed > $2 ORDER BY c.feed LIMIT $3",
        )
        .bind(device_id)
        .bind(i64::try_from(cursor.feed).unwrap_or(i64::MAX))
        .bind(FEED_ROWS_PER_PAGE)
        .bind(actor)
        .fetch_all(&mut *conn)
        .await?;
        let mut updates: Vec<DocumentUpdate> = Vec::new();
        let mut used = 0usize;
        let mut feed = cursor.feed;
        let mut stopped_early = false;
        for row in &rows {
            if used >= budget {
                stopped_early = true;
                break;
            }
            let position: i64 = row.try_get("feed")?;
            feed = u64::try_from(position).unwrap_or_default();
            let Some(sealed) = row.try_get::<Option<Vec<u8>>, _>("bytes")? else {
                continue; // the device's own change
            };
            let household: String = row.try_get("household_id")?;
            let bytes = self.vault.open(&sealed)?;
            used += bytes.len();
            // One update per household; its changes stay in feed order, so dependencies
            // come first.
            match updates.iter_mut().find(|u| u.household == household) {
                Some(DocumentUpdate {
                    payload: Payload::Changes(changes),
                    ..
                }) => changes.push(Bytes::from(bytes)),
                _ => updates.push(DocumentUpdate {
                    household,
                    payload: Payload::Changes(vec![Bytes::from(bytes)]),
                }),
            }
        }
        let more = stopped_early || rows.len() as i64 == FEED_ROWS_PER_PAGE;
        Ok((
            updates,
            Cursor {
                feed,
                download_after: None,
            },
            more,
        ))
    }

    /// A page of the first download: whole households in id order.
    async fn download_page(
        &self,
        conn: &mut AnyConnection,
        device_id: &str,
        feed: u64,
        after: &str,
        budget: usize,
    ) -> Result<(Vec<DocumentUpdate>, Cursor, bool), LedgerError> {
        let rows = sqlx::query(
            "SELECT d.household_id, d.village, d.last_feed, d.snapshot, d.snapshot_feed,
                    d.changes_after_snapshot
             FROM document d
             JOIN device_village v ON v.village = d.village AND v.device_id = $1
             WHERE d.household_id > $2 ORDER BY d.household_id LIMIT 1000",
        )
        .bind(device_id)
        .bind(after)
        .fetch_all(&mut *conn)
        .await?;
        let mut updates = Vec::new();
        let mut used = 0usize;
        let mut last_sent = None;
        for row in &rows {
            if used >= budget && !updates.is_empty() {
                break;
            }
            let household: String = row.try_get("household_id")?;
            let stored = stored_document(row)?;
            let bytes = match &stored.snapshot {
                Some(snapshot) if stored.last_feed == stored.snapshot_feed => {
                    self.vault.open(snapshot)?
                }
                _ => {
                    let mut doc = self.load(conn, &household, &stored).await?;
                    let bytes = doc.save();
                    self.put_cached(&household, doc, stored.last_feed);
                    bytes
                }
            };
            used += bytes.len();
            last_sent = Some(household.clone());
            updates.push(DocumentUpdate {
                household,
                payload: Payload::Document(Bytes::from(bytes)),
            });
        }
        let remaining = rows.len() > updates.len() || rows.len() == 1000;
        let cursor = Cursor {
            feed,
            download_after: if remaining { last_sent } else { None },
        };
        // After the download, changes stored since it began still wait in the feed.
        let more = remaining || max_feed(conn).await? > feed;
        Ok((updates, cursor, more))
    }
}
