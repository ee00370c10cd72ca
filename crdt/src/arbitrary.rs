//! proptest strategies for arbitrary valid deltas, for this crate's tests
//! and (with the `arbitrary` feature) for other crates' tests.
//!
//! In a dependent crate (with `rhizome-crdt = { features = ["arbitrary"] }`
//! among its dev-dependencies):
//!
//! ```text
//! use proptest::prelude::*;
//! use rhizome_crdt::arbitrary::arb_delta;
//!
//! proptest! {
//!     #[test]
//!     fn stores_any_delta(delta in arb_delta()) { /* ... */ }
//! }
//! ```

use std::sync::Arc;

use proptest::prelude::*;

use crate::{Delta, DeltaId, Number, Pointer, Target, Timestamp, limits, roles};

/// Non-empty strings: plain names, and any unicode (escapes, astral
/// characters, quotes) now and then.
pub fn arb_name() -> impl Strategy<Value = Arc<str>> {
    prop_oneof![
        3 => "[a-z][a-z0-9_]{0,7}",
        1 => "\\PC{1,10}",
        1 => "[\"\\\\/\\x00-\\x1fé€😀]{1,4}",
    ]
    .prop_map(Arc::from)
}

/// Roles from a small pool (so that pointers often share a role), reserved
/// roles included, or arbitrary names.
pub fn arb_role() -> impl Strategy<Value = Arc<str>> {
    prop_oneof![
        3 => prop::sample::select(vec!["entity", "name", "value", "p0", "p1"]).prop_map(Arc::from),
        1 => prop::sample::select(vec![roles::NEGATES, roles::TRANSACTION, roles::SIZE, "id"])
            .prop_map(Arc::from),
        2 => arb_name(),
    ]
}

/// Finite numbers: integers of any size, small integers, fractions, and
/// floats of any magnitude (normalised as [`Number::from_f64`] does).
pub fn arb_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::Int),
        (-1000i64..1000).prop_map(Number::Int),
        (-1.0e6f64..1.0e6).prop_filter_map("finite", Number::from_f64),
        any::<f64>().prop_filter_map("finite", Number::from_f64),
    ]
}

/// Every kind of target: references with and without context, strings,
/// numbers, booleans and null.
pub fn arb_target() -> impl Strategy<Value = Target> {
    prop_oneof![
        2 => (arb_name(), arb_name()).prop_map(|(id, ctx)| Target::reference(id, ctx)),
        1 => arb_name().prop_map(Target::reference_without_context),
        2 => prop_oneof![Just(String::new()), "\\PC{0,12}"].prop_map(Target::from),
        2 => arb_number().prop_map(Target::Number),
        1 => any::<bool>().prop_map(Target::Bool),
        1 => Just(Target::Null),
    ]
}

/// A pointer with any role and target.
pub fn arb_pointer() -> impl Strategy<Value = Pointer> {
    (arb_role(), arb_target()).prop_map(|(role, target)| Pointer { role, target })
}

/// A timestamp anywhere in the valid range, often near the present.
pub fn arb_timestamp() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        1u64..=limits::MAX_TIMESTAMP,
        1_600_000_000_000u64..1_800_000_000_000,
    ]
    .prop_filter_map("valid", |ms| Timestamp::new(ms).ok())
}

/// A valid delta with up to 6 pointers and sometimes a signature.
pub fn arb_delta() -> impl Strategy<Value = Delta> {
    (
        arb_name(),
        arb_timestamp(),
        arb_name(),
        arb_name(),
        prop::collection::vec(arb_pointer(), 0..=6),
        prop::option::weighted(0.2, "[A-Za-z0-9_-]{8,16}"),
    )
        .prop_filter_map("valid delta", |(id, ts, host, creator, pointers, sig)| {
            let id = DeltaId::new(id).ok()?;
            let delta = Delta::from_parts(id, ts, host, creator, pointers).ok()?;
            Some(delta.with_signature(sig.map(Arc::from)))
        })
}
