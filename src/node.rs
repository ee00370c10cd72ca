//! A running node: the long-lived tasks and their shutdown.

use crate::Result;
use crate::config::Config;

/// A node that has started. Dropping it does not stop it; call
/// [`Node::shutdown`].
#[derive(Debug)]
pub struct Node {
    config: Config,
    node_id: String,
    host_id: String,
}

impl Node {
    /// Starts a node with `config`: creates the data directory (for the disk
    /// store) and brings up its services.
    pub async fn start(config: Config) -> Result<Node> {
        if config.storage == crate::config::StorageKind::Disk {
            std::fs::create_dir_all(&config.data_dir).map_err(|e| {
                crate::Error::io(
                    format!("creating data directory {}", config.data_dir.display()),
                    e,
                )
            })?;
        }
        // Placeholder until the sync layer owns the node key: the id is the
        // hash of the configured host id (stable across restarts), or of a
        // fresh UUID when none is configured. The sync layer replaces it
        // with the iroh endpoint id, which also becomes the default host id.
        let seed = match &config.host_id {
            Some(host) => host.clone(),
            None => uuid::Uuid::now_v7().to_string(),
        };
        let node_id = blake3::hash(seed.as_bytes()).to_hex().to_string();
        let host_id = config.host_id.clone().unwrap_or_else(|| node_id.clone());
        Ok(Node {
            config,
            node_id,
            host_id,
        })
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// This node's id in the cluster (its iroh endpoint id, once sync runs).
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// The `host` written on deltas this node creates: `RHIZOME_HOST_ID`,
    /// else the node id.
    pub fn host_id(&self) -> &str {
        &self.host_id
    }

    /// How many deltas the node stores. The store fills this in; until it
    /// exists the node stores nothing.
    pub fn delta_count(&self) -> u64 {
        0
    }

    /// Stops every task of the node and waits for them to finish.
    pub async fn shutdown(self) -> Result<()> {
        Ok(())
    }
}
