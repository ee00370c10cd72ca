//! `all-values`, `count` and `concatenation`: strategies that keep every
//! value, in `(timeCreated, id)` order.

use super::{Candidate, Context, Strategy};
use crate::Number;
use crate::value::Value;

/// `all-values`: the list of every value, in order (null included, no
/// dedup).
#[derive(Clone, Copy, Debug, Default)]
pub struct AllValues;

impl Strategy for AllValues {
    fn resolve(&self, candidates: &[Candidate<'_>], _: &Context<'_>) -> Option<Value> {
        if candidates.is_empty() {
            return None;
        }
        Some(Value::List(
            candidates.iter().map(|c| c.value.to_value()).collect(),
        ))
    }
}

/// `count`: the number of values (null included).
#[derive(Clone, Copy, Debug, Default)]
pub struct Count;

impl Strategy for Count {
    fn resolve(&self, candidates: &[Candidate<'_>], _: &Context<'_>) -> Option<Value> {
        if candidates.is_empty() {
            return None;
        }
        Some(Value::Number(Number::from_u64(candidates.len() as u64)))
    }
}

/// `concatenation`: the string values joined with one space, in order, no
/// dedup; other values are ignored, and with no string the property is
/// absent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Concatenation;

impl Strategy for Concatenation {
    fn resolve(&self, candidates: &[Candidate<'_>], _: &Context<'_>) -> Option<Value> {
        let mut strings = candidates.iter().filter_map(|c| c.value.as_str());
        let first = strings.next()?;
        let mut out = String::from(first);
        for s in strings {
            out.push(' ');
            out.push_str(s);
        }
        Some(Value::String(out.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::Target;
    use crate::value::Value;

    #[test]
    fn all_values_keeps_order_nulls_and_duplicates() {
        let v = resolve(
            "all-values",
            vec![
                string("b"),
                Target::Null,
                int(1),
                string("b"),
                Target::reference("x", "y"),
            ],
        )
        .unwrap();
        assert_eq!(v.to_string(), r#"["b",null,1,"b",{"id":"x"}]"#);
        assert_eq!(resolve("all-values", vec![]), None);
    }

    #[test]
    fn count_counts_every_value() {
        assert_eq!(
            resolve("count", vec![Target::Null, string("a"), string("a")]),
            Some(Value::from(3))
        );
        assert_eq!(resolve("count", vec![]), None);
    }

    #[test]
    fn concatenation_joins_strings_only() {
        assert_eq!(
            resolve(
                "concatenation",
                vec![
                    string("hello"),
                    int(1),
                    Target::Null,
                    string("world"),
                    string("hello")
                ]
            ),
            Some(Value::from("hello world hello"))
        );
        assert_eq!(resolve("concatenation", vec![int(1), Target::Null]), None);
        assert_eq!(resolve("concatenation", vec![]), None);
        // An empty string is a string.
        assert_eq!(
            resolve("concatenation", vec![string(""), string("a")]),
            Some(Value::from(" a"))
        );
    }
}
