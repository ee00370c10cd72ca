//! Load tool for the real-time feeds, run against a `rhizome start` in
//! another process (see benches/README.md, "Real-time").
//!
//! ```text
//! realtime-load idle    ADDR PID WS SSE         # memory per idle connection
//! realtime-load latency ADDR SUBS RATE SECS MODE  # MODE: own-entity | all
//! ```
//!
//! `idle` opens WS WebSockets (each subscribed to its own entity) and SSE
//! event streams, then reads the node's resident memory from
//! `/proc/PID/status` before and after. `latency` opens SUBS WebSockets,
//! each subscribed to one entity of its own (`own-entity`) or to
//! everything (`all`), writes RATE deltas per second for SECS seconds over
//! another WebSocket (`put`), each carrying its send time, and reports the
//! publish-to-delivery latency (send → the subscriber has the frame) and
//! the deliveries per second.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use rhizome_crdt::Delta;
use rhizome_crdt::codec::{Format, json::encode_value};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

fn rss_kb(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[tokio::main]
async fn main() {
    rhizome::http::limits::raise_open_file_limit();
    let args: Vec<String> = std::env::args().collect();
    let usage =
        "usage: realtime-load idle ADDR PID WS SSE | latency ADDR SUBS RATE SECS own-entity|all";
    let addr: SocketAddr = args.get(2).and_then(|a| a.parse().ok()).expect(usage);
    match args.get(1).map(String::as_str) {
        Some("idle") => {
            let n = |i: usize| {
                args.get(i)
                    .and_then(|a| a.parse::<u64>().ok())
                    .expect(usage)
            };
            idle(addr, n(3) as u32, n(4) as usize, n(5) as usize).await
        }
        Some("latency") => {
            let n = |i: usize| {
                args.get(i)
                    .and_then(|a| a.parse::<u64>().ok())
                    .expect(usage)
            };
            let all = args.get(6).map(String::as_str) == Some("all");
            latency(addr, n(3) as usize, n(4), n(5), all).await
        }
        _ => panic!("{usage}"),
    }
}

async fn idle(addr: SocketAddr, pid: u32, ws: usize, sse: usize) {
    let before = rss_kb(pid);
    let mut sockets = Vec::new();
    for i in 0..ws {
        let (mut s, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/ws"))
            .await
            .unwrap();
        let sub = json!({"op": "subscribe", "id": 1, "filter": {"entities": [format!("idle{i}")]}});
        s.send(Message::Text(sub.to_string().into())).await.unwrap();
        sockets.push(s);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_ws = rss_kb(pid);
    let mut streams = Vec::new();
    for i in 0..sse {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let req =
            format!("GET /api/deltas?feed=sse&entity=idle{i} HTTP/1.1\r\nhost: localhost\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf).await.unwrap();
        streams.push(s);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after_sse = rss_kb(pid);
    let per = |kb: u64, n: usize| {
        if n == 0 {
            0.0
        } else {
            kb as f64 * 1024.0 / n as f64
        }
    };
    println!(
        "node RSS: {before} kB idle; +{ws} WebSockets: {after_ws} kB ({:.0} B each); +{sse} SSE: {after_sse} kB ({:.0} B each)",
        per(after_ws.saturating_sub(before), ws),
        per(after_sse.saturating_sub(after_ws), sse),
    );
}

async fn latency(addr: SocketAddr, subs: usize, rate: u64, secs: u64, all: bool) {
    let entities = subs.max(1);
    let samples = Arc::new(Mutex::new(Vec::<u64>::with_capacity(1 << 20)));
    let delivered = Arc::new(AtomicU64::new(0));
    let overflows = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for i in 0..subs {
        let (mut s, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/ws"))
            .await
            .unwrap();
        let filter = if all {
            json!({})
        } else {
            json!({"entities": [format!("e{i}")]})
        };
        let sub = json!({"op": "subscribe", "id": 1, "filter": filter});
        s.send(Message::Text(sub.to_string().into())).await.unwrap();
        let (samples, delivered, overflows) = (
            Arc::clone(&samples),
            Arc::clone(&delivered),
            Arc::clone(&overflows),
        );
        readers.push(tokio::spawn(async move {
            while let Some(Ok(m)) = s.next().await {
                let now = now_nanos();
                let Message::Text(t) = m else { continue };
                if let Some(at) = t.find("\"T") {
                    let digits: String = t[at + 2..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    if let Ok(sent) = digits.parse::<u64>() {
                        samples.lock().unwrap().push(now.saturating_sub(sent));
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                } else if t.contains("\"overflow\"") {
                    overflows.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    eprintln!("{subs} subscribers connected; writing {rate} deltas/s for {secs} s");
    let (w, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/ws"))
        .await
        .unwrap();
    let (mut wtx, mut wrx) = w.split();
    let acks = tokio::spawn(async move { while let Some(Ok(_)) = wrx.next().await {} });
    let per_tick = (rate / 1000).max(1);
    let tick = Duration::from_nanos(1_000_000_000 * per_tick / rate.max(1));
    let mut interval = tokio::time::interval(tick);
    let started = Instant::now();
    let mut written = 0u64;
    while started.elapsed() < Duration::from_secs(secs) {
        interval.tick().await;
        let deltas: Vec<_> = (0..per_tick)
            .map(|_| {
                written += 1;
                let d = Delta::builder("bench", "load")
                    .set_property(
                        format!("e{}", written as usize % entities),
                        "t",
                        format!("T{}", now_nanos()).as_str(),
                    )
                    .build()
                    .unwrap();
                encode_value(&d, Format::V1).unwrap()
            })
            .collect();
        let put = json!({"op": "put", "ref": written, "deltas": deltas});
        wtx.send(Message::Text(put.to_string().into()))
            .await
            .unwrap();
    }
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = wtx.close().await;
    acks.abort();
    for r in &readers {
        r.abort();
    }
    for r in readers {
        let _ = r.await;
    }
    let mut s = samples.lock().unwrap();
    s.sort_unstable();
    let q = |p: f64| {
        s.get(((s.len() as f64 * p) as usize).min(s.len().saturating_sub(1)))
            .map_or(0.0, |v| *v as f64 / 1e6)
    };
    println!(
        "{subs} subscribers ({}), {written} deltas in {:.1} s ({:.0}/s): {} deliveries = {:.0}/s; latency p50 {:.2} ms p99 {:.2} ms p99.9 {:.2} ms max {:.2} ms; {} overflows",
        if all {
            "all deltas each"
        } else {
            "one entity each"
        },
        elapsed.as_secs_f64(),
        written as f64 / elapsed.as_secs_f64(),
        delivered.load(Ordering::Relaxed),
        delivered.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
        q(0.5),
        q(0.99),
        q(0.999),
        s.last().map_or(0.0, |v| *v as f64 / 1e6),
        overflows.load(Ordering::Relaxed),
    );
}
