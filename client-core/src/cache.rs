//! A small least-recently-used cache of open household documents.
//!
//! Documents live in SQLite; the cache only spares re-loading the few a volunteer is working
//! on. Its size is fixed, so memory does not grow with the number of households stored.

use automerge::AutoCommit;
use std::collections::HashMap;

#[derive(Debug)]
pub struct DocCache {
    capacity: usize,
    tick: u64,
    entries: HashMap<String, (AutoCommit, u64)>,
}

impl DocCache {
    pub fn new(capacity: usize) -> Self {
        DocCache {
            capacity: capacity.max(1),
            tick: 0,
            entries: HashMap::new(),
        }
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut AutoCommit> {
        self.tick += 1;
        let tick = self.tick;
        self.entries.get_mut(id).map(|(doc, used)| {
            *used = tick;
            doc
        })
    }

    pub fn insert(&mut self, id: String, doc: AutoCommit) -> &mut AutoCommit {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&id) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(key, _)| key.clone());
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.tick += 1;
        let entry = self.entries.entry(id).or_insert((doc, 0));
        entry.1 = self.tick;
        &mut entry.0
    }

    /// Drops a document whose in-memory state may be ahead of what was saved.
    pub fn evict(&mut self, id: &str) {
        self.entries.remove(id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cache_never_holds_more_than_its_capacity() {
        let mut cache = DocCache::new(2);
        cache.insert("a".into(), AutoCommit::new());
        cache.insert("b".into(), AutoCommit::new());
        assert!(cache.get_mut("a").is_some());
        cache.insert("c".into(), AutoCommit::new());
        assert_eq!(cache.len(), 2);
        assert!(
            cache.get_mut("b").is_none(),
            "the least recently used one goes"
        );
        assert!(cache.get_mut("a").is_some());
        assert!(cache.get_mut("c").is_some());
    }
}
