//! Documents kept in memory between requests, each with the feed position it is current at.

use super::{CACHE_CAPACITY, Ledger};
use automerge::AutoCommit;
use std::collections::VecDeque;

#[derive(Debug)]
pub(super) struct Cached {
    doc: AutoCommit,
    last_feed: i64,
}

impl Ledger {
    /// A household's cached document, taken out of the cache, if it is current at
    /// `last_feed` (the document row's).
    pub(crate) fn take_cached(&self, household: &str, last_feed: i64) -> Option<AutoCommit> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache
            .pop(household)
            .filter(|cached| cached.last_feed == last_feed)
            .map(|cached| cached.doc)
    }

    pub(crate) fn put_cached(&self, household: &str, doc: AutoCommit, last_feed: i64) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.put(household.to_owned(), Cached { doc, last_feed });
    }

    /// Caches the documents a write loaded, once its transaction has committed.
    pub(crate) fn cache_all(&self, documents: ToCache) {
        for document in documents.0 {
            self.put_cached(&document.household, document.doc, document.last_feed);
        }
    }
}

/// A document to cache once the transaction that wrote it commits.
struct ToCacheEntry {
    household: String,
    doc: AutoCommit,
    last_feed: i64,
}

/// The documents a write loads, for the cache once the transaction commits; only as many as
/// the cache holds, so a huge request does not keep every document it touched.
#[derive(Default)]
pub(crate) struct ToCache(VecDeque<ToCacheEntry>);

impl ToCache {
    pub(crate) fn push(&mut self, household: String, doc: AutoCommit, last_feed: i64) {
        if self.0.len() == CACHE_CAPACITY {
            self.0.pop_front();
        }
        self.0.push_back(ToCacheEntry {
            household,
            doc,
            last_feed,
        });
    }
}
