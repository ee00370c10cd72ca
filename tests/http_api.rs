//! The API of API.md §3 against real servers on free ports: every route and
//! status, batches, conflicts, feed paging and filters, formats, views, time
//! travel, negation, transactions, a fuzz-style run of malformed bodies, and
//! the command line against the real binary.

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use serde_json::{Value, json};

mod common;

use common::{TestServer, get, post, post_raw, request};

// ---------------------------------------------------------------- deltas

fn delta(id: &str, t: u64, creator: &str, entity: &str, prop: &str, value: Value) -> Value {
    json!({"id": id, "timeCreated": t, "host": "h1", "creator": creator, "pointers": [
        {"localContext": "entity", "target": entity, "targetContext": prop},
        {"localContext": prop, "target": value}]})
}

fn count(addr: SocketAddr) -> u64 {
    get(addr, "/api/deltas/count").ok(200)["count"]
        .as_u64()
        .unwrap()
}

#[test]
fn ingest_answers_accepted_and_duplicates_in_every_body_shape() {
    let s = TestServer::start();
    let a = s.addr;
    let d1 = delta("d1", 1000, "alice", "e1", "name", json!("Alice"));
    assert_eq!(
        post(a, "/api/deltas", &d1).ok(201),
        json!({"accepted": ["d1"], "duplicates": []})
    );
    let d2 = delta("d2", 2000, "bob", "e1", "name", json!("Alicia"));
    let r = post(a, "/api/deltas", &json!([d1, d2])).ok(201);
    assert_eq!(r, json!({"accepted": ["d2"], "duplicates": ["d1"]}));
    // {"deltas": [...]}, in v2 and rhizomedb.
    let v2 = json!({"id": "d3", "timeCreated": 3000, "host": "h2", "creator": "carol",
        "pointers": {"entity": {"e2": "age"}, "age": 41}});
    let rdb = json!({"id": "d4", "timestamp": 4000, "author": "dave", "system": "h2",
        "pointers": [{"role": "entity", "target": {"id": "e2", "context": "age"}}, {"role": "age", "target": 42}]});
    let r = post(a, "/api/deltas", &json!({"deltas": [v2, rdb]})).ok(201);
    assert_eq!(r["accepted"], json!(["d3", "d4"]));
    assert_eq!(count(a), 4);
    assert_eq!(
        post(a, "/api/deltas", &json!([])).ok(201),
        json!({"accepted": [], "duplicates": []})
    );
    // One delta by id, in each format, and 404.
    assert_eq!(get(a, "/api/deltas/d1").ok(200), d1);
    assert_eq!(
        get(a, "/api/deltas/d3?format=v2").ok(200),
        json!({"id": "d3", "timeCreated": 3000,
        "host": "h2", "creator": "carol", "pointers": {"entity": {"e2": "age"}, "age": 41}})
    );
    assert_eq!(
        get(a, "/api/deltas/d4?format=rhizomedb").ok(200)["author"],
        "dave"
    );
    get(a, "/api/deltas/nope").error(404, "not_found");
    get(a, "/api/deltas/d1?format=v9").error(400, "invalid_parameter");
    get(a, "/api/deltas/d1?colour=red").error(400, "invalid_parameter");
    // Answers have sorted keys.
    let raw = String::from_utf8(get(a, "/api/deltas/d1").body).unwrap();
    assert!(
        raw.starts_with(r#"{"creator":"alice","host":"h1","id":"d1","pointers":"#),
        "{raw}"
    );
}

#[test]
fn invalid_deltas_and_conflicts_store_nothing_of_the_batch() {
    let s = TestServer::start();
    let a = s.addr;
    let good = |i: u64| delta(&format!("g{i}"), 1000 + i, "alice", "e", "p", json!(i));
    let mut bad = good(9);
    bad["timeCreated"] = json!(1.5);
    let e = post(a, "/api/deltas", &json!([good(0), good(1), bad])).error(400, "invalid_delta");
    assert_eq!(
        (e["index"].clone(), e["field"].clone()),
        (json!(2), json!("timeCreated"))
    );
    assert_eq!(count(a), 0);
    // Broken JSON is named as such, at the delta it breaks.
    let e = post_raw(a, "/api/deltas", b"[{\"id\": ").error(400, "invalid_delta");
    assert_eq!(e["index"], 0);
    assert!(e["message"].as_str().unwrap().contains("JSON"), "{e}");
    post(a, "/api/deltas", &json!([good(0)])).ok(201);
    // Same id, other content, at index 1: 409 and nothing stored.
    let mut clash = good(0);
    clash["creator"] = json!("mallory");
    let e = post(a, "/api/deltas", &json!([good(1), clash, good(2)])).error(409, "conflict");
    assert_eq!(
        (e["index"].clone(), e["id"].clone()),
        (json!(1), json!("g0"))
    );
    assert_eq!(count(a), 1);
    get(a, "/api/deltas/g1").error(404, "not_found");
    // Media type, size and method.
    request(a, "POST", "/api/deltas", Some("text/plain"), b"[]")
        .error(415, "unsupported_media_type");
    request(a, "POST", "/api/deltas", None, b"[]").error(415, "unsupported_media_type");
    let huge = format!("[\"{}\"]", "x".repeat(2 << 20));
    post_raw(a, "/api/deltas", huge.as_bytes()).error(413, "payload_too_large");
    request(a, "DELETE", "/api/deltas", None, b"").error(405, "method_not_allowed");
    request(a, "PUT", "/api/deltas/g0", None, b"").error(405, "method_not_allowed");
    let metrics = String::from_utf8(get(a, "/metrics").body).unwrap();
    assert!(
        metrics.contains("rhizome_deltas_rejected_total{reason=\"conflict\"}"),
        "{metrics}"
    );
    assert!(metrics.contains("rhizome_deltas_stored_total"), "{metrics}");
    assert!(
        metrics.contains("rhizome_writer_commit_seconds_bucket"),
        "{metrics}"
    );
}

#[test]
fn the_changes_feed_pages_without_gaps_or_repeats_and_filters() {
    let s = TestServer::start();
    let a = s.addr;
    let mut all = Vec::new();
    for chunk in 0..5 {
        let batch: Vec<Value> = (0..500)
            .map(|i| {
                let n = chunk * 500 + i;
                let mut d = delta(
                    &format!("f{n:05}"),
                    1 + n,
                    ["alice", "bob", "carol"][n as usize % 3],
                    &format!("e{}", n % 7),
                    "p",
                    json!(n),
                );
                d["host"] = json!(if n % 2 == 0 { "even" } else { "odd" });
                all.push(d["id"].as_str().unwrap().to_owned());
                d
            })
            .collect();
        post(a, "/api/deltas", &json!(batch)).ok(201);
    }
    let mut seen = Vec::new();
    let mut since = 0;
    loop {
        let page = get(a, &format!("/api/deltas?since={since}&limit=700")).ok(200);
        let ids: Vec<String> = page["deltas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().to_owned())
            .collect();
        assert!(ids.len() <= 700);
        let last = page["last_seq"].as_u64().unwrap();
        if ids.is_empty() {
            assert_eq!(last, since);
            break;
        }
        seen.extend(ids);
        since = last;
    }
    assert_eq!(seen, all, "every delta once, in arrival order");
    let page = get(a, "/api/deltas").ok(200);
    assert_eq!(
        page["deltas"].as_array().unwrap().len(),
        1000,
        "default limit"
    );
    assert_eq!(page["last_seq"], 1000);
    let ids = |q: &str| -> Vec<u64> {
        get(a, &format!("/api/deltas?limit=10000&{q}")).ok(200)["deltas"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap()[1..].parse().unwrap())
            .collect()
    };
    let expect = |f: &dyn Fn(u64) -> bool| -> Vec<u64> { (0..2500).filter(|n| f(*n)).collect() };
    assert_eq!(ids("entity=e3"), expect(&|n| n % 7 == 3));
    assert_eq!(ids("entity=e3,e5"), expect(&|n| n % 7 == 3 || n % 7 == 5));
    assert_eq!(ids("creator=alice,carol"), expect(&|n| n % 3 != 1));
    assert_eq!(
        ids("host=odd&creator=bob"),
        expect(&|n| n % 2 == 1 && n % 3 == 1)
    );
    assert_eq!(ids("from=11&to=20"), expect(&|n| (10..=19).contains(&n)));
    assert_eq!(ids("entity=nobody"), Vec::<u64>::new());
    let page = get(a, "/api/deltas?since=2400&format=rhizomedb&limit=1").ok(200);
    assert_eq!(page["deltas"][0]["system"], "even");
    assert_eq!(page["last_seq"], 2401);
    assert_eq!(
        get(a, "/api/deltas?limit=99999").ok(200)["deltas"]
            .as_array()
            .unwrap()
            .len(),
        2500
    );
    for bad in [
        "since=x",
        "limit=0",
        // feed=sse streams (tests/realtime.rs); other feeds are refused.
        "feed=ws",
        "format=xml",
        "nope=1",
        "from=-3",
    ] {
        let e = get(a, &format!("/api/deltas?{bad}")).error(400, "invalid_parameter");
        assert!(e["parameter"].is_string(), "{bad}: {e}");
    }
}

#[test]
fn formats_that_cannot_express_a_delta_are_not_expressible() {
    let s = TestServer::start();
    let a = s.addr;
    // Two pointers with one role (v2 cannot), a null target (rhizomedb cannot).
    let twice = json!({"id": "tw", "timeCreated": 5, "host": "h", "creator": "c", "pointers": [
        {"localContext": "tag", "target": "t1", "targetContext": "tags"},
        {"localContext": "tag", "target": "t2", "targetContext": "tags"}]});
    let nulled = delta("nu", 6, "c", "t1", "colour", Value::Null);
    post(a, "/api/deltas", &json!([twice, nulled])).ok(201);
    let e = get(a, "/api/deltas/tw?format=v2").error(400, "not_expressible");
    assert_eq!(e["id"], "tw");
    get(a, "/api/deltas/nu?format=rhizomedb").error(400, "not_expressible");
    get(a, "/api/deltas?format=v2").error(400, "not_expressible");
    get(a, "/api/hyperview/t1?format=rhizomedb").error(400, "not_expressible");
    get(a, "/api/hyperview/t1?format=v2").error(400, "not_expressible");
    let hv = get(a, "/api/hyperview/t1").ok(200);
    assert_eq!(hv["properties"]["colour"][0]["id"], "nu");
    assert_eq!(
        get(a, "/api/deltas/nu?format=v2").ok(200)["pointers"]["colour"],
        Value::Null
    );
    assert_eq!(
        get(a, "/api/deltas/tw?format=rhizomedb").ok(200)["author"],
        "c"
    );
}

#[test]
fn hyperviews_views_time_travel_entities_and_negation() {
    let s = TestServer::start();
    let a = s.addr;
    let batch = json!([
        delta("n1", 1000, "alice", "m1", "title", json!("Alien")),
        delta("n2", 2000, "bob", "m1", "title", json!("Aliens")),
        delta("s1", 1500, "alice", "m1", "score", json!(4)),
        delta("s2", 2500, "bob", "m1", "score", json!(5)),
        delta("x1", 1200, "carol", "m2", "title", json!("Brazil")),
    ]);
    post(a, "/api/deltas", &batch).ok(201);
    let hv = get(a, "/api/hyperview/m1").ok(200);
    assert_eq!(hv["id"], "m1");
    let ids = |p: &str| -> Vec<String> {
        hv["properties"][p]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["id"].as_str().unwrap().into())
            .collect()
    };
    assert_eq!(
        (ids("score"), ids("title")),
        (
            vec!["s1".into(), "s2".into()],
            vec!["n1".to_string(), "n2".into()]
        )
    );
    let raw = String::from_utf8(get(a, "/api/hyperview/m1").body).unwrap();
    assert!(
        raw.find("\"score\"").unwrap() < raw.find("\"title\"").unwrap(),
        "sorted properties"
    );
    let hv = get(a, "/api/hyperview/m1?as_of=1600").ok(200);
    assert_eq!(hv["properties"]["title"].as_array().unwrap().len(), 1);
    get(a, "/api/hyperview/m1?as_of=999").error(404, "not_found");
    get(a, "/api/hyperview/nobody").error(404, "not_found");
    get(a, "/api/hyperview/m1?schema=Movie").error(400, "unknown_schema");
    get(a, "/api/hyperview/m1?as_of=0").error(400, "invalid_parameter");

    assert_eq!(
        get(a, "/api/view/m1").ok(200),
        json!({"id": "m1", "properties": {"score": 5, "title": "Aliens"}})
    );
    assert_eq!(
        get(a, "/api/view/m1?as_of=1600").ok(200),
        json!({"id": "m1", "properties": {"score": 4, "title": "Alien"}})
    );
    assert_eq!(
        get(a, "/api/view/m1?strategy=first-write-wins").ok(200)["properties"]["title"],
        "Alien"
    );
    assert_eq!(
        get(a, "/api/view/m1?strategies=score:average,title:all-values").ok(200),
        json!({"id": "m1", "properties": {"score": 4.5, "title": ["Alien", "Aliens"]}})
    );
    assert_eq!(
        get(a, "/api/view/m1?strategy=trusted-author&trusted=alice").ok(200)["properties"]["title"],
        "Alien"
    );
    assert_eq!(
        get(a, "/api/view/m1?strategy=count").ok(200)["properties"]["score"],
        2
    );
    let e = get(a, "/api/view/m1?strategy=bogus").error(400, "invalid_parameter");
    assert_eq!(e["parameter"], "strategy");
    let e = get(a, "/api/view/m1?strategies=score:bogus").error(400, "invalid_parameter");
    assert_eq!(e["parameter"], "strategies");
    get(a, "/api/view/m1?strategies=score").error(400, "invalid_parameter");
    get(a, "/api/view/m1?schema=Movie").error(400, "unknown_schema");
    get(a, "/api/view/zzz").error(404, "not_found");

    assert_eq!(
        get(a, "/api/entities").ok(200),
        json!({"ids": ["m1", "m2"]})
    );
    assert_eq!(
        get(a, "/api/entities?limit=1").ok(200),
        json!({"ids": ["m1"]})
    );
    assert_eq!(
        get(a, "/api/entities?after=m1").ok(200),
        json!({"ids": ["m2"]})
    );
    assert_eq!(
        get(a, "/api/entities?as_of=1100").ok(200),
        json!({"ids": ["m1"]})
    );
    get(a, "/api/entities?limit=0").error(400, "invalid_parameter");

    // Negate the latest title: the view falls back; negating the negation restores it.
    let neg = post_raw(a, "/api/deltas/n2/negate", b"").ok(201);
    assert_eq!(
        (neg["creator"].clone(), neg["host"].clone()),
        (json!("test-node"), json!("test-node"))
    );
    assert_eq!(
        neg["pointers"][0],
        json!({"localContext": "_negates", "target": "n2", "targetContext": "negated_by"})
    );
    assert_eq!(
        get(a, &format!("/api/deltas/{}", neg["id"].as_str().unwrap())).ok(200),
        neg
    );
    assert_eq!(
        get(a, "/api/view/m1").ok(200)["properties"]["title"],
        "Alien"
    );
    let neg2 = post(
        a,
        &format!("/api/deltas/{}/negate", neg["id"].as_str().unwrap()),
        &json!({"creator": "moderator", "reason": "mistake"}),
    )
    .ok(201);
    assert_eq!(neg2["creator"], "moderator");
    assert!(
        neg2["pointers"]
            .as_array()
            .unwrap()
            .contains(&json!({"localContext": "reason", "target": "mistake"}))
    );
    assert_eq!(
        get(a, "/api/view/m1").ok(200)["properties"]["title"],
        "Aliens"
    );
    post_raw(a, "/api/deltas/nope/negate", b"").error(404, "not_found");
    post(a, "/api/deltas/n1/negate", &json!({"why": 1})).error(400, "invalid_body");
    post(a, "/api/deltas/n1/negate", &json!({"creator": ""})).error(400, "invalid_delta");
    assert_eq!(count(a), 7);
}

#[test]
fn transactions_report_size_received_and_completeness() {
    let s = TestServer::start();
    let a = s.addr;
    get(a, "/api/transactions/tx1").error(404, "not_found");
    let member = |id: &str, t: u64| {
        json!({"id": id, "timeCreated": t, "host": "h", "creator": "c", "pointers": [
        {"localContext": "_transaction", "target": "tx1", "targetContext": "deltas"},
        {"localContext": "entity", "target": "doc", "targetContext": "status"},
        {"localContext": "status", "target": id}]})
    };
    post(a, "/api/deltas", &member("t1", 10)).ok(201);
    assert_eq!(
        get(a, "/api/transactions/tx1").ok(200),
        json!({"id": "tx1", "size": null, "received": 1, "complete": false})
    );
    get(a, "/api/view/doc").error(404, "not_found");
    let decl = json!({"id": "tsize", "timeCreated": 5, "host": "h", "creator": "c", "pointers": [
        {"localContext": "_transaction", "target": "tx1", "targetContext": "size"},
        {"localContext": "size", "target": 2}]});
    post(a, "/api/deltas", &json!([decl, member("t2", 20)])).ok(201);
    assert_eq!(
        get(a, "/api/transactions/tx1").ok(200),
        json!({"id": "tx1", "size": 2, "received": 2, "complete": true})
    );
    assert_eq!(
        get(a, "/api/transactions/tx1?as_of=15").ok(200)["complete"],
        false
    );
    assert_eq!(
        get(a, "/api/view/doc").ok(200)["properties"]["status"],
        "t2"
    );
}

#[test]
fn openapi_describes_every_new_route() {
    let s = TestServer::start();
    let doc = get(s.addr, "/api/openapi.json").ok(200);
    for (path, method) in [
        ("/api/deltas", "post"),
        ("/api/deltas", "get"),
        ("/api/deltas/count", "get"),
        ("/api/deltas/{id}", "get"),
        ("/api/deltas/{id}/negate", "post"),
        ("/api/entities", "get"),
        ("/api/hyperview/{id}", "get"),
        ("/api/view/{id}", "get"),
        ("/api/transactions/{id}", "get"),
    ] {
        assert!(
            doc["paths"][path][method]["responses"].is_object(),
            "{method} {path}"
        );
    }
}

// ------------------------------------------------------------- fuzz-style

/// A small deterministic generator (splitmix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Every path to a scalar or container inside `v`.
fn paths(v: &Value, at: Vec<Value>, out: &mut Vec<Vec<Value>>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| {
            let mut p = at.clone();
            p.push(json!(k));
            paths(c, p, out);
        }),
        Value::Array(a) => a.iter().enumerate().for_each(|(i, c)| {
            let mut p = at.clone();
            p.push(json!(i));
            paths(c, p, out);
        }),
        _ => {}
    }
}

