//! The delta set: Rhizome's CRDT. A grow-only set of immutable deltas, merged
//! by set union, with the indexes every query needs.
//!
//! Inserting is idempotent (the same delta twice is stored once) and
//! all-or-nothing per batch; the same id with other content is an
//! [`Error::Conflict`]. Every query answer (hyperviews, entity lists,
//! transaction states) is a function of the set alone: arrival order and
//! duplicates never change it.
//!
//! ```
//! use rhizome_crdt::{Delta, DeltaId, DeltaSet, HyperviewOptions, Pointer, Target, Timestamp};
//!
//! let name = Delta::new(
//!     DeltaId::new("d1")?,
//!     Timestamp::new(1_700_000_000_000)?,
//!     "node-a",
//!     "alice",
//!     vec![
//!         Pointer::new("entity", Target::reference("alice", "name")),
//!         Pointer::new("name", "Alice"),
//!     ],
//! )?;
//! let mut set = DeltaSet::new();
//! let inserted = set.insert(name.clone())?;
//! assert_eq!(inserted.accepted.len(), 1);
//! assert!(inserted.changed.contains("alice", "name"));
//! // Stored once.
//! assert_eq!(set.insert(name)?.duplicates.len(), 1);
//! assert_eq!(set.len(), 1);
//!
//! let view = set.hyperview("alice", &HyperviewOptions::default());
//! assert!(view.exists());
//! assert_eq!(view.properties["name"].len(), 1);
//! # Ok::<(), rhizome_crdt::Error>(())
//! ```
//!
//! ## Indexes
//!
//! Names (entity ids, contexts, roles, creators, hosts) are interned: the set
//! keeps one copy of each and rewrites the deltas it owns to share it. Every
//! delta id known to the set (stored, or named by a negation) has a *slot*, a
//! `u32`; the indexes hold slots and interned symbols, not strings:
//!
//! - (entity, property) → slots of the deltas filed there, kept sorted by
//!   `(timeCreated, id)` so a hyperview never sorts;
//! - entity → its properties; entity → deltas referencing it without context;
//! - negated slot → the negations of it (a negation that arrives before its
//!   target is indexed all the same: the target's slot exists before it);
//! - transaction → members and size declarations, with its completion time;
//! - creator → slots, host → slots.

use std::collections::BTreeSet;
use std::collections::hash_map::Entry as MapEntry;

use foldhash::HashMap;
use std::sync::Arc;

use crate::changes::ChangeSet;
use crate::symbols::{Sym, Symbols};
use crate::transaction::{Transaction, TransactionStatus};
use crate::{Delta, DeltaId, Error, Result, Target, Timestamp};

/// The compact id of a delta id known to the set.
pub(crate) type Slot = u32;

/// No transaction.
pub(crate) const NO_TX: Sym = Sym::MAX;

/// What the set knows about one delta id.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// The delta, once stored (a negation may name an id before it arrives).
    pub(crate) delta: Option<Arc<Delta>>,
    /// Its `timeCreated` (kept inline: the hot loops compare it).
    pub(crate) time: Timestamp,
    /// The transaction it is a member of, or [`NO_TX`].
    pub(crate) tx: Sym,
    /// [`IS_NEGATION`], [`HAS_NEGATORS`].
    pub(crate) flags: u8,
}

/// The delta is a negation (never visible as data).
pub(crate) const IS_NEGATION: u8 = 1;
/// Some stored negation negates this id.
pub(crate) const HAS_NEGATORS: u8 = 2;

/// The result of an insertion or a merge.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Inserted {
    /// Ids of the deltas that were new, in input order.
    pub accepted: Vec<DeltaId>,
    /// Ids of the deltas that were already stored (or came earlier in the same
    /// batch), in input order.
    pub duplicates: Vec<DeltaId>,
    /// The `(entity, property)` pairs whose hyperview may have changed, at
    /// any `as_of`. Never misses a change; may hold a few that did not.
    pub changed: ChangeSet,
}

