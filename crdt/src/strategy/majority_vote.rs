//! `majority-vote`: the most frequent value.

use std::cmp::Ordering;

use super::{Candidate, Context, Strategy};
use crate::value::Value;

/// `majority-vote` (alias `consensus`): the most frequent value, values
/// being equal when they are equal as JSON with numbers compared numerically
/// (`1` and `1.0` are one value, `1` and `"1"` two). A tie goes to the value
/// whose first delta is earliest in `(timeCreated, id)` order. Null is a
/// value.
#[derive(Clone, Copy, Debug, Default)]
pub struct MajorityVote;

impl Strategy for MajorityVote {
    fn resolve(&self, candidates: &[Candidate<'_>], _: &Context<'_>) -> Option<Value> {
        // Small lists: count by comparing with every earlier value (no allocation).
        if candidates.len() <= 16 {
            return small(candidates);
        }
        // Otherwise group equal values by sorting positions (equal values
        // keep their order, so a group starts at its first delta).
        let mut order: Vec<usize> = (0..candidates.len()).collect();
        order.sort_by(|&a, &b| candidates[a].value.cmp_json(candidates[b].value));
        let mut best: Option<(usize, usize)> = None; // (count, first position)
        let mut start = 0;
        while start < order.len() {
            let v = candidates[order[start]].value;
            let end = start
                + order[start..]
                    .iter()
                    .take_while(|&&i| candidates[i].value.cmp_json(v) == Ordering::Equal)
                    .count();
            let group = (end - start, order[start]);
            if better(group, best) {
                best = Some(group);
            }
            start = end;
        }
        best.map(|(_, first)| candidates[first].value.to_value())
    }
}

/// Whether `(count, first)` beats `best`: more votes, or as many with an earlier first delta.
fn better(group: (usize, usize), best: Option<(usize, usize)>) -> bool {
    match best {
        None => true,
        Some((count, first)) => group.0 > count || (group.0 == count && group.1 < first),
    }
}

fn small(candidates: &[Candidate<'_>]) -> Option<Value> {
    let mut best: Option<(usize, usize)> = None;
    for (i, c) in candidates.iter().enumerate() {
        // Count each value once, at its first occurrence.
        if candidates[..i].iter().any(|e| e.value.json_eq(c.value)) {
            continue;
        }
        let count = 1 + candidates[i + 1..]
            .iter()
            .filter(|e| e.value.json_eq(c.value))
            .count();
        if better((count, i), best) {
            best = Some((count, i));
        }
    }
    best.map(|(_, first)| candidates[first].value.to_value())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::Target;
    use crate::value::Value;

    #[test]
    fn most_frequent_under_both_names() {
        for name in ["majority-vote", "consensus"] {
            assert_eq!(
                resolve(
                    name,
                    vec![
                        string("a"),
                        string("b"),
                        string("b"),
                        string("a"),
                        string("b")
                    ]
                ),
                Some(Value::from("b"))
            );
        }
    }

    #[test]
    fn ties_go_to_the_earliest_first_delta() {
        assert_eq!(
            resolve(
                "majority-vote",
                vec![string("x"), string("y"), string("y"), string("x")]
            ),
            Some(Value::from("x"))
        );
        assert_eq!(
            resolve(
                "majority-vote",
                vec![string("y"), string("x"), string("x"), string("y")]
            ),
            Some(Value::from("y"))
        );
    }

    #[test]
    fn numbers_compare_numerically_not_as_strings() {
        // 1 and 1.0 are one value (three votes), "1" another (two votes).
        let v = resolve(
            "majority-vote",
            vec![string("1"), int(1), float(1.0), string("1"), int(1)],
        );
        assert_eq!(v, Some(Value::from(1)));
        // null is a value.
        let v = resolve("majority-vote", vec![Target::Null, int(0), Target::Null]);
        assert_eq!(v, Some(Value::Null));
    }

    #[test]
    fn references_vote_by_id() {
        let v = resolve(
            "majority-vote",
            vec![
                string("bob"),
                Target::reference("bob", "a"),
                Target::reference("bob", "b"),
            ],
        );
        assert_eq!(v, Some(Value::Reference("bob".into())));
    }

    #[test]
    fn large_lists_agree_with_small_ones() {
        // Above the small-list threshold: the sorted grouping path.
        let mut values = Vec::new();
        for i in 0..30 {
            values.push(int(i % 3));
        }
        values.push(float(2.0));
        values.push(string("2"));
        // 0, 1 and 2 have 10 votes each, 2 gets one more from 2.0.
        assert_eq!(
            resolve("majority-vote", values.clone()),
            Some(Value::from(2))
        );
        values.push(int(1));
        // Now 1 and 2 tie with 11: 1 came first.
        assert_eq!(resolve("majority-vote", values), Some(Value::from(1)));
    }

    #[test]
    fn empty_is_absent() {
        assert_eq!(resolve("majority-vote", vec![]), None);
    }
}
