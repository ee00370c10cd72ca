//! Figures for range-based set reconciliation: round trips, bytes and CPU
//! time to reconcile two sets sharing 1,000,000 items, and the cost of
//! building the fingerprint index. Prints a table (no criterion: the
//! quantities are counts and single timed runs).
//!
//! cargo bench -p rhizome-sync --bench reconcile
//!
//! `RECONCILE_CONFIG=B,T` tries another branching factor and item threshold.

use std::time::{Duration, Instant};

use rhizome_sync::{Config, FingerprintTree, Key, Message, Reconciler};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A delta-like item: a millisecond time within 30 days, a 36-character
/// UUID-shaped id, a random hash.
fn item(rng: &mut Rng) -> (Key, [u8; 32]) {
    let time = 1_700_000_000_000 + rng.next() % (30 * 24 * 3600 * 1000);
    let (hi, lo) = (rng.next(), rng.next());
    let hex = format!("{hi:016x}{lo:016x}");
    let id = format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    let mut hash = [0u8; 32];
    for chunk in hash.chunks_exact_mut(8) {
        chunk.copy_from_slice(&rng.next().to_le_bytes());
    }
    (Key::new(time, id), hash)
}

struct Figures {
    messages: usize,
    bytes: usize,
    largest: usize,
    cpu: Duration,
    found: usize,
}

fn reconcile(config: Config, a: &FingerprintTree, b: &FingerprintTree) -> Figures {
    let reconciler = Reconciler::new(config).expect("valid config");
    let start = Instant::now();
    let mut figures = Figures {
        messages: 0,
        bytes: 0,
        largest: 0,
        cpu: Duration::ZERO,
        found: 0,
    };
    let mut bytes = reconciler.initiate(a).encode();
    let mut at_b = true;
    loop {
        figures.messages += 1;
        figures.bytes += bytes.len();
        figures.largest = figures.largest.max(bytes.len());
        let message = Message::decode(&bytes).expect("own message decodes");
        let outcome = reconciler.respond(if at_b { b } else { a }, &message);
        figures.found += outcome.send.len();
        match outcome.reply {
            Some(reply) => bytes = reply.encode(),
            None => break,
        }
        at_b = !at_b;
    }
    figures.cpu = start.elapsed();
    figures
}

/// The configuration under test: the default, or `RECONCILE_CONFIG=B,T`.
fn config() -> Config {
    let Ok(text) = std::env::var("RECONCILE_CONFIG") else {
        return Config::default();
    };
    let parts: Vec<usize> = text
        .split(',')
        .map(|n| n.trim().parse().expect("RECONCILE_CONFIG=B,T"))
        .collect();
    let [branching, item_threshold] = parts[..] else {
        panic!("RECONCILE_CONFIG=B,T");
    };
    Config {
        branching,
        item_threshold,
        ..Config::default()
    }
}

fn main() {
    const SHARED: usize = 1_000_000;
    let mut rng = Rng(42);
    let shared: Vec<_> = (0..SHARED).map(|_| item(&mut rng)).collect();

    let start = Instant::now();
    let base = FingerprintTree::from_entries(shared.clone());
    let bulk = start.elapsed();
    let start = Instant::now();
    let mut one_by_one = FingerprintTree::new();
    for (key, hash) in &shared {
        one_by_one.insert_entry(key.clone(), *hash);
    }
    let inserts = start.elapsed();
    let extra: Vec<_> = (0..10_000).map(|_| item(&mut rng)).collect();
    let start = Instant::now();
    for (key, hash) in &extra {
        one_by_one.insert_entry(key.clone(), *hash);
    }
    let per_insert = start.elapsed() / extra.len() as u32;
    let start = Instant::now();
    let mut sink = 0u64;
    for (key, _) in &extra {
        let (lo, hi) = (rhizome_sync::Bound::before(key), rhizome_sync::Bound::End);
        sink = sink.wrapping_add(base.fingerprint(&lo, &hi).0[0] as u64);
    }
    let per_fingerprint = start.elapsed() / extra.len() as u32;
    drop(one_by_one);
    println!("fingerprint index of {SHARED} items:");
    println!(
        "  bulk build (sort + Cartesian tree): {:>8.0} ms",
        bulk.as_secs_f64() * 1e3
    );
    println!(
        "  {SHARED} inserts one by one:       {:>8.0} ms",
        inserts.as_secs_f64() * 1e3
    );
    println!(
        "  one insert into 1M:                 {:>8.2} µs",
        per_insert.as_secs_f64() * 1e6
    );
    println!(
        "  one range fingerprint in 1M:        {:>8.2} µs (checksum {})",
        per_fingerprint.as_secs_f64() * 1e6,
        sink % 10
    );
    println!();
    println!(
        "two sets sharing {SHARED} items (36-byte ids); config {:?}",
        config()
    );
    println!(
        "| differences | max message | messages | round trips | bytes exchanged | largest message | CPU (both sides) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let unlimited = Config {
        max_message_bytes: usize::MAX,
        ..config()
    };
    for (differences, config) in [
        (1usize, config()),
        (1_000, config()),
        (1_000, unlimited),
        (100_000, config()),
        (100_000, unlimited),
    ] {
        let extra: Vec<_> = (0..differences).map(|_| item(&mut rng)).collect();
        let (mut a, mut b) = (base_clone(&shared), base_clone(&shared));
        for (i, (key, hash)) in extra.iter().enumerate() {
            let side = if i % 2 == 0 { &mut a } else { &mut b };
            side.push((key.clone(), *hash));
        }
        let (a, b) = (
            FingerprintTree::from_entries(a),
            FingerprintTree::from_entries(b),
        );
        let figures = reconcile(config, &a, &b);
        let limit = if config.max_message_bytes == usize::MAX {
            "none".to_owned()
        } else {
            format!("{} KiB", config.max_message_bytes / 1024)
        };
        assert_eq!(figures.found, differences, "every difference found");
        println!(
            "| {differences} | {limit} | {} | {} | {} | {} | {:.1} ms |",
            figures.messages,
            figures.messages.div_ceil(2),
            figures.bytes,
            figures.largest,
            figures.cpu.as_secs_f64() * 1e3
        );
    }
    drop(base);
}

fn base_clone(shared: &[(Key, [u8; 32])]) -> Vec<(Key, [u8; 32])> {
    shared.to_vec()
}
