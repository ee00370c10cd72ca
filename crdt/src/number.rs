//! JSON numbers as deltas hold them.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};

/// A finite JSON number, normalised so that equal numbers are equal values:
/// every integral number within the range of `i64` (`3`, `3.0`, `-0.0`) is an
/// [`Number::Int`]; everything else is a [`Number::Float`], which is never
/// NaN nor infinite.
///
/// ```
/// use rhizome_crdt::Number;
/// assert_eq!(Number::from_f64(3.0), Some(Number::Int(3)));
/// assert_eq!(Number::from_f64(1.5), Some(Number::Float(1.5)));
/// assert_eq!(Number::from_f64(f64::NAN), None);
/// ```
#[derive(Clone, Copy, Debug)]
pub enum Number {
    /// An integral number in the range of `i64`.
    Int(i64),
    /// Any other finite number.
    Float(f64),
}

// 2^63 as f64: the first float above the range of i64.
const I64_END: f64 = 9_223_372_036_854_775_808.0;

impl Number {
    /// The normalised number for `f`, or `None` for NaN and infinities.
    pub fn from_f64(f: f64) -> Option<Number> {
        if !f.is_finite() {
            return None;
        }
        if f.fract() == 0.0 && (-I64_END..I64_END).contains(&f) {
            // Exact: f is integral and in range.
            Some(Number::Int(f as i64))
        } else {
            Some(Number::Float(f))
        }
    }

    /// The number for an unsigned integer (above `i64::MAX` it becomes a float).
    pub fn from_u64(u: u64) -> Number {
        match i64::try_from(u) {
            Ok(i) => Number::Int(i),
            Err(_) => Number::Float(u as f64),
        }
    }

    /// The value as `f64` (exact for floats and for integers up to 2^53).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    /// The value as an integer, if it is one.
    pub fn as_i64(self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(i),
            Number::Float(_) => None,
        }
    }

    /// Numeric comparison (total: no NaN can occur).
    pub fn cmp_numeric(&self, other: &Number) -> Ordering {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a.cmp(b),
            _ => self.as_f64().total_cmp(&other.as_f64()),
        }
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            (Number::Float(a), Number::Float(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        }
    }
}

impl Eq for Number {}

impl Hash for Number {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Number::Int(i) => {
                0u8.hash(state);
                i.hash(state);
            }
            Number::Float(f) => {
                1u8.hash(state);
                f.to_bits().hash(state);
            }
        }
    }
}

impl From<i64> for Number {
    fn from(i: i64) -> Self {
        Number::Int(i)
    }
}

impl From<i32> for Number {
    fn from(i: i32) -> Self {
        Number::Int(i64::from(i))
    }
}

impl From<u32> for Number {
    fn from(i: u32) -> Self {
        Number::Int(i64::from(i))
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => write!(f, "{i}"),
            Number::Float(x) => write!(f, "{x}"),
        }
    }
}

impl From<Number> for serde_json::Number {
    fn from(n: Number) -> Self {
        match n {
            Number::Int(i) => serde_json::Number::from(i),
            // Finite by construction, so from_f64 succeeds.
            Number::Float(f) => {
                serde_json::Number::from_f64(f).unwrap_or_else(|| serde_json::Number::from(0))
            }
        }
    }
}

impl Number {
    /// The normalised number for a JSON number.
    pub fn from_json(n: &serde_json::Number) -> Option<Number> {
        if let Some(i) = n.as_i64() {
            Some(Number::Int(i))
        } else if let Some(u) = n.as_u64() {
            Some(Number::from_u64(u))
        } else {
            n.as_f64().and_then(Number::from_f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_floats_are_ints() {
        assert_eq!(Number::from_f64(3.0), Some(Number::Int(3)));
        assert_eq!(Number::from_f64(-0.0), Some(Number::Int(0)));
        assert_eq!(
            Number::from_f64(1e18),
            Some(Number::Int(1_000_000_000_000_000_000))
        );
        assert!(matches!(Number::from_f64(1e19), Some(Number::Float(_))));
        assert!(matches!(
            Number::from_f64(-I64_END),
            Some(Number::Int(i64::MIN))
        ));
        assert!(matches!(Number::from_f64(I64_END), Some(Number::Float(_))));
    }

    #[test]
    fn non_finite_refused() {
        assert_eq!(Number::from_f64(f64::INFINITY), None);
        assert_eq!(Number::from_f64(f64::NEG_INFINITY), None);
        assert_eq!(Number::from_f64(f64::NAN), None);
    }

    #[test]
    fn numeric_order() {
        assert_eq!(
            Number::Int(2).cmp_numeric(&Number::Float(2.5)),
            Ordering::Less
        );
        assert_eq!(
            Number::Float(-1.5).cmp_numeric(&Number::Int(-2)),
            Ordering::Greater
        );
    }

    #[test]
    fn u64_above_i64_becomes_float() {
        assert_eq!(Number::from_u64(5), Number::Int(5));
        assert!(matches!(Number::from_u64(u64::MAX), Number::Float(_)));
    }
}
