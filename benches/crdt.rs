//! Delta-set benchmarks on the reference workload (`rhizome_crdt::workload`):
//! insertion, merge, hyperviews (plain, with negations, as of mid-history),
//! views (hyperview + last-write-wins), history, the crdt-benchmarks B3.1
//! shape, and memory per stored delta. See `benches/README.md`.
//!
//! Under `cargo test --all-targets` (criterion's test mode: each benchmark
//! runs once) the 1M-delta cases and the memory report are skipped, so the
//! test run stays short.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rhizome_crdt::workload::{START, Workload};
use rhizome_crdt::{Delta, DeltaSet, HyperviewOptions, Timestamp, ViewResolver};

/// Counts live heap bytes, to measure memory per delta.
struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: delegates to the system allocator; only adds bookkeeping.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

/// Whether criterion measures (`cargo bench` passes `--bench`) rather than
/// runs each benchmark once as a test.
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The sizes to run: all of them when measuring, the smallest in test mode.
fn sizes(all: &[u64]) -> &[u64] {
    if measuring() { all } else { &all[..1] }
}

fn set_of(deltas: Vec<Delta>) -> DeltaSet {
    let mut s = DeltaSet::new();
    s.insert_batch(deltas).unwrap();
    s
}

/// Prints the heap bytes per delta of the deltas alone and of a set holding them.
fn memory() {
    const N: u64 = 1_000_000;
    let w = Workload::default();
    let base = live();
    let deltas: Vec<Delta> = w.deltas(0..N).collect();
    let vec_bytes = (deltas.capacity() * std::mem::size_of::<Delta>()) as isize;
    let raw = live() - base - vec_bytes;
    let set = set_of(deltas);
    let stored = live() - base;
    println!(
        "memory: {N} workload deltas: {:.0} B/delta as built (unshared strings), \
         {:.0} B/delta stored in a DeltaSet (deltas with shared names + every index)",
        raw as f64 / N as f64,
        stored as f64 / N as f64,
    );
    drop(set);
}

