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
//! ```ignore
//! use rhizome_crdt::Delta;
//!
//! let delta = Delta::builder("alice", "node-a")
//!     .id("d1")
//!     .timestamp(1_700_000_000_000)
//!     .set_property("alice", "name", "Alice")
//!     .build()
//!     .unwrap();
//! assert_eq!(delta.pointers().len(), 2);
//! ```ignore

pub mod builder;
pub mod canonical;
pub mod changes;
pub mod codec;
mod delta;
pub mod delta_set;
mod error;
#[cfg(test)]
mod fixtures;
pub mod hyperview;
mod number;
mod symbols;
pub mod transaction;
mod visibility;
pub mod workload;

pub use builder::DeltaBuilder;
pub use changes::ChangeSet;
pub use delta::{Delta, DeltaId, Pointer, Target, Timestamp, limits, roles};
pub use delta_set::{DeltaSet, Inserted};
pub use error::{Error, Result};
pub use hyperview::{Hyperview, HyperviewOptions};
pub use number::Number;
pub use transaction::TransactionStatus;
