//! The HTTP server against real sockets: in-process servers on free ports
//! (with a few test-only routes beside the API's), and the real binary.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::routing::get;
use clap::Parser;
use rhizome::config::Config;
use rhizome::http::json::JsonBody;
use rhizome::http::query::QueryParams;
use rhizome::http::{self, ApiError, AppState, Limits, RunningServer, Server};
use rhizome::node::Node;
use serde_json::Value;

// ---------------------------------------------------------------- client

/// One HTTP response, read off a raw socket.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Asserts the error shape and returns the `error` object.
    fn error(&self, status: u16, code: &str) -> Value {
        assert_eq!(self.status, status, "{}", self.text());
        assert!(
            self.header("content-type")
                .is_some_and(|ct| ct.starts_with("application/json")),
            "{:?}",
            self.headers
        );
        let body = self.json();
        let error = body["error"].clone();
        assert_eq!(error["code"], code, "{body}");
        assert!(
            error["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
        error
    }
}

/// Reads one response from `stream` (content-length or chunked body).
fn read_reply(stream: &mut TcpStream) -> Reply {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut chunk).expect("reading the response head");
        assert!(n > 0, "connection closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut rest = buf[head_end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .map(|l| {
            let (k, v) = l.split_once(':').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let body = if let Some(len) = find("content-length") {
        let len: usize = len.parse().unwrap();
        while rest.len() < len {
            let n = stream.read(&mut chunk).unwrap();
            assert!(n > 0, "connection closed inside the body");
            rest.extend_from_slice(&chunk[..n]);
        }
        rest.truncate(len);
        rest
    } else if find("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        let mut body = Vec::new();
        loop {
            while !rest.windows(2).any(|w| w == b"\r\n") {
                let n = stream.read(&mut chunk).unwrap();
                assert!(n > 0);
                rest.extend_from_slice(&chunk[..n]);
            }
            let i = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let size =
                usize::from_str_radix(std::str::from_utf8(&rest[..i]).unwrap().trim(), 16).unwrap();
            while rest.len() < i + 2 + size + 2 {
                let n = stream.read(&mut chunk).unwrap();
                assert!(n > 0);
                rest.extend_from_slice(&chunk[..n]);
            }
            body.extend_from_slice(&rest[i + 2..i + 2 + size]);
            rest.drain(..i + 2 + size + 2);
            if size == 0 {
                break body;
            }
        }
    } else {
        stream.read_to_end(&mut rest).unwrap();
        rest
    };
    Reply {
        status,
        headers,
        body,
    }
}

/// Writes a request on an open connection (kept alive) and reads the reply.
fn send(
    stream: &mut TcpStream,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: localhost\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty()
        && !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("transfer-encoding"))
    {
        req.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    read_reply(stream)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// One request on a fresh connection.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    send(&mut connect(addr), method, path, headers, body)
}

fn get_(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, &[], b"")
}

const JSON: (&str, &str) = ("content-type", "application/json");

// ---------------------------------------------------- in-process server

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    config: Config,
}

/// A node with memory storage and its HTTP server, on a runtime of its own
/// so the test's blocking client never blocks a server thread.
struct TestServer {
    runtime: tokio::runtime::Runtime,
    server: Option<RunningServer>,
    addr: SocketAddr,
}

impl TestServer {
    fn start(limits: Limits) -> TestServer {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime.block_on(async {
            let config =
                Cli::try_parse_from(["rhizome", "--storage", "memory", "--host-id", "test-node"])
                    .unwrap()
                    .config;
            let node = Arc::new(Node::start(config).await.unwrap());
            let state = AppState::new(node);
            let routes = http::routes::api_routes(&limits).merge(test_routes());
            let app = http::routes::finish(routes, state, &limits);
            Server::bind("127.0.0.1:0".parse().unwrap(), &limits, app)
                .await
                .unwrap()
                .spawn()
        });
        let addr = server.local_addr();
        TestServer {
            runtime,
            server: Some(server),
            addr,
        }
    }

    fn stop(mut self) {
        let server = self.server.take().unwrap();
        self.runtime.block_on(server.shutdown()).unwrap();
    }
}

