//! Resolution strategies: how the values of one property collapse into one.
//!
//! A [`Strategy`] is given a property's [`Candidate`]s — each a value and the
//! delta it came from, in `(timeCreated, id)` order — and returns the
//! property's value, or `None` when the property is absent from the view.
//! The built-ins are the strategies of API.md §2; a [`StrategyRegistry`] maps
//! their names and aliases (and any strategy a user adds) to them.
//!
//! ```
//! use rhizome_crdt::strategy::{Candidate, Context, Strategy, StrategyRegistry};
//! use rhizome_crdt::value::Value;
//! use rhizome_crdt::{Delta, DeltaId, Pointer, Target, Timestamp};
//!
//! let deltas: Vec<Delta> = [(1, "a"), (2, "b")]
//!     .into_iter()
//!     .map(|(t, name)| {
//!         let id = DeltaId::new(format!("d{t}")).unwrap();
//!         let ts = Timestamp::new(t).unwrap();
//!         let pointers = vec![
//!             Pointer::new("entity", Target::reference("e", "name")),
//!             Pointer::new("name", name),
//!         ];
//!         Delta::new(id, ts, "host", "alice", pointers).unwrap()
//!     })
//!     .collect();
//! let candidates: Vec<Candidate<'_>> = deltas
//!     .iter()
//!     .filter_map(|d| Candidate::of(d, "e", "name"))
//!     .collect();
//!
//! let registry = StrategyRegistry::default();
//! let cx = Context::new("e", "name");
//! let lww = registry.get("most-recent").unwrap();
//! assert_eq!(lww.resolve(&candidates, &cx), Some(Value::from("b")));
//! let fww = registry.get("first-write-wins").unwrap();
//! assert_eq!(fww.resolve(&candidates, &cx), Some(Value::from("a")));
//! assert!(registry.get("no-such-strategy").is_err());
//! ```

mod collect;
mod last_write_wins;
mod majority_vote;
mod numeric;
mod registry;
mod trusted;

use std::sync::Arc;

use crate::Delta;
use crate::value::{Value, ValueRef};

pub use collect::{AllValues, Concatenation, Count};
pub use last_write_wins::{FirstWriteWins, LastWriteWins};
pub use majority_vote::MajorityVote;
pub use numeric::{Average, Max, Min, Sum};
pub use registry::{StrategyRegistry, names};
pub use trusted::{TrustedAuthor, TrustedSystem};

/// One value of a property, with the delta it came from (for its creator,
/// host and time).
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// The value of the delta for the property.
    pub value: ValueRef<'a>,
    /// The delta that gave it.
    pub delta: &'a Delta,
}

impl<'a> Candidate<'a> {
    /// A candidate from a value and its delta.
    pub fn new(value: ValueRef<'a>, delta: &'a Delta) -> Candidate<'a> {
        Candidate { value, delta }
    }

    /// The candidate `delta` gives for `property` of `entity`
    /// ([`Delta::value_for`]), or `None` if it gives no value.
    pub fn of(delta: &'a Delta, entity: &str, property: &str) -> Option<Candidate<'a>> {
        delta
            .value_for(entity, property)
            .map(|t| Candidate::new(ValueRef::from(t), delta))
    }
}

/// What a strategy knows besides the candidates: whose property it is
/// resolving, and the trusted list of the query (`trusted=a,b`).
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The entity whose view is being resolved.
    pub entity: &'a str,
    /// The property being resolved.
    pub property: &'a str,
    /// The query's priority list of creators (`trusted-author`) or hosts
    /// (`trusted-system`), most trusted first.
    pub trusted: &'a [Arc<str>],
}

impl<'a> Context<'a> {
    /// A context with no trusted list.
    pub fn new(entity: &'a str, property: &'a str) -> Context<'a> {
        Context {
            entity,
            property,
            trusted: &[],
        }
    }

    /// The same context with a trusted list.
    #[must_use]
    pub fn with_trusted(self, trusted: &'a [Arc<str>]) -> Context<'a> {
        Context { trusted, ..self }
    }
}

