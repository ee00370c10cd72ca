//! A running node: the store, the writer, the in-memory index, the feeds.
//!
//! Writes go through one writer (a dedicated thread that owns the
//! [`Store`]): callers queue their batch on a bounded queue (a full queue
//! makes them wait), the writer takes every pending batch (up to
//! [`GROUP_MAX_DELTAS`]), decides duplicates and conflicts per batch, writes
//! the accepted deltas of the whole group in one durable transaction, updates
//! the index, answers every caller and publishes the group on the live feed.
//! An answer means durable. Reads go to the index from the caller's task
//! under a read lock, concurrently with writes.

use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::Instant;

use rhizome_crdt::document::{Document, DocumentCache};
use rhizome_crdt::schema::{SchemaRegistry, registry};
use rhizome_crdt::signature::{Authorities, KeyRing, PublicKey};
use rhizome_crdt::view_cache::ViewCache;
use rhizome_crdt::{ChangeSet, Delta, DeltaSet, StrategyRegistry, View, ViewOptions, ViewResolver};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::changes::{Changes, FeedFilter, SeqLog, StoredBatch};
use crate::config::{Config, StorageKind};
use crate::ingest::{Ingested, Source, Verdicts, plan};
use crate::store::disk::DiskStore;
use crate::store::memory::MemoryStore;
use crate::store::{Seq, Store};
use crate::{Error, Result};

/// Batches the writer's queue holds before callers wait.
pub const QUEUE_CAPACITY: usize = 1024;
/// The writer stops taking batches into one group commit past this many deltas.
pub const GROUP_MAX_DELTAS: usize = 20_000;
/// Stored batches the live feed buffers per subscriber before it lags.
pub const FEED_CAPACITY: usize = 4096;

/// What queries read: the index and the sequence log, updated together.
#[derive(Debug, Default)]
pub struct State {
    /// Every delta, with the indexes queries need.
    pub index: DeltaSet,
    /// Every delta by sequence number.
    pub log: SeqLog,
    /// The schemas in effect now, read from `index` (rebuilt whenever a
    /// batch changes a `_schema/` entity).
    pub schemas: SchemaRegistry,
    /// The creators' registered keys (API.md §6), kept from the key deltas
    /// of every batch. Shared, so a writer can check signatures against it
    /// without holding the lock.
    pub keys: Arc<KeyRing>,
}

impl State {
    /// An empty state counting the key registrations of `authorities`.
    pub fn new(authorities: Authorities) -> State {
        State {
            keys: Arc::new(KeyRing::new(authorities)),
            ..State::default()
        }
    }

    /// The schemas in effect as of `as_of` (`None`: now, the kept
    /// registry; otherwise read from the index).
    pub fn schemas_as_of(
        &self,
        as_of: Option<rhizome_crdt::Timestamp>,
    ) -> std::borrow::Cow<'_, SchemaRegistry> {
        match as_of {
            None => std::borrow::Cow::Borrowed(&self.schemas),
            Some(t) => std::borrow::Cow::Owned(SchemaRegistry::from_set(&self.index, Some(t))),
        }
    }

    /// Adds deltas the writer has already decided are new (no duplicates, no
    /// conflicts) and returns the `(entity, property)` pairs whose views may
    /// have changed.
    fn apply(&mut self, deltas: &[Arc<Delta>]) -> ChangeSet {
        for d in deltas {
            self.log.push(Arc::clone(d));
        }
        if deltas.iter().any(|d| crate::ingest::is_key_delta(d)) {
            let keys = Arc::make_mut(&mut self.keys);
            for d in deltas {
                keys.observe(d);
            }
        }
        match self.index.insert_batch(deltas.iter().cloned()) {
            Ok(inserted) => {
                if inserted
                    .changed
                    .entities()
                    .any(|e| registry::name_of(e).is_some())
                {
                    self.schemas = SchemaRegistry::from_set(&self.index, None);
                }
                inserted.changed
            }
            // The writer's plan already refused conflicts; reaching this is a
            // bug, and the log (hence the store) still has every delta.
            Err(e) => {
                tracing::error!("the index refused a planned batch: {e}");
                ChangeSet::default()
            }
        }
    }
}

#[derive(Debug)]
struct Shared {
    state: RwLock<State>,
    /// Live views (as of now). Lock order: `state` first, then `views`;
    /// never held across an `.await`.
    views: Mutex<ViewCache>,
    /// Collaborative documents kept materialised (API.md §7). Lock order:
    /// `state` first, then `docs`.
    docs: Mutex<DocumentCache>,
    feed: broadcast::Sender<Arc<StoredBatch>>,
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-updated in a
        // way readers could misread worse than the panic itself; keep serving.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }
}

