//! View resolution: a hyperview of one entity (5 properties) into a view.
//!
//! `cargo bench --bench view -- --warm-up-time 1 --measurement-time 3`

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rhizome_crdt::{
    Delta, DeltaId, Hyperview, Pointer, StrategyRegistry, Target, Timestamp, View, ViewOptions,
};

/// One entity, `properties` properties with `per_property` deltas each, in
/// `(timeCreated, id)` order; four numeric properties and one of strings,
/// from three creators.
fn hyperview(properties: usize, per_property: usize) -> Hyperview {
    let mut map = BTreeMap::new();
    for p in 0..properties {
        let name: Arc<str> = format!("prop{p}").into();
        let deltas = (0..per_property)
            .map(|i| {
                let value: Target = if p == 0 {
                    Target::from(format!("word{}", i % 7))
                } else {
                    Target::from((i % 11) as i64)
                };
                let pointers = vec![
                    Pointer::new("entity", Target::reference("e1", Arc::clone(&name))),
                    Pointer::new(Arc::clone(&name), value),
                ];
                let id = DeltaId::new(format!("d{p:02}-{i:04}")).unwrap();
                let t = Timestamp::new(1_700_000_000_000 + i as u64).unwrap();
                let creator = ["alice", "bob", "carol"][i % 3];
                Arc::new(Delta::new(id, t, "node-a", creator, pointers).unwrap())
            })
            .collect();
        map.insert(name, deltas);
    }
    Hyperview {
        id: "e1".into(),
        properties: map,
    }
}

fn bench(c: &mut Criterion) {
    let registry = StrategyRegistry::default();
    let mut group = c.benchmark_group("view");
    for per_property in [20, 200] {
        let hv = hyperview(5, per_property);
        let lww = ViewOptions::default().resolver(&registry).unwrap();
        group.bench_function(format!("last-write-wins/5x{per_property}"), |b| {
            b.iter(|| black_box(lww.resolve(black_box(&hv))))
        });
        // Including parsing the options and looking the strategy up, as a
        // request does.
        group.bench_function(format!("last-write-wins+options/5x{per_property}"), |b| {
            b.iter(|| {
                let options = ViewOptions::from_query(Some("most-recent"), None, None).unwrap();
                black_box(View::resolve(black_box(&hv), &options, &registry).unwrap())
            })
        });
    }
    let hv = hyperview(5, 20);
    for name in [
        "first-write-wins",
        "all-values",
        "min",
        "max",
        "sum",
        "average",
        "count",
        "concatenation",
        "majority-vote",
        "trusted-author",
        "trusted-system",
    ] {
        let options = ViewOptions::from_query(Some(name), None, Some("carol,bob")).unwrap();
        let resolver = options.resolver(&registry).unwrap();
        group.bench_function(format!("{name}/5x20"), |b| {
            b.iter(|| black_box(resolver.resolve(black_box(&hv))))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
