//! The dispatcher: one task per node that fans stored batches out to the
//! subscriptions and watches of every connection.
//!
//! It owns the subscription tables — entity → subs, property → subs,
//! creator → subs, host → subs, and the unfiltered subs — so a delta is
//! checked against the candidates its own keys name, not against every
//! subscriber. Each delta is encoded once per format, lazily, and the
//! encoding is shared. Pushes never wait ([`SubQueue::push`]).
//!
//! **Hand-over from backlog to live.** A connection pages the backlog from
//! the changes feed itself (waiting on its socket), then registers with
//! `after` = the last sequence number it scanned. The dispatcher, which
//! handles registrations between batches, knows how far it has dispatched
//! (`position`): if the connection is behind it, the dispatcher fills the
//! gap `(after, position]` from the changes feed before any live batch;
//! if ahead, live deltas up to `after` are skipped. Either way every
//! matching sequence number is delivered once.
//!
//! **Lag.** If the dispatcher falls behind the node's live feed
//! (`RecvError::Lagged`), it reads the missed deltas from the log by
//! sequence number and marks every watch as possibly changed.
//!
//! **Registering and removing, bounded.** New subscriptions and watches
//! reach the dispatcher over a bounded channel ([`CONTROL_QUEUE`]
//! commands); a connection that finds it full waits for room (see
//! [`Hub::subscribe`]). Removals cannot wait — a [`Registration`] is
//! removed from `Drop` — so they go to a shared list of keys, one per
//! registration ever made and so bounded by the registrations alive, that
//! the dispatcher drains when woken. A removal may overtake its own
//! registration (two paths); the dispatcher then keeps a tombstone for the
//! key until the registration arrives and is discarded. Keys the dispatcher
//! dropped itself (overflow) are remembered until their registration is
//! dropped, so that removal is not taken for an early one.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rhizome_crdt::codec::Format;
use rhizome_crdt::codec::json::JsonDelta;
use rhizome_crdt::{ChangeSet, Delta};
use std::sync::OnceLock;
use tokio::sync::broadcast::error::RecvError;

use tokio::sync::{Notify, mpsc};

use super::Shutdown;
use super::filter::{IndexField, SubFilter};
use super::queue::{End, Payload, SubQueue, WatchFlag};
use crate::metrics;
use crate::node::Node;
use crate::store::Seq;

/// Deltas the dispatcher reads from the log per call when filling a gap
/// or recovering from lag.
const LOG_PAGE: usize = 4096;

/// Registrations (subscriptions and watches) that may wait for the
/// dispatcher at once; past it, registering waits.
pub const CONTROL_QUEUE: usize = 1024;

enum Command {
    Subscribe {
        key: u64,
        after: Seq,
        filter: SubFilter,
        format: Format,
        queue: Arc<SubQueue>,
    },
    Watch {
        key: u64,
        entity: Arc<str>,
        flag: Arc<WatchFlag>,
    },
    /// Answers how many subscriptions, watches and removal records the
    /// dispatcher holds, after taking every removal made so far.
    #[cfg(test)]
    Census(tokio::sync::oneshot::Sender<Census>),
}

/// What the dispatcher holds (tests check that nothing leaks).
#[cfg(test)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Census {
    /// Live subscriptions.
    pub subs: usize,
    /// Live watches.
    pub watches: usize,
    /// Removals that arrived before their registration.
    pub tombstones: usize,
    /// Subscriptions that overflowed, whose registration is still alive.
    pub ended: usize,
}

/// Keys of dropped registrations, waiting for the dispatcher. One entry per
/// registration, so it holds at most as many keys as there are
/// registrations; `None` once the dispatcher has stopped.
#[derive(Debug)]
struct Removals {
    keys: Mutex<Option<Vec<u64>>>,
    wake: Notify,
}

