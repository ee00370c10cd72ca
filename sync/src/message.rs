//! The messages of the reconciliation protocol and their wire format
//! (postcard; `docs/sync-protocol.md` describes every field).
//!
//! A message covers the whole key space with consecutive ranges: the first
//! starts at [`Bound::start`], each ends at its `upper` bound, the next starts
//! there, and anything after the last range is implicitly [`Payload::Skip`].
//! Bound and key times are sent as differences from the previous time, so a
//! bound costs a few bytes.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fingerprint::Fingerprint;
use crate::key::{Bound, Key};

/// The wire format version this crate speaks (the first byte of every
/// message).
pub const PROTOCOL_VERSION: u8 = 2;

/// One message of a reconciliation: ranges to compare, and the keys the
/// sender asks the receiver for.
///
/// Messages are made by a [`Reconciler`](crate::Reconciler) or decoded from
/// bytes; the invariants (bounds increasing, listed keys inside their range
/// and sorted) hold for both.
///
/// ```
/// use rhizome_sync::{Config, FingerprintTree, Key, Message, Reconciler};
/// let tree = FingerprintTree::from_entries(vec![(Key::new(1, "a"), [1; 32])]);
/// let message = Reconciler::new(Config::default())?.initiate(&tree);
/// let bytes = message.encode();
/// assert_eq!(bytes[0], rhizome_sync::PROTOCOL_VERSION);
/// assert_eq!(Message::decode(&bytes)?, message);
/// # Ok::<(), rhizome_sync::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Message {
    ranges: Vec<RangeMessage>,
    want: Vec<Key>,
}

/// One range of a [`Message`]: from the previous range's upper bound (or the
/// start) to `upper`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RangeMessage {
    /// Where the range ends (exclusive).
    pub upper: Bound,
    /// What the sender says about it.
    pub payload: Payload,
}

/// What a message says about one range.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Payload {
    /// Nothing to do here: the range already agrees, or was settled.
    Skip,
    /// The sender's fingerprint of its items in the range.
    Fingerprint(Fingerprint),
    /// Every key the sender has in the range (sent when there are few).
    ItemList(Vec<Key>),
}

impl Message {
    /// The ranges, in order.
    pub fn ranges(&self) -> &[RangeMessage] {
        &self.ranges
    }

    /// Keys the sender lacks and asks the receiver for (the receiver listed
    /// them in an earlier [`Payload::ItemList`]).
    pub fn want(&self) -> &[Key] {
        &self.want
    }

    /// A terminal message has no range left to compare: the receiver only
    /// acts on [`want`](Self::want) and does not reply.
    pub fn is_terminal(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The message as postcard bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut prev_time = 0u64;
        let mut ranges = Vec::with_capacity(self.ranges.len());
        for range in &self.ranges {
            let lower_time = prev_time;
            let upper = match &range.upper {
                Bound::End => WireBound {
                    time: 0,
                    prefix: Vec::new(),
                },
                Bound::At { time, prefix } => {
                    // Bounds increase, so the difference is never negative.
                    let wire = WireBound {
                        time: time.saturating_sub(prev_time).saturating_add(1),
                        prefix: prefix.to_vec(),
                    };
                    prev_time = *time;
                    wire
                }
            };
            let payload = match &range.payload {
                Payload::Skip => WirePayload::Skip,
                Payload::Fingerprint(fp) => WirePayload::Fingerprint(fp.0),
                Payload::ItemList(keys) => WirePayload::ItemList(encode_keys(keys, lower_time)),
            };
            ranges.push(WireRange { upper, payload });
        }
        let wire = WireMessage {
            version: PROTOCOL_VERSION,
            ranges,
            want: encode_keys(&self.want, 0),
        };
        // Serialising plain structs into a Vec cannot fail.
        postcard::to_allocvec(&wire).unwrap_or_default()
    }

    /// Decodes and checks a message: a known version, bounds strictly
    /// increasing (only the last may be `End`), listed keys sorted and
    /// inside their range, wanted keys sorted.
    pub fn decode(bytes: &[u8]) -> Result<Message> {
        let wire: WireMessage = postcard::from_bytes(bytes)?;
        if wire.version != PROTOCOL_VERSION {
            return Err(Error::Malformed("unknown protocol version"));
        }
        let mut ranges = Vec::with_capacity(wire.ranges.len());
        let mut lower = Bound::start();
        let mut prev_time = 0u64;
        for range in wire.ranges {
            if lower == Bound::End {
                return Err(Error::Malformed("a range after the end bound"));
            }
            let upper = if range.upper.time == 0 {
                if !range.upper.prefix.is_empty() {
                    return Err(Error::Malformed("the end bound has an id prefix"));
                }
                Bound::End
            } else {
                let time = prev_time
                    .checked_add(range.upper.time - 1)
                    .ok_or(Error::Malformed("bound time overflows"))?;
                Bound::At {
                    time,
                    prefix: range.upper.prefix.into(),
                }
            };
            if upper <= lower {
                return Err(Error::Malformed("range bounds not increasing"));
            }
            let payload = match range.payload {
                WirePayload::Skip => Payload::Skip,
                WirePayload::Fingerprint(fp) => Payload::Fingerprint(Fingerprint(fp)),
                WirePayload::ItemList(keys) => {
                    let lower_time = lower.time().unwrap_or(0);
                    let keys = decode_keys(keys, lower_time)?;
                    let inside = keys
                        .iter()
                        .all(|key| !lower.is_after(key) && upper.is_after(key));
                    if !inside {
                        return Err(Error::Malformed("a listed key outside its range"));
                    }
                    Payload::ItemList(keys)
                }
            };
            if let Some(time) = upper.time() {
                prev_time = time;
            }
            lower = upper.clone();
            ranges.push(RangeMessage { upper, payload });
        }
        Ok(Message {
            ranges,
            want: decode_keys(wire.want, 0)?,
        })
    }
}

