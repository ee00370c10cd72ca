//! The dashboard at `GET /` in a real browser (Debian's chromium, driven by
//! playwright-core from `tests/browser/dashboard.mjs`) against the real
//! `rhizome` binary: it loads with no console error, shows a delta written
//! through the API within a second, and its time slider shows the earlier
//! value. Screenshots go to the test's temporary directory
//! (`docs/dashboard.png` is one of them).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn dashboard_shows_live_deltas_views_and_time_travel_in_chromium() {
    let root =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    let dir = Path::new(&root).join("tests/browser");
    assert!(
        Path::new("/usr/bin/chromium").exists()
            && dir.join("node_modules/playwright-core").exists(),
        "run scripts/install-browser-test-deps first (scripts/test does)"
    );
    let mut node = Kill(
        Command::new(env!("CARGO_BIN_EXE_rhizome"))
            .arg("start")
            .env("RHIZOME_STORAGE", "memory")
            .env("RHIZOME_HTTP_PORT", "0")
            .env("RHIZOME_SYNC", "off")
            .env("RHIZOME_LOG", "warn")
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
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard");
    std::fs::create_dir_all(&shots).unwrap();
    let out = Command::new("node")
        .arg(dir.join("dashboard.mjs"))
        .arg(&addr)
        .arg(&shots)
        .output()
        .expect("node (Node.js) must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(
        result["earlier"]["properties"]["title"], "Alien",
        "{result}"
    );
    assert!(shots.join("dashboard.png").exists());
}
