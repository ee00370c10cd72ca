//! A JSON delta as read, before validation: each field captured in a small
//! shape (a scalar, or the outline of an array or object), so that valid
//! input is read in one pass without a `serde_json::Value` tree and wrong
//! input can still be reported by field name.
//!
//! Nothing here fails on content, only on malformed JSON: every rule of
//! API.md §1 is checked afterwards (`validate.rs`), so that the first problem
//! is reported the same way whatever the order of the keys.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::limits;

/// The `visit_*` methods of a visitor that answers `$wrap(kind)` for every
/// scalar ("a string", "a number", "a boolean", "null").
macro_rules! visit_scalar_kinds {
    ($wrap:expr) => {
        fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
            Ok(($wrap)("a string"))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
            Ok(($wrap)("a number"))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
            Ok(($wrap)("a number"))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
            Ok(($wrap)("a number"))
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok(($wrap)("a boolean"))
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(($wrap)("null"))
        }
    };
}
pub(super) use visit_scalar_kinds;

/// Any JSON value, with arrays and objects reduced to their kind.
#[derive(Debug)]
pub(super) enum Scalar<'de> {
    Str(Cow<'de, str>),
    UInt(u64),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
    Array,
    Object,
}

impl Scalar<'_> {
    /// The kind of value, for messages: "a string", "an array", ...
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Scalar::Str(_) => "a string",
            Scalar::UInt(_) | Scalar::Int(_) | Scalar::Float(_) => "a number",
            Scalar::Bool(_) => "a boolean",
            Scalar::Null => "null",
            Scalar::Array => "an array",
            Scalar::Object => "an object",
        }
    }
}

struct ScalarVisitor;

impl<'de> Visitor<'de> for ScalarVisitor {
    type Value = Scalar<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Str(Cow::Owned(v)))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::UInt(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Int(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Scalar::Float(v))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Array)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Object)
    }
}

impl<'de> de::Deserialize<'de> for Scalar<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor)
    }
}

/// An object key, borrowed from the input when it has no escapes.
pub(super) struct Key<'de>(pub(super) Cow<'de, str>);

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

impl<'de> de::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

/// How many entries of an object target are kept: enough for every valid
/// target (`{"id", "context"}`) and to name a surplus key.
const OBJECT_ENTRIES_KEPT: usize = 3;

/// A pointer target: a scalar, or an object whose first few entries are kept.
#[derive(Debug)]
pub(super) enum TargetShape<'de> {
    /// Never [`Scalar::Object`].
    Scalar(Scalar<'de>),
    Object {
        /// The first [`OBJECT_ENTRIES_KEPT`] entries, in input order.
        entries: Vec<(Cow<'de, str>, Scalar<'de>)>,
        /// How many entries the object has.
        len: usize,
    },
}

struct TargetVisitor;