impl Removals {
    fn new() -> Removals {
        Removals {
            keys: Mutex::new(Some(Vec::new())),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Vec<u64>>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, key: u64) {
        let mut keys = self.lock();
        if let Some(keys) = keys.as_mut() {
            keys.push(key);
            self.wake.notify_one();
        }
    }

    fn take(&self) -> Vec<u64> {
        self.lock().as_mut().map(std::mem::take).unwrap_or_default()
    }

    fn close(&self) {
        *self.lock() = None;
    }
}

/// The dispatcher's two inputs: registrations (bounded) and removals.
#[derive(Clone, Debug)]
struct Control {
    commands: mpsc::Sender<Command>,
    removals: Arc<Removals>,
}

/// The node's real-time hub: a handle on the dispatcher task, started on
/// first use. Cheap to share (`Arc<Hub>` in [`crate::http::AppState`]).
#[derive(Debug)]
pub struct Hub {
    node: Arc<Node>,
    shutdown: Shutdown,
    control: OnceLock<Control>,
    next_key: AtomicU64,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Subscribe { key, after, .. } => write!(f, "Subscribe({key} after {after})"),
            Command::Watch { key, entity, .. } => write!(f, "Watch({key} {entity})"),
            #[cfg(test)]
            Command::Census(_) => write!(f, "Census"),
        }
    }
}

/// A registration on its way to the dispatcher ([`Hub::subscribe`],
/// [`Hub::watch`]).
pub type Registering<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Registration> + Send + 'a>>;

/// A registration with the dispatcher; dropping it removes it.
#[derive(Debug)]
#[must_use = "dropping the registration removes it"]
pub struct Registration {
    key: u64,
    /// `None` if the registration never reached the dispatcher.
    removals: Option<Arc<Removals>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(removals) = &self.removals {
            removals.push(self.key);
        }
    }
}

impl Hub {
    /// The hub of `node`; long-lived streams end when `shutdown` is raised.
    pub fn new(node: Arc<Node>, shutdown: Shutdown) -> Hub {
        Hub {
            node,
            shutdown,
            control: OnceLock::new(),
            next_key: AtomicU64::new(1),
        }
    }

    /// The node.
    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// The shutdown flag streams watch.
    pub fn shutdown(&self) -> &Shutdown {
        &self.shutdown
    }

    /// The real-time settings.
    pub fn settings(&self) -> &super::Settings {
        &self.node.config().realtime
    }

    fn control(&self) -> Option<&Control> {
        if self.shutdown.is_raised() {
            return None;
        }
        // Called from handlers, inside the runtime: spawning is possible.
        Some(self.control.get_or_init(|| {
            let (commands, rx) = mpsc::channel(CONTROL_QUEUE);
            let removals = Arc::new(Removals::new());
            // Subscribe before reading the position: every batch after it
            // arrives on the feed.
            let feed = self.node.subscribe();
            let position = self.node.last_seq();
            let d = Dispatcher::new(Arc::clone(&self.node), position, Arc::clone(&removals));
            tokio::spawn(d.run(feed, rx, self.shutdown.clone()));
            Control { commands, removals }
        }))
    }

    /// Sends a registration to the dispatcher, waiting for room in its
    /// bounded queue. The [`Registration`] exists only once the command is
    /// queued, so a caller dropped while waiting leaves nothing behind.
    async fn register(&self, command: impl FnOnce(u64) -> Command) -> Option<Registration> {
        let control = self.control()?;
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        control.commands.send(command(key)).await.ok()?;
        Some(Registration {
            key,
            removals: Some(Arc::clone(&control.removals)),
        })
    }

