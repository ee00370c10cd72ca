//! Sync over iroh: the node's endpoint, live deltas by gossip, catch-up by
//! reconciliation. [`SyncNode::start`] runs it all for one
//! [`Replica`] (the node's store).
//!
//! Tasks, each with one owner:
//!
//! - the iroh **router** accepts connections for gossip and for
//!   reconciliation ([`SYNC_ALPN`]); the [`Guard`] refuses peers outside the
//!   allow-list (or blocked) in both directions;
//! - the **broadcaster** takes the batches the node stored from its own
//!   clients (a bounded outbox) and broadcasts them on the cluster's topic,
//!   packed into messages below the gossip size limit ([`live`]);
//! - the **listener** ingests what gossip delivers, and turns new
//!   neighbours, gaps in an origin's message numbers and `Lagged` into
//!   reconciliation requests;
//! - the **scheduler** runs reconciliations ([`exchange`]): with a new
//!   neighbour, on a gap, with every known peer periodically, and with
//!   configured peers that are not reachable yet, with backoff. At most
//!   [`SyncSettings::max_runs`] run at once, one per peer.
//!
//! The fingerprint index of the node's deltas is maintained incrementally
//! by [`SyncNode::stored`], which the node calls with every stored batch.

pub mod addr;
pub mod endpoint;
pub mod exchange;
pub mod identity;
pub mod live;
pub mod metrics;
pub mod peers;
pub mod replica;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use iroh::Endpoint;
use iroh::address_lookup::memory::MemoryLookup;
use iroh::endpoint::Connection;
use iroh::protocol::{AcceptError, ProtocolHandler, Router};
use iroh_gossip::api::{Event, GossipSender, JoinOptions};
use iroh_gossip::{Gossip, TopicId};
use rhizome_crdt::Delta;
use tokio::sync::{Semaphore, mpsc, watch};

pub use addr::{parse_peer, parse_peers, ticket};
pub use endpoint::{Guard, Relay};
pub use exchange::{Report, SYNC_ALPN};
pub use iroh::{EndpointAddr, EndpointId, SecretKey};
pub use metrics::SyncMetrics;
pub use peers::{PeerInfo, PeerStatus};
pub use replica::{BoxFuture, Replica};

use crate::error::{Error, Result};
use crate::{Config, DeltaIndex, FingerprintTree, Reconciler, SyncFilter};
use exchange::{Scope, Trees};
use peers::{Peers, backoff, now_ms};

/// Everything a [`SyncNode`] is started with.
#[derive(Debug)]
pub struct SyncSettings {
    /// The node's key (`identity::load_or_create`).
    pub secret_key: SecretKey,
    /// The UDP address to bind (`127.0.0.1:0` by default).
    pub bind: SocketAddr,
    /// Relays: none by default.
    pub relay: Relay,
    /// Peers to sync with (`RHIZOME_PEERS`).
    pub peers: Vec<EndpointAddr>,
    /// If set, only these node ids may sync with this node.
    pub allow: Option<BTreeSet<EndpointId>>,
    /// What this node replicates (partial replication); all by default.
    pub filter: SyncFilter,
    /// The cluster name; its gossip topic is derived from it.
    pub cluster: String,
    /// The largest gossip message, in bytes, gossip's framing included
    /// (live frames are at most [`live::max_frame`] of it). Every node of a
    /// cluster must use the same value (a node drops larger messages).
    pub gossip_max_message: usize,
    /// How often to reconcile with each known peer.
    pub interval: Duration,
    /// Reconciliation tuning.
    pub reconcile: Config,
    /// Reconciliation runs at once (outgoing, and incoming separately).
    pub max_runs: usize,
}

/// The default largest gossip message: 32 KiB.
pub const DEFAULT_GOSSIP_MAX_MESSAGE: usize = 32 * 1024;
/// Trees of filtered scopes (partial replication) kept at most.
const MAX_SCOPES: usize = 16;
/// Origins whose message numbers are tracked at most.
const MAX_ORIGINS: usize = 4096;
/// The longest a reconciliation run may take, in either role.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(15 * 60);
/// How many stored batches wait to be broadcast before further ones are
/// left to reconciliation.
const OUTBOX: usize = 256;

