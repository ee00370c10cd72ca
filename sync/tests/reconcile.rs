//! The reconciliation protocol, run to completion in memory: exactness of
//! the difference found on both sides, bounds on rounds and bytes, the
//! frame-size carry-over, a two-peer simulation and filtered reconciliation.

use std::collections::{BTreeSet, VecDeque};

use proptest::prelude::*;
use rhizome_crdt::{Delta, Target};
use rhizome_sync::{
    Config, DeltaIndex, FingerprintTree, Key, Message, Reconciler, SyncFilter, SyncItem,
};

/// splitmix64: a tiny seeded generator, so cases are reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// `n` distinct items in key order: times with many ties, ids of 4 to 16
/// random bytes.
fn universe(n: usize, rng: &mut Rng) -> Vec<(Key, [u8; 32])> {
    let mut keys = BTreeSet::new();
    while keys.len() < n {
        let time = 1_700_000_000_000 + rng.below(n as u64 / 2 + 1);
        let len = 4 + rng.below(13) as usize;
        let id: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        keys.insert(Key::new(time, id));
    }
    keys.into_iter()
        .map(|key| {
            let hash = *blake3::hash(key.id()).as_bytes();
            (key, hash)
        })
        .collect()
}

/// Who holds each item of the universe.
#[derive(Clone, Copy, Debug)]
enum Shape {
    Identical,
    Disjoint,
    FirstEmpty,
    FirstSubset,
    Random { shared_percent: u64 },
    DifferAtEnds,
    DifferInMiddle,
}

fn arb_shape() -> impl Strategy<Value = Shape> {
    prop_oneof![
        Just(Shape::Identical),
        Just(Shape::Disjoint),
        Just(Shape::FirstEmpty),
        Just(Shape::FirstSubset),
        (0u64..=100).prop_map(|shared_percent| Shape::Random { shared_percent }),
        Just(Shape::DifferAtEnds),
        Just(Shape::DifferInMiddle),
    ]
}

type Entries = Vec<(Key, [u8; 32])>;

fn split(universe: &[(Key, [u8; 32])], shape: Shape, rng: &mut Rng) -> (Entries, Entries) {
    let n = universe.len();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    for (i, item) in universe.iter().enumerate() {
        // 0: both, 1: a only, 2: b only, 3: neither.
        let who = match shape {
            Shape::Identical => 0,
            Shape::Disjoint => 1 + rng.below(2),
            Shape::FirstEmpty => 2,
            Shape::FirstSubset => rng.below(2) * 2,
            Shape::Random { shared_percent } => {
                if rng.below(100) < shared_percent {
                    0
                } else {
                    1 + rng.below(2)
                }
            }
            Shape::DifferAtEnds if i < 3 => 1,
            Shape::DifferAtEnds if i + 3 >= n => 2,
            Shape::DifferAtEnds => 0,
            Shape::DifferInMiddle if (n * 2 / 5..n * 2 / 5 + 1 + n / 50).contains(&i) => {
                1 + rng.below(2)
            }
            Shape::DifferInMiddle => 0,
        };
        if who == 0 || who == 1 {
            a.push(item.clone());
        }
        if who == 0 || who == 2 {
            b.push(item.clone());
        }
    }
    (a, b)
}

/// What a run of the protocol did.
#[derive(Debug, Default)]
struct Run {
    a_send: Vec<Key>,
    a_need: Vec<Key>,
    b_send: Vec<Key>,
    b_need: Vec<Key>,
    messages: usize,
    bytes: usize,
    largest: usize,
}

/// Runs the protocol between two trees, every message through its bytes,
/// until a side has nothing to answer.
fn run(config: Config, a: &FingerprintTree, b: &FingerprintTree) -> Run {
    let reconciler = Reconciler::new(config).unwrap();
    let mut run = Run::default();
    let mut bytes = reconciler.initiate(a).encode();
    let mut at_b = true;
    loop {
        run.messages += 1;
        run.bytes += bytes.len();
        run.largest = run.largest.max(bytes.len());
        assert!(run.messages < 10_000, "no end in sight");
        let message = Message::decode(&bytes).unwrap();
        let outcome = reconciler.respond(if at_b { b } else { a }, &message);
        let (send, need) = if at_b {
            (&mut run.b_send, &mut run.b_need)
        } else {
            (&mut run.a_send, &mut run.a_need)
        };
        send.extend(outcome.send);
        need.extend(outcome.need);
        match outcome.reply {
            Some(reply) => bytes = reply.encode(),
            None => break,
        }
        at_b = !at_b;
    }
    run
}

