//! An ordered set of items with incremental range fingerprints: a treap
//! (randomised balanced binary search tree) over [`Key`]s whose nodes cache
//! the count and the [`Accumulator`] of their subtree.
//!
//! Every query descends one root-to-leaf path, so counting, fingerprinting
//! any range `[lower, upper)`, ranking and selecting by rank are O(log n)
//! (expected), and an insertion updates the caches along its path in O(log
//! n). Items are never removed: a delta set only grows.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use crate::fingerprint::{Accumulator, Fingerprint};
use crate::key::{Bound, Key, SyncItem};

const NIL: u32 = u32::MAX;

struct Node {
    key: Key,
    hash: [u8; 32],
    left: u32,
    right: u32,
    priority: u64,
    /// The count and sum of this node's subtree.
    subtree: Accumulator,
}

/// The ordered set of items a replica reconciles, with O(log n) range
/// fingerprints.
///
/// ```
/// use rhizome_sync::{Bound, FingerprintTree, Key};
///
/// let mut tree = FingerprintTree::new();
/// for (i, id) in ["a", "b", "c", "d"].iter().enumerate() {
///     tree.insert_entry(Key::new(i as u64 + 1, id), [i as u8; 32]);
/// }
/// assert_eq!(tree.len(), 4);
/// // Items 2 and 3 (times 2 and 3):
/// let (lo, hi) = (Bound::at(2, []), Bound::at(4, []));
/// assert_eq!(tree.count(&lo, &hi), 2);
/// assert_eq!(tree.select(2), Some(&Key::new(3, "c")));
/// assert_eq!(tree.rank(&hi), 3);
/// let keys: Vec<_> = tree.range(&lo, &hi).map(|(k, _)| k.clone()).collect();
/// assert_eq!(keys, [Key::new(2, "b"), Key::new(3, "c")]);
///
/// // The same items inserted in another order give the same fingerprint.
/// let mut other = FingerprintTree::new();
/// other.insert_entry(Key::new(3, "c"), [2; 32]);
/// other.insert_entry(Key::new(2, "b"), [1; 32]);
/// assert_eq!(other.fingerprint(&Bound::start(), &Bound::End), tree.fingerprint(&lo, &hi));
/// ```
pub struct FingerprintTree {
    nodes: Vec<Node>,
    root: u32,
    seed: u64,
}

impl Default for FingerprintTree {
    fn default() -> Self {
        FingerprintTree::new()
    }
}

