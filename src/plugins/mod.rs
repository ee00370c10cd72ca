//! WebAssembly plugins (API.md §8): loaded, isolated, supervised and
//! replaced while the node runs.
//!
//! A [`PluginHost`] holds a node's plugins by name. Installing one
//! ([`PluginHost::install`], `PUT /api/plugins/{name}`, or a `NAME.wasm`
//! file in `RHIZOME_PLUGINS_DIR`) checks the module against ABI v1
//! ([`runtime::Compiled::new`]), reads its `manifest()` (dependencies must
//! be installed already; a cycle is refused), feeds `handle_delta` every
//! stored delta, and only then puts it in service: a new plugin starts its
//! worker ([`supervisor`]), a replaced one swaps versions behind the jobs
//! already queued, so no call fails or is lost. Its `resolve` becomes a
//! strategy of the same name in the node's registry ([`strategy`]), its
//! `validate` checks every batch a client writes (never deltas from peers:
//! peers must converge whatever plugins each of them runs), and `call` is
//! `POST /api/plugins/{name}/call`.
//!
//! ```no_run
//! # async fn run(node: rhizome::node::Node) -> rhizome::Result<()> {
//! use rhizome::plugins::{PluginHost, PluginSettings};
//!
//! let host = PluginHost::new(node, PluginSettings::default());
//! let wasm = std::fs::read("longest.wasm").unwrap();
//! let info = host.install("longest", wasm).await?;
//! assert_eq!(info.status.as_str(), "running");
//! // `GET /api/view/e?strategy=longest` now resolves with it.
//! # Ok(()) }
//! ```

pub mod dir;
pub mod runtime;
pub mod strategy;
pub mod supervisor;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use rhizome_crdt::{Delta, StrategyRegistry};
use serde::Serialize;
use serde_json::Value;

use crate::node::{Node, WriteValidator};
use crate::{Error, Result};
use runtime::{Compiled, Hook, Instance, RunLimits};
use strategy::PluginStrategy;
use supervisor::{HookError, Plugin, RestartPolicy, Status, Version};

/// Plugin settings, read from the environment (flags mirror them).
#[derive(Clone, Debug, clap::Args)]
pub struct PluginSettings {
    /// A directory of `NAME.wasm` plugins, loaded at start and reloaded when
    /// a file changes (polled).
    #[arg(long, env = "RHIZOME_PLUGINS_DIR")]
    pub plugins_dir: Option<PathBuf>,
    /// How often the plugins directory is checked for changes, in ms.
    #[arg(long, env = "RHIZOME_PLUGINS_POLL_MS", default_value_t = 1000)]
    pub plugins_poll_ms: u64,
    /// Fuel of one hook call (about one unit per WebAssembly instruction).
    #[arg(long, env = "RHIZOME_PLUGIN_FUEL", default_value_t = 10_000_000)]
    pub plugin_fuel: u64,
    /// Largest linear memory of a plugin instance, in bytes.
    #[arg(long, env = "RHIZOME_PLUGIN_MEMORY_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub plugin_memory_bytes: usize,
    /// The first restart's delay after a crash, in ms (doubling with each
    /// crash in the window, up to 10 s).
    #[arg(long, env = "RHIZOME_PLUGIN_BACKOFF_MS", default_value_t = 100)]
    pub plugin_backoff_ms: u64,
    /// Crashes within a minute after which a plugin is `failed`.
    #[arg(long, env = "RHIZOME_PLUGIN_MAX_CRASHES", default_value_t = 5)]
    pub plugin_max_crashes: usize,
}

impl Default for PluginSettings {
    fn default() -> Self {
        PluginSettings {
            plugins_dir: None,
            plugins_poll_ms: 1000,
            plugin_fuel: RunLimits::default().fuel,
            plugin_memory_bytes: RunLimits::default().memory_bytes,
            plugin_backoff_ms: 100,
            plugin_max_crashes: 5,
        }
    }
}

impl PluginSettings {
    fn limits(&self) -> RunLimits {
        RunLimits {
            fuel: self.plugin_fuel.max(1),
            memory_bytes: self.plugin_memory_bytes,
        }
    }

    fn policy(&self) -> RestartPolicy {
        RestartPolicy {
            backoff: Duration::from_millis(self.plugin_backoff_ms),
            max_crashes: self.plugin_max_crashes,
            ..RestartPolicy::default()
        }
    }
}

