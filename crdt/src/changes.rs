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

use std::collections::BTreeSet;

use foldhash::{HashMap, HashSet};
use std::sync::Arc;

use crate::Target;
use crate::Timestamp;
use crate::delta_set::{DeltaSet, Slot};
use crate::symbols::Sym;

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
        let mut seen: HashSet<Slot> = HashSet::default();
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

#[cfg(test)]
mod tests {
    use crate::DeltaSet;
    use crate::fixtures::*;

    fn changed(s: &mut DeltaSet, d: crate::Delta) -> Vec<String> {
        let r = s.insert(d).unwrap();
        r.changed.iter().map(|(e, p)| format!("{e}.{p}")).collect()
    }

    #[test]
    fn change_sets_follow_negations_and_transactions() {
        let mut s = set_of([
            set("d", 1, "x", "p", 1),
            set("e", 1, "y", "q", 1),
            neg("n", 2, "d"),
        ]);
        // A negation of a negation changes what the inner one negated.
        assert_eq!(
            changed(&mut s, neg("m", 3, "n")),
            ["d.negated_by", "n.negated_by", "x.p"]
        );
        // Members change nothing visible until the transaction completes...
        assert_eq!(
            changed(&mut s, member("t1", 4, "tx", "y", "a", 1)),
            ["tx.deltas", "y.a"]
        );
        let mut neg_member = vec![neg_pointer("e"), member_pointer("tx")];
        neg_member.push(crate::Pointer::new("note", 1));
        assert_eq!(
            changed(&mut s, delta("t2", 5, neg_member)),
            ["e.negated_by", "tx.deltas", "y.q"]
        );
        // ... then the completing declaration changes every member's filings
        // and what member negations negate.
        assert_eq!(
            changed(&mut s, declare("s", 6, "tx", 2)),
            ["e.negated_by", "tx.deltas", "tx.size", "y.a", "y.q"]
        );
        // Another member after completion moves nothing: its own filings only.
        assert_eq!(
            changed(&mut s, member("t3", 7, "tx", "z", "a", 1)),
            ["tx.deltas", "z.a"]
        );
    }
}
