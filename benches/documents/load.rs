//! Figures for collaborative documents (API.md §7), on the real
//! `automerge-paper` trace (see benches/README.md, "Documents"):
//!
//! ```text
//! documents-load crdt EDITS      # rhizome-crdt vs the automerge crate, one change per edit
//! documents-load node EDITS      # a durable node over WebSocket: doc_put rate, live
//!                                # delivery latency, cached read, offline catch-up
//! documents-load memory automerge|node EDITS   # resident memory for that document
//! ```
//!
//! EDITS: how many edits of the trace (0: all 259,778).

#[path = "../../tests/common/traces.rs"]
mod traces;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use automerge::{Automerge, Change, ReadDoc};
use futures_util::{SinkExt, StreamExt};
use rhizome::config::{Config, StorageKind};
use rhizome::http::{self, AppState, Limits, Server};
use rhizome::node::Node;
use rhizome_crdt::DeltaSet;
use rhizome_crdt::document::{DocumentCache, base64url, change_delta, from_base64url};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

fn rss_kb() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn changes(edits: usize) -> (Vec<Change>, String) {
    let trace = traces::automerge_paper();
    let n = if edits == 0 {
        trace.edits.len()
    } else {
        edits.min(trace.edits.len())
    };
    let expected = traces::apply_plain(&trace.start, &trace.edits[..n]);
    if n == trace.edits.len() {
        assert_eq!(expected, trace.end);
    }
    (
        traces::sequential_changes(&trace.start, &trace.edits[..n], 1),
        expected,
    )
}

