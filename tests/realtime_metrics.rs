//! The real-time metrics read back from `GET /metrics`. A test file of its
//! own: the metrics are the process's, so no other test may share them.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use rhizome::config::{Config, StorageKind};
use rhizome::http::Limits;
use rhizome_crdt::Delta;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// Long enough that a broken test fails rather than hangs; never a timing assertion.
const PATIENCE: Duration = Duration::from_secs(60);

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// The value of the sample `series` (name with labels, as exposed).
async fn metric(addr: SocketAddr, series: &str) -> f64 {
    let text = tokio::task::spawn_blocking(move || {
        String::from_utf8(common::get(addr, "/metrics").body).unwrap()
    })
    .await
    .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

/// Waits until `series` is `want` (the dispatcher applies registrations
/// on its own task); fails after [`PATIENCE`].
async fn expect_metric(addr: SocketAddr, series: &str, want: f64) {
    let start = Instant::now();
    loop {
        let got = metric(addr, series).await;
        if got == want {
            return;
        }
        assert!(start.elapsed() < PATIENCE, "{series} = {got}, want {want}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn recv(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(PATIENCE, ws.next())
            .await
            .expect("socket stalled")
            .expect("socket closed")
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

async fn send(ws: &mut Ws, text: &str) {
    ws.send(Message::Text(text.into())).await.unwrap();
}

/// The `event:` names of an SSE stream up to and including `last`.
async fn sse_events_until(reader: &mut BufReader<TcpStream>, last: &str) -> Vec<String> {
    let mut events = Vec::new();
    loop {
        let mut line = String::new();
        let n = tokio::time::timeout(PATIENCE, reader.read_line(&mut line))
            .await
            .expect("SSE stream stalled")
            .unwrap();
        assert!(n > 0, "SSE stream ended before {last}: {events:?}");
        if let Some(e) = line.trim_end().strip_prefix("event: ") {
            events.push(e.to_owned());
            if e == last {
                return events;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_metrics_count_connections_subscriptions_deliveries_overflows_and_rejected_frames()
{
    let mut config = Config::new(StorageKind::Memory, "unused");
    config.realtime.subscriber_buffer = 8;
    // No keep-alive comment during the test: a closed SSE client must be
    // noticed without a write to it.
    config.realtime.sse_keepalive_ms = 3_600_000;
    let (node, server, addr) = common::serve(config, &Limits::default()).await;

    // A WebSocket with one subscription and one watch, and an SSE stream.
    let mut ws = tokio_tungstenite::connect_async(format!("ws://{addr}/api/ws"))
        .await
        .unwrap()
        .0;
    send(&mut ws, r#"{"op":"subscribe","id":"s"}"#).await;
    send(&mut ws, r#"{"op":"watch","id":"w","entity":"e"}"#).await;
    assert_eq!(recv(&mut ws).await["type"], "view");
    let mut sse = TcpStream::connect(addr).await.unwrap();
    sse.write_all(b"GET /api/deltas?feed=sse HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut sse = BufReader::new(sse);
    expect_metric(addr, "rhizome_realtime_ws_connections", 1.0).await;
    expect_metric(addr, "rhizome_realtime_sse_streams", 1.0).await;
    expect_metric(addr, "rhizome_realtime_subscriptions", 2.0).await;
    expect_metric(addr, "rhizome_realtime_watches", 1.0).await;

    // Two bad frames, counted by error code.
    send(&mut ws, "not json").await;
    assert_eq!(recv(&mut ws).await["error"]["code"], "invalid_json");
    send(&mut ws, r#"{"op":"dance"}"#).await;
    assert_eq!(recv(&mut ws).await["error"]["code"], "unknown_op");
    let rejected =
        |code: &str| format!("rhizome_realtime_ws_frames_rejected_total{{reason=\"{code}\"}}");
    assert_eq!(metric(addr, &rejected("invalid_json")).await, 1.0);
    assert_eq!(metric(addr, &rejected("unknown_op")).await, 1.0);

    // One batch of 200 into buffers of 8: both subscriptions take what fits
    // (8, or a few more if their connection drains meanwhile), then
    // overflow and end.
    let batch: Vec<Delta> = (0..200)
        .map(|i| {
            Delta::builder("alice", "h1")
                .set_property("e", "n", i)
                .build()
                .unwrap()
        })
        .collect();
    node.ingest(batch).await.unwrap();
    let mut deltas = 0;
    loop {
        let m = recv(&mut ws).await;
        match m["type"].as_str().unwrap() {
            "delta" => deltas += 1,
            "overflow" => break,
            "view" => {}
            _ => panic!("{m}"),
        }
    }
    assert!(deltas >= 8, "{deltas}");
    let events = sse_events_until(&mut sse, "overflow").await;
    let sse_deltas = events.iter().filter(|e| *e == "delta").count();
    assert!(sse_deltas >= 8, "{events:?}");
    assert_eq!(
        metric(addr, "rhizome_realtime_deliveries_total").await,
        (deltas + sse_deltas) as f64
    );
    assert_eq!(metric(addr, "rhizome_realtime_overflows_total").await, 2.0);
    expect_metric(addr, "rhizome_realtime_subscriptions", 0.0).await;
    assert_eq!(metric(addr, "rhizome_realtime_watches").await, 1.0);

    // Closing the connections takes the gauges back to zero.
    drop(sse);
    ws.close(None).await.unwrap();
    expect_metric(addr, "rhizome_realtime_sse_streams", 0.0).await;
    expect_metric(addr, "rhizome_realtime_ws_connections", 0.0).await;
    expect_metric(addr, "rhizome_realtime_watches", 0.0).await;

    // An idle SSE stream whose client goes away ends at once: no delta and
    // no keep-alive comment is written to find out. The connections gauge
    // then counts only the connection reading the metrics.
    let mut sse = TcpStream::connect(addr).await.unwrap();
    sse.write_all(b"GET /api/deltas?feed=sse&since=1000 HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut sse = BufReader::new(sse);
    let mut status = String::new();
    sse.read_line(&mut status).await.unwrap();
    assert!(status.starts_with("HTTP/1.1 200 "), "{status}");
    expect_metric(addr, "rhizome_realtime_sse_streams", 1.0).await;
    expect_metric(addr, "rhizome_http_connections", 2.0).await;
    drop(sse);
    expect_metric(addr, "rhizome_realtime_sse_streams", 0.0).await;
    expect_metric(addr, "rhizome_http_connections", 1.0).await;
    server.shutdown().await.unwrap();
}
