//! The ledger: the server's household documents, their changes and the feed.
//!
//! A document is stored as a snapshot plus the change rows after it. Every change is stored
//! once, keyed by its hash, with a feed position that orders the feed. Storing changes and
//! rewriting the household's register rows happen in the caller's transaction, so a query
//! never sees a half-merged household.
//!
//! Writes keep the snapshot fresh: it is written when a document is created and whenever
//! the rows after it reach [`COMPACT_AFTER_CHANGES`], so loading a document is one
//! `AutoCommit::load` and a few changes, never a replay of its whole history. Rows are read
//! and written for many households per statement, because on both backends the round trip
//! of a statement costs more than the work it does.
//!
//! What is stored is sealed ([`Vault`]): every change row and every snapshot holds ID
//! numbers, health and poverty status, so none is written in the clear. The change hash
//! stays readable, since it is what makes storing a change idempotent; it reveals nothing
//! without the change.
//!
//! The files: `rows` reads document and change rows; `load` turns them into documents;
//! `cache` keeps documents between requests; `write` stores new changes with their document
//! and register rows; `feed` hands devices the feed and their first download; `compaction`
//! folds change rows into snapshots.

mod cache;
mod compaction;
mod feed;
mod load;
mod rows;
mod write;

pub(crate) use cache::ToCache;
pub(crate) use load::Source;
pub(crate) use rows::{DocumentRead, StoredDocument, document_rows, stored_hashes};
pub use write::ServerWrite;
pub(crate) use write::{HouseholdWrite, NewChange, write_households};

use crate::clock::Clock;
use crate::storage::db::Db;
use crate::storage::vault::{Vault, VaultError};
use cache::Cached;
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::Mutex;

/// Documents kept in memory between requests. A cache only: every server reloads from the
/// database when another server changed the document.
pub(crate) const CACHE_CAPACITY: usize = 256;
/// Change rows after which a document is folded into a new snapshot, when it is written or
/// by background compaction.
pub(crate) const COMPACT_AFTER_CHANGES: i64 = 32;

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

/// The household documents, their cache, and the server's clock.
#[derive(Debug)]
pub struct Ledger {
    db: Db,
    vault: Vault,
    clock: Clock,
    cache: Mutex<LruCache<String, Cached>>,
    /// Held while an ingest batch merges on every core (`ingest::merge`).
    cores: tokio::sync::Semaphore,
}

impl Ledger {
    pub fn new(db: Db, vault: Vault, clock: Clock) -> Ledger {
        let capacity = NonZeroUsize::new(CACHE_CAPACITY).unwrap_or(NonZeroUsize::MIN);
        Ledger {
            db,
            vault,
            clock,
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

    /// Where every time the server stores or checks comes from.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// One batch of ingest merges on every core at a time: batches then finish merging in
    /// the order they came, and the merge blocks one async worker, never every one.
    pub(crate) fn cores(&self) -> &tokio::sync::Semaphore {
        &self.cores
    }
}

#[cfg(test)]
mod tests;