/// Routes that exist only in these tests, exercising the shared machinery
/// (body extractor, query parser, panics, timeouts, route labels).
fn test_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/test/echo",
            axum::routing::post(|JsonBody(v): JsonBody<Value>| async move { Json(v) }),
        )
        .route(
            "/test/count",
            get(|q: QueryParams| async move {
                let n: u32 = q.get_or("n", 1)?;
                Ok::<_, ApiError>(Json(serde_json::json!({"n": n})))
            }),
        )
        .route("/test/items/{id}", get(|| async { "item" }))
        .route(
            "/test/panic",
            get(|| async {
                if true {
                    panic!("test handler panics on purpose");
                }
                "unreachable"
            }),
        )
        .route(
            "/test/slow-counted",
            get(|q: QueryParams| async move {
                SLOW_COUNTED_STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                slow(q).await
            }),
        )
        .route(
            "/test/slow",
            get(slow).layer(axum::middleware::from_fn_with_state(
                Duration::from_millis(300),
                http::limits::enforce_timeout,
            )),
        )
}

/// Answers "done" after `?ms=` milliseconds (default 60 s).
async fn slow(q: QueryParams) -> Result<&'static str, ApiError> {
    let ms: u64 = q.get_or("ms", 60_000)?;
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Ok("done")
}

/// Requests `/test/slow-counted` has begun to serve (only the shutdown
/// test uses it).
static SLOW_COUNTED_STARTED: std::sync::atomic::AtomicUsize =
    std::sync::atomic::AtomicUsize::new(0);

fn small_limits() -> Limits {
    Limits {
        max_body_bytes: 1024,
        ..Limits::default()
    }
}

// ------------------------------------------------------------- the tests

#[test]
fn health_answers_with_the_node_name_and_request_ids_round_trip() {
    let s = TestServer::start(Limits::default());
    let r = get_(s.addr, "/api/health");
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        serde_json::json!({"status": "ok", "node": "test-node", "deltas": 0})
    );
    let generated = r.header("x-request-id").unwrap().to_owned();
    assert_eq!(generated.len(), 36, "{generated}");
    let r = request(
        s.addr,
        "GET",
        "/api/health",
        &[("x-request-id", "client-7")],
        b"",
    );
    assert_eq!(r.header("x-request-id"), Some("client-7"));
    s.stop();
}

#[test]
fn unknown_routes_and_wrong_methods_answer_in_the_error_shape() {
    let s = TestServer::start(Limits::default());
    let e = get_(s.addr, "/api/nope").error(404, "not_found");
    assert_eq!(e["path"], "/api/nope");
    let r = request(s.addr, "DELETE", "/api/health", &[], b"");
    let e = r.error(405, "method_not_allowed");
    assert_eq!(e["method"], "DELETE");
    let allow = r.header("allow").unwrap();
    assert!(allow.contains("GET"), "{allow}");
    s.stop();
}

#[test]
fn json_bodies_are_checked_for_size_type_nesting_and_syntax() {
    let s = TestServer::start(small_limits());
    let ok = request(
        s.addr,
        "POST",
        "/test/echo",
        &[JSON],
        br#"{"a": [1, "]]"]}"#,
    );
    assert_eq!(ok.status, 200, "{}", ok.text());
    assert_eq!(ok.json()["a"][1], "]]");

    // Over the limit, announced by content-length.
    let big = format!("[{}1]", "1,".repeat(1000));
    let e = request(s.addr, "POST", "/test/echo", &[JSON], big.as_bytes())
        .error(413, "payload_too_large");
    assert_eq!(e["limit_bytes"], 1024);
    // Over the limit, chunked (no content-length).
    let chunked = format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len());
    request(
        s.addr,
        "POST",
        "/test/echo",
        &[JSON, ("transfer-encoding", "chunked")],
        chunked.as_bytes(),
    )
    .error(413, "payload_too_large");

    request(s.addr, "POST", "/test/echo", &[], b"{}").error(415, "unsupported_media_type");
    request(
        s.addr,
        "POST",
        "/test/echo",
        &[("content-type", "text/plain")],
        b"{}",
    )
    .error(415, "unsupported_media_type");

    let e = request(s.addr, "POST", "/test/echo", &[JSON], b"{\n  \"a\": x}")
        .error(400, "invalid_json");
    assert_eq!(e["line"], 2, "{e}");
    assert!(e["column"].as_u64().unwrap() > 0);

    let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
    let e =
        request(s.addr, "POST", "/test/echo", &[JSON], deep.as_bytes()).error(400, "invalid_json");
    assert_eq!(e["nesting_limit"], 64);
    assert!(e["message"].as_str().unwrap().contains("deeper"));
    let at_limit = format!("{}{}", "[".repeat(64), "]".repeat(64));
    assert_eq!(
        request(s.addr, "POST", "/test/echo", &[JSON], at_limit.as_bytes()).status,
        200
    );
    s.stop();
}

