//! The sync layer over real iroh endpoints on 127.0.0.1 (relays off), with
//! in-memory replicas: gossip, reconciliation, allow-list, blocks.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use rhizome_crdt::{Delta, DeltaSet};
use rhizome_sync::SyncFilter;
use rhizome_sync::net::{BoxFuture, Replica, SyncNode, SyncSettings};

/// A replica over a `DeltaSet`, telling its sync node what it stored.
#[derive(Default)]
struct MemReplica {
    set: Mutex<DeltaSet>,
    sync: OnceLock<SyncNode>,
}

impl MemReplica {
    fn write(&self, deltas: Vec<Delta>, local: bool) -> usize {
        let stored: Vec<Arc<Delta>> = {
            let mut set = self.set.lock().unwrap();
            let mut stored = Vec::new();
            for d in deltas {
                let d = Arc::new(d);
                if let Ok(ins) = set.insert(Arc::clone(&d))
                    && !ins.accepted.is_empty()
                {
                    stored.push(d);
                }
            }
            stored
        };
        if let Some(sync) = self.sync.get() {
            sync.stored(&stored, local);
        }
        stored.len()
    }

    fn len(&self) -> usize {
        self.set.lock().unwrap().len()
    }

    fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .set
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.id().to_string())
            .collect();
        ids.sort();
        ids
    }
}

impl Replica for MemReplica {
    fn ingest(
        &self,
        _from: iroh::EndpointId,
        deltas: Vec<Delta>,
    ) -> BoxFuture<'_, Result<usize, String>> {
        Box::pin(async move { Ok(self.write(deltas, false)) })
    }

    fn get(&self, id: &str) -> Option<Arc<Delta>> {
        self.set.lock().unwrap().get(id).cloned()
    }

    fn for_each(&self, f: &mut dyn FnMut(&Arc<Delta>)) {
        for d in self.set.lock().unwrap().iter() {
            f(d);
        }
    }
}

struct TestNode {
    replica: Arc<MemReplica>,
    sync: SyncNode,
}

async fn node_with(peers: &[&TestNode], tweak: impl FnOnce(&mut SyncSettings)) -> TestNode {
    let replica = Arc::new(MemReplica::default());
    let mut settings = SyncSettings::new(iroh::SecretKey::generate());
    settings.peers = peers.iter().map(|p| p.sync.addr()).collect();
    settings.interval = Duration::from_secs(2);
    tweak(&mut settings);
    let sync = SyncNode::start(settings, Arc::clone(&replica) as Arc<dyn Replica>)
        .await
        .unwrap();
    let _ = replica.sync.set(sync.clone());
    TestNode { replica, sync }
}

async fn node(peers: &[&TestNode]) -> TestNode {
    node_with(peers, |_| {}).await
}

fn delta(creator: &str, i: usize) -> Delta {
    Delta::builder(creator, "h")
        .id(format!("{creator}-{i}"))
        .timestamp(1_700_000_000_000 + i as u64)
        .pointer(
            "entity",
            rhizome_crdt::Target::reference(format!("e{}", i % 10), "p"),
        )
        .pointer("value", i as i64)
        .build()
        .unwrap()
}

