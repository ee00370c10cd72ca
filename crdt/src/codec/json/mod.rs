//! The JSON formats of a delta (API.md §1): v1, v2 and rhizomedb.
//!
//! Decoding auto-detects the format by the envelope's keys (`author`,
//! `system` or `timestamp` → rhizomedb; otherwise an object `pointers` → v2;
//! otherwise v1), checks every rule of API.md §1 and names the offending
//! field in the input's own format. Valid input is read in one pass, without
//! building a `serde_json::Value`. Encoding writes sorted keys and refuses
//! what a format cannot say ([`crate::Error::NotExpressible`]).
//! `docs/wire-formats.md` describes the formats, rules and messages.
//!
//! ```
//! use rhizome_crdt::codec::{Format, json};
//!
//! let delta = json::decode(br#"{"id": "d1", "timeCreated": 1700000000000,
//!     "host": "node-a", "creator": "alice",
//!     "pointers": [{"localContext": "entity", "target": "alice", "targetContext": "name"},
//!                  {"localContext": "name", "target": "Alice"}]}"#).unwrap();
//! let v2 = json::encode_string(&delta, Format::V2).unwrap();
//! assert_eq!(v2, r#"{"creator":"alice","host":"node-a","id":"d1","pointers":{"entity":{"alice":"name"},"name":"Alice"},"timeCreated":1700000000000}"#);
//! assert_eq!(json::decode(v2.as_bytes()).unwrap(), delta);
//!
//! let err = json::decode_batch(br#"[{"id": "d2", "timestamp": 1.5, "author": "a",
//!     "system": "s", "pointers": []}]"#).unwrap_err();
//! assert_eq!(err.batch_index(), Some(0));
//! assert_eq!(err.field(), Some("timestamp"));
//! ```

mod encode;
mod shape;
mod validate;

#[cfg(test)]
mod tests;

use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

pub use encode::{
    JsonDelta, JsonExpandedDelta, NestedTarget, NoNested, check_expressible,
    check_expressible_nested, encode, encode_into, encode_string, encode_value,
};

use self::shape::{Key, RawEnvelope, RawTop, TopVisitor, visit_scalar_kinds};
use super::Format;
use crate::{Delta, Error, Result};

/// Decodes and validates one delta in any of the three formats.
pub fn decode(json: &[u8]) -> Result<Delta> {
    decode_with_format(json).map(|(delta, _)| delta)
}

/// Like [`decode`], for a string (which spares checking that it is UTF-8).
pub fn decode_str(json: &str) -> Result<Delta> {
    let mut de = serde_json::Deserializer::from_str(json);
    let top = de.deserialize_any(TopVisitor).map_err(json_error)?;
    de.end().map_err(json_error)?;
    validate::build(&top).map(|(delta, _)| delta)
}

/// Like [`decode`], also telling which format the input was written in.
pub fn decode_with_format(json: &[u8]) -> Result<(Delta, Format)> {
    let mut de = serde_json::Deserializer::from_slice(json);
    let top = de.deserialize_any(TopVisitor).map_err(json_error)?;
    de.end().map_err(json_error)?;
    validate::build(&top)
}

/// Decodes and validates one delta already parsed into a [`Value`] (a
/// WebSocket frame). A `Value` cannot hold duplicate keys, so those are not
/// detected here (serde_json keeps the last).
pub fn decode_value(value: &Value) -> Result<Delta> {
    let top = value.deserialize_any(TopVisitor).map_err(json_error)?;
    validate::build(&top).map(|(delta, _)| delta)
}

/// Decodes a body of `POST /api/deltas`: one delta, a JSON array of
/// deltas, or `{"deltas": [...]}`, in any mix of formats. The array is read
/// as a stream. All or nothing: the first invalid delta gives an
/// [`Error::InBatch`] carrying its index (0 for a body that is one delta);
/// [`Error::batch_index`] and [`Error::field`] give them as data.
pub fn decode_batch(json: &[u8]) -> Result<Vec<Delta>> {
    let at = Cell::new(None);
    let mut de = serde_json::Deserializer::from_slice(json);
    let result = de
        .deserialize_any(BatchVisitor { at: &at })
        .and_then(|deltas| de.end().map(|()| deltas));
    match result {
        Ok(deltas) => deltas,
        Err(e) => Err(in_batch(at.get(), json_error(e))),
    }
}

