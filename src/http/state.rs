//! What every handler can reach.

use std::sync::Arc;

use crate::node::Node;

/// The state shared by all handlers (`State<AppState>`): the node.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The running node.
    pub node: Arc<Node>,
}

impl AppState {
    /// State serving `node`.
    pub fn new(node: Arc<Node>) -> AppState {
        AppState { node }
    }
}