/// A plugin as `GET /api/plugins/{name}` shows it.
#[derive(Clone, Debug, Serialize)]
pub struct PluginInfo {
    /// Its name (the strategy name of its `resolve`).
    pub name: String,
    /// blake3 of the module, hex.
    pub hash: String,
    /// The hooks it exports.
    pub exports: Vec<&'static str>,
    /// What its manifest says it depends on.
    pub depends_on: Vec<String>,
    /// `running`, `restarting` or `failed`.
    pub status: Status,
    /// Hook calls (including `resolve`s and `validate`s).
    pub calls: u64,
    /// Hook calls that failed (trap, fuel, memory, ABI).
    pub traps: u64,
    /// Restarts after a failure.
    pub restarts: u64,
    /// The error that last brought it down, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The module's size in bytes.
    pub size: usize,
}

/// Plugin names: 1 to 64 of `A-Z a-z 0-9 _ -`.
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

struct HostInner {
    node: Node,
    settings: PluginSettings,
    engine: wasmi::Engine,
    runtime: Option<tokio::runtime::Handle>,
    plugins: RwLock<BTreeMap<String, Arc<Plugin>>>,
    /// Serialises installs and removals (they read and change the
    /// dependency graph).
    changing: Mutex<()>,
}

/// The plugins of one node. Cheap to clone.
#[derive(Clone)]
pub struct PluginHost {
    inner: Arc<HostInner>,
}

impl std::fmt::Debug for PluginHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHost")
            .field("plugins", &self.names())
            .finish_non_exhaustive()
    }
}

fn invalid(name: &str, reason: impl Into<String>) -> Error {
    Error::InvalidPlugin {
        name: name.to_owned(),
        reason: reason.into(),
    }
}

impl PluginHost {
    /// The plugin host of `node`: it checks the node's client writes with
    /// the `validate` hooks, and, when `settings.plugins_dir` is set, loads
    /// that directory now and watches it (from a thread of its own).
    pub fn new(node: Node, settings: PluginSettings) -> PluginHost {
        let host = PluginHost {
            inner: Arc::new(HostInner {
                node: node.clone(),
                engine: runtime::engine(),
                runtime: tokio::runtime::Handle::try_current().ok(),
                plugins: RwLock::new(BTreeMap::new()),
                changing: Mutex::new(()),
                settings,
            }),
        };
        node.set_validator(Some(Arc::new(Validators(Arc::downgrade(&host.inner)))));
        if let Some(dir) = host.inner.settings.plugins_dir.clone() {
            dir::watch(&host, dir);
        }
        host
    }

    fn downgrade(&self) -> Weak<HostInner> {
        Arc::downgrade(&self.inner)
    }

    fn upgrade(weak: &Weak<HostInner>) -> Option<PluginHost> {
        weak.upgrade().map(|inner| PluginHost { inner })
    }

    fn plugin(&self, name: &str) -> Option<Arc<Plugin>> {
        self.inner
            .plugins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }

    fn all(&self) -> Vec<Arc<Plugin>> {
        self.inner
            .plugins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// The names of the installed plugins, sorted.
    pub fn names(&self) -> Vec<String> {
        self.all().iter().map(|p| p.name().to_owned()).collect()
    }

    /// Installs or replaces the plugin `name` from the module `wasm`
    /// (blocking work runs off the async workers).
    pub async fn install(&self, name: &str, wasm: Vec<u8>) -> Result<PluginInfo> {
        let host = self.clone();
        let name = name.to_owned();
        tokio::task::spawn_blocking(move || host.install_blocking(&name, &wasm))
            .await
            .map_err(|e| Error::storage("installing a plugin", e))?
    }

    /// [`PluginHost::install`] on the calling thread (never an async
    /// worker: it waits for the plugin's worker when replacing).
    pub fn install_blocking(&self, name: &str, wasm: &[u8]) -> Result<PluginInfo> {
        if !valid_name(name) {
            return Err(invalid(
                name,
                "a plugin name is 1 to 64 letters, digits, '_' or '-'",
            ));
        }
        let started = std::time::Instant::now();
        let _changing = self
            .inner
            .changing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let compiled = Compiled::new(&self.inner.engine, wasm).map_err(|r| invalid(name, r))?;
        if compiled.has(Hook::Resolve) && StrategyRegistry::builtin().contains(name) {
            return Err(invalid(
                name,
                format!(
                    "{name} is a built-in strategy; a plugin exporting resolve needs another name"
                ),
            ));
        }
        let limits = self.inner.settings.limits();
        let mut instance = Instance::new(&self.inner.engine, &compiled, name, limits)
            .map_err(|f| invalid(name, format!("the module does not start: {f}")))?;
        let depends_on = match instance.manifest() {
            None => Vec::new(),
            Some(out) => {
                let out = out.map_err(|f| invalid(name, format!("manifest failed: {f}")))?;
                manifest(&out).map_err(|r| invalid(name, r))?
            }
        };
        self.check_dependencies(name, &depends_on)?;
        let existing = self.plugin(name);
        if let Some(p) = &existing
            && p.shared.version().compiled.hash == compiled.hash
            && p.shared.status().0 == Status::Running
        {
            // The same module again (a touched file, a repeated PUT).
            return Ok(self.info_of(p));
        }
        let fed = supervisor::feed(&self.inner.node, &mut instance, 0).map_err(|f| {
            invalid(
                name,
                format!("handle_delta failed while being fed the stored deltas: {f}"),
            )
        })?;
        let version = Arc::new(Version {
            compiled,
            depends_on,
        });
        let plugin = match existing {
            Some(p) => {
                p.swap_blocking(version, instance, fed).map_err(|f| {
                    invalid(name, format!("handle_delta failed while catching up: {f}"))
                })?;
                p
            }
            None => {
                // Weak: the node's registry holds the plugin, which must
                // not hold the node in turn.
                let host = self.downgrade();
                let on_change = Box::new(move || {
                    if let Some(h) = PluginHost::upgrade(&host) {
                        h.inner.node.clear_views();
                    }
                });
                let p = Arc::new(Plugin::start(
                    name,
                    self.inner.engine.clone(),
                    limits,
                    self.inner.settings.policy(),
                    self.inner.node.clone(),
                    version,
                    instance,
                    fed,
                    on_change,
                )?);
                self.follow_feed(&p);
                self.inner
                    .plugins
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name.to_owned(), Arc::clone(&p));
                p
            }
        };
        self.publish_strategies();
        let info = self.info_of(&plugin);
        tracing::info!(
            plugin = name,
            hash = %info.hash,
            exports = ?info.exports,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "plugin installed"
        );
        Ok(info)
    }

