//! Live materialized views: a bounded LRU cache of resolved views that is
//! never stale.
//!
//! Entries are keyed by (entity, schema, view options) and hold the view
//! as of now (time-travel answers are not cached: they never change, and
//! are rarely asked twice). Each entry remembers every entity its answer
//! read ([`crate::schema::Expansion::read`]: the entity, every referenced
//! entity whose existence was checked, every nested entity, and the
//! `_schema/NAME` entities of the schemas used). After each stored batch,
//! [`ViewCache::apply`] drops every entry that read an entity of the
//! batch's [`ChangeSet`], so changes in nested entities and schema
//! (re)registrations invalidate what they affect, and nothing else.
//!
//! The caller passes the [`SchemaRegistry`] in effect (rebuilt when a
//! `_schema/` entity changes) and a resolver matching the options of the
//! key.
//!
//! ```
//! use rhizome_crdt::schema::SchemaRegistry;
//! use rhizome_crdt::view_cache::ViewCache;
//! use rhizome_crdt::{Delta, DeltaSet, ViewOptions, ViewResolver};
//!
//! let mut set = DeltaSet::new();
//! let mut cache = ViewCache::new(1000);
//! let (schemas, options, resolver) = (SchemaRegistry::new(), ViewOptions::default(), ViewResolver::default());
//! let d = Delta::builder("c", "h").id("d1").timestamp(1).set_property("a", "name", "A").build()?;
//! cache.apply(&set.insert(d)?.changed);
//! let first = cache.view(&set, &schemas, "a", None, &options, &resolver)?.unwrap();
//! let again = cache.view(&set, &schemas, "a", None, &options, &resolver)?.unwrap();
//! assert_eq!((cache.hits, cache.misses), (1, 1));
//! let d = Delta::builder("c", "h").id("d2").timestamp(2).set_property("a", "name", "B").build()?;
//! cache.apply(&set.insert(d)?.changed);
//! let fresh = cache.view(&set, &schemas, "a", None, &options, &resolver)?.unwrap();
//! assert_eq!(fresh.properties["name"], "B".into());
//! # let _ = (first, again);
//! # Ok::<(), rhizome_crdt::Error>(())
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use foldhash::{HashMap, HashSet};

use crate::schema::{Expander, SchemaRegistry};
use crate::view::{View, ViewOptions};
use crate::{ChangeSet, DeltaSet, Result, ViewResolver};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    entity: Arc<str>,
    schema: Option<Arc<str>>,
    options: ViewOptions,
}

#[derive(Debug)]
struct Entry {
    key: Key,
    /// `None`: the entity does not exist (or its projection is empty).
    view: Option<Arc<View>>,
    read: Vec<Arc<str>>,
    tick: u64,
}

/// A bounded LRU cache of views (see the [module documentation](self)).
#[derive(Debug)]
pub struct ViewCache {
    capacity: usize,
    tick: u64,
    next_id: u64,
    ids: HashMap<Key, u64>,
    entries: HashMap<u64, Entry>,
    /// Least recently used first: tick → entry id.
    lru: BTreeMap<u64, u64>,
    /// Entity → entries that read it.
    readers: HashMap<Arc<str>, HashSet<u64>>,
    /// Answers served from the cache.
    pub hits: u64,
    /// Answers computed (and cached).
    pub misses: u64,
    /// Entries dropped because something they read changed.
    pub invalidations: u64,
    /// Entries dropped to stay within capacity.
    pub evictions: u64,
}

impl ViewCache {
    /// A cache holding at most `capacity` views (at least one).
    pub fn new(capacity: usize) -> ViewCache {
        ViewCache {
            capacity: capacity.max(1),
            tick: 0,
            next_id: 0,
            ids: HashMap::default(),
            entries: HashMap::default(),
            lru: BTreeMap::new(),
            readers: HashMap::default(),
            hits: 0,
            misses: 0,
            invalidations: 0,
            evictions: 0,
        }
    }

    /// How many views are cached.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The view of `entity` now under `schema` and `options` (resolved by
    /// `resolver`, which must be `options`' resolver): from the cache, or
    /// computed and cached. `Ok(None)` is a 404 (see [`Expander::view`]);
    /// errors (an unknown schema) are not cached.
    pub fn view(
        &mut self,
        set: &DeltaSet,
        schemas: &SchemaRegistry,
        entity: &str,
        schema: Option<&str>,
        options: &ViewOptions,
        resolver: &ViewResolver,
    ) -> Result<Option<Arc<View>>> {
        let key = Key {
            entity: Arc::from(entity),
            schema: schema.map(Arc::from),
            options: options.clone(),
        };
        self.tick += 1;
        if let Some(&id) = self.ids.get(&key)
            && let Some(entry) = self.entries.get_mut(&id)
        {
            self.lru.remove(&entry.tick);
            entry.tick = self.tick;
            self.lru.insert(self.tick, id);
            self.hits += 1;
            return Ok(entry.view.clone());
        }
        self.misses += 1;
        let expansion = Expander::new(set, schemas, None).view(entity, schema, resolver)?;
        let (view, read) = match expansion {
            Some(e) => (Some(Arc::new(e.value)), e.read.into_iter().collect()),
            None => {
                // What a 404 depends on: the entity, and the schema.
                let mut read: Vec<Arc<str>> = vec![key.entity.clone()];
                if let Some(s) = schema {
                    read.push(crate::schema::registry::entity_of(s).into());
                }
                (None, read)
            }
        };
        while self.entries.len() >= self.capacity {
            let Some((_, oldest)) = self.lru.pop_first() else {
                break;
            };
            self.remove(oldest);
            self.evictions += 1;
        }
        let id = self.next_id;
        self.next_id += 1;
        for entity in &read {
            self.readers.entry(entity.clone()).or_default().insert(id);
        }
        self.ids.insert(key.clone(), id);
        self.lru.insert(self.tick, id);
        self.entries.insert(
            id,
            Entry {
                key,
                view: view.clone(),
                read,
                tick: self.tick,
            },
        );
        Ok(view)
    }

    /// Drops every entry that read an entity of `changes` (call it with
    /// each stored batch's [`crate::Inserted::changed`]).
    pub fn apply(&mut self, changes: &ChangeSet) {
        for entity in changes.entities() {
            let Some(ids) = self.readers.remove(entity) else {
                continue;
            };
            for id in ids {
                if self.remove(id) {
                    self.invalidations += 1;
                }
            }
        }
    }

    /// Drops everything.
    pub fn clear(&mut self) {
        self.ids.clear();
        self.entries.clear();
        self.lru.clear();
        self.readers.clear();
    }

    fn remove(&mut self, id: u64) -> bool {
        let Some(entry) = self.entries.remove(&id) else {
            return false;
        };
        self.ids.remove(&entry.key);
        self.lru.remove(&entry.tick);
        for entity in &entry.read {
            if let Some(set) = self.readers.get_mut(entity) {
                set.remove(&id);
                if set.is_empty() {
                    self.readers.remove(entity);
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests;