#[test]
fn bad_query_parameters_are_named() {
    let s = TestServer::start(Limits::default());
    assert_eq!(get_(s.addr, "/test/count?n=5").json()["n"], 5);
    let e = get_(s.addr, "/test/count?n=five").error(400, "invalid_parameter");
    assert_eq!(e["parameter"], "n");
    assert!(e["message"].as_str().unwrap().contains("`n`"));
    s.stop();
}

#[test]
fn a_panicking_handler_is_a_500_and_the_server_keeps_serving() {
    let s = TestServer::start(Limits::default());
    let mut conn = connect(s.addr);
    send(&mut conn, "GET", "/test/panic", &[], b"").error(500, "internal");
    // Same connection, then a new one.
    assert_eq!(send(&mut conn, "GET", "/api/health", &[], b"").status, 200);
    assert_eq!(get_(s.addr, "/api/health").status, 200);
    s.stop();
}

#[test]
fn a_request_over_its_timeout_is_a_408() {
    let s = TestServer::start(Limits::default());
    let e = get_(s.addr, "/test/slow?ms=60000").error(408, "request_timeout");
    assert_eq!(e["limit_ms"], 300);
    s.stop();
}

#[test]
fn metrics_count_requests_by_route_template_and_status() {
    let s = TestServer::start(Limits::default());
    get_(s.addr, "/test/items/42");
    get_(s.addr, "/test/items/43");
    get_(s.addr, "/no/such/route");
    let r = get_(s.addr, "/metrics");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let text = r.text();
    // The counters are process-wide; other tests in this binary add to them.
    let count = |needle: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(needle))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {needle} in\n{text}"))
    };
    assert!(
        count(r#"rhizome_http_requests_total{method="GET",route="/test/items/{id}",status="200"}"#)
            >= 2
    );
    assert!(
        count(r#"rhizome_http_requests_total{method="GET",route="unmatched",status="404"}"#) >= 1
    );
    assert!(
        !text.contains("/test/items/42"),
        "raw paths must not be labels"
    );
    assert!(text.contains("rhizome_http_request_duration_seconds_bucket{"));
    assert!(text.contains("rhizome_uptime_seconds "));
    assert!(text.contains("rhizome_build_info{version="));
    s.stop();
}

#[test]
fn openapi_describes_exactly_the_routes_that_exist() {
    let s = TestServer::start(Limits::default());
    let doc = get_(s.addr, "/api/openapi.json").json();
    assert_eq!(doc["openapi"], "3.0.3");
    let mut described = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            described.insert((method.to_ascii_uppercase(), path.clone()));
        }
    }
    let table: BTreeSet<(String, String)> = http::routes::all()
        .map(|r| (r.method.as_str().to_owned(), r.path.to_owned()))
        .collect();
    assert_eq!(described, table);
    // Every described route is routed: it answers neither "no route" nor 405.
    for (method, path) in &described {
        let concrete = path
            .split('/')
            .map(|seg| if seg.starts_with('{') { "x" } else { seg })
            .collect::<Vec<_>>()
            .join("/");
        let r = request(s.addr, method, &concrete, &[JSON], b"{}");
        assert_ne!(r.status, 405, "{method} {path}: {}", r.text());
        if r.status == 404 {
            assert!(
                r.json()["error"]["path"].is_null(),
                "{method} {path} is not routed"
            );
        }
    }
    s.stop();
}

#[test]
fn shutdown_lets_the_request_in_flight_finish() {
    let s = TestServer::start(Limits::default());
    let addr = s.addr;
    let in_flight = std::thread::spawn(move || get_(addr, "/test/slow-counted?ms=200"));
    // Wait until the handler is running (polling, no fixed sleep). Counting
    // open connections instead raced: a metrics connection not yet closed
    // on the server counted as the slow one.
    let patience = std::time::Instant::now() + Duration::from_secs(30);
    while SLOW_COUNTED_STARTED.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(
            std::time::Instant::now() < patience,
            "the slow request never reached its handler"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    s.stop();
    let r = in_flight.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "done");
    assert!(
        TcpStream::connect(addr).is_err(),
        "still accepting after shutdown"
    );
}