impl SyncSettings {
    /// Settings with the defaults: loopback, a free port, no relay, no
    /// peers, no allow-list, everything replicated, cluster `rhizome`.
    pub fn new(secret_key: SecretKey) -> SyncSettings {
        SyncSettings {
            secret_key,
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            relay: Relay::None,
            peers: Vec::new(),
            allow: None,
            filter: SyncFilter::default(),
            cluster: "rhizome".into(),
            gossip_max_message: DEFAULT_GOSSIP_MAX_MESSAGE,
            interval: Duration::from_secs(30),
            reconcile: Config::default(),
            max_runs: 4,
        }
    }
}

/// The gossip topic of a cluster.
pub fn topic(cluster: &str) -> TopicId {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"rhizome/gossip/1\0");
    hasher.update(cluster.as_bytes());
    TopicId::from_bytes(*hasher.finalize().as_bytes())
}

/// What `GET /api/peers` shows of this node.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SelfInfo {
    /// The node id.
    pub node_id: String,
    /// Dialable addresses (`IP:PORT`).
    pub addrs: Vec<String>,
    /// A ticket holding both.
    pub ticket: String,
}

enum Trigger {
    /// Reconcile with this peer (soon).
    Peer(EndpointId),
    /// Reconcile with every neighbour.
    Neighbours,
}

