//! The dashboard at `GET /` in a real browser (Debian's chromium, driven by
//! playwright-core from `tests/browser/dashboard.mjs`) against the real
//! `rhizome` binary: it loads with no console error, shows a delta written
//! through the API within a second, and its time slider shows the earlier
//! value. Screenshots go to the test's temporary directory
//! (`docs/dashboard.png` is one of them).

use std::path::Path;
use std::process::Command;

mod common;

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
    let (_node, addr) = common::start_binary(&[("RHIZOME_SYNC", "off")]);
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
