//! Small delta makers for this crate's unit tests.

use crate::{Delta, DeltaId, DeltaSet, HyperviewOptions, Pointer, Target, Timestamp, roles};

/// A delta `id` at `ts` with `pointers`, by creator `c` on host `h`.
pub(crate) fn delta(id: &str, ts: u64, pointers: Vec<Pointer>) -> Delta {
    Delta::new(
        DeltaId::new(id).unwrap(),
        Timestamp::new(ts).unwrap(),
        "h",
        "c",
        pointers,
    )
    .unwrap()
}

/// Sets `entity.prop = value`.
pub(crate) fn set(id: &str, ts: u64, entity: &str, prop: &str, value: impl Into<Target>) -> Delta {
    delta(id, ts, set_pointers(entity, prop, value))
}

pub(crate) fn set_pointers(entity: &str, prop: &str, value: impl Into<Target>) -> Vec<Pointer> {
    vec![
        Pointer::new(roles::ENTITY, Target::reference(entity, prop)),
        Pointer::new(prop, value),
    ]
}

/// A negation of `target`.
pub(crate) fn neg(id: &str, ts: u64, target: &str) -> Delta {
    delta(id, ts, vec![neg_pointer(target)])
}

pub(crate) fn neg_pointer(target: &str) -> Pointer {
    Pointer::new(roles::NEGATES, Target::reference(target, roles::NEGATED_BY))
}

pub(crate) fn member_pointer(tx: &str) -> Pointer {
    Pointer::new(roles::TRANSACTION, Target::reference(tx, roles::DELTAS))
}

/// `entity.prop = value` as a member of `tx`.
pub(crate) fn member(
    id: &str,
    ts: u64,
    tx: &str,
    entity: &str,
    prop: &str,
    value: impl Into<Target>,
) -> Delta {
    let mut p = set_pointers(entity, prop, value);
    p.push(member_pointer(tx));
    delta(id, ts, p)
}

/// Declares the size of `tx`.
pub(crate) fn declare(id: &str, ts: u64, tx: &str, size: i64) -> Delta {
    delta(
        id,
        ts,
        vec![
            Pointer::new(roles::TRANSACTION, Target::reference(tx, roles::SIZE)),
            Pointer::new(roles::SIZE, size),
        ],
    )
}

/// A set holding `deltas`.
pub(crate) fn set_of(deltas: impl IntoIterator<Item = Delta>) -> DeltaSet {
    let mut s = DeltaSet::new();
    s.insert_batch(deltas).unwrap();
    s
}

/// The ids visible under `entity.prop` at `as_of`, in order.
pub(crate) fn ids(set: &DeltaSet, entity: &str, prop: &str, as_of: Option<u64>) -> Vec<String> {
    let opts = HyperviewOptions::as_of(as_of.map(|t| Timestamp::new(t).unwrap()));
    set.hyperview(entity, &opts)
        .properties
        .get(prop)
        .map(|ds| ds.iter().map(|d| d.id().to_string()).collect())
        .unwrap_or_default()
}
