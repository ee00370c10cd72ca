//! Documents kept materialised as of now, updated incrementally.
//!
//! The writer tells the cache about every stored batch
//! ([`DocumentCache::note`], cheap: it only files the new change deltas of
//! cached documents as pending). A read ([`DocumentCache::get`]) applies a
//! cached document's pending changes (those visible now) and answers; a
//! document not cached, or made stale, is built from its visible changes.
//! A batch holding a negation or a transaction delta can hide or reveal
//! older changes, so it makes every cached document it touches stale.
//! At most `capacity` documents are kept (least recently used first out).

use std::sync::Arc;

use foldhash::HashMap;

use super::form::is_change_delta;
use super::materialise::Document;
use crate::changes::ChangeSet;
use crate::delta_set::DeltaSet;
use crate::{Delta, Timestamp};

#[derive(Debug)]
struct Entry {
    doc: Document,
    /// New change deltas filed here since the last read.
    pending: Vec<Arc<Delta>>,
    /// A negation or transaction touched it: rebuild at the next read.
    stale: bool,
    used: u64,
}

/// Materialised documents as of now (see the [module documentation](self)).
///
/// ```
/// use automerge::{AutoCommit, transaction::Transactable};
/// use rhizome_crdt::DeltaSet;
/// use rhizome_crdt::document::{DocumentCache, change_delta};
///
/// let mut set = DeltaSet::new();
/// let mut cache = DocumentCache::new(8);
/// let mut am = AutoCommit::new();
/// for (i, key) in ["a", "b"].into_iter().enumerate() {
///     am.put(automerge::ROOT, key, i as i64).unwrap();
///     let change = am.get_last_local_change().unwrap();
///     let delta = std::sync::Arc::new(change_delta("e", "p", &change, "me").unwrap());
///     let inserted = set.insert(delta.clone()).unwrap();
///     cache.note(&[delta], &inserted.changed);
///     let doc = cache.get(&set, "e", "p").unwrap();
///     assert_eq!(doc.json()[key], i);
/// }
/// assert_eq!(cache.builds, 1); // built once, then updated
/// ```
#[derive(Debug)]
pub struct DocumentCache {
    capacity: usize,
    /// entity → property → entry.
    entries: HashMap<Arc<str>, HashMap<Arc<str>, Entry>>,
    len: usize,
    tick: u64,
    /// Reads answered from a cached document.
    pub hits: u64,
    /// Documents built from their changes (first read, stale, evicted).
    pub builds: u64,
}

impl DocumentCache {
    /// A cache of at most `capacity` documents (0: nothing is kept).
    pub fn new(capacity: usize) -> Self {
        DocumentCache {
            capacity,
            entries: HashMap::default(),
            len: 0,
            tick: 0,
            hits: 0,
            builds: 0,
        }
    }

    /// Documents cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no document is cached.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// An estimate of the memory the cached documents hold, in bytes.
    pub fn approx_bytes(&self) -> usize {
        self.entries
            .values()
            .flat_map(|m| m.values())
            .map(|e| e.doc.approx_bytes())
            .sum()
    }

    /// Takes note of a stored batch: `new` are its new deltas, `changed`
    /// what they changed (from [`crate::Inserted::changed`]).
    pub fn note(&mut self, new: &[Arc<Delta>], changed: &ChangeSet) {
        if self.len == 0 {
            return;
        }
        let upsets = new.iter().any(|d| {
            d.is_negation() || d.transaction().is_some() || d.transaction_size().is_some()
        });
        if upsets {
            for (entity, property) in changed.iter() {
                if let Some(e) = self.entry_mut(entity, property) {
                    e.stale = true;
                    e.pending.clear();
                }
            }
        }
        for d in new {
            if !is_change_delta(d) {
                continue;
            }
            for (entity, context) in d.references() {
                if let Some(property) = context
                    && let Some(e) = self.entry_mut(entity, property)
                    && !e.stale
                {
                    e.pending.push(Arc::clone(d));
                }
            }
        }
    }

    fn entry_mut(&mut self, entity: &str, property: &str) -> Option<&mut Entry> {
        self.entries.get_mut(entity)?.get_mut(property)
    }

    /// The document of (`entity`, `property`) now, from the cache (brought
    /// up to date) or built from `set` and cached. `None` when no change
    /// delta is visible there.
    pub fn get(&mut self, set: &DeltaSet, entity: &str, property: &str) -> Option<&Document> {
        self.tick += 1;
        let tick = self.tick;
        let fresh = self.entry_mut(entity, property).is_some_and(|e| !e.stale);
        if fresh {
            self.hits += 1;
            let e = self.entry_mut(entity, property)?;
            e.used = tick;
            if !e.pending.is_empty() {
                let pending = std::mem::take(&mut e.pending);
                let visible = pending
                    .iter()
                    .filter(|d| set.is_visible(d.id().as_str(), None))
                    .map(|d| &**d);
                e.doc.apply_deltas(visible);
            }
            return self.entries.get(entity)?.get(property).map(|e| &e.doc);
        }
        self.remove(entity, property);
        let doc = Document::of_property(set, entity, property, None)?;
        self.builds += 1;
        if self.capacity == 0 {
            return None;
        }
        while self.len >= self.capacity {
            self.evict_one();
        }
        let entry = Entry {
            doc,
            pending: Vec::new(),
            stale: false,
            used: tick,
        };
        let map = self.entries.entry(Arc::from(entity)).or_default();
        map.insert(Arc::from(property), entry);
        self.len += 1;
        self.entries.get(entity)?.get(property).map(|e| &e.doc)
    }

    /// Runs `f` over the document of (`entity`, `property`) as of `as_of`:
    /// now from the cache ([`DocumentCache::get`]), at an earlier time
    /// built for this call. `None` when no change delta is visible there.
    pub fn with<R>(
        &mut self,
        set: &DeltaSet,
        entity: &str,
        property: &str,
        as_of: Option<Timestamp>,
        f: impl FnOnce(&Document) -> R,
    ) -> Option<R> {
        match as_of {
            None => {
                if self.capacity == 0 {
                    return Document::of_property(set, entity, property, None).map(|d| f(&d));
                }
                self.get(set, entity, property).map(f)
            }
            Some(_) => Document::of_property(set, entity, property, as_of).map(|d| f(&d)),
        }
    }

    fn remove(&mut self, entity: &str, property: &str) {
        if let Some(map) = self.entries.get_mut(entity)
            && map.remove(property).is_some()
        {
            self.len -= 1;
            if map.is_empty() {
                self.entries.remove(entity);
            }
        }
    }

    fn evict_one(&mut self) {
        let oldest = self
            .entries
            .iter()
            .flat_map(|(e, m)| {
                m.iter()
                    .map(move |(p, x)| (x.used, Arc::clone(e), Arc::clone(p)))
            })
            .min_by_key(|(used, _, _)| *used);
        match oldest {
            Some((_, e, p)) => self.remove(&e, &p),
            None => self.len = 0,
        }
    }

    /// Forgets every document.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.len = 0;
    }
}