/// A resolution strategy: the value of a property from its candidates.
///
/// `candidates` are in `(timeCreated, id)` order (ids compared as bytes);
/// a strategy must be a deterministic function of that ordered list (and the
/// context), never of arrival order. `None` means the property is absent
/// from the view; strategies return `None` for an empty list.
///
/// ```
/// use rhizome_crdt::strategy::{Candidate, Context, Strategy};
/// use rhizome_crdt::value::Value;
///
/// /// The number of distinct creators that gave a value.
/// struct Creators;
///
/// impl Strategy for Creators {
///     fn resolve(&self, candidates: &[Candidate<'_>], _: &Context<'_>) -> Option<Value> {
///         let mut creators: Vec<&str> = candidates.iter().map(|c| c.delta.creator()).collect();
///         creators.sort_unstable();
///         creators.dedup();
///         (!creators.is_empty()).then(|| Value::from(creators.len() as i64))
///     }
/// }
/// ```
pub trait Strategy: Send + Sync {
    /// The property's value, or `None` if it is absent.
    fn resolve(&self, candidates: &[Candidate<'_>], cx: &Context<'_>) -> Option<Value>;

    /// Which candidates the strategy looks at. A strategy that only reads
    /// the last (or first) one says so, and is then given only that one,
    /// so a view does not read the values of deltas nobody looks at.
    fn scope(&self) -> Scope {
        Scope::All
    }
}

/// Which candidates a [`Strategy`] needs (an optimisation: the answer must
/// be the same as if it were given them all).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// Every candidate, in order.
    #[default]
    All,
    /// Only the last candidate (none if there is none).
    Last,
    /// Only the first candidate (none if there is none).
    First,
}

impl<S: Strategy + ?Sized> Strategy for Arc<S> {
    fn resolve(&self, candidates: &[Candidate<'_>], cx: &Context<'_>) -> Option<Value> {
        (**self).resolve(candidates, cx)
    }

    fn scope(&self) -> Scope {
        (**self).scope()
    }
}

impl<S: Strategy + ?Sized> Strategy for Box<S> {
    fn resolve(&self, candidates: &[Candidate<'_>], cx: &Context<'_>) -> Option<Value> {
        (**self).resolve(candidates, cx)
    }

    fn scope(&self) -> Scope {
        (**self).scope()
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Candidates for strategy tests.

    use std::sync::Arc;

    use super::Candidate;
    use crate::{Delta, DeltaId, Number, Pointer, Target, Timestamp};

    /// The entity every test delta is filed under.
    pub const ENTITY: &str = "e";

    /// `values` (one delta each, in order) resolved by the registered
    /// strategy `name`.
    pub fn resolve(name: &str, values: Vec<Target>) -> Option<crate::Value> {
        let ds = deltas(values);
        super::StrategyRegistry::default()
            .get(name)
            .unwrap()
            .resolve(&candidates(&ds), &super::Context::new(ENTITY, PROP))
    }
    /// The property every test delta is filed under.
    pub const PROP: &str = "p";

    /// A delta filed under `e`.`p` with `value` (none if `None`).
    pub fn delta(id: &str, t: u64, creator: &str, host: &str, value: Option<Target>) -> Arc<Delta> {
        let mut pointers = vec![Pointer::new("entity", Target::reference(ENTITY, PROP))];
        if let Some(v) = value {
            pointers.push(Pointer::new(PROP, v));
        }
        Arc::new(
            Delta::new(
                DeltaId::new(id).unwrap(),
                Timestamp::new(t).unwrap(),
                host,
                creator,
                pointers,
            )
            .unwrap(),
        )
    }

    /// Deltas with these values at times 1, 2, ..., by creator `c`, host `h`,
    /// ids `d01`, `d02`, ...
    pub fn deltas(values: Vec<Target>) -> Vec<Arc<Delta>> {
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| delta(&format!("d{:02}", i + 1), i as u64 + 1, "c", "h", Some(v)))
            .collect()
    }

    /// The candidates of `deltas` for `e`.`p`, in the given order.
    pub fn candidates(deltas: &[Arc<Delta>]) -> Vec<Candidate<'_>> {
        deltas
            .iter()
            .filter_map(|d| Candidate::of(d, ENTITY, PROP))
            .collect()
    }

    pub fn int(i: i64) -> Target {
        Target::Number(Number::Int(i))
    }

    pub fn float(f: f64) -> Target {
        Target::Number(Number::Float(f))
    }

    pub fn string(s: &str) -> Target {
        Target::from(s)
    }
}