struct Inner {
    endpoint: Endpoint,
    gossip: Gossip,
    lookup: MemoryLookup,
    guard: Arc<Guard>,
    replica: Arc<dyn Replica>,
    filter: SyncFilter,
    topic: TopicId,
    /// The largest live frame (gossip's limit less its framing).
    max_message: usize,
    interval: Duration,
    reconciler: Reconciler,
    index: Mutex<DeltaIndex>,
    scoped: Mutex<Vec<(Scope, FingerprintTree)>>,
    peers: Mutex<Peers>,
    sequencer: Mutex<live::Sequencer>,
    outbox: mpsc::Sender<Vec<Arc<Delta>>>,
    outbox_overflow: AtomicBool,
    triggers: mpsc::Sender<Trigger>,
    sender: Mutex<Option<GossipSender>>,
    origins: Mutex<HashMap<[u8; 32], (u64, u64)>>,
    /// Peers this node runs a reconciliation with as the initiator.
    running: Mutex<HashSet<EndpointId>>,
    again: Mutex<HashSet<EndpointId>>,
    /// Peers this node answers a reconciliation for (the peer initiated).
    serving: Mutex<HashSet<EndpointId>>,
    /// Requested runs put off because the peer's own run was being served.
    deferred: Mutex<HashSet<EndpointId>>,
    runs: Arc<Semaphore>,
    incoming_runs: Arc<Semaphore>,
    metrics: SyncMetrics,
    stop: watch::Sender<bool>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncNode")
            .field("id", &self.endpoint.id())
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running sync layer. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SyncNode {
    inner: Arc<Inner>,
    router: Arc<Router>,
    tasks: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
}

impl SyncNode {
    /// Binds the endpoint, joins the cluster's gossip topic with the
    /// configured peers and starts the tasks. The fingerprint index starts
    /// from every delta `replica` holds.
    pub async fn start(settings: SyncSettings, replica: Arc<dyn Replica>) -> Result<SyncNode> {
        settings.reconcile.validate()?;
        if settings.gossip_max_message < 1024 {
            return Err(Error::BadSetting {
                name: "gossip_max_message",
                problem: "must be at least 1024 bytes".into(),
            });
        }
        let guard = Arc::new(Guard::new(settings.allow.clone()));
        let (endpoint, lookup) = endpoint::bind(
            endpoint::EndpointSettings {
                secret_key: settings.secret_key.clone(),
                bind: settings.bind,
                relay: settings.relay.clone(),
                alpns: vec![iroh_gossip::ALPN.to_vec(), SYNC_ALPN.to_vec()],
            },
            Arc::clone(&guard),
        )
        .await?;
        let gossip = Gossip::builder()
            .max_message_size(settings.gossip_max_message)
            .spawn(endpoint.clone());

        // Bulk-built (sort + linear construction): a tenth of the time of
        // a million single inserts. The replica's lock is held only to
        // collect the handles.
        let mut all = Vec::new();
        replica.for_each(&mut |d| all.push(Arc::clone(d)));
        let index = DeltaIndex::from_deltas(SyncFilter::default(), all.iter().map(|d| &**d));
        drop(all);

        let (outbox, outbox_rx) = mpsc::channel(OUTBOX);
        let (triggers, triggers_rx) = mpsc::channel(1024);
        let (stop, _) = watch::channel(false);
        let me = *endpoint.id().as_bytes();
        let inner = Arc::new(Inner {
            endpoint: endpoint.clone(),
            gossip: gossip.clone(),
            lookup,
            guard,
            replica,
            filter: settings.filter.clone(),
            topic: topic(&settings.cluster),
            max_message: live::max_frame(settings.gossip_max_message),
            interval: settings.interval,
            reconciler: Reconciler::new(settings.reconcile)?,
            index: Mutex::new(index),
            scoped: Mutex::new(Vec::new()),
            peers: Mutex::new(Peers::default()),
            sequencer: Mutex::new(live::Sequencer::new(me)),
            outbox,
            outbox_overflow: AtomicBool::new(false),
            triggers,
            sender: Mutex::new(None),
            origins: Mutex::new(HashMap::new()),
            running: Mutex::new(HashSet::new()),
            serving: Mutex::new(HashSet::new()),
            deferred: Mutex::new(HashSet::new()),
            again: Mutex::new(HashSet::new()),
            runs: Arc::new(Semaphore::new(settings.max_runs.max(1))),
            incoming_runs: Arc::new(Semaphore::new(settings.max_runs.max(1))),
            metrics: SyncMetrics::new(),
            stop,
        });
        for peer in &settings.peers {
            inner.lookup.add_endpoint_info(peer.clone());
            lock(&inner.peers).entry(peer.id).info.configured = true;
        }
        inner.metrics.peers.set(settings.peers.len() as i64);

        let router = Router::builder(endpoint)
            .accept(iroh_gossip::ALPN, gossip)
            .accept(SYNC_ALPN, SyncProtocol(Arc::clone(&inner)))
            .spawn();

        let tasks = vec![
            tokio::spawn(listen(Arc::clone(&inner))),
            tokio::spawn(broadcast(Arc::clone(&inner), outbox_rx)),
            tokio::spawn(schedule(Arc::clone(&inner), triggers_rx)),
        ];
        Ok(SyncNode {
            inner,
            router: Arc::new(router),
            tasks: Arc::new(Mutex::new(tasks)),
        })
    }

    /// This node's id.
    pub fn id(&self) -> EndpointId {
        self.inner.endpoint.id()
    }

    /// This node's dialable address.
    pub fn addr(&self) -> EndpointAddr {
        endpoint::dialable(&self.inner.endpoint)
    }

    /// The bound UDP sockets.
    pub fn bound_sockets(&self) -> Vec<SocketAddr> {
        self.inner.endpoint.bound_sockets()
    }

    /// What `GET /api/peers` shows of this node.
    pub fn self_info(&self) -> SelfInfo {
        let addr = self.addr();
        SelfInfo {
            node_id: addr.id.to_string(),
            addrs: addr.ip_addrs().map(ToString::to_string).collect(),
            ticket: ticket(&addr),
        }
    }

    /// Every peer this node knows, by node id.
    pub fn peers(&self) -> Vec<PeerInfo> {
        let mut peers = lock(&self.inner.peers).snapshot();
        for p in &mut peers {
            if let Ok(id) = p.node_id.parse::<EndpointId>()
                && !self.inner.guard.admits(&id)
            {
                p.status = PeerStatus::Refused;
            }
        }
        peers
    }

    /// The guard (allow-list and blocks).
    pub fn guard(&self) -> &Arc<Guard> {
        &self.inner.guard
    }

