//! Incremental change sets: which hyperviews an insertion may have changed.
//!
//! A new delta can change the hyperview of (entity, property), at some
//! `as_of`, only by changing the visibility of a delta filed there. That
//! happens through:
//!
//! - the new delta itself: its own filings;
//! - negation: a new negation changes the standing of what it negates, and
//!   transitively what that negates (a negation of a negation changes what
//!   the inner one negated; a new negation closing a cycle is on that
//!   path too): the filings of everything downstream along "negates";
//! - transactions: a new member or size declaration can move the
//!   transaction's completion time (completeness is monotone in T, so one
//!   time says it all, see [`crate::transaction`]). If it moved, every
//!   member and everything downstream of member negations is affected.
//!
//! A negation that arrived before its target needs nothing: the target's
//! own filings are in the set when the target arrives.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use crate::Timestamp;
use crate::delta_set::{DeltaSet, Slot};
use crate::symbols::Sym;
use crate::Target;

/// The `(entity, property)` pairs whose hyperview may have changed, sorted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    pairs: BTreeSet<(Arc<str>, Arc<str>)>,
}

impl ChangeSet {
    /// Whether the hyperview of `entity`'s `property` may have changed.
    pub fn contains(&self, entity: &str, property: &str) -> bool {
        // BTreeSet of tuples cannot be queried by borrowed parts; a range
        // over the entity's pairs is enough.
        self.properties_of(entity).any(|p| &**p == property)
    }

    /// The properties of `entity` that may have changed, sorted.
    pub fn properties_of<'a>(&'a self, entity: &'a str) -> impl Iterator<Item = &'a Arc<str>> + 'a {
        let from: (Arc<str>, Arc<str>) = (entity.into(), "".into());
        self.pairs
            .range(from..)
            .take_while(move |(e, _)| &**e == entity)
            .map(|(_, p)| p)
    }

    /// The entities with a property that may have changed, sorted, each once.
    pub fn entities(&self) -> impl Iterator<Item = &Arc<str>> + '_ {
        let mut last: Option<&Arc<str>> = None;
        self.pairs.iter().filter_map(move |(e, _)| {
            if last == Some(e) {
                None
            } else {
                last = Some(e);
                Some(e)
            }
        })
    }

    /// Every `(entity, property)`, sorted.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, &Arc<str>)> + '_ {
        self.pairs.iter().map(|(e, p)| (e, p))
    }

    /// How many pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether nothing may have changed.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Adds the pairs of `other`.
    pub fn extend(&mut self, other: ChangeSet) {
        self.pairs.extend(other.pairs);
    }

    /// The changes after `new` slots were stored; `touched_txs` holds the
    /// completion time, before the batch, of each transaction it touched.
    pub(crate) fn after_insert(
        set: &DeltaSet,
        new: &[Slot],
        touched_txs: &HashMap<Sym, Option<Timestamp>>,
    ) -> ChangeSet {
        let mut todo: Vec<Slot> = new.to_vec();
        for (tx, before) in touched_txs {
            if let Some(t) = set.transactions.get(tx)
                && t.completion() != *before
            {
                todo.extend(t.members());
            }
        }
        let mut seen: HashSet<Slot> = HashSet::new();
        let mut changes = ChangeSet::default();
        while let Some(slot) = todo.pop() {
            if !seen.insert(slot) {
                continue;
            }
            let Some(delta) = set.delta_at(slot) else {
                continue;
            };
            for p in delta.pointers() {
                if let Target::Reference {
                    id,
                    context: Some(ctx),
                } = &p.target
                {
                    changes.pairs.insert((id.clone(), ctx.clone()));
                }
                if let Some(negated) = p.negated_id()
                    && let Some(&s) = set.ids.get(negated)
                {
                    todo.push(s);
                }
            }
        }
        changes
    }
}