fn keys(entries: &[(Key, [u8; 32])]) -> BTreeSet<Key> {
    entries.iter().map(|(k, _)| k.clone()).collect()
}

fn sorted(keys: &[Key]) -> Vec<Key> {
    let mut keys = keys.to_vec();
    keys.sort();
    keys
}

/// Both sides together find exactly the symmetric difference: each side's
/// `send` is exactly what the other lacks, each side's `need` only what it
/// lacks, and nothing is reported twice.
///
/// Under a frame limit (`once == false`), a key found in a round may be
/// found again after a carry-over (see docs/sync-protocol.md), so only the
/// sets are compared.
fn assert_exact(run: &Run, a: &Entries, b: &Entries, once: bool) -> Result<(), TestCaseError> {
    let (ka, kb) = (keys(a), keys(b));
    let a_lacks: Vec<Key> = kb.difference(&ka).cloned().collect();
    let b_lacks: Vec<Key> = ka.difference(&kb).cloned().collect();
    let distinct = |keys: &[Key]| -> Vec<Key> {
        let set: BTreeSet<Key> = keys.iter().cloned().collect();
        set.into_iter().collect()
    };
    prop_assert_eq!(
        distinct(&run.a_send),
        b_lacks.clone(),
        "A sends what B lacks"
    );
    prop_assert_eq!(
        distinct(&run.b_send),
        a_lacks.clone(),
        "B sends what A lacks"
    );
    if once {
        prop_assert_eq!(run.a_send.len(), b_lacks.len(), "no key sent twice");
        prop_assert_eq!(run.b_send.len(), a_lacks.len(), "no key sent twice");
    }
    let a_lacks: BTreeSet<Key> = a_lacks.into_iter().collect();
    let b_lacks: BTreeSet<Key> = b_lacks.into_iter().collect();
    prop_assert!(run.a_need.iter().all(|k| a_lacks.contains(k)));
    prop_assert!(run.b_need.iter().all(|k| b_lacks.contains(k)));
    // Together, the `need`s and the keys found by the peer cover each lack.
    Ok(())
}

/// The documented bound on messages: 2·⌈log_B(n/T)⌉ + 4 (n the larger side).
fn message_bound(config: &Config, n: usize) -> usize {
    let mut levels = 0;
    let mut size = n;
    while size > config.item_threshold {
        size = size.div_ceil(config.branching);
        levels += 1;
    }
    2 * levels + 4
}

/// The documented bound on bytes, for ids of at most 16 bytes: per
/// difference and per message at most `2B` ranges (a fingerprint of ≤ 44
/// bytes, or a skip) and `T` listed plus `T` wanted keys (≤ 27 bytes each).
fn byte_bound(config: &Config, differences: usize, messages: usize) -> usize {
    let per_message = 2 * config.branching * 44 + 2 * config.item_threshold * 27;
    (differences + 1) * messages * per_message + messages * 8
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn finds_exactly_the_symmetric_difference(
        n in prop_oneof![0usize..40, 0usize..3000],
        shape in arb_shape(),
        seed in any::<u64>(),
        swap in any::<bool>(),
        branching in prop_oneof![Just(16usize), 2usize..20],
        item_threshold in prop_oneof![Just(32usize), 1usize..40],
    ) {
        let mut rng = Rng(seed);
        let universe = universe(n, &mut rng);
        let (mut a, mut b) = split(&universe, shape, &mut rng);
        if swap {
            std::mem::swap(&mut a, &mut b);
        }
        let config = Config { branching, item_threshold, max_message_bytes: usize::MAX };
        let (ta, tb) = (FingerprintTree::from_entries(a.clone()), FingerprintTree::from_entries(b.clone()));
        let run = run(config, &ta, &tb);
        assert_exact(&run, &a, &b, true)?;

        let differences = run.a_send.len() + run.b_send.len();
        let bound = message_bound(&config, a.len().max(b.len()));
        prop_assert!(run.messages <= bound, "{} messages > bound {}", run.messages, bound);
        let bytes = byte_bound(&config, differences, run.messages);
        prop_assert!(run.bytes <= bytes, "{} bytes > bound {}", run.bytes, bytes);
    }

    #[test]
    fn carries_over_past_the_message_size_limit(
        n in 0usize..2000,
        shape in arb_shape(),
        seed in any::<u64>(),
        branching in 2usize..20,
        item_threshold in 1usize..20,
    ) {
        let mut rng = Rng(seed);
        let universe = universe(n, &mut rng);
        let (a, b) = split(&universe, shape, &mut rng);
        let config = Config { branching, item_threshold, max_message_bytes: 1024 };
        let (ta, tb) = (FingerprintTree::from_entries(a.clone()), FingerprintTree::from_entries(b.clone()));
        let run = run(config, &ta, &tb);
        assert_exact(&run, &a, &b, false)?;
        // The limit, plus one range's answer and the carried-over fingerprint.
        let slack = branching * 44 + 2 * item_threshold * 27 + 64;
        prop_assert!(run.largest <= 1024 + slack, "largest message {} bytes", run.largest);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Message::decode(&bytes);
    }
}

