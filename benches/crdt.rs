//! Delta-set benchmarks on the reference workload (`rhizome_crdt::workload`):
//! insertion, merge, hyperviews (plain, with negations, as of mid-history),
//! and memory per stored delta. See `benches/README.md`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rhizome_crdt::workload::{START, Workload};
use rhizome_crdt::{Delta, DeltaSet, HyperviewOptions, Timestamp};

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
    memory();
    let w = Workload::default();
    let mut g = c.benchmark_group("insert");
    for n in [100_000u64, 1_000_000] {
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
    // Two replicas of 1M deltas sharing 90%.
    let a = set_of(w.deltas(0..1_000_000).collect());
    let b = set_of(w.deltas(100_000..1_100_000).collect());
    g.throughput(Throughput::Elements(b.len() as u64));
    g.bench_function("replicas_1M_sharing_90pct", |bench| {
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
    let parts: Vec<DeltaSet> = (0..1000u64)
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

criterion_group!(benches, insert, merge, hyperview);
criterion_main!(benches);