/// Checks the batches clients write before they are stored (the plugins'
/// `validate` hooks, API.md §8). Never asked about deltas from peers:
/// replicas must converge whatever each of them checks.
pub trait WriteValidator: Send + Sync + std::fmt::Debug {
    /// Whether anything would be checked (spares a thread hop when not).
    fn active(&self) -> bool;
    /// `Ok`, or why the batch is refused ([`Error::RejectedByPlugin`]).
    /// Runs on a blocking thread.
    fn validate(&self, deltas: &[Arc<Delta>]) -> Result<()>;
}

enum Request {
    Ingest {
        deltas: Vec<Arc<Delta>>,
        local: bool,
        verdicts: Verdicts,
        reply: oneshot::Sender<Result<Ingested>>,
    },
    Shutdown(oneshot::Sender<Result<()>>),
}

#[derive(Debug)]
struct Inner {
    config: Config,
    node_id: String,
    host_id: String,
    secret_key: rhizome_sync::net::SecretKey,
    shared: Arc<Shared>,
    queue: mpsc::Sender<Request>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The strategies requests resolve views with: the built-ins and the
    /// plugins' (swapped whole when a plugin comes or goes).
    strategies: RwLock<Arc<StrategyRegistry>>,
    validator: RwLock<Option<Arc<dyn WriteValidator>>>,
}

/// A node that has started. Cheap to clone (all clones are the same node).
/// Dropping it does not stop it; call [`Node::shutdown`].
#[derive(Clone, Debug)]
pub struct Node {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Request::Ingest { deltas, .. } => write!(f, "Ingest({} deltas)", deltas.len()),
            Request::Shutdown(_) => f.write_str("Shutdown"),
        }
    }
}

impl Node {
    /// Starts a node with `config`: opens the configured store (creating the
    /// data directory for the disk store), rebuilds the index from it and
    /// starts the writer.
    pub async fn start(config: Config) -> Result<Node> {
        let store: Box<dyn Store> = match config.storage {
            StorageKind::Memory => Box::new(MemoryStore::new()),
            StorageKind::Disk => {
                let dir = config.data_dir.clone();
                Box::new(blocking(move || DiskStore::open(&dir)).await?)
            }
        };
        Node::with_store(config, store).await
    }

