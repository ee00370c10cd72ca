//! Real-time feeds against a real server on a free port: SSE read off a raw
//! socket, WebSocket with tokio-tungstenite.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rhizome::config::{Config, StorageKind};
use rhizome::http::{Limits, RunningServer};
use rhizome::node::Node;
use rhizome::realtime::SubFilter;
use rhizome_crdt::Delta;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Long enough that a broken test fails rather than hangs; never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

struct TestNode {
    node: Arc<Node>,
    server: RunningServer,
    addr: SocketAddr,
}

async fn start(tune: impl FnOnce(&mut Config)) -> TestNode {
    let mut config = Config::new(StorageKind::Memory, "unused");
    config.realtime.sse_keepalive_ms = 100;
    tune(&mut config);
    let (node, server, addr) = common::serve(config, &Limits::default()).await;
    TestNode { node, server, addr }
}

fn prop(entity: &str, property: &str, value: impl Into<rhizome_crdt::Target>) -> Delta {
    Delta::builder("alice", "h1")
        .set_property(entity, property, value)
        .build()
        .unwrap()
}

async fn write(node: &Node, deltas: Vec<Delta>) {
    node.ingest(deltas).await.unwrap();
}

// ------------------------------------------------------------------ SSE

#[derive(Debug, Clone, PartialEq)]
struct Event {
    id: Option<u64>,
    event: String,
    data: String,
}

/// An SSE client on a raw socket (HTTP/1.1, chunked body).
struct Sse {
    reader: BufReader<TcpStream>,
    text: String,
    pub status: u16,
    pub headers: String,
}

impl Sse {
    async fn open(addr: SocketAddr, query: &str, last_event_id: Option<u64>) -> Sse {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let extra = last_event_id.map_or(String::new(), |id| format!("last-event-id: {id}\r\n"));
        let req = format!(
            "GET /api/deltas?feed=sse{query} HTTP/1.1\r\nhost: localhost\r\naccept: text/event-stream\r\n{extra}\r\n"
        );
        stream.write_all(req.as_bytes()).await.unwrap();
        Sse::after_request(stream).await
    }

