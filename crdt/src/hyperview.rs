//! The hyperview of an entity: per property, the visible deltas filed under it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::Delta;

/// The hyperview of one entity (API.md §2): for each property, the visible
/// deltas that contain a reference to the entity with that context, each
/// once, ordered by `(timeCreated, id)`; properties sorted by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Hyperview {
    /// The entity.
    pub id: Arc<str>,
    /// Property name → visible deltas filed under it, in `(timeCreated, id)` order.
    pub properties: BTreeMap<Arc<str>, Vec<Arc<Delta>>>,
}

impl Hyperview {
    /// Whether the entity exists: some delta is visible under some property.
    pub fn exists(&self) -> bool {
        self.properties.values().any(|d| !d.is_empty())
    }
}