impl<'de> Visitor<'de> for TargetVisitor {
    type Value = TargetShape<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(TargetShape::Scalar(Scalar::Str(Cow::Borrowed(v))))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(TargetShape::Scalar(Scalar::Str(Cow::Owned(v.to_owned()))))
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(TargetShape::Scalar(Scalar::Str(Cow::Owned(v))))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(TargetShape::Scalar(Scalar::UInt(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(TargetShape::Scalar(Scalar::Int(v)))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(TargetShape::Scalar(Scalar::Float(v)))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(TargetShape::Scalar(Scalar::Bool(v)))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(TargetShape::Scalar(Scalar::Null))
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(TargetShape::Scalar(Scalar::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        ScalarVisitor.visit_seq(seq).map(TargetShape::Scalar)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        let mut len = 0;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if len < OBJECT_ENTRIES_KEPT {
                entries.push((key, map.next_value::<Scalar<'de>>()?));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
            len += 1;
        }
        Ok(TargetShape::Object { entries, len })
    }
}

impl<'de> de::Deserialize<'de> for TargetShape<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TargetVisitor)
    }
}

/// The keys a delta envelope may have in some format. The discriminant is
/// the slot in [`RawEnvelope::slots`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EnvKey {
    Id,
    TimeCreated,
    Host,
    Creator,
    Signature,
    Timestamp,
    Author,
    System,
    TimeReceived,
    ReceivedFrom,
    TransactionId,
}

impl EnvKey {
    /// Every envelope key but `pointers`, in the order they are checked.
    pub(super) const ALL: [EnvKey; 11] = [
        EnvKey::Id,
        EnvKey::TimeCreated,
        EnvKey::Host,
        EnvKey::Creator,
        EnvKey::Signature,
        EnvKey::Timestamp,
        EnvKey::Author,
        EnvKey::System,
        EnvKey::TimeReceived,
        EnvKey::ReceivedFrom,
        EnvKey::TransactionId,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            EnvKey::Id => "id",
            EnvKey::TimeCreated => "timeCreated",
            EnvKey::Host => "host",
            EnvKey::Creator => "creator",
            EnvKey::Signature => "signature",
            EnvKey::Timestamp => "timestamp",
            EnvKey::Author => "author",
            EnvKey::System => "system",
            EnvKey::TimeReceived => "timeReceived",
            EnvKey::ReceivedFrom => "receivedFrom",
            EnvKey::TransactionId => "transactionId",
        }
    }

    fn parse(key: &str) -> Option<EnvKey> {
        Some(match key {
            "id" => EnvKey::Id,
            "timeCreated" => EnvKey::TimeCreated,
            "host" => EnvKey::Host,
            "creator" => EnvKey::Creator,
            "signature" => EnvKey::Signature,
            "timestamp" => EnvKey::Timestamp,
            "author" => EnvKey::Author,
            "system" => EnvKey::System,
            "timeReceived" => EnvKey::TimeReceived,
            "receivedFrom" => EnvKey::ReceivedFrom,
            "transactionId" => EnvKey::TransactionId,
            _ => return None,
        })
    }

    /// rhizome-node's local fields: accepted (and dropped) in v1 only, so
    /// their values are not kept.
    fn is_local(self) -> bool {
        matches!(
            self,
            EnvKey::TimeReceived | EnvKey::ReceivedFrom | EnvKey::TransactionId
        )
    }
}

/// A delta envelope as read.
#[derive(Debug, Default)]
pub(super) struct RawEnvelope<'de> {
    /// Indexed by [`EnvKey`]; a local field holds `Null` whatever its value.
    pub(super) slots: [Option<Scalar<'de>>; 11],
    pub(super) pointers: Option<RawPointers<'de>>,
    /// The first key no format knows, in input order.
    pub(super) unknown: Option<Cow<'de, str>>,
    /// The first key given twice.
    pub(super) duplicate: Option<Cow<'de, str>>,
}

impl<'de> RawEnvelope<'de> {
    pub(super) fn get(&self, key: EnvKey) -> Option<&Scalar<'de>> {
        self.slots[key as usize].as_ref()
    }

    pub(super) fn has(&self, key: EnvKey) -> bool {
        self.slots[key as usize].is_some()
    }

    /// Reads the rest of an envelope whose first key (already read) is `first`.
    pub(super) fn read<A: MapAccess<'de>>(
        first: Option<Key<'de>>,
        map: &mut A,
    ) -> Result<RawEnvelope<'de>, A::Error> {
        let mut env = RawEnvelope::default();
        let mut next = first;
        if next.is_none() {
            next = map.next_key::<Key<'de>>()?;
        }
        while let Some(Key(key)) = next {
            if &*key == "pointers" {
                if env.pointers.is_some() {
                    env.duplicate.get_or_insert(key);
                    map.next_value::<IgnoredAny>()?;
                } else {
                    env.pointers = Some(map.next_value::<RawPointers<'de>>()?);
                }
            } else if let Some(k) = EnvKey::parse(&key) {
                let slot = &mut env.slots[k as usize];
                if slot.is_some() {
                    env.duplicate.get_or_insert(key);
                    map.next_value::<IgnoredAny>()?;
                } else if k.is_local() {
                    map.next_value::<IgnoredAny>()?;
                    *slot = Some(Scalar::Null);
                } else {
                    *slot = Some(map.next_value::<Scalar<'de>>()?);
                }
            } else {
                env.unknown.get_or_insert(key);
                map.next_value::<IgnoredAny>()?;
            }
            next = map.next_key::<Key<'de>>()?;
        }
        Ok(env)
    }
}

