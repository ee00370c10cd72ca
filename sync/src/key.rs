//! What reconciliation orders and compares: item keys, range bounds and the
//! items themselves.

use std::cmp::Ordering;
use std::fmt;

use rhizome_crdt::Delta;

/// The position of an item in the reconciled order: `(timeCreated, id)`,
/// with ids compared as bytes. For a delta, its [`Delta::order_key`].
///
/// ```
/// use rhizome_sync::Key;
/// assert!(Key::new(1, b"b") < Key::new(2, b"a"));
/// assert!(Key::new(2, b"a") < Key::new(2, b"ab"));
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    time: u64,
    id: Box<[u8]>,
}

impl Key {
    /// The key of an item created at `time` (ms) with this id.
    pub fn new(time: u64, id: impl AsRef<[u8]>) -> Key {
        Key {
            time,
            id: id.as_ref().into(),
        }
    }

    /// The creation time, in milliseconds.
    pub fn time(&self) -> u64 {
        self.time
    }

    /// The id, as bytes (a delta id's UTF-8).
    pub fn id(&self) -> &[u8] {
        &self.id
    }

    /// The id as text when it is UTF-8 (delta ids always are).
    pub fn id_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.id).ok()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id_str() {
            Some(id) => write!(f, "Key({}, {id:?})", self.time),
            None => write!(f, "Key({}, {:?})", self.time, self.id),
        }
    }
}

/// A point between keys: the lower or upper end of a range. `At { time,
/// prefix }` sits just before every key `(t, id)` with `(t, id) >= (time,
/// prefix)`; `End` sits after every key. Ranges are half-open: `[lower,
/// upper)`.
///
/// Bounds between two neighbouring items use the shortest id prefix that
/// separates them ([`Bound::between`]), so messages stay small.
///
/// ```
/// use rhizome_sync::{Bound, Key};
/// let b = Bound::between(&Key::new(5, b"abcd"), &Key::new(5, b"abzz"));
/// assert_eq!(b, Bound::at(5, b"abz"));
/// assert!(b.is_after(&Key::new(5, b"abcd")));
/// assert!(!b.is_after(&Key::new(5, b"abzz")));
/// assert!(Bound::End.is_after(&Key::new(u64::MAX, b"zz")));
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Bound {
    /// Before every key `>= (time, prefix)`.
    At {
        /// Milliseconds.
        time: u64,
        /// An id prefix (possibly empty).
        prefix: Box<[u8]>,
    },
    /// After every key.
    End,
}

impl Bound {
    /// The bound before every key: `(0, "")`.
    pub fn start() -> Bound {
        Bound::at(0, [])
    }

    /// The bound just before every key `>= (time, prefix)`.
    pub fn at(time: u64, prefix: impl AsRef<[u8]>) -> Bound {
        Bound::At {
            time,
            prefix: prefix.as_ref().into(),
        }
    }

    /// The shortest bound `b` with `prev < b <= next` (`prev < next`
    /// required): `next`'s time, and no id at all when the times differ,
    /// else the shortest prefix of `next`'s id greater than `prev`'s id.
    pub fn between(prev: &Key, next: &Key) -> Bound {
        debug_assert!(prev < next);
        if prev.time != next.time {
            return Bound::at(next.time, []);
        }
        let common = prev
            .id
            .iter()
            .zip(next.id.iter())
            .take_while(|(a, b)| a == b)
            .count();
        let len = (common + 1).min(next.id.len());
        Bound::at(next.time, &next.id[..len])
    }

    /// The bound just before `key` (the lowest bound that `key` is not
    /// before).
    pub fn before(key: &Key) -> Bound {
        Bound::at(key.time, &key.id)
    }

    /// Whether `key` is strictly before this bound (so in a range whose
    /// upper end this is).
    pub fn is_after(&self, key: &Key) -> bool {
        match self {
            Bound::End => true,
            Bound::At { time, prefix } => (key.time, &*key.id) < (*time, &**prefix),
        }
    }

    /// The time of the bound, `None` for [`Bound::End`].
    pub fn time(&self) -> Option<u64> {
        match self {
            Bound::At { time, .. } => Some(*time),
            Bound::End => None,
        }
    }
}

impl PartialOrd for Bound {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Bound {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Bound::End, Bound::End) => Ordering::Equal,
            (Bound::End, _) => Ordering::Greater,
            (_, Bound::End) => Ordering::Less,
            (
                Bound::At {
                    time: t1,
                    prefix: p1,
                },
                Bound::At {
                    time: t2,
                    prefix: p2,
                },
            ) => (t1, p1).cmp(&(t2, p2)),
        }
    }
}

/// Something reconciliation can order and fingerprint: a key, and a 32-byte
/// hash of its content. Two replicas hold the same item when both agree.
///
/// ```
/// use rhizome_sync::SyncItem;
/// let delta = rhizome_crdt::Delta::builder("alice", "node-a").id("d1").timestamp(7).build()?;
/// assert_eq!(delta.sync_key().time(), 7);
/// assert_eq!(delta.sync_key().id(), b"d1");
/// assert_eq!(&delta.sync_hash(), delta.content_hash().as_bytes());
/// # Ok::<(), rhizome_crdt::Error>(())
/// ```
pub trait SyncItem {
    /// The item's position in the order.
    fn sync_key(&self) -> Key;
    /// The hash of the item's content.
    fn sync_hash(&self) -> [u8; 32];
}

impl SyncItem for Delta {
    fn sync_key(&self) -> Key {
        let (time, id) = self.order_key();
        Key::new(time.as_millis(), id.as_bytes())
    }

    fn sync_hash(&self) -> [u8; 32] {
        *self.content_hash().as_bytes()
    }
}

impl<T: SyncItem + ?Sized> SyncItem for std::sync::Arc<T> {
    fn sync_key(&self) -> Key {
        (**self).sync_key()
    }

    fn sync_hash(&self) -> [u8; 32] {
        (**self).sync_hash()
    }
}

impl SyncItem for (Key, [u8; 32]) {
    fn sync_key(&self) -> Key {
        self.0.clone()
    }

    fn sync_hash(&self) -> [u8; 32] {
        self.1
    }
}