    /// The metrics.
    pub fn metrics(&self) -> &SyncMetrics {
        let peers = lock(&self.inner.peers);
        for id in peers.ids() {
            if let Some(at) = peers.get(&id).and_then(|p| p.last_sync_at) {
                self.inner
                    .metrics
                    .since_last_sync
                    .get_or_create(&metrics::PeerLabel {
                        peer: id.to_string(),
                    })
                    .set(at.elapsed().as_secs_f64());
            }
        }
        &self.inner.metrics
    }

    /// How many deltas the fingerprint index holds.
    pub fn indexed(&self) -> usize {
        lock(&self.inner.index).tree().len()
    }

    /// Tells the sync layer that the node stored `deltas`: they join the
    /// fingerprint index, and if `local` (written by this node's clients,
    /// not received from a peer) they are broadcast. Never waits: if the
    /// broadcast outbox is full the batch is left to reconciliation (peers
    /// see a gap in this node's message numbers).
    pub fn stored(&self, deltas: &[Arc<Delta>], local: bool) {
        {
            let mut index = lock(&self.inner.index);
            for d in deltas {
                index.insert(d);
            }
        }
        {
            let mut scoped = lock(&self.inner.scoped);
            for (scope, tree) in scoped.iter_mut() {
                for d in deltas.iter().filter(|d| scope.matches(d)) {
                    tree.insert(&**d);
                }
            }
        }
        if local && !deltas.is_empty() && self.inner.outbox.try_send(deltas.to_vec()).is_err() {
            self.inner.outbox_overflow.store(true, Ordering::Relaxed);
            self.inner
                .metrics
                .broadcast_skipped
                .inc_by(deltas.len() as u64);
        }
    }

    /// Tells the sync layer that the node may have stored deltas it was not
    /// told about (its feed lagged): peers are told to reconcile.
    pub fn missed(&self) {
        self.inner.outbox_overflow.store(true, Ordering::Relaxed);
    }

