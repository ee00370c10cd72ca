//! Where deltas are kept: an append log keyed by local sequence number.
//!
//! A [`Store`] holds every delta this node has accepted, in arrival order.
//! Sequence numbers are local to the node, start at 1 and have no gaps:
//! the `n`-th delta ever appended has sequence number `n`. The disk store
//! keeps deltas in their binary form ([`rhizome_crdt::codec::binary`]) under
//! big-endian `u64` keys, so every write is an append.
//!
//! Stores are synchronous and owned by one writer; queries never read them
//! (they read the in-memory index rebuilt from [`Store::load`] at start).
//!
//! ```
//! use std::sync::Arc;
//! use rhizome::store::{Store, memory::MemoryStore};
//!
//! let mut store = MemoryStore::new();
//! let first = store.append(&[Arc::new(rhizome_crdt::workload::Workload::seeded(1).delta(0))]).unwrap();
//! assert_eq!(first, 1);
//! assert_eq!(store.last_seq(), 1);
//! assert_eq!(store.read(1, 10).unwrap()[0].1.id().as_str(), rhizome_crdt::workload::Workload::seeded(1).id(0).as_str());
//! ```

pub mod disk;
pub mod memory;

use std::sync::Arc;

use rhizome_crdt::Delta;

use crate::Result;

/// A local sequence number: the position of a delta in this node's arrival
/// order, from 1. `0` means "before the first delta".
pub type Seq = u64;

/// An append-only, durable log of deltas keyed by [`Seq`].
pub trait Store: Send + 'static {
    /// Appends `deltas` in one durable transaction: when this returns `Ok`,
    /// they survive a crash. They get the sequence numbers
    /// `last_seq() + 1 ..= last_seq() + deltas.len()`; the first is returned
    /// (`last_seq() + 1` for an empty slice, which writes nothing). On error
    /// nothing of `deltas` is stored.
    fn append(&mut self, deltas: &[Arc<Delta>]) -> Result<Seq>;

    /// The sequence number of the last stored delta (0 if none).
    fn last_seq(&self) -> Seq;

    /// Up to `limit` deltas from sequence number `from` (inclusive), in order.
    fn read(&self, from: Seq, limit: usize) -> Result<Vec<(Seq, Arc<Delta>)>>;

    /// Calls `visit` with every stored delta in sequence order (recovery).
    /// A record that does not decode is [`crate::Error::CorruptRecord`] and a
    /// missing sequence number [`crate::Error::SequenceGap`]: nothing is
    /// skipped silently.
    fn load(&self, visit: &mut dyn FnMut(Seq, Arc<Delta>)) -> Result<()>;

    /// Bytes the store occupies on disk (0 for memory).
    fn disk_bytes(&self) -> Result<u64>;

    /// Flushes and closes the store.
    fn close(self: Box<Self>) -> Result<()>;
}

/// Checks that `seq` is the one expected after `prev` while loading.
pub(crate) fn expect_next(prev: Seq, seq: Seq) -> Result<()> {
    if seq == prev + 1 {
        Ok(())
    } else {
        Err(crate::Error::SequenceGap {
            expected: prev + 1,
            found: seq,
        })
    }
}

/// The suite every [`Store`] implementation passes.
#[cfg(test)]
pub(crate) mod suite {
    use super::*;
    use rhizome_crdt::workload::Workload;

    fn batch(from: u64, n: u64) -> Vec<Arc<Delta>> {
        (from..from + n)
            .map(|i| Arc::new(Workload::seeded(9).delta(i)))
            .collect()
    }

    fn ids(v: &[(Seq, Arc<Delta>)]) -> Vec<(Seq, String)> {
        v.iter()
            .map(|(s, d)| (*s, d.id().as_str().to_owned()))
            .collect()
    }

    fn all(store: &dyn Store) -> Vec<(Seq, Arc<Delta>)> {
        let mut out = Vec::new();
        store.load(&mut |s, d| out.push((s, d))).unwrap();
        out
    }

    /// Runs every check against stores made by `open`. `reopen` closes and
    /// reopens a store (returning `None` for stores that do not persist).
    pub fn run<S: Store>(open: impl Fn() -> S, reopen: impl Fn(S) -> Option<S>) {
        empty(&open());
        append_and_read(open());
        read_windows(open());
        persists(open(), &reopen);
    }

    fn empty(s: &dyn Store) {
        assert_eq!(s.last_seq(), 0);
        assert!(s.read(0, 10).unwrap().is_empty());
        assert!(s.read(1, 10).unwrap().is_empty());
        assert!(all(s).is_empty());
    }

    fn append_and_read(mut s: impl Store) {
        assert_eq!(s.append(&[]).unwrap(), 1);
        assert_eq!(s.last_seq(), 0);
        let a = batch(0, 3);
        let b = batch(3, 1);
        let c = batch(4, 5);
        assert_eq!(s.append(&a).unwrap(), 1);
        assert_eq!(s.append(&b).unwrap(), 4);
        assert_eq!(s.append(&c).unwrap(), 5);
        assert_eq!(s.last_seq(), 9);
        let got = all(&s);
        let seqs: Vec<_> = got.iter().map(|(q, _)| *q).collect();
        assert_eq!(seqs, (1..=9).collect::<Vec<_>>(), "gap-free from 1");
        let want: Vec<_> = a.iter().chain(&b).chain(&c).collect();
        for ((_, got), want) in got.iter().zip(want) {
            assert_eq!(**got, **want, "content round-trips");
        }
    }

    fn read_windows(mut s: impl Store) {
        s.append(&batch(0, 10)).unwrap();
        let w = s.read(4, 3).unwrap();
        assert_eq!(
            ids(&w),
            vec![
                (4, Workload::seeded(9).id(3).to_string()),
                (5, Workload::seeded(9).id(4).to_string()),
                (6, Workload::seeded(9).id(5).to_string())
            ]
        );
        assert_eq!(s.read(0, 2).unwrap()[0].0, 1, "0 reads from the start");
        assert_eq!(s.read(9, 100).unwrap().len(), 2);
        assert!(s.read(11, 100).unwrap().is_empty());
        assert!(s.read(1, 0).unwrap().is_empty());
    }

    fn persists<S: Store>(mut s: S, reopen: &impl Fn(S) -> Option<S>) {
        s.append(&batch(0, 4)).unwrap();
        s.append(&batch(4, 2)).unwrap();
        let before = ids(&all(&s));
        let Some(mut s) = reopen(s) else { return };
        assert_eq!(s.last_seq(), 6);
        assert_eq!(ids(&all(&s)), before, "reopen keeps everything");
        assert_eq!(s.append(&batch(6, 2)).unwrap(), 7, "numbering continues");
        let Some(s) = reopen(s) else { return };
        assert_eq!(s.last_seq(), 8);
        assert_eq!(all(&s).len(), 8);
        assert_eq!(
            s.read(7, 5).unwrap()[1].1.id().as_str(),
            Workload::seeded(9).id(7).to_string()
        );
    }
}