    /// The client once its request is sent: reads the response head.
    async fn after_request(stream: TcpStream) -> Sse {
        let mut reader = BufReader::new(stream);
        let mut headers = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await.unwrap();
            if line == "\r\n" || line.is_empty() {
                break;
            }
            headers.push_str(&line);
        }
        let status = headers[9..12].parse().unwrap();
        Sse {
            reader,
            text: String::new(),
            status,
            headers,
        }
    }

    async fn chunk(&mut self) -> bool {
        let mut size = String::new();
        if self.reader.read_line(&mut size).await.unwrap() == 0 {
            return false;
        }
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            return false;
        }
        let mut buf = vec![0; n + 2];
        self.reader.read_exact(&mut buf).await.unwrap();
        self.text.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        true
    }

    /// The next record (comments skipped), or `None` at the end of the stream.
    async fn next(&mut self) -> Option<Event> {
        loop {
            while let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let mut ev = Event {
                    id: None,
                    event: "message".into(),
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        ev.id = Some(v.parse().unwrap());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        ev.event = v.into();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        ev.data = v.into();
                        any = true;
                    }
                }
                if any {
                    return Some(ev);
                }
            }
            if !tokio::time::timeout(PATIENCE, self.chunk())
                .await
                .expect("SSE stream stalled")
            {
                return None;
            }
        }
    }

    async fn deltas(&mut self, n: usize) -> Vec<(u64, Value)> {
        let mut out = Vec::new();
        while out.len() < n {
            let ev = self.next().await.expect("stream ended early");
            assert_eq!(ev.event, "delta", "{ev:?}");
            out.push((ev.id.unwrap(), serde_json::from_str(&ev.data).unwrap()));
        }
        out
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_sends_backlog_then_live_and_resumes_from_last_event_id() {
    let t = start(|_| {}).await;
    let written: Vec<Delta> = (0..5).map(|i| prop("e1", "n", i)).collect();
    write(&t.node, written.clone()).await;

    let mut sse = Sse::open(t.addr, "&since=0", None).await;
    assert_eq!(sse.status, 200);
    assert!(
        sse.headers
            .to_lowercase()
            .contains("content-type: text/event-stream"),
        "{}",
        sse.headers
    );
    // No CORS header for a request without Origin (API.md §6: origins are
    // allowed one by one, tests/security.rs).
    assert!(
        !sse.headers
            .to_lowercase()
            .contains("access-control-allow-origin")
    );
    let got = sse.deltas(5).await;
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    assert_eq!(got[0].1["id"], written[0].id().as_str());
    write(&t.node, vec![prop("e1", "n", 5), prop("e1", "n", 6)]).await;
    let got = sse.deltas(2).await;
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [6, 7]);
    drop(sse);

    // A reconnecting EventSource: same URL, Last-Event-ID wins over since.
    let mut sse = Sse::open(t.addr, "&since=0", Some(5)).await;
    let got = sse.deltas(2).await;
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), [6, 7]);
    write(&t.node, vec![prop("e2", "n", 1)]).await;
    assert_eq!(sse.deltas(1).await[0].0, 8);

    // Filters and format.
    let mut sse = Sse::open(t.addr, "&since=0&entity=e2&format=rhizomedb", None).await;
    let got = sse.deltas(1).await;
    assert_eq!(got[0].0, 8);
    assert_eq!(got[0].1["author"], "alice");
    write(&t.node, vec![prop("e1", "n", 9), prop("e2", "n", 2)]).await;
    assert_eq!(sse.deltas(1).await[0].0, 10);

    // Bad parameters are ordinary 400s.
    let bad = Sse::open(t.addr, "&since=x", None).await;
    assert_eq!(bad.status, 400);
    let bad = Sse::open(t.addr, "&nope=3", None).await;
    assert_eq!(bad.status, 400);
    let bad = Sse::open(t.addr, "&format=v9", None).await;
    assert_eq!(bad.status, 400);
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_keepalive_comments_and_shutdown_ends_the_stream() {
    let t = start(|_| {}).await;
    let mut sse = Sse::open(t.addr, "", None).await;
    // Only comments arrive while nothing is written.
    for _ in 0..3 {
        assert!(sse.chunk().await);
    }
    assert!(sse.text.contains(":\n\n"), "{:?}", sse.text);
    let stopping = tokio::spawn(t.server.shutdown());
    assert_eq!(sse.next().await, None, "the stream ends at shutdown");
    stopping.await.unwrap().unwrap();
}

/// Reads one response with a `content-length` body: (head, body).
async fn response(reader: &mut BufReader<TcpStream>) -> (String, Vec<u8>) {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(PATIENCE, reader.read_line(&mut line))
            .await
            .expect("response stalled")
            .unwrap();
        assert!(n > 0, "connection closed inside a response head: {head:?}");
        if line == "\r\n" {
            break;
        }
        head.push_str(&line.to_ascii_lowercase());
    }
    let len = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0; len];
    reader.read_exact(&mut body).await.unwrap();
    (head, body)
}

