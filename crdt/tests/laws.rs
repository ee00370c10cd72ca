//! The CRDT laws of the delta set, checked against a naive oracle of API.md
//! §2: any insertion order with any duplication, any split across replicas
//! merged in any order and grouping, gives the hyperviews the oracle derives
//! from the set alone; and the change set of a batch never misses a changed
//! hyperview.

use std::collections::{BTreeMap, HashMap, HashSet};

use proptest::prelude::*;
use rhizome_crdt::{
    Delta, DeltaId, DeltaSet, HyperviewOptions, Pointer, StrategyRegistry, Target, Timestamp,
    ViewOptions, ViewResolver, roles,
};

const ENTITIES: [&str; 5] = ["e0", "e1", "e2", "tx0", "tx1"];
/// `None` (now) and every moment of the generated history.
const TIMES: [Option<u64>; 10] = [
    None,
    Some(1),
    Some(2),
    Some(3),
    Some(4),
    Some(5),
    Some(6),
    Some(7),
    Some(8),
    Some(9),
];

/// What one generated delta says (indices are resolved against the set size).
#[derive(Clone, Debug)]
enum Kind {
    Data {
        entity: u8,
        prop: u8,
        value: u8,
        also_unfiled: bool,
    },
    Negation {
        targets: Vec<u8>,
    },
    Declaration {
        tx: u8,
        size: u8,
    },
}

#[derive(Clone, Debug)]
struct Spec {
    ts: u64,
    kind: Kind,
    member_of: Option<u8>,
    creator: u8,
}

fn spec() -> impl Strategy<Value = Spec> {
    let kind = prop_oneof![
        9 => (0u8..3, 0u8..2, 0u8..4, any::<bool>()).prop_map(|(entity, prop, value, u)| Kind::Data {
            entity,
            prop,
            value,
            also_unfiled: u && value == 0,
        }),
        7 => prop::collection::vec(any::<u8>(), 1..3).prop_map(|targets| Kind::Negation { targets }),
        2 => (0u8..2, 1u8..4).prop_map(|(tx, size)| Kind::Declaration { tx, size }),
    ];
    (1u64..9, kind, prop::option::weighted(0.25, 0u8..2), 0u8..2).prop_map(
        |(ts, kind, member_of, creator)| Spec {
            ts,
            kind,
            member_of,
            creator,
        },
    )
}

fn build(specs: &[Spec]) -> Vec<Delta> {
    let n = specs.len();
    specs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut pointers = Vec::new();
            match &s.kind {
                Kind::Data {
                    entity,
                    prop,
                    value,
                    also_unfiled,
                } => {
                    let (e, p) = (format!("e{entity}"), format!("p{prop}"));
                    pointers.push(Pointer::new(
                        roles::ENTITY,
                        Target::reference(e.clone(), p.clone()),
                    ));
                    pointers.push(Pointer::new(p, i64::from(*value)));
                    if *also_unfiled {
                        pointers.push(Pointer::new("about", Target::reference_without_context(e)));
                    }
                }
                Kind::Negation { targets } => {
                    for t in targets {
                        // Biased towards the deltas just before: chains.
                        let t = if t % 2 == 0 {
                            i.saturating_sub(1 + usize::from(t / 2) % 3)
                        } else {
                            usize::from(*t) % n
                        };
                        pointers.push(Pointer::new(
                            roles::NEGATES,
                            Target::reference(format!("d{t}"), roles::NEGATED_BY),
                        ));
                    }
                }
                Kind::Declaration { tx, size } => {
                    pointers.push(Pointer::new(
                        roles::TRANSACTION,
                        Target::reference(format!("tx{tx}"), roles::SIZE),
                    ));
                    pointers.push(Pointer::new(roles::SIZE, i64::from(*size)));
                }
            }
            if let Some(tx) = s.member_of {
                pointers.push(Pointer::new(
                    roles::TRANSACTION,
                    Target::reference(format!("tx{tx}"), roles::DELTAS),
                ));
            }
            Delta::new(
                DeltaId::new(format!("d{i}")).unwrap(),
                Timestamp::new(s.ts).unwrap(),
                "h",
                format!("c{}", s.creator),
                pointers,
            )
            .unwrap()
        })
        .collect()
}

