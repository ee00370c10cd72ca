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

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rhizome_crdt::codec::Format;
use rhizome_crdt::codec::json::JsonDelta;
use rhizome_crdt::{ChangeSet, Delta};
use std::sync::OnceLock;
use tokio::sync::broadcast::error::RecvError;

use tokio::sync::mpsc;

use super::Shutdown;
use super::filter::{IndexField, SubFilter};
use super::queue::{End, Payload, SubQueue, WatchFlag};
use crate::node::Node;
use crate::store::Seq;

/// Deltas the dispatcher reads from the log per call when filling a gap
/// or recovering from lag.
const LOG_PAGE: usize = 4096;

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
    Remove(u64),
}

/// The node's real-time hub: a handle on the dispatcher task, started on
/// first use. Cheap to share (`Arc<Hub>` in [`crate::http::AppState`]).
#[derive(Debug)]
pub struct Hub {
    node: Arc<Node>,
    shutdown: Shutdown,
    ctrl: OnceLock<mpsc::UnboundedSender<Command>>,
    next_key: AtomicU64,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Subscribe { key, after, .. } => write!(f, "Subscribe({key} after {after})"),
            Command::Watch { key, entity, .. } => write!(f, "Watch({key} {entity})"),
            Command::Remove(key) => write!(f, "Remove({key})"),
        }
    }
}

/// A registration with the dispatcher; dropping it removes it.
#[derive(Debug)]
pub struct Registration {
    key: u64,
    ctrl: Option<mpsc::UnboundedSender<Command>>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Some(ctrl) = &self.ctrl {
            let _ = ctrl.send(Command::Remove(self.key));
        }
    }
}

impl Hub {
    /// The hub of `node`; long-lived streams end when `shutdown` is raised.
    pub fn new(node: Arc<Node>, shutdown: Shutdown) -> Hub {
        Hub {
            node,
            shutdown,
            ctrl: OnceLock::new(),
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

    fn ctrl(&self) -> Option<mpsc::UnboundedSender<Command>> {
        if self.shutdown.is_raised() {
            return None;
        }
        // Called from handlers, inside the runtime: spawning is possible.
        let ctrl = self.ctrl.get_or_init(|| {
            let (tx, rx) = mpsc::unbounded_channel();
            // Subscribe before reading the position: every batch after it
            // arrives on the feed.
            let feed = self.node.subscribe();
            let position = self.node.last_seq();
            let d = Dispatcher {
                node: Arc::clone(&self.node),
                position,
                subs: HashMap::new(),
                index: Default::default(),
                unfiltered: Vec::new(),
                watches: HashMap::new(),
                watch_index: HashMap::new(),
                scratch: Vec::new(),
            };
            tokio::spawn(d.run(feed, rx, self.shutdown.clone()));
            tx
        });
        Some(ctrl.clone())
    }

    /// Registers a subscription whose client has seen every matching delta
    /// up to `after`: the dispatcher pushes every later matching delta, in
    /// order, into `queue`. `None` if the node is shutting down (the queue
    /// is then ended with [`End::Closed`]).
    pub fn subscribe(
        &self,
        after: Seq,
        filter: SubFilter,
        format: Format,
        queue: Arc<SubQueue>,
    ) -> Registration {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let ctrl = self.ctrl();
        let sent = ctrl.as_ref().is_some_and(|c| {
            c.send(Command::Subscribe {
                key,
                after,
                filter,
                format,
                queue: Arc::clone(&queue),
            })
            .is_ok()
        });
        if !sent {
            queue.end(End::Closed);
        }
        Registration { key, ctrl }
    }

    /// Registers a watch of `entity`: `flag` is set whenever a stored batch
    /// may have changed one of its views.
    pub fn watch(&self, entity: Arc<str>, flag: Arc<WatchFlag>) -> Registration {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        let ctrl = self.ctrl();
        if let Some(c) = &ctrl {
            let _ = c.send(Command::Watch { key, entity, flag });
        }
        Registration { key, ctrl }
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
    async fn run(
        mut self,
        mut feed: tokio::sync::broadcast::Receiver<Arc<crate::changes::StoredBatch>>,
        mut ctrl: mpsc::UnboundedReceiver<Command>,
        shutdown: Shutdown,
    ) {
        loop {
            tokio::select! {
                biased;
                () = shutdown.raised() => break,
                cmd = ctrl.recv() => match cmd {
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
        for sub in self.subs.values() {
            sub.queue.end(End::Closed);
        }
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
                let mut sub = Sub {
                    filter,
                    format,
                    queue,
                    last: after,
                };
                if after < self.position && !self.fill_gap(&mut sub) {
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
            }
            Command::Watch { key, entity, flag } => {
                self.watch_index
                    .entry(Arc::clone(&entity))
                    .or_default()
                    .push(key);
                self.watches.insert(key, (entity, flag));
            }
            Command::Remove(key) => self.remove(key),
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

    fn remove(&mut self, key: u64) {
        if let Some(sub) = self.subs.remove(&key) {
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
        } else if let Some((entity, _)) = self.watches.remove(&key)
            && let Some(list) = self.watch_index.get_mut(&entity)
        {
            list.retain(|s| *s != key);
            if list.is_empty() {
                self.watch_index.remove(&entity);
            }
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
                } else {
                    sub.last = Seq::MAX;
                    overflowed.push(*key);
                }
            }
            self.scratch = candidates;
        }
        for key in overflowed {
            self.remove(key);
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
