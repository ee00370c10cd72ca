use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::schema::HyperSchema;
use crate::schema::registry::registration_deltas;
use crate::strategy::StrategyRegistry;
use crate::{Delta, Target};

const MOVIES: [&str; 2] = ["m0", "m1"];
const PERSONS: [&str; 3] = ["p0", "p1", "p2"];

#[derive(Clone, Debug)]
enum Change {
    Title(usize, u8),
    Director(usize, usize),
    Name(usize, u8),
    Friend(usize, usize),
}

#[derive(Clone, Debug)]
enum Op {
    Set(Change, u64),
    Negate(usize, u64),
    /// Two changes in a transaction; complete or not.
    Tx(Change, Change, bool, u64),
    /// Re-register Person in one of three shapes.
    Schema(u8, u64),
    Read(usize, u8, bool),
}

fn change() -> impl Strategy<Value = Change> {
    prop_oneof![
        (0..2usize, 0..4u8).prop_map(|(m, v)| Change::Title(m, v)),
        (0..2usize, 0..3usize).prop_map(|(m, p)| Change::Director(m, p)),
        (0..3usize, 0..4u8).prop_map(|(p, v)| Change::Name(p, v)),
        (0..3usize, 0..3usize).prop_map(|(p, q)| Change::Friend(p, q)),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (change(), 1..60u64).prop_map(|(c, t)| Op::Set(c, t)),
        2 => (any::<usize>(), 1..60u64).prop_map(|(k, t)| Op::Negate(k, t)),
        1 => (change(), change(), any::<bool>(), 1..60u64).prop_map(|(a, b, c, t)| Op::Tx(a, b, c, t)),
        1 => (0..3u8, 1..60u64).prop_map(|(v, t)| Op::Schema(v, t)),
        4 => (0..5usize, 0..3u8, any::<bool>()).prop_map(|(e, s, f)| Op::Read(e, s, f)),
    ]
}

fn build(id: String, t: u64, c: &Change, tx: Option<&str>) -> Delta {
    let b = Delta::builder("c", "h").id(id).timestamp(t);
    let b = match tx {
        Some(tx) => b.in_transaction(tx),
        None => b,
    };
    let b = match c {
        Change::Title(m, v) => b.set_property(MOVIES[*m], "title", format!("T{v}")),
        Change::Director(m, p) => b.set_property(
            MOVIES[*m],
            "director",
            Target::reference(PERSONS[*p], "directed"),
        ),
        Change::Name(p, v) => b.set_property(PERSONS[*p], "name", format!("N{v}")),
        Change::Friend(p, q) => b.set_property(
            PERSONS[*p],
            "friend",
            Target::reference_without_context(PERSONS[*q]),
        ),
    };
    b.build().unwrap()
}

fn person_schema(variant: u8) -> HyperSchema {
    let body = match variant {
        0 => {
            json!({"name": "Person", "select": "by-target-context", "transform": {"friend": {"schema": "Friend"}}})
        }
        1 => json!({"name": "Person", "select": "by-target-context", "contexts": ["name"]}),
        _ => {
            json!({"name": "Person", "select": "by-target-context", "transform": {"friend": {"schema": "Friend"}}, "max_depth": 1})
        }
    };
    HyperSchema::from_json(&body).unwrap()
}

fn initial_schemas() -> Vec<Delta> {
    let friend = HyperSchema::new("Friend");
    let movie = HyperSchema::from_json(&json!({"name": "Movie", "select": "by-target-context",
        "transform": {"director": {"schema": "Person"}}}))
    .unwrap();
    let mut out = registration_deltas(&friend, "admin", "h", 1).unwrap();
    out.extend(registration_deltas(&person_schema(0), "admin", "h", 1).unwrap());
    out.extend(registration_deltas(&movie, "admin", "h", 1).unwrap());
    out
}

struct World {
    set: DeltaSet,
    schemas: SchemaRegistry,
    cache: ViewCache,
    ids: Vec<String>,
    n: usize,
    resolvers: [(ViewOptions, ViewResolver); 2],
}

impl World {
    fn new(capacity: usize) -> World {
        let strategies = StrategyRegistry::default();
        let first = ViewOptions::from_query(Some("first-write-wins"), None, None).unwrap();
        let first_resolver = first.resolver(&strategies).unwrap();
        let mut w = World {
            set: DeltaSet::new(),
            schemas: SchemaRegistry::new(),
            cache: ViewCache::new(capacity),
            ids: Vec::new(),
            n: 0,
            resolvers: [
                (ViewOptions::default(), ViewResolver::default()),
                (first, first_resolver),
            ],
        };
        w.ingest(initial_schemas());
        w
    }

