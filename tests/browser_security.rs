//! The browser rules and JavaScript signing in real Chromium (API.md §6),
//! against the real `rhizome` binary with JWT auth
//! (`tests/browser/security.mjs` drives the browser): a page on the node's
//! own origin signs a delta with WebCrypto Ed25519 and stores it, a
//! tampered copy is refused, and its EventSource and WebSocket work; a page
//! on another origin can open neither, nor read with fetch.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use rhizome::auth::jwt::sign_hs256;
use serde_json::{Value, json};

const SECRET: &str = "browser security test secret, 32+ bytes long";

#[test]
fn chromium_signs_with_webcrypto_and_other_origins_are_shut_out() {
    let root =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let dir = Path::new(&root).join("tests/browser");
    assert!(
        Path::new("/usr/bin/chromium").exists()
            && dir.join("node_modules/playwright-core").exists(),
        "run scripts/install-browser-test-deps first (scripts/test does)"
    );
    let (_node, addr) = common::start_binary(&[
        ("RHIZOME_SYNC", "off"),
        ("RHIZOME_AUTH", "jwt"),
        ("RHIZOME_JWT_SECRET", SECRET),
    ]);
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 3600;
    let token = |sub: &str, scope: &str| {
        sign_hs256(
            SECRET.as_bytes(),
            &json!({"sub": sub, "scope": scope, "exp": exp}),
        )
    };
    let out = Command::new("node")
        .arg(dir.join("security.mjs"))
        .arg(&addr)
        .arg(token("root", "admin"))
        .arg(token("alice", "write"))
        .arg(token("ann", "read"))
        .stderr(Stdio::inherit())
        .output()
        .expect("node (Node.js) must be installed");
    assert!(out.status.success(), "the browser script failed");
    let text = String::from_utf8_lossy(&out.stdout);
    let got: Value = serde_json::from_str(text.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {text}"));
    let own = &got["own"];
    assert_eq!(own["register"], 201, "{got}");
    assert_eq!(own["tampered"], 400, "{got}");
    assert_eq!(own["tamperedCode"], "bad_signature", "{got}");
    assert_eq!(own["signed"], 201, "a WebCrypto signature verifies: {got}");
    assert_eq!(own["unsigned"], 400, "{got}");
    assert_eq!(own["sse"], true, "{got}");
    assert_eq!(own["ws"], true, "{got}");
    assert_eq!(own["live"], json!([own["id"]]), "{got}");
    let foreign = &got["foreign"];
    assert_eq!(foreign["sse"], false, "{got}");
    assert_eq!(foreign["ws"], false, "{got}");
    assert_eq!(foreign["fetch"], "refused", "{got}");
    assert_eq!(foreign["sseState"], 2, "{got}");
    assert_eq!(foreign["wsState"], 3, "{got}");
}
