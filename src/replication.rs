//! The node's side of sync: its settings, the [`Replica`] over
//! [`Node`], and the task that tells the sync layer about every stored
//! batch. The protocols themselves live in `rhizome_sync::net`.
//!
//! ```no_run
//! # async fn run() -> rhizome::Result<()> {
//! use std::sync::Arc;
//! use rhizome::config::{Config, StorageKind};
//! use rhizome::node::Node;
//!
//! let node = Arc::new(Node::start(Config::new(StorageKind::Memory, "unused")).await?);
//! let sync = rhizome::replication::start(&node).await?;
//! println!("node {} syncs on {:?}", sync.id(), sync.bound_sockets());
//! sync.shutdown().await;
//! node.shutdown().await?;
//! # Ok(()) }
//! ```

use std::collections::{BTreeSet, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rhizome_crdt::Delta;
use rhizome_sync::SyncFilter;
use rhizome_sync::net::{BoxFuture, EndpointId, Relay, Replica, SyncNode, SyncSettings};
use tokio::sync::broadcast::error::RecvError;

use crate::changes::FeedFilter;
use crate::node::Node;
use crate::{Error, Result};

/// Sync settings beyond API.md §5's (`RHIZOME_SYNC_ADDR`, `_PORT`,
/// `RHIZOME_PEERS`, `RHIZOME_RELAY`, which live in
/// [`Config`](crate::config::Config)).
#[derive(Clone, Debug, clap::Args)]
pub struct SyncConfig {
    /// `on` (default) or `off`: whether the node runs an iroh endpoint.
    #[arg(long = "sync", env = "RHIZOME_SYNC", default_value = "on", value_parser = ["on", "off"])]
    pub enabled: String,
    /// Comma-separated node ids allowed to connect and gossip (empty: any
    /// node that can reach the sync address). API.md §6 names it
    /// `RHIZOME_PEER_ALLOW`; `--sync-allow` is the flag's old name.
    #[arg(
        long = "peer-allow",
        alias = "sync-allow",
        env = "RHIZOME_PEER_ALLOW",
        value_delimiter = ',',
        default_value = ""
    )]
    pub sync_allow: Vec<String>,
    /// Partial replication: only deltas referencing one of these entities
    /// (comma-separated; empty: any).
    #[arg(
        long,
        env = "RHIZOME_SYNC_ENTITIES",
        value_delimiter = ',',
        default_value = ""
    )]
    pub sync_entities: Vec<String>,
    /// Partial replication: only deltas by one of these creators
    /// (comma-separated; empty: any).
    #[arg(
        long,
        env = "RHIZOME_SYNC_CREATORS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub sync_creators: Vec<String>,
    /// The cluster's name; nodes gossip on a topic derived from it.
    #[arg(long, env = "RHIZOME_CLUSTER", default_value = "rhizome")]
    pub cluster: String,
    /// Largest gossip message in bytes (≥ 1024); the same on every node.
    #[arg(long, env = "RHIZOME_GOSSIP_MAX_MESSAGE", default_value_t = rhizome_sync::net::DEFAULT_GOSSIP_MAX_MESSAGE)]
    pub gossip_max_message: usize,
    /// Seconds between reconciliations with each known peer.
    #[arg(long, env = "RHIZOME_SYNC_INTERVAL", default_value_t = 30)]
    pub sync_interval: u64,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            enabled: "on".into(),
            sync_allow: Vec::new(),
            sync_entities: Vec::new(),
            sync_creators: Vec::new(),
            cluster: "rhizome".into(),
            gossip_max_message: rhizome_sync::net::DEFAULT_GOSSIP_MAX_MESSAGE,
            sync_interval: 30,
        }
    }
}

fn non_empty(list: &[String]) -> impl Iterator<Item = &str> {
    list.iter().map(|s| s.trim()).filter(|s| !s.is_empty())
}

impl SyncConfig {
    /// Whether sync runs.
    pub fn is_enabled(&self) -> bool {
        self.enabled == "on"
    }

    /// The partial-replication filter.
    pub fn filter(&self) -> SyncFilter {
        let mut filter = SyncFilter::default();
        if non_empty(&self.sync_entities).next().is_some() {
            filter = filter.with_entities(non_empty(&self.sync_entities));
        }
        if non_empty(&self.sync_creators).next().is_some() {
            filter = filter.with_creators(non_empty(&self.sync_creators));
        }
        filter
    }