fn at_mut<'a>(v: &'a mut Value, path: &[Value]) -> &'a mut Value {
    path.iter().fold(v, |v, k| match k {
        Value::String(k) => &mut v[k.as_str()],
        k => &mut v[k.as_u64().unwrap() as usize],
    })
}

fn malformed_body(rng: &mut Rng, valid: &[Value]) -> Vec<u8> {
    let wrong: [Value; 10] = [
        json!(null),
        json!(true),
        json!(-1),
        json!(1.5),
        json!(""),
        json!([]),
        json!({}),
        json!("x".repeat(300)),
        json!(1e300),
        json!({"id": {}}),
    ];
    match rng.below(8) {
        // Random bytes.
        0 => (0..rng.below(200)).map(|_| rng.next() as u8).collect(),
        // Truncated JSON.
        1 => {
            let s = valid[rng.below(valid.len())].to_string();
            s.as_bytes()[..rng.below(s.len())].to_vec()
        }
        // A wrong type or value at a random field of a valid delta.
        2 | 3 => {
            let mut d = valid[rng.below(valid.len())].clone();
            let mut ps = Vec::new();
            paths(&d, Vec::new(), &mut ps);
            let p = &ps[1 + rng.below(ps.len() - 1)];
            *at_mut(&mut d, p) = wrong[rng.below(wrong.len())].clone();
            let body = if rng.below(2) == 0 {
                d
            } else {
                json!([valid[0], d])
            };
            body.to_string().into_bytes()
        }
        // An unknown key, or a key of another format.
        4 => {
            let mut d = valid[rng.below(valid.len())].clone();
            let key = [
                "extra",
                "author",
                "timestamp",
                "system",
                "timeCreated",
                "pointers2",
            ][rng.below(6)];
            d[key] = json!("x");
            format!("{{\"deltas\": [{d}]}}").into_bytes()
        }
        // Deep nesting.
        5 => {
            let n = 30 + rng.below(200);
            let (open, close) = if rng.below(2) == 0 {
                ("[", "]")
            } else {
                ("{\"a\":", "}")
            };
            format!("{}1{}", open.repeat(n), close.repeat(n)).into_bytes()
        }
        // Invalid UTF-8 inside a string.
        6 => {
            let s = valid[0].to_string();
            let i = s.find("alice").unwrap_or(1);
            let mut b = s.into_bytes();
            b[i] = 0xFF;
            b[i + 1] = 0xC0;
            b
        }
        // A huge id or an empty/oversized everything.
        _ => {
            let mut d = valid[0].clone();
            d["id"] = json!("i".repeat(257 + rng.below(5000)));
            d.to_string().into_bytes()
        }
    }
}

