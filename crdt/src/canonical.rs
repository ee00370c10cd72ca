//! The canonical form of a delta and its content hash.
//!
//! The canonical form is one byte string per delta, whatever format the delta
//! came in (v1, v2, rhizomedb, binary) and whatever order its keys or
//! pointers were written in. It covers everything but the signature: Ed25519
//! signatures are computed over it (API.md §6), and its blake3 hash is the
//! delta's [`ContentHash`]. `docs/canonical-form.md` specifies every byte, for
//! clients in other languages, with a worked example; in short:
//!
//! ```text
//! "rhizome-delta-v1"                       16 ASCII bytes, no length
//! str(id) u64(timeCreated) str(host) str(creator)
//! u32(pointer count), then per pointer in canonical order:
//!   str(role) tag [payload]
//!     0x01 reference without context   str(id)
//!     0x02 reference with context      str(id) str(context)
//!     0x03 string                      str(value)
//!     0x04 integer                     i64, two's complement
//!     0x05 other number                IEEE-754 binary64 bits
//!     0x06 false   0x07 true   0x08 null
//! str(s) = u32(byte length of s in UTF-8) + the UTF-8 bytes; all integers
//! big-endian. A number is an integer when it is integral and in [-2^63, 2^63).
//! Canonical order: pointers stably sorted by role compared as UTF-8 bytes.
//! ```
//!
//! ```
//! use rhizome_crdt::{Delta, canonical};
//!
//! let a = Delta::builder("alice", "node-a").id("d1").timestamp(1)
//!     .pointer("name", "Alice").pointer("age", 30).build()?;
//! let b = Delta::builder("alice", "node-a").id("d1").timestamp(1)
//!     .pointer("age", 30).pointer("name", "Alice").build()?
//!     .with_signature(Some("c2ln".into()));
//! assert_eq!(canonical::canonical_bytes(&a), canonical::canonical_bytes(&b));
//! assert_eq!(a.content_hash(), b.content_hash());
//! assert!(canonical::canonical_bytes(&a).starts_with(b"rhizome-delta-v1"));
//! # Ok::<(), rhizome_crdt::Error>(())
//! ```

use std::fmt;

use crate::delta::{Delta, Target, limits};
use crate::number::Number;

/// The first bytes of every canonical form: what it is, and its version.
pub const DOMAIN: &[u8; 16] = b"rhizome-delta-v1";

const TAG_REFERENCE: u8 = 0x01;
const TAG_REFERENCE_WITH_CONTEXT: u8 = 0x02;
const TAG_STRING: u8 = 0x03;
const TAG_INT: u8 = 0x04;
const TAG_FLOAT: u8 = 0x05;
const TAG_FALSE: u8 = 0x06;
const TAG_TRUE: u8 = 0x07;
const TAG_NULL: u8 = 0x08;

// Every length the form writes as a u32 is bounded by a limit a `Delta`
// enforces, so the `as u32` casts below never truncate.
const _: () = {
    let max = u32::MAX as usize;
    assert!(limits::MAX_ID_BYTES <= max);
    assert!(limits::MAX_NAME_BYTES <= max);
    assert!(limits::MAX_REFERENCE_BYTES <= max);
    assert!(limits::MAX_STRING_BYTES <= max);
    assert!(limits::MAX_POINTERS <= max);
};

/// The canonical form of `delta` (without its signature).
///
/// ```
/// # use rhizome_crdt::{Delta, canonical};
/// let delta = Delta::builder("alice", "node-a").id("d1").timestamp(1).build()?;
/// let bytes = canonical::canonical_bytes(&delta);
/// assert_eq!(bytes.len(), canonical::canonical_len(&delta));
/// assert_eq!(&bytes[16..22], &[0, 0, 0, 2, b'd', b'1']);
/// # Ok::<(), rhizome_crdt::Error>(())
/// ```
pub fn canonical_bytes(delta: &Delta) -> Vec<u8> {
    let mut out = Vec::with_capacity(canonical_len(delta));
    write(delta, &mut out);
    out
}

