//! Rhizome side by side with automerge on a map workload: the reference
//! workload (`rhizome_crdt::workload::Workload::default()`), each delta
//! setting property `pK` of entity `eN`, is for automerge a put of key `pK`
//! at the root of one `AutoCommit` document per entity (1,000 documents).
//! Each criterion group holds both, on the same deltas:
//!
//! - `map_insert`: 100k deltas into an empty replica, in batches of 1,000
//!   (Rhizome: `insert_batch`; automerge: the puts of the batch, then one
//!   `commit` of every document the batch touched), plus automerge with a
//!   single commit per document at the end (its cheapest way).
//! - `map_merge`: two replicas sharing the first 90% of N deltas, each with
//!   5% of its own, merged (Rhizome: `DeltaSet::merge`; automerge: the shared
//!   part built once, every document `fork`ed, each side's own puts applied
//!   and committed, then `merge` per document). N = 100k, and 1M when
//!   measuring.
//! - `map_read`: the value of one property after that merge (Rhizome: the
//!   last-write-wins view; automerge: `get`).
//! - `b3_1`: crdt-benchmarks B3.1, 1,540 writers each setting the same key
//!   once in their own replica, all merged into one, value read.
//!
//! `cargo bench --bench automerge -- --warm-up-time 1 --measurement-time 3`
//! (figures in `benches/README.md`).

use std::hint::black_box;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ROOT, ReadDoc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use rhizome_crdt::workload::{START, Workload};
use rhizome_crdt::{Delta, DeltaSet, HyperviewOptions, Number, Target, ViewResolver};

/// Whether criterion measures (`cargo bench` passes `--bench`) rather than
/// runs each benchmark once as a test (`cargo test --all-targets`).
fn measuring() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The deltas are inserted and applied in batches of this many.
const BATCH: usize = 1000;

/// One delta as an automerge map put.
#[derive(Clone, Debug)]
struct Put {
    doc: usize,
    key: String,
    value: Scalar,
}

#[derive(Clone, Debug)]
enum Scalar {
    Str(String),
    Int(i64),
}

/// The put equivalent to workload delta `d` (entity `eN` → document `N`).
fn put_of(d: &Delta) -> Put {
    let (entity, prop) = d
        .references()
        .find_map(|(id, ctx)| ctx.map(|c| (id, c)))
        .unwrap();
    let value = match d.value_for(entity, prop).unwrap() {
        Target::String(s) => Scalar::Str(s.to_string()),
        Target::Number(Number::Int(i)) => Scalar::Int(*i),
        other => panic!("the workload makes no {other:?}"),
    };
    Put {
        doc: entity[1..].parse().unwrap(),
        key: prop.to_string(),
        value,
    }
}

fn apply(doc: &mut AutoCommit, put: &Put) {
    match &put.value {
        Scalar::Str(s) => doc.put(ROOT, put.key.as_str(), s.as_str()),
        Scalar::Int(i) => doc.put(ROOT, put.key.as_str(), *i),
    }
    .unwrap();
}

/// Applies `puts` to `docs` batch by batch, committing every touched
/// document after each batch.
fn apply_batched(docs: &mut [AutoCommit], puts: &[Put]) {
    let mut touched = vec![false; docs.len()];
    for batch in puts.chunks(BATCH) {
        for p in batch {
            apply(&mut docs[p.doc], p);
            touched[p.doc] = true;
        }
        for (doc, t) in docs.iter_mut().zip(touched.iter_mut()) {
            if std::mem::take(t) {
                doc.commit();
            }
        }
    }
}

fn new_docs(n: usize) -> Vec<AutoCommit> {
    (0..n).map(|_| AutoCommit::new()).collect()
}

fn insert_batched(set: &mut DeltaSet, deltas: Vec<Delta>) {
    let mut it = deltas.into_iter();
    loop {
        let batch: Vec<Delta> = it.by_ref().take(BATCH).collect();
        if batch.is_empty() {
            break;
        }
        set.insert_batch(batch).unwrap();
    }
}

