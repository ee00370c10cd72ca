//! Security (API.md §6, issue 14) against real servers on free ports:
//! every route with no token, a token lacking the scope, an expired token
//! and a good one; creator binding; signed deltas over HTTP and WebSocket;
//! tokens in the query for SSE and WebSocket, and sockets closed when
//! their token expires; the Origin and Host rules for JSON, SSE and
//! WebSocket upgrades; a fuzzed Authorization header; and, over real iroh
//! endpoints, a forged delta of a signed creator that a peer never takes.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use clap::Parser;
use common::{Cli, Reply, request_with, serve};
use futures_util::{SinkExt, StreamExt};
use rhizome::auth::jwt::sign_hs256;
use rhizome::http::Limits;
use rhizome::http::routes;
use rhizome_crdt::Delta;
use rhizome_crdt::codec::{Format, json::encode_value};
use rhizome_crdt::signature::{SigningKey, base64url, from_base64url};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const SECRET: &str = "a test secret that is long enough for HS256";

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A JWT for `sub` with `scope`, valid for an hour (or expired).
fn jwt(sub: &str, scope: &str) -> String {
    sign_hs256(
        SECRET.as_bytes(),
        &json!({"sub": sub, "scope": scope, "exp": now_secs() + 3600}),
    )
}

fn expired(sub: &str, scope: &str) -> String {
    sign_hs256(
        SECRET.as_bytes(),
        &json!({"sub": sub, "scope": scope, "exp": now_secs() - 10}),
    )
}

/// A node with JWT auth (and `extra` flags) behind a real server.
async fn node_with(
    extra: &[&str],
) -> (
    Arc<rhizome::node::Node>,
    rhizome::http::RunningServer,
    SocketAddr,
) {
    let mut args = vec![
        "rhizome",
        "--storage",
        "memory",
        "--host-id",
        "sec-node",
        "--auth",
        "jwt",
        "--jwt-secret",
        SECRET,
    ];
    args.extend_from_slice(extra);
    let config = Cli::try_parse_from(args).unwrap().config;
    serve(config, &Limits::default()).await
}

/// One request, with `Host: ADDR` unless `headers` name another, as
/// browsers and HTTP libraries send it.
fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Reply {
    let host = addr.to_string();
    let mut all: Vec<(&str, &str)> = headers.to_vec();
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        all.push(("host", &host));
    }
    request_with(addr, method, path, &all, body)
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn delta(id: &str, creator: &str) -> Delta {
    Delta::builder(creator, "app")
        .id(id)
        .timestamp(1_700_000_000_000u64)
        .set_property("doc", "title", format!("by {creator}"))
        .build()
        .unwrap()
}

fn body_of(deltas: &[Delta]) -> Vec<u8> {
    let list: Vec<Value> = deltas
        .iter()
        .map(|d| encode_value(d, Format::V1).unwrap())
        .collect();
    serde_json::to_vec(&list).unwrap()
}