/// Hyperview as ids: property → ids in order.
type Ids = BTreeMap<String, Vec<String>>;

/// API.md §2 read literally, with no index and no cleverness.
struct Oracle<'a> {
    deltas: &'a [Delta],
    t: Option<u64>,
    memo: HashMap<String, bool>,
}

impl<'a> Oracle<'a> {
    fn new(deltas: &'a [Delta], t: Option<u64>) -> Self {
        Oracle {
            deltas,
            t,
            memo: HashMap::new(),
        }
    }

    fn by_id(&self, id: &str) -> Option<&'a Delta> {
        self.deltas.iter().find(|d| d.id().as_str() == id)
    }

    fn seen(&self, d: &Delta) -> bool {
        self.t.is_none_or(|t| d.time_created().as_millis() <= t)
    }

    fn complete(&self, tx: &str) -> bool {
        let decl = self
            .deltas
            .iter()
            .filter(|d| self.seen(d))
            .filter_map(|d| {
                d.transaction_size()
                    .filter(|(x, _)| *x == tx)
                    .map(|(_, n)| (d.order_key(), n))
            })
            .min();
        let members: HashSet<&str> = self
            .deltas
            .iter()
            .filter(|d| self.seen(d) && d.transaction() == Some(tx))
            .map(|d| d.id().as_str())
            .collect();
        decl.is_some_and(|(_, n)| members.len() as u64 >= n)
    }

    fn eligible(&self, d: &Delta) -> bool {
        self.seen(d) && d.transaction().is_none_or(|tx| self.complete(tx))
    }

    fn negators(&self, id: &str) -> Vec<&'a Delta> {
        self.deltas
            .iter()
            .filter(|n| self.eligible(n) && n.negated_ids().any(|x| x == id))
            .collect()
    }

    fn on_cycle(&self, d: &Delta) -> bool {
        // Reachable from itself along "negates" edges between eligible negations.
        let mut todo: Vec<&str> = d.negated_ids().collect();
        let mut seen = HashSet::new();
        while let Some(x) = todo.pop() {
            if x == d.id().as_str() {
                return true;
            }
            if !seen.insert(x) {
                continue;
            }
            if let Some(n) = self.by_id(x).filter(|n| self.eligible(n)) {
                todo.extend(n.negated_ids());
            }
        }
        false
    }

    fn in_effect(&mut self, d: &'a Delta) -> bool {
        if let Some(&b) = self.memo.get(d.id().as_str()) {
            return b;
        }
        let mut b = self.eligible(d) && !self.on_cycle(d);
        if b {
            for n in self.negators(d.id().as_str()) {
                if !self.on_cycle(n) && self.in_effect(n) {
                    b = false;
                    break;
                }
            }
        }
        self.memo.insert(d.id().to_string(), b);
        b
    }

    fn hyperview(&mut self, entity: &str) -> Ids {
        let mut out: BTreeMap<String, Vec<&Delta>> = BTreeMap::new();
        for d in self.deltas {
            if d.is_negation() || !self.in_effect(d) {
                continue;
            }
            let mut props: Vec<&str> = d
                .references()
                .filter(|(e, _)| *e == entity)
                .filter_map(|(_, c)| c)
                .collect();
            props.sort();
            props.dedup();
            for p in props {
                out.entry(p.to_owned()).or_default().push(d);
            }
        }
        out.into_iter()
            .map(|(p, mut ds)| {
                ds.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
                (p, ds.iter().map(|d| d.id().to_string()).collect())
            })
            .collect()
    }
}

fn ts(t: Option<u64>) -> Option<Timestamp> {
    t.map(|t| Timestamp::new(t).unwrap())
}

fn hyperview(set: &DeltaSet, entity: &str, t: Option<u64>) -> Ids {
    set.hyperview(entity, &HyperviewOptions::as_of(ts(t)))
        .properties
        .iter()
        .map(|(p, ds)| {
            (
                p.to_string(),
                ds.iter().map(|d| d.id().to_string()).collect(),
            )
        })
        .collect()
}