fn insert(c: &mut Criterion) {
    if measuring() {
        memory();
    }
    let w = Workload::default();
    let mut g = c.benchmark_group("insert");
    for &n in sizes(&[100_000, 1_000_000]) {
        let deltas: Vec<Delta> = w.deltas(0..n).collect();
        g.throughput(Throughput::Elements(n));
        if n >= 1_000_000 {
            g.sample_size(10);
        }
        g.bench_function(format!("batches_of_1000/{n}"), |b| {
            b.iter_batched(
                || deltas.clone(),
                |ds| {
                    let mut s = DeltaSet::new();
                    let mut it = ds.into_iter();
                    loop {
                        let batch: Vec<Delta> = it.by_ref().take(1000).collect();
                        if batch.is_empty() {
                            break;
                        }
                        s.insert_batch(batch).unwrap();
                    }
                    s
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function(format!("one_by_one/{n}"), |b| {
            b.iter_batched(
                || deltas.clone(),
                |ds| {
                    let mut s = DeltaSet::new();
                    for d in ds {
                        s.insert(d).unwrap();
                    }
                    s
                },
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn merge(c: &mut Criterion) {
    let w = Workload::default();
    let mut g = c.benchmark_group("merge");
    g.sample_size(10);
    // Two replicas of 1M deltas sharing 90% (100k in test mode).
    let n = if measuring() { 1_000_000 } else { 100_000 };
    let a = set_of(w.deltas(0..n).collect());
    let b = set_of(w.deltas(n / 10..n + n / 10).collect());
    g.throughput(Throughput::Elements(b.len() as u64));
    g.bench_function(format!("replicas_{}k_sharing_90pct", n / 1000), |bench| {
        bench.iter_batched(
            || a.clone(),
            |mut a| {
                a.merge(&b).unwrap();
                a
            },
            BatchSize::PerIteration,
        )
    });
    drop((a, b));
    // 1,000 batches of 1,000 merged into one set.
    let parts: Vec<DeltaSet> = (0..if measuring() { 1000u64 } else { 10 })
        .map(|k| set_of(w.deltas(k * 1000..(k + 1) * 1000).collect()))
        .collect();
    g.throughput(Throughput::Elements(1_000_000));
    g.bench_function("1000_batches_of_1000", |bench| {
        bench.iter_batched(
            DeltaSet::new,
            |mut s| {
                for p in &parts {
                    s.merge(p).unwrap();
                }
                s
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

fn hyperview(c: &mut Criterion) {
    let mut g = c.benchmark_group("hyperview");
    g.warm_up_time(Duration::from_secs(1));
    for (entities, per_entity) in [(1000u64, 100), (100, 1000), (10, 10_000)] {
        let w = Workload {
            entities,
            ..Workload::default()
        };
        let plain = set_of(w.deltas(0..100_000).collect());
        let negated = set_of(w.with_negations(100_000));
        let all = HyperviewOptions::default();
        let n = plain
            .hyperview("e0", &all)
            .properties
            .values()
            .map(Vec::len)
            .sum::<usize>();
        let m = negated
            .hyperview("e0", &all)
            .properties
            .values()
            .map(Vec::len)
            .sum::<usize>();
        println!(
            "hyperview e0 with ~{per_entity} deltas: {n} visible plain, {m} visible with negations"
        );
        g.bench_function(format!("plain/{per_entity}"), |b| {
            b.iter(|| plain.hyperview(black_box("e0"), &all))
        });
        g.bench_function(format!("negated_10pct/{per_entity}"), |b| {
            b.iter(|| negated.hyperview(black_box("e0"), &all))
        });
        if per_entity == 100 {
            let mid = HyperviewOptions::as_of(Some(Timestamp::new(START + 50_000).unwrap()));
            g.bench_function("as_of_mid_history/100_in_100k", |b| {
                b.iter(|| plain.hyperview(black_box("e0"), &mid))
            });
            g.bench_function("as_of_mid_history_negated/100_in_100k", |b| {
                b.iter(|| negated.hyperview(black_box("e0"), &mid))
            });
        }
    }
    g.finish();
}

/// Views (hyperview + last-write-wins resolution) on a set of 100k workload
/// deltas over 1,000 entities (≈100 deltas, 5 properties per entity):
/// one entity, all 1,000, with negations, as of mid-history, and the
/// history of one property.
fn view(c: &mut Criterion) {
    let w = Workload::default();
    let plain = set_of(w.deltas(0..100_000).collect());
    let negated = set_of(w.with_negations(100_000));
    let lww = ViewResolver::default();
    let all = HyperviewOptions::default();
    let names: Vec<String> = (0..w.entities).map(|e| format!("e{e}")).collect();
    let mut g = c.benchmark_group("view");
    g.warm_up_time(Duration::from_secs(1));
    for (label, set) in [("plain", &plain), ("negated_10pct", &negated)] {
        g.throughput(Throughput::Elements(1));
        g.bench_function(format!("{label}/one_entity_in_100k"), |b| {
            b.iter(|| lww.resolve(&set.hyperview(black_box("e0"), &all)))
        });
        g.throughput(Throughput::Elements(names.len() as u64));
        g.bench_function(format!("{label}/all_1000_entities_in_100k"), |b| {
            b.iter(|| {
                names
                    .iter()
                    .map(|e| lww.resolve(&set.hyperview(e, &all)).properties.len())
                    .sum::<usize>()
            })
        });
        let mid = HyperviewOptions::as_of(Some(Timestamp::new(START + 50_000).unwrap()));
        g.bench_function(format!("{label}/one_entity_as_of_mid_history"), |b| {
            b.iter(|| lww.resolve(&set.hyperview(black_box("e0"), &mid)))
        });
        let entries = set.history("e0", "p0", &lww).len();
        let filed = set
            .hyperview("e0", &all)
            .properties
            .get("p0")
            .map_or(0, Vec::len);
        println!("history(e0, p0) {label}: {entries} entries ({filed} deltas filed)");
        g.bench_function(format!("{label}/history_of_one_property"), |b| {
            b.iter(|| set.history(black_box("e0"), black_box("p0"), &lww))
        });
    }
    g.finish();
}

/// The number of writers in crdt-benchmarks B3.1 (20 × √5940).
const B31_WRITERS: u64 = 1_540;

/// The deltas of the B3.1 shape: writer `i` sets property `v` of entity
/// `map` to `i`, all at the same moment (concurrently), each with its own
/// creator.
fn b31_deltas() -> Vec<Delta> {
    (0..B31_WRITERS)
        .map(|i| {
            Delta::builder(format!("writer{i}"), format!("host{i}"))
                .id(format!("b31-{i:05}"))
                .timestamp(START)
                .set_property("map", "v", i as i64)
                .build()
                .unwrap()
        })
        .collect()
}

/// crdt-benchmarks B3.1: 1,540 replicas each holding the one delta of its
/// writer, merged into one (in sequence, and as a binary tree of merges),
/// then the view of the entity resolved. Timed from the deltas to the view,
/// replicas included.
fn b31(c: &mut Criterion) {
    let lww = ViewResolver::default();
    let all = HyperviewOptions::default();
    let deltas = b31_deltas();
    let mut g = c.benchmark_group("b3_1");
    g.throughput(Throughput::Elements(B31_WRITERS));
    let replicas = |ds: Vec<Delta>| -> Vec<DeltaSet> {
        ds.into_iter()
            .map(|d| {
                let mut s = DeltaSet::new();
                s.insert(d).unwrap();
                s
            })
            .collect()
    };
    g.bench_function("1540_writers/sequential_merge", |b| {
        b.iter_batched(
            || deltas.clone(),
            |ds| {
                let mut merged = DeltaSet::new();
                for r in replicas(ds) {
                    merged.merge(&r).unwrap();
                }
                lww.resolve(&merged.hyperview("map", &all))
            },
            BatchSize::SmallInput,
        )
    });
    g.bench_function("1540_writers/tree_merge", |b| {
        b.iter_batched(
            || deltas.clone(),
            |ds| {
                let mut level = replicas(ds);
                while level.len() > 1 {
                    let mut next = Vec::with_capacity(level.len().div_ceil(2));
                    let mut it = level.into_iter();
                    while let Some(mut left) = it.next() {
                        if let Some(right) = it.next() {
                            left.merge(&right).unwrap();
                        }
                        next.push(left);
                    }
                    level = next;
                }
                let merged = level.pop().unwrap_or_default();
                lww.resolve(&merged.hyperview("map", &all))
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, insert, merge, hyperview, view, b31);
criterion_main!(benches);