    fn ingest(&mut self, deltas: Vec<Delta>) {
        self.ids.extend(deltas.iter().map(|d| d.id().to_string()));
        let inserted = self.set.insert_batch(deltas).unwrap();
        self.cache.apply(&inserted.changed);
        if inserted
            .changed
            .entities()
            .any(|e| e.starts_with(crate::schema::registry::ENTITY_PREFIX))
        {
            self.schemas = SchemaRegistry::from_set(&self.set, None);
        }
    }

    fn next_id(&mut self) -> String {
        self.n += 1;
        format!("x{}", self.n)
    }

    fn apply(&mut self, op: &Op) -> std::result::Result<(), TestCaseError> {
        match op {
            Op::Set(c, t) => {
                let id = self.next_id();
                self.ingest(vec![build(id, *t, c, None)]);
            }
            Op::Negate(k, t) => {
                let target = self.ids[k % self.ids.len()].clone();
                let id = self.next_id();
                let n = Delta::builder("c", "h")
                    .id(id)
                    .timestamp(*t)
                    .negate(target)
                    .build()
                    .unwrap();
                self.ingest(vec![n]);
            }
            Op::Tx(a, b, complete, t) => {
                let tx = format!("tx{}", self.n);
                let (ia, ib, idecl) = (self.next_id(), self.next_id(), self.next_id());
                let size = if *complete { 2 } else { 3 };
                let decl = Delta::builder("c", "h")
                    .id(idecl)
                    .timestamp(*t)
                    .declare_transaction(tx.as_str(), size)
                    .build()
                    .unwrap();
                // Members first, in their own batch, then the declaration.
                self.ingest(vec![
                    build(ia, *t, a, Some(&tx)),
                    build(ib, *t + 1, b, Some(&tx)),
                ]);
                self.ingest(vec![decl]);
            }
            Op::Schema(v, t) => {
                let deltas = registration_deltas(&person_schema(*v), "admin", "h", *t).unwrap();
                self.ingest(deltas);
            }
            Op::Read(e, s, f) => self.check(*e, *s, *f)?,
        }
        Ok(())
    }

    fn check(&mut self, e: usize, s: u8, f: bool) -> std::result::Result<(), TestCaseError> {
        let entity = if e < 2 { MOVIES[e] } else { PERSONS[e - 2] };
        let schema = [None, Some("Movie"), Some("Person")][s as usize];
        let (options, resolver) = &self.resolvers[usize::from(f)];
        // Negations may retract a schema: errors must agree too.
        let cached = self
            .cache
            .view(&self.set, &self.schemas, entity, schema, options, resolver)
            .map(|v| v.map(|v| (*v).clone()));
        let fresh = Expander::new(&self.set, &self.schemas, None)
            .view(entity, schema, resolver)
            .map(|e| e.map(|e| e.value));
        prop_assert_eq!(cached, fresh, "{} under {:?}", entity, schema);
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn cached_equals_fresh_after_any_ingests(ops in prop::collection::vec(op(), 1..40), capacity in 1..12usize) {
        let mut w = World::new(capacity);
        for op in &ops {
            w.apply(op)?;
        }
        for e in 0..5 {
            for s in 0..3 {
                for f in [false, true] {
                    w.check(e, s, f)?;
                    // Twice: the second is a hit, and equal too.
                    w.check(e, s, f)?;
                }
            }
        }
        prop_assert!(w.cache.len() <= capacity);
    }
}

#[test]
fn nested_changes_invalidate_and_unrelated_ones_do_not() {
    let mut w = World::new(100);
    w.apply(&Op::Set(Change::Director(0, 1), 5)).unwrap();
    w.apply(&Op::Set(Change::Name(1, 1), 5)).unwrap();
    w.apply(&Op::Set(Change::Name(2, 2), 5)).unwrap();
    let (options, resolver) = w.resolvers[0].clone();
    let get = |w: &mut World| {
        w.cache
            .view(&w.set, &w.schemas, "m0", Some("Movie"), &options, &resolver)
            .unwrap()
            .unwrap()
    };
    let v = get(&mut w);
    assert_eq!(
        serde_json::to_value(&*v).unwrap()["properties"]["director"]["properties"]["name"],
        "N1"
    );
    // An unrelated entity changes: still a hit.
    w.apply(&Op::Set(Change::Name(2, 3), 6)).unwrap();
    get(&mut w);
    assert_eq!((w.cache.hits, w.cache.misses), (1, 1));
    // The nested director changes: recomputed, fresh.
    w.apply(&Op::Set(Change::Name(1, 2), 7)).unwrap();
    let v = get(&mut w);
    assert_eq!(w.cache.misses, 2);
    assert_eq!(
        serde_json::to_value(&*v).unwrap()["properties"]["director"]["properties"]["name"],
        "N2"
    );
    // Re-registering Person (a projection without friend... and name only) invalidates.
    w.apply(&Op::Schema(1, 8)).unwrap();
    get(&mut w);
    assert_eq!(w.cache.misses, 3);
    assert!(w.cache.invalidations >= 2);
}