// ------------------------------------------------------- the real binary

/// The real `rhizome start`, and the address from its start line.
struct Binary {
    child: Child,
    addr: SocketAddr,
    stdout: BufReader<std::process::ChildStdout>,
}

fn spawn_binary(env: &[(&str, &str)]) -> Binary {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_rhizome"));
    cmd.arg("start")
        .env("RHIZOME_HTTP_PORT", "0")
        .env("RHIZOME_STORAGE", "memory")
        .env("RHIZOME_SYNC_PORT", "0")
        .env_remove("RHIZOME_HTTP_ADDR")
        .env_remove("RHIZOME_MAX_CONNECTIONS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    // rhizome listening http=ADDR:PORT node=NODE_ID sync=IP:PORT
    let fields: Vec<&str> = line.trim_end().split(' ').collect();
    assert_eq!(fields.len(), 5, "{line:?}");
    assert_eq!(&fields[..2], ["rhizome", "listening"], "{line:?}");
    let addr: SocketAddr = fields[2].strip_prefix("http=").unwrap().parse().unwrap();
    let node = fields[3].strip_prefix("node=").unwrap();
    assert!(
        !node.is_empty() && node.chars().all(|c| c.is_ascii_hexdigit()),
        "{line:?}"
    );
    let _sync: SocketAddr = fields[4].strip_prefix("sync=").unwrap().parse().unwrap();
    assert_ne!(addr.port(), 0);
    Binary {
        child,
        addr,
        stdout,
    }
}

impl Binary {
    /// SIGTERM; then the exit status, the rest of stdout, and stderr.
    fn sigterm(mut self) -> (std::process::ExitStatus, String, String) {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = self.child.wait().unwrap();
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        let mut stderr = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut stderr).unwrap();
        }
        (status, rest, stderr)
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_binary_prints_its_start_line_serves_and_exits_0_on_sigterm() {
    let b = spawn_binary(&[
        ("RHIZOME_HOST_ID", "bin-node"),
        ("RHIZOME_LOG_FORMAT", "json"),
        ("RHIZOME_LOG", "info,rhizome::http=debug"),
    ]);
    let r = request(
        b.addr,
        "GET",
        "/api/health",
        &[("x-request-id", "trace-me")],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["node"], "bin-node");
    // An idle keep-alive connection must not hold the shutdown up.
    let mut idle = connect(b.addr);
    assert_eq!(send(&mut idle, "GET", "/api/health", &[], b"").status, 200);
    let (status, rest, stderr) = b.sigterm();
    assert!(status.success(), "{status:?}");
    assert_eq!(rest, "rhizome stopped\n");
    // JSON log lines; the request's line carries its span (id, route).
    let logs: Vec<Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let line = logs
        .iter()
        .find(|l| l["span"]["id"] == "trace-me")
        .unwrap_or_else(|| panic!("no request log in {stderr}"));
    assert_eq!(line["span"]["route"], "/api/health");
    assert_eq!(line["fields"]["status"], 200);
}

#[test]
fn connections_over_the_limit_wait_and_are_served_when_others_close() {
    let b = spawn_binary(&[("RHIZOME_MAX_CONNECTIONS", "4")]);
    let mut held: Vec<TcpStream> = (0..4)
        .map(|_| {
            let mut c = connect(b.addr);
            assert_eq!(send(&mut c, "GET", "/api/health", &[], b"").status, 200);
            c
        })
        .collect();
    let mut waiting = connect(b.addr);
    waiting
        .write_all(b"GET /api/health HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .unwrap();
    waiting
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    match waiting.read(&mut byte) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("the fifth connection was served while four were open: {other:?}"),
    }
    // The held connections still work.
    assert_eq!(
        send(&mut held[1], "GET", "/api/health", &[], b"").status,
        200
    );
    drop(held.remove(0));
    waiting
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let r = read_reply(&mut waiting);
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    let (status, _, _) = b.sigterm();
    assert!(status.success());
}