    /// The allow-list, if any.
    pub fn allow(&self) -> Result<Option<BTreeSet<EndpointId>>> {
        let ids = non_empty(&self.sync_allow)
            .map(|id| {
                id.parse::<EndpointId>().map_err(|e| Error::Config {
                    name: "RHIZOME_PEER_ALLOW",
                    problem: format!("`{id}` is not a node id: {e}"),
                })
            })
            .collect::<Result<BTreeSet<_>>>()?;
        Ok((!ids.is_empty()).then_some(ids))
    }
}

/// The sync settings of `node`'s configuration.
pub fn settings(node: &Node) -> Result<SyncSettings> {
    let c = node.config();
    let mut s = SyncSettings::new(node.secret_key().clone());
    s.bind = SocketAddr::new(c.sync_addr, c.sync_port);
    s.relay = c.relay.parse::<Relay>()?;
    s.peers = c
        .peers()
        .map(rhizome_sync::net::parse_peer)
        .collect::<std::result::Result<_, _>>()?;
    s.allow = c.sync.allow()?;
    s.filter = c.sync.filter();
    s.cluster = c.sync.cluster.clone();
    s.gossip_max_message = c.sync.gossip_max_message;
    if c.sync.sync_interval == 0 {
        return Err(Error::Config {
            name: "RHIZOME_SYNC_INTERVAL",
            problem: "must be at least 1 second".into(),
        });
    }
    s.interval = Duration::from_secs(c.sync.sync_interval);
    Ok(s)
}

/// Starts sync for `node` with its configured settings.
pub async fn start(node: &Arc<Node>) -> Result<SyncNode> {
    start_with(node, settings(node)?).await
}

/// Starts sync for `node` with `settings` (tests and embedders adjust them).
pub async fn start_with(node: &Arc<Node>, settings: SyncSettings) -> Result<SyncNode> {
    // Follow the feed from before the index is built, so no batch falls
    // between the two (the index ignores what it already holds).
    let feed = node.subscribe();
    let position = node.last_seq();
    let replica = Arc::new(NodeReplica {
        node: Arc::clone(node),
        logged: std::sync::Mutex::new(HashSet::new()),
    });
    let sync = SyncNode::start(settings, replica).await?;
    tokio::spawn(follow(Arc::clone(node), sync.clone(), feed, position));
    Ok(sync)
}

