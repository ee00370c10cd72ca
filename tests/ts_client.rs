//! The TypeScript client (`clients/ts`) against the real `rhizome` binary:
//! `npm test` there builds it with tsc and runs its `node --test` suites,
//! which start and kill the binary named by `RHIZOME_BIN` themselves
//! (reads, writes, errors, signing against docs/canonical-form.md, live
//! feeds resuming across a node restart, the offline outbox).
//! `scripts/test` installs Node.js and the package's devDependencies first
//! (`scripts/install-ts-client-deps`).

use std::path::PathBuf;
use std::process::Command;

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
