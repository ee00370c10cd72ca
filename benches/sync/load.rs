//! Load tool for sync over iroh: nodes in this process, each with its own
//! store and its own iroh endpoint on 127.0.0.1 (relays off), talking over
//! real QUIC (see benches/README.md, "Sync").
//!
//! ```text
//! sync-load latency RATE SECS        # replication latency A → C, 3 nodes
//! sync-load heal N                   # partition, N deltas on one side, heal
//! sync-load catchup BASE DIFF...     # two nodes sharing BASE, differing by DIFF
//! ```
//!
//! Stores are in memory unless `SYNC_LOAD_STORAGE=disk` (then durable, in
//! fresh directories under the system temporary directory, left there).
//!
//! `latency` starts nodes A, B and C (B and C are given A as their peer),
//! writes RATE single-delta batches per second on A for SECS seconds, and
//! reports how long each took to be stored on C (written on A → in C's
//! store and feed). `heal` starts A and B, blocks them from each other,
//! writes N deltas on A in batches of 1,000, unblocks, and reports the
//! time until B holds them all and the bytes the reconciliation moved vs
//! the deltas' own binary size. `catchup` gives A BASE + DIFF deltas
//! (the DIFF spread at random over the key space) and B the BASE, runs one
//! reconciliation, and reports round trips, bytes beyond the missing
//! deltas and time.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rhizome::config::{Config, StorageKind};
use rhizome::node::Node;
use rhizome_crdt::{Delta, Target};
use rhizome_sync::net::{PeerStatus, SyncNode};

static NEXT_DIR: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

struct BenchNode {
    node: Arc<Node>,
    sync: SyncNode,
}

