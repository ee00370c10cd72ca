//! Plugins (API.md §8) over HTTP against a real server: real WebAssembly
//! modules (written as text, compiled with the `wat` crate), installed,
//! called, replaced under load, crashed in every way the ABI allows, and
//! loaded from a plugins directory.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Reply, TestServer, get, post, request};
use serde_json::{Value, json};

// ------------------------------------------------------------ modules

/// A module from WebAssembly text.
fn wasm(wat: &str) -> Vec<u8> {
    wat::parse_str(wat).unwrap_or_else(|e| panic!("bad test module: {e}\n{wat}"))
}

/// The examples of `examples/plugins/`, compiled.
fn example(name: &str) -> Vec<u8> {
    let path = format!("{}/examples/plugins/{name}.wat", env!("CARGO_MANIFEST_DIR"));
    wasm(&std::fs::read_to_string(&path).unwrap())
}

/// WAT string literal bytes for `s`.
fn lit(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A module whose `resolve` answers `{"value": TAG}` and `call` answers
/// `{"v": TAG}`, with `manifest` `{"depends_on": deps}`, plus any `extra`
/// exports.
fn constant(tag: &str, deps: &[&str]) -> Vec<u8> {
    let resolve = format!(r#"{{"value":"{tag}"}}"#);
    let call = format!(r#"{{"v":"{tag}"}}"#);
    let manifest = json!({ "depends_on": deps }).to_string();
    wasm(&format!(
        r#"(module
          (memory (export "memory") 2)
          (data (i32.const 0) "{}")
          (data (i32.const 256) "{}")
          (data (i32.const 512) "{}")
          (func (export "alloc") (param i32) (result i32) (i32.const 1024))
          (func (export "manifest") (result i64) (i64.const {}))
          (func (export "resolve") (param i32 i32) (result i64) (i64.const {}))
          (func (export "call") (param i32 i32) (result i64) (i64.const {})))"#,
        lit(&resolve),
        lit(&call),
        lit(&manifest),
        (512u64 << 32) | manifest.len() as u64,
        resolve.len(),
        (256u64 << 32) | call.len() as u64,
    ))
}

/// A module whose `call` runs `body` (which leaves an i64 on the stack).
fn calling(body: &str) -> Vec<u8> {
    wasm(&format!(
        r#"(module
          (memory (export "memory") 1)
          (data (i32.const 0) "not json")
          (func (export "alloc") (param i32) (result i32) (i32.const 1024))
          (func (export "call") (param i32 i32) (result i64) {body}))"#
    ))
}

// ------------------------------------------------------------ client

fn put_wasm(addr: SocketAddr, name: &str, module: &[u8]) -> Reply {
    request(
        addr,
        "PUT",
        &format!("/api/plugins/{name}"),
        Some("application/wasm"),
        module,
    )
}

fn call(addr: SocketAddr, name: &str, body: &Value) -> Reply {
    post(addr, &format!("/api/plugins/{name}/call"), body)
}

fn info(addr: SocketAddr, name: &str) -> Value {
    get(addr, &format!("/api/plugins/{name}")).ok(200)
}

fn delta(id: &str, creator: &str, entity: &str, property: &str, value: Value) -> Value {
    json!({"id": id, "timeCreated": 1_700_000_000_000u64 + id.len() as u64 * 1000 + id.bytes().map(u64::from).sum::<u64>(),
           "host": "h", "creator": creator,
           "pointers": [{"localContext": "entity", "target": entity, "targetContext": property},
                        {"localContext": property, "target": value}]})
}

fn healthy(addr: SocketAddr) {
    assert_eq!(get(addr, "/api/health").ok(200)["status"], "ok");
}

/// Polls the plugin's state until `done` holds (10 s at most).
fn wait_for(addr: SocketAddr, name: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let i = info(addr, name);
        if done(&i) {
            return i;
        }
        assert!(
            Instant::now() < deadline,
            "plugin {name} never got there: {i}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ------------------------------------------------------------ tests

#[test]
fn a_handler_is_fed_stored_deltas_then_live_ones_and_answers_calls() {
    let t = TestServer::start();
    let a = t.addr;
    // Written before the plugin exists: it is fed them at install.
    let batch = json!([
        delta("d1", "alice", "e1", "name", json!("x")),
        delta("d2", "alice", "e2", "name", json!("y")),
        delta("d3", "bob", "e1", "age", json!(3)),
    ]);
    post(a, "/api/deltas", &batch).ok(201);
    let installed = put_wasm(a, "creator_counter", &example("creator_counter")).ok(201);
    assert_eq!(installed["name"], "creator_counter");
    assert_eq!(installed["exports"], json!(["handle_delta", "call"]));
    assert_eq!(installed["hash"].as_str().unwrap().len(), 64);
    assert_eq!(
        call(a, "creator_counter", &json!({})).ok(200),
        json!({"alice": 2, "bob": 1})
    );
    // Live: an answered write is seen by the next call.
    post(
        a,
        "/api/deltas",
        &delta("d4", "carol", "e3", "name", json!("z")),
    )
    .ok(201);
    assert_eq!(
        call(a, "creator_counter", &json!({})).ok(200),
        json!({"alice": 2, "bob": 1, "carol": 1})
    );
    let listed = get(a, "/api/plugins").ok(200);
    let one = &listed["plugins"][0];
    assert_eq!(one["name"], "creator_counter");
    assert_eq!(one["status"], "running");
    assert_eq!(one["depends_on"], json!([]));
    assert!(one["calls"].as_u64().unwrap() >= 2, "{one}");
    assert_eq!(
        (one["traps"].as_u64(), one["restarts"].as_u64()),
        (Some(0), Some(0))
    );
    let metrics = String::from_utf8(get(a, "/metrics").body).unwrap();
    assert!(
        metrics.contains("rhizome_plugin_calls_total{plugin=\"creator_counter\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rhizome_plugin_status{plugin=\"creator_counter\",status=\"running\"} 1")
    );
    // A repeated PUT of the same module changes nothing.
    let again = put_wasm(a, "creator_counter", &example("creator_counter")).ok(201);
    assert_eq!(again["hash"], installed["hash"]);
    assert_eq!(
        request(a, "DELETE", "/api/plugins/creator_counter", None, b"").status,
        204
    );
    get(a, "/api/plugins/creator_counter").error(404, "not_found");
    call(a, "creator_counter", &json!({})).error(404, "not_found");
    request(a, "DELETE", "/api/plugins/creator_counter", None, b"").error(404, "not_found");
}

#[test]
fn a_resolver_is_a_strategy_everywhere_and_replacing_it_refreshes_views() {
    let t = TestServer::start();
    let a = t.addr;
    post(
        a,
        "/api/deltas",
        &json!([
            delta("n1", "c", "e", "name", json!("ab")),
            delta("n2", "c", "e", "name", json!("abcd")),
            delta("n3", "c", "e", "name", json!("xyz")),
            delta("n4", "c", "e", "age", json!(7)),
        ]),
    )
    .ok(201);
    get(a, "/api/view/e?strategy=longest").error(400, "invalid_parameter");
    put_wasm(a, "longest", &example("longest")).ok(201);
    let v = get(a, "/api/view/e?strategy=longest").ok(200);
    // No string value for age: absent, like a numeric strategy over strings.
    assert_eq!(v["properties"], json!({"name": "abcd"}));
    let v = get(a, "/api/view/e?strategies=name:longest").ok(200);
    assert_eq!(v["properties"], json!({"name": "abcd", "age": 7}));
    let q = post(
        a,
        "/api/query",
        &json!({"strategy": "longest", "ids": ["e"]}),
    )
    .ok(200);
    assert_eq!(q["views"][0]["properties"]["name"], "abcd");
    let schema = json!({"name": "Thing", "select": "by-target-context", "contexts": ["name"]});
    request(
        a,
        "PUT",
        "/api/schemas/Thing",
        Some("application/json"),
        schema.to_string().as_bytes(),
    )
    .ok(201);
    let v = get(a, "/api/view/e?schema=Thing&strategy=longest").ok(200);
    assert_eq!(v["properties"], json!({"name": "abcd"}));

    // A constant resolver, cached, then replaced: the next view uses the new one.
    put_wasm(a, "pick", &constant("one", &[])).ok(201);
    for _ in 0..2 {
        let v = get(a, "/api/view/e?strategy=pick").ok(200);
        assert_eq!(v["properties"]["name"], "one");
    }
    put_wasm(a, "pick", &constant("two", &[])).ok(201);
    let v = get(a, "/api/view/e?strategy=pick").ok(200);
    assert_eq!(v["properties"]["name"], "two");
    // A plugin may not take a built-in strategy's name for its resolve.
    let e = put_wasm(a, "max", &constant("x", &[])).error(422, "invalid_plugin");
    assert!(
        e["message"].as_str().unwrap().contains("built-in strategy"),
        "{e}"
    );
    // Unloaded: the name is unknown again.
    assert_eq!(
        request(a, "DELETE", "/api/plugins/pick", None, b"").status,
        204
    );
    get(a, "/api/view/e?strategy=pick").error(400, "invalid_parameter");
}

#[test]
fn validators_refuse_client_writes_whole_but_never_peer_deltas() {
    let t = TestServer::start();
    let a = t.addr;
    put_wasm(a, "ages", &example("age_validator")).ok(201);
    let good = delta("g1", "c", "p", "age", json!(30));
    let bad = delta("b1", "c", "p", "age", json!("old"));
    let e = post(a, "/api/deltas", &json!([good, bad])).error(422, "rejected_by_plugin");
    assert_eq!(e["plugin"], "ages");
    assert_eq!(e["index"], 1);
    assert_eq!(e["reason"], "age must be a number");
    assert_eq!(get(a, "/api/deltas/count").ok(200)["count"], 0);
    post(a, "/api/deltas", &good).ok(201);
    assert_eq!(get(a, "/api/deltas/count").ok(200)["count"], 1);
    // Deltas from a peer are stored whatever the validators say.
    let from_peer = rhizome_crdt::codec::json::decode(bad.to_string().as_bytes()).unwrap();
    let done = t
        .runtime
        .block_on(t.node.ingest_from(vec![from_peer], false))
        .unwrap();
    assert_eq!(done.accepted.len(), 1);
    assert_eq!(get(a, "/api/deltas/count").ok(200)["count"], 2);
    // Collections write through the same check.
    let schema = json!({"name": "P", "select": "by-target-context", "contexts": ["age"], "transform": {"age": {"primitive": "string"}}});
    request(
        a,
        "PUT",
        "/api/schemas/P",
        Some("application/json"),
        schema.to_string().as_bytes(),
    )
    .ok(201);
    let e = request(
        a,
        "PUT",
        "/api/collections/P",
        Some("application/json"),
        json!({"id": "q", "properties": {"age": "ancient"}})
            .to_string()
            .as_bytes(),
    )
    .error(422, "rejected_by_plugin");
    assert_eq!(e["reason"], "age must be a number");
}

#[test]
fn each_kind_of_fault_fails_its_call_only_and_the_plugin_restarts() {
    let t = TestServer::start_with(&[
        "--plugin-fuel",
        "2000000",
        "--plugin-memory-bytes",
        "4194304",
        "--plugin-backoff-ms",
        "20",
    ]);
    let a = t.addr;
    put_wasm(a, "counter", &example("creator_counter")).ok(201);
    let cases: [(&str, Vec<u8>, &str); 5] = [
        (
            "spin",
            calling("(loop $l (br $l)) (i64.const 0)"),
            "out of fuel",
        ),
        (
            "bomb",
            calling(
                "(loop $l (br_if $l (i32.ne (memory.grow (i32.const 1)) (i32.const -1)))) (i64.const 0)",
            ),
            "memory limit",
        ),
        ("crash", calling("unreachable"), "unreachable"),
        ("garbage", calling("(i64.const 8)"), "invalid JSON"),
        (
            "wild",
            calling("(i64.const 0x7fff000000000010)"),
            "outside the module's memory",
        ),
    ];
    for (name, module, _) in &cases {
        put_wasm(a, name, module).ok(201);
    }
    for (name, _, expected) in &cases {
        let e = call(a, name, &json!({"x": 1})).error(503, "plugin_unavailable");
        let message = e["message"].as_str().unwrap();
        assert!(message.contains(expected), "{name}: {message}");
        healthy(a);
        // Other plugins are unaffected.
        call(a, "counter", &json!({})).ok(200);
        let i = wait_for(a, name, |i| i["status"] == "running" && i["restarts"] == 1);
        assert_eq!(i["traps"], 1, "{i}");
    }
    let metrics = String::from_utf8(get(a, "/metrics").body).unwrap();
    assert!(
        metrics.contains("rhizome_plugin_traps_total{plugin=\"spin\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("rhizome_plugin_restarts_total{plugin=\"bomb\"} 1"));
}

#[test]
fn a_failing_resolver_leaves_the_property_absent_and_restarts() {
    let t = TestServer::start_with(&["--plugin-backoff-ms", "20"]);
    let a = t.addr;
    post(a, "/api/deltas", &delta("r1", "c", "e", "name", json!("x"))).ok(201);
    let boom = wasm(
        r#"(module (memory (export "memory") 1)
             (func (export "alloc") (param i32) (result i32) (i32.const 1024))
             (func (export "resolve") (param i32 i32) (result i64) unreachable))"#,
    );
    put_wasm(a, "boom", &boom).ok(201);
    // The view answers (through the live view cache, whose lock the failing
    // resolve runs under), without the property.
    let v = get(a, "/api/view/e?strategy=boom").ok(200);
    assert_eq!(v["properties"], json!({}));
    let v = get(a, "/api/view/e?strategies=name:boom").ok(200);
    assert_eq!(v["properties"], json!({}));
    let i = wait_for(a, "boom", |i| {
        i["status"] == "running" && i["restarts"].as_u64() >= Some(1)
    });
    assert!(i["traps"].as_u64() >= Some(1), "{i}");
    assert!(
        i["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("unreachable")
            || i["last_error"].is_null(),
        "{i}"
    );
    healthy(a);
    // Replaced by a working resolver: the next view uses it, not a cached answer.
    put_wasm(a, "boom", &constant("fine", &[])).ok(201);
    let v = get(a, "/api/view/e?strategy=boom").ok(200);
    assert_eq!(v["properties"], json!({"name": "fine"}));
}

#[test]
fn repeated_crashes_end_in_failed_until_replaced() {
    let t = TestServer::start_with(&["--plugin-backoff-ms", "10", "--plugin-max-crashes", "2"]);
    let a = t.addr;
    put_wasm(a, "crash", &calling("unreachable")).ok(201);
    let mut answers = 0;
    let failed = loop {
        let e = call(a, "crash", &json!({})).error(503, "plugin_unavailable");
        answers += 1;
        let i = wait_for(a, "crash", |i| i["status"] != "restarting");
        if i["status"] == "failed" {
            break (i, e);
        }
        assert!(answers < 10, "never failed: {i}");
    };
    let (i, _) = failed;
    assert_eq!(answers, 3, "{i}");
    assert!(
        i["last_error"].as_str().unwrap().contains("unreachable"),
        "{i}"
    );
    let e = call(a, "crash", &json!({})).error(503, "plugin_unavailable");
    assert!(e["message"].as_str().unwrap().contains("failed"), "{e}");
    healthy(a);
    // Replacing a failed plugin brings it back.
    put_wasm(a, "crash", &constant("ok", &[])).ok(201);
    assert_eq!(info(a, "crash")["status"], "running");
    assert_eq!(call(a, "crash", &json!({})).ok(200), json!({"v": "ok"}));
}

#[test]
fn bad_modules_and_dependencies_are_refused_with_their_names() {
    let t = TestServer::start();
    let a = t.addr;
    let refused = |name: &str, module: &[u8], expected: &str| {
        let e = put_wasm(a, name, module).error(422, "invalid_plugin");
        let message = e["message"].as_str().unwrap().to_owned();
        assert!(message.contains(expected), "{message}");
    };
    refused("x", b"this is not WebAssembly", "not a WebAssembly module");
    refused("x", b"\0asm\x01\0\0\0\x05garbage", "does not validate");
    refused(
        "x",
        &wasm(
            r#"(module (import "env" "now" (func (result i64)))
                 (memory (export "memory") 1)
                 (func (export "alloc") (param i32) (result i32) (i32.const 0))
                 (func (export "call") (param i32 i32) (result i64) (i64.const 0)))"#,
        ),
        "unknown import env.now",
    );
    refused(
        "x",
        &wasm(r#"(module (func (export "call") (param i32 i32) (result i64) (i64.const 0)))"#),
        "missing exports: memory, alloc",
    );
    refused("bad.name", &constant("x", &[]), "a plugin name is");
    refused("b", &constant("b", &["a"]), "missing dependency: a");
    put_wasm(a, "a", &constant("a", &[])).ok(201);
    let b = put_wasm(a, "b", &constant("b", &["a"])).ok(201);
    assert_eq!(info(a, "b")["depends_on"], json!(["a"]));
    assert_eq!(b["name"], "b");
    refused(
        "a",
        &constant("a2", &["b"]),
        "dependency cycle: a -> b -> a",
    );
    // The refused replacement left `a` as it was.
    assert_eq!(call(a, "a", &json!({})).ok(200), json!({"v": "a"}));
    let e = request(a, "DELETE", "/api/plugins/a", None, b"").error(409, "plugin_in_use");
    assert_eq!(e["dependents"], json!(["b"]));
    assert_eq!(
        request(a, "DELETE", "/api/plugins/b", None, b"").status,
        204
    );
    assert_eq!(
        request(a, "DELETE", "/api/plugins/a", None, b"").status,
        204
    );
    // 50 MB: refused before it is read, and the node goes on.
    let huge = vec![0u8; 50 * 1024 * 1024];
    put_wasm(a, "huge", &huge).error(413, "payload_too_large");
    healthy(a);
    assert_eq!(get(a, "/api/plugins").ok(200)["plugins"], json!([]));
}

#[test]
fn replacing_under_load_loses_no_request() {
    let t = TestServer::start();
    let a = t.addr;
    post(a, "/api/deltas", &delta("v1", "c", "e", "name", json!("x"))).ok(201);
    let versions = [constant("one", &[]), constant("two", &[])];
    put_wasm(a, "ver", &versions[0]).ok(201);
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, errors) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..2)
        .map(|k| {
            let (stop, ok, errors) = (Arc::clone(&stop), Arc::clone(&ok), Arc::clone(&errors));
            std::thread::spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let (status, value) = if (i + k) % 2 == 0 {
                        let r = call(a, "ver", &json!({"i": i}));
                        (r.status, r.json()["v"].clone())
                    } else {
                        let r = get(a, "/api/view/e?strategy=ver");
                        (r.status, r.json()["properties"]["name"].clone())
                    };
                    if status == 200 && (value == "one" || value == "two") {
                        ok.fetch_add(1, Ordering::Relaxed);
                    } else {
                        eprintln!("request failed: {status} {value}");
                        errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    for n in 0..20 {
        put_wasm(a, "ver", &versions[(n + 1) % 2]).ok(201);
        std::thread::sleep(Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(errors.load(Ordering::Relaxed), 0);
    assert!(ok.load(Ordering::Relaxed) > 20);
    // 20 swaps: back to the first version, never a restart.
    let i = info(a, "ver");
    assert_eq!(
        (i["status"].as_str(), i["restarts"].as_u64()),
        (Some("running"), Some(0))
    );
    assert_eq!(call(a, "ver", &json!({})).ok(200), json!({"v": "one"}));
}

#[test]
fn the_plugins_directory_loads_in_dependency_order_and_reloads_changes() {
    let dir = std::env::temp_dir().join(format!(
        "rhizome-plugins-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    // `a_top` depends on `z_base`, which sorts after it.
    std::fs::write(dir.join("a_top.wasm"), constant("top", &["z_base"])).unwrap();
    std::fs::write(dir.join("z_base.wasm"), constant("base", &[])).unwrap();
    std::fs::write(dir.join("broken.wasm"), b"not wasm").unwrap();
    std::fs::write(dir.join("notes.txt"), b"ignored").unwrap();
    let t = TestServer::start_with(&[
        "--plugins-dir",
        dir.to_str().unwrap(),
        "--plugins-poll-ms",
        "20",
    ]);
    let a = t.addr;
    let names: Vec<Value> = get(a, "/api/plugins").ok(200)["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].clone())
        .collect();
    assert_eq!(names, [json!("a_top"), json!("z_base")]);
    assert_eq!(call(a, "z_base", &json!({})).ok(200), json!({"v": "base"}));
    // A changed file is reloaded by itself.
    std::fs::write(dir.join("z_base.wasm"), constant("base2", &[])).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while call(a, "z_base", &json!({})).ok(200) != json!({"v": "base2"}) {
        assert!(Instant::now() < deadline, "never reloaded");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A removed file unloads its plugin.
    std::fs::remove_file(dir.join("a_top.wasm")).unwrap();
    while info_status(a, "a_top") != 404 {
        assert!(Instant::now() < deadline, "never unloaded");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(t);
    let _ = std::fs::remove_dir_all(&dir);
}

fn info_status(addr: SocketAddr, name: &str) -> u16 {
    get(addr, &format!("/api/plugins/{name}")).status
}

#[test]
fn websocket_watch_resolves_with_a_plugin_and_put_is_validated() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    let t = TestServer::start();
    let a = t.addr;
    put_wasm(a, "longest", &example("longest")).ok(201);
    put_wasm(a, "ages", &example("age_validator")).ok(201);
    post(
        a,
        "/api/deltas",
        &delta("w1", "c", "e", "name", json!("ab")),
    )
    .ok(201);
    t.runtime.block_on(async {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{a}/api/ws"))
            .await
            .unwrap();
        let watch = json!({"op": "watch", "id": "w", "entity": "e", "strategy": "longest"});
        ws.send(Message::Text(watch.to_string().into()))
            .await
            .unwrap();
        let frame = recv(&mut ws).await;
        assert_eq!(
            frame["view"]["properties"],
            json!({"name": "ab"}),
            "{frame}"
        );
        // A shorter value later does not win; a longer one does.
        let put = json!({"op": "put", "ref": 1, "deltas": [
            delta("w2", "c", "e", "name", json!("z")),
            delta("w3", "c", "e", "name", json!("abcdef"))]});
        ws.send(Message::Text(put.to_string().into()))
            .await
            .unwrap();
        let mut seen = Vec::new();
        while seen.len() < 2 {
            seen.push(recv(&mut ws).await);
        }
        assert!(seen.iter().any(|f| f["type"] == "ack"), "{seen:?}");
        assert!(
            seen.iter()
                .any(|f| f["type"] == "view" && f["view"]["properties"]["name"] == "abcdef"),
            "{seen:?}"
        );
        // The WebSocket put is a client write: validated.
        let bad =
            json!({"op": "put", "ref": 2, "deltas": [delta("w4", "c", "e", "age", json!("old"))]});
        ws.send(Message::Text(bad.to_string().into()))
            .await
            .unwrap();
        let e = recv(&mut ws).await;
        assert_eq!(e["type"], "error", "{e}");
        assert_eq!(e["error"]["code"], "rejected_by_plugin", "{e}");
        assert_eq!(e["error"]["reason"], "age must be a number", "{e}");
    });
    assert!(t.node.get("w4").is_none());
}

async fn recv(
    ws: &mut tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
) -> Value {
    use futures_util::StreamExt;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("socket stalled")
            .expect("socket closed")
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}