/// Sends `bytes` a few at a time, each piece in its own TCP segment.
async fn trickle(stream: &mut TcpStream, bytes: &[u8]) {
    stream.set_nodelay(true).unwrap();
    for piece in bytes.chunks(7) {
        stream.write_all(piece).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_is_served_off_hyper_and_every_other_request_still_by_hyper() {
    let t = start(|_| {}).await;
    write(&t.node, vec![prop("e1", "n", 1), prop("e1", "n", 2)]).await;

    // An SSE request whose head arrives in many small segments.
    let mut stream = TcpStream::connect(t.addr).await.unwrap();
    trickle(
        &mut stream,
        b"GET /api/deltas?since=1&feed=sse HTTP/1.1\r\nhost: localhost\r\naccept: text/event-stream\r\n\r\n",
    )
    .await;
    let mut sse = Sse::after_request(stream).await;
    assert_eq!(sse.status, 200, "{}", sse.headers);
    let lower = sse.headers.to_lowercase();
    assert!(lower.contains("transfer-encoding: chunked"), "{lower}");
    // Served on the raw socket, which closes after the stream.
    assert!(lower.contains("connection: close"), "{lower}");
    assert!(lower.contains("x-request-id: "), "{lower}");
    assert!(lower.contains("content-type: text/event-stream"), "{lower}");
    assert_eq!(sse.deltas(1).await[0].0, 2);
    write(&t.node, vec![prop("e1", "n", 3)]).await;
    assert_eq!(sse.deltas(1).await[0].0, 3);

    // A bad parameter: the API's JSON error, and the connection closes.
    let mut stream = TcpStream::connect(t.addr).await.unwrap();
    stream
        .write_all(b"GET /api/deltas?feed=sse&since=x HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut reader = BufReader::new(stream);
    let (head, body) = response(&mut reader).await;
    assert!(head.starts_with("http/1.1 400 bad request\r\n"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let error: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(error["error"]["code"], "invalid_parameter", "{error}");
    assert_eq!(error["error"]["parameter"], "since", "{error}");
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());

    // Another request, trickled too, then a second one on the same
    // connection: hyper serves both (the first from the replayed bytes).
    let mut stream = TcpStream::connect(t.addr).await.unwrap();
    trickle(
        &mut stream,
        b"GET /api/deltas/count HTTP/1.1\r\nhost: localhost\r\n\r\n",
    )
    .await;
    let mut reader = BufReader::new(stream);
    let (head, body) = response(&mut reader).await;
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"count": 3})
    );
    reader
        .get_mut()
        .write_all(b"GET /api/deltas?since=2 HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let (head, body) = response(&mut reader).await;
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["last_seq"],
        3
    );

    // A head longer than the server reads by itself goes to hyper whole,
    // even an SSE request.
    let mut stream = TcpStream::connect(t.addr).await.unwrap();
    let long = format!(
        "GET /api/deltas?feed=sse&since=2 HTTP/1.1\r\nhost: localhost\r\nx-padding: {}\r\n\r\n",
        "p".repeat(10_000)
    );
    stream.write_all(long.as_bytes()).await.unwrap();
    let mut sse = Sse::after_request(stream).await;
    assert_eq!(sse.status, 200, "{}", sse.headers);
    assert_eq!(sse.deltas(1).await[0].0, 3);

    // A malformed first request gets hyper's own 400.
    let mut stream = TcpStream::connect(t.addr).await.unwrap();
    stream.write_all(b"NOT HTTP AT ALL\r\n\r\n").await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(PATIENCE, stream.read_to_end(&mut raw))
        .await
        .expect("no answer")
        .unwrap();
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{raw}");
    t.server.shutdown().await.unwrap();
}

/// Writes `batches` small batches as fast as the node takes them.
fn writer(node: Arc<Node>, batches: usize) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        for i in 0..batches {
            let batch = (0..=(i % 3))
                .map(|j| prop(&format!("e{}", (i + j) % 7), "n", i as i64))
                .collect();
            node.ingest(batch).await.unwrap();
            if i % 16 == 0 {
                tokio::task::yield_now().await;
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_subscriber_joining_during_writes_gets_every_seq_exactly_once() {
    let t = start(|_| {}).await;
    let w = writer(Arc::clone(&t.node), 600);
    while t.node.last_seq() < 50 {
        tokio::task::yield_now().await;
    }
    let mut sse = Sse::open(t.addr, "&since=20", None).await;
    w.await.unwrap();
    let end = t.node.last_seq();
    let got = sse.deltas((end - 20) as usize).await;
    let seqs: Vec<u64> = got.iter().map(|g| g.0).collect();
    assert_eq!(seqs, (21..=end).collect::<Vec<_>>());
    t.server.shutdown().await.unwrap();
}

// ------------------------------------------------------------ WebSocket

async fn ws(addr: SocketAddr) -> Ws {
    tokio_tungstenite::connect_async(format!("ws://{addr}/api/ws"))
        .await
        .unwrap()
        .0
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("socket stalled")
            .expect("socket closed")
            .unwrap();
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_subscriber_joining_during_writes_gets_every_seq_exactly_once() {
    let t = start(|_| {}).await;
    let w = writer(Arc::clone(&t.node), 600);
    while t.node.last_seq() < 50 {
        tokio::task::yield_now().await;
    }
    let mut c = ws(t.addr).await;
    send(&mut c, json!({"op": "subscribe", "id": "all", "since": 20})).await;
    send(
        &mut c,
        json!({"op": "subscribe", "id": 7, "filter": {"entities": ["e3"]}}),
    )
    .await;
    w.await.unwrap();
    let end = t.node.last_seq();
    let mut all = Vec::new();
    let mut e3 = Vec::new();
    let expected_e3: Vec<u64> = t.node.read(|s| {
        (1..=end)
            .filter(|q| s.log.get(*q).unwrap().files_under("e3", "n"))
            .collect()
    });
    while all.len() < (end - 20) as usize || e3.len() < expected_e3.len() {
        let m = recv(&mut c).await;
        assert_eq!(m["type"], "delta", "{m}");
        match &m["sub"] {
            Value::String(s) if s == "all" => all.push(m["seq"].as_u64().unwrap()),
            Value::Number(n) if n.as_u64() == Some(7) => e3.push(m["seq"].as_u64().unwrap()),
            other => panic!("sub {other}"),
        }
    }
    assert_eq!(all, (21..=end).collect::<Vec<_>>());
    assert_eq!(e3, expected_e3);
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_put_ping_and_filters() {
    let t = start(|_| {}).await;
    let mut c = ws(t.addr).await;
    send(&mut c, json!({"op": "ping"})).await;
    assert_eq!(recv(&mut c).await, json!({"type": "pong"}));

    let filters = [
        json!({"entities": ["a"]}),
        json!({"properties": ["name"]}),
        json!({"creators": ["bob"], "entities": ["a", "b"]}),
        json!({"hosts": ["h2"]}),
        json!({"from": 150, "to": 250}),
        json!({"entities": ["b"], "properties": ["age"], "hosts": ["h1"]}),
    ];
    for (i, f) in filters.iter().enumerate() {
        send(&mut c, json!({"op": "subscribe", "id": i, "filter": f})).await;
    }
    let deltas: Vec<Delta> = [
        ("alice", "h1", "a", "name", 100),
        ("bob", "h1", "a", "age", 200),
        ("bob", "h2", "b", "name", 300),
        ("carol", "h1", "b", "age", 200),
        ("bob", "h2", "c", "age", 400),
    ]
    .iter()
    .map(|(c, h, e, p, t)| {
        Delta::builder(*c, *h)
            .timestamp(*t)
            .set_property(*e, *p, 1)
            .build()
            .unwrap()
    })
    .collect();
    let body: Vec<Value> = deltas
        .iter()
        .map(|d| {
            serde_json::from_str(
                &rhizome_crdt::codec::json::encode_string(d, rhizome_crdt::codec::Format::V1)
                    .unwrap(),
            )
            .unwrap()
        })
        .collect();
    send(&mut c, json!({"op": "put", "ref": "w1", "deltas": body})).await;
    let mut expected: Vec<(u64, u64)> = Vec::new();
    for (i, f) in filters.iter().enumerate() {
        let f: SubFilter = serde_json::from_value(f.clone()).unwrap();
        for (j, d) in deltas.iter().enumerate() {
            if f.matches(d) {
                expected.push((i as u64, j as u64 + 1));
            }
        }
    }
    let mut got = Vec::new();
    let mut acked = false;
    while got.len() < expected.len() || !acked {
        let m = recv(&mut c).await;
        match m["type"].as_str().unwrap() {
            "ack" => {
                assert_eq!(m["ref"], "w1");
                assert_eq!(m["accepted"].as_array().unwrap().len(), 5);
                assert_eq!(m["duplicates"], json!([]));
                acked = true;
            }
            "delta" => got.push((m["sub"].as_u64().unwrap(), m["seq"].as_u64().unwrap())),
            _ => panic!("{m}"),
        }
    }
    got.sort();
    expected.sort();
    assert_eq!(got, expected);
    assert!(
        expected.len() >= 8,
        "the filters are not trivial: {expected:?}"
    );

    // A duplicate put, then a conflicting one.
    send(&mut c, json!({"op": "put", "ref": 2, "deltas": body[0]})).await;
    let m = recv(&mut c).await;
    assert_eq!(
        (m["type"].clone(), m["duplicates"].as_array().unwrap().len()),
        (json!("ack"), 1)
    );
    let mut conflicting = body[0].clone();
    conflicting["timeCreated"] = json!(999);
    send(
        &mut c,
        json!({"op": "put", "ref": 3, "deltas": [conflicting]}),
    )
    .await;
    let m = recv(&mut c).await;
    assert_eq!(
        (
            m["type"].as_str(),
            m["ref"].as_u64(),
            m["error"]["code"].as_str()
        ),
        (Some("error"), Some(3), Some("conflict")),
        "{m}"
    );
    send(
        &mut c,
        json!({"op": "put", "ref": 4, "deltas": [{"id": "x"}]}),
    )
    .await;
    let m = recv(&mut c).await;
    assert_eq!(
        (m["ref"].as_u64(), m["error"]["code"].as_str()),
        (Some(4), Some("invalid_delta")),
        "{m}"
    );

    // Unsubscribe: nothing more for sub 0; sub 1 still live.
    send(&mut c, json!({"op": "unsubscribe", "id": 0})).await;
    send(&mut c, json!({"op": "ping"})).await;
    assert_eq!(recv(&mut c).await["type"], "pong");
    write(&t.node, vec![prop("a", "name", "x")]).await;
    let m = recv(&mut c).await;
    assert_eq!(
        (m["sub"].as_u64(), m["seq"].as_u64()),
        (Some(1), Some(6)),
        "{m}"
    );
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_watch_pushes_changed_views_on_writes_negations_and_transactions() {
    let t = start(|_| {}).await;
    let mut c = ws(t.addr).await;
    send(&mut c, json!({"op": "watch", "id": "w", "entity": "doc"})).await;
    let view = |m: Value| {
        assert_eq!(
            (m["type"].as_str(), m["sub"].as_str()),
            (Some("view"), Some("w")),
            "{m}"
        );
        m["view"]["properties"].clone()
    };
    assert_eq!(view(recv(&mut c).await), json!({}));
    let d1 = Delta::builder("alice", "h")
        .timestamp(10)
        .set_property("doc", "title", "A")
        .build()
        .unwrap();
    write(&t.node, vec![d1]).await;
    assert_eq!(view(recv(&mut c).await), json!({"title": "A"}));
    // Another entity: no view message (the next one proves it).
    write(&t.node, vec![prop("other", "title", "zzz")]).await;
    let d2 = Delta::builder("alice", "h")
        .timestamp(20)
        .set_property("doc", "title", "B")
        .build()
        .unwrap();
    let d2_id = d2.id().to_string();
    write(&t.node, vec![d2]).await;
    assert_eq!(view(recv(&mut c).await), json!({"title": "B"}));
    // A negation brings the older value back.
    write(
        &t.node,
        vec![
            Delta::builder("mod", "h")
                .timestamp(30)
                .negate(&d2_id)
                .build()
                .unwrap(),
        ],
    )
    .await;
    assert_eq!(view(recv(&mut c).await), json!({"title": "A"}));
    // A transaction member is invisible until the transaction is complete:
    // the view does not change (no message), then the declaration completes it.
    let member = Delta::builder("alice", "h")
        .timestamp(40)
        .in_transaction("tx1")
        .set_property("doc", "title", "C")
        .build()
        .unwrap();
    write(&t.node, vec![member]).await;
    write(
        &t.node,
        vec![
            Delta::builder("alice", "h")
                .timestamp(41)
                .declare_transaction("tx1", 1)
                .build()
                .unwrap(),
        ],
    )
    .await;
    assert_eq!(view(recv(&mut c).await), json!({"title": "C"}));

    // Strategy, and a schema that is not registered.
    send(
        &mut c,
        json!({"op": "watch", "id": "w2", "entity": "doc", "strategy": "first-write"}),
    )
    .await;
    assert_eq!(view_of(recv(&mut c).await, "w2"), json!({"title": "A"}));
    send(
        &mut c,
        json!({"op": "watch", "id": "w3", "entity": "doc", "schema": "doc"}),
    )
    .await;
    let m = recv(&mut c).await;
    assert_eq!(
        (m["sub"].as_str(), m["error"]["code"].as_str()),
        (Some("w3"), Some("unknown_schema")),
        "{m}"
    );
    send(
        &mut c,
        json!({"op": "watch", "id": "w4", "entity": "doc", "strategy": "nope"}),
    )
    .await;
    assert_eq!(recv(&mut c).await["error"]["code"], "unknown_strategy");
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_watch_under_a_schema_follows_nested_entities_and_the_schema() {
    use rhizome_crdt::Target;
    use rhizome_crdt::schema::HyperSchema;
    use rhizome_crdt::schema::registry::registration_deltas;

    let t = start(|_| {}).await;
    let register = |json: &str, ts: u64| {
        let schema = HyperSchema::from_json_str(json).unwrap();
        registration_deltas(&schema, "admin", "h", ts).unwrap()
    };
    write(
        &t.node,
        register(r#"{"name":"Person","select":"by-target-context"}"#, 1),
    )
    .await;
    write(
        &t.node,
        register(
            r#"{"name":"Movie","select":"by-target-context","transform":{"director":{"schema":"Person"}}}"#,
            2,
        ),
    )
    .await;
    let at = |ts: u64, entity: &str, property: &str, value: Target| {
        Delta::builder("alice", "h")
            .timestamp(ts)
            .set_property(entity, property, value)
            .build()
            .unwrap()
    };
    write(
        &t.node,
        vec![
            at(10, "m1", "title", "Heat".into()),
            at(11, "m1", "director", Target::reference("p1", "directed")),
            at(12, "p1", "name", "Ann".into()),
        ],
    )
    .await;
    let mut c = ws(t.addr).await;
    send(
        &mut c,
        json!({"op": "watch", "id": "w", "entity": "m1", "schema": "Movie"}),
    )
    .await;
    assert_eq!(
        view_of(recv(&mut c).await, "w")["director"]["properties"]["name"],
        "Ann"
    );
    // A change to an entity the answer does not read: no message (the next
    // message proves it). A change to the nested director: a new view.
    write(&t.node, vec![at(20, "p2", "name", "Zed".into())]).await;
    write(&t.node, vec![at(21, "p1", "name", "Bo".into())]).await;
    let m = view_of(recv(&mut c).await, "w");
    assert_eq!(m["director"]["properties"]["name"], "Bo", "{m}");
    assert_eq!(m["title"], "Heat", "{m}");
    // Re-registering the schema (projection to the title) changes the view.
    write(
        &t.node,
        register(
            r#"{"name":"Movie","select":"by-target-context","contexts":["title"]}"#,
            30,
        ),
    )
    .await;
    assert_eq!(view_of(recv(&mut c).await, "w"), json!({"title": "Heat"}));
    // The old director no longer matters to the answer.
    write(&t.node, vec![at(40, "p1", "name", "Cy".into())]).await;
    write(&t.node, vec![at(41, "m1", "title", "Heat II".into())]).await;
    assert_eq!(
        view_of(recv(&mut c).await, "w"),
        json!({"title": "Heat II"})
    );
    t.server.shutdown().await.unwrap();
}

fn view_of(m: Value, sub: &str) -> Value {
    assert_eq!(
        (m["type"].as_str(), m["sub"].as_str()),
        (Some("view"), Some(sub)),
        "{m}"
    );
    m["view"]["properties"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_bad_frames_and_limits_get_clear_errors() {
    let t = start(|c| {
        c.realtime.ws_max_subscriptions = 2;
        c.realtime.ws_max_message_bytes = 4096;
    })
    .await;
    let mut c = ws(t.addr).await;
    let expect = async |c: &mut Ws, frame: Message, code: &str, needle: &str| {
        c.send(frame).await.unwrap();
        let m = recv(c).await;
        assert_eq!(
            (m["type"].as_str(), m["error"]["code"].as_str()),
            (Some("error"), Some(code)),
            "{m}"
        );
        assert!(
            m["error"]["message"].as_str().unwrap().contains(needle),
            "{m}"
        );
        m
    };
    expect(
        &mut c,
        Message::Text("{nope".into()),
        "invalid_json",
        "not JSON",
    )
    .await;
    expect(
        &mut c,
        Message::Text(r#"{"op":"fly"}"#.into()),
        "unknown_op",
        "fly",
    )
    .await;
    expect(
        &mut c,
        Message::Text(r#"{"op":"subscribe"}"#.into()),
        "invalid_frame",
        "missing field `id`",
    )
    .await;
    let m = expect(
        &mut c,
        Message::Text(r#"{"op":"subscribe","id":1,"filter":{"entity":["a"]}}"#.into()),
        "invalid_frame",
        "unknown field `entity`",
    )
    .await;
    assert_eq!(m["id"], 1);
    expect(
        &mut c,
        Message::Text(r#"{"op":"subscribe","id":[1]}"#.into()),
        "invalid_frame",
        "string or a number",
    )
    .await;
    expect(
        &mut c,
        Message::Binary(vec![1, 2, 3].into()),
        "binary_frame",
        "binary",
    )
    .await;
    send(&mut c, json!({"op": "subscribe", "id": 1})).await;
    expect(
        &mut c,
        Message::Text(r#"{"op":"subscribe","id":1}"#.into()),
        "duplicate_subscription",
        "already",
    )
    .await;
    send(&mut c, json!({"op": "watch", "id": 2, "entity": "x"})).await;
    assert_eq!(recv(&mut c).await["type"], "view");
    let m = expect(
        &mut c,
        Message::Text(r#"{"op":"subscribe","id":3}"#.into()),
        "too_many_subscriptions",
        "limit",
    )
    .await;
    assert_eq!(m["error"]["limit"], 2);
    // Unsubscribing frees a slot.
    send(&mut c, json!({"op": "unsubscribe", "id": 2})).await;
    send(&mut c, json!({"op": "subscribe", "id": 3})).await;
    send(&mut c, json!({"op": "ping"})).await;
    assert_eq!(recv(&mut c).await["type"], "pong");
    // Too large: an error, then the socket closes.
    let big = format!(r#"{{"op":"ping","pad":"{}"}}"#, "x".repeat(5000));
    c.send(Message::Text(big.into())).await.unwrap();
    let mut saw_error = false;
    while let Some(Ok(m)) = c.next().await {
        if let Message::Text(t) = m {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            assert_eq!(v["error"]["code"], "message_too_large", "{v}");
            saw_error = true;
        }
    }
    assert!(saw_error);
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_overflow_ends_the_subscription_and_since_resumes_without_loss() {
    let t = start(|c| c.realtime.subscriber_buffer = 8).await;
    let mut c = ws(t.addr).await;
    send(&mut c, json!({"op": "subscribe", "id": "s"})).await;
    send(&mut c, json!({"op": "ping"})).await;
    assert_eq!(recv(&mut c).await["type"], "pong");
    // One batch larger than the buffer: the dispatcher pushes 8, then overflows.
    write(&t.node, (0..20).map(|i| prop("e", "n", i)).collect()).await;
    let mut seqs = Vec::new();
    let last = loop {
        let m = recv(&mut c).await;
        match m["type"].as_str().unwrap() {
            "delta" => seqs.push(m["seq"].as_u64().unwrap()),
            "overflow" => {
                assert_eq!(m["sub"], "s");
                break m["last_seq"].as_u64().unwrap();
            }
            _ => panic!("{m}"),
        }
    };
    assert_eq!(seqs, (1..=8).collect::<Vec<_>>());
    assert_eq!(last, 8);
    // The subscription ended: new writes do not reach it; resubscribing
    // with since gets everything.
    write(&t.node, vec![prop("e", "n", 99)]).await;
    send(&mut c, json!({"op": "subscribe", "id": "s", "since": last})).await;
    let mut again = Vec::new();
    while again.len() < 13 {
        let m = recv(&mut c).await;
        assert_eq!(m["type"], "delta", "{m}");
        again.push(m["seq"].as_u64().unwrap());
    }
    assert_eq!(again, (9..=21).collect::<Vec<_>>());
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_reading_overflows_without_slowing_others() {
    let t = start(|c| c.realtime.subscriber_buffer = 128).await;
    let mut slow = ws(t.addr).await;
    send(&mut slow, json!({"op": "subscribe", "id": "slow"})).await;
    let mut sse = Sse::open(t.addr, "", None).await;
    send(&mut slow, json!({"op": "ping"})).await;
    assert_eq!(recv(&mut slow).await["type"], "pong");
    // 20,000 deltas of 1 KB: more than the socket buffers hold, so the slow
    // socket's queue fills while the fast reader keeps up.
    let pad = "p".repeat(1000);
    let total = 20_000u64;
    let node = Arc::clone(&t.node);
    let w = tokio::spawn(async move {
        for b in 0..(total / 100) {
            node.ingest(
                (0..100)
                    .map(|i| prop("e", "n", format!("{pad}{b}-{i}").as_str()))
                    .collect(),
            )
            .await
            .unwrap();
        }
    });
    // The fast reader behaves like EventSource: on overflow (possible when
    // the dispatcher outruns it by a whole buffer) it reconnects with the
    // last event id.
    let mut fast = Vec::new();
    while fast.len() < total as usize {
        let ev = sse.next().await.expect("stream ended");
        let resume = ev.id.unwrap();
        match ev.event.as_str() {
            "delta" => fast.push(resume),
            "overflow" => sse = Sse::open(t.addr, "", Some(resume)).await,
            other => panic!("{other}"),
        }
    }
    assert_eq!(fast, (1..=total).collect::<Vec<_>>());
    w.await.unwrap();
    // Now read the slow socket: a prefix, then the overflow.
    let mut seqs = Vec::new();
    let last = loop {
        let m = recv(&mut slow).await;
        match m["type"].as_str().unwrap() {
            "delta" => seqs.push(m["seq"].as_u64().unwrap()),
            "overflow" => break m["last_seq"].as_u64().unwrap(),
            _ => panic!("{m}"),
        }
    };
    assert!(last < total, "overflowed at {last}");
    assert_eq!(seqs, (1..=last).collect::<Vec<_>>());
    send(
        &mut slow,
        json!({"op": "subscribe", "id": "again", "since": last}),
    )
    .await;
    let mut n = last;
    while n < total {
        let m = recv(&mut slow).await;
        n += 1;
        assert_eq!(m["seq"].as_u64(), Some(n), "{}", m["type"]);
    }
    t.server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn the_dispatcher_recovers_from_lag_by_sequence_number() {
    use rhizome::realtime::queue::{SubQueue, WatchFlag};
    use rhizome::realtime::{Hub, Shutdown};
    use tokio::sync::Notify;

    let node = Arc::new(
        Node::start(Config::new(StorageKind::Memory, "unused"))
            .await
            .unwrap(),
    );
    let hub = Hub::new(Arc::clone(&node), Shutdown::new());
    let wake = Arc::new(Notify::new());
    let queue = Arc::new(SubQueue::new(100_000, Arc::clone(&wake)));
    let _sub = hub
        .subscribe(
            0,
            SubFilter::default(),
            rhizome_crdt::codec::Format::V1,
            Arc::clone(&queue),
        )
        .await;
    let flag = Arc::new(WatchFlag::new(Arc::clone(&wake)));
    let _watch = hub.watch("e1".into(), Arc::clone(&flag)).await;
    write(&node, vec![prop("e0", "n", 0)]).await;
    while !queue.has_items() {
        wake.notified().await;
    }
    assert!(!flag.take(), "e1 is not touched yet");
    // Block this runtime's only thread while another thread stores more
    // batches than the live feed buffers: the dispatcher cannot run, lags.
    let writer_node = Arc::clone(&node);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            for i in 0..(rhizome::node::FEED_CAPACITY + 500) {
                writer_node
                    .ingest(vec![prop(&format!("e{}", i % 3), "n", i as i64)])
                    .await
                    .unwrap();
            }
        });
    })
    .join()
    .unwrap();
    let end = node.last_seq();
    let mut got = Vec::new();
    while got.last().is_none_or(|(s, _)| *s < end) {
        if queue.drain(&mut got, usize::MAX).is_some() {
            panic!("the subscription ended");
        }
        if got.last().is_none_or(|(s, _)| *s < end) {
            wake.notified().await;
        }
    }
    let seqs: Vec<u64> = got.iter().map(|(s, _)| *s).collect();
    let first_wrong = seqs.iter().zip(1..).position(|(s, want)| *s != want);
    assert!(
        seqs.len() as u64 == end && first_wrong.is_none(),
        "{} of {end} delivered; first wrong at index {first_wrong:?}",
        seqs.len()
    );
    assert!(flag.take(), "a lag marks every watch as possibly changed");
}
