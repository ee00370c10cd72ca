//! # rhizome-crdt
//!
//! The data model and the semantics of Rhizome, with no I/O and no async: what
//! an offline-first application embeds.
//!
//! A [`Delta`] is an immutable assertion whose [`Pointer`]s name entities and
//! values. Deltas travel in three JSON formats ([`codec`]) and one binary
//! form, and have a [canonical form](canonical) whose blake3 hash identifies
//! their content.
//!
//! ```
//! use rhizome_crdt::Delta;
//!
//! let delta = Delta::builder("alice", "node-a")
//!     .id("d1")
//!     .timestamp(1_700_000_000_000)
//!     .set_property("alice", "name", "Alice")
//!     .build()
//!     .unwrap();
//! assert_eq!(delta.pointers().len(), 2);
//! ```

#[cfg(any(test, feature = "arbitrary"))]
pub mod arbitrary;
pub mod builder;
pub mod canonical;
pub mod changes;
pub mod codec;
mod delta;
pub mod delta_set;
pub mod document;
mod error;
#[cfg(test)]
mod fixtures;
pub mod history;
pub mod hyperview;
mod number;
pub mod query;
pub mod resolver;
pub mod schema;
pub mod signature;
pub mod strategy;
pub mod value;
pub mod view;
pub mod view_cache;

pub use builder::DeltaBuilder;
mod symbols;
pub mod transaction;
mod visibility;
pub mod workload;

pub use delta::{Delta, DeltaId, Field, Pointer, Target, Timestamp, Violation, limits, roles};

pub use changes::ChangeSet;
pub use delta_set::{DeltaSet, Inserted};
pub use error::{Error, Result};
pub use history::HistoryEntry;
pub use hyperview::{Hyperview, HyperviewOptions};
pub use number::Number;
pub use resolver::{ViewResolver, ViewResolverBuilder};
pub use strategy::{Strategy, StrategyRegistry};
pub use transaction::TransactionStatus;
pub use value::Value;
pub use view::{View, ViewOptions};