/// A concrete path for a route template (`{id}` → `x1`, ...).
fn concrete(path: &str) -> String {
    let mut out = String::new();
    let mut n = 0;
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        n += 1;
        out.push_str(&format!("x{n}"));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_its_scope() {
    use rhizome::auth::Scope;
    let (_node, server, addr) = node_with(&[]).await;
    let admin = jwt("root", "admin");
    let mut checked = 0;
    for route in routes::all() {
        let path = concrete(route.path);
        let method = route.method.as_str();
        let body: &[u8] = if matches!(method, "POST" | "PUT") {
            b"{}"
        } else {
            b""
        };
        let json_ct = ("content-type", "application/json");
        let call = |token: Option<&str>| {
            let auth = token.map(bearer);
            let mut headers = vec![json_ct];
            if let Some(a) = &auth {
                headers.push(("authorization", a.as_str()));
            }
            send(addr, method, &path, &headers, body)
        };
        let what = format!("{method} {path}");
        if route.scope == Scope::Open {
            let r = call(None);
            assert!(r.status < 400, "{what} is open: {}", r.status);
            continue;
        }
        // No token, an unknown one, an expired one: 401 with a challenge.
        for token in [
            None,
            Some("not-a-jwt"),
            Some(expired("root", "admin").as_str()),
        ] {
            let r = call(token);
            assert_eq!(r.status, 401, "{what} with {token:?}");
            assert_eq!(r.code(), "unauthenticated", "{what}");
            assert!(
                r.header("www-authenticate")
                    .is_some_and(|h| h.starts_with("Bearer")),
                "{what}: {}",
                r.head
            );
        }
        // A token lacking the scope: 403.
        let lacking = match route.scope {
            Scope::Read => Some("write"),
            Scope::Write => Some("read"),
            Scope::Admin => Some("read write"),
            Scope::Authenticated | Scope::Open => None,
        };
        if let Some(scopes) = lacking {
            let r = call(Some(&jwt("someone", scopes)));
            assert_eq!(r.status, 403, "{what} with {scopes:?}");
            assert_eq!(r.code(), "forbidden", "{what}");
            assert_eq!(r.json()["error"]["scope"], route.scope.as_str());
        }
        // The right token gets past authentication, whatever the route
        // then says about the (dummy) request.
        let r = call(Some(&admin));
        assert!(
            r.status != 401 && r.status != 403,
            "{what} with an admin token: {} {}",
            r.status,
            String::from_utf8_lossy(&r.body)
        );
        checked += 1;
    }
    assert!(checked >= 20, "only {checked} routes checked");
    // The health route ignores a bad token.
    let r = send(
        addr,
        "GET",
        "/api/health",
        &[("authorization", "Bearer junk")],
        b"",
    );
    assert_eq!(r.status, 200);
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_tokens_are_bound_to_their_creator() {
    let (node, server, addr) = node_with(&[]).await;
    let alice = bearer(&jwt("alice", "read write"));
    let headers = [
        ("authorization", alice.as_str()),
        ("content-type", "application/json"),
    ];
    // One bad delta in the batch: nothing stored.
    let batch = body_of(&[
        delta("a1", "alice"),
        delta("b1", "bob"),
        delta("a2", "alice"),
    ]);
    let r = send(addr, "POST", "/api/deltas", &headers, &batch);
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    let e = r.json()["error"].clone();
    assert_eq!(e["code"], "creator_mismatch");
    assert_eq!(e["index"], 1);
    assert_eq!(e["creator"], "bob");
    assert_eq!(node.len(), 0, "nothing of the batch is stored");
    // Her own deltas go in.
    let r = send(
        addr,
        "POST",
        "/api/deltas",
        &headers,
        &body_of(&[delta("a1", "alice"), delta("a2", "alice")]),
    );
    assert_eq!(r.status, 201);
    // An admin may write as anyone.
    let root = bearer(&jwt("root", "admin"));
    let r = send(
        addr,
        "POST",
        "/api/deltas",
        &[
            ("authorization", root.as_str()),
            ("content-type", "application/json"),
        ],
        &body_of(&[delta("b1", "bob")]),
    );
    assert_eq!(r.status, 201);
    // Node-made deltas (a negation) are written as the principal.
    let r = send(addr, "POST", "/api/deltas/a1/negate", &headers, b"");
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["creator"], "alice");
    let r = send(
        addr,
        "POST",
        "/api/deltas/a1/negate",
        &headers,
        br#"{"creator": "bob"}"#,
    );
    assert_eq!(r.code(), "creator_mismatch");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_creators_need_valid_signatures() {
    let (node, server, addr) = node_with(&[]).await;
    let root = bearer(&jwt("root", "admin read write"));
    let headers = [
        ("authorization", root.as_str()),
        ("content-type", "application/json"),
    ];
    let key = SigningKey::from_bytes(&[42; 32]);
    let other = SigningKey::from_bytes(&[43; 32]);
    // Before a key, unsigned deltas of alice are fine.
    let r = send(
        addr,
        "POST",
        "/api/deltas",
        &headers,
        &body_of(&[delta("early", "alice")]),
    );
    assert_eq!(r.status, 201);
    // Register her key.
    let r = send(
        addr,
        "PUT",
        "/api/keys/alice",
        &headers,
        json!({"public_key": key.public().to_base64url()})
            .to_string()
            .as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = send(addr, "GET", "/api/keys/alice", &headers, b"");
    assert_eq!(r.json()["keys"], json!([key.public().to_base64url()]));
    let bad_key = send(
        addr,
        "PUT",
        "/api/keys/alice",
        &headers,
        br#"{"public_key": "AAAA"}"#,
    );
    assert_eq!(bad_key.status, 400);
    let count = node.len();
    // Unsigned, signed by another key, tampered: 400, nothing stored.
    let signed = key.sign(delta("s1", "alice"));
    let mut tampered = encode_value(&signed, Format::V1).unwrap();
    tampered["pointers"][1]["target"] = json!("by mallory");
    let mut flipped_sig = from_base64url(signed.signature().unwrap()).unwrap();
    flipped_sig[0] ^= 0x01;
    let mut flipped = encode_value(&signed, Format::V1).unwrap();
    flipped["signature"] = json!(base64url(&flipped_sig));
    for (what, body) in [
        (
            "unsigned",
            body_of(&[delta("ok0", "bob"), delta("u1", "alice")]),
        ),
        (
            "other key",
            body_of(&[delta("ok0", "bob"), other.sign(delta("o1", "alice"))]),
        ),
        ("tampered", serde_json::to_vec(&json!([tampered])).unwrap()),
        ("flipped", serde_json::to_vec(&json!([flipped])).unwrap()),
    ] {
        let r = send(addr, "POST", "/api/deltas", &headers, &body);
        assert_eq!(
            r.status,
            400,
            "{what}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(r.code(), "bad_signature", "{what}");
        assert_eq!(node.len(), count, "{what}: nothing stored");
    }
    // Signed by her key: stored, signature kept.
    let r = send(
        addr,
        "POST",
        "/api/deltas",
        &headers,
        &body_of(std::slice::from_ref(&signed)),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let back = send(addr, "GET", "/api/deltas/s1", &headers, b"").json();
    assert_eq!(back["signature"], signed.signature().unwrap());
    // Over the WebSocket too.
    let mut ws = websocket(addr, Some(&jwt("root", "admin"))).await;
    ws.send(Message::Text(
        json!({"op": "put", "ref": 1, "deltas": [encode_value(&delta("w1", "alice"), Format::V1).unwrap()]})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let frame = next_json(&mut ws).await;
    assert_eq!(frame["type"], "error", "{frame}");
    assert_eq!(frame["error"]["code"], "bad_signature", "{frame}");
    // Revoking the key: her old signatures no longer verify.
    let r = send(
        addr,
        "DELETE",
        &format!("/api/keys/alice/{}", key.public().to_base64url()),
        &headers,
        b"",
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let r = send(
        addr,
        "POST",
        "/api/deltas",
        &headers,
        &body_of(&[key.sign(delta("s2", "alice"))]),
    );
    assert_eq!(r.code(), "bad_signature");
    server.shutdown().await.unwrap();
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn websocket(addr: SocketAddr, token: Option<&str>) -> Ws {
    let url = match token {
        Some(t) => format!("ws://{addr}/api/ws?token={t}"),
        None => format!("ws://{addr}/api/ws"),
    };
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .expect("a frame within 30 s")
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(t) = msg {
            return serde_json::from_str(&t).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_operations_check_their_scope_and_expiry_closes_the_socket() {
    let (_node, server, addr) = node_with(&[]).await;
    // No token: the upgrade is refused.
    let refused = tokio_tungstenite::connect_async(format!("ws://{addr}/api/ws")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!("expected a 401, got {other:?}"),
    }
    // A write-only token may put its own deltas but not subscribe.
    let mut ws = websocket(addr, Some(&jwt("alice", "write"))).await;
    ws.send(Message::Text(
        json!({"op": "subscribe", "id": "s"}).to_string().into(),
    ))
    .await
    .unwrap();
    let f = next_json(&mut ws).await;
    assert_eq!(
        (f["type"].as_str(), f["error"]["code"].as_str()),
        (Some("error"), Some("forbidden")),
        "{f}"
    );
    assert_eq!(f["sub"], "s");
    let put = |id: &str, creator: &str| {
        Message::Text(
            json!({"op": "put", "ref": id, "deltas": [encode_value(&delta(id, creator), Format::V1).unwrap()]})
                .to_string()
                .into(),
        )
    };
    ws.send(put("w1", "alice")).await.unwrap();
    let f = next_json(&mut ws).await;
    assert_eq!(f["type"], "ack", "{f}");
    ws.send(put("w2", "bob")).await.unwrap();
    let f = next_json(&mut ws).await;
    assert_eq!(f["error"]["code"], "creator_mismatch", "{f}");
    assert_eq!(f["ref"], "w2");

    // A token that expires in 2 s: the socket is closed then, with a reason.
    let short = sign_hs256(
        SECRET.as_bytes(),
        &json!({"sub": "alice", "scope": "read", "exp": now_secs() + 2}),
    );
    let mut ws = websocket(addr, Some(&short)).await;
    ws.send(Message::Text(json!({"op": "ping"}).to_string().into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "pong");
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(Some(frame)))) => return Some(frame),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("closed within 30 s")
    .expect("a close frame");
    assert_eq!(u16::from(closed.code), 1008);
    assert_eq!(closed.reason.as_str(), "token expired");
    server.shutdown().await.unwrap();
}

/// Reads an SSE response until `until` is in what was read or the stream
/// ends; returns the status and what was read.
fn sse(addr: SocketAddr, path: &str, headers: &[(&str, &str)], until: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
        if String::from_utf8_lossy(&seen).contains(until) {
            break;
        }
    }
    let text = String::from_utf8_lossy(&seen).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_takes_the_token_from_the_query_and_ends_when_it_expires() {
    let (node, server, addr) = node_with(&[]).await;
    node.ingest(vec![delta("d1", "alice")]).await.unwrap();
    let (status, text) = sse(addr, "/api/deltas?feed=sse", &[], "\r\n\r\n");
    assert_eq!(status, 401, "{text}");
    let reader = jwt("ann", "read");
    let (status, text) = sse(
        addr,
        &format!("/api/deltas?feed=sse&token={reader}"),
        &[],
        "d1",
    );
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("event: delta"), "{text}");
    let writer = jwt("ann", "write");
    let (status, _) = sse(
        addr,
        &format!("/api/deltas?feed=sse&token={writer}"),
        &[],
        "\r\n\r\n",
    );
    assert_eq!(status, 403);
    // Expiring in 2 s: the stream ends then, with an error event.
    let short = sign_hs256(
        SECRET.as_bytes(),
        &json!({"sub": "ann", "scope": "read", "exp": now_secs() + 2}),
    );
    let (status, text) = sse(
        addr,
        &format!("/api/deltas?feed=sse&token={short}"),
        &[],
        "token_expired",
    );
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains("event: error") && text.contains("token_expired"),
        "{text}"
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn origins_and_hosts() {
    let (_node, server, addr) = node_with(&["--cors-origins", "https://app.example"]).await;
    let reader = jwt("ann", "read");
    let auth = bearer(&reader);
    let own = format!("http://{addr}");
    // JSON: another site is refused, the node's own origin and a listed
    // one are served (the listed one with CORS headers).
    let r = send(
        addr,
        "GET",
        "/api/deltas/count",
        &[("origin", "https://evil.example"), ("authorization", &auth)],
        b"",
    );
    assert_eq!((r.status, r.code().as_str()), (403, "origin_not_allowed"));
    let r = send(
        addr,
        "GET",
        "/api/deltas/count",
        &[("origin", &own), ("authorization", &auth)],
        b"",
    );
    assert_eq!(r.status, 200);
    let r = send(
        addr,
        "GET",
        "/api/deltas/count",
        &[("origin", "https://app.example"), ("authorization", &auth)],
        b"",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("https://app.example")
    );
    // A preflight from the listed origin.
    let r = send(
        addr,
        "OPTIONS",
        "/api/deltas",
        &[
            ("origin", "https://app.example"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization, content-type",
            ),
        ],
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.head);
    assert!(
        r.header("access-control-allow-headers")
            .unwrap()
            .contains("authorization")
    );
    // The SSE feed (served on the raw socket) and the WebSocket upgrade.
    let (status, text) = sse(
        addr,
        &format!("/api/deltas?feed=sse&token={reader}"),
        &[("origin", "https://evil.example")],
        "origin_not_allowed",
    );
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("origin_not_allowed"), "{text}");
    let mut request = format!("ws://{addr}/api/ws?token={reader}")
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("origin", "https://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => assert_eq!(r.status(), 403),
        other => panic!("expected a 403, got {other:?}"),
    }
    let mut request = format!("ws://{addr}/api/ws?token={reader}")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert("origin", own.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    ws.send(Message::Text(r#"{"op":"ping"}"#.into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "pong");
    // DNS rebinding: a Host that is not loopback gets 421, even for health.
    for host in [
        "evil.example",
        "evil.example:4000",
        "127.0.0.1.evil.example",
    ] {
        let r = send(addr, "GET", "/api/health", &[("host", host)], b"");
        assert_eq!(r.status, 421, "{host}");
        assert_eq!(r.code(), "misdirected_request");
    }
    for host in ["localhost", &addr.to_string(), "[::1]:4000"] {
        let r = send(addr, "GET", "/api/health", &[("host", host)], b"");
        assert_eq!(r.status, 200, "{host}");
    }
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_off_still_refuses_other_origins() {
    let config = Cli::try_parse_from(["rhizome", "--storage", "memory"])
        .unwrap()
        .config;
    let (_node, server, addr) = serve(config, &Limits::default()).await;
    let r = send(
        addr,
        "POST",
        "/api/deltas",
        &[
            ("origin", "https://evil.example"),
            ("content-type", "application/json"),
        ],
        &body_of(&[delta("x", "alice")]),
    );
    assert_eq!(r.status, 403);
    let r = send(
        addr,
        "POST",
        "/api/deltas",
        &[("content-type", "application/json")],
        &body_of(&[delta("x", "alice")]),
    );
    assert_eq!(r.status, 201, "no Origin: curl, servers, other nodes");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_tokens() {
    let dir = std::env::temp_dir().join(format!("rhizome-tokens-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tokens.json");
    std::fs::write(
        &file,
        r#"[{"token": "tok-reader", "principal": "ann", "scopes": ["read"]},
            {"token": "tok-admin", "principal": "root", "scopes": ["read", "write", "admin"]}]"#,
    )
    .unwrap();
    let config = Cli::try_parse_from([
        "rhizome",
        "--storage",
        "memory",
        "--auth",
        "tokens",
        "--tokens-file",
        file.to_str().unwrap(),
    ])
    .unwrap()
    .config;
    let (_node, server, addr) = serve(config, &Limits::default()).await;
    let r = send(
        addr,
        "GET",
        "/api/deltas/count",
        &[("authorization", "Bearer tok-reader")],
        b"",
    );
    assert_eq!(r.status, 200);
    let r = send(
        addr,
        "GET",
        "/api/deltas/count",
        &[("authorization", "Bearer tok-readex")],
        b"",
    );
    assert_eq!(r.status, 401);
    let r = send(
        addr,
        "PUT",
        "/api/schemas/P",
        &[
            ("authorization", "Bearer tok-reader"),
            ("content-type", "application/json"),
        ],
        br#"{"name":"P"}"#,
    );
    assert_eq!(r.status, 403);
    let r = send(
        addr,
        "PUT",
        "/api/schemas/P",
        &[
            ("authorization", "Bearer tok-admin"),
            ("content-type", "application/json"),
        ],
        br#"{"name":"P","select":"by-target-context"}"#,
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    server.shutdown().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzed_authorization_headers_get_4xx_and_the_node_stays_healthy() {
    let (_node, server, addr) = node_with(&[]).await;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let pieces = [
        "Bearer ",
        "bearer",
        "Basic ",
        "eyJhbGciOiJIUzI1NiJ9",
        ".",
        "..",
        "=",
        "%",
        "\t",
        "e30",
        "eyJhbGciOiJub25lIn0",
        "W10",
        "AAAA",
        "-_",
        "ü",
        "eyJzdWIiOiJ4In0",
    ];
    for i in 0..400 {
        let mut value = String::new();
        for _ in 0..(next() % 12) {
            value.push_str(pieces[(next() % pieces.len() as u64) as usize]);
        }
        if i % 50 == 0 {
            value.push_str(&"A".repeat(6000 + (next() % 4000) as usize));
        }
        let r = send(
            addr,
            "GET",
            "/api/deltas/count",
            &[("authorization", &value)],
            b"",
        );
        assert!((400..500).contains(&r.status), "{value:?} got {}", r.status);
    }
    // Malformed JWTs of every part.
    let good = jwt("a", "read");
    let parts: Vec<&str> = good.split('.').collect();
    for token in [
        format!("{}.{}", parts[0], parts[1]),
        format!("{}.{}.{}.x", parts[0], parts[1], parts[2]),
        format!("!!.{}.{}", parts[1], parts[2]),
        format!("{}.!!.{}", parts[0], parts[2]),
        format!("{}.{}.!!", parts[0], parts[1]),
        format!("{}.{}.{}", base64url(b"[1]"), parts[1], parts[2]),
        format!("{}.{}.{}", base64url(br#"{"alg":"none"}"#), parts[1], ""),
        format!(
            "{}.{}.{}",
            base64url(br#"{"alg":"RS256"}"#),
            parts[1],
            parts[2]
        ),
    ] {
        let r = send(
            addr,
            "GET",
            "/api/deltas/count",
            &[("authorization", &bearer(&token))],
            b"",
        );
        assert_eq!(r.status, 401, "{token}");
    }
    // A huge header: refused by the server's limits, still a 4xx.
    let huge = format!("Bearer {}", "A".repeat(200_000));
    let r = send(
        addr,
        "GET",
        "/api/deltas/count",
        &[("authorization", &huge)],
        b"",
    );
    assert!((400..500).contains(&r.status), "{}", r.status);
    let r = send(addr, "GET", "/api/health", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "ok");
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_cannot_deliver_a_forged_delta_of_a_signed_creator() {
    use rhizome::config::{Config, StorageKind};
    use rhizome::node::Node;
    use rhizome::replication;
    use rhizome_crdt::signature::key_registration;

    async fn start(
        peers: Vec<rhizome_sync::net::EndpointAddr>,
    ) -> (Arc<Node>, rhizome_sync::net::SyncNode) {
        let node = Arc::new(
            Node::start(Config::new(StorageKind::Memory, "unused"))
                .await
                .unwrap(),
        );
        let mut settings = replication::settings(&node).unwrap();
        settings.peers = peers;
        settings.interval = Duration::from_secs(1);
        let sync = replication::start_with(&node, settings).await.unwrap();
        (node, sync)
    }
    let (a, sa) = start(Vec::new()).await;
    let (b, sb) = start(vec![sa.addr()]).await;
    // Alice's key, registered on A by an admin, reaches B over iroh.
    let alice = SigningKey::from_bytes(&[7; 32]);
    let node_key = SigningKey::from_bytes(&a.secret_key().to_bytes());
    let reg = key_registration(
        "alice",
        &alice.public(),
        "root",
        &node_key,
        1_700_000_000_000,
    )
    .unwrap();
    a.ingest(vec![reg]).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while b.read(|s| s.keys.keys_of("alice").is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the key never reached B"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A rogue node that never learnt the key holds a forged delta of
    // alice, a genuine one and one of bob.
    let (c, sc) = start(Vec::new()).await;
    let genuine = alice.sign(delta("genuine", "alice"));
    c.ingest(vec![
        delta("forged", "alice"),
        genuine,
        delta("other", "bob"),
    ])
    .await
    .unwrap();
    let before = rejected_by_peers();
    // One whole reconciliation run between C and B: B takes what is valid
    // and drops the forgery, and the run goes on.
    sc.sync_with(sb.addr()).await.unwrap();
    assert!(b.get("genuine").is_some() && b.get("other").is_some());
    assert!(b.get("forged").is_none(), "the forgery was stored");
    assert!(rejected_by_peers() > before);
    // Nor does it reach A through B.
    sb.sync_with(sa.addr()).await.unwrap();
    assert!(a.get("other").is_some() && a.get("forged").is_none());
    for (node, sync) in [(&a, &sa), (&b, &sb), (&c, &sc)] {
        sync.shutdown().await;
        node.shutdown().await.unwrap();
    }
}

/// `rhizome_deltas_rejected_total{reason="peer_bad_signature"}`.
fn rejected_by_peers() -> u64 {
    let text = rhizome::metrics::global().encode();
    text.lines()
        .find(|l| l.starts_with("rhizome_deltas_rejected_total{reason=\"peer_bad_signature\"}"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
