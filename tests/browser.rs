//! A real browser (Debian's chromium, driven by playwright-core from
//! `tests/browser/run.mjs`) receives live deltas through its own
//! `EventSource` and `WebSocket` from the real `rhizome` binary, while they
//! are written. `scripts/test` installs chromium and the npm packages
//! first (`scripts/install-browser-test-deps`).

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use futures_util::{SinkExt, StreamExt};
use rhizome_crdt::Delta;
use rhizome_crdt::codec::{Format, json::encode_value};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_event_source_and_websocket_receive_live_deltas() {
    // Read at run time: a test binary built from another checkout sharing
    // the build directory would carry that checkout's path.
    let root =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let dir = Path::new(&root).join("tests/browser");
    assert!(
        Path::new("/usr/bin/chromium").exists()
            && dir.join("node_modules/playwright-core").exists(),
        "run scripts/install-browser-test-deps first (scripts/test does)"
    );
    // The page is served from another origin (a static server on a port
    // chosen here), which the node must be told to allow (API.md §6).
    let page_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let origin = format!("http://127.0.0.1:{page_port}");
    let (_node, addr) = common::start_binary(&[("RHIZOME_CORS_ORIGINS", origin.as_str())]);

    let deltas: Vec<Delta> = (0..3)
        .map(|i| {
            Delta::builder("alice", "browser-test")
                .set_property("doc", "title", format!("v{i}").as_str())
                .build()
                .unwrap()
        })
        .collect();
    let mut script = Kill(
        Command::new("node")
            .arg(dir.join("run.mjs"))
            .arg(&addr)
            .arg(deltas.len().to_string())
            .arg(page_port.to_string())
            .stdout(Stdio::piped())
            .spawn()
            .expect("node (Node.js) must be installed"),
    );
    let mut out = BufReader::new(script.0.stdout.take().unwrap()).lines();
    let ready = tokio::task::spawn_blocking(move || {
        let first = out.next();
        (first, out)
    });
    let (first, mut out) = ready.await.unwrap();
    assert_eq!(first.unwrap().unwrap(), "ready");

    // Write while the page is open, plus a delta the page's filter skips.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/ws"))
        .await
        .unwrap();
    let other = Delta::builder("alice", "browser-test")
        .set_property("other", "title", "x")
        .build()
        .unwrap();
    for d in deltas.iter().chain([&other]) {
        let frame =
            json!({"op": "put", "ref": 1, "deltas": [encode_value(d, Format::V1).unwrap()]});
        ws.send(Message::Text(frame.to_string().into()))
            .await
            .unwrap();
        let ack = ws.next().await.unwrap().unwrap();
        let ack: Value = serde_json::from_str(ack.to_text().unwrap()).unwrap();
        assert_eq!(ack["type"], "ack", "{ack}");
    }
    let result = tokio::task::spawn_blocking(move || out.next())
        .await
        .unwrap();
    let got: Value = serde_json::from_str(&result.unwrap().unwrap()).unwrap();
    let ids: Vec<&str> = deltas.iter().map(|d| d.id().as_str()).collect();
    assert_eq!(got["sse"], json!(ids), "{got}");
    assert_eq!(got["ws"], json!(ids), "{got}");
    assert!(script.0.wait().unwrap().success());
}