    /// Missing dependencies and cycles, named.
    fn check_dependencies(&self, name: &str, depends_on: &[String]) -> Result<()> {
        let plugins = self.inner.plugins.read().unwrap_or_else(|e| e.into_inner());
        let missing: Vec<&str> = depends_on
            .iter()
            .filter(|d| d.as_str() != name && !plugins.contains_key(d.as_str()))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(invalid(
                name,
                format!("missing dependency: {}", missing.join(", ")),
            ));
        }
        let graph: BTreeMap<&str, Vec<String>> = plugins
            .iter()
            .map(|(n, p)| (n.as_str(), p.shared.version().depends_on.clone()))
            .chain([(name, depends_on.to_vec())])
            .collect();
        if let Some(cycle) = find_cycle(&graph, name) {
            return Err(invalid(
                name,
                format!("dependency cycle: {}", cycle.join(" -> ")),
            ));
        }
        Ok(())
    }

    /// Unloads `name`; refused while another plugin depends on it.
    pub fn remove(&self, name: &str) -> Result<()> {
        let _changing = self
            .inner
            .changing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        {
            let mut plugins = self
                .inner
                .plugins
                .write()
                .unwrap_or_else(|e| e.into_inner());
            if !plugins.contains_key(name) {
                return Err(Error::UnknownPlugin {
                    name: name.to_owned(),
                });
            }
            let dependents: Vec<String> = plugins
                .iter()
                .filter(|(n, p)| {
                    n.as_str() != name && p.shared.version().depends_on.iter().any(|d| d == name)
                })
                .map(|(n, _)| n.clone())
                .collect();
            if !dependents.is_empty() {
                return Err(Error::PluginInUse {
                    name: name.to_owned(),
                    dependents,
                });
            }
            if let Some(p) = plugins.remove(name) {
                p.shared.retire();
            }
        }
        self.publish_strategies();
        tracing::info!(plugin = name, "plugin removed");
        Ok(())
    }

    /// Puts the `resolve` plugins into the node's strategy registry (and so
    /// drops its cached views).
    fn publish_strategies(&self) {
        let mut registry = StrategyRegistry::builtin();
        for p in self.all() {
            if p.shared.version().compiled.has(Hook::Resolve) {
                registry.register(
                    p.name(),
                    Arc::new(PluginStrategy {
                        shared: Arc::clone(&p.shared),
                    }),
                );
            }
        }
        self.inner.node.set_strategies(Arc::new(registry));
    }

    /// Wakes the plugin's worker on every stored batch, so `handle_delta`
    /// follows the feed live (calls also catch up first, so an answer never
    /// misses a delta stored before it was asked).
    fn follow_feed(&self, plugin: &Arc<Plugin>) {
        let Some(rt) = &self.inner.runtime else {
            return;
        };
        let weak = Arc::downgrade(plugin);
        let mut feed = self.inner.node.subscribe();
        rt.spawn(async move {
            use tokio::sync::broadcast::error::RecvError;
            loop {
                match feed.recv().await {
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return,
                }
                match weak.upgrade() {
                    Some(p) if p.wake() => {}
                    _ => return,
                }
            }
        });
    }

    fn info_of(&self, p: &Plugin) -> PluginInfo {
        let version = p.shared.version();
        let (status, last_error) = p.shared.status();
        PluginInfo {
            name: p.name().to_owned(),
            hash: version.compiled.hash.clone(),
            exports: version.compiled.exports.clone(),
            depends_on: version.depends_on.clone(),
            status,
            calls: p.shared.calls.load(Ordering::Relaxed),
            traps: p.shared.traps.load(Ordering::Relaxed),
            restarts: p.shared.restarts.load(Ordering::Relaxed),
            last_error,
            size: version.compiled.size,
        }
    }

    /// One plugin's state.
    pub fn info(&self, name: &str) -> Option<PluginInfo> {
        self.plugin(name).map(|p| self.info_of(&p))
    }

    /// Every plugin's state, by name.
    pub fn list(&self) -> Vec<PluginInfo> {
        self.all().iter().map(|p| self.info_of(p)).collect()
    }

    /// `POST /api/plugins/{name}/call`: the plugin's `call` with `body`;
    /// its answer, checked to be JSON.
    pub async fn call(&self, name: &str, body: Vec<u8>) -> Result<Vec<u8>> {
        let plugin = self.plugin(name).ok_or_else(|| Error::UnknownPlugin {
            name: name.to_owned(),
        })?;
        if !plugin.shared.version().compiled.has(Hook::Call) {
            return Err(Error::UnknownPlugin {
                name: format!("{name}/call (the plugin exports no call hook)"),
            });
        }
        let unavailable = |e: HookError| Error::PluginUnavailable {
            name: name.to_owned(),
            reason: e.to_string(),
        };
        let mut out = plugin
            .run(Hook::Call, vec![body])
            .await
            .map_err(unavailable)?;
        let out = out.pop().unwrap_or_default();
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&out) {
            let fault = runtime::Fault::Abi(format!("call answered invalid JSON: {e}"));
            plugin.shared.crash(&fault);
            return Err(unavailable(HookError::Failed(fault)));
        }
        Ok(out)
    }

    /// Runs every `validate` plugin over a client's batch (blocking).
    fn validate_blocking(&self, deltas: &[Arc<Delta>]) -> Result<()> {
        let validators: Vec<Arc<Plugin>> = self
            .all()
            .into_iter()
            .filter(|p| p.shared.version().compiled.has(Hook::Validate))
            .collect();
        if validators.is_empty() {
            return Ok(());
        }
        let inputs = deltas
            .iter()
            .map(|d| {
                let mut input = b"{\"principal\":null,\"delta\":".to_vec();
                rhizome_crdt::codec::json::encode_into(
                    d,
                    rhizome_crdt::codec::Format::V1,
                    &mut input,
                )?;
                input.push(b'}');
                Ok(input)
            })
            .collect::<Result<Vec<_>>>()?;
        for p in validators {
            let refuse = |index: Option<usize>, reason: String| Error::RejectedByPlugin {
                plugin: p.name().to_owned(),
                index,
                reason,
            };
            let outs = p
                .run_blocking(Hook::Validate, inputs.clone())
                .map_err(|e| refuse(None, format!("the validator could not run: {e}")))?;
            for (index, out) in outs.iter().enumerate() {
                match verdict(out) {
                    Ok(None) => {}
                    Ok(Some(reason)) => return Err(refuse(Some(index), reason)),
                    Err(reason) => {
                        p.shared.crash(&runtime::Fault::Abi(reason.clone()));
                        return Err(refuse(
                            Some(index),
                            format!("the validator answered badly: {reason}"),
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// The plugins' metrics in the Prometheus text format, appended to
    /// `out` (labelled by plugin; there are as many series as plugins).
    pub fn encode_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let list = self.list();
        type Series = (
            &'static str,
            &'static str,
            &'static str,
            fn(&PluginInfo) -> u64,
        );
        let series: [Series; 3] = [
            (
                "rhizome_plugin_calls",
                "counter",
                "Hook calls per plugin",
                |p| p.calls,
            ),
            (
                "rhizome_plugin_traps",
                "counter",
                "Failed hook calls (trap, fuel, memory, ABI) per plugin",
                |p| p.traps,
            ),
            (
                "rhizome_plugin_restarts",
                "counter",
                "Restarts after a failure per plugin",
                |p| p.restarts,
            ),
        ];
        for (name, kind, help, value) in series {
            let _ = writeln!(out, "# HELP {name} {help}.\n# TYPE {name} {kind}");
            for p in &list {
                let _ = writeln!(out, "{name}_total{{plugin=\"{}\"}} {}", p.name, value(p));
            }
        }
        let _ = writeln!(
            out,
            "# HELP rhizome_plugin_status 1 for the status each plugin is in.\n# TYPE rhizome_plugin_status gauge"
        );
        for p in &list {
            for s in [Status::Running, Status::Restarting, Status::Failed] {
                let _ = writeln!(
                    out,
                    "rhizome_plugin_status{{plugin=\"{}\",status=\"{}\"}} {}",
                    p.name,
                    s.as_str(),
                    u8::from(p.status == s)
                );
            }
        }
    }
}

/// `{"depends_on": [names]}` from a manifest answer.
fn manifest(out: &[u8]) -> std::result::Result<Vec<String>, String> {
    #[derive(serde::Deserialize)]
    struct Manifest {
        #[serde(default)]
        depends_on: Vec<String>,
    }
    let m: Manifest = serde_json::from_slice(out)
        .map_err(|e| format!("manifest must answer {{\"depends_on\": [names]}}: {e}"))?;
    Ok(m.depends_on)
}

/// `None` for `{"ok": true}`, the reason for `{"ok": false, "reason"}`.
fn verdict(out: &[u8]) -> std::result::Result<Option<String>, String> {
    let v: Value = serde_json::from_slice(out).map_err(|e| format!("invalid JSON: {e}"))?;
    match v.get("ok") {
        Some(Value::Bool(true)) => Ok(None),
        Some(Value::Bool(false)) => Ok(Some(
            v.get("reason")
                .and_then(Value::as_str)
                .unwrap_or("no reason given")
                .to_owned(),
        )),
        _ => Err(
            "validate must answer {\"ok\": true} or {\"ok\": false, \"reason\": \"...\"}".into(),
        ),
    }
}

/// A cycle through `start` in `graph` (name → dependencies), as the path
/// `start -> ... -> start`.
fn find_cycle(graph: &BTreeMap<&str, Vec<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<&str, Vec<String>>,
        at: &str,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        for next in graph.get(at).into_iter().flatten() {
            path.push(next.clone());
            if next == start {
                return true;
            }
            if seen.insert(next.clone()) && walk(graph, next, start, path, seen) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = vec![start.to_owned()];
    walk(graph, start, start, &mut path, &mut BTreeSet::new()).then_some(path)
}

/// The node's hook into the host's `validate` plugins (weak, so the node
/// does not keep the host alive).
#[derive(Debug)]
struct Validators(Weak<HostInner>);

impl WriteValidator for Validators {
    fn active(&self) -> bool {
        PluginHost::upgrade(&self.0).is_some_and(|h| {
            h.all()
                .iter()
                .any(|p| p.shared.version().compiled.has(Hook::Validate))
        })
    }

    fn validate(&self, deltas: &[Arc<Delta>]) -> Result<()> {
        match PluginHost::upgrade(&self.0) {
            Some(host) => host.validate_blocking(deltas),
            None => Ok(()),
        }
    }
}

impl std::fmt::Debug for HostInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostInner")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_named() {
        let g: BTreeMap<&str, Vec<String>> = [
            ("a", vec!["b".to_owned()]),
            ("b", vec!["c".to_owned()]),
            ("c", vec!["a".to_owned()]),
            ("d", vec!["a".to_owned()]),
        ]
        .into_iter()
        .collect();
        assert_eq!(find_cycle(&g, "a").unwrap(), ["a", "b", "c", "a"]);
        assert_eq!(find_cycle(&g, "d"), None);
    }

    #[test]
    fn verdicts_and_manifests() {
        assert_eq!(verdict(br#"{"ok":true}"#), Ok(None));
        assert_eq!(
            verdict(br#"{"ok":false,"reason":"no"}"#),
            Ok(Some("no".into()))
        );
        assert!(verdict(br#"{"fine":1}"#).is_err());
        assert_eq!(manifest(br#"{"depends_on":["a"]}"#).unwrap(), ["a"]);
        assert_eq!(manifest(b"{}").unwrap(), Vec::<String>::new());
        assert!(manifest(b"[").is_err());
        assert!(valid_name("longest-value_2"));
        assert!(!valid_name("") && !valid_name("a/b") && !valid_name(&"x".repeat(65)));
    }
}