/// A set of deltas: Rhizome's CRDT (see the [module documentation](self)).
#[derive(Clone, Debug, Default)]
pub struct DeltaSet {
    pub(crate) names: Symbols,
    /// Delta id → slot, for every id stored or named by a negation.
    pub(crate) ids: HashMap<Arc<str>, Slot>,
    pub(crate) entries: Vec<Entry>,
    /// Stored deltas.
    len: usize,
    /// (entity, property) → slots filed there, sorted by `(timeCreated, id)`.
    pub(crate) filings: HashMap<(Sym, Sym), Vec<Slot>>,
    /// Entity → its properties (each once).
    pub(crate) properties: HashMap<Sym, Vec<Sym>>,
    /// Entities with at least one filing, sorted (for listing and paging).
    pub(crate) entity_names: BTreeSet<Arc<str>>,
    /// Entity → deltas referencing it without context, in arrival order.
    pub(crate) unfiled: HashMap<Sym, Vec<Slot>>,
    /// Negated slot → slots of the negations of it, in arrival order.
    pub(crate) negators: HashMap<Slot, Vec<Slot>>,
    /// Transaction id → its members and declarations.
    pub(crate) transactions: HashMap<Sym, Transaction>,
    by_creator: HashMap<Sym, Vec<Slot>>,
    by_host: HashMap<Sym, Vec<Slot>>,
}

/// What phase 1 of a batch decided for one delta.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Fate {
    New,
    Duplicate,
}