    /// Reconciles with `peer` now, from this task, and reports the run.
    /// Its addresses are remembered for later dials; it does not become a
    /// configured peer. If the peer is running a reconciliation with this
    /// node at that moment and refuses a second one ([`Error::Crossed`]),
    /// this waits for that run and tries again, for up to 10 s.
    pub async fn sync_with(&self, peer: EndpointAddr) -> Result<Report> {
        let id = peer.id;
        if !peer.is_empty() {
            self.inner.lookup.add_endpoint_info(peer);
        }
        let patience = Instant::now() + Duration::from_secs(10);
        loop {
            // One run per pair at a time: wait while this node serves the
            // peer's run or runs its own (scheduled) one with it.
            let serving = lock(&self.inner.serving).contains(&id);
            let claim = if serving {
                None
            } else {
                Claim::take(&self.inner.running, id)
            };
            if let Some(_claim) = claim {
                match run_with(&self.inner, id).await {
                    Err(Error::Crossed) if Instant::now() < patience => {}
                    result => return result,
                }
            } else if Instant::now() >= patience {
                return Err(Error::Crossed);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops every task and closes the endpoint. Idempotent.
    pub async fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        let tasks = std::mem::take(&mut *lock(&self.tasks));
        for t in &tasks {
            t.abort();
        }
        if let Err(e) = self.router.shutdown().await {
            tracing::warn!("sync router stopped with an error: {e}");
        }
    }
}

/// The responder side of [`SYNC_ALPN`].
#[derive(Debug, Clone)]
struct SyncProtocol(Arc<Inner>);

impl ProtocolHandler for SyncProtocol {
    async fn accept(&self, conn: Connection) -> std::result::Result<(), AcceptError> {
        let inner = &self.0;
        let peer = conn.remote_id();
        let Ok(_permit) = Arc::clone(&inner.incoming_runs).try_acquire_owned() else {
            conn.close(iroh::endpoint::VarInt::from_u32(503), b"busy");
            return Ok(());
        };
        // One run per pair of nodes at a time: when both started one, the
        // run of the smaller id goes on (the same rule on both sides), so
        // the missing deltas do not travel twice.
        let crossed = lock(&inner.running).contains(&peer) && inner.endpoint.id() < peer;
        let serving = if crossed {
            None
        } else {
            Claim::take(&inner.serving, peer)
        };
        let Some(_serving) = serving else {
            conn.close(iroh::endpoint::VarInt::from_u32(CROSSED), b"crossed");
            return Ok(());
        };
        lock(&inner.peers).seen(peer);
        let result = exchange_on(inner, &conn, false).await;
        record(inner, peer, &result);
        // The initiator closes once both sides said `Done`; wait for it so
        // the last frames are not cut off.
        if result.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
        }
        Ok(())
    }
}

/// The close code of a run refused because the pair already has one.
const CROSSED: u32 = 409;

/// A peer held in one of the per-peer run sets (`running`, `serving`)
/// until dropped, so a cancelled run does not leave its peer marked.
struct Claim<'a> {
    set: &'a Mutex<HashSet<EndpointId>>,
    peer: EndpointId,
}

impl<'a> Claim<'a> {
    /// `None` if the peer is in the set already.
    fn take(set: &'a Mutex<HashSet<EndpointId>>, peer: EndpointId) -> Option<Self> {
        // The lock is released before a claim exists: dropping one locks it.
        let inserted = lock(set).insert(peer);
        inserted.then(|| Claim { set, peer })
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        lock(self.set).remove(&self.peer);
    }
}

/// Records a run's outcome in the peer table and the metrics. A crossed
/// run (see [`Error::Crossed`]) is neither a success nor a failure.
fn record(inner: &Inner, peer: EndpointId, result: &Result<Report>) {
    if matches!(result, Err(Error::Crossed)) {
        return;
    }
    let label = metrics::PeerLabel {
        peer: peer.to_string(),
    };
    let m = &inner.metrics;
    let mut peers = lock(&inner.peers);
    let p = peers.entry(peer);
    match result {
        Ok(report) => {
            m.runs
                .get_or_create(&metrics::RunLabels {
                    peer: label.peer.clone(),
                    result: "ok",
                })
                .inc();
            m.rounds.get_or_create(&label).inc_by(report.rounds);
            m.deltas_sent
                .get_or_create(&label)
                .inc_by(report.deltas_sent);
            m.deltas_received
                .get_or_create(&label)
                .inc_by(report.deltas_new);
            m.bytes_sent
                .get_or_create(&label)
                .inc_by(report.data_bytes_sent + report.control_bytes_sent);
            m.bytes_received
                .get_or_create(&label)
                .inc_by(report.data_bytes_received + report.control_bytes_received);
            p.info.deltas_sent += report.deltas_sent;
            p.info.deltas_received += report.deltas_new;
            p.info.syncs += 1;
            p.info.last_sync = Some(now_ms());
            p.info.last_seen = p.info.last_sync;
            p.info.last_error = None;
            p.info.status = PeerStatus::Connected;
            p.last_sync_at = Some(Instant::now());
            p.failures_in_row = 0;
            p.next_attempt = None;
        }
        Err(e) => {
            m.runs
                .get_or_create(&metrics::RunLabels {
                    peer: label.peer.clone(),
                    result: "error",
                })
                .inc();
            p.info.sync_failures += 1;
            p.info.last_error = Some(e.to_string());
            p.failures_in_row = p.failures_in_row.saturating_add(1);
            p.next_attempt = Some(Instant::now() + backoff(p.failures_in_row));
            if !p.neighbour {
                p.info.status = PeerStatus::Unreachable;
            }
        }
    }
    m.peers.set(peers.ids().len() as i64);
}

/// This side's trees for one run: the live index when the run covers every
/// delta, else the tree of the deltas in the run's scope (built on first
/// use, then kept up to date by [`SyncNode::stored`] like the live index;
/// at most [`MAX_SCOPES`] are kept).
struct RunTrees<'a> {
    inner: &'a Inner,
}

impl<'a> RunTrees<'a> {
    fn new(inner: &'a Inner) -> Self {
        RunTrees { inner }
    }
}

