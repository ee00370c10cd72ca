//! The in-memory index of every stored delta, by id.
//!
//! A stand-in for `rhizome_crdt::DeltaSet` (being written in parallel): the
//! same method names and shapes, so swapping it in touches little.

use std::collections::HashMap;
use std::sync::Arc;

use rhizome_crdt::{Delta, DeltaId};

/// What [`DeltaIndex::insert_batch`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Ids that were new, in batch order.
    pub new: Vec<DeltaId>,
    /// Ids that were already present with the same content.
    pub duplicates: Vec<DeltaId>,
}

/// Every stored delta, by id.
#[derive(Debug, Default)]
pub struct DeltaIndex {
    by_id: HashMap<DeltaId, Arc<Delta>>,
}

impl DeltaIndex {
    /// An empty index.
    pub fn new() -> Self {
        DeltaIndex::default()
    }

    /// Adds `deltas`. Content already present is reported as a duplicate.
    /// The writer checks conflicts before anything reaches the index; a
    /// conflicting delta here keeps the stored one and is reported as a
    /// duplicate (the index never holds two deltas with one id).
    pub fn insert_batch(&mut self, deltas: Vec<Arc<Delta>>) -> Inserted {
        let mut out = Inserted::default();
        self.by_id.reserve(deltas.len());
        for d in deltas {
            match self.by_id.entry(d.id().clone()) {
                std::collections::hash_map::Entry::Occupied(_) => {
                    out.duplicates.push(d.id().clone());
                }
                std::collections::hash_map::Entry::Vacant(v) => {
                    out.new.push(d.id().clone());
                    v.insert(d);
                }
            }
        }
        out
    }

    /// The delta with `id`.
    pub fn get(&self, id: &str) -> Option<&Arc<Delta>> {
        self.by_id.get(id)
    }

    /// How many deltas the index holds.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Every delta, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Delta>> {
        self.by_id.values()
    }
}
