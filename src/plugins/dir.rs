//! `RHIZOME_PLUGINS_DIR`: every `NAME.wasm` in it is loaded at start (in
//! dependency order) and reloaded when it changes; a removed file unloads
//! its plugin. The directory is polled (size and modification time first,
//! then the content's hash), which needs no file-watching dependency and
//! works on every file system; the delay is `RHIZOME_PLUGINS_POLL_MS`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::PluginHost;

/// What was last seen of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    len: u64,
    modified: Option<SystemTime>,
    hash: blake3::Hash,
}

/// The `NAME.wasm` files of `dir`, by plugin name, with their size and
/// modification time.
fn scan(dir: &Path) -> BTreeMap<String, (PathBuf, u64, Option<SystemTime>)> {
    let mut out = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), "cannot read the plugins directory: {e}");
            return out;
        }
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("wasm") {
            continue;
        }
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        if let Ok(meta) = entry.metadata()
            && meta.is_file()
        {
            out.insert(name.to_owned(), (path, meta.len(), meta.modified().ok()));
        }
    }
    out
}

/// Loads `dir` now, then polls it from a thread of its own until the host
/// is dropped.
pub(crate) fn watch(host: &PluginHost, dir: PathBuf) {
    let mut seen = BTreeMap::new();
    sync(host, &dir, &mut seen);
    let weak = host.downgrade();
    let every = Duration::from_millis(host.inner.settings.plugins_poll_ms.max(10));
    let spawned = std::thread::Builder::new()
        .name("plugins-dir".into())
        .spawn(move || {
            loop {
                std::thread::sleep(every);
                let Some(host) = PluginHost::upgrade(&weak) else {
                    return;
                };
                sync(&host, &dir, &mut seen);
            }
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start the plugins directory watcher: {e}");
    }
}

/// One pass: install what is new or changed (retrying plugins whose
/// dependencies load later in the same pass), unload what disappeared.
fn sync(host: &PluginHost, dir: &Path, seen: &mut BTreeMap<String, Seen>) {
    let files = scan(dir);
    let mut pending: Vec<(String, Vec<u8>, Seen)> = Vec::new();
    for (name, (path, len, modified)) in &files {
        if seen
            .get(name)
            .is_some_and(|s| s.len == *len && s.modified == *modified)
        {
            continue;
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(file = %path.display(), "cannot read a plugin: {e}");
                continue;
            }
        };
        let now = Seen {
            len: *len,
            modified: *modified,
            hash: blake3::hash(&bytes),
        };
        if seen.get(name).is_some_and(|s| s.hash == now.hash) {
            seen.insert(name.clone(), now);
            continue;
        }
        pending.push((name.clone(), bytes, now));
    }
    // Dependency order: keep installing while something succeeds.
    loop {
        let before = pending.len();
        let mut failed = Vec::new();
        for (name, bytes, now) in pending {
            match host.install_blocking(&name, &bytes) {
                Ok(info) => {
                    tracing::info!(plugin = %name, hash = %info.hash, "plugin loaded from the plugins directory");
                    seen.insert(name, now);
                }
                Err(e) => failed.push((name, bytes, now, e)),
            }
        }
        let progress = failed.len() < before;
        if !progress || failed.is_empty() {
            for (name, _, now, e) in failed {
                tracing::error!(plugin = %name, "plugin file not loaded: {e}");
                // Not retried until the file changes.
                seen.insert(name, now);
            }
            break;
        }
        pending = failed.into_iter().map(|(n, b, s, _)| (n, b, s)).collect();
    }
    let gone: Vec<String> = seen
        .keys()
        .filter(|n| !files.contains_key(*n))
        .cloned()
        .collect();
    for name in gone {
        seen.remove(&name);
        if host.info(&name).is_some() {
            match host.remove(&name) {
                Ok(()) => tracing::info!(plugin = %name, "plugin file removed; plugin unloaded"),
                Err(e) => tracing::warn!(plugin = %name, "plugin file removed but kept: {e}"),
            }
        }
    }
}