#[test]
fn one_difference_in_a_hundred_thousand_is_cheap() {
    let mut rng = Rng(7);
    let universe = universe(100_001, &mut rng);
    let a = universe[..100_000].to_vec();
    let mut b = universe.clone();
    b.remove(50_000);
    let (ta, tb) = (
        FingerprintTree::from_entries(a.clone()),
        FingerprintTree::from_entries(b.clone()),
    );
    let run = run(Config::default(), &ta, &tb);
    assert_eq!(run.b_send, [universe[100_000].0.clone()]);
    assert_eq!(run.a_send, [universe[50_000].0.clone()]);
    assert!(run.messages <= 8, "{} messages", run.messages);
    assert!(run.bytes <= 6000, "{} bytes", run.bytes);
}

#[test]
fn identical_sets_end_after_one_round_trip() {
    let mut rng = Rng(1);
    let universe = universe(10_000, &mut rng);
    let tree = FingerprintTree::from_entries(universe.clone());
    let other = FingerprintTree::from_entries(universe);
    let run = run(Config::default(), &tree, &other);
    // Initiator's fingerprints, the terminal reply (no answer to it).
    assert_eq!(run.messages, 2);
    assert!(run.a_send.is_empty() && run.b_send.is_empty());
}

#[test]
fn malformed_messages_are_rejected() {
    let tree = FingerprintTree::from_entries(vec![
        (Key::new(5, "a"), [1; 32]),
        (Key::new(9, "b"), [2; 32]),
    ]);
    let good = Reconciler::new(Config::default())
        .unwrap()
        .initiate(&tree)
        .encode();
    assert!(Message::decode(&good).is_ok());
    let mut wrong_version = good.clone();
    wrong_version[0] = 99;
    assert!(matches!(
        Message::decode(&wrong_version),
        Err(rhizome_sync::Error::Malformed(_))
    ));
    assert!(Message::decode(&good[..good.len() - 1]).is_err());
    // Version 2, two ranges: (End, Skip) then (time 1, Skip): a range after the end.
    assert!(Message::decode(&[2, 2, 0, 0, 0, 2, 0, 0, 0]).is_err());
    // Version 2, one range up to time 3 listing key (5, raw id "a"): outside its range.
    assert!(Message::decode(&[2, 1, 4, 0, 2, 1, 5, 0, 1, b'a', 0]).is_err());
    // The same key inside the range (up to time 9) is fine.
    assert!(Message::decode(&[2, 1, 10, 0, 2, 1, 5, 0, 1, b'a', 0]).is_ok());
    // An unknown id form.
    assert!(Message::decode(&[2, 1, 10, 0, 2, 1, 5, 3, 1, b'a', 0]).is_err());
}

/// One peer of the simulation: its items, and what it received.
struct Peer {
    tree: FingerprintTree,
    items: std::collections::BTreeMap<Key, [u8; 32]>,
}

enum Envelope {
    Sync(Vec<u8>),
    Items(Vec<(Key, [u8; 32])>),
}

