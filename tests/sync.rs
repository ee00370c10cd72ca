//! Sync between whole nodes (issue 7): disk stores in temp dirs, real iroh
//! endpoints on 127.0.0.1, relays off (the defaults). In-process nodes for
//! convergence, partitions, restarts, late joiners, duplicates, the
//! allow-list and gossip at its size limit; three real `rhizome start`
//! processes for the black-box test over HTTP.
//!
//! Every wait is bounded (`eventually`, 30–60 s, polling every 50 ms) and
//! nothing asserts on speed.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rhizome::config::{Config, StorageKind};
use rhizome::node::Node;
use rhizome::replication;
use rhizome_crdt::{Delta, StrategyRegistry, Target, View, ViewOptions};
use rhizome_sync::net::{PeerInfo, PeerStatus, SyncNode, SyncSettings, live};
use serde_json::{Value, json};

// ---------------------------------------------------------------- helpers

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Arc<TempDir> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rhizome-sync-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Arc::new(TempDir(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One in-process node with sync: a disk store and its endpoint.
struct Member {
    dir: Arc<TempDir>,
    node: Arc<Node>,
    sync: SyncNode,
}

/// Starts a node on `dir` that is given `peers`, with a 1 s reconciliation
/// interval unless `tweak` says otherwise.
async fn member_on(
    dir: Arc<TempDir>,
    peers: &[&Member],
    tweak: impl FnOnce(&mut SyncSettings),
) -> Member {
    let node = Arc::new(
        Node::start(Config::new(StorageKind::Disk, dir.path()))
            .await
            .unwrap(),
    );
    let mut settings = replication::settings(&node).unwrap();
    settings.peers = peers.iter().map(|p| p.sync.addr()).collect();
    settings.interval = Duration::from_secs(1);
    tweak(&mut settings);
    let sync = replication::start_with(&node, settings).await.unwrap();
    assert_eq!(sync.id().to_string(), node.node_id());
    Member { dir, node, sync }
}

async fn member(name: &str, peers: &[&Member]) -> Member {
    member_on(TempDir::new(name), peers, |_| {}).await
}

impl Member {
    async fn stop(&self) {
        self.sync.shutdown().await;
        self.node.shutdown().await.unwrap();
    }

    async fn write(&self, deltas: Vec<Delta>) {
        let n = deltas.len();
        let ingested = self.node.ingest(deltas).await.unwrap();
        assert_eq!(ingested.accepted.len(), n);
    }

    fn has(&self, id: &str) -> bool {
        self.node.get(id).is_some()
    }

    /// The stored deltas as sorted `(id, content hash)` pairs.
    fn fingerprint(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = self.node.read(|s| {
            s.index
                .iter()
                .map(|d| (d.id().to_string(), d.content_hash().to_string()))
                .collect()
        });
        all.sort();
        all
    }

    /// The views of `entities` now (default strategies).
    fn views(&self, entities: &[&str]) -> Vec<Option<View>> {
        let options = ViewOptions::default();
        let resolver = options.resolver(&StrategyRegistry::default()).unwrap();
        entities
            .iter()
            .map(|e| {
                self.node
                    .live_view(e, None, &options, &resolver)
                    .unwrap()
                    .map(|v| (*v).clone())
            })
            .collect()
    }

    fn peer(&self, other: &Member) -> Option<PeerInfo> {
        let id = other.node.node_id();
        self.sync.peers().into_iter().find(|p| p.node_id == id)
    }

    /// Completed reconciliation runs with every peer (either side started).
    fn syncs(&self) -> u64 {
        self.sync.peers().iter().map(|p| p.syncs).sum()
    }
}

const T0: u64 = 1_700_000_000_000;

/// `creator` sets `entity.property = value` at `T0 + t`; id `creator-t`.
fn set(creator: &str, t: u64, entity: &str, property: &str, value: impl Into<Target>) -> Delta {
    Delta::builder(creator, "h")
        .id(format!("{creator}-{t}"))
        .timestamp(T0 + t)
        .set_property(entity, property, value)
        .build()
        .unwrap()
}

/// `count` writes by `creator` over entities `e0..e4`, properties `name` and
/// `score`, at times interleaved with other creators'.
fn writes(creator: &str, from: u64, count: u64) -> Vec<Delta> {
    (from..from + count)
        .map(|i| {
            let entity = format!("e{}", i % 5);
            if i % 2 == 0 {
                set(creator, i, &entity, "name", format!("{creator} {i}"))
            } else {
                set(creator, i, &entity, "score", i as i64)
            }
        })
        .collect()
}

const ENTITIES: [&str; 6] = ["e0", "e1", "e2", "e3", "e4", "doc"];

async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every member holds `count` deltas, then asserts they hold
/// the same deltas (ids and content) and resolve the same views.
async fn assert_converged(members: &[&Member], count: usize) {
    eventually(
        &format!("{count} deltas on every node"),
        Duration::from_secs(30),
        || {
            members
                .iter()
                .all(|m| m.node.len() == count && m.sync.indexed() == count)
        },
    )
    .await;
    let first = members[0].fingerprint();
    assert_eq!(first.len(), count);
    let views = members[0].views(&ENTITIES);
    for m in &members[1..] {
        assert_eq!(m.fingerprint(), first, "the delta sets differ");
        assert_eq!(m.views(&ENTITIES), views, "the views differ");
    }
}

async fn stop_all(members: &[&Member]) {
    for m in members {
        m.stop().await;
    }
}

// ------------------------------------------------------ in-process nodes

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_on_every_node_converge_and_a_late_joiner_gets_everything() {
    // A chain: each node is given only the previous one; gossip finds the rest.
    let a = member("conv-a", &[]).await;
    let b = member("conv-b", &[&a]).await;
    let c = member("conv-c", &[&b]).await;
    let d = member("conv-d", &[&c]).await;
    let all = [&a, &b, &c, &d];
    for (m, name) in all.iter().zip(["alice", "bob", "carol", "dave"]) {
        m.write(writes(name, 0, 100)).await;
    }
    assert_converged(&all, 400).await;
    // Same-time writes by different creators: the views still agree, and
    // they are not empty.
    let views = a.views(&ENTITIES);
    assert!(
        views[..5]
            .iter()
            .all(|v| v.as_ref().is_some_and(|v| v.properties.len() == 2))
    );

    // A late joiner given only one peer gets everything.
    let e = member("conv-e", &[&d]).await;
    assert_converged(&[&a, &b, &c, &d, &e], 400).await;
    // And what it writes reaches the others.
    e.write(writes("erin", 0, 10)).await;
    assert_converged(&[&a, &b, &c, &d, &e], 410).await;
    stop_all(&[&a, &b, &c, &d, &e]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_heals_into_identical_sets_and_views() {
    let a = member("part-a", &[]).await;
    let b = member("part-b", &[&a]).await;
    let c = member("part-c", &[&a]).await;
    let d = member("part-d", &[&c]).await;
    let all = [&a, &b, &c, &d];
    a.write(vec![
        set("alice", 1, "doc", "title", "v0"),
        set("alice", 2, "doc", "tag", "draft"),
    ])
    .await;
    assert_converged(&all, 2).await;

    // Partition {a, b} | {c, d}: blocked on both sides.
    for (left, right) in [(&a, &c), (&a, &d), (&b, &c), (&b, &d)] {
        left.sync.guard().block(right.sync.id());
        right.sync.guard().block(left.sync.id());
    }
    // Left: a new title and a negation of a delta both sides hold.
    let negation = Delta::builder("alice", "h")
        .id("alice-neg-tag")
        .timestamp(T0 + 10)
        .negate("alice-2")
        .build()
        .unwrap();
    a.write(vec![set("alice", 11, "doc", "title", "left"), negation])
        .await;
    b.write(writes("bob", 100, 20)).await;
    // Right: a body, and a transaction written whole on d.
    c.write(vec![set("carol", 12, "doc", "body", "right")])
        .await;
    let tx = vec![
        Delta::builder("dave", "h")
            .id("dave-tx")
            .timestamp(T0 + 13)
            .declare_transaction("tx1", 2)
            .build()
            .unwrap(),
        Delta::builder("dave", "h")
            .id("dave-tx-1")
            .timestamp(T0 + 14)
            .in_transaction("tx1")
            .set_property("doc", "status", "done")
            .build()
            .unwrap(),
        Delta::builder("dave", "h")
            .id("dave-tx-2")
            .timestamp(T0 + 15)
            .in_transaction("tx1")
            .set_property("doc", "owner", "dana")
            .build()
            .unwrap(),
    ];
    d.write(tx).await;

    // Each side converges on its own, and only on its own.
    assert_converged(&[&a, &b], 2 + 2 + 20).await;
    assert_converged(&[&c, &d], 2 + 1 + 3).await;
    // Longer than the reconciliation interval: still apart.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for m in [&a, &b] {
        assert_eq!(m.node.len(), 24);
        assert!(!m.has("carol-12") && !m.has("dave-tx-1"));
    }
    for m in [&c, &d] {
        assert_eq!(m.node.len(), 6);
        assert!(!m.has("alice-11") && !m.has("alice-neg-tag"));
    }
    let left = a.views(&["doc"]).remove(0).unwrap();
    let right = c.views(&["doc"]).remove(0).unwrap();
    assert_ne!(left, right, "the sides diverged");
    assert!(left.get("tag").is_none() && right.get("tag").is_some());

    // Heal.
    for (left, right) in [(&a, &c), (&a, &d), (&b, &c), (&b, &d)] {
        left.sync.guard().unblock(&right.sync.id());
        right.sync.guard().unblock(&left.sync.id());
    }
    assert_converged(&all, 2 + 2 + 20 + 1 + 3).await;
    let doc = a.views(&["doc"]).remove(0).unwrap();
    let text = |p: &str| doc.get(p).map(|v| serde_json::to_value(v).unwrap());
    assert_eq!(text("title"), Some(json!("left")));
    assert_eq!(text("body"), Some(json!("right")));
    assert_eq!(text("status"), Some(json!("done")));
    assert_eq!(text("owner"), Some(json!("dana")));
    assert_eq!(text("tag"), None, "the negation holds everywhere");
    stop_all(&all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_catches_up_on_10000_deltas() {
    let a = member("restart-a", &[]).await;
    let b = member("restart-b", &[&a]).await;
    let c = member("restart-c", &[&a, &b]).await;
    for (m, name) in [(&a, "alice"), (&b, "bob"), (&c, "carol")] {
        m.write(writes(name, 0, 10)).await;
    }
    assert_converged(&[&a, &b, &c], 30).await;

    let id = c.node.node_id().to_owned();
    let dir = Arc::clone(&c.dir);
    c.stop().await;
    drop(c);
    // What it kept, and its id, without sync.
    let stopped = Node::start(Config::new(StorageKind::Disk, dir.path()))
        .await
        .unwrap();
    assert_eq!((stopped.node_id(), stopped.len()), (id.as_str(), 30));
    stopped.shutdown().await.unwrap();
    // 10,000 deltas elsewhere, in batches of 1,000, on both remaining nodes.
    for batch in 0..10u64 {
        let (m, name) = if batch % 2 == 0 {
            (&a, "alice")
        } else {
            (&b, "bob")
        };
        m.write(writes(name, 1_000 + batch * 1_000, 1_000)).await;
    }
    assert_converged(&[&a, &b], 10_030).await;

    // Back on the same data dir: same node id, same peers.
    let c = member_on(dir, &[&a, &b], |_| {}).await;
    assert_eq!(c.node.node_id(), id);
    assert_converged(&[&a, &b, &c], 10_030).await;
    stop_all(&[&a, &b, &c]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_deliveries_change_nothing() {
    let a = member("dup-a", &[]).await;
    let b = member("dup-b", &[&a]).await;
    let c = member("dup-c", &[&b]).await;
    let all = [&a, &b, &c];
    let a_writes = writes("alice", 0, 50);
    a.write(a_writes.clone()).await;
    c.write(writes("carol", 0, 50)).await;
    assert_converged(&all, 100).await;
    let before: Vec<(u64, usize)> = all
        .iter()
        .map(|m| (m.node.last_seq(), m.node.len()))
        .collect();

    for _ in 0..3 {
        for (from, to) in [(&a, &b), (&b, &c), (&c, &a)] {
            let report = from.sync.sync_with(to.sync.addr()).await.unwrap();
            assert_eq!(report.deltas_new, 0, "{report:?}");
            assert_eq!(report.deltas_sent, 0, "{report:?}");
            assert_eq!(report.deltas_received, 0, "{report:?}");
        }
    }
    // The same deltas again, through the node: all duplicates, on the node
    // that wrote them and on the ones that received them.
    for m in all {
        let again = m.node.ingest(a_writes.clone()).await.unwrap();
        assert!(again.accepted.is_empty(), "{again:?}");
        assert_eq!(again.duplicates.len(), a_writes.len());
    }
    // Let periodic runs pass too.
    let syncs = a.syncs();
    eventually("another periodic run", Duration::from_secs(30), || {
        a.syncs() > syncs
    })
    .await;
    let after: Vec<(u64, usize)> = all
        .iter()
        .map(|m| (m.node.last_seq(), m.node.len()))
        .collect();
    assert_eq!(after, before);
    assert_converged(&all, 100).await;
    stop_all(&all).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_refuses_a_stranger() {
    // The friend's node exists first: its id is what the allow-list holds.
    let friend_dir = TempDir::new("allow-b");
    let friend_id = {
        let node = Node::start(Config::new(StorageKind::Disk, friend_dir.path()))
            .await
            .unwrap();
        let id = node.secret_key().public();
        node.shutdown().await.unwrap();
        id
    };
    let a = member_on(TempDir::new("allow-a"), &[], |s| {
        s.allow = Some([friend_id].into());
    })
    .await;
    a.write(writes("alice", 0, 20)).await;
    let b = member_on(friend_dir, &[&a], |_| {}).await;
    assert_eq!(b.sync.id(), friend_id);
    let c = member("allow-c", &[&a]).await;
    b.write(writes("bob", 0, 5)).await;
    c.write(writes("carol", 0, 5)).await;

    assert_converged(&[&a, &b], 25).await;
    let err = c.sync.sync_with(a.sync.addr()).await;
    assert!(err.is_err(), "{err:?}");
    assert!(a.sync.guard().refused() >= 1);
    // Longer than the interval: the stranger still has only its own, and
    // the others never got its deltas.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(c.node.len(), 5);
    assert!(!a.has("carol-0") && !b.has("carol-0"));
    let seen = c.peer(&a).expect("the stranger knows a");
    assert_eq!(seen.status, PeerStatus::Unreachable, "{seen:?}");
    assert!(seen.sync_failures >= 1 && seen.syncs == 0, "{seen:?}");
    assert!(seen.last_error.is_some(), "{seen:?}");
    stop_all(&[&a, &b, &c]).await;
}

/// A delta by `creator` whose payload does not compress (so its size on
/// the wire is its size) and whose gossip frame is `frame` bytes, give or
/// take a byte or two (the origin's epoch is random, its varint length
/// varies).
/// An origin that does not compress, like a real node id.
const ORIGIN: [u8; 32] = *b"\x93\x1f\xc4\x07\x5a\xe2\x38\xb9\x61\x0d\xf7\x4c\x82\x2e\xa5\x16\xdb\x70\x39\xce\x04\x9b\x6f\xe8\x53\x11\xbd\x2a\x97\xc6\x48\x75";

fn delta_with_frame(creator: &str, t: u64, frame: usize) -> Delta {
    let make = |len: usize| {
        let payload: String = (0..len as u32)
            .map(|i| {
                let h = blake3::hash(
                    &[creator.as_bytes(), &t.to_le_bytes(), &i.to_le_bytes()].concat(),
                );
                char::from(b'a' + h.as_bytes()[0] % 26)
            })
            .collect();
        set(creator, t, "blob", "data", payload)
    };
    let frame_of = |d: &Delta| {
        let (messages, skipped) =
            live::Sequencer::new(ORIGIN).pack(&[Arc::new(d.clone())], 1 << 20);
        assert_eq!(skipped, 0);
        messages[0].len()
    };
    let mut len = frame.saturating_sub(200);
    loop {
        let d = make(len);
        if frame_of(&d) >= frame {
            return d;
        }
        len += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_at_its_size_limit_delivers_everything() {
    const LIMIT: usize = 1024;
    let slow = |s: &mut SyncSettings| {
        s.gossip_max_message = LIMIT;
        s.interval = Duration::from_secs(3600);
    };
    let a = member_on(TempDir::new("limit-a"), &[], slow).await;
    let b = member_on(TempDir::new("limit-b"), &[&a], slow).await;
    // Initial sync: neighbours, and the runs that meeting starts are over.
    eventually("a and b as neighbours", Duration::from_secs(30), || {
        a.peer(&b)
            .is_some_and(|p| p.status == PeerStatus::Connected && p.syncs >= 1)
            && b.peer(&a)
                .is_some_and(|p| p.status == PeerStatus::Connected && p.syncs >= 1)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let runs = (a.syncs(), b.syncs());

    // Just under the limit: by gossip alone, one delta per message.
    let max = live::max_frame(LIMIT);
    let under = [
        delta_with_frame("alice", 1, max - 60),
        delta_with_frame("alice", 2, max - 16),
    ];
    for d in &under {
        let id = d.id().to_string();
        a.write(vec![d.clone()]).await;
        eventually(
            &format!(
                "{id} by gossip ({} bytes)",
                rhizome_crdt::codec::binary::encode(d).len()
            ),
            Duration::from_secs(30),
            || b.has(&id),
        )
        .await;
    }
    assert_eq!(b.sync.metrics().gossip_gaps.get(), 0);
    assert_eq!(a.sync.metrics().broadcast_skipped.get(), 0);
    assert_eq!((a.syncs(), b.syncs()), runs, "no reconciliation ran");

    // Over the limit: not broadcast, whether it would fit in a gossip
    // message without gossip's framing (the first) or not at all (the
    // second); the next message shows the gap and b reconciles with a.
    let over = [
        delta_with_frame("alice", 3, max + 16),
        delta_with_frame("alice", 4, LIMIT + 100),
    ];
    assert!(rhizome_crdt::codec::binary::encode(&over[1]).len() > LIMIT);
    a.write(vec![over[0].clone()]).await;
    a.write(vec![over[1].clone()]).await;
    a.write(vec![set("alice", 5, "doc", "title", "after")])
        .await;
    assert_converged(&[&a, &b], 5).await;
    assert!(a.sync.metrics().broadcast_skipped.get() >= 2);
    assert!(b.sync.metrics().gossip_gaps.get() >= 1);
    assert!(b.syncs() > runs.1, "a reconciliation carried the big ones");
    stop_all(&[&a, &b]).await;
}

// -------------------------------------------------------------- black box

/// A `rhizome start` process, killed if still running when dropped (a
/// failed assertion leaks nothing).
struct Process {
    child: Child,
    http: SocketAddr,
    node_id: String,
    sync: String,
    _dir: Arc<TempDir>,
}

impl Process {
    fn start(name: &str, peers: &[&Process]) -> Process {
        let dir = TempDir::new(name);
        let peers: Vec<String> = peers
            .iter()
            .map(|p| format!("{}@{}", p.node_id, p.sync))
            .collect();
        let mut child = Command::new(env!("CARGO_BIN_EXE_rhizome"))
            .arg("start")
            .env("RHIZOME_HTTP_PORT", "0")
            .env("RHIZOME_STORAGE", "disk")
            .env("RHIZOME_DATA_DIR", dir.path())
            .env("RHIZOME_PEERS", peers.join(","))
            .env("RHIZOME_SYNC_INTERVAL", "1")
            .env("RHIZOME_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                // Read to the end even when nobody listens: the node's
                // last line must not meet a closed pipe.
                let _ = tx.send(line);
            }
        });
        // Own the child before anything can fail.
        let mut process = Process {
            child,
            http: "127.0.0.1:0".parse().unwrap(),
            node_id: String::new(),
            sync: String::new(),
            _dir: dir,
        };
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("a start line");
        // rhizome listening http=ADDR:PORT node=NODE_ID sync=IP:PORT
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {line:?}"))
                .to_owned()
        };
        assert!(line.starts_with("rhizome listening "), "{line}");
        process.http = field("http=").parse().unwrap();
        process.node_id = field("node=");
        process.sync = field("sync=");
        process
    }

    /// SIGTERM, then waits for a clean exit.
    fn stop(mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child, which has not been reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "{status}");
                return;
            }
            assert!(Instant::now() < deadline, "the node did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Every delta id the node stores, through the changes feed.
    fn ids(&self) -> Vec<String> {
        let mut ids = Vec::new();
        let mut since = 0;
        loop {
            let page =
                common::get(self.http, &format!("/api/deltas?since={since}&limit=1000")).ok(200);
            let deltas = page["deltas"].as_array().unwrap();
            if deltas.is_empty() {
                break;
            }
            ids.extend(deltas.iter().map(|d| d["id"].as_str().unwrap().to_owned()));
            since = page["last_seq"].as_u64().unwrap();
        }
        ids.sort();
        ids
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn wait_until(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn three_processes_converge_over_http() {
    let one = Process::start("bb-1", &[]);
    let two = Process::start("bb-2", &[&one]);
    let three = Process::start("bb-3", &[&one, &two]);
    let all = [&one, &two, &three];
    let mut want = Vec::new();
    for (n, p) in all.iter().enumerate() {
        let deltas: Vec<Value> = (0..20)
            .map(|i| {
                let id = format!("p{n}-{i}");
                want.push(id.clone());
                json!({
                    "id": id, "timeCreated": T0 + i, "host": "h", "creator": format!("c{n}"),
                    "pointers": [
                        {"localContext": "entity", "target": format!("e{}", i % 3), "targetContext": "v"},
                        {"localContext": "v", "target": i}
                    ]
                })
            })
            .collect();
        let reply = common::post(p.http, "/api/deltas", &json!(deltas)).ok(201);
        assert_eq!(reply["accepted"].as_array().unwrap().len(), 20);
    }
    want.sort();
    wait_until(
        "the same 60 deltas on all three",
        Duration::from_secs(60),
        || all.iter().all(|p| p.ids() == want),
    );
    for p in all {
        let count = common::get(p.http, "/api/deltas/count").ok(200);
        assert_eq!(count["count"], 60);
        let view = common::get(p.http, "/api/view/e0").ok(200);
        assert_eq!(view, common::get(one.http, "/api/view/e0").ok(200));
        assert!(view["properties"]["v"].is_number(), "{view}");
    }

    // GET /api/peers as API.md says.
    for p in all {
        let others: Vec<&str> = all
            .iter()
            .filter(|o| o.node_id != p.node_id)
            .map(|o| o.node_id.as_str())
            .collect();
        // Every other node's deltas came from a peer (counted once, when
        // new; the counters follow the store by a moment).
        let received = |body: &Value| -> u64 {
            body["peers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|q| q["deltas_received"].as_u64().unwrap())
                .sum()
        };
        wait_until(
            "both others among the peers, 40 deltas received",
            Duration::from_secs(30),
            || {
                let body = common::get(p.http, "/api/peers").ok(200);
                let peers = body["peers"].as_array().unwrap();
                others
                    .iter()
                    .all(|o| peers.iter().any(|q| q["node_id"] == *o))
                    && received(&body) == 40
            },
        );
        let body = common::get(p.http, "/api/peers").ok(200);
        assert_eq!(body["self"]["node_id"], p.node_id.as_str());
        let addrs: Vec<&str> = body["self"]["addrs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(addrs.contains(&p.sync.as_str()), "{body}");
        let ticket =
            rhizome_sync::net::parse_peer(body["self"]["ticket"].as_str().unwrap()).unwrap();
        assert_eq!(ticket.id.to_string(), p.node_id);
        for peer in body["peers"].as_array().unwrap() {
            assert!(peer["node_id"].is_string(), "{peer}");
            let status = peer["status"].as_str().unwrap();
            assert!(
                ["connected", "disconnected", "unreachable", "refused"].contains(&status),
                "{peer}"
            );
            assert!(peer["deltas_sent"].is_u64(), "{peer}");
            assert!(peer["deltas_received"].is_u64(), "{peer}");
            assert!(
                peer["last_seen"].is_u64() || peer["last_seen"].is_null(),
                "{peer}"
            );
        }
        assert_eq!(received(&body), 40, "{body}");
    }
    let metrics = String::from_utf8(common::get(one.http, "/metrics").body).unwrap();
    assert!(metrics.contains("rhizome_sync_runs_total"), "{metrics}");

    three.stop();
    two.stop();
    one.stop();
}
