//! The server's household documents: applying uploaded changes, the change feed, and
//! compaction.
//!
//! A document is stored as a snapshot plus the change rows after it. Every change is stored
//! once, keyed by its hash, with a feed position that orders the feed. Applying an upload,
//! storing its new changes and rewriting the household's register rows happen in one
//! transaction, so a query never sees a half-merged household.
//!
//! Ingest keeps the snapshot fresh: it is written when a document is created and whenever
//! the rows after it reach [`COMPACT_AFTER_CHANGES`], so loading a document is one
//! `AutoCommit::load` and a few changes, never a replay of its whole history. Uploads are
//! applied in batches of households, each batch read in two statements and written in a
//! few, because on both backends the round trip of a statement costs more than the work
//! it does. A batch is merged before it takes the write order, and only what another
//! write changed meanwhile is merged again under it (ADR 0008), so one device's merge runs
//! while another's batch is written.
//!
//! What is stored is sealed ([`Vault`]): every change row and every snapshot holds ID
//! numbers, health and poverty status, so none is written in the clear. The change hash
//! stays readable, since it is what makes storing a change idempotent; it reveals nothing
//! without the change.

use crate::auth::Device;
use crate::decisions::quarantine::{self, Screened};
use crate::decisions::{review, settle};
use crate::parallel;
use crate::storage::db::{Backend, Db, rows_per_statement};
use crate::storage::register::{self, Projection};
use crate::storage::vault::{Vault, VaultError};
use automerge::{AutoCommit, Change, ChangeHash};
use lru::LruCache;
use schema::Message;
use schema::ids::{AreaCode, HouseholdId};
use schema::layout::{self, HouseholdView};
use schema::wire::{Bytes, Cursor, DocumentUpdate, Payload, RejectCode, Upload, UploadOutcome};
use sqlx::{AnyConnection, AssertSqlSafe, Row};
use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroUsize;
use std::sync::Mutex;

