//! `rhizome watch ENTITY` (API.md §9 tooling): prints the view at once and
//! again on every change, against a real server.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

mod common;

use common::{TestServer, post};

fn set(id: &str, t: u64, value: &str) -> Value {
    json!({"id": id, "timeCreated": t, "host": "h", "creator": "c", "pointers": [
        {"localContext": "entity", "target": "doc", "targetContext": "title"},
        {"localContext": "title", "target": value}]})
}

#[test]
fn watch_prints_the_view_now_and_on_every_change() {
    let s = TestServer::start();
    post(s.addr, "/api/deltas", &set("w1", 1000, "first")).ok(201);
    let mut child = Command::new(env!("CARGO_BIN_EXE_rhizome"))
        .args([
            "watch",
            "doc",
            "--json",
            "--url",
            &format!("http://{}", s.addr),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || -> Value { serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap() };
    assert_eq!(
        next(),
        json!({"id": "doc", "properties": {"title": "first"}})
    );
    post(s.addr, "/api/deltas", &set("w2", 2000, "second")).ok(201);
    assert_eq!(
        next(),
        json!({"id": "doc", "properties": {"title": "second"}})
    );
    // A delta that does not change the view prints nothing; the next change does.
    post(s.addr, "/api/deltas", &set("w0", 500, "older")).ok(201);
    post(s.addr, "/api/deltas", &set("w3", 3000, "third")).ok(201);
    assert_eq!(
        next(),
        json!({"id": "doc", "properties": {"title": "third"}})
    );
    let _ = child.kill();
    let _ = child.wait();
}
