//! Rhizome's sync layer: live deltas by gossip, catch-up by range-based set
//! reconciliation, over iroh.
//!
//! This crate holds the catch-up protocol as pure, I/O-free parts (the iroh
//! wiring drives them):
//!
//! - [`FingerprintTree`]: the ordered set of a replica's items keyed by
//!   `(timeCreated, id)`, with O(log n) counts, fingerprints, rank and select
//!   over any range, maintained incrementally on insert;
//! - [`Reconciler`], [`Message`], [`Outcome`]: range-based set reconciliation
//!   (the technique of negentropy), a state machine whose cost grows with the
//!   difference between two sets, not with their size;
//! - [`SyncFilter`], [`DeltaIndex`]: reconciliation of the subset of deltas a
//!   peer asked for (partial replication).
//!
//! `docs/sync-protocol.md` specifies the protocol and its wire format.
//!
//! ```
//! use rhizome_crdt::Delta;
//! use rhizome_sync::{Config, DeltaIndex, Reconciler, SyncFilter};
//!
//! let d1 = Delta::builder("alice", "a").id("d1").timestamp(1).pointer("x", 1).build()?;
//! let d2 = Delta::builder("alice", "a").id("d2").timestamp(2).pointer("x", 2).build()?;
//! let mine = DeltaIndex::from_deltas(SyncFilter::default(), [&d1, &d2]);
//! let theirs = DeltaIndex::from_deltas(SyncFilter::default(), [&d1]);
//!
//! let reconciler = Reconciler::new(Config::default())?;
//! let first = reconciler.initiate(mine.tree());
//! // Bytes on the wire, both ways:
//! let first = rhizome_sync::Message::decode(&first.encode())?;
//! let outcome = reconciler.respond(theirs.tree(), &first);
//! assert_eq!(outcome.need, [rhizome_sync::Key::new(2, "d2")]);
//! let last = reconciler.respond(mine.tree(), &outcome.reply.unwrap());
//! assert_eq!(last.send, [rhizome_sync::Key::new(2, "d2")]);
//! assert!(last.reply.is_none());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod filter;
mod fingerprint;
mod fingerprint_tree;
mod key;
mod message;
pub mod net;
mod reconcile;

pub use error::{Error, Result};
pub use filter::{DeltaIndex, SyncFilter};
pub use fingerprint::{Accumulator, Fingerprint};
pub use fingerprint_tree::{FingerprintTree, Range};
pub use key::{Bound, Key, SyncItem};
pub use message::{Message, PROTOCOL_VERSION, Payload, RangeMessage};
pub use reconcile::{Config, Outcome, Reconciler};

pub use rhizome_crdt as crdt;
