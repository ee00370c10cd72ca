//! The hyperview of an entity: per property, the visible deltas filed under it.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::delta_set::{DeltaSet, Slot};
use crate::symbols::Sym;
use crate::visibility::Visibility;
use crate::{Delta, Timestamp};

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
    ///
    /// Meaningful for a hyperview built without filters or projection (the
    /// entity exists "before any projection"); see [`DeltaSet::exists`].
    pub fn exists(&self) -> bool {
        self.properties.values().any(|d| !d.is_empty())
    }
}

/// What a hyperview query asks for. The default: everything, now.
///
/// Visibility is always judged at `as_of` over the whole set; `from`, `to`,
/// `creators`, `hosts` and `contexts` then only select among the visible
/// deltas (a negation by a creator filtered out still counts).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HyperviewOptions {
    /// Time travel: the answer as of this moment (`None`: now, i.e. infinity).
    pub as_of: Option<Timestamp>,
    /// Only deltas with `timeCreated >= from`.
    pub from: Option<Timestamp>,
    /// Only deltas with `timeCreated <= to`.
    pub to: Option<Timestamp>,
    /// Only deltas by one of these creators (`None`: any).
    pub creators: Option<Vec<Arc<str>>>,
    /// Only deltas made on one of these hosts (`None`: any).
    pub hosts: Option<Vec<Arc<str>>>,
    /// Projection: only these properties (`None`: all).
    pub contexts: Option<Vec<Arc<str>>>,
}

impl HyperviewOptions {
    /// Everything, as of `as_of` (`None`: now).
    pub fn as_of(as_of: Option<Timestamp>) -> Self {
        HyperviewOptions {
            as_of,
            ..Self::default()
        }
    }

    /// The latest `timeCreated` a delta may have to be considered.
    fn upper(&self) -> Option<Timestamp> {
        match (self.as_of, self.to) {
            (Some(a), Some(t)) => Some(a.min(t)),
            (a, t) => a.or(t),
        }
    }

    fn selects(&self, delta: &Delta) -> bool {
        let any = |list: &Option<Vec<Arc<str>>>, name: &str| {
            list.as_ref().is_none_or(|l| l.iter().any(|n| &**n == name))
        };
        any(&self.creators, delta.creator()) && any(&self.hosts, delta.host())
    }
}

impl DeltaSet {
    /// The hyperview of `entity` under `options` (API.md §2). An entity with
    /// no visible delta gives an empty hyperview ([`Hyperview::exists`] is
    /// false); properties with no visible delta are left out.
    pub fn hyperview(&self, entity: &str, options: &HyperviewOptions) -> Hyperview {
        let mut view = Hyperview {
            id: entity.into(),
            properties: BTreeMap::new(),
        };
        let Some(sym) = self.names.get(entity) else {
            return view;
        };
        view.id = self.names.name(sym).clone();
        let mut vis = Visibility::new(self, options.as_of);
        for &prop in self.properties.get(&sym).into_iter().flatten() {
            let name = self.names.name(prop);
            if let Some(only) = &options.contexts
                && !only.iter().any(|c| c == name)
            {
                continue;
            }
            let deltas = self.visible_filed(&mut vis, sym, prop, options);
            if !deltas.is_empty() {
                view.properties.insert(name.clone(), deltas);
            }
        }
        view
    }

    /// The slots filed under (entity, property) with `from <= timeCreated <=
    /// upper`, found by binary search in the sorted list.
    fn filed_between(
        &self,
        entity: Sym,
        prop: Sym,
        from: Option<Timestamp>,
        upper: Option<Timestamp>,
    ) -> &[Slot] {
        let Some(list) = self.filings.get(&(entity, prop)) else {
            return &[];
        };
        let time = |s: &Slot| self.entries[*s as usize].time;
        let start = from.map_or(0, |f| list.partition_point(|s| time(s) < f));
        let end = upper.map_or(list.len(), |u| list.partition_point(|s| time(s) <= u));
        list.get(start..end).unwrap_or(&[])
    }

    fn visible_filed(
        &self,
        vis: &mut Visibility<'_>,
        entity: Sym,
        prop: Sym,
        options: &HyperviewOptions,
    ) -> Vec<Arc<Delta>> {
        let slots = self.filed_between(entity, prop, options.from, options.upper());
        let filtered = options.creators.is_some() || options.hosts.is_some();
        let mut out = Vec::with_capacity(slots.len());
        for &slot in slots {
            if !vis.visible(slot) {
                continue;
            }
            if let Some(d) = self.delta_at(slot)
                && (!filtered || options.selects(d))
            {
                out.push(d.clone());
            }
        }
        out
    }

    /// Whether `entity` exists at `as_of` (`None`: now): some delta is
    /// visible under some property of it.
    pub fn exists(&self, entity: &str, as_of: Option<Timestamp>) -> bool {
        let Some(sym) = self.names.get(entity) else {
            return false;
        };
        let mut vis = Visibility::new(self, as_of);
        self.exists_sym(&mut vis, sym)
    }

    fn exists_sym(&self, vis: &mut Visibility<'_>, sym: Sym) -> bool {
        let as_of = vis.as_of();
        self.properties
            .get(&sym)
            .into_iter()
            .flatten()
            .any(|&prop| {
                self.filed_between(sym, prop, None, as_of)
                    .iter()
                    .any(|&s| vis.visible(s))
            })
    }

    /// The entities that exist at `as_of` (`None`: now), sorted by id (as
    /// bytes): at most `limit` of them, starting after `after`.
    pub fn entities(
        &self,
        as_of: Option<Timestamp>,
        after: Option<&str>,
        limit: Option<usize>,
    ) -> Vec<Arc<str>> {
        use std::ops::Bound;
        let start = match after {
            Some(a) => Bound::Excluded(a),
            None => Bound::Unbounded,
        };
        let mut vis = Visibility::new(self, as_of);
        let mut out = Vec::new();
        for name in self.entity_names.range::<str, _>((start, Bound::Unbounded)) {
            if limit.is_some_and(|l| out.len() >= l) {
                break;
            }
            if let Some(sym) = self.names.get(name)
                && self.exists_sym(&mut vis, sym)
            {
                out.push(name.clone());
            }
        }
        out
    }

    /// Whether the delta `id` is stored and visible as data at `as_of`
    /// (`None`: now).
    pub fn is_visible(&self, id: &str, as_of: Option<Timestamp>) -> bool {
        self.ids
            .get(id)
            .is_some_and(|&s| Visibility::new(self, as_of).visible(s))
    }

    /// Whether the delta `id` is stored and in effect at `as_of` (`None`:
    /// now): created by then, its transaction complete, not negated and not
    /// on a negation cycle. Unlike [`DeltaSet::is_visible`], negations can be
    /// in effect.
    pub fn is_in_effect(&self, id: &str, as_of: Option<Timestamp>) -> bool {
        self.ids
            .get(id)
            .is_some_and(|&s| Visibility::new(self, as_of).in_effect(s))
    }
}