/// Like [`decode_batch`], for a body already parsed into a [`Value`].
pub fn decode_batch_value(value: &Value) -> Result<Vec<Delta>> {
    let at = Cell::new(None);
    match value.deserialize_any(BatchVisitor { at: &at }) {
        Ok(deltas) => deltas,
        Err(e) => Err(in_batch(at.get(), json_error(e))),
    }
}

fn json_error(e: serde_json::Error) -> Error {
    Error::Json(e.to_string())
}

fn in_batch(index: Option<usize>, e: Error) -> Error {
    match index {
        Some(index) => Error::InBatch {
            index,
            source: Box::new(e),
        },
        None => e,
    }
}

/// A batch body; `at` is the index of the delta being read, so that a JSON
/// syntax error inside a delta can name it too.
struct BatchVisitor<'a> {
    at: &'a Cell<Option<usize>>,
}

impl<'de> Visitor<'de> for BatchVisitor<'_> {
    type Value = Result<Vec<Delta>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a delta, an array of deltas or {\"deltas\": [...]}")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let first = map.next_key::<Key<'de>>()?;
        if let Some(Key(key)) = &first
            && &**key == "deltas"
        {
            let deltas = map.next_value_seed(DeltaArray { at: self.at })?;
            if let Some(Key(other)) = map.next_key::<Key<'de>>()? {
                map.next_value::<IgnoredAny>()?;
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                return Ok(Err(Error::invalid(
                    validate::key_path("", &other),
                    "is not a field of a batch {\"deltas\": [...]}",
                )));
            }
            return Ok(deltas);
        }
        self.at.set(Some(0));
        let env = RawEnvelope::read(first, &mut map)?;
        self.at.set(None);
        Ok(validate::build(&RawTop::Envelope(env))
            .map(|(delta, _)| vec![delta])
            .map_err(|e| in_batch(Some(0), e)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        read_array(seq, self.at)
    }

    visit_scalar_kinds!(|kind| Err(Error::invalid(
        "body",
        format!("must be a delta, an array of deltas or {{\"deltas\": [...]}}, not {kind}")
    )));
}

/// The value of `{"deltas": ...}`.
struct DeltaArray<'a> {
    at: &'a Cell<Option<usize>>,
}

impl<'de> DeserializeSeed<'de> for DeltaArray<'_> {
    type Value = Result<Vec<Delta>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DeltaArray<'_> {
    type Value = Result<Vec<Delta>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of deltas")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        read_array(seq, self.at)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Err(not_an_array("an object")))
    }

    visit_scalar_kinds!(|kind| Err(not_an_array(kind)));
}

fn not_an_array(kind: &str) -> Error {
    Error::invalid("deltas", format!("must be an array of deltas, not {kind}"))
}

/// One delta of an array, validated as soon as it is read.
struct DeltaSeed;

impl<'de> DeserializeSeed<'de> for DeltaSeed {
    type Value = Result<Delta>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let top = d.deserialize_any(TopVisitor)?;
        Ok(validate::build(&top).map(|(delta, _)| delta))
    }
}

fn read_array<'de, A: SeqAccess<'de>>(
    mut seq: A,
    at: &Cell<Option<usize>>,
) -> Result<Result<Vec<Delta>>, A::Error> {
    let mut deltas = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
    loop {
        let index = deltas.len();
        at.set(Some(index));
        match seq.next_element_seed(DeltaSeed)? {
            None => break,
            Some(Ok(delta)) => deltas.push(delta),
            Some(Err(e)) => {
                // Read the rest (the JSON must still be well-formed), then refuse.
                at.set(None);
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(Err(in_batch(Some(index), e)));
            }
        }
    }
    at.set(None);
    Ok(Ok(deltas))
}
