//! The values a view is made of.
//!
//! A [`Value`] is what a resolved property holds: a primitive, a reference
//! `{"id": REF}`, a list (from `all-values`) or a nested view (when a schema
//! expands a reference). It clones cheaply (strings, lists and nested views
//! are shared) and serializes to exactly the JSON of the API.
//!
//! A [`ValueRef`] is the same thing borrowed: strategies look at candidates
//! through it, so reading a hyperview copies nothing until a strategy has
//! chosen what to return.

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::view::View;
use crate::{Number, Target};

/// A value of a resolved view.
///
/// ```
/// use rhizome_crdt::{Number, value::Value};
///
/// let v = Value::List(vec![Value::Number(Number::Int(1)), Value::Reference("bob".into())].into());
/// assert_eq!(serde_json::to_string(&v).unwrap(), r#"[1,{"id":"bob"}]"#);
/// ```
#[derive(Clone, Debug)]
pub enum Value {
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(Arc<str>),
    /// A reference to an entity, serialized as `{"id": REF}`.
    Reference(Arc<str>),
    /// A list of values (what `all-values` returns).
    List(Arc<[Value]>),
    /// The nested view of a referenced entity, serialized as
    /// `{"id", "properties"}` (what a schema expands a reference into).
    Nested(Arc<View>),
    /// The JSON value of a collaborative document (API.md §7): what a
    /// property holding Automerge changes shows in a view.
    Document(Arc<serde_json::Value>),
}

/// A borrowed [`Value`]: what a strategy sees of a candidate. `Copy`, so
/// passing it around costs nothing; [`ValueRef::to_value`] makes the owned
/// value (sharing strings, lists and views).
#[derive(Clone, Copy, Debug)]
pub enum ValueRef<'a> {
    /// JSON `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(Number),
    /// A string.
    String(&'a Arc<str>),
    /// A reference to an entity.
    Reference(&'a Arc<str>),
    /// A list of values.
    List(&'a Arc<[Value]>),
    /// A nested view.
    Nested(&'a Arc<View>),
    /// A document's JSON value.
    Document(&'a Arc<serde_json::Value>),
}

impl Value {
    /// The borrowed form.
    pub fn as_ref(&self) -> ValueRef<'_> {
        match self {
            Value::Null => ValueRef::Null,
            Value::Bool(b) => ValueRef::Bool(*b),
            Value::Number(n) => ValueRef::Number(*n),
            Value::String(s) => ValueRef::String(s),
            Value::Reference(r) => ValueRef::Reference(r),
            Value::List(l) => ValueRef::List(l),
            Value::Nested(v) => ValueRef::Nested(v),
            Value::Document(d) => ValueRef::Document(d),
        }
    }

    /// The number, if this is one.
    pub fn as_number(&self) -> Option<Number> {
        self.as_ref().as_number()
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// Equality as JSON, numbers compared numerically (`1` equals `1.0`).
    pub fn json_eq(&self, other: &Value) -> bool {
        self.as_ref().json_eq(other.as_ref())
    }
}

impl PartialEq for Value {
    /// Equality as JSON ([`Value::json_eq`]).
    fn eq(&self, other: &Self) -> bool {
        self.json_eq(other)
    }
}

impl Eq for Value {}

impl From<&Target> for Value {
    fn from(t: &Target) -> Self {
        ValueRef::from(t).to_value()
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Self {
        Value::Number(n)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.into())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Number(Number::Int(i))
    }
}

impl<'a> From<&'a Target> for ValueRef<'a> {
    /// The value a pointer's target gives (API.md §2): a primitive is its own
    /// value, a reference is `{"id": REF}` whatever its context.
    fn from(t: &'a Target) -> Self {
        match t {
            Target::Reference { id, .. } => ValueRef::Reference(id),
            Target::String(s) => ValueRef::String(s),
            Target::Number(n) => ValueRef::Number(*n),
            Target::Bool(b) => ValueRef::Bool(*b),
            Target::Null => ValueRef::Null,
        }
    }
}

impl<'a> From<&'a Value> for ValueRef<'a> {
    fn from(v: &'a Value) -> Self {
        v.as_ref()
    }
}

impl<'a> ValueRef<'a> {
    /// The owned value (strings, lists and views are shared, not copied).
    pub fn to_value(self) -> Value {
        match self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Number(n) => Value::Number(n),
            ValueRef::String(s) => Value::String(Arc::clone(s)),
            ValueRef::Reference(r) => Value::Reference(Arc::clone(r)),
            ValueRef::List(l) => Value::List(Arc::clone(l)),
            ValueRef::Nested(v) => Value::Nested(Arc::clone(v)),
            ValueRef::Document(d) => Value::Document(Arc::clone(d)),
        }
    }

    /// The number, if this is one.
    pub fn as_number(self) -> Option<Number> {
        match self {
            ValueRef::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub fn as_str(self) -> Option<&'a str> {
        match self {
            ValueRef::String(s) => Some(s),
            _ => None,
        }
    }

    /// Equality as JSON, numbers compared numerically.
    pub fn json_eq(self, other: ValueRef<'_>) -> bool {
        self.cmp_json(other) == Ordering::Equal
    }

    /// A total order consistent with [`ValueRef::json_eq`]: values of
    /// different kinds order by kind (null, booleans, numbers, strings,
    /// references, lists, views, documents), numbers numerically, strings by bytes,
    /// lists and views element by element. Used to group equal values.
    pub fn cmp_json(self, other: ValueRef<'_>) -> Ordering {
        match (self, other) {
            (ValueRef::Null, ValueRef::Null) => Ordering::Equal,
            (ValueRef::Bool(a), ValueRef::Bool(b)) => a.cmp(&b),
            (ValueRef::Number(a), ValueRef::Number(b)) => a.cmp_numeric(&b),
            (ValueRef::String(a), ValueRef::String(b))
            | (ValueRef::Reference(a), ValueRef::Reference(b)) => a.as_bytes().cmp(b.as_bytes()),
            (ValueRef::List(a), ValueRef::List(b)) => cmp_lists(a, b),
            (ValueRef::Nested(a), ValueRef::Nested(b)) => {
                if Arc::ptr_eq(a, b) {
                    return Ordering::Equal;
                }
                a.id.as_bytes().cmp(b.id.as_bytes()).then_with(|| {
                    let mut x = a.properties.iter();
                    let mut y = b.properties.iter();
                    loop {
                        match (x.next(), y.next()) {
                            (None, None) => return Ordering::Equal,
                            (None, Some(_)) => return Ordering::Less,
                            (Some(_), None) => return Ordering::Greater,
                            (Some((ka, va)), Some((kb, vb))) => {
                                let o = ka
                                    .as_bytes()
                                    .cmp(kb.as_bytes())
                                    .then_with(|| va.as_ref().cmp_json(vb.as_ref()));
                                if o != Ordering::Equal {
                                    return o;
                                }
                            }
                        }
                    }
                })
            }
            (ValueRef::Document(a), ValueRef::Document(b)) => {
                if a == b {
                    Ordering::Equal
                } else {
                    a.to_string().cmp(&b.to_string())
                }
            }
            (a, b) => a.kind().cmp(&b.kind()),
        }
    }

    fn kind(self) -> u8 {
        match self {
            ValueRef::Null => 0,
            ValueRef::Bool(_) => 1,
            ValueRef::Number(_) => 2,
            ValueRef::String(_) => 3,
            ValueRef::Reference(_) => 4,
            ValueRef::List(_) => 5,
            ValueRef::Nested(_) => 6,
            ValueRef::Document(_) => 7,
        }
    }
}

fn cmp_lists(a: &[Value], b: &[Value]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let o = x.as_ref().cmp_json(y.as_ref());
        if o != Ordering::Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

impl Serialize for ValueRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            ValueRef::Null => s.serialize_unit(),
            ValueRef::Bool(b) => s.serialize_bool(b),
            ValueRef::Number(Number::Int(i)) => s.serialize_i64(i),
            ValueRef::Number(Number::Float(f)) => s.serialize_f64(f),
            ValueRef::String(st) => s.serialize_str(st),
            ValueRef::Reference(r) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("id", &**r)?;
                m.end()
            }
            ValueRef::List(l) => {
                let mut seq = s.serialize_seq(Some(l.len()))?;
                for v in l.iter() {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            ValueRef::Nested(v) => v.serialize(s),
            ValueRef::Document(d) => d.serialize(s),
        }
    }
}

impl Serialize for Value {
    /// The API's JSON: primitives as themselves, a reference as `{"id": REF}`,
    /// a list as an array, a nested view as `{"id", "properties"}`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_ref().serialize(s)
    }
}

