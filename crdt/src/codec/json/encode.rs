//! Writing a delta as JSON in any of the three formats, keys sorted.

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use crate::codec::Format;
use crate::number::Number;
use crate::{Delta, Error, Pointer, Result, Target};

/// A delta ready to be serialised in `format`, without an intermediate
/// [`Value`]: embed it in a larger answer (a hyperview, a feed page) and
/// serialise the whole. Built by [`JsonDelta::new`], which checks that the
/// format can express the delta, so serialising never fails.
///
/// ```
/// use rhizome_crdt::codec::{Format, json::JsonDelta};
/// # let delta = rhizome_crdt::codec::json::decode(br#"{"id":"d1","timeCreated":1,
/// #   "host":"h","creator":"c","pointers":[{"localContext":"name","target":"Alice"}]}"#).unwrap();
/// let page = serde_json::json!({ "deltas": [JsonDelta::new(&delta, Format::RhizomeDb).unwrap()] });
/// assert_eq!(page["deltas"][0]["author"], "c");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct JsonDelta<'a> {
    delta: &'a Delta,
    format: Format,
}

impl<'a> JsonDelta<'a> {
    /// `delta` in `format`, or [`Error::NotExpressible`] if the format cannot
    /// say it (see [`check_expressible`]).
    pub fn new(delta: &'a Delta, format: Format) -> Result<JsonDelta<'a>> {
        check_expressible(delta, format)?;
        Ok(JsonDelta { delta, format })
    }

    /// The delta.
    pub fn delta(&self) -> &'a Delta {
        self.delta
    }

    /// The format it is written in.
    pub fn format(&self) -> Format {
        self.format
    }
}

/// Whether `format` can express `delta`: v2 cannot hold two pointers with
/// one role nor a reference without context; rhizomedb cannot hold a null
/// target. v1 expresses everything.
pub fn check_expressible(delta: &Delta, format: Format) -> Result<()> {
    let refuse = |reason: String| {
        Err(Error::NotExpressible {
            id: delta.id().to_string(),
            format,
            reason,
        })
    };
    match format {
        Format::V1 => Ok(()),
        Format::V2 => {
            // Pointers are sorted by role, so equal roles are adjacent.
            if let Some(w) = delta.pointers().windows(2).find(|w| w[0].role == w[1].role) {
                return refuse(format!("it has two pointers with role {:?}", &*w[0].role));
            }
            match delta
                .pointers()
                .iter()
                .find(|p| matches!(p.target, Target::Reference { context: None, .. }))
            {
                Some(p) => refuse(format!(
                    "pointer {:?} is a reference without context",
                    &*p.role
                )),
                None => Ok(()),
            }
        }
        Format::RhizomeDb => match delta
            .pointers()
            .iter()
            .find(|p| matches!(p.target, Target::Null))
        {
            Some(p) => refuse(format!("pointer {:?} has a null target", &*p.role)),
            None => Ok(()),
        },
    }
}

/// `delta` as JSON bytes in `format`.
pub fn encode(delta: &Delta, format: Format) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    encode_into(delta, format, &mut out)?;
    Ok(out)
}

/// Appends `delta` as JSON in `format` to `out` (nothing is appended on error).
pub fn encode_into(delta: &Delta, format: Format, out: &mut Vec<u8>) -> Result<()> {
    let json = JsonDelta::new(delta, format)?;
    serde_json::to_writer(&mut *out, &json).map_err(|e| Error::Json(e.to_string()))
}

/// `delta` as a JSON string in `format`.
pub fn encode_string(delta: &Delta, format: Format) -> Result<String> {
    let bytes = encode(delta, format)?;
    String::from_utf8(bytes).map_err(|e| Error::Json(e.to_string()))
}

/// `delta` as a [`Value`] in `format`.
pub fn encode_value(delta: &Delta, format: Format) -> Result<Value> {
    serde_json::to_value(JsonDelta::new(delta, format)?).map_err(|e| Error::Json(e.to_string()))
}

impl Serialize for JsonDelta<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_delta::<S, NoNested>(self.delta, self.format, &[], s)
    }
}

/// An object written in place of a reference target: a schema's
/// expansion of the referenced entity (`{"id", "properties"}`, see
/// `crate::schema`). The encoder writes the object's braces, and in
/// rhizomedb the pointer's `context` first; the implementation writes its
/// own entries, keys sorted and all after `"context"`.
pub trait NestedTarget {
    /// How many entries [`NestedTarget::serialize_entries`] writes.
    fn entry_count(&self) -> usize;

