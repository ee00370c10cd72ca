//! What the sync engine needs from the node it replicates: a store it can
//! read and add to. The node implements it over its own ingest path; tests
//! may implement it over a plain [`DeltaSet`](rhizome_crdt::DeltaSet).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use iroh::EndpointId;
use rhizome_crdt::Delta;

/// A boxed future, as trait objects need.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The node side of replication.
pub trait Replica: Send + Sync + 'static {
    /// Stores `deltas` received from a peer, durably; returns how many were
    /// new. Duplicates are no-ops. A delta whose id is taken by different
    /// content is dropped (and logged) without dropping the others. Stored
    /// deltas must come back to the engine through
    /// [`SyncNode::stored`](super::SyncNode::stored) as not local.
    ///
    /// `from` is the peer that delivered them (QUIC proved its id): the
    /// node may drop deltas it refuses (a bad signature) and say which
    /// peer sent them.
    fn ingest(&self, from: EndpointId, deltas: Vec<Delta>) -> BoxFuture<'_, Result<usize, String>>;

    /// The stored delta with `id`.
    fn get(&self, id: &str) -> Option<Arc<Delta>>;

    /// Calls `f` with every stored delta (used to build the index of a
    /// filtered exchange and at start).
    fn for_each(&self, f: &mut dyn FnMut(&Arc<Delta>));
}