    /// Registers a subscription whose client has seen every matching delta
    /// up to `after`: the dispatcher pushes every later matching delta, in
    /// order, into `queue`. If the node is shutting down the queue is ended
    /// with [`End::Closed`].
    ///
    /// Waits while [`CONTROL_QUEUE`] registrations are already waiting for
    /// the dispatcher. Only the subscribing connection waits (its own task
    /// or stream); the dispatcher takes registrations between batches, so
    /// the wait is short, and the alternative — refusing with an error the
    /// client must retry — would turn a burst of reconnects into a storm.
    ///
    /// The future is boxed: connections await it from futures that live as
    /// long as they do, which would otherwise carry its state (the command
    /// and the queue's send) inline for their whole life.
    pub fn subscribe(
        &self,
        after: Seq,
        filter: SubFilter,
        format: Format,
        queue: Arc<SubQueue>,
    ) -> Registering<'_> {
        Box::pin(async move {
            let q = Arc::clone(&queue);
            let registered = self
                .register(|key| Command::Subscribe {
                    key,
                    after,
                    filter,
                    format,
                    queue: q,
                })
                .await;
            registered.unwrap_or_else(|| {
                queue.end(End::Closed);
                Registration {
                    key: 0,
                    removals: None,
                }
            })
        })
    }

    /// Registers a watch of `entity`: `flag` is set whenever a stored batch
    /// may have changed one of its views. Waits (and is boxed) like
    /// [`Hub::subscribe`].
    pub fn watch(&self, entity: Arc<str>, flag: Arc<WatchFlag>) -> Registering<'_> {
        Box::pin(async move {
            let registered = self
                .register(|key| Command::Watch { key, entity, flag })
                .await;
            registered.unwrap_or(Registration {
                key: 0,
                removals: None,
            })
        })
    }

    /// What the dispatcher holds once it has taken every removal made so
    /// far (tests check that nothing leaks).
    #[cfg(test)]
    pub(crate) async fn census(&self) -> Census {
        let (tx, rx) = tokio::sync::oneshot::channel();
        match self.control() {
            Some(c) if c.commands.send(Command::Census(tx)).await.is_ok() => {
                rx.await.unwrap_or_default()
            }
            _ => Census::default(),
        }
    }
}

struct Sub {
    filter: SubFilter,
    format: Format,
    queue: Arc<SubQueue>,
    /// The last sequence number this subscription has been served up to.
    last: Seq,
}

#[derive(Default)]
struct Index {
    entities: HashMap<Arc<str>, Vec<u64>>,
    properties: HashMap<Arc<str>, Vec<u64>>,
    creators: HashMap<Arc<str>, Vec<u64>>,
    hosts: HashMap<Arc<str>, Vec<u64>>,
}

impl Index {
    fn table(&mut self, field: IndexField) -> Option<&mut HashMap<Arc<str>, Vec<u64>>> {
        match field {
            IndexField::Entities => Some(&mut self.entities),
            IndexField::Properties => Some(&mut self.properties),
            IndexField::Creators => Some(&mut self.creators),
            IndexField::Hosts => Some(&mut self.hosts),
            IndexField::Unfiltered => None,
        }
    }
}

struct Dispatcher {
    node: Arc<Node>,
    /// The last sequence number dispatched.
    position: Seq,
    subs: HashMap<u64, Sub>,
    index: Index,
    unfiltered: Vec<u64>,
    watches: HashMap<u64, (Arc<str>, Arc<WatchFlag>)>,
    watch_index: HashMap<Arc<str>, Vec<u64>>,
    scratch: Vec<u64>,
    removals: Arc<Removals>,
    /// Keys removed before their registration arrived.
    tombstones: HashSet<u64>,
    /// Keys of subscriptions the dispatcher ended (overflow) whose
    /// registration has not been dropped yet.
    ended: HashSet<u64>,
}

fn format_slot(format: Format) -> usize {
    match format {
        Format::V1 => 0,
        Format::V2 => 1,
        Format::RhizomeDb => 2,
    }
}

/// `delta` as a subscriber of `format` receives it.
pub fn encode(delta: &Delta, format: Format) -> Payload {
    let json = JsonDelta::new(delta, format).and_then(|j| {
        serde_json::to_string(&j).map_err(|e| rhizome_crdt::Error::invalid("delta", e.to_string()))
    });
    match json {
        Ok(s) => Payload::Delta(s.into()),
        Err(e) => Payload::NotExpressible(
            serde_json::json!({
                "code": "not_expressible",
                "message": e.to_string(),
                "id": delta.id().as_str(),
                "format": format.as_str(),
            })
            .to_string()
            .into(),
        ),
    }
}

impl Dispatcher {
    fn new(node: Arc<Node>, position: Seq, removals: Arc<Removals>) -> Dispatcher {
        Dispatcher {
            node,
            position,
            subs: HashMap::new(),
            index: Default::default(),
            unfiltered: Vec::new(),
            watches: HashMap::new(),
            watch_index: HashMap::new(),
            scratch: Vec::new(),
            removals,
            tombstones: HashSet::new(),
            ended: HashSet::new(),
        }
    }

