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
        let d = self.delta;
        let signature = d.signature();
        let mut map = s.serialize_map(Some(5 + usize::from(signature.is_some())))?;
        // Keys in sorted order.
        match self.format {
            Format::V1 | Format::V2 => {
                map.serialize_entry("creator", d.creator())?;
                map.serialize_entry("host", d.host())?;
                map.serialize_entry("id", d.id().as_str())?;
                if self.format == Format::V1 {
                    map.serialize_entry("pointers", &V1Pointers(d.pointers()))?;
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
                map.serialize_entry("pointers", &RhizomeDbPointers(d.pointers()))?;
                if let Some(sig) = signature {
                    map.serialize_entry("signature", sig)?;
                }
                map.serialize_entry("system", d.host())?;
                map.serialize_entry("timestamp", &d.time_created().as_millis())?;
            }
        }
        map.end()
    }
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

struct V1Pointers<'a>(&'a [Pointer]);

impl Serialize for V1Pointers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for p in self.0 {
            seq.serialize_element(&V1Pointer(p))?;
        }
        seq.end()
    }
}

struct V1Pointer<'a>(&'a Pointer);

impl Serialize for V1Pointer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.0;
        match &p.target {
            Target::Reference {
                id,
                context: Some(context),
            } => {
                let mut map = s.serialize_map(Some(3))?;
                map.serialize_entry("localContext", &*p.role)?;
                map.serialize_entry("target", &**id)?;
                map.serialize_entry("targetContext", &**context)?;
                map.end()
            }
            Target::Reference { id, context: None } => {
                let mut map = s.serialize_map(Some(2))?;
                map.serialize_entry("localContext", &*p.role)?;
                map.serialize_entry("target", &IdOnly(id))?;
                map.end()
            }
            target => {
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

struct RhizomeDbPointers<'a>(&'a [Pointer]);

impl Serialize for RhizomeDbPointers<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for p in self.0 {
            seq.serialize_element(&RhizomeDbPointer(p))?;
        }
        seq.end()
    }
}

struct RhizomeDbPointer<'a>(&'a Pointer);

impl Serialize for RhizomeDbPointer<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.0;
        let mut map = s.serialize_map(Some(2))?;
        map.serialize_entry("role", &*p.role)?;
        match &p.target {
            Target::Reference { id, context } => map.serialize_entry(
                "target",
                &RhizomeDbReference {
                    id,
                    context: context.as_deref(),
                },
            )?,
            target => map.serialize_entry("target", &Primitive(target))?,
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