/// Appends the canonical form of `delta` to `out` (to reuse one buffer for
/// many deltas).
///
/// ```
/// # use rhizome_crdt::{Delta, canonical};
/// # let delta = Delta::builder("alice", "node-a").id("d1").timestamp(1).build()?;
/// let mut buf = Vec::new();
/// canonical::write_canonical(&delta, &mut buf);
/// assert_eq!(buf, canonical::canonical_bytes(&delta));
/// # Ok::<(), rhizome_crdt::Error>(())
/// ```
pub fn write_canonical(delta: &Delta, out: &mut Vec<u8>) {
    out.reserve(canonical_len(delta));
    write(delta, out);
}

/// The length in bytes of the canonical form of `delta`.
pub fn canonical_len(delta: &Delta) -> usize {
    const STR: usize = 4;
    let pointers: usize = delta
        .pointers()
        .iter()
        .map(|p| {
            STR + p.role.len()
                + 1
                + match &p.target {
                    Target::Reference { id, context } => {
                        STR + id.len() + context.as_ref().map_or(0, |c| STR + c.len())
                    }
                    Target::String(s) => STR + s.len(),
                    Target::Number(_) => 8,
                    Target::Bool(_) | Target::Null => 0,
                }
        })
        .sum();
    DOMAIN.len()
        + STR
        + delta.id().as_str().len()
        + 8
        + STR
        + delta.host().len()
        + STR
        + delta.creator().len()
        + 4
        + pointers
}

/// The blake3 hash of a delta's canonical form: what identifies its content
/// (the signature is not part of it). Ordered and hashed as its bytes;
/// displayed (and debug-printed) as 64 lowercase hex digits.
///
/// ```
/// # use rhizome_crdt::{Delta, canonical};
/// let delta = Delta::builder("alice", "node-a").id("d1").timestamp(1).build()?;
/// let hash = delta.content_hash();
/// assert_eq!(hash.as_bytes(), blake3::hash(&canonical::canonical_bytes(&delta)).as_bytes());
/// assert_eq!(hash.to_string().len(), 64);
/// # Ok::<(), rhizome_crdt::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// The hash with these bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> ContentHash {
        ContentHash(bytes)
    }

    /// The 32 bytes of the hash.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Delta {
    /// The blake3 hash of this delta's [canonical form](crate::canonical),
    /// computed without allocating.
    pub fn content_hash(&self) -> ContentHash {
        let mut sink = HashSink {
            hasher: blake3::Hasher::new(),
            buf: [0; HASH_BUF],
            len: 0,
        };
        write(self, &mut sink);
        sink.flush();
        ContentHash(*sink.hasher.finalize().as_bytes())
    }
}

/// Where the canonical form goes: a buffer, or straight into a hasher.
trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// One blake3 chunk: the hasher is fed whole chunks, not the many small
/// pieces of the form.
const HASH_BUF: usize = 1024;

struct HashSink {
    hasher: blake3::Hasher,
    buf: [u8; HASH_BUF],
    len: usize,
}

impl HashSink {
    fn flush(&mut self) {
        self.hasher.update(&self.buf[..self.len]);
        self.len = 0;
    }
}

impl Sink for HashSink {
    fn put(&mut self, bytes: &[u8]) {
        if self.len + bytes.len() > HASH_BUF {
            self.flush();
            if bytes.len() > HASH_BUF {
                self.hasher.update(bytes);
                return;
            }
        }
        let end = self.len + bytes.len();
        self.buf[self.len..end].copy_from_slice(bytes);
        self.len = end;
    }
}

fn put_u32(out: &mut impl Sink, n: usize) {
    out.put(&(n as u32).to_be_bytes());
}

fn put_str(out: &mut impl Sink, s: &str) {
    put_u32(out, s.len());
    out.put(s.as_bytes());
}