fn encode_keys(keys: &[Key], mut prev_time: u64) -> Vec<WireKey> {
    keys.iter()
        .map(|key| {
            let wire = WireKey {
                time: key.time().saturating_sub(prev_time),
                id: WireId::encode(key.time(), key.id()),
            };
            prev_time = key.time();
            wire
        })
        .collect()
}

fn decode_keys(wire: Vec<WireKey>, mut prev_time: u64) -> Result<Vec<Key>> {
    let mut keys: Vec<Key> = Vec::with_capacity(wire.len());
    for key in wire {
        let time = prev_time
            .checked_add(key.time)
            .ok_or(Error::Malformed("key time overflows"))?;
        let key = Key::new(time, key.id.decode(time));
        if keys.last().is_some_and(|last| *last >= key) {
            return Err(Error::Malformed("keys not strictly increasing"));
        }
        prev_time = time;
        keys.push(key);
    }
    Ok(keys)
}

/// Builds a reply: merges consecutive skips, drops trailing ones, and keeps
/// a running upper estimate of the encoded size.
#[derive(Default)]
pub(crate) struct MessageBuilder {
    message: Message,
    /// Non-skip ranges pushed so far.
    work: usize,
    estimate: usize,
}

/// The most bytes a varint-encoded u64 or a length prefix takes.
const VARINT_MAX: usize = 10;

impl MessageBuilder {
    pub(crate) fn push(&mut self, upper: Bound, payload: Payload) {
        let skip = matches!(payload, Payload::Skip);
        if skip
            && let Some(last) = self.message.ranges.last_mut()
            && matches!(last.payload, Payload::Skip)
        {
            last.upper = upper;
            return;
        }
        self.estimate += 1 + bound_estimate(&upper);
        match &payload {
            Payload::Skip => {}
            Payload::Fingerprint(_) => self.estimate += 16,
            Payload::ItemList(keys) => self.estimate += keys_estimate(keys),
        }
        if !skip {
            self.work += 1;
        }
        self.message.ranges.push(RangeMessage { upper, payload });
    }

    pub(crate) fn want(&mut self, keys: &[Key]) {
        self.estimate += keys_estimate(keys);
        self.message.want.extend_from_slice(keys);
    }

    /// Whether any non-skip range was pushed.
    pub(crate) fn has_work(&self) -> bool {
        self.work > 0
    }

    /// An upper estimate of the encoded size so far.
    pub(crate) fn estimate(&self) -> usize {
        self.estimate
    }

    pub(crate) fn finish(mut self) -> Message {
        while self
            .message
            .ranges
            .last()
            .is_some_and(|last| matches!(last.payload, Payload::Skip))
        {
            self.message.ranges.pop();
        }
        self.message.want.sort();
        self.message.want.dedup();
        self.message
    }
}

fn bound_estimate(bound: &Bound) -> usize {
    match bound {
        Bound::End => 2,
        Bound::At { prefix, .. } => 2 * VARINT_MAX + prefix.len(),
    }
}

fn keys_estimate(keys: &[Key]) -> usize {
    VARINT_MAX
        + keys
            .iter()
            .map(|k| 2 * VARINT_MAX + k.id().len())
            .sum::<usize>()
}

// The wire structs: what postcard writes, field by field.

#[derive(Serialize, Deserialize)]
struct WireMessage {
    version: u8,
    ranges: Vec<WireRange>,
    want: Vec<WireKey>,
}

#[derive(Serialize, Deserialize)]
struct WireRange {
    upper: WireBound,
    payload: WirePayload,
}

/// `time` is 0 for the end bound, else 1 + (time − previous bound's time).
#[derive(Serialize, Deserialize)]
struct WireBound {
    time: u64,
    prefix: Vec<u8>,
}

#[derive(Serialize, Deserialize)]
enum WirePayload {
    Skip,
    Fingerprint([u8; 16]),
    ItemList(Vec<WireKey>),
}

