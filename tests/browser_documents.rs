//! Collaborative editing from real browsers (API.md §7): two pages of
//! Debian's chromium, driven by playwright-core from
//! `tests/browser/docs.mjs`, each run the official `@automerge/automerge`
//! npm package and type into one document of the real `rhizome` binary at
//! once, one of them offline for a while. Both end with the same text,
//! which `GET /api/docs/...` also returns. `scripts/test` installs chromium
//! and the npm packages first (`scripts/install-browser-test-deps`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get_json(addr: &str, path: &str) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: localhost\r\naccept: application/json\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..end]).to_string();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, serde_json::from_slice(&raw[end + 4..]).unwrap())
}

#[test]
fn two_chromium_pages_running_automerge_edit_one_document() {
    let root =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let dir = Path::new(&root).join("tests/browser");
    assert!(
        Path::new("/usr/bin/chromium").exists()
            && dir.join("node_modules/playwright-core").exists()
            && dir.join("node_modules/@automerge/automerge").exists(),
        "run scripts/install-browser-test-deps first (scripts/test does)"
    );
    let page_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut node = Kill(
        Command::new(env!("CARGO_BIN_EXE_rhizome"))
            .arg("start")
            .env("RHIZOME_STORAGE", "memory")
            .env("RHIZOME_HTTP_PORT", "0")
            .env("RHIZOME_LOG", "warn")
            // The pages come from a static server on PAGE_PORT: another
            // origin, which the node must allow (API.md §6).
            .env(
                "RHIZOME_CORS_ORIGINS",
                format!("http://127.0.0.1:{page_port}"),
            )
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    BufReader::new(node.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http="))
        .unwrap_or_else(|| panic!("no start line: {line:?}"))
        .to_owned();

    let out = Command::new("node")
        .arg(dir.join("docs.mjs"))
        .arg(&addr)
        .arg(page_port.to_string())
        .stderr(Stdio::inherit())
        .output()
        .expect("node (Node.js) must be installed");
    assert!(out.status.success(), "the browser driver failed");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let got: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let text = got["a"].as_str().unwrap();
    assert_eq!(got["a"], got["b"]);
    assert_eq!(text.chars().count() as u64, got["typed"].as_u64().unwrap());
    // The document started as "|"; Alice appended after it, Bob typed
    // before it (online, offline, online again): both runs stay whole.
    assert_eq!(
        text,
        "Bob types at the start. Offline, Bob keeps typing. Back online! \
         |Alice types at the end of the document. "
    );
    let (status, doc) = get_json(&addr, "/api/docs/shared/body");
    assert_eq!(status, 200, "{doc}");
    assert_eq!(doc["value"]["text"].as_str().unwrap(), text);
    assert_eq!(doc["heads"], got["heads"]);
}