fn write(delta: &Delta, out: &mut impl Sink) {
    out.put(DOMAIN);
    put_str(out, delta.id().as_str());
    out.put(&delta.time_created().as_millis().to_be_bytes());
    put_str(out, delta.host());
    put_str(out, delta.creator());
    put_u32(out, delta.pointers().len());
    // `Delta` keeps its pointers in canonical order.
    for p in delta.pointers() {
        put_str(out, &p.role);
        match &p.target {
            Target::Reference { id, context: None } => {
                out.put(&[TAG_REFERENCE]);
                put_str(out, id);
            }
            Target::Reference {
                id,
                context: Some(context),
            } => {
                out.put(&[TAG_REFERENCE_WITH_CONTEXT]);
                put_str(out, id);
                put_str(out, context);
            }
            Target::String(s) => {
                out.put(&[TAG_STRING]);
                put_str(out, s);
            }
            Target::Number(Number::Int(i)) => {
                out.put(&[TAG_INT]);
                out.put(&i.to_be_bytes());
            }
            Target::Number(Number::Float(f)) => {
                out.put(&[TAG_FLOAT]);
                out.put(&f.to_bits().to_be_bytes());
            }
            Target::Bool(false) => out.put(&[TAG_FALSE]),
            Target::Bool(true) => out.put(&[TAG_TRUE]),
            Target::Null => out.put(&[TAG_NULL]),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::{DeltaId, Pointer, Timestamp};

    /// A second reading of the specification: decodes a canonical form back
    /// into the delta (so encoding is injective wherever this round-trips).
    fn decode(bytes: &[u8]) -> Option<Delta> {
        struct Reader<'a>(&'a [u8]);
        impl<'a> Reader<'a> {
            fn take(&mut self, n: usize) -> Option<&'a [u8]> {
                let (head, rest) = self.0.split_at_checked(n)?;
                self.0 = rest;
                Some(head)
            }
            fn u32(&mut self) -> Option<usize> {
                Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?) as usize)
            }
            fn u64(&mut self) -> Option<u64> {
                Some(u64::from_be_bytes(self.take(8)?.try_into().ok()?))
            }
            fn str(&mut self) -> Option<Arc<str>> {
                let n = self.u32()?;
                Some(std::str::from_utf8(self.take(n)?).ok()?.into())
            }
        }
        let mut r = Reader(bytes);
        if r.take(16)? != DOMAIN {
            return None;
        }
        let id = DeltaId::new(r.str()?).ok()?;
        let time = Timestamp::new(r.u64()?).ok()?;
        let host = r.str()?;
        let creator = r.str()?;
        let n = r.u32()?;
        let mut pointers = Vec::new();
        for _ in 0..n {
            let role = r.str()?;
            let target = match r.take(1)?[0] {
                TAG_REFERENCE => Target::reference_without_context(r.str()?),
                TAG_REFERENCE_WITH_CONTEXT => Target::reference(r.str()?, r.str()?),
                TAG_STRING => Target::String(r.str()?),
                TAG_INT => Target::Number(Number::Int(r.u64()? as i64)),
                TAG_FLOAT => Target::Number(Number::Float(f64::from_bits(r.u64()?))),
                TAG_FALSE => Target::Bool(false),
                TAG_TRUE => Target::Bool(true),
                TAG_NULL => Target::Null,
                _ => return None,
            };
            pointers.push(Pointer { role, target });
        }
        if !r.0.is_empty() {
            return None;
        }
        let delta = Delta::new(id, time, host, creator, pointers).ok()?;
        // Pointers must already have been in canonical order.
        (canonical_bytes(&delta) == bytes).then_some(delta)
    }

    fn base() -> Delta {
        Delta::builder("alice", "node-a")
            .id("d1")
            .timestamp(1_700_000_000_000)
            .set_property("alice", "name", "Alice")
            .build()
            .unwrap()
    }

    fn every_kind() -> Delta {
        Delta::new(
            DeltaId::new("d2").unwrap(),
            Timestamp::new(1).unwrap(),
            "h",
            "c",
            vec![
                Pointer::new("b", Target::reference("e", "p")),
                Pointer::new("a", Target::reference_without_context("e")),
                Pointer::new("c", "é"),
                Pointer::new("d", -2),
                Pointer::new("d", Number::Float(0.5)),
                Pointer::new("f", true),
                Pointer::new("f", false),
                Pointer::new("g", ()),
            ],
        )
        .unwrap()
    }

    /// The `text` block after `marker` in the doc: bytes (hex pairs before
    /// each line's `|`) and the hash (the line `blake3 HEX`).
    fn doc_example(marker: &str) -> (Vec<u8>, String) {
        let doc = include_str!("../../docs/canonical-form.md");
        let start = doc.find(marker).expect("marker in doc");
        let block = doc[start..]
            .split("```text\n")
            .nth(1)
            .and_then(|b| b.split("```").next())
            .expect("text block after marker");
        let mut bytes = Vec::new();
        let mut hash = String::new();
        for line in block.lines() {
            if let Some(h) = line.strip_prefix("blake3 ") {
                hash = h.trim().to_owned();
            } else if let Some((hex, _)) = line.split_once('|') {
                for pair in hex.split_whitespace() {
                    bytes.push(u8::from_str_radix(pair, 16).expect("hex byte"));
                }
            }
        }
        (bytes, hash)
    }

    #[test]
    fn worked_examples_match_the_doc() {
        for (marker, delta) in [
            ("<!-- example: set_property -->", base()),
            ("<!-- example: every target kind -->", every_kind()),
        ] {
            let (bytes, hash) = doc_example(marker);
            assert_eq!(canonical_bytes(&delta), bytes, "{marker}");
            assert_eq!(delta.content_hash().to_string(), hash, "{marker}");
        }
    }

    #[test]
    fn exact_bytes_of_the_first_example() {
        let mut expected = b"rhizome-delta-v1".to_vec();
        expected.extend([0, 0, 0, 2, b'd', b'1']);
        expected.extend(1_700_000_000_000_u64.to_be_bytes());
        expected.extend(b"\0\0\0\x06node-a\0\0\0\x05alice\0\0\0\x02");
        expected.extend(b"\0\0\0\x06entity\x02\0\0\0\x05alice\0\0\0\x04name");
        expected.extend(b"\0\0\0\x04name\x03\0\0\0\x05Alice");
        assert_eq!(canonical_bytes(&base()), expected);
        assert_eq!(canonical_len(&base()), expected.len());
        assert_eq!(
            base().content_hash().as_bytes(),
            blake3::hash(&expected).as_bytes()
        );
    }

    #[test]
    fn hash_display_and_debug_are_lowercase_hex() {
        let h = ContentHash::from_bytes([0xab; 32]);
        assert_eq!(h.to_string(), "ab".repeat(32));
        assert_eq!(format!("{h:?}"), "ab".repeat(32));
        let mut b = [0; 32];
        b[0] = 1;
        assert!(ContentHash::from_bytes([0; 32]) < ContentHash::from_bytes(b));
    }

    #[test]
    fn signature_and_pointer_order_do_not_count() {
        let a = base();
        let b = Delta::builder("alice", "node-a")
            .id("d1")
            .timestamp(1_700_000_000_000)
            .pointer("name", "Alice")
            .pointer("entity", Target::reference("alice", "name"))
            .build()
            .unwrap()
            .with_signature(Some("sig".into()));
        assert_ne!(a, b);
        assert_eq!(canonical_bytes(&a), canonical_bytes(&b));
        assert_eq!(a.content_hash(), b.content_hash());
    }

    #[test]
    fn every_field_counts() {
        let d = every_kind();
        let with = |f: &dyn Fn(&mut Vec<Pointer>)| {
            let mut p = d.pointers().to_vec();
            f(&mut p);
            Delta::new(d.id().clone(), d.time_created(), "h", "c", p).unwrap()
        };
        let n = Number::Float;
        let variants = [
            Delta::new(
                DeltaId::new("d3").unwrap(),
                d.time_created(),
                "h",
                "c",
                d.pointers().to_vec(),
            )
            .unwrap(),
            Delta::new(
                d.id().clone(),
                Timestamp::new(2).unwrap(),
                "h",
                "c",
                d.pointers().to_vec(),
            )
            .unwrap(),
            Delta::new(
                d.id().clone(),
                d.time_created(),
                "H",
                "c",
                d.pointers().to_vec(),
            )
            .unwrap(),
            Delta::new(
                d.id().clone(),
                d.time_created(),
                "h",
                "C",
                d.pointers().to_vec(),
            )
            .unwrap(),
            // host and creator swapped
            Delta::new(
                d.id().clone(),
                d.time_created(),
                "c",
                "h",
                d.pointers().to_vec(),
            )
            .unwrap(),
            with(&|p| {
                p.pop();
            }),
            with(&|p| p.push(Pointer::new("z", ()))),
            with(&|p| p[0].role = "A".into()),
            with(&|p| p[0].target = Target::reference("e", "p")),
            with(&|p| p[0].target = Target::reference_without_context("f")),
            with(&|p| p[1].target = Target::reference("e", "q")),
            with(&|p| p[1].target = Target::reference_without_context("e")),
            with(&|p| p[2].target = "e".into()),
            with(&|p| p[3].target = Target::from(2)),
            with(&|p| p[3].target = n(-2.5).into()),
            with(&|p| p[4].target = n(0.25).into()),
            with(&|p| p[4].target = n(-0.5).into()),
            // same-role pointers swapped
            with(&|p| p.swap(3, 4)),
            with(&|p| p.swap(5, 6)),
            with(&|p| p[7].target = "".into()),
            with(&|p| p[7].target = Target::from(0)),
        ];
        let original = canonical_bytes(&d);
        let mut seen = std::collections::HashSet::new();
        seen.insert(original.clone());
        for v in &variants {
            assert!(seen.insert(canonical_bytes(v)), "{v:?}");
            assert_ne!(v.content_hash(), d.content_hash(), "{v:?}");
        }
    }

    #[test]
    fn length_prefixes_keep_fields_apart() {
        let d = |host: &str, creator: &str, s: &str| {
            Delta::builder(creator, host)
                .id("d")
                .timestamp(1)
                .pointer("r", s)
                .build()
                .unwrap()
        };
        assert_ne!(
            canonical_bytes(&d("ab", "c", "x")),
            canonical_bytes(&d("a", "bc", "x"))
        );
        assert_ne!(
            canonical_bytes(&d("a", "b", "")),
            canonical_bytes(&d("a", "b", "\0"))
        );
    }

    #[test]
    fn numbers_as_the_rule_says() {
        let bytes = |x: f64| {
            let d = Delta::builder("c", "h")
                .id("d")
                .timestamp(1)
                .pointer("n", Number::from_f64(x).unwrap())
                .build()
                .unwrap();
            let b = canonical_bytes(&d);
            b[b.len() - 9..].to_vec()
        };
        let int = |i: i64| [&[TAG_INT][..], &i.to_be_bytes()].concat();
        let float = |f: f64| [&[TAG_FLOAT][..], &f.to_bits().to_be_bytes()].concat();
        assert_eq!(bytes(3.0), int(3));
        assert_eq!(bytes(-0.0), int(0));
        assert_eq!(bytes(-9_223_372_036_854_775_808.0), int(i64::MIN));
        assert_eq!(bytes(1e18), int(1_000_000_000_000_000_000));
        assert_eq!(
            bytes(9_223_372_036_854_775_808.0),
            float(9_223_372_036_854_775_808.0)
        );
        assert_eq!(bytes(1.5), float(1.5));
        assert_eq!(bytes(-1e300), float(-1e300));
        assert_eq!(
            bytes(0.1),
            [5, 0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]
        );
    }

    #[test]
    fn long_strings_hash_as_their_bytes() {
        // Pieces larger than the hash buffer, and many small ones around them.
        let big = "x".repeat(limits::MAX_STRING_BYTES);
        let mut b = Delta::builder("c", "h").id("d").timestamp(1);
        for i in 0..40 {
            b = b.pointer(
                format!("r{i:02}"),
                if i % 7 == 3 { big.as_str() } else { "y" },
            );
        }
        let d = b.build().unwrap();
        let bytes = canonical_bytes(&d);
        assert_eq!(bytes.len(), canonical_len(&d));
        assert_eq!(d.content_hash().as_bytes(), blake3::hash(&bytes).as_bytes());
        let mut buf = b"prefix".to_vec();
        write_canonical(&d, &mut buf);
        assert_eq!(&buf[6..], &bytes[..]);
    }

    fn name() -> impl Strategy<Value = String> {
        // Few distinct short names make shared roles and near-collisions likely.
        prop_oneof![4 => "[ab]{1,2}", 1 => "\\PC{1,6}"]
    }

    fn target() -> impl Strategy<Value = Target> {
        prop_oneof![
            (name(), name()).prop_map(|(id, c)| Target::reference(id, c)),
            name().prop_map(Target::reference_without_context),
            "\\PC{0,6}".prop_map(Target::from),
            prop_oneof![Just(0_i64), Just(-1), Just(1), any::<i64>()].prop_map(Target::from),
            any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Target::from)),
            any::<bool>().prop_map(Target::from),
            Just(Target::Null),
        ]
    }

    fn pointers() -> impl Strategy<Value = Vec<Pointer>> {
        prop::collection::vec(
            (name(), target()).prop_map(|(r, t)| Pointer::new(r, t)),
            0..8,
        )
    }

    fn delta() -> impl Strategy<Value = Delta> {
        (
            name(),
            1..=limits::MAX_TIMESTAMP,
            name(),
            name(),
            pointers(),
        )
            .prop_map(|(id, t, host, creator, pointers)| {
                Delta::new(
                    DeltaId::new(id).unwrap(),
                    Timestamp::new(t).unwrap(),
                    host,
                    creator,
                    pointers,
                )
                .unwrap()
            })
    }

    proptest! {
        #[test]
        fn decodes_back_to_the_delta(d in delta()) {
            let bytes = canonical_bytes(&d);
            prop_assert_eq!(bytes.len(), canonical_len(&d));
            prop_assert_eq!(decode(&bytes), Some(d.clone()));
            // Stable.
            prop_assert_eq!(canonical_bytes(&d), bytes.clone());
            prop_assert_eq!(*d.content_hash().as_bytes(), *blake3::hash(&bytes).as_bytes());
        }

        #[test]
        fn different_deltas_give_different_bytes(a in delta(), b in delta()) {
            prop_assert_eq!(
                a.same_content(&b),
                canonical_bytes(&a) == canonical_bytes(&b)
            );
            prop_assert_eq!(a.same_content(&b), a.content_hash() == b.content_hash());
        }

        #[test]
        fn input_order_of_roles_does_not_count(
            d in delta(),
            order in prop::collection::vec(any::<u64>(), 8),
        ) {
            // Any interleaving that keeps same-role pointers in their order:
            // shuffle the roles' slots, then refill each role's slots with
            // its pointers in order.
            let ps = d.pointers();
            let mut slots: Vec<usize> = (0..ps.len()).collect();
            slots.sort_by_key(|&i| order[i]);
            let mut queues: std::collections::BTreeMap<&str, std::collections::VecDeque<&Pointer>> =
                Default::default();
            for p in ps {
                queues.entry(&*p.role).or_default().push_back(p);
            }
            let shuffled: Vec<Pointer> = slots
                .iter()
                .map(|&i| queues.get_mut(&*ps[i].role).and_then(|q| q.pop_front()).unwrap().clone())
                .collect();
            let e = Delta::new(d.id().clone(), d.time_created(), d.host(), d.creator(), shuffled)
                .unwrap();
            prop_assert_eq!(canonical_bytes(&e), canonical_bytes(&d));
            prop_assert_eq!(e.content_hash(), d.content_hash());
        }
    }
}
