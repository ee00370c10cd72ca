//! Schemas, live views and queries over a movie-database-like graph: 50
//! movies (title, year, genre, director, 2 producers, 2 writers, 5 cast
//! roles each), 250 roles (actor, character), 100 persons (name, born).
//!
//! `cargo bench --bench schema -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use rhizome_crdt::query::{self, Logic, Query};
use rhizome_crdt::schema::{Expander, HyperSchema, SchemaRegistry};
use rhizome_crdt::view_cache::ViewCache;
use rhizome_crdt::{Delta, DeltaSet, StrategyRegistry, Target, ViewOptions};

fn graph() -> DeltaSet {
    let mut deltas = Vec::new();
    let mut n = 0u64;
    let mut set = |entity: String, property: &str, value: Target| {
        n += 1;
        deltas.push(
            Delta::builder("loader", "node-a")
                .id(format!("d{n:06}"))
                .timestamp(1_700_000_000_000 + n)
                .set_property(entity, property, value)
                .build()
                .unwrap(),
        );
    };
    for p in 0..100 {
        set(
            format!("person{p:03}"),
            "name",
            format!("Person {p}").into(),
        );
        set(
            format!("person{p:03}"),
            "born",
            (1930 + p as i64 % 60).into(),
        );
    }
    let person = |i: usize| format!("person{:03}", i % 100);
    for m in 0..50usize {
        let movie = format!("movie{m:02}");
        set(movie.clone(), "title", format!("Movie {m}").into());
        set(movie.clone(), "year", (1970 + (m as i64 * 7) % 50).into());
        let genre = ["drama", "comedy", "horror", "sci-fi"][m % 4];
        set(movie.clone(), "genre", genre.into());
        set(
            movie.clone(),
            "director",
            Target::reference(person(m * 3), "directed"),
        );
        for k in 0..2 {
            set(
                movie.clone(),
                "producer",
                Target::reference(person(m * 5 + k), "produced"),
            );
            set(
                movie.clone(),
                "writer",
                Target::reference(person(m * 7 + k), "wrote"),
            );
        }
        for r in 0..5 {
            let role = format!("role{m:02}-{r}");
            set(
                movie.clone(),
                "cast",
                Target::reference(role.clone(), "movie"),
            );
            set(
                role.clone(),
                "actor",
                Target::reference(person(m * 11 + r), "roles"),
            );
            set(role, "character", format!("Character {r}").into());
        }
    }
    let mut s = DeltaSet::new();
    s.insert_batch(deltas).unwrap();
    s
}

fn schemas() -> SchemaRegistry {
    let mut r = SchemaRegistry::new();
    let body = |v: serde_json::Value| HyperSchema::from_json(&v).unwrap();
    r.register(HyperSchema::new("Person")).unwrap();
    r.register(body(
        serde_json::json!({"name": "Role", "select": "by-target-context",
        "transform": {"actor": {"schema": "Person"}}}),
    ))
    .unwrap();
    r.register(body(
        serde_json::json!({"name": "Movie", "select": "by-target-context",
        "transform": {"director": {"schema": "Person"}, "producer": {"schema": "Person"},
            "writer": {"schema": "Person"}, "cast": {"schema": "Role"}}, "max_depth": 2}),
    ))
    .unwrap();
    r
}

fn bench(c: &mut Criterion) {
    let set = graph();
    let schemas = schemas();
    let strategies = StrategyRegistry::default();
    let options = ViewOptions::from_query(
        None,
        Some("cast:all-values,producer:all-values,writer:all-values"),
        None,
    )
    .unwrap();
    let resolver = options.resolver(&strategies).unwrap();
    let mut group = c.benchmark_group("schema");

    let expander = Expander::new(&set, &schemas, None);
    let v = expander
        .view("movie07", Some("Movie"), &resolver)
        .unwrap()
        .unwrap();
    assert_eq!(v.value.properties.len(), 7);
    group.bench_function("movie view depth 2 (cold)", |b| {
        b.iter(|| {
            black_box(
                expander
                    .view(black_box("movie07"), Some("Movie"), &resolver)
                    .unwrap(),
            )
        })
    });

    let mut cache = ViewCache::new(1000);
    cache
        .view(
            &set,
            &schemas,
            "movie07",
            Some("Movie"),
            &options,
            &resolver,
        )
        .unwrap();
    group.bench_function("movie view depth 2 (cached)", |b| {
        b.iter(|| {
            black_box(
                cache
                    .view(
                        &set,
                        &schemas,
                        black_box("movie07"),
                        Some("Movie"),
                        &options,
                        &resolver,
                    )
                    .unwrap(),
            )
        })
    });

    let filter = Logic::compile(&serde_json::json!({"and": [
        {">": [{"var": "properties.year"}, 1990]},
        {"==": [{"var": "properties.genre"}, "drama"]}]}))
    .unwrap();
    let all = Query {
        schema: Some("Movie"),
        filter: Some(&filter),
        ..Query::default()
    };
    let found = query::run(&set, &schemas, &resolver, &all).unwrap();
    assert!(!found.is_empty());
    group.bench_function("filter query over all entities (index assist)", |b| {
        b.iter(|| black_box(query::run(&set, &schemas, &resolver, black_box(&all)).unwrap()))
    });
    let movies: Vec<Arc<str>> = (0..50).map(|m| Arc::from(format!("movie{m:02}"))).collect();
    // No property required: every movie is resolved, expanded and evaluated.
    let unassisted = Logic::compile(&serde_json::json!({"or": [
        {"and": [{">": [{"var": "properties.year"}, 1990]},
                 {"==": [{"var": "properties.genre"}, "drama"]}]}, false]}))
    .unwrap();
    let each = Query {
        schema: Some("Movie"),
        filter: Some(&unassisted),
        ids: Some(&movies),
        ..Query::default()
    };
    assert_eq!(query::run(&set, &schemas, &resolver, &each).unwrap(), found);
    group.bench_function("filter query over 50 movies (each resolved)", |b| {
        b.iter(|| black_box(query::run(&set, &schemas, &resolver, black_box(&each)).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