impl std::fmt::Debug for FingerprintTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FingerprintTree")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl FingerprintTree {
    /// An empty set.
    pub fn new() -> FingerprintTree {
        FingerprintTree {
            nodes: Vec::new(),
            root: NIL,
            // Priorities mix a per-process random seed into the item hash,
            // so a peer cannot grind hashes to unbalance the tree.
            seed: RandomState::new().hash_one(0x5eed_u64),
        }
    }

    /// An empty set with room for `capacity` items.
    pub fn with_capacity(capacity: usize) -> FingerprintTree {
        let mut tree = FingerprintTree::new();
        tree.nodes.reserve(capacity);
        tree
    }

    /// Builds a set from items in any order (duplicates by key keep the
    /// first), in O(n log n) for the sort and O(n) for the tree: faster than
    /// inserting one by one.
    pub fn from_items<T: SyncItem>(items: impl IntoIterator<Item = T>) -> FingerprintTree {
        let entries: Vec<(Key, [u8; 32])> = items
            .into_iter()
            .map(|item| (item.sync_key(), item.sync_hash()))
            .collect();
        FingerprintTree::from_entries(entries)
    }

    /// [`from_items`](Self::from_items) for `(key, hash)` pairs.
    pub fn from_entries(mut entries: Vec<(Key, [u8; 32])>) -> FingerprintTree {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.dedup_by(|later, earlier| later.0 == earlier.0);
        let mut tree = FingerprintTree::with_capacity(entries.len());
        // Cartesian-tree construction: keys arrive in order, a stack holds
        // the right spine; each node pops the spine nodes of lower priority
        // and adopts the last one as its left child.
        let mut spine: Vec<u32> = Vec::new();
        for (key, hash) in entries {
            let index = tree.push_node(key, hash);
            let priority = tree.nodes[index as usize].priority;
            let mut last = NIL;
            while let Some(&top) = spine.last() {
                if tree.nodes[top as usize].priority >= priority {
                    break;
                }
                last = top;
                spine.pop();
            }
            tree.nodes[index as usize].left = last;
            if let Some(&top) = spine.last() {
                tree.nodes[top as usize].right = index;
            }
            spine.push(index);
        }
        tree.root = spine.first().copied().unwrap_or(NIL);
        tree.recompute_all();
        tree
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Adds an item; `false` (and no change) when an item with the same key
    /// is already there, whatever its hash.
    pub fn insert<T: SyncItem + ?Sized>(&mut self, item: &T) -> bool {
        self.insert_entry(item.sync_key(), item.sync_hash())
    }

    /// Adds the item with this key and hash; `false` (and no change) when
    /// the key is already there.
    pub fn insert_entry(&mut self, key: Key, hash: [u8; 32]) -> bool {
        if self.get(&key).is_some() {
            return false;
        }
        let index = self.push_node(key, hash);
        self.root = self.insert_at(self.root, index);
        true
    }

    /// The hash of the item with this key.
    pub fn get(&self, key: &Key) -> Option<&[u8; 32]> {
        let mut at = self.root;
        while at != NIL {
            let node = &self.nodes[at as usize];
            match key.cmp(&node.key) {
                std::cmp::Ordering::Less => at = node.left,
                std::cmp::Ordering::Greater => at = node.right,
                std::cmp::Ordering::Equal => return Some(&node.hash),
            }
        }
        None
    }

    /// Whether an item with this key is in the set.
    pub fn contains(&self, key: &Key) -> bool {
        self.get(key).is_some()
    }

    /// The count and sum of the items before `bound`, in O(log n).
    pub fn prefix(&self, bound: &Bound) -> Accumulator {
        let mut acc = Accumulator::default();
        let mut at = self.root;
        while at != NIL {
            let node = &self.nodes[at as usize];
            if bound.is_after(&node.key) {
                acc.merge(&self.subtree(node.left));
                acc.merge(&Accumulator::of(&node.hash));
                at = node.right;
            } else {
                at = node.left;
            }
        }
        acc
    }

    /// The count and sum of the items in `[lower, upper)`, in O(log n).
    pub fn accumulate(&self, lower: &Bound, upper: &Bound) -> Accumulator {
        if lower >= upper {
            return Accumulator::default();
        }
        self.prefix(upper).minus(&self.prefix(lower))
    }

    /// The fingerprint of the items in `[lower, upper)`, in O(log n).
    pub fn fingerprint(&self, lower: &Bound, upper: &Bound) -> Fingerprint {
        self.accumulate(lower, upper).fingerprint()
    }

    /// The number of items in `[lower, upper)`, in O(log n).
    pub fn count(&self, lower: &Bound, upper: &Bound) -> usize {
        if lower >= upper {
            return 0;
        }
        self.rank(upper).saturating_sub(self.rank(lower))
    }

    /// The number of items before `bound`, in O(log n).
    pub fn rank(&self, bound: &Bound) -> usize {
        let mut rank = 0usize;
        let mut at = self.root;
        while at != NIL {
            let node = &self.nodes[at as usize];
            if bound.is_after(&node.key) {
                rank += self.size(node.left) + 1;
                at = node.right;
            } else {
                at = node.left;
            }
        }
        rank
    }

    /// The key of rank `k` (0-based, in key order), in O(log n).
    pub fn select(&self, mut k: usize) -> Option<&Key> {
        let mut at = self.root;
        while at != NIL {
            let node = &self.nodes[at as usize];
            let left = self.size(node.left);
            match k.cmp(&left) {
                std::cmp::Ordering::Less => at = node.left,
                std::cmp::Ordering::Equal => return Some(&node.key),
                std::cmp::Ordering::Greater => {
                    k -= left + 1;
                    at = node.right;
                }
            }
        }
        None
    }

    /// The items in `[lower, upper)` in key order, as `(key, hash)`:
    /// O(log n) to start, O(1) amortised per item.
    pub fn range<'a>(&'a self, lower: &Bound, upper: &'a Bound) -> Range<'a> {
        let mut stack = Vec::new();
        let mut at = self.root;
        while at != NIL {
            let node = &self.nodes[at as usize];
            if lower.is_after(&node.key) {
                at = node.right;
            } else {
                stack.push(at);
                at = node.left;
            }
        }
        Range {
            tree: self,
            stack,
            upper,
        }
    }

    /// Every item in key order.
    pub fn iter(&self) -> Range<'_> {
        const END: &Bound = &Bound::End;
        self.range(&Bound::start(), END)
    }

    fn size(&self, at: u32) -> usize {
        if at == NIL {
            0
        } else {
            self.nodes[at as usize].subtree.count() as usize
        }
    }

    fn subtree(&self, at: u32) -> Accumulator {
        if at == NIL {
            Accumulator::default()
        } else {
            self.nodes[at as usize].subtree
        }
    }

    fn push_node(&mut self, key: Key, hash: [u8; 32]) -> u32 {
        let mut head = [0u8; 8];
        head.copy_from_slice(&hash[..8]);
        let priority = mix(u64::from_le_bytes(head) ^ self.seed);
        let index = u32::try_from(self.nodes.len()).unwrap_or(NIL);
        assert!(
            index != NIL,
            "a fingerprint tree holds fewer than 2^32 - 1 items"
        );
        self.nodes.push(Node {
            subtree: Accumulator::of(&hash),
            key,
            hash,
            left: NIL,
            right: NIL,
            priority,
        });
        index
    }

    fn update(&mut self, at: u32) {
        let node = &self.nodes[at as usize];
        let mut acc = self.subtree(node.left);
        acc.add(&node.hash);
        acc.merge(&self.subtree(node.right));
        self.nodes[at as usize].subtree = acc;
    }

    /// Inserts node `new` into the subtree at `at`, returning the new root.
    fn insert_at(&mut self, at: u32, new: u32) -> u32 {
        if at == NIL {
            return new;
        }
        if self.nodes[new as usize].priority > self.nodes[at as usize].priority {
            let (left, right) = self.split(at, new);
            let node = &mut self.nodes[new as usize];
            node.left = left;
            node.right = right;
            self.update(new);
            return new;
        }
        if self.nodes[new as usize].key < self.nodes[at as usize].key {
            let child = self.insert_at(self.nodes[at as usize].left, new);
            self.nodes[at as usize].left = child;
        } else {
            let child = self.insert_at(self.nodes[at as usize].right, new);
            self.nodes[at as usize].right = child;
        }
        self.update(at);
        at
    }

    /// Splits the subtree at `at` into the keys below node `pivot`'s key and
    /// those above.
    fn split(&mut self, at: u32, pivot: u32) -> (u32, u32) {
        if at == NIL {
            return (NIL, NIL);
        }
        if self.nodes[at as usize].key < self.nodes[pivot as usize].key {
            let (left, right) = self.split(self.nodes[at as usize].right, pivot);
            self.nodes[at as usize].right = left;
            self.update(at);
            (at, right)
        } else {
            let (left, right) = self.split(self.nodes[at as usize].left, pivot);
            self.nodes[at as usize].left = right;
            self.update(at);
            (left, at)
        }
    }

    /// Recomputes every cached subtree (children before parents).
    fn recompute_all(&mut self) {
        let mut stack = vec![(self.root, false)];
        while let Some((at, children_done)) = stack.pop() {
            if at == NIL {
                continue;
            }
            if children_done {
                self.update(at);
            } else {
                let node = &self.nodes[at as usize];
                stack.push((at, true));
                stack.push((node.left, false));
                stack.push((node.right, false));
            }
        }
    }

    #[cfg(test)]
    fn depth(&self) -> usize {
        fn go(tree: &FingerprintTree, at: u32) -> usize {
            if at == NIL {
                0
            } else {
                let node = &tree.nodes[at as usize];
                1 + go(tree, node.left).max(go(tree, node.right))
            }
        }
        go(self, self.root)
    }
}