async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_deltas_reach_every_node_and_late_joiners_catch_up() {
    let a = node(&[]).await;
    let b = node(&[&a]).await;
    let c = node(&[&a]).await;
    // Writes on every node.
    for (n, name) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        n.replica
            .write((0..200).map(|i| delta(name, i)).collect(), true);
    }
    eventually("convergence", Duration::from_secs(20), || {
        [&a, &b, &c].iter().all(|n| n.replica.len() == 600)
    })
    .await;
    assert_eq!(a.replica.ids(), b.replica.ids());
    assert_eq!(a.replica.ids(), c.replica.ids());
    // A late joiner that knows only c gets everything.
    let d = node(&[&c]).await;
    eventually("late joiner", Duration::from_secs(20), || {
        d.replica.len() == 600
    })
    .await;
    for n in [&a, &b, &c, &d] {
        n.sync.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconciliation_moves_exactly_the_difference() {
    let a = node(&[]).await;
    let b = node_with(&[], |s| s.interval = Duration::from_secs(3600)).await;
    a.replica
        .write((0..5000).map(|i| delta("x", i)).collect(), false);
    b.replica
        .write((0..5000).map(|i| delta("x", i)).collect(), false);
    a.replica
        .write((5000..5100).map(|i| delta("x", i)).collect(), false);
    b.replica
        .write((0..7).map(|i| delta("y", i)).collect(), false);
    let report = b.sync.sync_with(a.sync.addr()).await.unwrap();
    assert_eq!(report.deltas_sent, 7, "{report:?}");
    assert_eq!(report.deltas_received, 100, "{report:?}");
    assert_eq!(report.deltas_new, 100, "{report:?}");
    assert_eq!(a.replica.len(), 5107);
    assert_eq!(b.replica.len(), 5107);
    // Again: nothing moves, one round trip.
    let report = b.sync.sync_with(a.sync.addr()).await.unwrap();
    assert_eq!(
        (report.deltas_sent, report.deltas_received),
        (0, 0),
        "{report:?}"
    );
    assert!(report.rounds <= 1, "{report:?}");
    a.sync.shutdown().await;
    b.sync.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_started_by_both_sides_at_once_move_the_difference_once() {
    let quiet = |s: &mut SyncSettings| s.interval = Duration::from_secs(3600);
    let a = node_with(&[], quiet).await;
    let b = node_with(&[], quiet).await;
    a.replica
        .write((0..20_000).map(|i| delta("a", i)).collect(), false);
    b.replica
        .write((0..50).map(|i| delta("b", i)).collect(), false);
    for round in 0..3 {
        let (from_a, from_b) = tokio::join!(
            a.sync.sync_with(b.sync.addr()),
            b.sync.sync_with(a.sync.addr())
        );
        let (from_a, from_b) = (from_a.unwrap(), from_b.unwrap());
        // What A sent in its own run plus what B received in its own: each
        // missing delta once, whichever run went on (the other, refused as
        // crossed, ran again afterwards and found nothing).
        let moved_to_b = from_a.deltas_sent + from_b.deltas_received;
        let moved_to_a = from_b.deltas_sent + from_a.deltas_received;
        let expected = if round == 0 { (20_000, 50) } else { (0, 0) };
        assert_eq!((moved_to_b, moved_to_a), expected, "{from_a:?} {from_b:?}");
    }
    assert_eq!(a.replica.ids(), b.replica.ids());
    a.sync.shutdown().await;
    b.sync.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_does_not_keep_its_peer_claimed() {
    let quiet = |s: &mut SyncSettings| s.interval = Duration::from_secs(3600);
    let a = node_with(&[], quiet).await;
    let b = node_with(&[], quiet).await;
    a.replica
        .write((0..20_000).map(|i| delta("a", i)).collect(), false);
    // Dropped while it runs: the run's claim on the peer goes with it.
    let cancelled =
        tokio::time::timeout(Duration::from_millis(1), b.sync.sync_with(a.sync.addr())).await;
    assert!(
        cancelled.is_err(),
        "the run ended within 1 ms: {cancelled:?}"
    );
    // Otherwise this would wait out its patience and fail as crossed.
    b.sync.sync_with(a.sync.addr()).await.unwrap();
    assert_eq!(b.replica.len(), 20_000);
    a.sync.shutdown().await;
    b.sync.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_allow_list_refuses_a_stranger() {
    let friend_key = iroh::SecretKey::generate();
    let friend_id = friend_key.public();
    let a = node_with(&[], |s| s.allow = Some([friend_id].into())).await;
    a.replica.write(vec![delta("a", 1)], true);
    let stranger = node(&[&a]).await;
    let err = stranger.sync.sync_with(a.sync.addr()).await;
    assert!(err.is_err(), "{err:?}");
    let friend = node_with(&[&a], |s| s.secret_key = friend_key).await;
    friend.sync.sync_with(a.sync.addr()).await.unwrap();
    assert_eq!(friend.replica.len(), 1);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(stranger.replica.len(), 0);
    assert!(a.sync.guard().refused() >= 1);
    for n in [&a, &stranger, &friend] {
        n.sync.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_replication_exchanges_only_matching_deltas() {
    let a = node(&[]).await;
    let b = node_with(&[], |s| {
        s.filter = SyncFilter::default().with_creators(["wanted"]);
        s.interval = Duration::from_secs(3600);
    })
    .await;
    a.replica
        .write((0..50).map(|i| delta("wanted", i)).collect(), false);
    a.replica
        .write((0..50).map(|i| delta("other", i)).collect(), false);
    let report = b.sync.sync_with(a.sync.addr()).await.unwrap();
    assert_eq!(report.deltas_new, 50, "{report:?}");
    assert!(b.replica.ids().iter().all(|id| id.starts_with("wanted-")));
    // The filtered trees are kept and follow new deltas on both sides.
    a.replica
        .write((50..60).map(|i| delta("wanted", i)).collect(), false);
    a.replica
        .write((50..60).map(|i| delta("other", i)).collect(), false);
    b.replica
        .write((100..103).map(|i| delta("wanted", i)).collect(), false);
    let report = b.sync.sync_with(a.sync.addr()).await.unwrap();
    assert_eq!(
        (report.deltas_new, report.deltas_sent),
        (10, 3),
        "{report:?}"
    );
    assert_eq!(a.replica.len(), 123);
    assert_eq!(b.replica.len(), 63);
    let report = b.sync.sync_with(a.sync.addr()).await.unwrap();
    assert_eq!(
        (report.deltas_received, report.deltas_sent),
        (0, 0),
        "{report:?}"
    );
    a.sync.shutdown().await;
    b.sync.shutdown().await;
}
