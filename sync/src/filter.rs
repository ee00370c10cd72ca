//! Partial replication: reconciling only the deltas a filter selects.
//!
//! A node may declare a [`SyncFilter`] (entities, creators); with it, only
//! matching deltas are exchanged. Both sides keep a [`DeltaIndex`] of the
//! subset of their deltas that match the filter and reconcile those indexes
//! as they would whole sets: since the filter is a pure function of a delta,
//! both sides select the same subset of the union, and the protocol needs
//! nothing more. The filter travels before the exchange (it is serde), the
//! transport's business.

use std::collections::BTreeSet;

use rhizome_crdt::Delta;
use serde::{Deserialize, Serialize};

use crate::fingerprint_tree::FingerprintTree;

/// Which deltas to exchange: those whose creator is one of `creators` (any
/// creator when `None`) and that reference one of `entities` in a pointer
/// (any delta when `None`). The default selects every delta.
///
/// A negation references the delta it negates, not that delta's entity: to
/// replicate the negations of an entity's deltas, a filter must name
/// entities the negations reference (a limitation of filtering by content).
///
/// ```
/// use rhizome_crdt::{Delta, Target};
/// use rhizome_sync::SyncFilter;
///
/// let about_alice = Delta::builder("bob", "node-b").id("d1").timestamp(1)
///     .pointer("person", Target::reference("alice", "name")).pointer("name", "Alice").build()?;
/// let filter = SyncFilter::default().with_entities(["alice"]);
/// assert!(filter.matches(&about_alice));
/// assert!(!SyncFilter::default().with_entities(["carol"]).matches(&about_alice));
/// assert!(!filter.clone().with_creators(["carol"]).matches(&about_alice));
/// assert!(SyncFilter::default().matches(&about_alice));
/// # Ok::<(), rhizome_crdt::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncFilter {
    /// Entity ids a delta must reference (one is enough); `None`: any.
    pub entities: Option<BTreeSet<String>>,
    /// Creators a delta must have; `None`: any.
    pub creators: Option<BTreeSet<String>>,
}

impl SyncFilter {
    /// This filter, restricted to deltas referencing one of `entities`.
    pub fn with_entities<S: Into<String>>(mut self, entities: impl IntoIterator<Item = S>) -> Self {
        self.entities = Some(entities.into_iter().map(Into::into).collect());
        self
    }

    /// This filter, restricted to deltas by one of `creators`.
    pub fn with_creators<S: Into<String>>(mut self, creators: impl IntoIterator<Item = S>) -> Self {
        self.creators = Some(creators.into_iter().map(Into::into).collect());
        self
    }

    /// Whether the filter selects every delta.
    pub fn is_all(&self) -> bool {
        self.entities.is_none() && self.creators.is_none()
    }

    /// Whether `delta` is to be exchanged.
    pub fn matches(&self, delta: &Delta) -> bool {
        let creator_ok = self
            .creators
            .as_ref()
            .is_none_or(|creators| creators.contains(delta.creator()));
        creator_ok
            && self
                .entities
                .as_ref()
                .is_none_or(|entities| delta.references().any(|(id, _)| entities.contains(id)))
    }
}

/// The fingerprint index of the deltas a [`SyncFilter`] selects: what a side
/// reconciles with a peer that declared the filter.
///
/// ```
/// use rhizome_crdt::Delta;
/// use rhizome_sync::{DeltaIndex, SyncFilter};
///
/// let mut index = DeltaIndex::new(SyncFilter::default().with_creators(["alice"]));
/// let by_alice = Delta::builder("alice", "h").id("d1").timestamp(1).build()?;
/// let by_bob = Delta::builder("bob", "h").id("d2").timestamp(1).build()?;
/// assert!(index.insert(&by_alice));
/// assert!(!index.insert(&by_bob));
/// assert!(!index.insert(&by_alice));
/// assert_eq!(index.tree().len(), 1);
/// # Ok::<(), rhizome_crdt::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct DeltaIndex {
    filter: SyncFilter,
    tree: FingerprintTree,
}

impl DeltaIndex {
    /// An empty index of the deltas `filter` selects.
    pub fn new(filter: SyncFilter) -> DeltaIndex {
        DeltaIndex {
            filter,
            tree: FingerprintTree::new(),
        }
    }

    /// The index of the deltas of `deltas` that `filter` selects, built in
    /// one go.
    pub fn from_deltas<'a>(
        filter: SyncFilter,
        deltas: impl IntoIterator<Item = &'a Delta>,
    ) -> Self {
        let tree = FingerprintTree::from_items(
            deltas
                .into_iter()
                .filter(|delta| filter.matches(delta))
                .map(|delta| {
                    (
                        crate::SyncItem::sync_key(delta),
                        crate::SyncItem::sync_hash(delta),
                    )
                }),
        );
        DeltaIndex { filter, tree }
    }

    /// Adds `delta` if the filter selects it and it is new; whether it was
    /// added.
    pub fn insert(&mut self, delta: &Delta) -> bool {
        self.filter.matches(delta) && self.tree.insert(delta)
    }

    /// The filter.
    pub fn filter(&self) -> &SyncFilter {
        &self.filter
    }

    /// The tree to reconcile with.
    pub fn tree(&self) -> &FingerprintTree {
        &self.tree
    }
}