    /// Writes the entries (nested deltas in `format`).
    fn serialize_entries<M: SerializeMap>(
        &self,
        format: Format,
        map: &mut M,
    ) -> Result<(), M::Error>;
}

/// No nested target: what a plain [`JsonDelta`] has.
#[derive(Clone, Copy, Debug)]
pub enum NoNested {}

impl NestedTarget for NoNested {
    fn entry_count(&self) -> usize {
        match *self {}
    }

    fn serialize_entries<M: SerializeMap>(&self, _: Format, _: &mut M) -> Result<(), M::Error> {
        match *self {}
    }
}

/// A delta some of whose reference targets are written as nested objects
/// (v1: `{"localContext", "target": {...}, "targetContext"}`; rhizomedb:
/// `{"role", "target": {"context", ...}}`). `targets` pairs a pointer index
/// with its nested object. Whether the format can say it is the caller's
/// check: v2 cannot ([`check_expressible_nested`]).
#[derive(Clone, Copy, Debug)]
pub struct JsonExpandedDelta<'a, T> {
    delta: &'a Delta,
    format: Format,
    targets: &'a [(usize, T)],
}

impl<'a, T: NestedTarget> JsonExpandedDelta<'a, T> {
    /// `delta` in `format` with `targets` in place of the targets of those
    /// pointers; [`Error::NotExpressible`] if the format cannot say it.
    pub fn new(
        delta: &'a Delta,
        format: Format,
        targets: &'a [(usize, T)],
    ) -> Result<JsonExpandedDelta<'a, T>> {
        check_expressible_nested(delta, format, !targets.is_empty())?;
        Ok(JsonExpandedDelta {
            delta,
            format,
            targets,
        })
    }
}

/// [`check_expressible`], and v2 refuses a delta carrying a nested target
/// (API.md §2 Fine print: v2 cannot carry expansions).
pub fn check_expressible_nested(delta: &Delta, format: Format, nested: bool) -> Result<()> {
    if nested && format == Format::V2 {
        return Err(Error::NotExpressible {
            id: delta.id().to_string(),
            format,
            reason: "it carries an expanded reference (schema expansion)".into(),
        });
    }
    check_expressible(delta, format)
}

impl<T: NestedTarget> Serialize for JsonExpandedDelta<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_delta(self.delta, self.format, self.targets, s)
    }
}

fn serialize_delta<S: Serializer, T: NestedTarget>(
    d: &Delta,
    format: Format,
    targets: &[(usize, T)],
    s: S,
) -> Result<S::Ok, S::Error> {
    let signature = d.signature();
    let mut map = s.serialize_map(Some(5 + usize::from(signature.is_some())))?;
    // Keys in sorted order.
    match format {
        Format::V1 | Format::V2 => {
            map.serialize_entry("creator", d.creator())?;
            map.serialize_entry("host", d.host())?;
            map.serialize_entry("id", d.id().as_str())?;
            if format == Format::V1 {
                map.serialize_entry("pointers", &V1Pointers(d.pointers(), targets))?;
            } else {
                map.serialize_entry("pointers", &V2Pointers(d.pointers()))?;
            }
            if let Some(sig) = signature {
                map.serialize_entry("signature", sig)?;
            }
            map.serialize_entry("timeCreated", &d.time_created().as_millis())?;
        }
        Format::RhizomeDb => {
            map.serialize_entry("author", d.creator())?;
            map.serialize_entry("id", d.id().as_str())?;
            map.serialize_entry("pointers", &RhizomeDbPointers(d.pointers(), targets))?;
            if let Some(sig) = signature {
                map.serialize_entry("signature", sig)?;
            }
            map.serialize_entry("system", d.host())?;
            map.serialize_entry("timestamp", &d.time_created().as_millis())?;
        }
    }
    map.end()
}

/// The nested object of a target: `{"context"?, entries...}`.
struct Nested<'a, T> {
    context: Option<&'a str>,
    target: &'a T,
    format: Format,
}

impl<T: NestedTarget> Serialize for Nested<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.target.entry_count() + usize::from(self.context.is_some());
        let mut map = s.serialize_map(Some(n))?;
        if let Some(c) = self.context {
            map.serialize_entry("context", c)?;
        }
        self.target.serialize_entries(self.format, &mut map)?;
        map.end()
    }
}

fn nested_at<T>(targets: &[(usize, T)], index: usize) -> Option<&T> {
    targets.iter().find(|(i, _)| *i == index).map(|(_, t)| t)
}

