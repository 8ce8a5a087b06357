//! The server's household documents: applying uploaded changes, the change feed, and
//! compaction.
//!
//! A document is stored as an optional snapshot plus the change rows after it. Every change
//! is stored once, keyed by its hash, with a feed position that orders the feed. Applying an
//! upload, storing its new changes and rewriting the household's register rows happen in
//! one transaction, so a query never sees a half-merged household.

use crate::auth::Device;
use crate::db::Db;
use crate::register;
use automerge::{AutoCommit, Change, ChangeHash};
use lru::LruCache;
use schema::Message;
use schema::ids::{AreaCode, HouseholdId};
use schema::layout::{self, HouseholdView};
use schema::wire::{Bytes, Cursor, DocumentUpdate, Payload, RejectCode, Upload, UploadOutcome};
use sqlx::{AnyConnection, Row};
use std::num::NonZeroUsize;
use std::sync::Mutex;

/// Documents kept in memory between requests. A cache only: every server reloads from the
/// database when another server changed the document.
const CACHE_CAPACITY: usize = 256;
/// Change rows after which compaction folds a document into a new snapshot.
const COMPACT_AFTER_CHANGES: i64 = 32;
/// Change rows read for one page of the feed, at most.
const FEED_ROWS_PER_PAGE: i64 = 2000;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
}

/// The household documents and their cache.
#[derive(Debug)]
pub struct Ledger {
    db: Db,
    cache: Mutex<LruCache<String, Cached>>,
}

#[derive(Debug)]
struct Cached {
    doc: AutoCommit,
    last_feed: i64,
}

/// A document's row, as read inside a transaction.
struct DocumentRow {
    village: String,
    last_feed: i64,
}

impl Ledger {
    pub fn new(db: Db) -> Ledger {
        let capacity = NonZeroUsize::new(CACHE_CAPACITY).unwrap_or(NonZeroUsize::MIN);
        Ledger {
            db,
            cache: Mutex::new(LruCache::new(capacity)),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    fn take_cached(&self, household: &str, last_feed: i64) -> Option<AutoCommit> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .pop(household)
            .filter(|cached| cached.last_feed == last_feed)
            .map(|cached| cached.doc)
    }

    fn put_cached(&self, household: &str, doc: AutoCommit, last_feed: i64) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.put(household.to_owned(), Cached { doc, last_feed });
    }

    /// Applies a device's uploads, each household on its own, in one transaction: one disk
    /// flush for the whole batch, and a household that fails leaves the others untouched.
    pub async fn apply_uploads(
        &self,
        device: &Device,
        uploads: &[Upload],
    ) -> Result<Vec<UploadOutcome>, LedgerError> {
        let mut write = self.db.begin_write().await?;
        let mut outcomes = Vec::with_capacity(uploads.len());
        let mut to_cache = Vec::new();
        for upload in uploads {
            let mut savepoint = sqlx::Connection::begin(&mut *write.tx).await?;
            match self.apply_one(&mut savepoint, device, upload).await? {
                Ok((outcome, doc, last_feed)) => {
                    savepoint.commit().await?;
                    to_cache.push((upload.household.clone(), doc, last_feed));
                    outcomes.push(outcome);
                }
                Err(rejected) => {
                    savepoint.rollback().await?;
                    outcomes.push(rejected);
                }
            }
        }
        write.commit().await?;
        for (household, doc, last_feed) in to_cache {
            self.put_cached(&household, doc, last_feed);
        }
        Ok(outcomes)
    }