    /// Starts a node over an already opened `store`.
    pub async fn with_store(config: Config, store: Box<dyn Store>) -> Result<Node> {
        // The node key: kept in the data directory with the disk store (the
        // node id is stable across restarts), fresh per start in memory.
        let secret_key = match config.storage {
            StorageKind::Disk => {
                let dir = config.data_dir.clone();
                blocking(move || {
                    rhizome_sync::net::identity::load_or_create(&dir).map_err(Error::Sync)
                })
                .await?
            }
            StorageKind::Memory => rhizome_sync::net::SecretKey::generate(),
        };
        let node_id = secret_key.public().to_string();
        let host_id = config.host_id.clone().unwrap_or_else(|| node_id.clone());
        let authorities = key_authorities(&config, &secret_key)?;
        let (store, state) = blocking(move || recover(store, authorities)).await?;
        let (feed, _) = broadcast::channel(FEED_CAPACITY);
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            views: Mutex::new(ViewCache::new(config.view_cache)),
            docs: Mutex::new(DocumentCache::new(crate::documents::CACHE_CAPACITY)),
            feed,
        });
        let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
        let writer_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("rhizome-writer".into())
            .spawn(move || run_writer(store, rx, &writer_shared))
            .map_err(|e| Error::io("starting the writer thread", e))?;
        Ok(Node {
            inner: Arc::new(Inner {
                node_id,
                host_id,
                secret_key,
                config,
                shared,
                queue,
                writer: Mutex::new(Some(writer)),
                strategies: RwLock::new(Arc::new(StrategyRegistry::builtin())),
                validator: RwLock::new(None),
            }),
        })
    }

    /// The configuration the node runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// This node's id in the cluster: the public half of its key, which is
    /// its iroh endpoint id.
    pub fn node_id(&self) -> &str {
        &self.inner.node_id
    }

    /// The node's key (sync binds its endpoint with it).
    pub fn secret_key(&self) -> &rhizome_sync::net::SecretKey {
        &self.inner.secret_key
    }

    /// The `host` written on deltas this node creates: `RHIZOME_HOST_ID`,
    /// else the node id.
    pub fn host_id(&self) -> &str {
        &self.inner.host_id
    }

    /// How many deltas the node stores.
    pub fn delta_count(&self) -> u64 {
        self.len() as u64
    }

    /// Stores `deltas` durably, all or nothing. Deltas already stored with
    /// the same content (or repeated in the batch) are reported as
    /// duplicates and not stored again. A delta whose id is taken by other
    /// content (stored, or earlier in the batch) is [`Error::Conflict`]
    /// naming its index, and nothing of the batch is stored.
    ///
    /// These are a client's writes: the [`WriteValidator`] (the plugins'
    /// `validate` hooks) sees the batch first, and a refusal stores nothing
    /// ([`Error::RejectedByPlugin`]).
    ///
    /// When this returns `Ok`, the accepted deltas are durable and visible to
    /// every read. If the future is dropped after the batch was queued, the
    /// batch may still be stored.
    pub async fn ingest(&self, deltas: Vec<Delta>) -> Result<Ingested> {
        self.ingest_from(deltas, true).await
    }

    /// [`Node::ingest`] for deltas received from a peer (`local == false`):
    /// the same, but the stored batch says so ([`StoredBatch::local`]), so
    /// sync does not broadcast them again. Deltas from peers are never
    /// validated: replicas must converge whatever plugins each runs.
    pub async fn ingest_from(&self, deltas: Vec<Delta>, local: bool) -> Result<Ingested> {
        if deltas.is_empty() {
            return Ok(Ingested::default());
        }
        let mut deltas: Vec<Arc<Delta>> = deltas.into_iter().map(Arc::new).collect();
        let validator = self
            .inner
            .validator
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if local && let Some(v) = validator.filter(|v| v.active()) {
            deltas = tokio::task::spawn_blocking(move || v.validate(&deltas).map(|()| deltas))
                .await
                .map_err(|e| Error::storage("validating a batch", e))??;
        }
        // Signatures are verified here, in the caller's task (or, for a
        // large batch, on a blocking thread across the cores), not in the
        // writer; the writer checks the ring did not change meanwhile.
        let keys = self.read(|s| Arc::clone(&s.keys));
        let (deltas, verdicts) = if keys.is_empty() || deltas.len() < 16 {
            let v = crate::ingest::verify(&keys, &deltas);
            (deltas, v)
        } else {
            blocking(move || {
                let v = crate::ingest::verify_parallel(&keys, &deltas);
                Ok((deltas, v))
            })
            .await?
        };
        let (reply, answer) = oneshot::channel();
        self.inner
            .queue
            .send(Request::Ingest {
                deltas,
                local,
                verdicts,
                reply,
            })
            .await
            .map_err(|_| Error::ShuttingDown)?;
        answer.await.map_err(|_| Error::ShuttingDown)?
    }

    /// The stored delta with `id`.
    pub fn get(&self, id: &str) -> Option<Arc<Delta>> {
        self.inner.shared.read().index.get(id).cloned()
    }

    /// How many deltas are stored.
    pub fn len(&self) -> usize {
        self.inner.shared.read().index.len()
    }

    /// Whether no delta is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sequence number of the last stored delta (0 if none).
    pub fn last_seq(&self) -> Seq {
        self.inner.shared.read().log.last_seq()
    }

    /// Runs `f` over the index and log under a read lock (never held across
    /// an `.await`: `f` is synchronous). Writers wait while `f` runs, so keep
    /// it short.
    pub fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        f(&self.inner.shared.read())
    }

    /// The view of `entity` now, under `schema` and `options` (resolved by
    /// `resolver`, which must be `options`' resolver), from the live view
    /// cache or computed and cached. `Ok(None)`: the entity does not exist
    /// or the schema's projection leaves nothing. Errors: an unknown schema.
    pub fn live_view(
        &self,
        entity: &str,
        schema: Option<&str>,
        options: &ViewOptions,
        resolver: &ViewResolver,
    ) -> rhizome_crdt::Result<Option<Arc<View>>> {
        let shared = &self.inner.shared;
        let state = shared.read();
        let mut views = shared.views.lock().unwrap_or_else(|e| e.into_inner());
        let (hits, misses) = (views.hits, views.misses);
        let answer = views.view(
            &state.index,
            &state.schemas,
            entity,
            schema,
            options,
            resolver,
        );
        let metrics = crate::metrics::global();
        metrics.view_cache_hits.inc_by(views.hits - hits);
        metrics.view_cache_misses.inc_by(views.misses - misses);
        answer
    }

    /// Runs `f` over the collaborative document of (`entity`, `property`)
    /// as of `as_of` (`None`: now, from the document cache, brought up to
    /// date incrementally). `None`: no change delta is visible there. The
    /// index is read-locked while `f` runs: keep it short.
    pub fn with_document<R>(
        &self,
        entity: &str,
        property: &str,
        as_of: Option<rhizome_crdt::Timestamp>,
        f: impl FnOnce(&Document) -> R,
    ) -> Option<R> {
        let shared = &self.inner.shared;
        let state = shared.read();
        let mut docs = shared.docs.lock().unwrap_or_else(|e| e.into_inner());
        docs.with(&state.index, entity, property, as_of, f)
    }

    /// How many documents the document cache holds and an estimate of
    /// their memory, in bytes.
    pub fn document_cache_size(&self) -> (usize, usize) {
        let docs = self
            .inner
            .shared
            .docs
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        (docs.len(), docs.approx_bytes())
    }

    /// The strategies views are resolved with (built-in and plugins').
    pub fn strategies(&self) -> Arc<StrategyRegistry> {
        Arc::clone(
            &self
                .inner
                .strategies
                .read()
                .unwrap_or_else(|e| e.into_inner()),
        )
    }

    /// Replaces the strategy registry, and drops the cached views (a name
    /// may now resolve differently).
    pub fn set_strategies(&self, registry: Arc<StrategyRegistry>) {
        *self
            .inner
            .strategies
            .write()
            .unwrap_or_else(|e| e.into_inner()) = registry;
        self.clear_views();
    }

    /// Drops every cached view. Views are computed under the cache's lock,
    /// so a view computed before this call is dropped, and one computed
    /// after it sees whatever changed before it.
    pub fn clear_views(&self) {
        self.inner
            .shared
            .views
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Sets what checks client writes (`None`: nothing).
    pub fn set_validator(&self, validator: Option<Arc<dyn WriteValidator>>) {
        *self
            .inner
            .validator
            .write()
            .unwrap_or_else(|e| e.into_inner()) = validator;
    }

    /// A page of the changes feed (API.md §3 `GET /api/deltas`): up to
    /// `limit` deltas after sequence number `since` that pass `filter`.
    pub fn changes(&self, since: Seq, limit: usize, filter: &FeedFilter) -> Changes {
        self.inner.shared.read().log.changes(since, limit, filter)
    }

    /// The live feed: every batch stored from now on, once durable and
    /// readable. A subscriber that falls more than [`FEED_CAPACITY`] batches
    /// behind gets `RecvError::Lagged` and resumes with [`Node::changes`]
    /// from the last sequence number it saw. To follow from a point without
    /// gaps: subscribe first, then page [`Node::changes`] from that point,
    /// then take live batches, skipping sequence numbers already seen.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredBatch>> {
        self.inner.shared.feed.subscribe()
    }

    /// Stops the node: the writer stores every batch queued before this call,
    /// then the store closes. Later ingests fail with
    /// [`Error::ShuttingDown`]. Calling it again is a no-op.
    pub async fn shutdown(&self) -> Result<()> {
        let Some(handle) = self
            .inner
            .writer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        else {
            return Ok(());
        };
        let (tx, rx) = oneshot::channel();
        let closed = if self.inner.queue.send(Request::Shutdown(tx)).await.is_ok() {
            rx.await.unwrap_or(Err(Error::ShuttingDown))
        } else {
            Ok(())
        };
        blocking(move || {
            handle
                .join()
                .map_err(|_| Error::storage("stopping the writer", "the writer panicked"))
        })
        .await?;
        closed
    }
}

