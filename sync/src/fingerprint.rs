//! Range fingerprints: a commutative sum of item hashes and a count, hashed
//! down to 16 bytes for the wire.

use serde::{Deserialize, Serialize};

/// The sum modulo 2^256 of the hashes of a set of items (each read as a
/// little-endian 256-bit integer), with their count.
///
/// Addition is commutative and associative, so the accumulator of a range
/// does not depend on insertion order or tree shape; it is also invertible,
/// so the accumulator of `[a, b)` is `prefix(b) - prefix(a)`. A set
/// reproducing a given sum needs a preimage attack on the item hashes
/// (blake3), and the count is mixed in as well (this is negentropy's
/// construction).
///
/// ```
/// use rhizome_sync::Accumulator;
/// let mut a = Accumulator::default();
/// a.add(&[1; 32]);
/// a.add(&[2; 32]);
/// let mut b = Accumulator::default();
/// b.add(&[2; 32]);
/// b.add(&[1; 32]);
/// assert_eq!(a, b);
/// assert_eq!(a.count(), 2);
/// assert_eq!(a.fingerprint(), b.fingerprint());
/// assert_eq!(a.minus(&b), Accumulator::default());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Accumulator {
    sum: [u64; 4],
    count: u64,
}

impl Accumulator {
    /// The accumulator of one item with this hash.
    pub fn of(hash: &[u8; 32]) -> Accumulator {
        let mut acc = Accumulator::default();
        acc.add(hash);
        acc
    }

    /// Adds one item.
    pub fn add(&mut self, hash: &[u8; 32]) {
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(hash.chunks_exact(8)) {
            let mut bytes = [0u8; 8];
            bytes.copy_from_slice(chunk);
            *limb = u64::from_le_bytes(bytes);
        }
        self.merge(&Accumulator {
            sum: limbs,
            count: 1,
        });
    }

    /// Adds every item of `other`.
    #[inline]
    pub fn merge(&mut self, other: &Accumulator) {
        let mut carry = false;
        for (a, b) in self.sum.iter_mut().zip(other.sum.iter()) {
            let (s1, c1) = a.overflowing_add(*b);
            let (s2, c2) = s1.overflowing_add(u64::from(carry));
            *a = s2;
            carry = c1 || c2;
        }
        self.count = self.count.wrapping_add(other.count);
    }

    /// The accumulator of `self`'s items without `other`'s (`other` must be
    /// a subset of `self` for the result to mean anything).
    pub fn minus(&self, other: &Accumulator) -> Accumulator {
        let mut out = *self;
        let mut borrow = false;
        for (a, b) in out.sum.iter_mut().zip(other.sum.iter()) {
            let (d1, b1) = a.overflowing_sub(*b);
            let (d2, b2) = d1.overflowing_sub(u64::from(borrow));
            *a = d2;
            borrow = b1 || b2;
        }
        out.count = self.count.wrapping_sub(other.count);
        out
    }

    /// How many items were added.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The 16-byte fingerprint sent on the wire: the first 16 bytes of
    /// blake3(`"rhizome-sync-fp1"` ‖ sum as 32 little-endian bytes ‖ count as
    /// 8 little-endian bytes).
    pub fn fingerprint(&self) -> Fingerprint {
        let mut hasher = blake3::Hasher::new();
        hasher.update(b"rhizome-sync-fp1");
        for limb in self.sum {
            hasher.update(&limb.to_le_bytes());
        }
        hasher.update(&self.count.to_le_bytes());
        let mut out = [0u8; 16];
        out.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        Fingerprint(out)
    }
}

/// The fingerprint of a range of items, as sent on the wire: 16 bytes (see
/// [`Accumulator::fingerprint`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize, Deserialize)]
pub struct Fingerprint(pub [u8; 16]);
