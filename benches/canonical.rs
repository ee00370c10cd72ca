//! Canonical form, content hash and signature throughput on deltas shaped like the
//! reference workload: `set_property` deltas whose entity pointer is a
//! reference to `eN` with context `pK`, and whose value is an 8-character
//! string or an integer.
//!
//! ```sh
//! cargo bench --bench canonical -- --warm-up-time 1 --measurement-time 3
//! ```

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rhizome_crdt::{Delta, canonical};

const DELTAS: usize = 10_000;

/// Deterministic workload (a small LCG, so every run measures the same deltas).
fn workload() -> Vec<Delta> {
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        state >> 33
    };
    (0..DELTAS)
        .map(|i| {
            let entity = format!("e{}", next() % 1_000);
            let property = format!("p{}", next() % 10);
            let builder = Delta::builder(format!("user-{}", next() % 10), "node-a")
                .timestamp(1_700_000_000_000 + i as u64);
            let builder = if next() % 2 == 0 {
                let value: String = (0..8)
                    .map(|_| char::from(b'a' + (next() % 26) as u8))
                    .collect();
                builder.set_property(entity, property, value)
            } else {
                builder.set_property(entity, property, (next() % 1_000_000) as i64)
            };
            builder.build().expect("valid workload delta")
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let deltas = workload();
    let total: usize = deltas.iter().map(canonical::canonical_len).sum();
    eprintln!(
        "{DELTAS} deltas, {:.1} canonical bytes each on average",
        total as f64 / DELTAS as f64
    );

    let mut group = c.benchmark_group("canonical");
    group.throughput(Throughput::Elements(DELTAS as u64));
    group.bench_function("canonical_bytes", |b| {
        b.iter(|| {
            for d in &deltas {
                black_box(canonical::canonical_bytes(black_box(d)));
            }
        })
    });
    group.bench_function("write_canonical_reused_buffer", |b| {
        let mut buf = Vec::with_capacity(1024);
        b.iter(|| {
            for d in &deltas {
                buf.clear();
                canonical::write_canonical(black_box(d), &mut buf);
                black_box(&buf);
            }
        })
    });
    group.bench_function("content_hash", |b| {
        b.iter(|| {
            for d in &deltas {
                black_box(black_box(d).content_hash());
            }
        })
    });
    // For comparison: blake3 alone over the already-built canonical forms.
    let forms: Vec<Vec<u8>> = deltas.iter().map(canonical::canonical_bytes).collect();
    group.bench_function("blake3_of_prebuilt_bytes", |b| {
        b.iter(|| {
            for f in &forms {
                black_box(blake3::hash(black_box(f)));
            }
        })
    });
    group.finish();

    // Signatures (API.md §6): what a signed delta costs the node on ingest
    // (verify) and a client (sign), over the same deltas.
    use rhizome_crdt::signature::{KeyRing, SigningKey, verify};
    let key = SigningKey::from_bytes(&[9; 32]);
    let signed: Vec<Delta> = deltas.iter().cloned().map(|d| key.sign(d)).collect();
    let public = key.public();
    let mut group = c.benchmark_group("signature");
    group.throughput(Throughput::Elements(DELTAS as u64));
    group.sample_size(10);
    group.bench_function("verify", |b| {
        b.iter(|| {
            for d in &signed {
                black_box(verify(black_box(d), &public).is_ok());
            }
        })
    });
    group.bench_function("sign", |b| {
        b.iter(|| {
            for d in &deltas {
                black_box(key.sign(black_box(d.clone())));
            }
        })
    });
    // What an unsigned delta costs when some creator has a key but not its
    // own (a lookup): the price every node pays once any key exists.
    let ring = KeyRing::default();
    group.bench_function("check_creator_without_key", |b| {
        b.iter(|| {
            for d in &deltas {
                black_box(ring.check(black_box(d)).is_ok());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