impl Trees for RunTrees<'_> {
    fn with_tree<R>(&self, scope: &Scope, f: impl FnOnce(&FingerprintTree) -> R) -> R {
        if scope.is_all() {
            return f(lock(&self.inner.index).tree());
        }
        // Built under the lock, so no stored batch falls between the scan
        // and the tree's first update.
        let mut scoped = lock(&self.inner.scoped);
        if let Some(i) = scoped.iter().position(|(s, _)| s == scope) {
            return f(&scoped[i].1);
        }
        let mut entries = Vec::new();
        self.inner.replica.for_each(&mut |d| {
            if scope.matches(d) {
                entries.push((
                    crate::SyncItem::sync_key(&**d),
                    crate::SyncItem::sync_hash(&**d),
                ));
            }
        });
        if scoped.len() >= MAX_SCOPES {
            scoped.remove(0);
        }
        scoped.push((scope.clone(), FingerprintTree::from_entries(entries)));
        let last = scoped.len() - 1;
        f(&scoped[last].1)
    }
}

/// One run on `conn`, in either role, bounded by [`RUN_TIMEOUT`].
async fn exchange_on(inner: &Inner, conn: &Connection, initiator: bool) -> Result<Report> {
    let trees = RunTrees::new(inner);
    let run = exchange::run(
        conn,
        initiator,
        &inner.filter,
        inner.reconciler,
        &trees,
        Arc::clone(&inner.replica),
    );
    tokio::time::timeout(RUN_TIMEOUT, run)
        .await
        .unwrap_or_else(|_| Err(Error::Net("the run took too long".into())))
}

/// One outgoing run with `peer`: connect, reconcile, close.
async fn run_with(inner: &Arc<Inner>, peer: EndpointId) -> Result<Report> {
    if !inner.guard.admits(&peer) {
        inner.metrics.refused.inc();
        return Err(Error::Net("the peer is not allowed".into()));
    }
    let conn = tokio::time::timeout(
        Duration::from_secs(10),
        inner.endpoint.connect(peer, SYNC_ALPN),
    )
    .await
    .map_err(|_| Error::Net("timed out connecting".into()))?
    .map_err(|e| Error::Net(format!("cannot connect: {e}")))?;
    let mut result = exchange_on(inner, &conn, true).await;
    if result.is_err()
        && let Some(iroh::endpoint::ConnectionError::ApplicationClosed(close)) = conn.close_reason()
        && close.error_code == iroh::endpoint::VarInt::from_u32(CROSSED)
    {
        result = Err(Error::Crossed);
    }
    conn.close(iroh::endpoint::VarInt::from_u32(0), b"done");
    record(inner, peer, &result);
    result
}