/// Every hyperview the tests compare: (entity, as_of) → hyperview.
fn all(set: &DeltaSet) -> BTreeMap<(String, Option<u64>), Ids> {
    let mut out = BTreeMap::new();
    for e in ENTITIES {
        for t in TIMES {
            out.insert((e.to_owned(), t), hyperview(set, e, t));
        }
    }
    out
}

fn oracle_all(deltas: &[Delta]) -> BTreeMap<(String, Option<u64>), Ids> {
    let mut out = BTreeMap::new();
    for t in TIMES {
        let mut o = Oracle::new(deltas, t);
        for e in ENTITIES {
            out.insert((e.to_owned(), t), o.hyperview(e));
        }
    }
    out
}

/// The views under two strategies (one that looks at a single delta, one that
/// looks at all of them), as JSON, for every entity at every `as_of`.
fn all_views(set: &DeltaSet) -> BTreeMap<(String, Option<u64>, &'static str), String> {
    let registry = StrategyRegistry::default();
    let mut out = BTreeMap::new();
    for strategy in ["last-write-wins", "all-values"] {
        let resolver = ViewOptions::from_query(Some(strategy), None, None)
            .unwrap()
            .resolver(&registry)
            .unwrap();
        for e in ENTITIES {
            for t in TIMES {
                let view = resolver.resolve(&set.hyperview(e, &HyperviewOptions::as_of(ts(t))));
                out.insert(
                    (e.to_owned(), t, strategy),
                    serde_json::to_string(&view).unwrap(),
                );
            }
        }
    }
    out
}