/// A primitive target (never a reference).
struct Primitive<'a>(&'a Target);

impl Serialize for Primitive<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Target::String(v) => s.serialize_str(v),
            Target::Number(Number::Int(i)) => s.serialize_i64(*i),
            Target::Number(Number::Float(f)) => s.serialize_f64(*f),
            Target::Bool(b) => s.serialize_bool(*b),
            Target::Null | Target::Reference { .. } => s.serialize_unit(),
        }
    }
}

struct V1Pointers<'a, T>(&'a [Pointer], &'a [(usize, T)]);

impl<T: NestedTarget> Serialize for V1Pointers<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (i, p) in self.0.iter().enumerate() {
            seq.serialize_element(&V1Pointer(p, nested_at(self.1, i)))?;
        }
        seq.end()
    }
}

struct V1Pointer<'a, T>(&'a Pointer, Option<&'a T>);

impl<T: NestedTarget> Serialize for V1Pointer<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.0;
        match (&p.target, self.1) {
            (Target::Reference { context, .. }, Some(nested)) => {
                let mut map = s.serialize_map(Some(2 + usize::from(context.is_some())))?;
                map.serialize_entry("localContext", &*p.role)?;
                map.serialize_entry(
                    "target",
                    &Nested {
                        context: None,
                        target: nested,
                        format: Format::V1,
                    },
                )?;
                if let Some(context) = context {
                    map.serialize_entry("targetContext", &**context)?;
                }
                map.end()
            }
            (
                Target::Reference {
                    id,
                    context: Some(context),
                },
                _,
            ) => {
                let mut map = s.serialize_map(Some(3))?;
                map.serialize_entry("localContext", &*p.role)?;
                map.serialize_entry("target", &**id)?;
                map.serialize_entry("targetContext", &**context)?;
                map.end()
            }
            (Target::Reference { id, context: None }, _) => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("localContext", &*p.role)?;
                map.serialize_entry("target", &IdOnly(id))?;
                map.end()
            }
            (target, _) => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("localContext", &*p.role)?;
                map.serialize_entry("target", &Primitive(target))?;
                map.end()
            }
        }
    }
}

/// `{"id": ID}`, also rhizomedb's `{"context"?, "id"}`.
struct IdOnly<'a>(&'a str);

impl Serialize for IdOnly<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("id", self.0)?;
        map.end()
    }
}

struct V2Pointers<'a>(&'a [Pointer]);

impl Serialize for V2Pointers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Canonical order is by role bytes: the keys come out sorted. Roles
        // are distinct and references have a context ([`check_expressible`]).
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for p in self.0 {
            match &p.target {
                Target::Reference {
                    id,
                    context: Some(context),
                } => map.serialize_entry(&*p.role, &OneEntry(id, context))?,
                target => map.serialize_entry(&*p.role, &Primitive(target))?,
            }
        }
        map.end()
    }
}

/// v2's reference `{ID: CONTEXT}`.
struct OneEntry<'a>(&'a str, &'a str);

impl Serialize for OneEntry<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(self.0, self.1)?;
        map.end()
    }
}

struct RhizomeDbPointers<'a, T>(&'a [Pointer], &'a [(usize, T)]);

impl<T: NestedTarget> Serialize for RhizomeDbPointers<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for (i, p) in self.0.iter().enumerate() {
            seq.serialize_element(&RhizomeDbPointer(p, nested_at(self.1, i)))?;
        }
        seq.end()
    }
}

struct RhizomeDbPointer<'a, T>(&'a Pointer, Option<&'a T>);

impl<T: NestedTarget> Serialize for RhizomeDbPointer<'_, T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.0;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("role", &*p.role)?;
        match (&p.target, self.1) {
            (Target::Reference { context, .. }, Some(nested)) => map.serialize_entry(
                "target",
                &Nested {
                    context: context.as_deref(),
                    target: nested,
                    format: Format::RhizomeDb,
                },
            )?,
            (Target::Reference { id, context }, None) => map.serialize_entry(
                "target",
                &RhizomeDbReference {
                    id,
                    context: context.as_deref(),
                },
            )?,
            (target, _) => map.serialize_entry("target", &Primitive(target))?,
        }
        map.end()
    }
}

struct RhizomeDbReference<'a> {
    id: &'a str,
    context: Option<&'a str>,
}

impl Serialize for RhizomeDbReference<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.context {
            None => IdOnly(self.id).serialize(s),
            Some(context) => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("context", context)?;
                map.serialize_entry("id", self.id)?;
                map.end()
            }
        }
    }
}
