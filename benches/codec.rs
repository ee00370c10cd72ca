//! Codec throughput: decoding and encoding deltas shaped like the reference
//! workload, in each JSON format and in the binary form, plus batch decoding.
//!
//! `cargo bench --bench codec -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rhizome_crdt::codec::{Format, binary, json};
use rhizome_crdt::{Delta, DeltaId, Pointer, Target, Timestamp};

/// Deltas per measured iteration.
const N: usize = 1000;

/// A small deterministic generator (Knuth's MMIX LCG).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 16
    }
}

/// Delta `i` of the reference workload: entity `e0..e999`, property
/// `p0..p4`, value a random 8-character string or an integer, two pointers.
fn workload_delta(i: u64, rng: &mut Lcg) -> Delta {
    let entity = format!("e{}", rng.next() % 1000);
    let property = format!("p{}", rng.next() % 5);
    let value = if rng.next().is_multiple_of(2) {
        let s: String = (0..8)
            .map(|_| char::from(b'a' + (rng.next() % 26) as u8))
            .collect();
        Target::from(s)
    } else {
        Target::from((rng.next() % 1_000_000) as i64)
    };
    Delta::new(
        DeltaId::new(format!("{:016x}-{i}", rng.next())).unwrap(),
        Timestamp::new(1_600_000_000_000 + i).unwrap(),
        "node-a",
        "bench",
        vec![
            Pointer::new("entity", Target::reference(entity, property.clone())),
            Pointer::new(property, value),
        ],
    )
    .unwrap()
}

fn workload() -> Vec<Delta> {
    let mut rng = Lcg(42);
    (0..N as u64).map(|i| workload_delta(i, &mut rng)).collect()
}

fn json_formats(c: &mut Criterion) {
    let deltas = workload();
    for format in [Format::V1, Format::V2, Format::RhizomeDb] {
        let encoded: Vec<Vec<u8>> = deltas
            .iter()
            .map(|d| json::encode(d, format).unwrap())
            .collect();
        let mut group = c.benchmark_group(format!("json-{format}"));
        group.throughput(Throughput::Elements(N as u64));
        group.bench_function("decode", |b| {
            b.iter(|| {
                for bytes in &encoded {
                    black_box(json::decode(black_box(bytes)).unwrap());
                }
            })
        });
        let mut out = Vec::with_capacity(256);
        group.bench_function("encode", |b| {
            b.iter(|| {
                for d in &deltas {
                    out.clear();
                    json::encode_into(black_box(d), format, &mut out).unwrap();
                    black_box(&out);
                }
            })
        });
        group.finish();
    }

    // The WebSocket path: frames already parsed into a Value.
    let values: Vec<serde_json::Value> = deltas
        .iter()
        .map(|d| json::encode_value(d, Format::V1).unwrap())
        .collect();
    let mut group = c.benchmark_group("json-v1-value");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            for v in &values {
                black_box(json::decode_value(black_box(v)).unwrap());
            }
        })
    });
    group.finish();
}

fn batch(c: &mut Criterion) {
    let deltas = workload();
    let body: Vec<serde_json::Value> = deltas
        .iter()
        .map(|d| json::encode_value(d, Format::V1).unwrap())
        .collect();
    let body = serde_json::to_vec(&body).unwrap();
    let mut group = c.benchmark_group("json-batch-1000");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("decode", |b| {
        b.iter(|| black_box(json::decode_batch(black_box(&body)).unwrap()))
    });
    group.finish();
}

fn postcard(c: &mut Criterion) {
    let deltas = workload();
    let encoded: Vec<Vec<u8>> = deltas.iter().map(binary::encode).collect();
    let mut group = c.benchmark_group("postcard");
    group.throughput(Throughput::Elements(N as u64));
    group.bench_function("decode", |b| {
        b.iter(|| {
            for bytes in &encoded {
                black_box(binary::decode(black_box(bytes)).unwrap());
            }
        })
    });
    let mut out = Vec::with_capacity(256);
    group.bench_function("encode", |b| {
        b.iter(|| {
            for d in &deltas {
                out.clear();
                binary::encode_into(black_box(d), &mut out);
                black_box(&out);
            }
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(3))
        .sample_size(20);
    targets = json_formats, batch, postcard
}
criterion_main!(benches);
