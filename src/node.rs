//! A running node: the long-lived tasks and their shutdown.

use crate::Result;
use crate::config::Config;

/// A node that has started. Dropping it does not stop it; call
/// [`Node::shutdown`].
#[derive(Debug)]
pub struct Node {
    config: Config,
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
        Ok(Node { config })
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Stops every task of the node and waits for them to finish.
    pub async fn shutdown(self) -> Result<()> {
        Ok(())
    }
}