/// Runs blocking `f` off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::storage("a blocking store task", e))?
}

/// Whose key registrations count on this node (see
/// `rhizome_crdt::signature::keyring`): this node and
/// `RHIZOME_KEY_AUTHORITIES`; without that list, the peer allow-list and
/// this node; without either, any node.
fn key_authorities(config: &Config, key: &rhizome_sync::net::SecretKey) -> Result<Authorities> {
    let listed: Vec<&str> = config
        .auth
        .key_authorities
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let node_key = |bytes: &[u8; 32], name: &'static str, id: &str| {
        PublicKey::from_bytes(bytes).map_err(|_| Error::Config {
            name,
            problem: format!("{id:?} is not an Ed25519 node id"),
        })
    };
    let mut keys = vec![node_key(key.public().as_bytes(), "node key", "this node")?];
    if listed.is_empty() {
        // The peer allow-list, read as sync reads it.
        let Some(allow) = config.sync.allow()? else {
            return Ok(Authorities::Any);
        };
        for id in allow {
            keys.push(node_key(
                id.as_bytes(),
                "RHIZOME_PEER_ALLOW",
                &id.to_string(),
            )?);
        }
    } else {
        for id in listed {
            keys.push(PublicKey::from_hex(id).map_err(|_| Error::Config {
                name: "RHIZOME_KEY_AUTHORITIES",
                problem: format!("{id:?} is not a node id (64 hex digits)"),
            })?);
        }
    }
    Ok(Authorities::only(keys))
}