/// A small deterministic generator for shuffles and splits inside a case.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 33) as usize) % n.max(1)
    }

    /// The deltas in a random order, about a quarter of them twice.
    fn shuffled_with_duplicates(&mut self, deltas: &[Delta]) -> Vec<Delta> {
        let mut v: Vec<Delta> = deltas.to_vec();
        for d in deltas {
            if self.below(4) == 0 {
                v.push(d.clone());
            }
        }
        for i in (1..v.len()).rev() {
            let j = self.below(i + 1);
            v.swap(i, j);
        }
        v
    }

    /// Splits into random consecutive batches.
    fn batches(&mut self, v: Vec<Delta>) -> Vec<Vec<Delta>> {
        let mut out: Vec<Vec<Delta>> = Vec::new();
        for d in v {
            match out.last_mut() {
                Some(b) if self.below(3) != 0 => b.push(d),
                _ => out.push(vec![d]),
            }
        }
        out
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 3000,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Law (a): any insertion order, any batching, any duplication gives
    /// the oracle's hyperviews for every entity at every `as_of`.
    #[test]
    fn order_and_duplicates_do_not_matter(specs in prop::collection::vec(spec(), 1..24), seed in any::<u64>()) {
        let deltas = build(&specs);
        let expected = oracle_all(&deltas);
        let mut rng = Rng(seed);
        let mut set = DeltaSet::new();
        let order = rng.shuffled_with_duplicates(&deltas);
        for batch in rng.batches(order) {
            set.insert_batch(batch).unwrap();
        }
        prop_assert_eq!(set.len(), deltas.len());
        prop_assert_eq!(all(&set), expected);
        let mut in_order = DeltaSet::new();
        in_order.insert_batch(deltas.clone()).unwrap();
        prop_assert_eq!(all_views(&set), all_views(&in_order));
    }

    /// Law (b): split across 2–5 replicas (with overlaps), merged in any
    /// order and grouping, gives the same hyperviews.
    #[test]
    fn merging_replicas_in_any_grouping(specs in prop::collection::vec(spec(), 1..24), seed in any::<u64>(), k in 2usize..6) {
        let deltas = build(&specs);
        let expected = oracle_all(&deltas);
        let mut rng = Rng(seed);
        let mut parts: Vec<Vec<Delta>> = vec![Vec::new(); k];
        for d in rng.shuffled_with_duplicates(&deltas) {
            let i = rng.below(k);
            parts[i].push(d);
        }
        let mut replicas: Vec<DeltaSet> = parts
            .into_iter()
            .map(|p| {
                let mut s = DeltaSet::new();
                s.insert_batch(p).unwrap();
                s
            })
            .collect();
        while replicas.len() > 1 {
            let j = rng.below(replicas.len());
            let other = replicas.swap_remove(j);
            let i = rng.below(replicas.len());
            replicas[i].merge(&other).unwrap();
        }
        prop_assert_eq!(all(&replicas[0]), expected);
        let mut in_order = DeltaSet::new();
        in_order.insert_batch(deltas.clone()).unwrap();
        prop_assert_eq!(all_views(&replicas[0]), all_views(&in_order));
    }

    /// History agrees with time travel: at every moment, the value of a
    /// property as of that moment is the value of the last history entry at
    /// or before it (absent before the first), and entries change the value.
    #[test]
    fn history_agrees_with_time_travel(specs in prop::collection::vec(spec(), 1..24)) {
        let deltas = build(&specs);
        let mut set = DeltaSet::new();
        set.insert_batch(deltas).unwrap();
        let resolver = ViewResolver::default();
        for e in ["e0", "e1", "e2"] {
            for p in ["p0", "p1"] {
                let history = set.history(e, p, &resolver);
                for pair in history.windows(2) {
                    prop_assert!(pair[0].at < pair[1].at);
                    prop_assert_ne!(&pair[0].value, &pair[1].value);
                }
                for t in 1..=10u64 {
                    let view = resolver.resolve(&set.hyperview(e, &HyperviewOptions::as_of(ts(Some(t)))));
                    let expected = history
                        .iter()
                        .take_while(|h| h.at.as_millis() <= t)
                        .last()
                        .and_then(|h| h.value.clone());
                    prop_assert_eq!(view.get(p).cloned(), expected, "{}.{} as of {}", e, p, t);
                }
            }
        }
    }

    /// Law (c): the change set of a batch names every (entity, property)
    /// whose hyperview changed, at any `as_of`.
    #[test]
    fn change_sets_never_miss_a_change(specs in prop::collection::vec(spec(), 1..24), seed in any::<u64>()) {
        let deltas = build(&specs);
        let mut rng = Rng(seed);
        let mut set = DeltaSet::new();
        let mut before = all(&set);
        let order = rng.shuffled_with_duplicates(&deltas);
        for batch in rng.batches(order) {
            let changed = set.insert_batch(batch).unwrap().changed;
            let after = all(&set);
            for ((entity, t), view) in &after {
                let old = &before[&(entity.clone(), *t)];
                let props: HashSet<&String> = view.keys().chain(old.keys()).collect();
                for p in props {
                    if view.get(p) != old.get(p) {
                        prop_assert!(changed.contains(entity, p), "{}.{} changed at {:?} but is not in {:?}", entity, p, t, changed);
                    }
                }
            }
            before = after;
        }
    }
}

/// The oracle itself agrees with hand-derived answers (so the laws above
/// compare against something right).
#[test]
fn oracle_sanity() {
    let d = |id: &str, t: u64, p: Vec<Pointer>| {
        Delta::new(
            DeltaId::new(id).unwrap(),
            Timestamp::new(t).unwrap(),
            "h",
            "c",
            p,
        )
        .unwrap()
    };
    let set_p = vec![
        Pointer::new("entity", Target::reference("e0", "p0")),
        Pointer::new("p0", 1),
    ];
    let neg = |x: &str| {
        vec![Pointer::new(
            roles::NEGATES,
            Target::reference(x, roles::NEGATED_BY),
        )]
    };
    let deltas = vec![
        d("a", 1, set_p),
        d("n", 2, neg("a")),
        d("m", 3, neg("n")),
        d("q", 4, neg("q")),
    ];
    let ids = |t| Oracle::new(&deltas, t).hyperview("e0");
    assert_eq!(ids(Some(1))["p0"], ["a"]);
    assert!(ids(Some(2)).is_empty());
    assert_eq!(ids(None)["p0"], ["a"]);
}
