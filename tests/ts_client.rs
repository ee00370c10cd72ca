//! The TypeScript client (`clients/ts`) against the real `rhizome` binary:
//! `npm test` there builds it with tsc and runs its `node --test` suites,
//! which start and kill the binary named by `RHIZOME_BIN` themselves
//! (reads, writes, errors, signing against docs/canonical-form.md, live
//! feeds resuming across a node restart, the offline outbox).
//! `scripts/test` installs Node.js and the package's devDependencies first
//! (`scripts/install-ts-client-deps`).

use std::path::PathBuf;
use std::process::Command;

mod common;

fn client_dir() -> PathBuf {
    // Read at run time: a test binary built from another checkout sharing
    // the build directory would carry that checkout's path.
    let root =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    PathBuf::from(root).join("clients/ts")
}

#[test]
fn typescript_client_suite_passes_against_the_real_binary() {
    let dir = client_dir();
    assert!(
        dir.join("node_modules/typescript").exists(),
        "run scripts/install-ts-client-deps first (scripts/test does)"
    );
    let out = Command::new("npm")
        .arg("test")
        .current_dir(&dir)
        .env("RHIZOME_BIN", env!("CARGO_BIN_EXE_rhizome"))
        .output()
        .expect("npm must be installed");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "npm test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // node --test's summary: some tests ran, none failed.
    assert!(stdout.contains("# fail 0"), "{stdout}");
    assert!(!stdout.contains("# pass 0"), "{stdout}");
}

/// Offline first in a real browser (`tests/browser/offline.mjs`): the page
/// goes offline, writes, is reloaded while still offline (the outbox
/// survives in IndexedDB), comes back online, and the node holds every
/// write exactly once, in order.
#[test]
fn browser_outbox_survives_a_reload_offline_and_delivers_once() {
    let dir = client_dir();
    let browser_dir = dir.join("../../tests/browser");
    assert!(
        dir.join("node_modules/typescript").exists()
            && browser_dir.join("node_modules/playwright-core").exists()
            && std::path::Path::new("/usr/bin/chromium").exists(),
        "run scripts/install-ts-client-deps and scripts/install-browser-test-deps first (scripts/test does)"
    );
    // A build of its own, so it does not race `npm test`'s.
    let dist = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("ts-client-dist");
    let tsc = Command::new("node")
        .arg(dir.join("node_modules/typescript/bin/tsc"))
        .args(["-p", "."])
        .arg("--outDir")
        .arg(&dist)
        .current_dir(&dir)
        .output()
        .expect("node (Node.js) must be installed");
    assert!(
        tsc.status.success(),
        "{}",
        String::from_utf8_lossy(&tsc.stdout)
    );

    let (node, addr) = common::start_binary(&[("RHIZOME_SYNC", "off")]);
    let out = Command::new("node")
        .arg(browser_dir.join("offline.mjs"))
        .arg(&addr)
        .arg(&dist)
        .output()
        .expect("node (Node.js) must be installed");
    drop(node);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["written"].as_array().map(Vec::len), Some(5));
    assert_eq!(result["stored"], result["written"]);
}