impl DeltaSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many deltas are stored.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no delta is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The stored delta with this id.
    pub fn get(&self, id: &str) -> Option<&Arc<Delta>> {
        let slot = *self.ids.get(id)?;
        self.entries[slot as usize].delta.as_ref()
    }

    /// Whether a delta with this id is stored.
    pub fn contains(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// Every stored delta, in this set's arrival order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Delta>> + '_ {
        self.entries.iter().filter_map(|e| e.delta.as_ref())
    }

    /// Inserts one delta (see [`DeltaSet::insert_batch`]).
    pub fn insert(&mut self, delta: impl Into<Arc<Delta>>) -> Result<Inserted> {
        self.insert_batch([delta.into()])
    }

    /// Inserts a batch of deltas, all or nothing.
    ///
    /// Every delta is checked first: if one has the id of a stored delta, or
    /// of an earlier delta of the batch, with other content
    /// ([`Delta::same_content`]), the answer is [`Error::Conflict`] and
    /// nothing is stored. Otherwise the new deltas are stored, the others are
    /// reported as duplicates, and [`Inserted::changed`] says which
    /// hyperviews may have changed.
    ///
    /// Deltas given by value (or in an `Arc` nobody else holds) are rewritten
    /// to share the set's copy of every name.
    pub fn insert_batch<D: Into<Arc<Delta>>>(
        &mut self,
        deltas: impl IntoIterator<Item = D>,
    ) -> Result<Inserted> {
        let batch: Vec<Arc<Delta>> = deltas.into_iter().map(Into::into).collect();
        let fates = self.check(&batch)?;
        Ok(self.apply(batch, &fates))
    }

    /// Merges `other` into this set (set union), all or nothing: a conflict
    /// is an error and leaves `self` unchanged. The deltas are shared with
    /// `other`, not copied.
    pub fn merge(&mut self, other: &DeltaSet) -> Result<Inserted> {
        let batch: Vec<Arc<Delta>> = other.iter().cloned().collect();
        let fates = self.check(&batch)?;
        Ok(self.apply(batch, &fates))
    }

    /// Phase 1 of a batch: decides which deltas are new and which are
    /// duplicates, or finds a conflict. Changes nothing.
    fn check(&self, batch: &[Arc<Delta>]) -> Result<Vec<Fate>> {
        let mut fates = Vec::with_capacity(batch.len());
        let mut in_batch: HashMap<&str, usize> = HashMap::default();
        let mut new_ids = 0usize;
        for (i, delta) in batch.iter().enumerate() {
            let id = delta.id().as_str();
            let stored = self.get(id);
            let earlier = match stored {
                Some(s) => Some(s),
                None => in_batch.get(id).map(|&j| &batch[j]),
            };
            let fate = match earlier {
                Some(e) if Arc::ptr_eq(e, delta) || e.same_content(delta) => Fate::Duplicate,
                Some(_) => return Err(Error::Conflict { id: id.to_owned() }),
                None => {
                    in_batch.insert(id, i);
                    new_ids += 1 + delta.negated_ids().count();
                    Fate::New
                }
            };
            fates.push(fate);
        }
        // Slots and symbols are u32: refuse what could overflow them (an
        // upper bound of the ids and names the batch may add).
        let names_bound = new_ids * 3 + batch.iter().map(|d| d.pointers().len() * 3).sum::<usize>();
        let limit = Slot::MAX as usize;
        if self.entries.len() + new_ids >= limit || self.names.len() + names_bound >= limit {
            return Err(Error::Full(self.entries.len()));
        }
        Ok(fates)
    }

    /// Phase 2 of a batch: stores the new deltas and computes the changes.
    fn apply(&mut self, batch: Vec<Arc<Delta>>, fates: &[Fate]) -> Inserted {
        let mut inserted = Inserted::default();
        let mut new_slots = Vec::new();
        let mut touched_txs: HashMap<Sym, Option<Timestamp>> = HashMap::default();
        for (delta, &fate) in batch.into_iter().zip(fates) {
            if fate == Fate::Duplicate {
                inserted.duplicates.push(delta.id().clone());
                continue;
            }
            inserted.accepted.push(delta.id().clone());
            new_slots.push(self.store(delta, &mut touched_txs));
        }
        inserted.changed = ChangeSet::after_insert(self, &new_slots, &touched_txs);
        inserted
    }

    /// The slot of `id`, creating an empty one if the id is new.
    fn slot_of(&mut self, id: &Arc<str>) -> Slot {
        match self.ids.entry(id.clone()) {
            MapEntry::Occupied(o) => *o.get(),
            MapEntry::Vacant(v) => {
                // `check` made sure this fits.
                let slot = Slot::try_from(self.entries.len()).unwrap_or(Slot::MAX);
                self.entries.push(Entry {
                    delta: None,
                    time: Timestamp::MIN,
                    tx: NO_TX,
                    flags: 0,
                });
                *v.insert(slot)
            }
        }
    }

    /// Stores one new delta and indexes it. Records, for each transaction it
    /// touches, the completion time before it (for the change set).
    fn store(
        &mut self,
        mut delta: Arc<Delta>,
        touched_txs: &mut HashMap<Sym, Option<Timestamp>>,
    ) -> Slot {
        // Share names: with the set's copies if the delta is ours to rewrite,
        // else the set takes the delta's copies where it has none.
        if let Some(owned) = Arc::get_mut(&mut delta) {
            let names = &mut self.names;
            owned.share_names(|s| {
                let sym = names.intern(s);
                names.name(sym).clone()
            });
            if let Some((key, _)) = self.ids.get_key_value(owned.id().as_str()) {
                owned.share_id(&key.clone());
            }
        }
        let slot = self.slot_of(delta.id().as_arc());
        let time = delta.time_created();
        let creator = self.names.intern(delta.creator_arc());
        let host = self.names.intern(delta.host_arc());
        push_unique(self.by_creator.entry(creator).or_default(), slot);
        push_unique(self.by_host.entry(host).or_default(), slot);

        let mut flags = 0;
        let mut negated_slots = Vec::new();
        for p in delta.pointers() {
            if p.negated_id().is_some()
                && let Target::Reference { id, .. } = &p.target
            {
                flags |= IS_NEGATION;
                negated_slots.push(self.slot_of(id));
            }
        }
        let mut tx = NO_TX;
        if let Some(name) = delta.transaction() {
            let name = arc_of_reference(&delta, name);
            tx = self.names.intern(&name);
        }
        self.entries[slot as usize] = Entry {
            delta: Some(delta.clone()),
            time,
            tx,
            flags: self.entries[slot as usize].flags | flags,
        };
        self.len += 1;

        for negated in negated_slots {
            let list = self.negators.entry(negated).or_default();
            push_unique(list, slot);
            self.entries[negated as usize].flags |= HAS_NEGATORS;
        }
        if tx != NO_TX {
            let t = self.transactions.entry(tx).or_default();
            touched_txs.entry(tx).or_insert(t.completion());
            t.add_member(time, slot);
        }
        if let Some((name, size)) = delta.transaction_size() {
            let name = arc_of_reference(&delta, name);
            let sym = self.names.intern(&name);
            let t = self.transactions.entry(sym).or_default();
            touched_txs.entry(sym).or_insert(t.completion());
            t.add_declaration(&delta, slot, size);
        }

        // Filings, each (entity, property) once per delta.
        let mut filed: Vec<(Sym, Sym)> = Vec::new();
        for p in delta.pointers() {
            let Target::Reference { id, context } = &p.target else {
                continue;
            };
            let entity = self.names.intern(id);
            match context {
                Some(ctx) => {
                    let prop = self.names.intern(ctx);
                    if !filed.contains(&(entity, prop)) {
                        filed.push((entity, prop));
                    }
                }
                None => push_unique(self.unfiled.entry(entity).or_default(), slot),
            }
        }
        for (entity, prop) in filed {
            let list = match self.filings.entry((entity, prop)) {
                MapEntry::Occupied(o) => o.into_mut(),
                MapEntry::Vacant(v) => {
                    let props = self.properties.entry(entity).or_default();
                    if props.is_empty() {
                        self.entity_names.insert(self.names.name(entity).clone());
                    }
                    props.push(prop);
                    v.insert(Vec::new())
                }
            };
            insert_ordered(list, &self.entries, slot, &delta);
        }
        slot
    }

    /// The stored delta of a slot (for slots known to hold one).
    pub(crate) fn delta_at(&self, slot: Slot) -> Option<&Arc<Delta>> {
        self.entries[slot as usize].delta.as_ref()
    }

    /// The stored negations of the delta `id` (whatever their effect), in
    /// arrival order.
    pub fn negations_of(&self, id: &str) -> impl Iterator<Item = &Arc<Delta>> + '_ {
        self.ids
            .get(id)
            .and_then(|s| self.negators.get(s))
            .into_iter()
            .flatten()
            .filter_map(|&s| self.delta_at(s))
    }

    /// The stored deltas created by `creator`, in arrival order.
    pub fn by_creator(&self, creator: &str) -> impl Iterator<Item = &Arc<Delta>> + '_ {
        self.slots_of(&self.by_creator, creator)
    }

    /// The stored deltas made on `host`, in arrival order.
    pub fn by_host(&self, host: &str) -> impl Iterator<Item = &Arc<Delta>> + '_ {
        self.slots_of(&self.by_host, host)
    }

    fn slots_of<'a>(
        &'a self,
        index: &'a HashMap<Sym, Vec<Slot>>,
        name: &str,
    ) -> impl Iterator<Item = &'a Arc<Delta>> + 'a {
        self.names
            .get(name)
            .and_then(|s| index.get(&s))
            .into_iter()
            .flatten()
            .filter_map(|&s| self.delta_at(s))
    }

    /// Every stored delta that references `entity`, with or without context
    /// (negations included, whatever their effect), each once, ordered by
    /// `(timeCreated, id)`. This is the changes feed's `entity` filter.
    pub fn referencing(&self, entity: &str) -> Vec<Arc<Delta>> {
        let Some(sym) = self.names.get(entity) else {
            return Vec::new();
        };
        let mut slots: Vec<Slot> = self.unfiled.get(&sym).cloned().unwrap_or_default();
        for prop in self.properties.get(&sym).into_iter().flatten() {
            slots.extend(self.filings.get(&(sym, *prop)).into_iter().flatten());
        }
        slots.sort_unstable();
        slots.dedup();
        let mut out: Vec<Arc<Delta>> = slots
            .iter()
            .filter_map(|&s| self.delta_at(s))
            .cloned()
            .collect();
        out.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        out
    }

    /// The state of transaction `tx` at `as_of` (`None`: infinity), or `None`
    /// if neither a member nor a declaration of it is stored.
    pub fn transaction_status(
        &self,
        tx: &str,
        as_of: Option<Timestamp>,
    ) -> Option<TransactionStatus> {
        let sym = self.names.get(tx)?;
        Some(self.transactions.get(&sym)?.status(as_of))
    }

    /// The stored members and size declarations of transaction `tx`.
    pub fn transaction_deltas(&self, tx: &str) -> Vec<Arc<Delta>> {
        let Some(t) = self.names.get(tx).and_then(|s| self.transactions.get(&s)) else {
            return Vec::new();
        };
        let mut slots: Vec<Slot> = t
            .members()
            .chain(t.declarations().iter().copied())
            .collect();
        slots.sort_unstable();
        slots.dedup();
        slots
            .iter()
            .filter_map(|&s| self.delta_at(s))
            .cloned()
            .collect()
    }
}