/// Loads every stored delta in sequence order into a fresh [`State`].
fn recover(store: Box<dyn Store>, authorities: Authorities) -> Result<(Box<dyn Store>, State)> {
    let started = Instant::now();
    let mut state = State::new(authorities);
    let mut chunk = Vec::with_capacity(8192);
    store.load(&mut |_, d| {
        chunk.push(d);
        if chunk.len() == chunk.capacity() {
            state.apply(&chunk);
            chunk.clear();
        }
    })?;
    state.apply(&chunk);
    tracing::info!(
        deltas = state.index.len(),
        last_seq = state.log.last_seq(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "store recovered"
    );
    Ok((store, state))
}

struct Pending {
    deltas: Vec<Arc<Delta>>,
    local: bool,
    verdicts: Verdicts,
    reply: oneshot::Sender<Result<Ingested>>,
}

/// The writer: group commits until shutdown or until every sender is gone.
fn run_writer(mut store: Box<dyn Store>, mut rx: mpsc::Receiver<Request>, shared: &Shared) {
    let mut shutdown = None;
    let metrics = crate::metrics::global();
    metrics.last_seq.set(gauge(store.last_seq()));
    let mut sized = StoreSize::default();
    sized.refresh(&*store);
    while shutdown.is_none() {
        let Some(first) = rx.blocking_recv() else {
            break;
        };
        let mut group = Vec::new();
        let mut size = 0;
        let mut next = Some(first);
        while let Some(req) = next.take() {
            match req {
                Request::Ingest {
                    deltas,
                    local,
                    verdicts,
                    reply,
                } => {
                    size += deltas.len();
                    group.push(Pending {
                        deltas,
                        local,
                        verdicts,
                        reply,
                    });
                }
                Request::Shutdown(reply) => {
                    shutdown = Some(reply);
                    break;
                }
            }
            if size < GROUP_MAX_DELTAS {
                next = rx.try_recv().ok();
            }
        }
        metrics.writer_group_batches.observe(group.len() as f64);
        commit_group(&mut *store, shared, group);
        sized.maybe_refresh(&*store);
    }
    rx.close();
    while let Ok(req) = rx.try_recv() {
        match req {
            Request::Ingest { reply, .. } => {
                let _ = reply.send(Err(Error::ShuttingDown));
            }
            Request::Shutdown(reply) => {
                let _ = reply.send(Ok(()));
            }
        }
    }
    let closed = store.close();
    if let Err(e) = &closed {
        tracing::error!("closing the store: {e}");
    }
    if let Some(reply) = shutdown {
        let _ = reply.send(closed);
    }
}

/// A gauge value from a count (saturating).
fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Keeps `rhizome_store_bytes` current without asking the store after
/// every commit: at most once a second.
#[derive(Default)]
struct StoreSize {
    last: Option<Instant>,
}

impl StoreSize {
    const EVERY: std::time::Duration = std::time::Duration::from_secs(1);

    fn maybe_refresh(&mut self, store: &dyn Store) {
        if self.last.is_none_or(|t| t.elapsed() >= Self::EVERY) {
            self.refresh(store);
        }
    }

    fn refresh(&mut self, store: &dyn Store) {
        self.last = Some(Instant::now());
        match store.disk_bytes() {
            Ok(n) => {
                crate::metrics::global().store_bytes.set(gauge(n));
            }
            Err(e) => tracing::warn!("cannot measure the store: {e}"),
        }
    }
}

/// One group commit: decide each batch, store all accepted deltas in one
/// durable transaction, apply them to the index, answer, publish.
fn commit_group(store: &mut dyn Store, shared: &Shared, group: Vec<Pending>) {
    if group.is_empty() {
        return;
    }
    let mut pending = crate::ingest::PendingIds::default();
    let mut decided = Vec::with_capacity(group.len());
    // This node's own writes first, so a stored batch is its local deltas
    // then those received from peers (`StoredBatch::local`).
    let mut group = group;
    group.sort_by_key(|p| !p.local);
    {
        let state = shared.read();
        let several = group.len() > 1;
        for p in group {
            let source = if p.local { Source::Local } else { Source::Peer };
            let plan = plan(
                &p.deltas,
                |id| state.index.get(id),
                &pending,
                &state.keys,
                &p.verdicts,
                source,
            );
            if several && let Ok(plan) = &plan {
                for d in &plan.accepted {
                    pending.insert(d.id().clone(), Arc::clone(d));
                }
            }
            decided.push((p.reply, p.local, plan));
        }
    }
    let metrics = crate::metrics::global();
    let mut duplicates = 0;
    for (_, _, plan) in &decided {
        match plan {
            Ok(p) => {
                duplicates += p.duplicates.len() as u64;
                if !p.refused.is_empty() {
                    metrics.rejected("peer_bad_signature", p.refused.len() as u64);
                }
            }
            Err(Error::BadSignature { .. }) => metrics.rejected("bad_signature", 1),
            Err(_) => metrics.rejected("conflict", 1),
        }
    }
    let all: Vec<Arc<Delta>> = decided
        .iter()
        .filter_map(|(_, _, p)| p.as_ref().ok())
        .flat_map(|p| p.accepted.iter().cloned())
        .collect();
    let local: usize = decided
        .iter()
        .filter(|(_, local, _)| *local)
        .filter_map(|(_, _, p)| p.as_ref().ok())
        .map(|p| p.accepted.len())
        .sum();
    let started = Instant::now();
    let appended = store.append(&all);
    metrics
        .writer_commit_seconds
        .observe(started.elapsed().as_secs_f64());
    match appended {
        Ok(first_seq) => {
            metrics.writer_group_deltas.observe(all.len() as f64);
            metrics.deltas_stored.inc_by(all.len() as u64);
            metrics.deltas_duplicate.inc_by(duplicates);
            metrics.last_seq.set(gauge(store.last_seq()));
            let changed = if all.is_empty() {
                ChangeSet::default()
            } else {
                let mut state = shared.state.write().unwrap_or_else(|e| e.into_inner());
                let changed = state.apply(&all);
                // Under the same write lock: no reader sees the new index
                // with views of the old one.
                let mut views = shared.views.lock().unwrap_or_else(|e| e.into_inner());
                let before = views.invalidations;
                views.apply(&changed);
                metrics
                    .view_cache_invalidations
                    .inc_by(views.invalidations - before);
                drop(views);
                shared
                    .docs
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .note(&all, &changed);
                changed
            };
            for (reply, _, plan) in decided {
                let _ = reply.send(plan.map(|p| p.answer()));
            }
            if !all.is_empty() {
                // No subscriber is not an error.
                let _ = shared.feed.send(Arc::new(StoredBatch {
                    first_seq,
                    deltas: all,
                    local,
                    changed,
                }));
            }
        }
        Err(e) => {
            tracing::error!("group commit of {} deltas failed: {e}", all.len());
            let message = e.to_string();
            for (reply, _, plan) in decided {
                let _ =
                    reply.send(plan.and_then(|_| {
                        Err(Error::storage("committing the batch", message.as_str()))
                    }));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_authorities_follow_the_settings() {
        let me = rhizome_sync::net::SecretKey::generate();
        let peer = rhizome_sync::net::SecretKey::generate().public();
        let mine = PublicKey::from_bytes(me.public().as_bytes()).unwrap();
        let theirs = PublicKey::from_bytes(peer.as_bytes()).unwrap();
        let mut config = Config::new(StorageKind::Memory, "unused");
        assert_eq!(key_authorities(&config, &me).unwrap(), Authorities::Any);
        config.sync.sync_allow = vec![peer.to_string()];
        assert_eq!(
            key_authorities(&config, &me).unwrap(),
            Authorities::only([mine, theirs])
        );
        // An explicit list wins over the allow-list.
        config.auth.key_authorities = vec![mine.to_hex()];
        assert_eq!(
            key_authorities(&config, &me).unwrap(),
            Authorities::only([mine])
        );
        config.auth.key_authorities = vec!["nope".into()];
        let e = key_authorities(&config, &me).unwrap_err().to_string();
        assert!(
            e.contains("RHIZOME_KEY_AUTHORITIES") && e.contains("nope"),
            "{e}"
        );
    }
}