/// Follows the gossip topic: ingests live deltas, turns membership changes
/// and gaps into reconciliation requests. Resubscribes after `Lagged` (the
/// subscription is closed then) or an error.
async fn listen(inner: Arc<Inner>) {
    let me = inner.endpoint.id();
    let mut stop = inner.stop.subscribe();
    loop {
        if *stop.borrow() {
            return;
        }
        let bootstrap: Vec<EndpointId> = {
            let peers = lock(&inner.peers);
            peers
                .ids()
                .into_iter()
                .filter(|id| *id != me && inner.guard.admits(id))
                .collect()
        };
        let topic = match inner
            .gossip
            .subscribe_with_opts(inner.topic, JoinOptions::with_bootstrap(bootstrap))
            .await
        {
            Ok(topic) => topic,
            Err(e) => {
                tracing::warn!("cannot join the gossip topic: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let (sender, mut receiver) = topic.split();
        *lock(&inner.sender) = Some(sender);
        loop {
            let event = tokio::select! {
                _ = stop.changed() => return,
                event = receiver.next() => event,
            };
            match event {
                Some(Ok(Event::Received(message))) => {
                    receive(&inner, message.delivered_from, &message.content).await;
                }
                Some(Ok(Event::NeighborUp(id))) => {
                    {
                        let mut peers = lock(&inner.peers);
                        let p = peers.entry(id);
                        p.neighbour = true;
                        p.info.status = PeerStatus::Connected;
                        p.info.last_seen = Some(now_ms());
                        inner.metrics.peers.set(peers.ids().len() as i64);
                        inner.metrics.neighbours.set(peers.neighbours() as i64);
                    }
                    let _ = inner.triggers.try_send(Trigger::Peer(id));
                }
                Some(Ok(Event::NeighborDown(id))) => {
                    let mut peers = lock(&inner.peers);
                    let p = peers.entry(id);
                    p.neighbour = false;
                    p.info.status = PeerStatus::Disconnected;
                    inner.metrics.neighbours.set(peers.neighbours() as i64);
                }
                Some(Ok(Event::Lagged)) => {
                    inner.metrics.gossip_lagged.inc();
                    let _ = inner.triggers.try_send(Trigger::Neighbours);
                    break;
                }
                Some(Err(e)) => {
                    tracing::debug!("gossip subscription error: {e}");
                    break;
                }
                None => break,
            }
        }
        *lock(&inner.sender) = None;
        {
            let mut peers = lock(&inner.peers);
            for id in peers.ids() {
                let p = peers.entry(id);
                if p.neighbour {
                    p.neighbour = false;
                    p.info.status = PeerStatus::Disconnected;
                }
            }
        }
        inner.metrics.neighbours.set(0);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Handles one gossip message delivered by `from`.
async fn receive(inner: &Arc<Inner>, from: EndpointId, content: &[u8]) {
    let m = &inner.metrics;
    let received = metrics::DirectionLabel {
        direction: "received",
    };
    m.gossip_messages.get_or_create(&received).inc();
    m.gossip_bytes
        .get_or_create(&received)
        .inc_by(content.len() as u64);
    let (header, deltas) = match live::unpack(content) {
        Ok(x) => x,
        Err(e) => {
            tracing::debug!(peer = %from, "dropping a bad gossip message: {e}");
            return;
        }
    };
    if header.origin == *inner.endpoint.id().as_bytes() {
        return;
    }
    m.gossip_deltas
        .get_or_create(&received)
        .inc_by(deltas.len() as u64);
    // A jump in the origin's counter: something was missed.
    let gap = {
        let mut origins = lock(&inner.origins);
        // Bounded: forged origins must not grow it without limit. Forgetting
        // costs at most one missed gap (the periodic run covers it).
        if origins.len() >= MAX_ORIGINS && !origins.contains_key(&header.origin) {
            origins.clear();
        }
        let last = origins.insert(header.origin, (header.epoch, header.counter));
        match last {
            Some((epoch, counter)) if epoch == header.epoch => header.counter > counter + 1,
            Some(_) => false,
            None => header.counter > 1,
        }
    };
    if gap {
        m.gossip_gaps.inc();
        // The origin field is not authenticated (gossip relays messages):
        // reconcile with it only if it is a peer we know, else with the
        // neighbour that delivered the message, whose id QUIC proved.
        let origin = EndpointId::from_bytes(&header.origin)
            .ok()
            .filter(|id| lock(&inner.peers).get(id).is_some());
        let _ = inner
            .triggers
            .try_send(Trigger::Peer(origin.unwrap_or(from)));
    }
    let deltas: Vec<Delta> = deltas
        .into_iter()
        .filter(|d| inner.filter.matches(d))
        .collect();
    lock(&inner.peers).seen(from);
    if deltas.is_empty() {
        return;
    }
    match inner.replica.ingest(from, deltas).await {
        Ok(new) => {
            m.deltas_received
                .get_or_create(&metrics::PeerLabel {
                    peer: from.to_string(),
                })
                .inc_by(new as u64);
            lock(&inner.peers).entry(from).info.deltas_received += new as u64;
        }
        Err(e) => tracing::warn!(peer = %from, "cannot store gossiped deltas: {e}"),
    }
}

/// Broadcasts the node's own stored batches.
async fn broadcast(inner: Arc<Inner>, mut outbox: mpsc::Receiver<Vec<Arc<Delta>>>) {
    let sent = metrics::DirectionLabel { direction: "sent" };
    while let Some(batch) = outbox.recv().await {
        let messages = {
            let mut sequencer = lock(&inner.sequencer);
            if inner.outbox_overflow.swap(false, Ordering::Relaxed) {
                sequencer.skip();
            }
            let (messages, skipped) = sequencer.pack(&batch, inner.max_message);
            inner.metrics.broadcast_skipped.inc_by(skipped as u64);
            messages
        };
        let sender = lock(&inner.sender).clone();
        let Some(sender) = sender else {
            // Not joined (yet): reconciliation will carry these.
            continue;
        };
        for message in messages {
            let len = message.len() as u64;
            if let Err(e) = sender.broadcast(message).await {
                tracing::debug!("gossip broadcast failed: {e}");
                break;
            }
            inner.metrics.gossip_messages.get_or_create(&sent).inc();
            inner.metrics.gossip_bytes.get_or_create(&sent).inc_by(len);
        }
        inner
            .metrics
            .gossip_deltas
            .get_or_create(&sent)
            .inc_by(batch.len() as u64);
        let mut peers = lock(&inner.peers);
        for id in peers.ids() {
            let p = peers.entry(id);
            if p.neighbour {
                p.info.deltas_sent += batch.len() as u64;
            }
        }
    }
}

/// Runs reconciliations: on request, periodically with every known peer,
/// and with configured peers not reached yet (with backoff).
async fn schedule(inner: Arc<Inner>, mut triggers: mpsc::Receiver<Trigger>) {
    let me = inner.endpoint.id();
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        // (peer, requested): a request for a peer already running runs again
        // after it; a periodic one does not.
        let mut wanted: Vec<(EndpointId, bool)> = Vec::new();
        tokio::select! {
            trigger = triggers.recv() => match trigger {
                Some(Trigger::Peer(id)) => wanted.push((id, true)),
                Some(Trigger::Neighbours) => {
                    let peers = lock(&inner.peers);
                    wanted.extend(peers.ids().into_iter().filter(|id| peers.get(id).is_some_and(|p| p.neighbour)).map(|id| (id, true)));
                }
                None => return,
            },
            _ = tick.tick() => {
                let now = Instant::now();
                let deferred = std::mem::take(&mut *lock(&inner.deferred));
                wanted.extend(deferred.into_iter().map(|id| (id, true)));
                let peers = lock(&inner.peers);
                for id in peers.ids() {
                    let Some(p) = peers.get(&id) else { continue };
                    if p.next_attempt.is_some_and(|t| t > now) {
                        continue;
                    }
                    let due = p.last_sync_at.is_none_or(|t| now.duration_since(t) >= inner.interval);
                    // Configured peers are retried until reached; learned
                    // ones are synced while they are neighbours.
                    if due && (p.info.configured || p.neighbour) {
                        wanted.push((id, false));
                    }
                }
            }
        }
        for (id, requested) in wanted {
            if id == me || !inner.guard.admits(&id) {
                continue;
            }
            if lock(&inner.serving).contains(&id) {
                // The peer's run with this node is under way; a requested
                // run follows it (the next tick looks again).
                if requested {
                    lock(&inner.deferred).insert(id);
                }
                continue;
            }
            if !lock(&inner.running).insert(id) {
                if requested {
                    lock(&inner.again).insert(id);
                }
                continue;
            }
            let inner = Arc::clone(&inner);
            let permit = Arc::clone(&inner.runs);
            tokio::spawn(async move {
                let Ok(_permit) = permit.acquire_owned().await else {
                    return;
                };
                loop {
                    let configured = lock(&inner.peers)
                        .get(&id)
                        .is_some_and(|p| p.info.configured && !p.neighbour);
                    if configured {
                        // Also (re)join gossip through it.
                        let sender = lock(&inner.sender).clone();
                        if let Some(sender) = sender {
                            let _ = sender.join_peers(vec![id]).await;
                        }
                    }
                    if let Err(e) = run_with(&inner, id).await {
                        tracing::debug!(peer = %id, "reconciliation failed: {e}");
                    }
                    if !lock(&inner.again).remove(&id) {
                        break;
                    }
                }
                lock(&inner.running).remove(&id);
            });
        }
    }
}