fn text(doc: &Automerge) -> String {
    let obj = doc.get(automerge::ROOT, "text").unwrap().unwrap().1;
    doc.text(&obj).unwrap()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn crdt(edits: usize) {
    let (changes, expected) = changes(edits);
    println!("changes: {}", changes.len());
    // automerge alone: one apply per change.
    let started = Instant::now();
    let mut doc = Automerge::new();
    for c in &changes {
        doc.apply_changes([c.clone()]).unwrap();
    }
    let alone = started.elapsed();
    assert_eq!(text(&doc), expected);
    drop(doc);
    // rhizome-crdt: each change made a delta, inserted in the set, noted by
    // the document cache and read (decoded and applied to the cached
    // document).
    let started = Instant::now();
    let mut set = DeltaSet::new();
    let mut cache = DocumentCache::new(4);
    let mut json_bytes = 0usize;
    for c in &changes {
        let d = Arc::new(change_delta("paper", "body", c, "bench").unwrap());
        json_bytes += rhizome_crdt::codec::json::encode_value(&d, rhizome_crdt::codec::Format::V1)
            .unwrap()
            .to_string()
            .len();
        let ins = set.insert(Arc::clone(&d)).unwrap();
        cache.note(&[d], &ins.changed);
        cache.get(&set, "paper", "body").unwrap();
    }
    let rhizome = started.elapsed();
    let doc = cache.get(&set, "paper", "body").unwrap();
    assert_eq!(doc.json()["text"], expected.as_str());
    let change_bytes: usize = changes.iter().map(|c| c.raw_bytes().len()).sum();
    println!(
        "automerge alone: {:.2} s ({:.0} changes/s)",
        alone.as_secs_f64(),
        changes.len() as f64 / alone.as_secs_f64()
    );
    println!(
        "rhizome-crdt:    {:.2} s ({:.0} changes/s), {:.2}x automerge",
        rhizome.as_secs_f64(),
        changes.len() as f64 / rhizome.as_secs_f64(),
        rhizome.as_secs_f64() / alone.as_secs_f64()
    );
    println!(
        "bytes per change: {:.0} raw, {:.0} as a v1 JSON delta",
        change_bytes as f64 / changes.len() as f64,
        json_bytes as f64 / changes.len() as f64
    );
}

async fn start_node(dir: &std::path::Path) -> (Arc<Node>, http::RunningServer, SocketAddr) {
    let node = Arc::new(
        Node::start(Config::new(StorageKind::Disk, dir))
            .await
            .unwrap(),
    );
    let limits = Limits::default();
    let state = AppState::new(Arc::clone(&node));
    let flag = state.shutdown();
    let server = Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        &limits,
        http::router(state, &limits),
    )
    .await
    .unwrap()
    .stopping_raises(flag)
    .spawn();
    let addr = server.local_addr();
    (node, server, addr)
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn ws(addr: SocketAddr) -> Ws {
    tokio_tungstenite::connect_async(format!("ws://{addr}/api/ws"))
        .await
        .unwrap()
        .0
}

async fn next(ws: &mut Ws) -> Value {
    loop {
        match ws.next().await.unwrap().unwrap() {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            _ => continue,
        }
    }
}

fn put(i: usize, c: &Change) -> Message {
    Message::Text(
        json!({"op": "doc_put", "ref": i, "entity": "paper", "property": "body",
               "changes": base64url(c.raw_bytes())})
        .to_string()
        .into(),
    )
}

async fn node(edits: usize) {
    let (changes, expected) = changes(edits);
    let dir = std::env::temp_dir().join(format!("rhizome-docs-load-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let (node, server, addr) = start_node(&dir).await;
    // The last 1,000 changes are kept for the latency and catch-up parts.
    let split = changes.len().saturating_sub(1000);
    let (bulk, tail) = changes.split_at(split);

    // 1. Throughput: every change its own doc_put frame, pipelined on one
    // socket (a reader task counts the acks).
    let writer = ws(addr).await;
    let (mut tx, mut rx) = writer.split();
    let n = bulk.len();
    let acks = tokio::spawn(async move {
        let mut got = 0;
        while got < n {
            if let Message::Text(t) = rx.next().await.unwrap().unwrap() {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                assert_eq!(v["type"], "ack", "{v}");
                got += 1;
            }
        }
        rx
    });
    let started = Instant::now();
    for (i, c) in bulk.iter().enumerate() {
        tx.feed(put(i, c)).await.unwrap();
        if i % 64 == 63 {
            tx.flush().await.unwrap();
        }
    }
    tx.flush().await.unwrap();
    let rx = acks.await.unwrap();
    let took = started.elapsed();
    println!(
        "doc_put over one WebSocket, one change per frame, durable: {} changes in {:.2} s = {:.0} changes/s",
        n,
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );
    let mut writer = tx.reunite(rx).unwrap();

    // 2. Read from the cache.
    let started = Instant::now();
    let json = node
        .with_document("paper", "body", None, |d| d.json())
        .unwrap();
    println!(
        "first read after the bulk (applies pending changes): {:?}",
        started.elapsed()
    );
    assert!(json["text"].is_string());
    let mut reads = Vec::new();
    for _ in 0..200 {
        let t = Instant::now();
        node.with_document("paper", "body", None, |d| d.heads())
            .unwrap();
        reads.push(t.elapsed());
    }
    reads.sort();
    println!(
        "cached read (heads): p50 {:?}, p99 {:?}",
        percentile(&reads, 0.5),
        percentile(&reads, 0.99)
    );
    let mut reads = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        node.with_document("paper", "body", None, |d| d.json())
            .unwrap();
        reads.push(t.elapsed());
    }
    reads.sort();
    println!(
        "cached read (JSON value, {} chars): p50 {:?}, p99 {:?}",
        json["text"].as_str().unwrap_or_default().len(),
        percentile(&reads, 0.5),
        percentile(&reads, 0.99)
    );
    let heads_before_tail = node
        .with_document("paper", "body", None, |d| d.heads_hex())
        .unwrap();

    // 3. Live delivery: a subscriber follows the document; each change of
    // the tail is put and timed until the subscriber has it.
    let mut sub = ws(addr).await;
    sub.send(Message::Text(
        json!({"op": "doc", "id": 1, "entity": "paper", "property": "body", "heads": heads_before_tail})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let first = next(&mut sub).await;
    assert_eq!(first["changes"], "");
    let mut lat = Vec::new();
    for (i, c) in tail.iter().enumerate() {
        let t = Instant::now();
        writer.send(put(n + i, c)).await.unwrap();
        loop {
            let f = next(&mut sub).await;
            let bytes = from_base64url(f["changes"].as_str().unwrap()).unwrap();
            if bytes.ends_with(c.raw_bytes()) {
                break;
            }
        }
        lat.push(t.elapsed());
        let ack = next(&mut writer).await;
        assert_eq!(ack["type"], "ack");
    }
    lat.sort();
    println!(
        "live delivery put -> other subscriber has it ({} changes, one at a time): p50 {:?}, p99 {:?}",
        lat.len(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );

    // 4. Offline catch-up: a client that missed the tail.
    let started = Instant::now();
    let path = format!(
        "/api/docs/paper/body/changes?heads={}",
        heads_before_tail.join(",")
    );
    let body = http_get(addr, &path).await;
    let took = started.elapsed();
    let got = rhizome_crdt::document::parse_changes(&body).unwrap();
    println!(
        "catch-up of {} missed changes: 1 round trip, {} bytes, {:?}",
        got.len(),
        body.len(),
        took
    );
    let text_now = node
        .with_document("paper", "body", None, |d| {
            d.json()["text"].as_str().map(str::to_owned)
        })
        .unwrap()
        .unwrap();
    assert_eq!(text_now, expected);
    println!("the node's text equals the trace's");
    server.shutdown().await.unwrap();
    node.shutdown().await.unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

async fn http_get(addr: SocketAddr, path: &str) -> Vec<u8> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\nhost: t\r\nconnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    assert!(raw.starts_with(b"HTTP/1.1 200"));
    raw[end + 4..].to_vec()
}

async fn memory(which: &str, edits: usize) {
    let (changes, expected) = changes(edits);
    let raw: usize = changes.iter().map(|c| c.raw_bytes().len()).sum();
    // The changes themselves are input, held in both cases.
    let before = rss_kb();
    match which {
        "automerge" => {
            let mut doc = Automerge::new();
            doc.apply_changes(changes.iter().cloned()).unwrap();
            assert_eq!(text(&doc), expected);
            let after = rss_kb();
            println!(
                "automerge alone: +{} KiB resident for the document",
                after - before
            );
            drop(doc);
        }
        _ => {
            let dir = std::env::temp_dir().join(format!("rhizome-docs-mem-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let node = Node::start(Config::new(StorageKind::Disk, &dir))
                .await
                .unwrap();
            for chunk in changes.chunks(2000) {
                let bytes: Vec<u8> = chunk.iter().flat_map(|c| c.raw_bytes().to_vec()).collect();
                rhizome::documents::post_changes(&node, "paper", "body", &bytes, "bench")
                    .await
                    .unwrap();
            }
            let text_now = node
                .with_document("paper", "body", None, |d| {
                    d.json()["text"].as_str().map(str::to_owned)
                })
                .unwrap()
                .unwrap();
            assert_eq!(text_now, expected);
            let after = rss_kb();
            println!(
                "node: +{} KiB resident (index, log and cached document; cache estimate {:?})",
                after - before,
                node.document_cache_size()
            );
            node.shutdown().await.unwrap();
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    println!("raw change bytes: {} KiB", raw / 1024);
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: documents-load crdt EDITS | node EDITS | memory automerge|node EDITS";
    let num = |i: usize| {
        args.get(i)
            .and_then(|a| a.parse::<usize>().ok())
            .expect(usage)
    };
    match args.get(1).map(String::as_str) {
        Some("crdt") => crdt(num(2)),
        Some("node") => node(num(2)).await,
        Some("memory") => memory(args.get(2).expect(usage), num(3)).await,
        _ => panic!("{usage}"),
    }
}
