//! What the HTTP test files share: a small raw HTTP/1 client and an
//! in-process server on a free port. (`tests/common/mod.rs`, so cargo does
//! not build it as a test of its own.)

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use rhizome::config::Config;
use rhizome::http::{self, AppState, Limits, RunningServer, Server};
use rhizome::node::Node;
use serde_json::Value;

// ---------------------------------------------------------------- client

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// The status line and headers.
    pub head: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// Asserts status and error code; returns the `error` object.
    pub fn error(&self, status: u16, code: &str) -> Value {
        let body = self.json();
        assert_eq!(self.status, status, "{body}");
        assert_eq!(body["error"]["code"], code, "{body}");
        body["error"].clone()
    }

    /// The value of header `name`, if present.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    /// The error code of an error answer ("" if none).
    pub fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    }

    pub fn ok(&self, status: u16) -> Value {
        let body = self.json();
        assert_eq!(self.status, status, "{body}");
        body
    }
}

/// One request on a fresh connection that the server closes after it.
pub fn request(addr: SocketAddr, method: &str, path: &str, ct: Option<&str>, body: &[u8]) -> Reply {
    let headers: Vec<(&str, &str)> = ct.map(|ct| ("content-type", ct)).into_iter().collect();
    request_with(addr, method, path, &headers, body)
}

/// One request with `headers` (a `host: localhost` is added unless one is
/// given) on a fresh connection that the server closes after it.
pub fn request_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str("host: localhost\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    // The server may answer (413) before reading the whole body.
    let _ = s.write_all(body);
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let mut body = raw[end + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let i = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let n =
                usize::from_str_radix(std::str::from_utf8(&rest[..i]).unwrap().trim(), 16).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[i + 2..i + 2 + n]);
            rest = &rest[i + 2 + n + 2..];
        }
        body = out;
    }
    Reply { status, head, body }
}

pub fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, None, b"")
}

pub fn post(addr: SocketAddr, path: &str, body: &Value) -> Reply {
    post_raw(addr, path, body.to_string().as_bytes())
}

pub fn post_raw(addr: SocketAddr, path: &str, body: &[u8]) -> Reply {
    request(addr, "POST", path, Some("application/json"), body)
}

// ---------------------------------------------------- in-process server

#[derive(Parser)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
}

pub struct TestServer {
    pub runtime: tokio::runtime::Runtime,
    pub server: Option<RunningServer>,
    pub addr: SocketAddr,
    pub node: Arc<Node>,
}

/// A node with `config` behind a real server on a free port of 127.0.0.1,
/// whose long-lived streams (SSE, WebSocket) end when the server stops.
pub async fn serve(config: Config, limits: &Limits) -> (Arc<Node>, RunningServer, SocketAddr) {
    let node = Arc::new(Node::start(config).await.unwrap());
    let state = AppState::new(Arc::clone(&node));
    let flag = state.shutdown();
    let server = Server::bind(
        "127.0.0.1:0".parse().unwrap(),
        limits,
        http::router(state, limits),
    )
    .await
    .unwrap()
    .stopping_raises(flag)
    .spawn();
    let addr = server.local_addr();
    (node, server, addr)
}

impl TestServer {
    pub fn start() -> TestServer {
        TestServer::start_with(&[])
    }

    /// [`TestServer::start`] with more node flags (`--plugin-fuel`, ...).
    pub fn start_with(extra: &[&str]) -> TestServer {
        let limits = Limits {
            max_body_bytes: 1 << 20,
            ..Limits::default()
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (node, server, addr) = runtime.block_on(async {
            let mut args = vec!["rhizome", "--storage", "memory", "--host-id", "test-node"];
            args.extend_from_slice(extra);
            let config = Cli::try_parse_from(args).unwrap().config;
            serve(config, &limits).await
        });
        TestServer {
            runtime,
            server: Some(server),
            addr,
            node,
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            let _ = self.runtime.block_on(s.shutdown());
        }
    }
}

// ------------------------------------------------------- node processes

/// A `rhizome start` process, killed (and reaped) on drop.
pub struct NodeProcess(pub std::process::Child);

impl Drop for NodeProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the real `rhizome` binary with a memory store on a free HTTP port
/// and the environment `env`; returns it with the HTTP address of its
/// start line.
pub fn start_binary(env: &[(&str, &str)]) -> (NodeProcess, String) {
    use std::io::BufRead;
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_rhizome"));
    command
        .arg("start")
        .env("RHIZOME_STORAGE", "memory")
        .env("RHIZOME_HTTP_PORT", "0")
        .env("RHIZOME_LOG", "warn")
        .stdout(std::process::Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut node = NodeProcess(command.spawn().unwrap());
    let mut line = String::new();
    std::io::BufReader::new(node.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .unwrap_or_else(|| panic!("no start line: {line:?}"))
        .to_owned();
    (node, addr)
}
