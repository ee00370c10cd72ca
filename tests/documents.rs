//! Collaborative documents (API.md §7, issue 15) through real nodes: the
//! HTTP routes and bad input, the WebSocket `doc` / `doc_put` ops and
//! `watch`, negation and hand-written deltas, and the real editing traces
//! of `../shared/data/editing-traces/` replayed through nodes with disk
//! stores, restarted, and synced over iroh (127.0.0.1, relays off).
//!
//! Every wait is bounded; nothing asserts on speed.

mod common;
#[path = "common/traces.rs"]
mod traces;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use automerge::transaction::Transactable;
use automerge::{AutoCommit, Automerge, Change, ObjType, ROOT, ReadDoc};

use futures_util::{SinkExt, StreamExt};
use rhizome::config::{Config, StorageKind};
use rhizome::documents::post_changes;
use rhizome::node::Node;
use rhizome::replication;
use rhizome_crdt::document::{base64url, change_delta, delta_id, from_base64url};
use rhizome_sync::net::SyncNode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

// ---------------------------------------------------------------- helpers

/// One HTTP request with extra headers (tests/common's client); the server
/// closes after it.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<u8>) {
    let r = common::request_with(addr, method, path, headers, body);
    (r.status, r.body)
}

const OCTETS: (&str, &str) = ("content-type", "application/octet-stream");
const ACCEPT_JSON: (&str, &str) = ("accept", "application/json");

