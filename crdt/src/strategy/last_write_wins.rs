//! `last-write-wins` and `first-write-wins`: the greatest or the smallest
//! candidate in `(timeCreated, id)` order.

use super::{Candidate, Context, Scope, Strategy};
use crate::value::Value;

/// `last-write-wins` (alias `most-recent`, the default strategy): the value
/// of the greatest delta in `(timeCreated, id)` order, ties on
/// `timeCreated` going to the greater id (as bytes). Null is a value.
#[derive(Clone, Copy, Debug, Default)]
pub struct LastWriteWins;

impl Strategy for LastWriteWins {
    fn resolve(&self, candidates: &[Candidate<'_>], _: &Context<'_>) -> Option<Value> {
        candidates.last().map(|c| c.value.to_value())
    }

    fn scope(&self) -> Scope {
        Scope::Last
    }
}

/// `first-write-wins` (alias `first-write`): the value of the smallest delta
/// in `(timeCreated, id)` order. Null is a value.
#[derive(Clone, Copy, Debug, Default)]
pub struct FirstWriteWins;

impl Strategy for FirstWriteWins {
    fn resolve(&self, candidates: &[Candidate<'_>], _: &Context<'_>) -> Option<Value> {
        candidates.first().map(|c| c.value.to_value())
    }

    fn scope(&self) -> Scope {
        Scope::First
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::{Context, StrategyRegistry};
    use crate::Target;
    use crate::value::Value;

    fn resolve(name: &str, deltas: &[std::sync::Arc<crate::Delta>]) -> Option<Value> {
        let registry = StrategyRegistry::default();
        registry
            .get(name)
            .unwrap()
            .resolve(&candidates(deltas), &Context::new(ENTITY, PROP))
    }

    #[test]
    fn last_and_first_under_both_names() {
        let ds = deltas(vec![string("a"), int(2), string("c")]);
        for name in ["last-write-wins", "most-recent"] {
            assert_eq!(resolve(name, &ds), Some(Value::from("c")), "{name}");
        }
        for name in ["first-write-wins", "first-write"] {
            assert_eq!(resolve(name, &ds), Some(Value::from("a")), "{name}");
        }
    }

    #[test]
    fn ties_on_time_follow_the_given_order() {
        // Same timeCreated: the hyperview orders them by id bytes ("B" < "a"),
        // and the strategies take that order as given.
        let b = delta("B", 5, "c", "h", Some(string("from B")));
        let a = delta("a", 5, "c", "h", Some(string("from a")));
        let ordered = vec![b.clone(), a.clone()];
        assert_eq!(
            resolve("last-write-wins", &ordered),
            Some(Value::from("from a"))
        );
        assert_eq!(
            resolve("first-write-wins", &ordered),
            Some(Value::from("from B"))
        );
        // They read positions, not times or ids: the reverse list gives the reverse.
        let reversed = vec![a, b];
        assert_eq!(
            resolve("last-write-wins", &reversed),
            Some(Value::from("from B"))
        );
        assert_eq!(
            resolve("first-write-wins", &reversed),
            Some(Value::from("from a"))
        );
    }

    #[test]
    fn null_is_a_value() {
        let ds = deltas(vec![string("a"), Target::Null]);
        assert_eq!(resolve("last-write-wins", &ds), Some(Value::Null));
        let ds = deltas(vec![Target::Null, string("a")]);
        assert_eq!(resolve("first-write-wins", &ds), Some(Value::Null));
    }

    #[test]
    fn empty_is_absent() {
        assert_eq!(resolve("last-write-wins", &[]), None);
        assert_eq!(resolve("first-write-wins", &[]), None);
    }

    #[test]
    fn references_are_values() {
        let ds = deltas(vec![Target::reference("bob", "friend_of"), string("x")]);
        assert_eq!(
            resolve("first-write-wins", &ds),
            Some(Value::Reference("bob".into()))
        );
    }

    #[test]
    fn deltas_without_a_value_are_not_candidates() {
        let with = delta("d1", 1, "c", "h", Some(string("kept")));
        let without = delta("d2", 2, "c", "h", None);
        // A pointer with the property's role that points at the entity itself.
        let self_pointer = std::sync::Arc::new(
            crate::Delta::new(
                crate::DeltaId::new("d3").unwrap(),
                crate::Timestamp::new(3).unwrap(),
                "h",
                "c",
                vec![crate::Pointer::new(PROP, Target::reference(ENTITY, PROP))],
            )
            .unwrap(),
        );
        let ds = vec![with, without, self_pointer];
        assert_eq!(candidates(&ds).len(), 1);
        assert_eq!(resolve("last-write-wins", &ds), Some(Value::from("kept")));
    }
}