/// The shared `Arc` of a reference id named by `name` in `delta`.
fn arc_of_reference(delta: &Delta, name: &str) -> Arc<str> {
    delta
        .pointers()
        .iter()
        .find_map(|p| match &p.target {
            Target::Reference { id, .. } if &**id == name => Some(id.clone()),
            _ => None,
        })
        .unwrap_or_else(|| name.into())
}

/// Appends `slot` unless it is already the last element (a delta indexes
/// itself once per list; slots are appended in increasing order per delta).
fn push_unique(list: &mut Vec<Slot>, slot: Slot) {
    if list.last() != Some(&slot) {
        list.push(slot);
    }
}

/// Inserts `slot` (holding `delta`) into `list`, kept sorted by
/// `(timeCreated, id)`. Appending is the common case.
fn insert_ordered(list: &mut Vec<Slot>, entries: &[Entry], slot: Slot, delta: &Delta) {
    let key = delta.order_key();
    let key_of = |s: Slot| {
        let e = &entries[s as usize];
        e.delta.as_ref().map(|d| d.order_key())
    };
    match list.last() {
        None => list.push(slot),
        Some(&last) if entries[last as usize].time < key.0 => list.push(slot),
        Some(&last) if key_of(last) < Some(key) => list.push(slot),
        Some(_) => {
            let at = list.partition_point(|&s| key_of(s) < Some(key));
            list.insert(at, slot);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::fixtures::*;
    use crate::{DeltaSet, Error};

    #[test]
    fn insert_is_idempotent_and_conflicts_are_refused() {
        let mut s = DeltaSet::new();
        let d = set("d", 10, "x", "p", 1);
        let r = s.insert(d.clone()).unwrap();
        assert_eq!(r.accepted, [d.id().clone()]);
        let r = s.insert(d.clone()).unwrap();
        assert_eq!(r.duplicates, [d.id().clone()]);
        assert!(r.changed.is_empty());
        assert_eq!(s.len(), 1);
        // A signature is not content.
        let signed = d.clone().with_signature(Some("sig".into()));
        assert_eq!(s.insert(signed).unwrap().duplicates.len(), 1);
        let other = set("d", 10, "x", "p", 2);
        assert_eq!(
            s.insert(other).unwrap_err(),
            Error::Conflict { id: "d".into() }
        );
        assert_eq!(
            s.get("d").unwrap().value_for("x", "p"),
            d.value_for("x", "p")
        );
    }

    #[test]
    fn batches_are_all_or_nothing() {
        let mut s = set_of([set("a", 1, "x", "p", 1)]);
        // A conflict with a stored delta: nothing of the batch stored.
        let e = s
            .insert_batch([set("b", 2, "x", "p", 1), set("a", 1, "x", "p", 9)])
            .unwrap_err();
        assert_eq!(e, Error::Conflict { id: "a".into() });
        assert!(!s.contains("b"));
        // A conflict within the batch.
        let e = s
            .insert_batch([set("c", 2, "x", "p", 1), set("c", 2, "x", "p", 2)])
            .unwrap_err();
        assert_eq!(e, Error::Conflict { id: "c".into() });
        assert!(!s.contains("c"));
        assert_eq!(s.len(), 1);
        // Duplicates within a batch: stored once.
        let r = s
            .insert_batch([
                set("c", 2, "x", "p", 1),
                set("c", 2, "x", "p", 1),
                set("a", 1, "x", "p", 1),
            ])
            .unwrap();
        assert_eq!(r.accepted.len(), 1);
        assert_eq!(r.duplicates.len(), 2);
        assert_eq!(s.len(), 2);
        assert_eq!(ids(&s, "x", "p", None), ["a", "c"]);
    }

    #[test]
    fn merge_is_union_and_refuses_conflicts_whole() {
        let mut a = set_of([set("a", 1, "x", "p", 1), set("b", 2, "x", "p", 2)]);
        let b = set_of([set("b", 2, "x", "p", 2), set("c", 3, "x", "q", 3)]);
        let r = a.merge(&b).unwrap();
        assert_eq!(r.accepted.len(), 1);
        assert_eq!(r.duplicates.len(), 1);
        assert!(r.changed.contains("x", "q"));
        assert!(!r.changed.contains("x", "p"));
        assert_eq!(a.len(), 3);
        // Shared, not copied.
        assert!(Arc::ptr_eq(a.get("c").unwrap(), b.get("c").unwrap()));
        let bad = set_of([set("z", 9, "x", "p", 1), set("a", 1, "x", "p", 5)]);
        assert!(matches!(a.merge(&bad), Err(Error::Conflict { .. })));
        assert!(!a.contains("z"));
        assert_eq!(a.len(), 3);
    }

    #[test]
    fn names_are_shared() {
        let s = set_of([
            set("a", 1, "x", "p", 1),
            set("b", 2, "x", "p", 2),
            neg("n", 3, "c"),
            set("c", 4, "x", "p", 3),
        ]);
        let a = s.get("a").unwrap();
        let b = s.get("b").unwrap();
        assert!(Arc::ptr_eq(a.creator_arc(), b.creator_arc()));
        assert!(Arc::ptr_eq(a.host_arc(), b.host_arc()));
        assert!(Arc::ptr_eq(&a.pointers()[0].role, &b.pointers()[0].role));
        let ref_id = |d: &crate::Delta, i: usize| match &d.pointers()[i].target {
            crate::Target::Reference { id, .. } => id.clone(),
            _ => unreachable!(),
        };
        assert!(Arc::ptr_eq(&ref_id(a, 0), &ref_id(b, 0)));
        // The id named by a negation before it arrived is shared too.
        let c = s.get("c").unwrap();
        assert!(Arc::ptr_eq(
            c.id().as_arc(),
            &ref_id(s.get("n").unwrap(), 0)
        ));
    }

    #[test]
    fn secondary_indexes() {
        let mut n = neg_pointer("a");
        n.role = "negates".into();
        let s = set_of([
            set("a", 5, "x", "p", 1),
            set("b", 2, "x", "q", 1),
            delta(
                "r",
                3,
                vec![crate::Pointer::new(
                    "about",
                    crate::Target::reference_without_context("x"),
                )],
            ),
            delta("n", 4, vec![n]),
        ]);
        let ids =
            |v: Vec<Arc<crate::Delta>>| v.iter().map(|d| d.id().to_string()).collect::<Vec<_>>();
        assert_eq!(ids(s.referencing("x")), ["b", "r", "a"]);
        assert_eq!(ids(s.negations_of("a").cloned().collect()), ["n"]);
        assert_eq!(s.by_creator("c").count(), 4);
        assert_eq!(s.by_host("h").count(), 4);
        assert_eq!(s.by_host("nobody").count(), 0);
        assert_eq!(s.iter().count(), 4);
    }
}