/// Tells the sync layer about every batch the node stores.
async fn follow(
    node: Arc<Node>,
    sync: SyncNode,
    mut feed: tokio::sync::broadcast::Receiver<Arc<crate::changes::StoredBatch>>,
    mut position: u64,
) {
    loop {
        match feed.recv().await {
            Ok(batch) => {
                if batch.last_seq() <= position {
                    continue;
                }
                let local = batch.local.min(batch.deltas.len());
                sync.stored(&batch.deltas[..local], true);
                sync.stored(&batch.deltas[local..], false);
                position = batch.last_seq();
            }
            Err(RecvError::Lagged(_)) => {
                // Read what was missed from the log; whether those were
                // local is unknown, so peers are told to reconcile.
                sync.missed();
                loop {
                    let page = node.changes(position, 4096, &FeedFilter::default());
                    if page.deltas.is_empty() {
                        break;
                    }
                    let deltas: Vec<Arc<Delta>> =
                        page.deltas.iter().map(|(_, d)| Arc::clone(d)).collect();
                    sync.stored(&deltas, false);
                    position = page.last_seq;
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// The node as seen by sync.
struct NodeReplica {
    node: Arc<Node>,
    /// (peer, reason) pairs already logged for refused deltas: each is
    /// logged once (bounded: past [`LOGGED_MAX`] pairs, no more are kept
    /// and later refusals are only counted).
    logged: std::sync::Mutex<HashSet<(EndpointId, &'static str)>>,
}

/// The most (peer, reason) pairs remembered for logging once.
const LOGGED_MAX: usize = 1024;

impl NodeReplica {
    /// Logs the first refusal of each (peer, reason).
    fn log_refused(
        &self,
        from: EndpointId,
        refused: &[(
            rhizome_crdt::DeltaId,
            rhizome_crdt::signature::SignatureError,
        )],
    ) {
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        for (id, e) in refused {
            let key = (from, e.reason());
            if logged.len() < LOGGED_MAX && logged.insert(key) {
                tracing::warn!(peer = %from, id = %id, reason = e.reason(), "dropped a delta from a peer: bad signature ({e}); further ones from this peer for this reason are only counted (rhizome_deltas_rejected_total{{reason=\"peer_bad_signature\"}})");
            }
        }
    }
}

impl Replica for NodeReplica {
    fn ingest(
        &self,
        from: EndpointId,
        deltas: Vec<Delta>,
    ) -> BoxFuture<'_, std::result::Result<usize, String>> {
        Box::pin(async move {
            // A delta whose id is taken by other content (here or earlier
            // in the batch) is dropped, not the whole batch: peers must not
            // be able to block each other's replication with one forgery.
            let mut seen = HashSet::new();
            let deltas: Vec<Delta> = deltas
                .into_iter()
                .filter(|d| {
                    let fresh_id = seen.insert(d.id().clone());
                    let clash = self.node.get(d.id().as_str()).is_some_and(|s| !s.same_content(d));
                    if clash || !fresh_id {
                        if clash {
                            tracing::warn!(id = %d.id(), "a peer sent a delta whose id is taken by other content; dropped");
                        }
                        return !clash && fresh_id;
                    }
                    true
                })
                .collect();
            match self.node.ingest_from(deltas, false).await {
                Ok(ingested) => {
                    if !ingested.refused.is_empty() {
                        self.log_refused(from, &ingested.refused);
                    }
                    Ok(ingested.accepted.len())
                }
                Err(e) => Err(e.to_string()),
            }
        })
    }

    fn get(&self, id: &str) -> Option<Arc<Delta>> {
        self.node.get(id)
    }

    fn for_each(&self, f: &mut dyn FnMut(&Arc<Delta>)) {
        self.node.read(|state| {
            for d in state.index.iter() {
                f(d);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_list_and_filter_are_read_from_the_settings() {
        let key = rhizome_sync::net::SecretKey::generate();
        let id = key.public().to_string();
        let config = SyncConfig {
            sync_allow: vec![format!(" {id} "), String::new()],
            sync_entities: vec!["alice".into(), " ".into()],
            ..SyncConfig::default()
        };
        let allow = config.allow().unwrap().unwrap();
        assert_eq!(
            allow.into_iter().map(|i| i.to_string()).collect::<Vec<_>>(),
            [id]
        );
        let filter = config.filter();
        assert_eq!(filter, SyncFilter::default().with_entities(["alice"]));
        assert!(SyncConfig::default().allow().unwrap().is_none());
        assert!(SyncConfig::default().filter().is_all());

        let bad = SyncConfig {
            sync_allow: vec!["not-a-node-id".into()],
            ..SyncConfig::default()
        };
        let err = bad.allow().unwrap_err().to_string();
        assert!(
            err.contains("RHIZOME_PEER_ALLOW") && err.contains("not-a-node-id"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn bad_peers_relays_and_intervals_are_refused_at_start() {
        let mut config = crate::config::Config::new(crate::config::StorageKind::Memory, "unused");
        config.peers = vec!["nonsense".into()];
        let node = Node::start(config.clone()).await.unwrap();
        let err = settings(&node).unwrap_err().to_string();
        assert!(err.contains("nonsense"), "{err}");
        node.shutdown().await.unwrap();

        config.peers = Vec::new();
        config.relay = "ftp://".into();
        let node = Node::start(config.clone()).await.unwrap();
        assert!(
            settings(&node)
                .unwrap_err()
                .to_string()
                .contains("RHIZOME_RELAY")
        );
        node.shutdown().await.unwrap();

        config.relay = "none".into();
        config.sync.sync_interval = 0;
        let node = Node::start(config).await.unwrap();
        assert!(
            settings(&node)
                .unwrap_err()
                .to_string()
                .contains("RHIZOME_SYNC_INTERVAL")
        );
        node.shutdown().await.unwrap();
    }
}
