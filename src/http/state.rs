//! What every handler can reach.

use std::sync::Arc;

use crate::auth::Auth;
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
    /// Who may do what (API.md §6).
    pub auth: Arc<Auth>,
    /// The node's WebAssembly plugins (API.md §8).
    pub plugins: crate::plugins::PluginHost,
}

impl AppState {
    /// State serving `node`, with the authentication its configuration
    /// asks for. A configuration that cannot be read (a missing tokens
    /// file) leaves a node that refuses every token, and says so in the
    /// log; [`AppState::try_new`] returns the error instead.
    pub fn new(node: Arc<Node>) -> AppState {
        let auth = Auth::from_config(&node.config().auth).unwrap_or_else(|e| {
            tracing::error!("{e}; every request that needs a token is refused");
            Auth::refuse_all()
        });
        AppState::with_parts(node, auth)
    }

    /// State serving `node`, or the error of its authentication settings.
    pub fn try_new(node: Arc<Node>) -> crate::Result<AppState> {
        let auth = Auth::from_config(&node.config().auth)?;
        Ok(AppState::with_parts(node, auth))
    }

    fn with_parts(node: Arc<Node>, auth: Auth) -> AppState {
        let realtime = Arc::new(Hub::new(Arc::clone(&node), Shutdown::new()));
        let plugins =
            crate::plugins::PluginHost::new(Node::clone(&node), node.config().plugins.clone());
        AppState {
            node,
            realtime,
            sync: None,
            auth: Arc::new(auth),
            plugins,
        }
    }

    /// This state with `auth` instead of what the configuration says.
    pub fn with_auth(mut self, auth: Auth) -> AppState {
        self.auth = Arc::new(auth);
        self
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
