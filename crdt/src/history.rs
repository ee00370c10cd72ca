//! The history of one property: its resolved value after each visible change.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use crate::{DeltaSet, HyperviewOptions, Timestamp, Value, ViewResolver};

/// One step of a property's history: from `at` on (until the next entry),
/// the property resolves to `value` (`None`: absent from the view).
#[derive(Clone, Debug, PartialEq)]
pub struct HistoryEntry {
    /// When the change took effect.
    pub at: Timestamp,
    /// The resolved value from then on.
    pub value: Option<Value>,
}

impl DeltaSet {
    /// The history of `property` of `entity`: the resolved value (by
    /// `resolver`) after each visible change, oldest first. Only changes of
    /// the resolved value are listed, so consecutive entries always differ;
    /// the first entry is the first moment the property had a value.
    ///
    /// The moments examined are the `timeCreated` of every delta that can
    /// change the property's hyperview: the deltas filed under it, the
    /// negations reaching them (recursively: a negation of a negation), and
    /// the members and size declarations of every transaction those belong
    /// to. At each such moment the value is resolved exactly as a query
    /// `as_of` that moment would resolve it, so an entry's value equals the
    /// view at `as_of = at`.
    ///
    /// ```
    /// use rhizome_crdt::{Delta, DeltaSet, Value, ViewResolver};
    ///
    /// let mut set = DeltaSet::new();
    /// let put = |id: &str, ts: u64, name: &str| {
    ///     Delta::builder("alice", "h").id(id).timestamp(ts)
    ///         .set_property("alice", "name", name).build().unwrap()
    /// };
    /// set.insert(put("d1", 10, "Alice")).unwrap();
    /// set.insert(put("d2", 20, "Alicia")).unwrap();
    /// set.insert(Delta::builder("bob", "h").id("n1").timestamp(30).negate("d2").build().unwrap())
    ///     .unwrap();
    /// let values: Vec<_> = set
    ///     .history("alice", "name", &ViewResolver::default())
    ///     .into_iter()
    ///     .map(|e| (e.at.as_millis(), e.value.map(|v| v.to_string())))
    ///     .collect();
    /// assert_eq!(values, [
    ///     (10, Some("\"Alice\"".to_string())),
    ///     (20, Some("\"Alicia\"".to_string())),
    ///     (30, Some("\"Alice\"".to_string())),
    /// ]);
    /// ```
    pub fn history(
        &self,
        entity: &str,
        property: &str,
        resolver: &ViewResolver,
    ) -> Vec<HistoryEntry> {
        let moments = self.moments_affecting(entity, property);
        let options = |at| HyperviewOptions {
            as_of: Some(at),
            contexts: Some(vec![Arc::from(property)]),
            ..HyperviewOptions::default()
        };
        let mut out: Vec<HistoryEntry> = Vec::new();
        for at in moments {
            let hyperview = self.hyperview(entity, &options(at));
            let view = resolver.resolve(&hyperview);
            let value = view.get(property).cloned();
            let changed = match out.last() {
                Some(last) => last.value != value,
                None => value.is_some(),
            };
            if changed {
                out.push(HistoryEntry { at, value });
            }
        }
        out
    }

    /// Every `timeCreated` at which the hyperview of `(entity, property)`
    /// may change, ascending.
    fn moments_affecting(&self, entity: &str, property: &str) -> BTreeSet<Timestamp> {
        let mut moments = BTreeSet::new();
        let mut seen: HashSet<Arc<str>> = HashSet::new();
        let mut seen_tx: HashSet<Arc<str>> = HashSet::new();
        let mut work: Vec<Arc<crate::Delta>> = self
            .referencing(entity)
            .into_iter()
            .filter(|d| d.files_under(entity, property))
            .collect();
        while let Some(d) = work.pop() {
            if !seen.insert(Arc::clone(d.id().as_arc())) {
                continue;
            }
            moments.insert(d.time_created());
            work.extend(self.negations_of(d.id().as_str()).cloned());
            if let Some(tx) = d.transaction()
                && seen_tx.insert(Arc::from(tx))
            {
                work.extend(self.transaction_deltas(tx));
            }
        }
        moments
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{declare, member, neg, set, set_of};

    fn values(h: &[HistoryEntry]) -> Vec<(u64, Option<String>)> {
        h.iter()
            .map(|e| (e.at.as_millis(), e.value.as_ref().map(ToString::to_string)))
            .collect()
    }

    #[test]
    fn empty_property_has_no_history() {
        let s = set_of(vec![set("a", 1, "e", "other", 1)]);
        assert!(s.history("e", "p", &ViewResolver::default()).is_empty());
        assert!(
            s.history("nobody", "p", &ViewResolver::default())
                .is_empty()
        );
    }

    #[test]
    fn writes_negations_and_double_negations() {
        let s = set_of(vec![
            set("a", 10, "e", "p", 1),
            set("b", 20, "e", "p", 2),
            neg("n1", 30, "b"),
            neg("n2", 40, "n1"),
            neg("n3", 50, "a"),
            // A negation that arrived first but was created later.
            neg("n4", 60, "b"),
        ]);
        let h = s.history("e", "p", &ViewResolver::default());
        assert_eq!(
            values(&h),
            [
                (10, Some("1".into())),
                (20, Some("2".into())),
                (30, Some("1".into())),
                (40, Some("2".into())),
                (60, None),
            ]
        );
    }

    #[test]
    fn transactions_take_effect_when_complete() {
        let s = set_of(vec![
            set("a", 5, "e", "p", "before"),
            member("m1", 10, "tx", "e", "p", "x"),
            member("m2", 20, "tx", "e", "q", "y"),
            declare("size", 30, "tx", 2),
        ]);
        let h = s.history("e", "p", &ViewResolver::default());
        assert_eq!(
            values(&h),
            [(5, Some("\"before\"".into())), (30, Some("\"x\"".into()))]
        );
    }

    #[test]
    fn every_entry_matches_the_view_at_that_moment() {
        let s = set_of(vec![
            set("a", 10, "e", "p", 1),
            set("b", 10, "e", "p", 3),
            set("c", 15, "e", "p", 2),
            neg("n1", 12, "b"),
            member("m1", 14, "tx", "e", "p", 9),
            declare("size", 18, "tx", 1),
            neg("n2", 25, "m1"),
        ]);
        let resolver = ViewResolver::default();
        let h = s.history("e", "p", &resolver);
        assert!(!h.is_empty());
        for e in &h {
            let view = resolver.resolve(&s.hyperview("e", &HyperviewOptions::as_of(Some(e.at))));
            assert_eq!(view.get("p").cloned(), e.value, "at {}", e.at);
        }
        for pair in h.windows(2) {
            assert_ne!(pair[0].value, pair[1].value);
            assert!(pair[0].at < pair[1].at);
        }
    }
}