/// The `pointers` of an envelope as read.
#[derive(Debug)]
pub(super) enum RawPointers<'de> {
    /// v1 and rhizomedb. At most `MAX_POINTERS + 1` items are kept (enough
    /// to tell there are too many).
    Array(Vec<RawPointerItem<'de>>),
    /// v2: `(role, target)` in input order. At most `MAX_POINTERS + 1`
    /// entries are kept.
    Object(Vec<(Cow<'de, str>, TargetShape<'de>)>),
    /// Neither: a string, a number, ...
    Other(&'static str),
}

const POINTERS_KEPT: usize = limits::MAX_POINTERS + 1;

struct PointersVisitor;

impl<'de> Visitor<'de> for PointersVisitor {
    type Value = RawPointers<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(2).min(16));
        loop {
            if items.len() < POINTERS_KEPT {
                match seq.next_element::<RawPointerItem<'de>>()? {
                    Some(item) => items.push(item),
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
        }
        Ok(RawPointers::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            if entries.len() < POINTERS_KEPT {
                entries.push((key, map.next_value::<TargetShape<'de>>()?));
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(RawPointers::Object(entries))
    }

    visit_scalar_kinds!(RawPointers::Other);
}

impl<'de> de::Deserialize<'de> for RawPointers<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PointersVisitor)
    }
}

/// The keys a pointer object may have in some format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum PtrKey {
    LocalContext,
    Target,
    TargetContext,
    Role,
}

impl PtrKey {
    pub(super) const ALL: [PtrKey; 4] = [
        PtrKey::LocalContext,
        PtrKey::Target,
        PtrKey::TargetContext,
        PtrKey::Role,
    ];

    pub(super) fn name(self) -> &'static str {
        match self {
            PtrKey::LocalContext => "localContext",
            PtrKey::Target => "target",
            PtrKey::TargetContext => "targetContext",
            PtrKey::Role => "role",
        }
    }
}

/// One item of a pointer array.
#[derive(Debug)]
pub(super) enum RawPointerItem<'de> {
    Object(RawPointer<'de>),
    /// Not an object: its kind.
    Other(&'static str),
}

/// A pointer object as read (the union of v1's and rhizomedb's keys).
#[derive(Debug, Default)]
pub(super) struct RawPointer<'de> {
    pub(super) local_context: Option<Scalar<'de>>,
    pub(super) target: Option<TargetShape<'de>>,
    pub(super) target_context: Option<Scalar<'de>>,
    pub(super) role: Option<Scalar<'de>>,
    pub(super) unknown: Option<Cow<'de, str>>,
    pub(super) duplicate: Option<Cow<'de, str>>,
}

impl RawPointer<'_> {
    pub(super) fn has(&self, key: PtrKey) -> bool {
        match key {
            PtrKey::LocalContext => self.local_context.is_some(),
            PtrKey::Target => self.target.is_some(),
            PtrKey::TargetContext => self.target_context.is_some(),
            PtrKey::Role => self.role.is_some(),
        }
    }
}

struct PointerVisitor;

impl<'de> Visitor<'de> for PointerVisitor {
    type Value = RawPointerItem<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut p = RawPointer::default();
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let duplicate = match &*key {
                "localContext" => store(&mut p.local_context, &mut map)?,
                "targetContext" => store(&mut p.target_context, &mut map)?,
                "role" => store(&mut p.role, &mut map)?,
                "target" => store(&mut p.target, &mut map)?,
                _ => {
                    p.unknown.get_or_insert(key);
                    map.next_value::<IgnoredAny>()?;
                    continue;
                }
            };
            if duplicate {
                p.duplicate.get_or_insert(key);
            }
        }
        Ok(RawPointerItem::Object(p))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        ScalarVisitor.visit_seq(seq)?;
        Ok(RawPointerItem::Other("an array"))
    }
    visit_scalar_kinds!(RawPointerItem::Other);
}

/// Reads the next value into `slot` unless it is taken; returns whether it was.
fn store<'de, T: de::Deserialize<'de>, A: MapAccess<'de>>(
    slot: &mut Option<T>,
    map: &mut A,
) -> Result<bool, A::Error> {
    if slot.is_some() {
        map.next_value::<IgnoredAny>()?;
        Ok(true)
    } else {
        *slot = Some(map.next_value::<T>()?);
        Ok(false)
    }
}

impl<'de> de::Deserialize<'de> for RawPointerItem<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(PointerVisitor)
    }
}

/// A top-level value that should be one delta. Short-lived (read, then
/// validated at once), so the size difference of the variants costs nothing.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(super) enum RawTop<'de> {
    Envelope(RawEnvelope<'de>),
    /// Not an object: its kind.
    Other(&'static str),
}

pub(super) struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = RawTop<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a delta")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        RawEnvelope::read(None, &mut map).map(RawTop::Envelope)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        ScalarVisitor.visit_seq(seq)?;
        Ok(RawTop::Other("an array"))
    }
    visit_scalar_kinds!(RawTop::Other);
}

impl<'de> de::Deserialize<'de> for RawTop<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TopVisitor)
    }
}