#[test]
fn thousands_of_malformed_bodies_get_4xx_and_the_node_keeps_serving() {
    let s = TestServer::start();
    let a = s.addr;
    let valid = [
        delta("v1", 1000, "alice", "e", "p", json!("x")),
        json!({"id": "v2", "timeCreated": 2, "host": "h", "creator": "c", "pointers": {"entity": {"e": "p"}, "p": 3}}),
        json!({"id": "v3", "timestamp": 3, "author": "a", "system": "s", "pointers": [
            {"role": "entity", "target": {"id": "e", "context": "p"}}, {"role": "p", "target": true}]}),
    ];
    let mut rng = Rng(0x5EED);
    let mut statuses = std::collections::BTreeMap::new();
    for i in 0..3000 {
        let body = malformed_body(&mut rng, &valid);
        let r = request(a, "POST", "/api/deltas", Some("application/json"), &body);
        assert!(
            (400..500).contains(&r.status) || r.status == 201,
            "case {i}: {} for {:?}: {}",
            r.status,
            String::from_utf8_lossy(&body),
            String::from_utf8_lossy(&r.body)
        );
        if r.status != 201 {
            r.json();
        }
        *statuses.entry(r.status).or_insert(0) += 1;
    }
    // Mutations may by chance leave a delta valid; most are refused.
    assert!(
        statuses.get(&400).copied().unwrap_or(0) > 2500,
        "{statuses:?}"
    );
    let fresh = delta("after-fuzz", 1, "alice", "e", "p", json!(1));
    assert_eq!(
        post(a, "/api/deltas", &fresh).ok(201)["accepted"],
        json!(["after-fuzz"])
    );
    assert_eq!(get(a, "/api/deltas/after-fuzz").ok(200), fresh);
    assert_eq!(get(a, "/api/health").ok(200)["status"], "ok");
}

