//! `min`, `max`, `sum` and `average`: over the numeric values only.
//!
//! Everything that is not a number (strings, booleans, null, references) is
//! ignored; with no number at all the property is absent.

use std::cmp::Ordering;

use super::{Candidate, Context, Strategy};
use crate::Number;
use crate::value::Value;

fn numbers<'c>(candidates: &'c [Candidate<'_>]) -> impl Iterator<Item = Number> + 'c {
    candidates.iter().filter_map(|c| c.value.as_number())
}

/// The number that compares `keep` to every other (the first of equals).
fn extreme(candidates: &[Candidate<'_>], keep: Ordering) -> Option<Value> {
    numbers(candidates)
        .reduce(|best, n| {
            if n.cmp_numeric(&best) == keep {
                n
            } else {
                best
            }
        })
        .map(Value::Number)
}

/// `min` (alias `minimum`): the smallest number (`Number::cmp_numeric`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Min;

impl Strategy for Min {
    fn resolve(&self, candidates: &[Candidate<'_>], _: &Context<'_>) -> Option<Value> {
        extreme(candidates, Ordering::Less)
    }
}

/// `max` (alias `maximum`): the greatest number (`Number::cmp_numeric`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Max;

impl Strategy for Max {
    fn resolve(&self, candidates: &[Candidate<'_>], _: &Context<'_>) -> Option<Value> {
        extreme(candidates, Ordering::Greater)
    }
}

/// A running sum: exact in `i128` while every number is an integer, in `f64`
/// once a float appears.
#[derive(Default)]
struct Total {
    count: u64,
    int: i128,
    float: Option<f64>,
}

impl Total {
    fn of(candidates: &[Candidate<'_>]) -> Total {
        let mut t = Total::default();
        for n in numbers(candidates) {
            t.count += 1;
            match (n, &mut t.float) {
                (Number::Int(i), None) => t.int += i128::from(i),
                (n, Some(f)) => *f += n.as_f64(),
                (Number::Float(x), slot @ None) => *slot = Some(t.int as f64 + x),
            }
        }
        t
    }

    fn sum(&self) -> Option<Number> {
        match self.float {
            None => match i64::try_from(self.int) {
                Ok(i) => Some(Number::Int(i)),
                Err(_) => Number::from_f64(self.int as f64),
            },
            Some(f) => Number::from_f64(f),
        }
    }
}

/// `sum`: the sum of the numbers. Integers stay an integer unless the sum
/// leaves the range of `i64` (then it is a float); with a float it is a
/// float (an integral result is normalised to an integer). A sum that
/// overflows `f64` is absent.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sum;

impl Strategy for Sum {
    fn resolve(&self, candidates: &[Candidate<'_>], _: &Context<'_>) -> Option<Value> {
        let t = Total::of(candidates);
        if t.count == 0 {
            return None;
        }
        t.sum().map(Value::Number)
    }
}

/// `average`: the arithmetic mean of the numbers, a float unless integral
/// (`[1, 2]` gives `1.5`, `[1, 3]` gives `2`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Average;

impl Strategy for Average {
    fn resolve(&self, candidates: &[Candidate<'_>], _: &Context<'_>) -> Option<Value> {
        let t = Total::of(candidates);
        if t.count == 0 {
            return None;
        }
        let count = t.count as f64;
        let mean = match t.float {
            // Exact for integers: divide the exact sum once.
            None => t.int as f64 / count,
            Some(f) => f / count,
        };
        Number::from_f64(mean).map(Value::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::value::Value;
    use crate::{Number, Target};

    fn num(n: Option<Value>) -> Option<Number> {
        n.and_then(|v| v.as_number())
    }

    #[test]
    fn min_max_under_both_names() {
        let vs = || vec![int(3), float(-1.5), string("zzz"), int(10), Target::Null];
        for name in ["min", "minimum"] {
            assert_eq!(num(resolve(name, vs())), Some(Number::Float(-1.5)));
        }
        for name in ["max", "maximum"] {
            assert_eq!(num(resolve(name, vs())), Some(Number::Int(10)));
        }
    }

    #[test]
    fn sum_and_average() {
        assert_eq!(
            num(resolve("sum", vec![int(1), int(2), string("9")])),
            Some(Number::Int(3))
        );
        assert_eq!(
            num(resolve("sum", vec![int(1), float(0.5)])),
            Some(Number::Float(1.5))
        );
        // Floats summing to an integral value normalise to an integer.
        assert_eq!(
            num(resolve("sum", vec![float(0.5), float(0.5)])),
            Some(Number::Int(1))
        );
        assert_eq!(
            num(resolve("average", vec![int(1), int(2)])),
            Some(Number::Float(1.5))
        );
        assert_eq!(
            num(resolve("average", vec![int(1), int(3), Target::Null])),
            Some(Number::Int(2))
        );
        assert_eq!(
            num(resolve("average", vec![float(1.5), int(2), float(2.5)])),
            Some(Number::Int(2))
        );
    }

    #[test]
    fn sum_overflowing_i64_becomes_a_float() {
        let s = num(resolve("sum", vec![int(i64::MAX), int(1)])).unwrap();
        assert!(matches!(s, Number::Float(f) if f == 9_223_372_036_854_775_808.0));
        // Going out of range and back in stays exact.
        let s = num(resolve("sum", vec![int(i64::MAX), int(1), int(-1)]));
        assert_eq!(s, Some(Number::Int(i64::MAX)));
        let a = num(resolve("average", vec![int(i64::MAX), int(i64::MAX)]));
        assert_eq!(a.map(|n| n.as_f64()), Some(i64::MAX as f64));
    }

    #[test]
    fn nothing_numeric_is_absent() {
        for name in ["min", "max", "sum", "average"] {
            assert_eq!(resolve(name, vec![]), None, "{name}");
            assert_eq!(
                resolve(name, vec![string("1"), Target::Null, Target::Bool(true)]),
                None,
                "{name}"
            );
        }
    }

    #[test]
    fn float_overflow_is_absent() {
        assert_eq!(resolve("sum", vec![float(f64::MAX), float(f64::MAX)]), None);
    }
}