    async fn run(
        mut self,
        mut feed: tokio::sync::broadcast::Receiver<Arc<crate::changes::StoredBatch>>,
        mut commands: mpsc::Receiver<Command>,
        shutdown: Shutdown,
    ) {
        let removals = Arc::clone(&self.removals);
        loop {
            tokio::select! {
                biased;
                () = shutdown.raised() => break,
                () = removals.wake.notified() => self.take_removals(),
                cmd = commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd),
                    None => break,
                },
                batch = feed.recv() => match batch {
                    Ok(batch) => {
                        self.dispatch(batch.iter(), Some(&batch.changed));
                    }
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "real-time dispatcher lagged; catching up from the log");
                        self.catch_up();
                    }
                    Err(RecvError::Closed) => break,
                },
            }
        }
        // Later drops have nothing to remove.
        removals.close();
        for sub in self.subs.values() {
            sub.queue.end(End::Closed);
        }
        let m = metrics::global();
        m.realtime_subscriptions.dec_by(self.subs.len() as i64);
        m.realtime_watches.dec_by(self.watches.len() as i64);
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Subscribe {
                key,
                after,
                filter,
                format,
                queue,
            } => {
                if self.tombstones.remove(&key) {
                    return;
                }
                let mut sub = Sub {
                    filter,
                    format,
                    queue,
                    last: after,
                };
                if after < self.position && !self.fill_gap(&mut sub) {
                    metrics::global().realtime_overflows.inc();
                    self.ended.insert(key);
                    return;
                }
                sub.last = sub.last.max(self.position);
                let (field, keys) = sub.filter.index();
                match self.index.table(field) {
                    Some(table) => {
                        for k in keys {
                            let list = table.entry(Arc::from(k.as_str())).or_default();
                            if !list.contains(&key) {
                                list.push(key);
                            }
                        }
                    }
                    None => self.unfiltered.push(key),
                }
                self.subs.insert(key, sub);
                metrics::global().realtime_subscriptions.inc();
            }
            Command::Watch { key, entity, flag } => {
                if self.tombstones.remove(&key) {
                    return;
                }
                self.watch_index
                    .entry(Arc::clone(&entity))
                    .or_default()
                    .push(key);
                self.watches.insert(key, (entity, flag));
                metrics::global().realtime_watches.inc();
            }
            #[cfg(test)]
            Command::Census(answer) => {
                self.take_removals();
                let _ = answer.send(Census {
                    subs: self.subs.len(),
                    watches: self.watches.len(),
                    tombstones: self.tombstones.len(),
                    ended: self.ended.len(),
                });
            }
        }
    }

    /// Removes the registrations dropped since the last call.
    fn take_removals(&mut self) {
        for key in self.removals.take() {
            if self.ended.remove(&key) {
                continue;
            }
            if !self.remove(key) {
                // Its registration is still on the way.
                self.tombstones.insert(key);
            }
        }
    }

    /// Pushes the matching deltas of `(sub.last, position]`; `false` if the
    /// subscription overflowed on the way.
    fn fill_gap(&self, sub: &mut Sub) -> bool {
        let mut since = sub.last;
        while since < self.position {
            let page = self.node.changes(since, LOG_PAGE, &sub.filter.feed);
            for (seq, d) in &page.deltas {
                if *seq > self.position {
                    return true;
                }
                if sub.filter.matches_properties(d) {
                    if !sub.queue.push(*seq, encode(d, sub.format)) {
                        return false;
                    }
                    metrics::global().realtime_deliveries.inc();
                    sub.last = *seq;
                }
            }
            if page.last_seq <= since {
                break;
            }
            since = page.last_seq;
        }
        true
    }

    /// Removes a subscription or watch; `false` if there is none by `key`.
    fn remove(&mut self, key: u64) -> bool {
        if let Some(sub) = self.subs.remove(&key) {
            metrics::global().realtime_subscriptions.dec();
            let (field, keys) = sub.filter.index();
            match self.index.table(field) {
                Some(table) => {
                    for k in keys {
                        if let Some(list) = table.get_mut(k.as_str()) {
                            list.retain(|s| *s != key);
                            if list.is_empty() {
                                table.remove(k.as_str());
                            }
                        }
                    }
                }
                None => self.unfiltered.retain(|s| *s != key),
            }
            true
        } else if let Some((entity, _)) = self.watches.remove(&key) {
            metrics::global().realtime_watches.dec();
            if let Some(list) = self.watch_index.get_mut(&entity) {
                list.retain(|s| *s != key);
                if list.is_empty() {
                    self.watch_index.remove(&entity);
                }
            }
            true
        } else {
            false
        }
    }

    /// Reads what the live feed dropped from the log, by sequence number.
    fn catch_up(&mut self) {
        loop {
            let from = self.position;
            let chunk: Vec<(Seq, Arc<Delta>)> = self.node.read(|s| {
                (from + 1..=s.log.last_seq())
                    .take(LOG_PAGE)
                    .filter_map(|seq| s.log.get(seq).map(|d| (seq, Arc::clone(d))))
                    .collect()
            });
            if chunk.is_empty() {
                break;
            }
            self.dispatch(chunk.iter().map(|(s, d)| (*s, d)), None);
        }
    }

    /// Delivers deltas in sequence order (those at or before `position`
    /// are skipped), then flags the watches `changed` names (all of them
    /// when `None`).
    fn dispatch<'a>(
        &mut self,
        deltas: impl Iterator<Item = (Seq, &'a Arc<Delta>)>,
        changed: Option<&ChangeSet>,
    ) {
        let mut overflowed = Vec::new();
        let mut delivered = 0u64;
        let mut dispatched = false;
        for (seq, d) in deltas {
            if seq <= self.position {
                continue;
            }
            dispatched = true;
            self.position = seq;
            if self.subs.is_empty() {
                continue;
            }
            let mut candidates = std::mem::take(&mut self.scratch);
            candidates.clear();
            candidates.extend_from_slice(&self.unfiltered);
            for (id, ctx) in d.references() {
                if let Some(l) = self.index.entities.get(id) {
                    candidates.extend_from_slice(l);
                }
                if let Some(l) = ctx.and_then(|c| self.index.properties.get(c)) {
                    candidates.extend_from_slice(l);
                }
            }
            if let Some(l) = self.index.creators.get(d.creator()) {
                candidates.extend_from_slice(l);
            }
            if let Some(l) = self.index.hosts.get(d.host()) {
                candidates.extend_from_slice(l);
            }
            let mut encoded: [Option<Payload>; 3] = [None, None, None];
            for key in &candidates {
                let Some(sub) = self.subs.get_mut(key) else {
                    continue;
                };
                // `last` also dedupes a sub reached through two keys.
                if seq <= sub.last || !sub.filter.matches(d) {
                    continue;
                }
                let payload = encoded[format_slot(sub.format)]
                    .get_or_insert_with(|| encode(d, sub.format))
                    .clone();
                if sub.queue.push(seq, payload) {
                    sub.last = seq;
                    delivered += 1;
                } else {
                    sub.last = Seq::MAX;
                    overflowed.push(*key);
                }
            }
            self.scratch = candidates;
        }
        let m = metrics::global();
        if delivered > 0 {
            m.realtime_deliveries.inc_by(delivered);
        }
        if !overflowed.is_empty() {
            m.realtime_overflows.inc_by(overflowed.len() as u64);
        }
        for key in overflowed {
            self.remove(key);
            self.ended.insert(key);
        }
        if !dispatched && changed.is_some() {
            return;
        }
        match changed {
            Some(cs) => {
                for e in cs.entities() {
                    if let Some(keys) = self.watch_index.get(e) {
                        for k in keys {
                            if let Some((_, flag)) = self.watches.get(k) {
                                flag.set();
                            }
                        }
                    }
                }
            }
            None => {
                for (_, flag) in self.watches.values() {
                    flag.set();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, StorageKind};

    async fn node() -> Arc<Node> {
        let config = Config::new(StorageKind::Memory, "unused");
        Arc::new(Node::start(config).await.unwrap())
    }

    fn census(d: &Dispatcher) -> Census {
        Census {
            subs: d.subs.len(),
            watches: d.watches.len(),
            tombstones: d.tombstones.len(),
            ended: d.ended.len(),
        }
    }

    fn subscribe(key: u64, capacity: usize) -> (Command, Arc<SubQueue>) {
        let queue = Arc::new(SubQueue::new(capacity, Arc::new(Notify::new())));
        let cmd = Command::Subscribe {
            key,
            after: 0,
            filter: SubFilter::default(),
            format: Format::default(),
            queue: Arc::clone(&queue),
        };
        (cmd, queue)
    }

    #[tokio::test]
    async fn a_removal_that_overtakes_its_registration_leaves_a_tombstone_until_it_arrives() {
        let removals = Arc::new(Removals::new());
        let mut d = Dispatcher::new(node().await, 0, Arc::clone(&removals));
        // The removal of 7 arrives first: a tombstone.
        removals.push(7);
        d.take_removals();
        assert_eq!(census(&d).tombstones, 1);
        // Then its subscription: discarded, and the tombstone with it.
        d.command(subscribe(7, 4).0);
        let flag = Arc::new(WatchFlag::new(Arc::new(Notify::new())));
        removals.push(8);
        d.take_removals();
        d.command(Command::Watch {
            key: 8,
            entity: "e".into(),
            flag,
        });
        assert_eq!(census(&d), Census::default());
        // In order, a subscription is served until removed.
        d.command(subscribe(9, 4).0);
        assert_eq!(census(&d).subs, 1);
        removals.push(9);
        d.take_removals();
        assert_eq!(census(&d), Census::default());
    }

    #[tokio::test]
    async fn an_overflowed_subscription_is_remembered_until_its_registration_drops() {
        let removals = Arc::new(Removals::new());
        let mut d = Dispatcher::new(node().await, 0, Arc::clone(&removals));
        let (cmd, queue) = subscribe(3, 1);
        d.command(cmd);
        let deltas: Vec<Arc<Delta>> = (0..2)
            .map(|i| {
                Arc::new(
                    Delta::builder("alice", "h")
                        .set_property("e", "n", i)
                        .build()
                        .unwrap(),
                )
            })
            .collect();
        d.dispatch(
            deltas.iter().enumerate().map(|(i, d)| (i as Seq + 1, d)),
            None,
        );
        let mut out = Vec::new();
        assert_eq!(
            queue.drain(&mut out, 10),
            Some(End::Overflow { last_seq: 1 })
        );
        assert_eq!(
            census(&d),
            Census {
                ended: 1,
                ..Census::default()
            }
        );
        // The dispatcher removed it; the registration's removal must not
        // become a tombstone that nothing ever takes.
        removals.push(3);
        d.take_removals();
        assert_eq!(census(&d), Census::default());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn registrations_dropped_right_after_registering_leak_nothing() {
        let node = node().await;
        let hub = Arc::new(Hub::new(Arc::clone(&node), Shutdown::new()));
        let writer = {
            let node = Arc::clone(&node);
            tokio::spawn(async move {
                for i in 0..200 {
                    let d = Delta::builder("alice", "h")
                        .set_property("e0", "n", i)
                        .build()
                        .unwrap();
                    node.ingest(vec![d]).await.unwrap();
                }
            })
        };
        let mut tasks = Vec::new();
        for t in 0..8 {
            let hub = Arc::clone(&hub);
            tasks.push(tokio::spawn(async move {
                let wake = Arc::new(Notify::new());
                for i in 0..400 {
                    // A buffer of 1 unfiltered: the writes make some overflow.
                    let queue = Arc::new(SubQueue::new(1, Arc::clone(&wake)));
                    let filter = SubFilter::default();
                    let r = hub.subscribe(0, filter, Format::default(), queue).await;
                    if (i + t) % 3 == 0 {
                        tokio::task::yield_now().await;
                    }
                    drop(r);
                    let flag = Arc::new(WatchFlag::new(Arc::clone(&wake)));
                    let w = hub.watch(format!("e{}", i % 5).into(), flag).await;
                    drop(w);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        writer.await.unwrap();
        assert_eq!(hub.census().await, Census::default());
    }
}
