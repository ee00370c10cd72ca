//! Rhizome's sync layer: live deltas by gossip, catch-up by range-based set
//! reconciliation, over iroh.
//!
//! Nothing lives here yet; the sync issue fills it in. The crate exists so the
//! dependency direction of the workspace (node → sync → crdt) is fixed from
//! the start.

pub use rhizome_crdt as crdt;