// ----------------------------------------------------- binary and the CLI

struct Binary {
    child: Child,
    url: String,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_node() -> Binary {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rhizome"))
        .arg("start")
        .env("RHIZOME_HTTP_PORT", "0")
        .env("RHIZOME_STORAGE", "memory")
        .env("RHIZOME_HOST_ID", "cli-node")
        .env_remove("RHIZOME_HTTP_ADDR")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split(' ')
        .nth(2)
        .unwrap()
        .strip_prefix("http=")
        .unwrap();
    Binary {
        url: format!("http://{addr}"),
        child,
    }
}

/// Runs `rhizome ARGS --url URL` with `stdin`; (exit code, stdout, stderr).
fn cli(url: &str, args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_rhizome"))
        .args(args)
        .args(["--url", url])
        .env_remove("RHIZOME_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_command_line_talks_to_a_running_node() {
    let node = spawn_node();
    let u = node.url.as_str();
    let body = json!([
        delta("c1", 1000, "alice", "u1", "name", json!("Ann")),
        delta("c2", 2000, "alice", "u1", "name", json!("Anne")),
    ]);
    let (code, out, err) = cli(u, &["put", "-"], body.to_string().as_bytes());
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "stored 2 deltas (0 duplicates)");
    let (code, out, _) = cli(u, &["put", "-", "--json"], body.to_string().as_bytes());
    assert_eq!(
        (code, serde_json::from_str::<Value>(&out).unwrap()),
        (0, json!({"accepted": [], "duplicates": ["c1", "c2"]}))
    );
    let (code, out, _) = cli(u, &["get", "c1", "--json"], b"");
    assert_eq!(
        (code, serde_json::from_str::<Value>(&out).unwrap()),
        (0, body[0].clone())
    );
    let (code, out, _) = cli(u, &["view", "u1"], b"");
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["properties"]["name"],
        "Anne"
    );
    assert!(
        out.contains('\n') && out.lines().count() > 1,
        "readable output is pretty: {out}"
    );
    let (_, out, _) = cli(u, &["view", "u1", "--as-of", "1500", "--json"], b"");
    assert_eq!(out.trim(), r#"{"id":"u1","properties":{"name":"Ann"}}"#);
    let (code, out, _) = cli(u, &["hyperview", "u1", "--json"], b"");
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap()["properties"]["name"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let (code, out, _) = cli(u, &["status"], b"");
    assert_eq!(code, 0);
    assert!(
        out.contains("cli-node") && out.contains("2 deltas"),
        "{out}"
    );
    let (_, out, _) = cli(u, &["status", "--json"], b"");
    let status: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (status["deltas"].clone(), status["last_seq"].clone()),
        (json!(2), json!(2))
    );
    // The sync identity is the one /api/peers gives.
    let addr = u.trim_start_matches("http://").parse().unwrap();
    let peers = get(addr, "/api/peers").json();
    assert_eq!(status["node_id"], peers["self"]["node_id"]);
    assert_eq!(status["peers"], json!(0));

    // Errors: one line, non-zero.
    for (args, needle) in [
        (vec!["get", "nope"], "404 not_found"),
        (vec!["view", "u1", "--schema", "S"], "unknown_schema"),
        (vec!["put", "/no/such/file"], "cannot open"),
    ] {
        let (code, out, err) = cli(u, &args, b"");
        assert_ne!(code, 0, "{args:?}");
        assert!(
            out.is_empty() && err.lines().count() == 1 && err.contains(needle),
            "{args:?}: {err}"
        );
    }
    let (code, _, err) = cli(u, &["put", "-"], b"{\"id\": 3}");
    assert_ne!(code, 0);
    assert!(err.contains("400 invalid_delta"), "{err}");
    let (code, _, err) = cli("http://127.0.0.1:1", &["status"], b"");
    assert_ne!(code, 0);
    assert!(err.contains("cannot connect"), "{err}");

    // 2500 more, then export → import into a second node, as lines and as an array.
    let many: Vec<Value> = (0..2500)
        .map(|i| {
            delta(
                &format!("m{i}"),
                3000 + i,
                "bob",
                &format!("x{}", i % 10),
                "n",
                json!(i),
            )
        })
        .collect();
    assert_eq!(
        cli(u, &["put", "-"], json!(many).to_string().as_bytes()).0,
        0
    );
    let (code, exported, _) = cli(u, &["export"], b"");
    assert_eq!(code, 0);
    assert_eq!(exported.lines().count(), 2502);
    let (_, tail, _) = cli(u, &["export", "--since", "2500"], b"");
    assert_eq!(tail.lines().count(), 2);
    let second = spawn_node();
    let (code, out, err) = cli(&second.url, &["import", "-"], exported.as_bytes());
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "imported 2502 deltas: 2502 new, 0 duplicates");
    // The progress bar is drawn only on a terminal, never into a pipe.
    assert!(
        err.trim().is_empty(),
        "no progress bar when stderr is not a terminal: {err}"
    );
    let (_, again, _) = cli(&second.url, &["export"], b"");
    assert_eq!(again, exported, "same deltas, same order");
    let array = format!("[{}]", exported.lines().collect::<Vec<_>>().join(","));
    let (code, out, _) = cli(
        &second.url,
        &["import", "-", "--json", "--batch", "700"],
        array.as_bytes(),
    );
    assert_eq!(code, 0);
    assert_eq!(
        serde_json::from_str::<Value>(&out).unwrap(),
        json!({"sent": 2502, "accepted": 0, "duplicates": 2502})
    );
    let (code, _, err) = cli(&second.url, &["import", "-"], b"{\"id\": \"bad\"}\n");
    assert_ne!(code, 0);
    assert!(err.contains("refused") && err.contains("400"), "{err}");
}
