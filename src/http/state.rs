//! What every handler can reach.

use std::sync::Arc;

use crate::node::Node;
use crate::realtime::{Hub, Shutdown};

/// The state shared by all handlers (`State<AppState>`): the node and its
/// real-time hub.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The running node.
    pub node: Arc<Node>,
    /// The real-time feeds (SSE, WebSocket) and their shutdown flag.
    pub realtime: Arc<Hub>,
    /// The sync layer, when it runs (`GET /api/peers`, sync metrics).
    pub sync: Option<rhizome_sync::net::SyncNode>,
    /// The node's WebAssembly plugins (API.md §8).
    pub plugins: crate::plugins::PluginHost,
}

impl AppState {
    /// State serving `node`.
    pub fn new(node: Arc<Node>) -> AppState {
        let realtime = Arc::new(Hub::new(Arc::clone(&node), Shutdown::new()));
        let plugins =
            crate::plugins::PluginHost::new(Node::clone(&node), node.config().plugins.clone());
        AppState {
            node,
            realtime,
            sync: None,
            plugins,
        }
    }

    /// This state, with the node's sync layer.
    pub fn with_sync(mut self, sync: rhizome_sync::net::SyncNode) -> AppState {
        self.sync = Some(sync);
        self
    }

    /// The flag long-lived streams watch; give it to
    /// [`Server::stopping_raises`](crate::http::Server::stopping_raises).
    pub fn shutdown(&self) -> Shutdown {
        self.realtime.shutdown().clone()
    }
}
