//! The binary form of a delta: postcard, used on disk and on the wire.
//!
//! Layout: one version byte ([`VERSION`]), then the postcard encoding of
//! `(id, timeCreated, host, creator, pointers, signature)` where a pointer is
//! `(role, target)` and a target is an enum `Reference(id, Option<context>) |
//! String | Int(i64) | Float(f64) | Bool | Null`. Decoding validates exactly
//! as the JSON decoders do: bytes from disk or from a peer are outside input.
//!
//! ```
//! use rhizome_crdt::{Delta, codec::binary};
//! # let delta = rhizome_crdt::Delta::new(
//! #     rhizome_crdt::DeltaId::new("d1").unwrap(), rhizome_crdt::Timestamp::new(1).unwrap(),
//! #     "h", "c", vec![rhizome_crdt::Pointer::new("name", "Alice")]).unwrap();
//! let bytes = binary::encode(&delta);
//! assert_eq!(binary::decode(&bytes).unwrap(), delta);
//! ```

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::delta::{Delta, DeltaId, Pointer, Target, Timestamp};
use crate::number::Number;
use crate::{Error, Result};

/// The version byte every binary delta starts with.
pub const VERSION: u8 = 1;

#[derive(Serialize)]
struct WireOut<'a> {
    id: &'a str,
    time_created: u64,
    host: &'a str,
    creator: &'a str,
    pointers: Vec<(&'a str, TargetOut<'a>)>,
    signature: Option<&'a str>,
}

#[derive(Serialize)]
enum TargetOut<'a> {
    Reference(&'a str, Option<&'a str>),
    String(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

#[derive(Deserialize)]
struct WireIn<'a> {
    #[serde(borrow)]
    id: &'a str,
    time_created: u64,
    host: &'a str,
    creator: &'a str,
    pointers: Vec<(&'a str, TargetIn<'a>)>,
    signature: Option<&'a str>,
}

#[derive(Deserialize)]
enum TargetIn<'a> {
    Reference(&'a str, Option<&'a str>),
    String(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

fn target_out(t: &Target) -> TargetOut<'_> {
    match t {
        Target::Reference { id, context } => TargetOut::Reference(id, context.as_deref()),
        Target::String(s) => TargetOut::String(s),
        Target::Number(Number::Int(i)) => TargetOut::Int(*i),
        Target::Number(Number::Float(f)) => TargetOut::Float(*f),
        Target::Bool(b) => TargetOut::Bool(*b),
        Target::Null => TargetOut::Null,
    }
}

/// Appends the binary form of `delta` to `out`.
pub fn encode_into(delta: &Delta, out: &mut Vec<u8>) {
    let wire = WireOut {
        id: delta.id().as_str(),
        time_created: delta.time_created().as_millis(),
        host: delta.host(),
        creator: delta.creator(),
        pointers: delta
            .pointers()
            .iter()
            .map(|p| (&*p.role, target_out(&p.target)))
            .collect(),
        signature: delta.signature(),
    };
    out.push(VERSION);
    // Serialising plain structs into a Vec cannot fail.
    if let Ok(bytes) = postcard::to_extend(&wire, std::mem::take(out)) {
        *out = bytes;
    }
}

/// The binary form of `delta`.
pub fn encode(delta: &Delta) -> Vec<u8> {
    let mut out = Vec::with_capacity(128);
    encode_into(delta, &mut out);
    out
}

/// Decodes and validates a binary delta. Trailing bytes are an error.
pub fn decode(bytes: &[u8]) -> Result<Delta> {
    let (version, rest) = bytes
        .split_first()
        .ok_or_else(|| Error::Binary("empty input".into()))?;
    if *version != VERSION {
        return Err(Error::Binary(format!(
            "unknown version {version} (expected {VERSION})"
        )));
    }
    let (wire, rest): (WireIn<'_>, &[u8]) =
        postcard::take_from_bytes(rest).map_err(|e| Error::Binary(e.to_string()))?;
    if !rest.is_empty() {
        return Err(Error::Binary(format!("{} trailing bytes", rest.len())));
    }
    let mut pointers = Vec::with_capacity(wire.pointers.len());
    for (i, (role, target)) in wire.pointers.into_iter().enumerate() {
        let target = match target {
            TargetIn::Reference(id, context) => Target::Reference {
                id: id.into(),
                context: context.map(Arc::from),
            },
            TargetIn::String(s) => Target::String(s.into()),
            TargetIn::Int(n) => Target::Number(Number::Int(n)),
            TargetIn::Float(f) => Target::Number(Number::from_f64(f).ok_or_else(|| {
                Error::invalid(format!("pointers[{i}].target"), "must be a finite number")
            })?),
            TargetIn::Bool(b) => Target::Bool(b),
            TargetIn::Null => Target::Null,
        };
        pointers.push(Pointer {
            role: role.into(),
            target,
        });
    }
    let delta = Delta::new(
        DeltaId::new(wire.id)?,
        Timestamp::new(wire.time_created)?,
        wire.host,
        wire.creator,
        pointers,
    )?;
    Ok(delta.with_signature(wire.signature.map(Arc::from)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Delta {
        Delta::new(
            DeltaId::new("d1").unwrap(),
            Timestamp::new(1_700_000_000_000).unwrap(),
            "node-a",
            "alice",
            vec![
                Pointer::new("entity", Target::reference("alice", "name")),
                Pointer::new("name", "Alice"),
                Pointer::new("n", Number::Float(1.5)),
                Pointer::new("i", -7),
                Pointer::new("b", true),
                Pointer::new("z", ()),
                Pointer::new("r", Target::reference_without_context("x")),
            ],
        )
        .unwrap()
        .with_signature(Some("c2ln".into()))
    }

    #[test]
    fn round_trip() {
        let d = sample();
        let bytes = encode(&d);
        assert_eq!(bytes[0], VERSION);
        assert_eq!(decode(&bytes).unwrap(), d);
    }

    #[test]
    fn refuses_garbage() {
        assert!(matches!(decode(&[]), Err(Error::Binary(_))));
        assert!(matches!(decode(&[2, 0]), Err(Error::Binary(_))));
        let mut bytes = encode(&sample());
        bytes.push(0);
        assert!(matches!(decode(&bytes), Err(Error::Binary(_))));
        bytes.truncate(bytes.len() - 5);
        assert!(decode(&bytes).is_err());
    }

    #[test]
    fn validates_like_json() {
        // A delta with an empty id, encoded by hand.
        let wire = WireOut {
            id: "",
            time_created: 1,
            host: "h",
            creator: "c",
            pointers: vec![],
            signature: None,
        };
        let mut bytes = vec![VERSION];
        bytes.extend(postcard::to_allocvec(&wire).unwrap());
        assert_eq!(
            decode(&bytes).unwrap_err().to_string(),
            "id must be a non-empty string"
        );
        let wire = WireOut {
            id: "d",
            time_created: 1,
            host: "h",
            creator: "c",
            pointers: vec![("x", TargetOut::Float(f64::NAN))],
            signature: None,
        };
        let mut bytes = vec![VERSION];
        bytes.extend(postcard::to_allocvec(&wire).unwrap());
        assert_eq!(
            decode(&bytes).unwrap_err().to_string(),
            "pointers[0].target must be a finite number"
        );
    }
}