fn post_doc(addr: SocketAddr, path: &str, bytes: &[u8]) -> (u16, Value) {
    let (status, body) = http(addr, "POST", path, &[OCTETS], bytes);
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn get_json(addr: SocketAddr, path: &str) -> (u16, Value) {
    let (status, body) = http(addr, "GET", path, &[ACCEPT_JSON], b"");
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

fn concat(changes: &[Change]) -> Vec<u8> {
    changes
        .iter()
        .flat_map(|c| c.raw_bytes().to_vec())
        .collect()
}

fn hashes(changes: &[Change]) -> Vec<String> {
    changes.iter().map(|c| c.hash().to_string()).collect()
}

/// A text document typed one change per character.
fn typed(text: &str) -> (AutoCommit, automerge::ObjId, Vec<Change>) {
    let mut am = AutoCommit::new();
    let obj = am.put_object(ROOT, "text", ObjType::Text).unwrap();
    am.commit();
    let mut changes = vec![am.get_last_local_change().unwrap()];
    for (i, ch) in text.chars().enumerate() {
        am.splice_text(&obj, i, 0, &ch.to_string()).unwrap();
        am.commit();
        changes.push(am.get_last_local_change().unwrap());
    }
    (am, obj, changes)
}

fn text_of(node: &Node, entity: &str, property: &str) -> Option<String> {
    node.with_document(entity, property, None, |d| {
        d.json()["text"].as_str().map(str::to_owned)
    })
    .flatten()
}

async fn eventually(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ------------------------------------------------------------- HTTP routes

#[test]
fn changes_posted_over_http_read_back_as_a_document() {
    let server = common::TestServer::start();
    let addr = server.addr;
    let (mut am, obj, changes) = typed("hello");
    let path = "/api/docs/notes%2F1/body";

    let (status, body) = post_doc(addr, path, &concat(&changes[..3]));
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        body,
        json!({"accepted": hashes(&changes[..3]), "duplicates": []})
    );
    // Again, with more: the first three are duplicates.
    let (status, body) = post_doc(addr, path, &concat(&changes));
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["accepted"], json!(hashes(&changes[3..])));
    assert_eq!(body["duplicates"], json!(hashes(&changes[..3])));

    // The saved document loads in Automerge.
    let (status, saved) = http(addr, "GET", path, &[], b"");
    assert_eq!(status, 200);
    let loaded = Automerge::load(&saved).unwrap();
    let text = loaded.get(ROOT, "text").unwrap().unwrap().1;
    assert_eq!(loaded.text(&text).unwrap(), "hello");

    // As JSON.
    let (status, body) = get_json(addr, path);
    assert_eq!(status, 200);
    let mut heads: Vec<String> = am.get_heads().iter().map(|h| h.to_string()).collect();
    heads.sort();
    assert_eq!(body, json!({"value": {"text": "hello"}, "heads": heads}));

    // A client holding the first three changes lacks the rest only.
    let (status, lacking) = http(
        addr,
        "GET",
        &format!("{path}/changes?heads={}", changes[2].hash()),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    let got = rhizome_crdt::document::parse_changes(&lacking).unwrap();
    assert_eq!(hashes(&got), hashes(&changes[3..]));
    let (_, none) = http(
        addr,
        "GET",
        &format!("{path}/changes?heads={}", heads.join(",")),
        &[],
        b"",
    );
    assert!(none.is_empty());

    // A saved document posted whole: all duplicates.
    let (status, body) = post_doc(addr, path, &am.save());
    assert_eq!(status, 201);
    assert_eq!(body["accepted"], json!([]));
    assert_eq!(body["duplicates"].as_array().unwrap().len(), changes.len());

    // The view shows the document as its JSON value.
    let view = common::get(addr, "/api/view/notes%2F1").ok(200);
    assert_eq!(view["properties"]["body"], json!({"text": "hello"}));

    // Edits after that arrive as changes too.
    am.splice_text(&obj, 5, 0, "!").unwrap();
    am.commit();
    let last = am.get_last_local_change().unwrap();
    assert_eq!(post_doc(addr, path, last.raw_bytes()).0, 201);
    assert_eq!(get_json(addr, path).1["value"]["text"], "hello!");

    // Unknown documents and bad heads.
    let (status, body) = get_json(addr, "/api/docs/notes%2F1/title");
    assert_eq!(status, 404, "{body}");
    let (status, _) = http(addr, "GET", &format!("{path}/changes?heads=zz"), &[], b"");
    assert_eq!(status, 400);
}

#[test]
fn time_travel_and_negation_apply_to_documents() {
    let server = common::TestServer::start();
    let addr = server.addr;
    let mut am = AutoCommit::new();
    let obj = am.put_object(ROOT, "text", ObjType::Text).unwrap();
    let opts = |t: i64| automerge::transaction::CommitOptions::default().with_time(t);
    am.commit_with(opts(1_700_000_000));
    for (i, ch) in "abc".chars().enumerate() {
        am.splice_text(&obj, i, 0, &ch.to_string()).unwrap();
        am.commit_with(opts(1_700_000_001 + i as i64));
    }
    let changes = am.get_changes(&[]);
    assert_eq!(post_doc(addr, "/api/docs/d/body", &concat(&changes)).0, 201);
    // As of the second "b" typed (change 2 at 1_700_000_002 s).
    let (_, body) = get_json(addr, "/api/docs/d/body?as_of=1700000002000");
    assert_eq!(body["value"]["text"], "ab");
    let (status, _) = get_json(addr, "/api/docs/d/body?as_of=1600000000000");
    assert_eq!(status, 404);

    // Negating the change that typed "b" takes "c" (which depends on it)
    // along.
    let id = delta_id("d", "body", &changes[2].hash());
    let negation = common::post(addr, &format!("/api/deltas/{id}/negate"), &json!({})).ok(201);
    assert_eq!(get_json(addr, "/api/docs/d/body").1["value"]["text"], "a");
    // Negating the negation restores them.
    let nid = negation["id"].as_str().unwrap();
    common::post(addr, &format!("/api/deltas/{nid}/negate"), &json!({})).ok(201);
    assert_eq!(get_json(addr, "/api/docs/d/body").1["value"]["text"], "abc");
}

#[test]
fn a_change_written_by_hand_with_post_deltas_is_part_of_the_document() {
    let server = common::TestServer::start();
    let addr = server.addr;
    let (_, _, changes) = typed("hi");
    // The delta form of docs/documents.md, written as JSON.
    let deltas: Vec<Value> = changes
        .iter()
        .map(|c| {
            json!({
                "id": delta_id("e", "p", &c.hash()),
                "timeCreated": 1,
                "host": c.actor_id().to_hex_string(),
                "creator": "by-hand",
                "pointers": [
                    {"localContext": "document", "target": "e", "targetContext": "p"},
                    {"localContext": "automerge", "target": base64url(c.raw_bytes())}]
            })
        })
        .collect();
    common::post(addr, "/api/deltas", &json!(deltas)).ok(201);
    assert_eq!(get_json(addr, "/api/docs/e/p").1["value"]["text"], "hi");
    // The node makes the same delta from the same change: a duplicate.
    let made = change_delta("e", "p", &changes[0], "by-hand").unwrap();
    let stored = common::get(addr, &format!("/api/deltas/{}", made.id())).ok(200);
    let carried = stored["pointers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["localContext"] == "automerge")
        .unwrap()["target"]
        .clone();
    assert_eq!(carried, base64url(changes[0].raw_bytes()));
}

#[test]
fn bad_input_is_refused_whole_and_the_node_stays_healthy() {
    let server = common::TestServer::start();
    let addr = server.addr;
    let (_, _, changes) = typed("abc");
    assert_eq!(
        post_doc(addr, "/api/docs/e/p", &concat(&changes[..2])).0,
        201
    );
    let count = || common::get(addr, "/api/deltas/count").ok(200)["count"].clone();
    assert_eq!(count(), 2);

    let mut random = vec![0u8; 4096];
    let mut x: u32 = 12345;
    for b in &mut random {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        *b = (x >> 16) as u8;
    }
    let whole = concat(&changes[2..]);
    let mut corrupt = whole.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0x55;
    for (what, bytes) in [
        ("random bytes", random.clone()),
        ("empty", Vec::new()),
        ("truncated", whole[..whole.len() - 2].to_vec()),
        ("corrupt", corrupt),
        (
            "a good change then junk",
            [whole.clone(), b"junk".to_vec()].concat(),
        ),
    ] {
        let (status, body) = post_doc(addr, "/api/docs/e/p", &bytes);
        assert_eq!(status, 400, "{what}: {body}");
        assert_eq!(body["error"]["code"], "invalid_automerge", "{what}: {body}");
    }
    // A change of another document: its dependencies are not here.
    let (_, _, other) = typed("xyz");
    let (status, body) = post_doc(addr, "/api/docs/e/p", &concat(&other[2..]));
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "missing_dependencies");
    assert_eq!(
        body["error"]["missing"],
        json!([other[1].hash().to_string()])
    );
    // 100 MB: over the body limit.
    let huge = vec![0x85u8; 100 << 20];
    let (status, _) = http(addr, "POST", "/api/docs/e/p", &[OCTETS], &huge);
    assert_eq!(status, 413);
    assert_eq!(count(), 2, "nothing stored");
    assert_eq!(common::get(addr, "/api/health").ok(200)["status"], "ok");
    assert_eq!(get_json(addr, "/api/docs/e/p").1["value"]["text"], "a");
    // The missing change arrives: everything applies.
    assert_eq!(post_doc(addr, "/api/docs/e/p", &whole).0, 201);
    assert_eq!(get_json(addr, "/api/docs/e/p").1["value"]["text"], "abc");
}

// --------------------------------------------------------------- WebSocket

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws(addr: SocketAddr) -> Ws {
    tokio_tungstenite::connect_async(format!("ws://{addr}/api/ws"))
        .await
        .unwrap()
        .0
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a frame within 30 s")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

#[test]
fn websocket_doc_follows_changes_and_doc_put_stores_them() {
    let server = common::TestServer::start();
    let addr = server.addr;
    server.runtime.block_on(async {
        let (mut am, obj, changes) = typed("ab");
        let mut reader = ws(addr).await;
        let mut writer = ws(addr).await;
        // Nothing yet: an empty first answer.
        send(
            &mut reader,
            json!({"op": "doc", "id": "s1", "entity": "e", "property": "p"}),
        )
        .await;
        let first = next_json(&mut reader).await;
        assert_eq!(
            first,
            json!({"type": "changes", "sub": "s1", "changes": "", "heads": []})
        );
        send(
            &mut reader,
            json!({"op": "watch", "id": "w1", "entity": "e"}),
        )
        .await;
        assert_eq!(next_json(&mut reader).await["type"], "view");

        send(
            &mut writer,
            json!({"op": "doc_put", "ref": 1, "entity": "e", "property": "p",
            "changes": base64url(&concat(&changes))}),
        )
        .await;
        let ack = next_json(&mut writer).await;
        assert_eq!(
            ack,
            json!({"type": "ack", "ref": 1, "accepted": hashes(&changes), "duplicates": []})
        );

        // The reader receives the changes, and the view as JSON.
        let mut mirror = AutoCommit::new();
        let mut saw_view = false;
        while mirror.get_heads() != am.get_heads() || !saw_view {
            let f = next_json(&mut reader).await;
            match f["type"].as_str() {
                Some("changes") => {
                    assert_eq!(f["sub"], "s1");
                    let bytes = from_base64url(f["changes"].as_str().unwrap()).unwrap();
                    mirror.load_incremental(&bytes).unwrap();
                }
                Some("view") => {
                    saw_view = f["view"]["properties"]["p"] == json!({"text": "ab"});
                }
                other => panic!("unexpected frame {other:?}: {f}"),
            }
        }
        // A live edit comes as one more frame.
        am.splice_text(&obj, 2, 0, "c").unwrap();
        am.commit();
        let c = am.get_last_local_change().unwrap();
        send(
            &mut writer,
            json!({"op": "doc_put", "ref": 2, "entity": "e", "property": "p",
            "changes": base64url(c.raw_bytes())}),
        )
        .await;
        assert_eq!(
            next_json(&mut writer).await["accepted"],
            json!([c.hash().to_string()])
        );
        loop {
            let f = next_json(&mut reader).await;
            if f["type"] == "changes" {
                let bytes = from_base64url(f["changes"].as_str().unwrap()).unwrap();
                assert_eq!(
                    hashes(&rhizome_crdt::document::parse_changes(&bytes).unwrap()),
                    [c.hash().to_string()]
                );
                assert_eq!(f["heads"], json!([c.hash().to_string()]));
                break;
            }
        }
        // A reconnecting client names its heads and gets only what it lacks.
        send(
            &mut writer,
            json!({"op": "doc", "id": 7, "entity": "e", "property": "p",
            "heads": [changes.last().unwrap().hash().to_string()]}),
        )
        .await;
        let f = next_json(&mut writer).await;
        let bytes = from_base64url(f["changes"].as_str().unwrap()).unwrap();
        assert_eq!(bytes, c.raw_bytes());
        // Bad input over the socket: an error frame naming the ref.
        send(
            &mut writer,
            json!({"op": "doc_put", "ref": 3, "entity": "e", "property": "p",
            "changes": base64url(b"not automerge")}),
        )
        .await;
        let f = next_json(&mut writer).await;
        assert_eq!(f["type"], "error");
        assert_eq!(f["ref"], 3);
        assert_eq!(f["error"]["code"], "invalid_automerge");
    });
}

// ----------------------------------------------------- nodes, traces, sync

/// A directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rhizome-docs-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        TempDir(dir)
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

/// A node with a disk store and sync (1 s reconciliation) with `peers`.
async fn member(dir: &TempDir, peers: &[&SyncNode]) -> (Arc<Node>, SyncNode) {
    let node = Arc::new(
        Node::start(Config::new(StorageKind::Disk, dir.path()))
            .await
            .unwrap(),
    );
    let mut settings = replication::settings(&node).unwrap();
    settings.peers = peers.iter().map(|p| p.addr()).collect();
    settings.interval = Duration::from_secs(1);
    let sync = replication::start_with(&node, settings).await.unwrap();
    (node, sync)
}

/// Posts `changes` to the document in requests of at most `per_post`.
async fn post_all(node: &Node, property: &str, changes: &[Change], per_post: usize) {
    for chunk in changes.chunks(per_post) {
        let posted = post_changes(node, "paper", property, &concat(chunk), "tester")
            .await
            .unwrap();
        assert_eq!(posted.accepted.len(), chunk.len());
    }
}

/// `automerge-paper`'s first `edits` edits through a node, one change per
/// edit and one per 100 edits; again after a restart; and on a second node
/// synced over iroh.
async fn replay_automerge_paper(edits: usize) {
    let trace = traces::automerge_paper();
    let edits = &trace.edits[..edits.min(trace.edits.len())];
    let expected = traces::apply_plain(&trace.start, edits);
    let per_edit = traces::sequential_changes(&trace.start, edits, 1);
    let per_100 = traces::sequential_changes(&trace.start, edits, 100);

    let dir_a = TempDir::new("paper-a");
    let dir_b = TempDir::new("paper-b");
    let (a, sync_a) = member(&dir_a, &[]).await;
    // Half posted, read (built and cached), then the rest (applied to the
    // cached document incrementally).
    let half = per_edit.len() / 2;
    post_all(&a, "per-edit", &per_edit[..half], 500).await;
    assert_eq!(
        text_of(&a, "paper", "per-edit").unwrap(),
        traces::apply_plain(&trace.start, &edits[..half - 1])
    );
    post_all(&a, "per-edit", &per_edit[half..], 500).await;
    post_all(&a, "per-100", &per_100, 50).await;
    assert_eq!(text_of(&a, "paper", "per-edit").unwrap(), expected);
    assert_eq!(text_of(&a, "paper", "per-100").unwrap(), expected);

    // A second node syncs everything over iroh.
    let (b, sync_b) = member(&dir_b, &[&sync_a]).await;
    let total = a.len();
    eventually("the second node to sync", Duration::from_secs(120), || {
        b.len() == total
    })
    .await;
    assert_eq!(text_of(&b, "paper", "per-edit").unwrap(), expected);
    assert_eq!(text_of(&b, "paper", "per-100").unwrap(), expected);
    sync_b.shutdown().await;
    b.shutdown().await.unwrap();

    // Restart the first node on its data.
    sync_a.shutdown().await;
    a.shutdown().await.unwrap();
    drop(a);
    let a = Node::start(Config::new(StorageKind::Disk, dir_a.path()))
        .await
        .unwrap();
    assert_eq!(a.len(), total);
    assert_eq!(text_of(&a, "paper", "per-edit").unwrap(), expected);
    assert_eq!(text_of(&a, "paper", "per-100").unwrap(), expected);
    if edits.len() == trace.edits.len() {
        assert_eq!(expected, trace.end);
    }
    a.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automerge_paper_prefix_through_nodes_restart_and_sync() {
    replay_automerge_paper(12_000).await;
}

/// The whole trace (run on purpose: `cargo test --release --test documents
/// -- --ignored`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the whole trace: not finished after 18 min in the test profile on a loaded 2-core machine; run it in release"]
async fn automerge_paper_whole_through_nodes_restart_and_sync() {
    replay_automerge_paper(usize::MAX).await;
}

/// `friendsforever`'s first `txns` transactions: each agent types on its
/// own node; the two sync over iroh while they type (`cut`: the link is
/// cut for the middle third and healed). Both end with the text Automerge
/// makes of those transactions, the trace's final text for the whole.
async fn replay_friendsforever(txns: usize, cut: bool) {
    let started = Instant::now();
    let trace = traces::friendsforever();
    assert_eq!(trace.agents, 2);
    let (setup, changes, expected) = traces::concurrent_changes(&trace, txns);
    if txns >= trace.txns.len() {
        assert_eq!(expected, trace.end);
    }
    eprintln!("friendsforever: changes made in {:?}", started.elapsed());
    let dir_a = TempDir::new("ff-a");
    let dir_b = TempDir::new("ff-b");
    let (a, sync_a) = member(&dir_a, &[]).await;
    let (b, sync_b) = member(&dir_b, &[&sync_a]).await;
    let nodes = [&a, &b];
    for n in nodes {
        post_changes(n, "ff", "body", setup.raw_bytes(), "setup")
            .await
            .unwrap();
    }
    // Each agent's changes go to its own node as they are typed, in runs
    // of up to 200 (a run is cut where the other agent types). A change
    // whose parents the node has not received yet is stored all the same
    // and waits for them (as a change synced from a peer would).
    let third = changes.len() / 3;
    let mut i = 0;
    while i < changes.len() {
        if cut && i == third {
            sync_a.guard().block(sync_b.id());
            sync_b.guard().block(sync_a.id());
        }
        if cut && i == 2 * third {
            sync_a.guard().unblock(&sync_b.id());
            sync_b.guard().unblock(&sync_a.id());
        }
        let agent = changes[i].0;
        let mut j = i;
        while j < changes.len() && changes[j].0 == agent && j - i < 200 {
            if cut && (j == third || j == 2 * third) && j > i {
                break;
            }
            j += 1;
        }
        let deltas = changes[i..j]
            .iter()
            .map(|(_, c)| change_delta("ff", "body", c, &format!("agent-{agent}")).unwrap())
            .collect();
        nodes[agent].ingest(deltas).await.unwrap();
        i = j;
    }
    eprintln!("friendsforever: typed in {:?}", started.elapsed());
    let total = changes.len() + 1;
    for n in nodes {
        eventually(
            "both nodes to hold every change",
            Duration::from_secs(120),
            || n.len() == total,
        )
        .await;
    }
    eprintln!("friendsforever: synced in {:?}", started.elapsed());
    for n in nodes {
        assert_eq!(text_of(n, "ff", "body").unwrap(), expected);
    }
    eprintln!("friendsforever: read in {:?}", started.elapsed());
    sync_b.shutdown().await;
    sync_a.shutdown().await;
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
}

/// Transactions replayed in the test suite (the whole trace's changes take
/// a minute to make in a debug build).
const FRIENDS_PREFIX: usize = 6_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friendsforever_two_agents_on_two_syncing_nodes() {
    replay_friendsforever(FRIENDS_PREFIX, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friendsforever_with_the_link_cut_and_healed() {
    replay_friendsforever(FRIENDS_PREFIX, true).await;
}

/// The whole trace, ending with its `endContent` (run on purpose:
/// `cargo test --release --test documents -- --ignored`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "making the whole trace's changes takes a minute in a debug build"]
async fn friendsforever_whole_on_two_syncing_nodes_cut_and_healed() {
    replay_friendsforever(usize::MAX, true).await;
}