async fn start(peers: &[&BenchNode], interval: Duration) -> BenchNode {
    // SYNC_LOAD_STORAGE=disk: durable stores in fresh temporary directories.
    let mut config = if std::env::var("SYNC_LOAD_STORAGE").as_deref() == Ok("disk") {
        let dir = std::env::temp_dir().join(format!(
            "sync-load-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Config::new(StorageKind::Disk, dir)
    } else {
        Config::new(StorageKind::Memory, "unused")
    };
    config.sync.sync_interval = interval.as_secs().max(1);
    let node = Arc::new(Node::start(config).await.expect("node"));
    let mut settings = rhizome::replication::settings(&node).expect("settings");
    settings.peers = peers.iter().map(|p| p.sync.addr()).collect();
    settings.interval = interval;
    let sync = rhizome::replication::start_with(&node, settings)
        .await
        .expect("sync");
    BenchNode { node, sync }
}

/// A delta as a client makes them: a UUIDv7 id whose milliseconds are its
/// time (the random bits derived from `prefix` and `i`, so runs repeat).
fn delta(prefix: &str, i: u64, time: u64) -> Delta {
    let seed = blake3::hash(format!("{prefix}-{i}").as_bytes());
    let mut random = [0u8; 10];
    random.copy_from_slice(&seed.as_bytes()[..10]);
    let id = uuid::Builder::from_unix_timestamp_millis(time, &random).into_uuid();
    Delta::builder("bench", "load")
        .id(id.to_string())
        .timestamp(time)
        .pointer(
            "entity",
            Target::reference(format!("e{}", i % 1000), "value"),
        )
        .pointer("value", i as i64)
        .build()
        .expect("delta")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t.elapsed()
}

async fn latency(rate: u64, secs: u64) {
    let a = start(&[], Duration::from_secs(30)).await;
    let b = start(&[&a], Duration::from_secs(30)).await;
    let c = start(&[&a], Duration::from_secs(30)).await;
    wait_until("neighbours", Duration::from_secs(20), || {
        c.sync
            .peers()
            .iter()
            .any(|p| p.status == PeerStatus::Connected)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let latencies: Arc<Mutex<Vec<Duration>>> = Arc::default();
    let total = rate * secs;
    let mut feed = c.node.subscribe();
    let (s2, l2) = (Arc::clone(&sent), Arc::clone(&latencies));
    let receiver = tokio::spawn(async move {
        let mut got = 0;
        while got < total {
            match tokio::time::timeout(Duration::from_secs(30), feed.recv()).await {
                Ok(Ok(batch)) => {
                    let now = Instant::now();
                    let sent = s2.lock().unwrap();
                    let mut l = l2.lock().unwrap();
                    for d in &batch.deltas {
                        if let Some(t) = sent.get(d.id().as_str()) {
                            l.push(now - *t);
                            got += 1;
                        }
                    }
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(n))) => {
                    eprintln!("C's feed lagged by {n} batches");
                }
                _ => break,
            }
        }
    });
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_nanos(1_000_000_000 / rate));
    let base = 1_800_000_000_000u64;
    for i in 0..total {
        tick.tick().await;
        let d = delta("lat", i, base + i);
        sent.lock()
            .unwrap()
            .insert(d.id().to_string(), Instant::now());
        a.node.ingest(vec![d]).await.expect("ingest");
    }
    let wrote = started.elapsed();
    let _ = receiver.await;
    let mut l = latencies.lock().unwrap().clone();
    l.sort();
    println!(
        "latency: wrote {total} deltas on A at {:.0}/s; C received {}; write→stored on C p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        total as f64 / wrote.as_secs_f64(),
        l.len(),
        percentile(&l, 0.5).as_secs_f64() * 1e3,
        percentile(&l, 0.9).as_secs_f64() * 1e3,
        percentile(&l, 0.99).as_secs_f64() * 1e3,
        l.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    println!(
        "B holds {}, C holds {}; C's sync runs: {}",
        b.node.len(),
        c.node.len(),
        c.sync.peers().iter().map(|p| p.syncs).sum::<u64>()
    );
    for n in [&a, &b, &c] {
        n.sync.shutdown().await;
    }
}

async fn heal(n: u64) {
    let a = start(&[], Duration::from_secs(1)).await;
    let b = start(&[&a], Duration::from_secs(1)).await;
    wait_until("first sync", Duration::from_secs(20), || {
        b.sync.peers().iter().any(|p| p.syncs > 0)
    })
    .await;
    b.sync.guard().block(a.sync.id());
    a.sync.guard().block(b.sync.id());
    let base = 1_800_000_000_000u64;
    let mut binary = 0usize;
    let t = Instant::now();
    for chunk in 0..n.div_ceil(1000) {
        let batch: Vec<Delta> = (chunk * 1000..((chunk + 1) * 1000).min(n))
            .map(|i| delta("heal", i, base + i * 7))
            .collect();
        binary += batch
            .iter()
            .map(|d| rhizome_crdt::codec::binary::encode(d).len())
            .sum::<usize>();
        a.node.ingest(batch).await.expect("ingest");
    }
    let json: usize = a.node.read(|s| {
        s.index
            .iter()
            .map(|d| {
                rhizome_crdt::codec::json::encode(d, rhizome_crdt::codec::Format::V2)
                    .map(|j| j.len())
                    .unwrap_or(0)
            })
            .sum()
    });
    eprintln!(
        "wrote {n} deltas on A during the partition in {:.2} s; B holds {}",
        t.elapsed().as_secs_f64(),
        b.node.len()
    );
    let metric = |s: &SyncNode, name: &str| -> f64 {
        let mut text = String::new();
        s.metrics().encode(&mut text);
        text.lines()
            .filter(|l| l.starts_with(name))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let before_in = metric(&b.sync, "rhizome_sync_bytes_received_total");
    let before_out = metric(&b.sync, "rhizome_sync_bytes_sent_total");
    let healed = Instant::now();
    b.sync.guard().unblock(&a.sync.id());
    a.sync.guard().unblock(&b.sync.id());
    let want = a.node.len();
    // Live traffic on B while it catches up: 200 single-delta writes per
    // second, each timed to its durable answer.
    let live_node = Arc::clone(&b.node);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let live_stop = Arc::clone(&stop);
    let live = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        let mut times = Vec::new();
        let mut i = 0;
        while !live_stop.load(std::sync::atomic::Ordering::Relaxed) {
            tick.tick().await;
            let t = Instant::now();
            live_node
                .ingest(vec![delta("live", i, 1_900_000_000_000 + i)])
                .await
                .expect("live write");
            times.push(t.elapsed());
            i += 1;
        }
        times
    });
    let took = wait_until("convergence", Duration::from_secs(120), || {
        b.node.len() >= want
    })
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut times = live.await.expect("live writer");
    times.sort();
    println!(
        "live writes on B during the catch-up: {} single-delta writes, answer p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        times.len(),
        percentile(&times, 0.5).as_secs_f64() * 1e3,
        percentile(&times, 0.99).as_secs_f64() * 1e3,
        times.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let moved = metric(&b.sync, "rhizome_sync_bytes_received_total") - before_in
        + metric(&b.sync, "rhizome_sync_bytes_sent_total")
        - before_out;
    println!(
        "heal: {n} deltas missing on B; converged {:.2} s after the partition healed (periodic interval 1 s; \
         includes waiting for the next run); bytes moved by reconciliation {:.0} = {:.2}× the missing deltas' \
         binary size ({binary} B), {:.2}× their JSON v2 size",
        took.as_secs_f64(),
        moved,
        moved / binary as f64,
        moved / json.saturating_sub(0).max(1) as f64,
    );
    let _ = healed;
    a.sync.shutdown().await;
    b.sync.shutdown().await;
}

async fn catchup(base_n: u64, diffs: &[u64]) {
    // Interval of an hour, no configured peers: only the runs below.
    let a = start(&[], Duration::from_secs(3600)).await;
    let b = start(&[], Duration::from_secs(3600)).await;
    let base = 1_700_000_000_000u64;
    let t = Instant::now();
    for chunk in 0..base_n.div_ceil(10_000) {
        let batch: Vec<Delta> = (chunk * 10_000..((chunk + 1) * 10_000).min(base_n))
            .map(|i| delta("base", i, base + i * 10))
            .collect();
        a.node
            .ingest_from(batch.clone(), false)
            .await
            .expect("ingest a");
        b.node.ingest_from(batch, false).await.expect("ingest b");
    }
    eprintln!(
        "loaded {base_n} shared deltas on both nodes in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    // Settle the fingerprint index (it follows the feed).
    wait_until("index", Duration::from_secs(60), || {
        a.sync.indexed() == a.node.len() && b.sync.indexed() == b.node.len()
    })
    .await;
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut next_id = 0u64;
    for &diff in diffs {
        // DIFF deltas only on A, at random places in the key space.
        let extra: Vec<Delta> = (0..diff)
            .map(|_| {
                next_id += 1;
                delta("extra", next_id, base + rand() % (base_n * 10).max(1))
            })
            .collect();
        let binary: usize = extra
            .iter()
            .map(|d| rhizome_crdt::codec::binary::encode(d).len())
            .sum();
        for batch in extra.chunks(10_000) {
            a.node
                .ingest_from(batch.to_vec(), false)
                .await
                .expect("ingest");
        }
        wait_until("index", Duration::from_secs(60), || {
            a.sync.indexed() == a.node.len()
        })
        .await;
        let t = Instant::now();
        let report = b.sync.sync_with(a.sync.addr()).await.expect("sync");
        let took = t.elapsed();
        assert_eq!(report.deltas_new, diff, "{report:?}");
        let messages = report.rounds + report.messages_sent;
        println!(
            "catch-up: {} shared, {diff} missing: {messages} messages = {} round trips; control bytes {} \
             (overhead beyond the deltas); data {} B for {binary} B of binary deltas; {:.1} ms",
            base_n,
            messages.div_ceil(2),
            report.control_bytes(),
            report.data_bytes_received,
            took.as_secs_f64() * 1e3
        );
    }
    a.sync.shutdown().await;
    b.sync.shutdown().await;
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: sync-load latency RATE SECS | heal N | catchup BASE DIFF...";
    let num = |i: usize| -> u64 { args.get(i).and_then(|a| a.parse().ok()).expect(usage) };
    match args.get(1).map(String::as_str) {
        Some("latency") => latency(num(2), num(3)).await,
        Some("heal") => heal(num(2)).await,
        Some("catchup") => {
            let diffs: Vec<u64> = (3..args.len()).map(num).collect();
            catchup(num(2), &diffs).await
        }
        _ => panic!("{usage}"),
    }
}