    /// Applies one upload. The inner `Err` is a refusal to report to the device; the outer
    /// one a failure of the server.
    async fn apply_one(
        &self,
        conn: &mut AnyConnection,
        device: &Device,
        upload: &Upload,
    ) -> Result<Result<(UploadOutcome, AutoCommit, i64), UploadOutcome>, LedgerError> {
        let Ok(household) = HouseholdId::parse(&upload.household) else {
            return Ok(Err(rejected(
                RejectCode::Invalid,
                Message::new("户标识无效", "Invalid household id"),
            )));
        };
        let changes = match upload
            .changes
            .iter()
            .map(|bytes| Change::from_bytes(bytes.to_vec()))
            .collect::<Result<Vec<_>, _>>()
        {
            Ok(changes) => changes,
            Err(err) => {
                return Ok(Err(rejected(
                    RejectCode::Invalid,
                    Message::new(
                        format!("上传的修改已损坏：{err}"),
                        format!("The uploaded changes are damaged: {err}"),
                    ),
                )));
            }
        };
        let row = document_row(conn, household.as_str()).await?;
        if let Some(row) = &row
            && !device.covers(&row.village)
        {
            return Ok(Err(out_of_scope(&row.village)));
        }
        let mut doc = match &row {
            Some(row) => self.load(conn, household.as_str(), row.last_feed).await?,
            None => AutoCommit::new(),
        };
        let new_changes: Vec<Change> = changes
            .into_iter()
            .filter(|change| doc.get_change_by_hash(&change.hash()).is_none())
            .collect();
        if new_changes.is_empty() {
            let last_feed = row.as_ref().map_or(0, |row| row.last_feed);
            let outcome = accepted(&mut doc);
            return Ok(Ok((outcome, doc, last_feed)));
        }
        if let Err(err) = doc.apply_changes(new_changes.clone()) {
            return Ok(Err(rejected(
                RejectCode::Invalid,
                Message::new(
                    format!("无法应用上传的修改：{err}"),
                    format!("The uploaded changes cannot be applied: {err}"),
                ),
            )));
        }
        if !doc.get_missing_deps(&[]).is_empty() {
            return Ok(Err(rejected(
                RejectCode::MissingHistory,
                Message::new(
                    "服务器缺少这些修改的前序记录，请上传该户的全部记录",
                    "The server lacks the history these changes build on; upload the household's whole history",
                ),
            )));
        }
        let view =
            match layout::migrate(&mut doc).and_then(|_| layout::read_household(doc.document())) {
                Ok(view) => view,
                Err(err) => {
                    return Ok(Err(rejected(RejectCode::Invalid, err.message())));
                }
            };
        if view.household_text("id") != Some(household.as_str()) {
            return Ok(Err(rejected(
                RejectCode::Invalid,
                Message::new(
                    format!("上传的数据不是户“{household}”的档案"),
                    format!("The uploaded data is not the document of household \"{household}\""),
                ),
            )));
        }
        let village = view
            .household_text("village")
            .unwrap_or_default()
            .to_owned();
        if AreaCode::parse_village(&village).is_err() || !device.covers(&village) {
            return Ok(Err(out_of_scope(&village)));
        }
        if let Some(row) = &row
            && row.village != village
        {
            return Ok(Err(rejected(
                RejectCode::Invalid,
                Message::new(
                    "不能把户迁到另一个村；请联系县里的工作人员",
                    "A household cannot be moved to another village from a device; ask county staff",
                ),
            )));
        }
        let Some(last_feed) = store_changes(
            conn,
            household.as_str(),
            &village,
            row.is_none(),
            &new_changes,
            &mut doc,
        )
        .await?
        else {
            return Ok(Err(rejected(
                RejectCode::Invalid,
                Message::new(
                    "上传的修改属于另一户的档案",
                    "The uploaded changes belong to another household's document",
                ),
            )));
        };
        register::project(conn, household.as_str(), &view).await?;
        let outcome = accepted(&mut doc);
        Ok(Ok((outcome, doc, last_feed)))
    }

    /// Loads a document at the given feed position, from the cache when it is current.
    async fn load(
        &self,
        conn: &mut AnyConnection,
        household: &str,
        last_feed: i64,
    ) -> Result<AutoCommit, LedgerError> {
        if let Some(doc) = self.take_cached(household, last_feed) {
            return Ok(doc);
        }
        let row =
            sqlx::query("SELECT snapshot, snapshot_feed FROM document WHERE household_id = $1")
                .bind(household)
                .fetch_one(&mut *conn)
                .await?;
        let snapshot: Option<Vec<u8>> = row.try_get("snapshot")?;
        let snapshot_feed: i64 = row.try_get("snapshot_feed")?;
        let mut doc = match snapshot {
            Some(bytes) => AutoCommit::load(&bytes)?,
            None => AutoCommit::new(),
        };
        let changes = sqlx::query(
            "SELECT bytes FROM change WHERE household_id = $1 AND feed > $2 AND feed <= $3 ORDER BY feed",
        )
        .bind(household)
        .bind(snapshot_feed)
        .bind(last_feed)
        .fetch_all(&mut *conn)
        .await?;
        let mut parsed = Vec::with_capacity(changes.len());
        for row in changes {
            let bytes: Vec<u8> = row.try_get("bytes")?;
            if let Ok(change) = Change::from_bytes(bytes) {
                parsed.push(change);
            }
        }
        doc.apply_changes(parsed)?;
        Ok(doc)
    }

