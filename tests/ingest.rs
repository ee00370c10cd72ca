//! Ingest through a real node: all-or-nothing batches, duplicates and
//! conflicts, sequence numbers across restarts, concurrent writers, the feed.

use std::path::PathBuf;
use std::sync::Arc;

use proptest::prelude::*;
use rhizome::Error;
use rhizome::changes::FeedFilter;
use rhizome::config::{Config, StorageKind};
use rhizome::node::Node;
use rhizome_crdt::workload::Workload;
use rhizome_crdt::{Delta, DeltaId, Pointer, Timestamp};

fn tempdir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rhizome-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn delta(id: &str, v: i64) -> Delta {
    Delta::new(
        DeltaId::new(id).unwrap(),
        Timestamp::new(1_700_000_000_000).unwrap(),
        "h",
        "c",
        vec![Pointer::new("v", v)],
    )
    .unwrap()
}

async fn both(test: impl AsyncFn(Node)) {
    test(
        Node::start(Config::new(StorageKind::Memory, "unused"))
            .await
            .unwrap(),
    )
    .await;
    let dir = tempdir(&format!("both-{:?}", std::thread::current().id()));
    test(
        Node::start(Config::new(StorageKind::Disk, &dir))
            .await
            .unwrap(),
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_conflict_at_index_57_stores_nothing_of_the_batch() {
    both(async |node| {
        node.ingest(vec![delta("taken", 1)]).await.unwrap();
        let mut batch: Vec<Delta> = (0..100).map(|i| Workload::seeded(5).delta(i)).collect();
        batch[57] = delta("taken", 2);
        match node.ingest(batch).await {
            Err(Error::Conflict { index: 57, id }) => assert_eq!(id.as_str(), "taken"),
            other => panic!("expected a conflict at 57, got {other:?}"),
        }
        assert_eq!(node.len(), 1);
        assert_eq!(node.last_seq(), 1);
        assert!(node.get(Workload::seeded(5).id(0).as_str()).is_none());

        // Within the batch: the later one is named.
        let batch = vec![delta("x", 1), delta("y", 1), delta("x", 2)];
        let err = node.ingest(batch).await.unwrap_err();
        assert!(matches!(err, Error::Conflict { index: 2, .. }), "{err}");
        assert!(err.to_string().contains("deltas[2]"), "{err}");
        assert!(node.get("x").is_none() && node.get("y").is_none());
        node.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn duplicates_are_reported_not_stored_again() {
    both(async |node| {
        let first = node
            .ingest(vec![delta("a", 1), delta("b", 1)])
            .await
            .unwrap();
        assert_eq!(first.accepted.len(), 2);
        let again = node
            .ingest(vec![delta("b", 1), delta("c", 1), delta("c", 1)])
            .await
            .unwrap();
        let ids = |v: &[DeltaId]| v.iter().map(|i| i.to_string()).collect::<Vec<_>>();
        assert_eq!(ids(&again.accepted), ["c"]);
        assert_eq!(ids(&again.duplicates), ["b", "c"]);
        assert_eq!(node.len(), 3);
        assert_eq!(node.last_seq(), 3);
        node.shutdown().await.unwrap();
        assert!(matches!(
            node.ingest(vec![delta("z", 1)]).await,
            Err(Error::ShuttingDown)
        ));
    })
    .await;
}

#[tokio::test]
async fn sequence_numbers_are_gap_free_across_restarts() {
    let dir = tempdir("restart");
    let config = Config::new(StorageKind::Disk, &dir);
    let mut expected = Vec::new();
    for round in 0..3u64 {
        let node = Node::start(config.clone()).await.unwrap();
        assert_eq!(node.len(), expected.len());
        let batch: Vec<Delta> = (0..50).map(|i| Workload::seeded(round).delta(i)).collect();
        expected.extend(batch.iter().map(|d| d.id().to_string()));
        // A duplicate of an earlier round is not a new sequence number.
        let mut with_dup = batch.clone();
        if round > 0 {
            with_dup.push(Workload::seeded(0).delta(3));
        }
        node.ingest(with_dup).await.unwrap();
        node.shutdown().await.unwrap();
    }
    let node = Node::start(config).await.unwrap();
    let page = node.changes(0, 10_000, &FeedFilter::default());
    let seqs: Vec<u64> = page.deltas.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (1..=150).collect::<Vec<_>>());
    let ids: Vec<String> = page
        .deltas
        .iter()
        .map(|(_, d)| d.id().to_string())
        .collect();
    assert_eq!(ids, expected);
    assert_eq!(page.last_seq, 150);
    node.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_ingest_from_many_tasks() {
    both(async |node| {
        let mut feed = node.subscribe();
        let mut tasks = Vec::new();
        for t in 0..40u64 {
            let node = node.clone();
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0..25u64 {
                    // Tasks overlap pairwise: half of each batch races with
                    // another task, with identical content (duplicates).
                    let batch = vec![
                        Workload::seeded(7).delta(t * 100 + i),
                        Workload::seeded(7).delta((t / 2) * 100 + 5000 + i),
                    ];
                    let r = node.ingest(batch).await.unwrap();
                    acked.extend(r.accepted);
                }
                acked
            }));
        }
        let mut accepted = Vec::new();
        for t in tasks {
            accepted.extend(t.await.unwrap());
        }
        // Each racing id was accepted exactly once.
        let unique: std::collections::HashSet<_> = accepted.iter().collect();
        assert_eq!(unique.len(), accepted.len());
        assert_eq!(accepted.len(), 40 * 25 + 20 * 25);
        assert_eq!(node.len(), accepted.len());
        assert_eq!(node.last_seq() as usize, accepted.len());
        // The feed saw every stored delta once, in sequence order.
        let mut next = 1;
        while next <= node.last_seq() {
            let b = feed.recv().await.unwrap();
            assert_eq!(b.first_seq, next);
            next = b.last_seq() + 1;
        }
        node.shutdown().await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn changes_feed_filters_by_entity_and_continues() {
    let node = Node::start(Config::new(StorageKind::Memory, "unused"))
        .await
        .unwrap();
    let batch: Vec<Delta> = (0..2000).map(|i| Workload::seeded(3).delta(i)).collect();
    node.ingest(batch.clone()).await.unwrap();
    let entity = batch[10].references().next().unwrap().0.to_owned();
    let filter = FeedFilter {
        entities: vec![entity.clone()],
        ..FeedFilter::default()
    };
    let want: Vec<u64> = (1..=2000u64)
        .filter(|s| filter.matches(&batch[*s as usize - 1]))
        .collect();
    let mut got = Vec::new();
    let mut since = 0;
    loop {
        let page = node.changes(since, 1, &filter);
        if page.deltas.is_empty() {
            assert_eq!(page.last_seq, 2000);
            break;
        }
        got.extend(page.deltas.iter().map(|(s, _)| *s));
        since = page.last_seq;
    }
    assert_eq!(got, want);
    node.shutdown().await.unwrap();
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Any permutation of a delta set, ingested in random batches with
    /// duplicates, gives the index built in order.
    #[test]
    fn index_is_independent_of_order_and_batching(
        order in Just((0..60u64).collect::<Vec<_>>()).prop_shuffle(),
        dups in proptest::collection::vec(0..60u64, 0..30),
        cuts in proptest::collection::vec(1..10usize, 1..40),
    ) {
        runtime().block_on(async {
            let in_order = Node::start(Config::new(StorageKind::Memory, "unused")).await.unwrap();
            in_order.ingest((0..60).map(|i| Workload::seeded(2).delta(i)).collect()).await.unwrap();

            let node = Node::start(Config::new(StorageKind::Memory, "unused")).await.unwrap();
            let mut stream: Vec<u64> = order.clone();
            for (k, d) in dups.iter().enumerate() {
                stream.insert((k * 7) % stream.len(), *d);
            }
            let mut rest = &stream[..];
            let mut c = cuts.iter().cycle();
            while !rest.is_empty() {
                let n = (*c.next().unwrap()).min(rest.len());
                let batch = rest[..n].iter().map(|i| Workload::seeded(2).delta(*i)).collect();
                node.ingest(batch).await.unwrap();
                rest = &rest[n..];
            }
            assert_eq!(node.len(), in_order.len());
            assert_eq!(node.last_seq(), 60);
            let all: Vec<Arc<Delta>> = in_order.read(|s| s.index.iter().cloned().collect());
            for d in all {
                assert_eq!(node.get(d.id().as_str()).as_deref(), Some(&*d));
            }
        });
    }
}