fn map_insert(c: &mut Criterion) {
    let w = Workload::default();
    let entities = w.entities as usize;
    const N: u64 = 100_000;
    let deltas: Vec<Delta> = w.deltas(0..N).collect();
    let puts: Vec<Put> = deltas.iter().map(put_of).collect();
    let mut g = c.benchmark_group("map_insert");
    g.sample_size(10);
    g.throughput(Throughput::Elements(N));
    g.bench_function("rhizome/batches_of_1000/100k", |b| {
        b.iter_batched(
            || deltas.clone(),
            |ds| {
                let mut s = DeltaSet::new();
                insert_batched(&mut s, ds);
                s
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("automerge/commit_per_batch_of_1000/100k", |b| {
        b.iter(|| {
            let mut docs = new_docs(entities);
            apply_batched(&mut docs, &puts);
            docs
        })
    });
    g.bench_function("automerge/one_commit_per_doc/100k", |b| {
        b.iter(|| {
            let mut docs = new_docs(entities);
            for p in &puts {
                apply(&mut docs[p.doc], p);
            }
            for d in &mut docs {
                d.commit();
            }
            docs
        })
    });
    g.finish();
}

/// Two diverged replicas of the first `n` workload deltas, for each engine.
struct Diverged {
    rhizome: (DeltaSet, DeltaSet),
    automerge: (Vec<AutoCommit>, Vec<AutoCommit>),
}

fn diverged(w: &Workload, n: u64) -> Diverged {
    let shared = n * 9 / 10;
    let mid = n * 95 / 100;
    let ranges = [0..shared, shared..mid, mid..n];
    let [base, own_a, own_b] = ranges.map(|r| w.deltas(r).collect::<Vec<Delta>>());
    let puts = |ds: &[Delta]| ds.iter().map(put_of).collect::<Vec<Put>>();
    let (base_puts, a_puts, b_puts) = (puts(&base), puts(&own_a), puts(&own_b));

    // Each replica holds its own copies of the shared deltas (as after
    // receiving them over the network), so merge compares their contents
    // rather than finding the very same `Arc`s.
    let mut a = DeltaSet::new();
    insert_batched(&mut a, base.clone());
    insert_batched(&mut a, own_a);
    let mut b = DeltaSet::new();
    insert_batched(&mut b, base);
    insert_batched(&mut b, own_b);

    let mut docs_a = new_docs(w.entities as usize);
    apply_batched(&mut docs_a, &base_puts);
    let mut docs_b: Vec<AutoCommit> = docs_a.iter_mut().map(AutoCommit::fork).collect();
    apply_batched(&mut docs_a, &a_puts);
    apply_batched(&mut docs_b, &b_puts);
    Diverged {
        rhizome: (a, b),
        automerge: (docs_a, docs_b),
    }
}

fn map_merge_and_read(c: &mut Criterion) {
    let w = Workload::default();
    let lww = ViewResolver::default();
    let p0 = HyperviewOptions {
        contexts: Some(vec!["p0".into()]),
        ..HyperviewOptions::default()
    };
    let sizes: &[u64] = if measuring() {
        &[100_000, 1_000_000]
    } else {
        &[100_000]
    };
    for &n in sizes {
        let label = format!("{}k", n / 1000);
        let Diverged {
            rhizome: (a, b),
            automerge: (docs_a, mut docs_b),
        } = diverged(&w, n);

        let mut g = c.benchmark_group("map_merge");
        g.sample_size(10);
        // Throughput: the deltas new to the receiving replica.
        g.throughput(Throughput::Elements(n / 20));
        g.bench_function(format!("rhizome/{label}_sharing_90pct"), |bench| {
            bench.iter_batched(
                || a.clone(),
                |mut a| {
                    a.merge(&b).unwrap();
                    a
                },
                BatchSize::PerIteration,
            )
        });
        g.bench_function(format!("automerge/{label}_sharing_90pct"), |bench| {
            bench.iter_batched(
                || docs_a.clone(),
                |mut docs| {
                    for (d, other) in docs.iter_mut().zip(docs_b.iter_mut()) {
                        d.merge(other).unwrap();
                    }
                    docs
                },
                BatchSize::PerIteration,
            )
        });
        g.finish();

        let mut merged = a.clone();
        merged.merge(&b).unwrap();
        let mut merged_docs = docs_a.clone();
        for (d, other) in merged_docs.iter_mut().zip(docs_b.iter_mut()) {
            d.merge(other).unwrap();
        }
        // Both engines hold the same state: every entity and property.
        let all = HyperviewOptions::default();
        for (e, doc) in merged_docs.iter().enumerate() {
            let view = lww.resolve(&merged.hyperview(&format!("e{e}"), &all));
            assert_eq!(view.properties.len(), doc.length(ROOT), "e{e}");
        }

        let mut g = c.benchmark_group("map_read");
        g.bench_function(
            format!("rhizome/one_property_after_merge_{label}"),
            |bench| {
                bench.iter(|| {
                    let view = lww.resolve(&merged.hyperview(black_box("e0"), &p0));
                    view.get("p0").is_some()
                })
            },
        );
        g.bench_function(
            format!("rhizome/whole_entity_after_merge_{label}"),
            |bench| bench.iter(|| lww.resolve(&merged.hyperview(black_box("e0"), &all))),
        );
        g.bench_function(
            format!("automerge/one_property_after_merge_{label}"),
            |bench| {
                bench.iter(|| {
                    merged_docs[black_box(0)]
                        .get(ROOT, black_box("p0"))
                        .unwrap()
                        .is_some()
                })
            },
        );
        g.finish();
    }
}

/// The number of writers in crdt-benchmarks B3.1.
const B31_WRITERS: u64 = 1_540;

/// crdt-benchmarks B3.1: every writer sets key `v` to its number in its own
/// replica, the replicas are merged into one in sequence, and the value is
/// read. Timed from nothing to the value, replicas included.
fn b31(c: &mut Criterion) {
    let lww = ViewResolver::default();
    let all = HyperviewOptions::default();
    let mut g = c.benchmark_group("b3_1");
    g.sample_size(10);
    g.throughput(Throughput::Elements(B31_WRITERS));
    g.bench_function("rhizome/1540_writers/sequential_merge", |b| {
        b.iter(|| {
            let mut merged = DeltaSet::new();
            for i in 0..B31_WRITERS {
                let d = Delta::builder(format!("writer{i}"), format!("host{i}"))
                    .id(format!("b31-{i:05}"))
                    .timestamp(START)
                    .set_property("map", "v", i as i64)
                    .build()
                    .unwrap();
                let mut replica = DeltaSet::new();
                replica.insert(d).unwrap();
                merged.merge(&replica).unwrap();
            }
            lww.resolve(&merged.hyperview("map", &all))
        })
    });
    g.bench_function("automerge/1540_writers/sequential_merge", |b| {
        b.iter(|| {
            let mut merged = AutoCommit::new();
            for i in 0..B31_WRITERS {
                let mut replica = AutoCommit::new();
                replica.put(ROOT, "v", i as i64).unwrap();
                replica.commit();
                merged.merge(&mut replica).unwrap();
            }
            merged.get(ROOT, "v").unwrap().is_some()
        })
    });
    g.finish();
}

criterion_group!(benches, map_insert, map_merge_and_read, b31);
criterion_main!(benches);