    /// Reads a household as it stands, for the register's detail view.
    pub async fn read(
        &self,
        household: &str,
    ) -> Result<Option<(String, HouseholdView)>, LedgerError> {
        let mut conn = self.db.pool.acquire().await?;
        let Some(row) = document_row(&mut conn, household).await? else {
            return Ok(None);
        };
        let mut doc = self.load(&mut conn, household, row.last_feed).await?;
        let view = layout::read_household(doc.document());
        self.put_cached(household, doc, row.last_feed);
        match view {
            Ok(view) => Ok(Some((row.village, view))),
            Err(_) => Ok(None),
        }
    }

    /// The page of updates a device gets after its uploads were applied.
    pub async fn feed_page(
        &self,
        device: &Device,
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
                .download_page(&mut conn, device, cursor.feed, after, budget)
                .await;
        }
        // The feed is read change by change, in feed order, so that wherever a page stops,
        // every change at or below the new cursor has been sent.
        let rows = sqlx::query(
            "SELECT c.feed, c.household_id, c.actor, c.bytes FROM change c
             JOIN document d ON d.household_id = c.household_id
             JOIN device_village v ON v.village = d.village AND v.device_id = $1
             WHERE c.feed > $2 ORDER BY c.feed LIMIT $3",
        )
        .bind(&device.id)
        .bind(i64::try_from(cursor.feed).unwrap_or(i64::MAX))
        .bind(FEED_ROWS_PER_PAGE)
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
            let author: String = row.try_get("actor")?;
            if author == actor {
                continue; // the device has its own changes
            }
            let household: String = row.try_get("household_id")?;
            let bytes: Vec<u8> = row.try_get("bytes")?;
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
        device: &Device,
        feed: u64,
        after: &str,
        budget: usize,
    ) -> Result<(Vec<DocumentUpdate>, Cursor, bool), LedgerError> {
        let rows = sqlx::query(
            "SELECT d.household_id, d.last_feed, d.snapshot, d.changes_after_snapshot FROM document d
             JOIN device_village v ON v.village = d.village AND v.device_id = $1
             WHERE d.household_id > $2 ORDER BY d.household_id LIMIT 1000",
        )
        .bind(&device.id)
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
            let last_feed: i64 = row.try_get("last_feed")?;
            let snapshot: Option<Vec<u8>> = row.try_get("snapshot")?;
            let pending: i64 = row.try_get("changes_after_snapshot")?;
            let bytes = match snapshot {
                Some(snapshot) if pending == 0 => snapshot,
                _ => {
                    let mut doc = self.load(conn, &household, last_feed).await?;
                    let bytes = doc.save();
                    self.put_cached(&household, doc, last_feed);
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

    /// Folds documents with many change rows into new snapshots, so loading a document
    /// reads one snapshot and a few rows. The rows stay: they are the feed that devices
    /// catch up from. (Pruning rows older than every device's cursor, with a fresh first
    /// download for a device that falls behind, is left for later.)
    pub async fn compact(&self) -> Result<usize, LedgerError> {
        let candidates = sqlx::query(
            "SELECT household_id FROM document WHERE changes_after_snapshot >= $1 LIMIT 100",
        )
        .bind(COMPACT_AFTER_CHANGES)
        .fetch_all(&self.db.pool)
        .await?;
        let mut compacted = 0;
        for row in candidates {
            let household: String = row.try_get("household_id")?;
            let mut write = self.db.begin_write().await?;
            let Some(current) = document_row(&mut write.tx, &household).await? else {
                continue;
            };
            let mut doc = self
                .load(&mut write.tx, &household, current.last_feed)
                .await?;
            sqlx::query(
                "UPDATE document SET snapshot = $2, snapshot_feed = $3, changes_after_snapshot = 0
                 WHERE household_id = $1",
            )
            .bind(&household)
            .bind(doc.save())
            .bind(current.last_feed)
            .execute(&mut *write.tx)
            .await?;
            write.commit().await?;
            self.put_cached(&household, doc, current.last_feed);
            compacted += 1;
        }
        Ok(compacted)
    }
}

fn accepted(doc: &mut AutoCommit) -> UploadOutcome {
    UploadOutcome::Accepted {
        heads: doc
            .get_heads()
            .iter()
            .map(|hash: &ChangeHash| Bytes::from(hash.as_ref().to_vec()))
            .collect(),
    }
}

fn rejected(code: RejectCode, reason: Message) -> UploadOutcome {
    UploadOutcome::Rejected { code, reason }
}

fn out_of_scope(village: &str) -> UploadOutcome {
    rejected(
        RejectCode::OutOfScope,
        Message::new(
            format!("该户属于村 {village}，不在本设备负责的村内，未上传；数据仍保留在本机"),
            format!(
                "This household belongs to village {village}, which is not assigned to this device; it was not uploaded and stays on the device"
            ),
        ),
    )
}

async fn document_row(
    conn: &mut AnyConnection,
    household: &str,
) -> Result<Option<DocumentRow>, LedgerError> {
    let row = sqlx::query("SELECT village, last_feed FROM document WHERE household_id = $1")
        .bind(household)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(match row {
        Some(row) => Some(DocumentRow {
            village: row.try_get("village")?,
            last_feed: row.try_get("last_feed")?,
        }),
        None => None,
    })
}

async fn max_feed(conn: &mut AnyConnection) -> Result<u64, LedgerError> {
    let max: i64 = sqlx::query("SELECT COALESCE(MAX(last_feed), 0) AS max_feed FROM document")
        .fetch_one(&mut *conn)
        .await?
        .try_get("max_feed")?;
    Ok(u64::try_from(max).unwrap_or_default())
}

/// Stores new changes (each once, by hash) and the document row; returns the document's
/// new last feed position, or `None` when a change is already stored for another household
/// (the caller rolls back).
async fn store_changes(
    conn: &mut AnyConnection,
    household: &str,
    village: &str,
    is_new: bool,
    changes: &[Change],
    doc: &mut AutoCommit,
) -> Result<Option<i64>, LedgerError> {
    let now = jiff::Timestamp::now().as_second();
    let heads: Vec<u8> = doc
        .get_heads()
        .iter()
        .flat_map(|h| h.as_ref().to_vec())
        .collect();
    if is_new {
        sqlx::query(
            "INSERT INTO document (household_id, village, heads, last_feed, updated_at)
             VALUES ($1, $2, $3, 0, $4)",
        )
        .bind(household)
        .bind(village)
        .bind(heads.clone())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    let mut last_feed = 0i64;
    for change in changes {
        let row = sqlx::query(
            "INSERT INTO change (household_id, hash, actor, bytes, received_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (hash) DO NOTHING RETURNING feed",
        )
        .bind(household)
        .bind(change.hash().as_ref().to_vec())
        .bind(change.actor_id().to_hex_string())
        .bind(change.raw_bytes().to_vec())
        .bind(now)
        .fetch_optional(&mut *conn)
        .await?;
        match row {
            Some(row) => last_feed = last_feed.max(row.try_get("feed")?),
            // The document did not hold this change, yet the table does: it is another
            // household's.
            None => return Ok(None),
        }
    }
    let stored = changes.len() as i64;
    let row = sqlx::query(
        "UPDATE document SET heads = $2, updated_at = $3,
             last_feed = CASE WHEN $4 > last_feed THEN $4 ELSE last_feed END,
             changes_after_snapshot = changes_after_snapshot + $5
         WHERE household_id = $1 RETURNING last_feed",
    )
    .bind(household)
    .bind(heads)
    .bind(now)
    .bind(last_feed)
    .bind(stored)
    .fetch_one(&mut *conn)
    .await?;
    Ok(Some(row.try_get("last_feed")?))
}