/// Documents kept in memory between requests. A cache only: every server reloads from the
/// database when another server changed the document.
const CACHE_CAPACITY: usize = 256;
/// Change rows after which a document is folded into a new snapshot, by ingest or by
/// background compaction.
const COMPACT_AFTER_CHANGES: i64 = 32;
/// Change rows read for one page of the feed, at most.
const FEED_ROWS_PER_PAGE: i64 = 2000;
/// Households applied together: read together, then written together. Bounds the documents
/// a request holds in memory at once.
const HOUSEHOLDS_PER_BATCH: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("automerge: {0}")]
    Automerge(#[from] automerge::AutomergeError),
    #[error("document layout: {0}")]
    Layout(#[from] schema::layout::LayoutError),
    #[error("sealed data: {0}")]
    Vault(#[from] VaultError),
}

/// The household documents and their cache.
#[derive(Debug)]
pub struct Ledger {
    db: Db,
    vault: Vault,
    cache: Mutex<LruCache<String, Cached>>,
    /// Held while a batch merges on every core: see [`Ledger::merge_read`].
    cores: tokio::sync::Semaphore,
}

#[derive(Debug)]
struct Cached {
    doc: AutoCommit,
    last_feed: i64,
}

/// A document's row, as read inside a transaction.
struct StoredDocument {
    village: String,
    last_feed: i64,
    /// Sealed: opened only when the document is loaded from it, not when the cache has it.
    snapshot: Option<Vec<u8>>,
    snapshot_feed: i64,
    changes_after_snapshot: i64,
}

impl StoredDocument {
    /// What a write to the household changes in its row; equal before and after means no
    /// write came between.
    fn version(&self) -> (&str, i64, i64, i64) {
        (
            &self.village,
            self.last_feed,
            self.snapshot_feed,
            self.changes_after_snapshot,
        )
    }
}

/// How much of a document row to read.
#[derive(Clone, Copy)]
enum DocumentRead {
    /// With the sealed snapshot, to load the document from.
    WithSnapshot,
    /// Only its [`StoredDocument::version`], to see whether the household was written.
    Version,
}

/// A held change as a merge saw it: what a staff decision or another device's upload
/// changes.
type HeldState = (ChangeHash, quarantine::Status);

fn held_states(held: &[quarantine::Held]) -> Vec<HeldState> {
    held.iter().map(|h| (h.change.hash(), h.status)).collect()
}

/// A batch merged outside the write order, waiting to be written.
struct Prepared {
    /// The refusals decided already, by position in the batch.
    outcomes: Vec<Option<UploadOutcome>>,
    merging: Merging,
}

/// A batch's documents as read for merging, with the uploads to merge into them.
struct ReadForMerge {
    stored: HashMap<String, StoredDocument>,
    held_seen: HashMap<String, Vec<HeldState>>,
    /// Each parsed upload's position in the batch, household and changes, with where its
    /// stored document comes from and the quarantine's changes of the household.
    jobs: Vec<MergeJob>,
}

type MergeJob = (
    usize,
    HouseholdId,
    Vec<Change>,
    Option<Source>,
    Vec<quarantine::Held>,
);

/// A batch's uploads merged in memory, with what each merge read.
struct Merging {
    /// The document rows the merges started from; a household without one is new.
    stored: HashMap<String, StoredDocument>,
    /// The quarantine's changes of each household, as the merges saw them.
    held_seen: HashMap<String, Vec<HeldState>>,
    /// Each parsed upload's position in the batch, household and merge.
    merges: Vec<(usize, HouseholdId, Merge)>,
}

/// A change to store: what its row holds.
struct NewChange {
    hash: ChangeHash,
    actor: String,
    bytes: Vec<u8>,
}

/// What a household's document row said before this upload.
#[derive(Clone, Copy)]
struct Before {
    snapshot_feed: i64,
    changes_after_snapshot: i64,
}

/// A household whose upload merged cleanly and brought new changes: its merged document
/// and view, and what to write for it.
struct Merged {
    /// The upload's position in its batch.
    index: usize,
    household: String,
    village: String,
    /// `None` for a household the server did not have.
    before: Option<Before>,
    doc: AutoCommit,
    changes: Vec<NewChange>,
    view: HouseholdView,
    /// The register rows of `view`, and its validation issues.
    projection: Projection,
}

/// What merging one upload into its document came to.
enum Merge {
    Rejected(UploadOutcome),
    /// Nothing new: the device re-sent what the server has.
    Unchanged(Box<AutoCommit>),
    /// Nothing to apply: everything new is held in quarantine.
    Held(Box<AutoCommit>, Box<Screened>),
    /// New changes to apply, and, when screening refused some or admitted held ones, what
    /// the quarantine records.
    Changed(Box<Merged>, Option<Box<Screened>>),
}

impl Ledger {
    pub fn new(db: Db, vault: Vault) -> Ledger {
        let capacity = NonZeroUsize::new(CACHE_CAPACITY).unwrap_or(NonZeroUsize::MIN);
        Ledger {
            db,
            vault,
            cache: Mutex::new(LruCache::new(capacity)),
            cores: tokio::sync::Semaphore::new(1),
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The keys everything sensitive is stored under.
    pub fn vault(&self) -> &Vault {
        &self.vault
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

    /// Applies a device's uploads, each household on its own, in batches of households.
    /// Each batch is merged in memory first, outside the write order, so the CPU work of
    /// one device's sync goes on while another device's batch is written; then it is
    /// checked and written in one transaction, one disk flush for the batch. A household
    /// that fails leaves the others untouched, and a batch written stays written if a later
    /// one fails: a device that sends it all again is told it is already stored.
    ///
    /// Every refusal is decided before anything of its household is written, so a refused
    /// household leaves no trace without a savepoint of its own.
    ///
    /// `client` is the device's network address, for the audit records of held changes.
    pub async fn apply_uploads(
        &self,
        device: &Device,
        client: &str,
        uploads: &[Upload],
    ) -> Result<Vec<UploadOutcome>, LedgerError> {
        let mut outcomes = Vec::with_capacity(uploads.len());
        let mut start = 0;
        while start < uploads.len() {
            let end = batch_end(uploads, start);
            outcomes.extend(
                self.apply_batch(device, client, &uploads[start..end])
                    .await?,
            );
            start = end;
        }
        Ok(outcomes)
    }

    /// Applies a batch of uploads, no household twice.
    async fn apply_batch(
        &self,
        device: &Device,
        client: &str,
        uploads: &[Upload],
    ) -> Result<Vec<UploadOutcome>, LedgerError> {
        let prepared = self.prepare_batch(device, uploads).await?;
        self.commit_batch(device, client, uploads, prepared).await
    }

    /// Merges a batch's uploads into their documents as stored now, outside the write
    /// order. Nothing is written.
    async fn prepare_batch(
        &self,
        device: &Device,
        uploads: &[Upload],
    ) -> Result<Prepared, LedgerError> {
        let mut outcomes: Vec<Option<UploadOutcome>> = uploads.iter().map(|_| None).collect();
        let mut parsed = Vec::new();
        for (index, upload) in uploads.iter().enumerate() {
            match parse_upload(upload) {
                Ok((household, changes)) => parsed.push((index, household, changes)),
                Err(rejection) => outcomes[index] = Some(rejection),
            }
        }
        let read = {
            let mut conn = self.db.pool.acquire().await?;
            self.read_for_merge(&mut conn, parsed, None).await?
        };
        let merging = self.merge_read(device, read).await?;
        Ok(Prepared { outcomes, merging })
    }

    /// Holding the write order, merges again any household another write changed since
    /// [`Ledger::prepare_batch`] read it, then writes the batch in one transaction.
    async fn commit_batch(
        &self,
        device: &Device,
        client: &str,
        uploads: &[Upload],
        prepared: Prepared,
    ) -> Result<Vec<UploadOutcome>, LedgerError> {
        let mut write = self.db.begin_write().await?;
        let merging = self
            .merge_again_if_changed(&mut write.tx, device, uploads, prepared.merging)
            .await?;
        let mut to_cache = ToCache::default();
        let outcomes = self
            .write_batch(
                &mut write.tx,
                device,
                client,
                merging,
                prepared.outcomes,
                &mut to_cache,
            )
            .await?;
        write.commit().await?;
        for (household, doc, last_feed) in to_cache.0 {
            self.put_cached(&household, doc, last_feed);
        }
        Ok(outcomes)
    }

    /// Reads the documents of these uploads' households, for [`Ledger::merge_read`]. `held`
    /// is the quarantine's changes of these households when the caller has read them
    /// already.
    async fn read_for_merge(
        &self,
        conn: &mut AnyConnection,
        parsed: Vec<(usize, HouseholdId, Vec<Change>)>,
        held: Option<HashMap<String, Vec<quarantine::Held>>>,
    ) -> Result<ReadForMerge, LedgerError> {
        let ids: Vec<&str> = parsed.iter().map(|(_, id, _)| id.as_str()).collect();
        let stored = document_rows(conn, &ids, DocumentRead::WithSnapshot).await?;
        // Documents outside the device's villages are loaded too: screening decides what
        // of an upload the device may write, and holds the rest in quarantine.
        let mut sources = self.document_sources(conn, &stored).await?;
        let mut held = match held {
            Some(held) => held,
            None => quarantine::held_for(conn, &self.vault, &ids).await?,
        };
        let held_seen = held
            .iter()
            .map(|(household, held)| (household.clone(), held_states(held)))
            .collect();
        let jobs = parsed
            .into_iter()
            .map(|(index, household, changes)| {
                let source = sources.remove(household.as_str());
                let held = held.remove(household.as_str()).unwrap_or_default();
                (index, household, changes, source, held)
            })
            .collect();
        Ok(ReadForMerge {
            stored,
            held_seen,
            jobs,
        })
    }

    /// Merges each upload into its household's document, in memory, on every core. Nothing
    /// is written, and no database connection is held.
    async fn merge_read(
        &self,
        device: &Device,
        read: ReadForMerge,
    ) -> Result<Merging, LedgerError> {
        let ReadForMerge {
            stored,
            held_seen,
            jobs,
        } = read;
        // One batch merges at a time. Batches then finish merging in the order they came,
        // each ready for the write order as soon as it can be, instead of all at the end
        // together; and the merge blocks one async worker, never every one, so the requests
        // that are writing go on.
        let _cores = self.cores.acquire().await;
        let (vault, rows) = (&self.vault, &stored);
        let merges = parallel::map(jobs, |(index, household, changes, source, held)| {
            let row = rows.get(household.as_str());
            let doc = match source {
                Some(source) => source.load(vault, row)?,
                None => AutoCommit::new(),
            };
            let merge = merge(device, &household, row, doc, changes, &held);
            Ok::<_, LedgerError>((index, household, merge))
        })
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        Ok(Merging {
            stored,
            held_seen,
            merges,
        })
    }

    /// Under the write order: the merges whose household another write changed since its
    /// document was read (a device, staff, compaction, another server), or whose held
    /// changes the quarantine no longer holds as they were, are done again on what is
    /// stored now. Usually none is: two statements that read no document.
    async fn merge_again_if_changed(
        &self,
        conn: &mut AnyConnection,
        device: &Device,
        uploads: &[Upload],
        mut merging: Merging,
    ) -> Result<Merging, LedgerError> {
        let ids: Vec<&str> = merging
            .merges
            .iter()
            .map(|(_, id, _)| id.as_str())
            .collect();
        let now = document_rows(conn, &ids, DocumentRead::Version).await?;
        let held_now = quarantine::held_for(conn, &self.vault, &ids).await?;
        let unchanged = |household: &str| {
            let held_then = merging.held_seen.get(household).map(Vec::as_slice);
            let held_now = held_now.get(household).map(|held| held_states(held));
            merging.stored.get(household).map(StoredDocument::version)
                == now.get(household).map(StoredDocument::version)
                && held_then.unwrap_or_default() == held_now.unwrap_or_default()
        };
        let changed: HashSet<usize> = merging
            .merges
            .iter()
            .filter(|(_, household, _)| !unchanged(household.as_str()))
            .map(|(index, _, _)| *index)
            .collect();
        if changed.is_empty() {
            return Ok(merging);
        }
        tracing::debug!(
            households = changed.len(),
            "merging again after a concurrent write"
        );
        let parsed: Vec<_> = changed
            .iter()
            .filter_map(|&index| {
                let (household, changes) = parse_upload(&uploads[index]).ok()?;
                Some((index, household, changes))
            })
            .collect();
        let held = held_now
            .into_iter()
            .filter(|(household, _)| parsed.iter().any(|(_, id, _)| id.as_str() == household))
            .collect();
        let read = self.read_for_merge(conn, parsed, Some(held)).await?;
        let again = self.merge_read(device, read).await?;
        merging.merges.retain(|(index, household, _)| {
            let again = changed.contains(index);
            if again {
                merging.stored.remove(household.as_str());
            }
            !again
        });
        merging.merges.extend(again.merges);
        merging.stored.extend(again.stored);
        Ok(merging)
    }

    /// Writes a batch's merges, under the write order: the changes, the document and
    /// register rows, the review queue and the quarantine. Returns every upload's outcome.
    async fn write_batch(
        &self,
        conn: &mut AnyConnection,
        device: &Device,
        client: &str,
        merging: Merging,
        mut outcomes: Vec<Option<UploadOutcome>>,
        to_cache: &mut ToCache,
    ) -> Result<Vec<UploadOutcome>, LedgerError> {
        let Merging { stored, merges, .. } = merging;
        let mut merged = Vec::new();
        let mut holds = Vec::new();
        for (index, household, merge) in merges {
            let row = stored.get(household.as_str());
            match merge {
                Merge::Rejected(rejection) => outcomes[index] = Some(rejection),
                Merge::Unchanged(mut doc) => {
                    outcomes[index] = Some(accepted(&mut doc));
                    if let Some(row) = row {
                        to_cache.push(household.to_string(), *doc, row.last_feed);
                    }
                }
                Merge::Held(mut doc, screened) => {
                    outcomes[index] = Some(screened.outcome(accepted(&mut doc)));
                    if let Some(row) = row {
                        to_cache.push(household.to_string(), *doc, row.last_feed);
                    }
                    let household = household.to_string();
                    let screened = *screened;
                    holds.push(quarantine::Hold {
                        index,
                        household,
                        screened,
                    });
                }
                Merge::Changed(mut household, screened) => {
                    household.index = index;
                    if let Some(screened) = screened {
                        let household = household.household.clone();
                        let screened = *screened;
                        holds.push(quarantine::Hold {
                            index,
                            household,
                            screened,
                        });
                    }
                    merged.push(*household);
                }
            }
        }

        // A change the household's document did not hold, yet the table does (or an
        // earlier household of this request brought), belongs to another household; so
        // does one the quarantine holds for another.
        let uploaded: Vec<(usize, Vec<ChangeHash>)> = merged
            .iter()
            .map(|m| (m.index, m.changes.iter().map(|c| c.hash).collect()))
            .chain(holds.iter().map(|h| (h.index, h.new_hashes())))
            .collect();
        let hashes: Vec<&ChangeHash> = uploaded.iter().flat_map(|(_, h)| h).collect();
        let taken = stored_hashes(conn, &hashes).await?;
        let mut foreign = quarantine::held_elsewhere(conn, &holds).await?;
        let mut claimed: HashSet<ChangeHash> = HashSet::new();
        for (index, hashes) in &uploaded {
            if hashes
                .iter()
                .any(|h| taken.contains(h) || claimed.contains(h))
            {
                foreign.insert(*index);
            } else {
                claimed.extend(hashes.iter().copied());
            }
        }
        for &index in &foreign {
            outcomes[index] = Some(rejected(
                RejectCode::Invalid,
                Message::new(
                    "上传的修改属于另一户的档案",
                    "The uploaded changes belong to another household's document",
                ),
            ));
        }
        holds.retain(|h| !foreign.contains(&h.index));
        let mut accepted_households: Vec<Merged> = merged
            .into_iter()
            .filter(|m| !foreign.contains(&m.index))
            .collect();

        let last_feeds = write_merged(conn, &self.vault, &mut accepted_households).await?;
        // Every accepted household is written now, its register rows included, and each
        // one's merged document, view and validation issues are at hand inside the
        // transaction: per-household work that needs them goes here.
        let subjects: Vec<review::Subject<'_>> = accepted_households
            .iter()
            .map(|h| review::Subject {
                household: &h.household,
                village: &h.village,
                view: &h.view,
                issues: &h.projection.issues,
            })
            .collect();
        review::refresh_all(conn, &self.vault, &subjects).await?;
        let now = jiff::Timestamp::now().as_second();
        for (mut household, last_feed) in accepted_households.into_iter().zip(last_feeds) {
            if let Some(survivor) = household.view.household_text("merged_into") {
                let late: Vec<Change> = household
                    .changes
                    .iter()
                    .filter_map(|c| Change::from_bytes(c.bytes.clone()).ok())
                    .collect();
                settle::forward_late_edits(
                    self,
                    conn,
                    &household.household,
                    &mut household.doc,
                    survivor,
                    &late,
                    now,
                )
                .await?;
            }
            let outcome = accepted(&mut household.doc);
            outcomes[household.index] =
                Some(match holds.iter().find(|h| h.index == household.index) {
                    Some(hold) => hold.screened.outcome(outcome),
                    None => outcome,
                });
            to_cache.push(household.household, household.doc, last_feed);
        }
        quarantine::write_holds(conn, &self.vault, device, client, &holds, now).await?;
        Ok(outcomes.into_iter().flatten().collect())
    }

    /// Where each stored document of a batch comes from: the cache, or its snapshot and the
    /// change rows after it (one statement for all). Nothing is opened or loaded here; that
    /// is the CPU work [`parallel::map`] spreads.
    async fn document_sources(
        &self,
        conn: &mut AnyConnection,
        stored: &HashMap<String, StoredDocument>,
    ) -> Result<HashMap<String, Source>, LedgerError> {
        let mut sources = HashMap::new();
        let mut behind = Vec::new();
        for (household, row) in stored {
            let source = match self.take_cached(household, row.last_feed) {
                Some(doc) => Source::Cached(Box::new(doc)),
                None => {
                    if row.last_feed > row.snapshot_feed {
                        behind.push(household.as_str());
                    }
                    Source::Sealed(Vec::new())
                }
            };
            sources.insert(household.clone(), source);
        }
        for (household, rows) in changes_after_snapshots(conn, &behind).await? {
            sources.insert(household, Source::Sealed(rows));
        }
        Ok(sources)
    }

    /// Loads a document as its row describes it, from the cache when it is current.
    async fn load(
        &self,
        conn: &mut AnyConnection,
        household: &str,
        row: &StoredDocument,
    ) -> Result<AutoCommit, LedgerError> {
        if let Some(doc) = self.take_cached(household, row.last_feed) {
            return Ok(doc);
        }
        let mut changes = Vec::new();
        if row.last_feed > row.snapshot_feed {
            let rows = sqlx::query(
                "SELECT bytes FROM change
                 WHERE household_id = $1 AND feed > $2 AND feed <= $3 ORDER BY feed",
            )
            .bind(household)
            .bind(row.snapshot_feed)
            .bind(row.last_feed)
            .fetch_all(&mut *conn)
            .await?;
            for change in rows {
                changes.push(change.try_get("bytes")?);
            }
        }
        load_document(&self.vault, row.snapshot.as_deref(), changes)
    }

    /// A household's village and document as they stand, outside any transaction.
    pub async fn document(
        &self,
        household: &str,
    ) -> Result<Option<(String, AutoCommit)>, LedgerError> {
        let mut conn = self.db.pool.acquire().await?;
        self.load_for_write(&mut conn, household).await
    }

    /// A household's village and document, read inside the caller's transaction, for
    /// server-made changes to be applied with [`Ledger::apply_server_changes`].
    pub async fn load_for_write(
        &self,
        conn: &mut AnyConnection,
        household: &str,
    ) -> Result<Option<(String, AutoCommit)>, LedgerError> {
        let Some(row) = document_row(conn, household).await? else {
            return Ok(None);
        };
        let doc = self.load(conn, household, &row).await?;
        Ok(Some((row.village, doc)))
    }

    /// Stores changes the server made to a household (a staff decision), inside the caller's
    /// write transaction, as ingest stores a device's: the document gains those it lacks,
    /// each is stored once with the next feed position, and the register rows are rewritten.
    /// The document is not cached: the transaction may still roll back.
    pub async fn apply_server_changes(
        &self,
        conn: &mut AnyConnection,
        household: &str,
        village: &str,
        doc: &mut AutoCommit,
        changes: Vec<Change>,
    ) -> Result<(), LedgerError> {
        // A household with no row yet is created: a quarantined change that creates one,
        // released.
        let row = document_row(conn, household).await?;
        // A change may have been made on this very document (it holds it already) or on a
        // fork of it; either way it is stored unless the table has it.
        let lacking: Vec<Change> = changes
            .iter()
            .filter(|change| doc.get_change_by_hash(&change.hash()).is_none())
            .cloned()
            .collect();
        doc.apply_changes(lacking)?;
        let hashes: Vec<ChangeHash> = changes.iter().map(Change::hash).collect();
        let stored = stored_hashes(conn, &hashes.iter().collect::<Vec<_>>()).await?;
        let rows: Vec<NewChange> = changes
            .iter()
            .filter(|change| !stored.contains(&change.hash()))
            .map(|change| NewChange {
                hash: change.hash(),
                actor: change.actor_id().to_hex_string(),
                bytes: change.raw_bytes().to_vec(),
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let view = layout::read_household(doc.document())?;
        let mut merged = [Merged {
            index: 0,
            household: household.to_owned(),
            village: village.to_owned(),
            before: row.map(|row| Before {
                snapshot_feed: row.snapshot_feed,
                changes_after_snapshot: row.changes_after_snapshot,
            }),
            doc: std::mem::take(doc),
            changes: rows,
            projection: Projection::of(household, &view),
            view,
        }];
        let written = write_merged(conn, &self.vault, &mut merged).await;
        let [merged] = merged;
        *doc = merged.doc;
        written?;
        let subject = review::Subject {
            household,
            village,
            view: &merged.view,
            issues: &merged.projection.issues,
        };
        review::refresh(conn, &self.vault, subject).await?;
        Ok(())
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
        let mut doc = self.load(&mut conn, household, &row).await?;
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
        .bind(&device.id)
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
        device: &Device,
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
            let mut doc = self.load(&mut write.tx, &household, &current).await?;
            sqlx::query(
                "UPDATE document SET snapshot = $2, snapshot_feed = $3, changes_after_snapshot = 0
                 WHERE household_id = $1",
            )
            .bind(&household)
            .bind(self.vault.seal(&doc.save()))
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

/// Where the batch that starts at `start` ends: at most [`HOUSEHOLDS_PER_BATCH`] uploads, and
/// before a household the batch already holds, which must see the first one written.
fn batch_end(uploads: &[Upload], start: usize) -> usize {
    let mut seen = HashSet::new();
    let mut end = start;
    while end < uploads.len()
        && end - start < HOUSEHOLDS_PER_BATCH
        && seen.insert(uploads[end].household.as_str())
    {
        end += 1;
    }
    end
}

/// Parses an upload's household id and changes, or refuses it.
fn parse_upload(upload: &Upload) -> Result<(HouseholdId, Vec<Change>), UploadOutcome> {
    let Ok(household) = HouseholdId::parse(&upload.household) else {
        return Err(rejected(
            RejectCode::Invalid,
            Message::new("户标识无效", "Invalid household id"),
        ));
    };
    let changes = upload
        .changes
        .iter()
        .map(|bytes| Change::from_bytes(bytes.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| {
            rejected(
                RejectCode::Invalid,
                Message::new(
                    format!("上传的修改已损坏：{err}"),
                    format!("The uploaded changes are damaged: {err}"),
                ),
            )
        })?;
    Ok((household, changes))
}

/// Merges an upload into its household's document, in memory, and checks the result: the
/// history is whole, and the document is this household's, in a real village. What the
/// device may not write (`screen.rs`) is left out and held in quarantine; `held` are the
/// household's changes held there already, which the upload may build on or send again.
fn merge(
    device: &Device,
    household: &HouseholdId,
    row: Option<&StoredDocument>,
    mut doc: AutoCommit,
    changes: Vec<Change>,
    held: &[quarantine::Held],
) -> Merge {
    let new_changes: Vec<Change> = changes
        .into_iter()
        .filter(|change| doc.get_change_by_hash(&change.hash()).is_none())
        .collect();
    if new_changes.is_empty() {
        return match Screened::still_held(device, held) {
            Some(screened) => Merge::Held(Box::new(doc), Box::new(screened)),
            None => Merge::Unchanged(Box::new(doc)),
        };
    }
    let stored_village = row.map(|row| row.village.as_str());
    let mut screened = Screened::of(device, stored_village, doc.document(), new_changes, held);
    if screened.holds() {
        // Only a sound upload is quarantined: one that is not a whole household history
        // is refused as before, and the device sends it again.
        let mut whole = doc.fork();
        match apply_checked(household, &mut whole, screened.whole(held)) {
            Ok((_, village)) if row.is_none() => screened.village = village,
            Ok(_) => {}
            Err(rejection) => return Merge::Rejected(rejection),
        }
    }
    let new_changes = std::mem::take(&mut screened.accepted);
    let screened = screened.records().then(|| Box::new(screened));
    if new_changes.is_empty() {
        return match screened {
            Some(screened) => Merge::Held(Box::new(doc), screened),
            None => Merge::Unchanged(Box::new(doc)),
        };
    }
    let rows: Vec<NewChange> = new_changes
        .iter()
        .map(|change| NewChange {
            hash: change.hash(),
            actor: change.actor_id().to_hex_string(),
            bytes: change.raw_bytes().to_vec(),
        })
        .collect();
    let (view, village) = match apply_checked(household, &mut doc, new_changes) {
        Ok(checked) => checked,
        Err(rejection) => return Merge::Rejected(rejection),
    };
    // Screening holds back what would break these; they stay as the last word.
    if !device.covers(&village) {
        return Merge::Rejected(out_of_scope(&village));
    }
    if let Some(row) = row
        && row.village != village
    {
        return Merge::Rejected(rejected(
            RejectCode::Invalid,
            Message::new(
                "不能把户迁到另一个村；请联系县里的工作人员",
                "A household cannot be moved to another village from a device; ask county staff",
            ),
        ));
    }
    Merge::Changed(
        Box::new(Merged {
            index: 0,
            household: household.to_string(),
            village,
            before: row.map(|row| Before {
                snapshot_feed: row.snapshot_feed,
                changes_after_snapshot: row.changes_after_snapshot,
            }),
            doc,
            projection: Projection::of(household.as_str(), &view),
            changes: rows,
            view,
        }),
        screened,
    )
}

/// Applies changes to a document in memory and checks the result: its history is whole,
/// and it is the document of this household, in a real village. Returns its view and
/// village.
fn apply_checked(
    household: &HouseholdId,
    doc: &mut AutoCommit,
    changes: Vec<Change>,
) -> Result<(HouseholdView, String), UploadOutcome> {
    if let Err(err) = doc.apply_changes(changes) {
        return Err(rejected(
            RejectCode::Invalid,
            Message::new(
                format!("无法应用上传的修改：{err}"),
                format!("The uploaded changes cannot be applied: {err}"),
            ),
        ));
    }
    if !doc.get_missing_deps(&[]).is_empty() {
        return Err(rejected(
            RejectCode::MissingHistory,
            Message::new(
                "服务器缺少这些修改的前序记录，请上传该户的全部记录",
                "The server lacks the history these changes build on; upload the household's whole history",
            ),
        ));
    }
    let view = layout::migrate(doc)
        .and_then(|_| layout::read_household(doc.document()))
        .map_err(|err| rejected(RejectCode::Invalid, err.message()))?;
    // The reason names the key at fault and the type it must hold: a client written from
    // docs/LAYOUT.md, not from this code, fixes itself from it.
    let identity = layout::identity_problem(doc.document(), household.as_str())
        .map_err(|err| rejected(RejectCode::Invalid, err.message()))?;
    if let Some(reason) = identity {
        return Err(rejected(RejectCode::Invalid, reason));
    }
    let village = view
        .household_text("village")
        .unwrap_or_default()
        .to_owned();
    if AreaCode::parse_village(&village).is_err() {
        return Err(out_of_scope(&village));
    }
    Ok((view, village))
}

/// A document from its sealed snapshot and the sealed change rows after it. A row that
/// does not parse is skipped: it was checked when stored, and one bad row must not make the
/// household unreadable. A row that does not open fails the load instead: it means a missing
/// key or altered data, and a document loaded without it could be saved back as a snapshot
/// that lacks the change.
fn load_document(
    vault: &Vault,
    snapshot: Option<&[u8]>,
    rows: Vec<Vec<u8>>,
) -> Result<AutoCommit, LedgerError> {
    let mut doc = match snapshot {
        Some(sealed) => AutoCommit::load(&vault.open(sealed)?)?,
        None => AutoCommit::new(),
    };
    if !rows.is_empty() {
        let mut changes = Vec::with_capacity(rows.len());
        for sealed in rows {
            if let Ok(change) = Change::from_bytes(vault.open(&sealed)?) {
                changes.push(change);
            }
        }
        doc.apply_changes(changes)?;
    }
    Ok(doc)
}

/// Where a stored document of a batch comes from.
enum Source {
    Cached(Box<AutoCommit>),
    /// The sealed change rows after the snapshot in the document's row.
    Sealed(Vec<Vec<u8>>),
}

impl Source {
    fn load(self, vault: &Vault, row: Option<&StoredDocument>) -> Result<AutoCommit, LedgerError> {
        match self {
            Source::Cached(doc) => Ok(*doc),
            Source::Sealed(rows) => {
                load_document(vault, row.and_then(|row| row.snapshot.as_deref()), rows)
            }
        }
    }
}

/// The documents the ingest loads, for the cache once the transaction commits; only as
/// many as the cache holds, so a huge request does not keep every document it touched.
#[derive(Default)]
struct ToCache(VecDeque<(String, AutoCommit, i64)>);

impl ToCache {
    fn push(&mut self, household: String, doc: AutoCommit, last_feed: i64) {
        if self.0.len() == CACHE_CAPACITY {
            self.0.pop_front();
        }
        self.0.push_back((household, doc, last_feed));
    }
}

const DOCUMENT_COLUMNS: &str =
    "household_id, village, last_feed, snapshot, snapshot_feed, changes_after_snapshot";

fn stored_document(row: &sqlx::any::AnyRow) -> Result<StoredDocument, sqlx::Error> {
    Ok(StoredDocument {
        village: row.try_get("village")?,
        last_feed: row.try_get("last_feed")?,
        snapshot: row.try_get("snapshot")?,
        snapshot_feed: row.try_get("snapshot_feed")?,
        changes_after_snapshot: row.try_get("changes_after_snapshot")?,
    })
}

async fn document_row(
    conn: &mut AnyConnection,
    household: &str,
) -> Result<Option<StoredDocument>, LedgerError> {
    let sql = format!("SELECT {DOCUMENT_COLUMNS} FROM document WHERE household_id = $1");
    let row = sqlx::query(AssertSqlSafe(sql))
        .bind(household)
        .fetch_optional(&mut *conn)
        .await?;
    Ok(row.as_ref().map(stored_document).transpose()?)
}

/// The document rows of these households, in one statement per [`MAX_PARAMS`] households.
/// Read for [`DocumentRead::Version`], a row's snapshot is `None`.
///
/// [`MAX_PARAMS`]: crate::storage::db::MAX_PARAMS
async fn document_rows(
    conn: &mut AnyConnection,
    households: &[&str],
    read: DocumentRead,
) -> Result<HashMap<String, StoredDocument>, LedgerError> {
    let columns = match read {
        DocumentRead::WithSnapshot => DOCUMENT_COLUMNS,
        DocumentRead::Version => {
            "household_id, village, last_feed, NULL AS snapshot, snapshot_feed, \
             changes_after_snapshot"
        }
    };
    let mut stored = HashMap::with_capacity(households.len());
    for batch in households.chunks(rows_per_statement(1)) {
        let sql = format!(
            "SELECT {columns} FROM document WHERE household_id IN ({})",
            Backend::of(conn).placeholders(batch.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for household in batch {
            query = query.bind(household.to_string());
        }
        for row in query.fetch_all(&mut *conn).await? {
            stored.insert(row.try_get("household_id")?, stored_document(&row)?);
        }
    }
    Ok(stored)
}

/// The change rows after each household's snapshot, in feed order, sealed. Read under the
/// write order, so no row beyond the document's `last_feed` can exist.
async fn changes_after_snapshots(
    conn: &mut AnyConnection,
    households: &[&str],
) -> Result<HashMap<String, Vec<Vec<u8>>>, LedgerError> {
    let mut changes: HashMap<String, Vec<Vec<u8>>> = HashMap::new();
    for batch in households.chunks(rows_per_statement(1)) {
        let sql = format!(
            "SELECT c.household_id, c.bytes FROM change c
             JOIN document d ON d.household_id = c.household_id
             WHERE c.household_id IN ({}) AND c.feed > d.snapshot_feed ORDER BY c.feed",
            Backend::of(conn).placeholders(batch.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for household in batch {
            query = query.bind(household.to_string());
        }
        for row in query.fetch_all(&mut *conn).await? {
            changes
                .entry(row.try_get("household_id")?)
                .or_default()
                .push(row.try_get("bytes")?);
        }
    }
    Ok(changes)
}

/// Which of these change hashes are already stored.
async fn stored_hashes(
    conn: &mut AnyConnection,
    hashes: &[&ChangeHash],
) -> Result<HashSet<ChangeHash>, LedgerError> {
    let mut stored = HashSet::new();
    for batch in hashes.chunks(rows_per_statement(1)) {
        let sql = format!(
            "SELECT hash FROM change WHERE hash IN ({})",
            Backend::of(conn).placeholders(batch.len())
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for hash in batch {
            query = query.bind(hash.as_ref().to_vec());
        }
        for row in query.fetch_all(&mut *conn).await? {
            let bytes: Vec<u8> = row.try_get("hash")?;
            if let Ok(hash) = ChangeHash::try_from(bytes.as_slice()) {
                stored.insert(hash);
            }
        }
    }
    Ok(stored)
}

async fn max_feed(conn: &mut AnyConnection) -> Result<u64, LedgerError> {
    let max: i64 = sqlx::query("SELECT COALESCE(MAX(last_feed), 0) AS max_feed FROM document")
        .fetch_one(&mut *conn)
        .await?
        .try_get("max_feed")?;
    Ok(u64::try_from(max).unwrap_or_default())
}

/// Writes accepted households: their new document rows, their changes (each gets the next
/// feed position, in upload order), their document rows with a new snapshot when one is
/// due, and their register rows. A few statements for the whole batch. Returns each
/// household's new last feed position.
async fn write_merged(
    conn: &mut AnyConnection,
    vault: &Vault,
    merged: &mut [Merged],
) -> Result<Vec<i64>, LedgerError> {
    if merged.is_empty() {
        return Ok(Vec::new());
    }
    let now = jiff::Timestamp::now().as_second();
    let heads: Vec<Vec<u8>> = merged
        .iter_mut()
        .map(|m| {
            m.doc
                .get_heads()
                .iter()
                .flat_map(|h| h.as_ref().to_vec())
                .collect()
        })
        .collect();

    // Changes reference their document, so new documents come first.
    let new: Vec<usize> = (0..merged.len())
        .filter(|&i| merged[i].before.is_none())
        .collect();
    for batch in new.chunks(rows_per_statement(5)) {
        let sql = format!(
            "INSERT INTO document (household_id, village, heads, last_feed, updated_at) VALUES {}",
            Backend::of(conn).value_rows(batch.len(), 5)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for &i in batch {
            query = query
                .bind(merged[i].household.clone())
                .bind(merged[i].village.clone())
                .bind(heads[i].clone())
                .bind(0i64)
                .bind(now);
        }
        query.execute(&mut *conn).await?;
    }

    let mut owner: HashMap<Vec<u8>, usize> = HashMap::new();
    let rows: Vec<(usize, &NewChange)> = merged
        .iter()
        .enumerate()
        .flat_map(|(i, m)| m.changes.iter().map(move |c| (i, c)))
        .collect();
    let mut last_feeds = vec![0i64; merged.len()];
    for batch in rows.chunks(rows_per_statement(5)) {
        // The hashes were checked unstored under the write order, so a conflict here is a
        // failure of the server, and fails the request whole.
        let sql = format!(
            "INSERT INTO change (household_id, hash, actor, bytes, received_at) VALUES {}
             RETURNING feed, hash",
            Backend::of(conn).value_rows(batch.len(), 5)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for &(i, change) in batch {
            owner.insert(change.hash.as_ref().to_vec(), i);
            query = query
                .bind(merged[i].household.clone())
                .bind(change.hash.as_ref().to_vec())
                .bind(change.actor.clone())
                .bind(vault.seal(&change.bytes))
                .bind(now);
        }
        for row in query.fetch_all(&mut *conn).await? {
            let hash: Vec<u8> = row.try_get("hash")?;
            let feed: i64 = row.try_get("feed")?;
            if let Some(&i) = owner.get(&hash) {
                last_feeds[i] = last_feeds[i].max(feed);
            }
        }
    }

    for batch in (0..merged.len())
        .collect::<Vec<_>>()
        .chunks(rows_per_statement(8))
    {
        let sql = format!(
            "INSERT INTO document (household_id, village, heads, last_feed, updated_at, snapshot,
                 snapshot_feed, changes_after_snapshot)
             VALUES {}
             ON CONFLICT (household_id) DO UPDATE SET
                 village = excluded.village,
                 heads = excluded.heads, last_feed = excluded.last_feed,
                 updated_at = excluded.updated_at,
                 snapshot = COALESCE(excluded.snapshot, document.snapshot),
                 snapshot_feed = excluded.snapshot_feed,
                 changes_after_snapshot = excluded.changes_after_snapshot",
            Backend::of(conn).value_rows(batch.len(), 8)
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for &i in batch {
            let household = &mut merged[i];
            let stored = household.changes.len() as i64;
            // A new document gets its snapshot at once, and an old one when its rows pile
            // up: the next load is then one `AutoCommit::load` and a few changes.
            let (snapshot, snapshot_feed, after) = match household.before {
                Some(before) if before.changes_after_snapshot + stored < COMPACT_AFTER_CHANGES => (
                    None,
                    before.snapshot_feed,
                    before.changes_after_snapshot + stored,
                ),
                _ => (Some(vault.seal(&household.doc.save())), last_feeds[i], 0),
            };
            query = query
                .bind(household.household.clone())
                .bind(household.village.clone())
                .bind(heads[i].clone())
                .bind(last_feeds[i])
                .bind(now)
                .bind(snapshot)
                .bind(snapshot_feed)
                .bind(after);
        }
        query.execute(&mut *conn).await?;
    }

    let projections: Vec<&Projection> = merged.iter().map(|m| &m.projection).collect();
    register::write(conn, vault, &projections).await?;
    Ok(last_feeds)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::storage::vault::AUTOMERGE_MAGIC;
    use schema::fields::FieldPath;
    use schema::ids::MemberKey;
    use schema::layout::FieldValue;

    const VILLAGE: &str = "141124100201";
    const ID_NUMBER: &str = "11010519491231002X";

    async fn database(dir: &std::path::Path) -> Db {
        crate::storage::db::test_sqlite(dir).await
    }

    async fn device(db: &Db) -> Device {
        let villages = vec![AreaCode::parse_village(VILLAGE).unwrap()];
        let (_, token) = crate::auth::add_device(db, "phone", &villages)
            .await
            .unwrap();
        crate::auth::device_by_token(db, &token)
            .await
            .unwrap()
            .unwrap()
    }

    /// A household as a phone records it: a head with an ID number and health.
    fn recorded() -> (HouseholdId, AutoCommit) {
        let id = HouseholdId::from_random([9; 16]);
        let mut doc = AutoCommit::new();
        let village = AreaCode::parse_village(VILLAGE).unwrap();
        layout::init_household(&mut doc, &id, &village, "0042", 1_700_000_000).unwrap();
        doc.commit();
        let key = MemberKey::from_random([4; 16]);
        for (name, value) in [
            ("name", FieldValue::Text("王芳".to_owned())),
            ("id_number", FieldValue::Text(ID_NUMBER.to_owned())),
            ("health", FieldValue::Codes(["04".to_owned()].into())),
        ] {
            let path = FieldPath::member(&key, name).unwrap();
            layout::write_field(&mut doc, &path, Some(&value)).unwrap();
            doc.commit();
        }
        (id, doc)
    }

    fn upload(id: &HouseholdId, doc: &mut AutoCommit) -> Upload {
        Upload {
            household: id.to_string(),
            changes: doc
                .get_changes(&[])
                .iter()
                .map(|c| Bytes::from(c.raw_bytes().to_vec()))
                .collect(),
        }
    }

    fn holds(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    }

    /// Every stored byte a document and its register rows left, read back raw.
    async fn stored_bytes(db: &Db) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        for sql in [
            "SELECT bytes AS b FROM change",
            "SELECT snapshot AS b FROM document WHERE snapshot IS NOT NULL",
            "SELECT id_number_sealed AS b FROM member",
        ] {
            for row in sqlx::query(sql).fetch_all(&db.pool).await.unwrap() {
                out.push(row.try_get::<Vec<u8>, _>("b").unwrap());
            }
        }
        for sql in [
            "SELECT search_text AS t FROM household",
            "SELECT id_number_hash AS t FROM member",
        ] {
            for row in sqlx::query(sql).fetch_all(&db.pool).await.unwrap() {
                out.push(row.try_get::<String, _>("t").unwrap().into_bytes());
            }
        }
        out
    }

    #[tokio::test]
    async fn test_ingest_and_compaction_store_only_sealed_bytes_that_read_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path()).await;
        let vault = Vault::generate();
        let ledger = Ledger::new(db.clone(), vault.clone());
        let device = device(&db).await;
        let (id, mut doc) = recorded();
        let plain: Vec<u8> = doc
            .get_changes(&[])
            .iter()
            .flat_map(|c| c.raw_bytes().to_vec())
            .collect();
        assert!(
            holds(&plain, ID_NUMBER),
            "the phone's changes hold the number in the clear"
        );

        let outcomes = ledger
            .apply_uploads(&device, "127.0.0.1", &[upload(&id, &mut doc)])
            .await
            .unwrap();
        assert!(
            matches!(outcomes[..], [UploadOutcome::Accepted { .. }]),
            "{outcomes:?}"
        );
        // A later edit, then the document as if stored before ingest kept snapshots, so that
        // compaction has something to fold.
        let path = FieldPath::household("poverty_attribute").unwrap();
        layout::write_field(&mut doc, &path, Some(&FieldValue::Text("2".to_owned()))).unwrap();
        doc.commit();
        ledger
            .apply_uploads(&device, "127.0.0.1", &[upload(&id, &mut doc)])
            .await
            .unwrap();
        sqlx::query("UPDATE document SET changes_after_snapshot = $1")
            .bind(COMPACT_AFTER_CHANGES)
            .execute(&db.pool)
            .await
            .unwrap();
        assert_eq!(ledger.compact().await.unwrap(), 1);

        let stored = stored_bytes(&db).await;
        assert!(stored.len() >= 6, "{} values", stored.len());
        for value in &stored {
            assert!(!holds(value, ID_NUMBER) && !holds(value, &ID_NUMBER[..17]));
            assert!(
                !value.starts_with(&AUTOMERGE_MAGIC),
                "an Automerge chunk in the clear"
            );
        }

        // A fresh server reads it all back through the key, and only through the key.
        let fresh = Ledger::new(db.clone(), vault.clone());
        let (_, view) = fresh.read(id.as_str()).await.unwrap().unwrap();
        assert_eq!(
            view.members.values().next().unwrap()["id_number"]
                .value
                .display(),
            ID_NUMBER
        );
        assert_eq!(view.household_text("poverty_attribute"), Some("2"));
        let stranger = Ledger::new(db.clone(), Vault::generate());
        assert!(matches!(
            stranger.read(id.as_str()).await,
            Err(LedgerError::Vault(VaultError::UnknownKey(_)))
        ));

        // The feed and the first download hand devices the plain bytes again.
        let (updates, _, _) = fresh
            .feed_page(&device, "another", None, u32::MAX)
            .await
            .unwrap();
        let Payload::Document(bytes) = &updates[0].payload else {
            panic!("a first download sends documents");
        };
        let downloaded =
            layout::read_household(AutoCommit::load(bytes).unwrap().document()).unwrap();
        assert_eq!(downloaded, view);
        let (updates, _, _) = fresh
            .feed_page(
                &device,
                "another",
                Some(Cursor {
                    feed: 0,
                    download_after: None,
                }),
                u32::MAX,
            )
            .await
            .unwrap();
        let Payload::Changes(changes) = &updates[0].payload else {
            panic!("the feed sends changes");
        };
        let sent: Vec<u8> = changes.iter().flat_map(|c| c.to_vec()).collect();
        assert_eq!(sent, plain_after(&mut doc));

        // Search by a whole ID number goes through the hash; part of one finds nothing.
        let area = AreaCode::parse(VILLAGE).unwrap();
        let found = register::list(&db.pool, &vault, &area, Some("11010519491231002x"), 10, 0)
            .await
            .unwrap();
        assert_eq!(found.total, 1);
        let part = register::list(&db.pool, &vault, &area, Some("19491231"), 10, 0)
            .await
            .unwrap();
        assert_eq!(part.total, 0);
        let name = register::list(&db.pool, &vault, &area, Some("王"), 10, 0)
            .await
            .unwrap();
        assert_eq!(name.total, 1);
    }

    fn plain_after(doc: &mut AutoCommit) -> Vec<u8> {
        doc.get_changes(&[])
            .iter()
            .flat_map(|c| c.raw_bytes().to_vec())
            .collect()
    }

    #[tokio::test]
    async fn test_a_database_with_documents_stored_in_the_clear_is_not_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let before = dir.path().join("before");
        std::fs::create_dir(&before).unwrap();
        let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
        for entry in std::fs::read_dir(&source).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            if name.as_str() < "0006" {
                std::fs::copy(entry.path(), before.join(&name)).unwrap();
            }
        }
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display());
        let db = Db::connect(&url).await.unwrap();
        sqlx::migrate::Migrator::new(before.as_path())
            .await
            .unwrap()
            .run(&db.pool)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO document (household_id, village, heads, last_feed, updated_at)
             VALUES ('h', $1, $2, 1, 0)",
        )
        .bind(VILLAGE)
        .bind(Vec::<u8>::new())
        .execute(&db.pool)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO change (household_id, hash, actor, bytes, received_at)
             VALUES ('h', $1, 'a', $2, 0)",
        )
        .bind(vec![1u8; 32])
        .bind(AUTOMERGE_MAGIC.to_vec())
        .execute(&db.pool)
        .await
        .unwrap();
        let refused = db.migrate().await.unwrap_err().to_string();
        assert!(refused.contains("re-create this database"), "{refused}");
    }

    async fn change_rows(db: &Db) -> i64 {
        sqlx::query("SELECT COUNT(*) AS n FROM change")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .try_get("n")
            .unwrap()
    }

    /// Two phones' edits to one household: one merged outside the write order, the other
    /// written before the first takes it. The first is merged again on what is stored then,
    /// and neither edit is lost.
    #[tokio::test]
    async fn test_a_household_written_while_an_upload_was_merging_keeps_both_edits() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path()).await;
        let ledger = Ledger::new(db.clone(), Vault::generate());
        let device = device(&db).await;
        let (id, mut doc) = recorded();
        ledger
            .apply_uploads(&device, "127.0.0.1", &[upload(&id, &mut doc)])
            .await
            .unwrap();
        let poverty = FieldPath::household("poverty_attribute").unwrap();
        let name = FieldPath::member(&MemberKey::from_random([4; 16]), "name").unwrap();
        let mut phone_a = doc.fork();
        layout::write_field(&mut phone_a, &poverty, Some(&FieldValue::Text("2".into()))).unwrap();
        phone_a.commit();
        let mut phone_b = doc.fork();
        layout::write_field(
            &mut phone_b,
            &name,
            Some(&FieldValue::Text("王芳芳".into())),
        )
        .unwrap();
        phone_b.commit();

        let batch_a = [upload(&id, &mut phone_a)];
        let prepared = ledger.prepare_batch(&device, &batch_a).await.unwrap();
        let b = ledger
            .apply_uploads(&device, "127.0.0.1", &[upload(&id, &mut phone_b)])
            .await
            .unwrap();
        let a = ledger
            .commit_batch(&device, "127.0.0.1", &batch_a, prepared)
            .await
            .unwrap();
        for outcomes in [&a, &b] {
            assert!(
                matches!(outcomes[..], [UploadOutcome::Accepted { .. }]),
                "{outcomes:?}"
            );
        }

        // Through this server's cache, through a fresh one, and in the register.
        let fresh = Ledger::new(db.clone(), ledger.vault().clone());
        for ledger in [&ledger, &fresh] {
            let (_, view) = ledger.read(id.as_str()).await.unwrap().unwrap();
            assert_eq!(view.household_text("poverty_attribute"), Some("2"));
            let named = view.field(&name).map(|f| f.value.clone());
            assert_eq!(named, Some(FieldValue::Text("王芳芳".into())));
        }
        let registered: String = sqlx::query("SELECT name FROM member")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .try_get("name")
            .unwrap();
        assert_eq!(registered, "王芳芳");
        let mut both = phone_a.fork();
        both.merge(&mut phone_b).unwrap();
        assert_eq!(
            change_rows(&db).await,
            both.get_changes(&[]).len() as i64,
            "every change stored once"
        );
        let (_, mut stored) = fresh.document(id.as_str()).await.unwrap().unwrap();
        let mut heads = stored.get_heads();
        let mut expected = both.get_heads();
        heads.sort();
        expected.sort();
        assert_eq!(heads, expected);
    }

    /// A phone that retries a sync while the server still works on the first attempt (its
    /// answer lost on the way): both attempts merge a household the server does not have
    /// yet. The second finds it written by the first, and is told it is stored.
    #[tokio::test]
    async fn test_a_retry_that_overlaps_its_first_attempt_stores_the_household_once() {
        let dir = tempfile::tempdir().unwrap();
        let db = database(dir.path()).await;
        let ledger = Ledger::new(db.clone(), Vault::generate());
        let device = device(&db).await;
        let (id, mut doc) = recorded();
        let batch = [upload(&id, &mut doc)];

        let retry = ledger.prepare_batch(&device, &batch).await.unwrap();
        let first = ledger
            .apply_uploads(&device, "127.0.0.1", &batch)
            .await
            .unwrap();
        let second = ledger
            .commit_batch(&device, "127.0.0.1", &batch, retry)
            .await
            .unwrap();
        assert_eq!(first, second);
        assert!(
            matches!(second[..], [UploadOutcome::Accepted { .. }]),
            "{second:?}"
        );
        assert_eq!(change_rows(&db).await, doc.get_changes(&[]).len() as i64);
        let households: i64 = sqlx::query("SELECT COUNT(*) AS n FROM household")
            .fetch_one(&db.pool)
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
        assert_eq!(households, 1);
    }
}