impl fmt::Display for Value {
    /// The value as compact JSON.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self) {
            Ok(s) => f.write_str(&s),
            Err(_) => Err(fmt::Error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn json(v: &Value) -> String {
        serde_json::to_string(v).unwrap()
    }

    #[test]
    fn serializes_as_the_api_says() {
        assert_eq!(json(&Value::Null), "null");
        assert_eq!(json(&Value::Bool(true)), "true");
        assert_eq!(json(&Value::Number(Number::Int(-3))), "-3");
        assert_eq!(json(&Value::Number(Number::Float(1.5))), "1.5");
        assert_eq!(json(&Value::from("a\"b")), r#""a\"b""#);
        assert_eq!(json(&Value::Reference("bob".into())), r#"{"id":"bob"}"#);
        let mut properties = BTreeMap::new();
        properties.insert(Arc::from("name"), Value::from("Bob"));
        properties.insert(Arc::from("age"), Value::from(40));
        let nested = Value::Nested(Arc::new(View {
            id: "bob".into(),
            properties,
        }));
        assert_eq!(
            json(&nested),
            r#"{"id":"bob","properties":{"age":40,"name":"Bob"}}"#
        );
        let list = Value::List(vec![Value::Null, nested].into());
        assert!(json(&list).starts_with(r#"[null,{"id":"bob","#));
    }

    #[test]
    fn json_equality_compares_numbers_numerically() {
        // A non-normalised float still equals the integer.
        assert_eq!(
            Value::Number(Number::Int(1)),
            Value::Number(Number::Float(1.0))
        );
        assert_ne!(
            Value::Number(Number::Int(1)),
            Value::Number(Number::Float(1.5))
        );
        assert_ne!(Value::from("1"), Value::from(1));
        assert_ne!(Value::Reference("a".into()), Value::from("a"));
        assert_eq!(
            Value::List(vec![Value::from(2)].into()),
            Value::List(vec![Value::Number(Number::Float(2.0))].into())
        );
        assert_ne!(
            Value::List(vec![Value::from(2)].into()),
            Value::List(vec![Value::from(2), Value::Null].into())
        );
    }

    #[test]
    fn targets_give_values() {
        assert_eq!(
            Value::from(&Target::reference("bob", "friends")),
            Value::Reference("bob".into())
        );
        assert_eq!(
            Value::from(&Target::reference_without_context("bob")),
            Value::Reference("bob".into())
        );
        assert_eq!(Value::from(&Target::Null), Value::Null);
        assert_eq!(Value::from(&Target::from(7)), Value::from(7));
    }
}