/// Two peers as state machines, a queue per direction, a driver loop: after
/// the exchange (and the items it sends), both hold the same set.
#[test]
fn simulated_peers_converge() {
    for seed in 0..20u64 {
        let mut rng = Rng(seed);
        let universe = universe(5_000, &mut rng);
        let shape = [
            Shape::Random { shared_percent: 90 },
            Shape::Disjoint,
            Shape::FirstEmpty,
            Shape::DifferInMiddle,
        ][seed as usize % 4];
        let (a, b) = split(&universe, shape, &mut rng);
        let config = Config {
            max_message_bytes: 2048 + (seed as usize % 3) * 100_000,
            ..Config::default()
        };
        let reconciler = Reconciler::new(config).unwrap();
        let mut peers = [a, b].map(|entries| Peer {
            tree: FingerprintTree::from_entries(entries.clone()),
            items: entries.into_iter().collect(),
        });
        // queues[i]: messages for peer i.
        let mut queues: [VecDeque<Envelope>; 2] = [VecDeque::new(), VecDeque::new()];
        queues[1].push_back(Envelope::Sync(reconciler.initiate(&peers[0].tree).encode()));
        let mut steps = 0;
        while let Some(i) = (0..2).find(|&i| !queues[i].is_empty()) {
            steps += 1;
            assert!(steps < 10_000);
            let Some(envelope) = queues[i].pop_front() else {
                break;
            };
            let peer = &mut peers[i];
            match envelope {
                Envelope::Items(items) => {
                    for (key, hash) in items {
                        assert!(
                            peer.tree.insert(&(key.clone(), hash)),
                            "sent an item the peer had"
                        );
                        peer.items.insert(key, hash);
                    }
                }
                Envelope::Sync(bytes) => {
                    let message = Message::decode(&bytes).unwrap();
                    let outcome = reconciler.respond(&peer.tree, &message);
                    let items = outcome
                        .send
                        .iter()
                        .map(|k| (k.clone(), peer.items[k]))
                        .collect();
                    queues[1 - i].push_back(Envelope::Items(items));
                    if let Some(reply) = outcome.reply {
                        queues[1 - i].push_back(Envelope::Sync(reply.encode()));
                    }
                }
            }
        }
        assert_eq!(peers[0].items, peers[1].items, "seed {seed}");
        let all: Vec<_> = peers[0].tree.iter().map(|(k, h)| (k.clone(), *h)).collect();
        let other: Vec<_> = peers[1].tree.iter().map(|(k, h)| (k.clone(), *h)).collect();
        assert_eq!(all, other);
    }
}

fn delta(i: u64, creator: &str, entity: &str) -> Delta {
    Delta::builder(creator, "host")
        .id(format!("d{i:04}"))
        .timestamp(1_000 + i)
        .pointer("subject", Target::reference(entity, "value"))
        .pointer("value", i as i64)
        .build()
        .unwrap()
}

/// Reconciling filtered indexes exchanges exactly the matching deltas of
/// the symmetric difference, and nothing else.
#[test]
fn filtered_reconciliation_exchanges_only_matching_deltas() {
    let creators = ["alice", "bob"];
    let entities = ["e1", "e2", "e3"];
    let all: Vec<Delta> = (0..600)
        .map(|i| delta(i, creators[(i % 2) as usize], entities[(i % 3) as usize]))
        .collect();
    let on_a: Vec<&Delta> = all.iter().filter(|d| d.id().as_str() < "d0400").collect();
    let on_b: Vec<&Delta> = all.iter().filter(|d| d.id().as_str() >= "d0200").collect();
    let filter = SyncFilter::default()
        .with_entities(["e1", "e2"])
        .with_creators(["alice"]);
    let a = DeltaIndex::from_deltas(filter.clone(), on_a.iter().copied());
    let mut b = DeltaIndex::new(filter.clone());
    for d in &on_b {
        b.insert(d);
    }
    let run = run(Config::default(), a.tree(), b.tree());
    let expect = |from: &[&Delta], to: &[&Delta]| -> Vec<Key> {
        let to: BTreeSet<Key> = to.iter().map(|d| d.sync_key()).collect();
        from.iter()
            .filter(|d| filter.matches(d) && !to.contains(&d.sync_key()))
            .map(|d| d.sync_key())
            .collect()
    };
    let a_send = expect(&on_a, &on_b);
    let b_send = expect(&on_b, &on_a);
    // Alice's deltas about e1 or e2 (i even, i % 3 != 2) below d0200 / from d0400.
    assert_eq!(
        a_send.len(),
        (0..200).filter(|i| i % 2 == 0 && i % 3 != 2).count()
    );
    assert_eq!(sorted(&run.a_send), a_send);
    assert_eq!(sorted(&run.b_send), b_send);
    // Matching deltas both hold are not exchanged, nor is anything unmatched.
    assert!(run.a_send.iter().chain(&run.b_send).all(|k| {
        let d = all.iter().find(|d| d.sync_key() == *k).unwrap();
        filter.matches(d)
    }));
}