/// `time` is the difference from the previous key's time (the first key of a
/// list: from its range's lower bound, or 0 in `want`).
#[derive(Serialize, Deserialize)]
struct WireKey {
    time: u64,
    id: WireId,
}

/// A key's id. Delta ids are usually canonical UUID text (36 bytes); those
/// travel as their 16 bytes, and a UUIDv7 whose 48-bit millisecond prefix
/// is the key's own time as the 10 bytes after it. Decoding gives back the
/// exact id bytes: only ids that re-encode identically (lowercase,
/// hyphenated) take the short forms.
#[derive(Serialize, Deserialize, PartialEq, Eq, Debug)]
enum WireId {
    Raw(Vec<u8>),
    Uuid([u8; 16]),
    UuidAtTime([u8; 10]),
}

impl WireId {
    fn encode(time: u64, id: &[u8]) -> WireId {
        let Some(uuid) = canonical_uuid(id) else {
            return WireId::Raw(id.to_vec());
        };
        let bytes = uuid.as_bytes();
        let mut ms = [0u8; 8];
        ms[2..].copy_from_slice(&bytes[..6]);
        if u64::from_be_bytes(ms) == time {
            let mut rest = [0u8; 10];
            rest.copy_from_slice(&bytes[6..]);
            WireId::UuidAtTime(rest)
        } else {
            WireId::Uuid(*bytes)
        }
    }

    fn decode(self, time: u64) -> Vec<u8> {
        let bytes = match self {
            WireId::Raw(id) => return id,
            WireId::Uuid(bytes) => bytes,
            WireId::UuidAtTime(rest) => {
                let mut bytes = [0u8; 16];
                bytes[..6].copy_from_slice(&time.to_be_bytes()[2..]);
                bytes[6..].copy_from_slice(&rest);
                bytes
            }
        };
        uuid::Uuid::from_bytes(bytes)
            .hyphenated()
            .to_string()
            .into_bytes()
    }
}

/// The UUID whose canonical text (lowercase, hyphenated) is exactly `id`,
/// or `None`: the `uuid` parser also takes other spellings, which would not
/// come back byte for byte.
fn canonical_uuid(id: &[u8]) -> Option<uuid::Uuid> {
    if id.len() != uuid::fmt::Hyphenated::LENGTH {
        return None;
    }
    let uuid = uuid::Uuid::try_parse_ascii(id).ok()?;
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    (uuid.hyphenated().encode_lower(&mut text).as_bytes() == id).then_some(uuid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(time: u64, id: &[u8]) -> WireId {
        let wire = WireId::encode(time, id);
        let bytes = postcard::to_allocvec(&wire).expect("encodes");
        let back: WireId = postcard::from_bytes(&bytes).expect("decodes");
        assert_eq!(back, wire);
        assert_eq!(back.decode(time), id, "{}", String::from_utf8_lossy(id));
        wire
    }

    #[test]
    fn ids_come_back_byte_for_byte_in_the_shortest_form() {
        // A UUIDv7 made at 0x0189_2f5a_3c10 ms.
        let v7 = b"01892f5a-3c10-7abc-8def-0123456789ab";
        assert!(matches!(
            round_trip(0x0189_2f5a_3c10, v7),
            WireId::UuidAtTime(_)
        ));
        assert!(matches!(round_trip(0x0189_2f5a_3c11, v7), WireId::Uuid(_)));
        let v4 = b"f47ac10b-58cc-4372-a567-0e02b2c3d479";
        assert!(matches!(round_trip(5, v4), WireId::Uuid(_)));
        // Not canonical: these must travel as they are.
        for id in [
            &b"F47AC10B-58CC-4372-A567-0E02B2C3D479"[..],
            b"f47ac10b58cc4372a5670e02b2c3d479",
            b"f47ac10b-58cc-4372-a567-0e02b2c3d47g",
            b"f47ac10b-58cc-4372-a567_0e02b2c3d479",
            b"f47ac10b-58cc-4372-a567-0e02b2c3d4790",
            b"",
            b"delta-1",
            &[0xff, 0x00, 0x2d],
        ] {
            assert_eq!(round_trip(7, id), WireId::Raw(id.to_vec()));
        }
    }

    #[test]
    fn uuid_keys_cost_under_half_their_text() {
        let keys: Vec<Key> = (0..32u64)
            .map(|i| {
                Key::new(
                    1_700_000_000_000 + i,
                    format!("f47ac10b-58cc-4372-a567-0e02b2c3d4{i:02x}"),
                )
            })
            .collect();
        let message = Message {
            ranges: Vec::new(),
            want: keys.clone(),
        };
        let bytes = message.encode();
        assert!(bytes.len() < 32 * 20, "{} bytes", bytes.len());
        assert_eq!(Message::decode(&bytes).expect("decodes").want(), keys);
    }
}