/// splitmix64's finaliser: spreads the bits of `x`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The items of a range of a [`FingerprintTree`], in key order.
pub struct Range<'a> {
    tree: &'a FingerprintTree,
    stack: Vec<u32>,
    upper: &'a Bound,
}

impl<'a> Iterator for Range<'a> {
    type Item = (&'a Key, &'a [u8; 32]);

    fn next(&mut self) -> Option<Self::Item> {
        let at = self.stack.pop()?;
        let nodes = &self.tree.nodes;
        let node = &nodes[at as usize];
        if !self.upper.is_after(&node.key) {
            self.stack.clear();
            return None;
        }
        let mut child = node.right;
        while child != NIL {
            self.stack.push(child);
            child = nodes[child as usize].left;
        }
        Some((&node.key, &node.hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hash_of(i: u64) -> [u8; 32] {
        *blake3::hash(&i.to_le_bytes()).as_bytes()
    }

    /// Keys with few distinct times and short ids, so equal times, shared
    /// prefixes and prefix-of-another ids all occur.
    fn arb_key() -> impl Strategy<Value = Key> {
        (0u64..20, proptest::collection::vec(0u8..4, 0..4)).prop_map(|(t, id)| Key::new(t, id))
    }

    fn arb_bound() -> impl Strategy<Value = Bound> {
        prop_oneof![
            1 => Just(Bound::End),
            6 => (0u64..21, proptest::collection::vec(0u8..4, 0..4)).prop_map(|(t, p)| Bound::at(t, p)),
        ]
    }

    fn brute(entries: &[(Key, [u8; 32])], lower: &Bound, upper: &Bound) -> Accumulator {
        let mut acc = Accumulator::default();
        for (key, hash) in entries {
            if !lower.is_after(key) && upper.is_after(key) {
                acc.add(hash);
            }
        }
        acc
    }

    proptest! {
        #[test]
        fn queries_match_brute_force(
            keys in proptest::collection::vec(arb_key(), 0..200),
            queries in proptest::collection::vec((arb_bound(), arb_bound()), 1..20),
            bulk in any::<bool>(),
        ) {
            let entries: Vec<(Key, [u8; 32])> =
                keys.iter().enumerate().map(|(i, k)| (k.clone(), hash_of(i as u64))).collect();
            let tree = if bulk {
                FingerprintTree::from_entries(entries.clone())
            } else {
                let mut tree = FingerprintTree::new();
                for (key, hash) in &entries {
                    tree.insert_entry(key.clone(), *hash);
                }
                tree
            };
            // The reference: sorted, first hash per key kept.
            let mut reference: Vec<(Key, [u8; 32])> = Vec::new();
            for (key, hash) in &entries {
                if !reference.iter().any(|(k, _)| k == key) {
                    reference.push((key.clone(), *hash));
                }
            }
            reference.sort_by(|a, b| a.0.cmp(&b.0));
            prop_assert_eq!(tree.len(), reference.len());
            let all: Vec<_> = tree.iter().map(|(k, h)| (k.clone(), *h)).collect();
            prop_assert_eq!(&all, &reference);
            for (k, (key, hash)) in reference.iter().enumerate() {
                prop_assert_eq!(tree.select(k), Some(key));
                prop_assert_eq!(tree.rank(&Bound::before(key)), k);
                prop_assert_eq!(tree.get(key), Some(hash));
            }
            prop_assert_eq!(tree.select(reference.len()), None);
            for (lower, upper) in &queries {
                let expected = brute(&reference, lower, upper);
                prop_assert_eq!(tree.accumulate(lower, upper), expected);
                prop_assert_eq!(tree.fingerprint(lower, upper), expected.fingerprint());
                prop_assert_eq!(tree.count(lower, upper) as u64, expected.count());
                let listed: Vec<_> = tree.range(lower, upper).map(|(k, _)| k.clone()).collect();
                let wanted: Vec<_> = reference
                    .iter()
                    .filter(|(k, _)| !lower.is_after(k) && upper.is_after(k))
                    .map(|(k, _)| k.clone())
                    .collect();
                prop_assert_eq!(listed, wanted);
            }
        }

        #[test]
        fn between_separates_neighbours(a in arb_key(), b in arb_key()) {
            prop_assume!(a != b);
            let (prev, next) = if a < b { (a, b) } else { (b, a) };
            let bound = Bound::between(&prev, &next);
            prop_assert!(bound.is_after(&prev));
            prop_assert!(!bound.is_after(&next));
            prop_assert!(Bound::before(&prev) < bound && bound <= Bound::before(&next));
        }
    }

    #[test]
    fn insertion_order_does_not_change_fingerprints() {
        let entries: Vec<_> = (0..500u64)
            .map(|i| (Key::new(i / 3, i.to_be_bytes()), hash_of(i)))
            .collect();
        let mut forward = FingerprintTree::new();
        let mut backward = FingerprintTree::new();
        for (key, hash) in &entries {
            forward.insert_entry(key.clone(), *hash);
        }
        for (key, hash) in entries.iter().rev() {
            backward.insert_entry(key.clone(), *hash);
        }
        let bulk = FingerprintTree::from_entries(entries.clone());
        let (lo, hi) = (Bound::at(20, []), Bound::at(100, [0, 0]));
        assert_eq!(
            forward.fingerprint(&lo, &hi),
            backward.fingerprint(&lo, &hi)
        );
        assert_eq!(forward.fingerprint(&lo, &hi), bulk.fingerprint(&lo, &hi));
        assert_ne!(
            forward.fingerprint(&lo, &hi),
            forward.fingerprint(&lo, &Bound::End)
        );
        assert!(!forward.insert_entry(entries[7].0.clone(), [0; 32]));
        assert_eq!(forward.get(&entries[7].0), Some(&entries[7].1));
    }

    #[test]
    fn stays_balanced_under_sorted_inserts() {
        let mut tree = FingerprintTree::new();
        for i in 0..100_000u64 {
            tree.insert_entry(Key::new(i, b"x"), hash_of(i));
        }
        // Expected treap depth is about 3 ln n ≈ 35; a degenerate tree would be 100,000.
        assert!(tree.depth() < 100, "depth {}", tree.depth());
        assert_eq!(tree.count(&Bound::at(10, []), &Bound::at(20, [])), 10);
    }
}
