//! The ingest load tool behind `rhizome bench ingest`: many concurrent
//! writers storing reference-workload deltas through the real writer and
//! store, measuring throughput and per-call latency. The crash test uses it
//! too (`--print-acks`).

use std::io::Write;
use std::time::{Duration, Instant};

use crate::node::Node;
use crate::{Error, Result};
use rhizome_crdt::workload::Workload;

/// What to run.
#[derive(Clone, Debug, clap::Args)]
pub struct IngestOptions {
    /// Concurrent writer tasks.
    #[arg(long, default_value_t = 50)]
    pub writers: usize,
    /// Deltas in total, split evenly among the writers.
    #[arg(long, default_value_t = 100_000)]
    pub count: u64,
    /// Deltas per ingest call.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Workload stream: the same seed makes the same deltas (duplicates).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Reader tasks that look deltas up by id (and page the changes feed)
    /// while the writers run, to measure reads under heavy writes.
    #[arg(long, default_value_t = 0)]
    pub readers: usize,
    /// Print every acknowledged delta id on stdout as soon as its ingest
    /// returned (flushed per call).
    #[arg(long)]
    pub print_acks: bool,
    /// Register an Ed25519 key for every creator of the workload and sign
    /// every delta (before the clock starts), so the node verifies each
    /// signature on ingest (API.md §6).
    #[arg(long)]
    pub signed: bool,
}

/// What a run measured.
#[derive(Clone, Debug)]
pub struct IngestReport {
    /// Deltas acknowledged (accepted or duplicate).
    pub acked: u64,
    /// Wall time from the first call to the last answer.
    pub elapsed: Duration,
    /// Latency of one ingest call: median.
    pub p50: Duration,
    /// Latency of one ingest call: 99th percentile.
    pub p99: Duration,
    /// Latency of one ingest call: worst.
    pub max: Duration,
    /// Reads done by the reader tasks while the writers ran.
    pub reads: u64,
    /// Read latency (one `get` or one 100-delta changes page): 99th percentile.
    pub read_p99: Duration,
}

impl IngestReport {
    /// Deltas per second.
    pub fn rate(&self) -> f64 {
        self.acked as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs `opts` against `node`.
pub async fn ingest(node: &Node, opts: &IngestOptions) -> Result<IngestReport> {
    let writers = opts.writers.max(1) as u64;
    let batch = opts.batch.max(1);
    // Deltas are made before the clock starts (in a real node they are
    // decoded in the caller's task, in parallel with the writer).
    let work: Vec<Vec<Vec<rhizome_crdt::Delta>>> = (0..writers)
        .map(|w| {
            let range = (opts.count * w / writers)..(opts.count * (w + 1) / writers);
            let deltas: Vec<_> = range
                .map(|i| Workload::seeded(opts.seed).delta(i))
                .collect();
            deltas.chunks(batch).map(<[_]>::to_vec).collect()
        })
        .collect();
    let work = if opts.signed {
        sign_all(node, work).await?
    } else {
        work
    };
    let start = Instant::now();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..opts.readers {
        let node = node.clone();
        let done = std::sync::Arc::clone(&done);
        let seed = opts.seed;
        let count = opts.count.max(1);
        readers.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut i = r as u64;
            let filter = crate::changes::FeedFilter::default();
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let t = Instant::now();
                if i.is_multiple_of(2) {
                    std::hint::black_box(node.get(Workload::seeded(seed).id(i % count).as_str()));
                } else {
                    let since = node.last_seq().saturating_sub(100);
                    std::hint::black_box(node.changes(since, 100, &filter));
                }
                lat.push(t.elapsed());
                i = i.wrapping_add(7919);
                tokio::task::yield_now().await;
            }
            lat
        }));
    }
    let mut tasks = Vec::new();
    for batches in work {
        let node = node.clone();
        let print = opts.print_acks;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(batches.len());
            let mut acked = 0u64;
            for b in batches {
                let t = Instant::now();
                let ingested = node.ingest(b).await?;
                latencies.push(t.elapsed());
                acked += (ingested.accepted.len() + ingested.duplicates.len()) as u64;
                if print {
                    let mut out = std::io::stdout().lock();
                    for id in ingested.accepted.iter().chain(&ingested.duplicates) {
                        writeln!(out, "{id}").map_err(|e| Error::io("printing acks", e))?;
                    }
                    out.flush().map_err(|e| Error::io("printing acks", e))?;
                }
            }
            Ok::<_, Error>((acked, latencies))
        }));
    }
    let mut acked = 0;
    let mut latencies = Vec::new();
    for t in tasks {
        let (n, l) = t
            .await
            .map_err(|e| Error::storage("a bench writer task", e))??;
        acked += n;
        latencies.extend(l);
    }
    let elapsed = start.elapsed();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut reads = Vec::new();
    for r in readers {
        reads.extend(
            r.await
                .map_err(|e| Error::storage("a bench reader task", e))?,
        );
    }
    reads.sort_unstable();
    let read_p99 = reads
        .get((reads.len() as f64 * 0.99) as usize)
        .copied()
        .unwrap_or_default();
    latencies.sort_unstable();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Ok(IngestReport {
        acked,
        elapsed,
        p50: pct(0.50),
        p99: pct(0.99),
        max: latencies.last().copied().unwrap_or_default(),
        reads: reads.len() as u64,
        read_p99,
    })
}

/// Registers a key for every creator of `work` on `node` and signs every
/// delta with it (a creator's key is derived from its name: a benchmark,
/// not a secret).
async fn sign_all(
    node: &Node,
    work: Vec<Vec<Vec<rhizome_crdt::Delta>>>,
) -> Result<Vec<Vec<Vec<rhizome_crdt::Delta>>>> {
    use rhizome_crdt::signature::{SigningKey, key_registration};
    let key_of =
        |creator: &str| SigningKey::from_bytes(blake3::hash(creator.as_bytes()).as_bytes());
    let creators: std::collections::BTreeSet<String> = work
        .iter()
        .flatten()
        .flatten()
        .map(|d| d.creator().to_owned())
        .collect();
    let node_key = SigningKey::from_bytes(&node.secret_key().to_bytes());
    let now = rhizome_crdt::Timestamp::now().as_millis();
    let registrations = creators
        .iter()
        .map(|c| key_registration(c, &key_of(c).public(), "bench", &node_key, now))
        .collect::<rhizome_crdt::Result<Vec<_>>>()?;
    node.ingest(registrations).await?;
    Ok(work
        .into_iter()
        .map(|batches| {
            batches
                .into_iter()
                .map(|b| b.into_iter().map(|d| key_of(d.creator()).sign(d)).collect())
                .collect()
        })
        .collect())
}

/// Resident memory of this process in bytes (Linux; 0 elsewhere).
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4096)
}

/// Bytes under `dir`, recursively.
pub fn dir_bytes(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}
