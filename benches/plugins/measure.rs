//! Plugin figures for `benches/README.md`: the per-call overhead of a
//! `resolve` plugin against a built-in strategy, module load and replace
//! time, `handle_delta` throughput, and the time to rebuild a handler's
//! state from a large log.
//!
//! `cargo run --release --example plugin-measure [-- DELTAS]` (default
//! 1,000,000 stored deltas for the rebuild figure).

use std::sync::Arc;
use std::time::Instant;

use rhizome::config::{Config, StorageKind};
use rhizome::node::Node;
use rhizome::plugins::{PluginHost, PluginSettings};
use rhizome_crdt::strategy::{Candidate, Context};
use rhizome_crdt::{Delta, DeltaId, Pointer, Target, Timestamp};

fn module(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).expect("a valid module")
}

/// `handle_delta` that does nothing but answer `{}`.
const TRIVIAL_HANDLER: &str = r#"(module
  (memory (export "memory") 2)
  (data (i32.const 0) "{}")
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "handle_delta") (param i32 i32) (result i64) (i64.const 2)))"#;

/// `resolve` that answers `{"value": 1}` whatever it is given: the cost of
/// the ABI itself (input JSON, copy in, call, copy out, parse).
const CONSTANT_RESOLVER: &str = r#"(module
  (memory (export "memory") 2)
  (data (i32.const 0) "{\"value\":1}")
  (func (export "alloc") (param i32) (result i32) (i32.const 1024))
  (func (export "resolve") (param i32 i32) (result i64) (i64.const 11)))"#;

/// A module of about `kb` KB: the longest-value resolver plus filler
/// functions.
fn big_module(kb: usize) -> Vec<u8> {
    let base = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/plugins/longest.wat"
    ))
    .expect("the example");
    let mut filler = String::new();
    let mut n = 0;
    loop {
        filler.push_str(&format!(
            "(func $f{n} (param $x i64) (result i64) (i64.add (i64.mul (local.get $x) (i64.const {n})) (i64.xor (local.get $x) (i64.const 12345))))\n"
        ));
        n += 1;
        if n % 200 == 0 {
            let wat = base.trim_end().trim_end_matches(')').to_owned() + &filler + ")";
            let bytes = module(&wat);
            if bytes.len() >= kb * 1024 {
                return bytes;
            }
        }
    }
}

fn delta(i: usize, value: &str) -> Delta {
    Delta::new(
        DeltaId::new(format!("d{i:08}")).expect("an id"),
        Timestamp::new(1_700_000_000_000 + i as u64).expect("a time"),
        "bench",
        format!("creator{}", i % 100),
        vec![
            Pointer::new(
                "entity",
                Target::reference(format!("e{}", i % 1000), "name"),
            ),
            Pointer::new("name", value),
        ],
    )
    .expect("a delta")
}

fn per_call_ns(iterations: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..iterations / 10 {
        f();
    }
    let started = Instant::now();
    for _ in 0..iterations {
        f();
    }
    started.elapsed().as_nanos() as f64 / f64::from(iterations)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let deltas: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("DELTAS is a number"))
        .unwrap_or(1_000_000);
    let node = Node::start(Config::new(StorageKind::Memory, "unused"))
        .await
        .expect("a node");
    let host = PluginHost::new(node.clone(), PluginSettings::default());

    // 1. resolve: the plugin against the built-in strategy, same candidates.
    let longest = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/plugins/longest.wat"
    ))
    .map(|b| module(&String::from_utf8_lossy(&b)))
    .expect("the example");
    host.install("longest", longest).await.expect("installs");
    host.install("constant", module(CONSTANT_RESOLVER))
        .await
        .expect("installs");
    let registry = node.strategies();
    let builtin = registry.get("last-write-wins").expect("built in");
    let plugins = [
        ("constant", registry.get("constant").expect("the plugin")),
        ("longest", registry.get("longest").expect("the plugin")),
    ];
    for n in [1usize, 3, 10] {
        let ds: Vec<Arc<Delta>> = (0..n)
            .map(|i| Arc::new(delta(i * 1000, &"x".repeat(i + 3))))
            .collect();
        let candidates: Vec<Candidate<'_>> = ds
            .iter()
            .filter_map(|d| Candidate::of(d, "e0", "name"))
            .collect();
        let cx = Context::new("e0", "name");
        let b = per_call_ns(200_000, || {
            std::hint::black_box(builtin.resolve(&candidates, &cx));
        });
        for (name, plugin) in &plugins {
            let p = per_call_ns(100_000, || {
                std::hint::black_box(plugin.resolve(&candidates, &cx));
            });
            println!(
                "resolve, {n} candidates: built-in last-write-wins {:.2} µs, plugin {name} {:.2} µs, added {:.2} µs per call",
                b / 1000.0,
                p / 1000.0,
                (p - b) / 1000.0
            );
        }
    }

    // 2. load and replace a ~100 KB module.
    let big = big_module(100);
    let started = Instant::now();
    tokio::task::block_in_place(|| host.install_blocking("big", &big)).expect("installs");
    let load = started.elapsed();
    let mut replace = Vec::new();
    for i in 0..5 {
        let again = if i % 2 == 0 {
            big_module(101)
        } else {
            big.clone()
        };
        let started = Instant::now();
        tokio::task::block_in_place(|| host.install_blocking("big", &again)).expect("installs");
        replace.push(started.elapsed());
    }
    replace.sort();
    println!(
        "module of {} bytes: load {:.2} ms, replace {:.2} ms (median of 5)",
        big.len(),
        load.as_secs_f64() * 1000.0,
        replace[2].as_secs_f64() * 1000.0
    );

    // 3 and 4. handle_delta over the stored log.
    let started = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    for i in 0..deltas {
        batch.push(delta(i, "v"));
        if batch.len() == 10_000 {
            node.ingest(std::mem::take(&mut batch))
                .await
                .expect("stored");
        }
    }
    node.ingest(batch).await.expect("stored");
    println!(
        "stored {deltas} deltas in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let handler = module(TRIVIAL_HANDLER);
    let started = Instant::now();
    host.install("trivial", handler).await.expect("installs");
    let t = started.elapsed().as_secs_f64();
    println!(
        "trivial handle_delta fed {deltas} deltas in {t:.2} s: {:.0} deltas/s",
        deltas as f64 / t
    );
    let counter = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/plugins/creator_counter.wat"
    ))
    .expect("the example");
    let started = Instant::now();
    host.install("creator_counter", module(&counter))
        .await
        .expect("installs");
    let t = started.elapsed().as_secs_f64();
    println!(
        "creator_counter rebuilt from {deltas} deltas in {t:.2} s: {:.0} deltas/s",
        deltas as f64 / t
    );
    node.shutdown().await.expect("stops");
}
