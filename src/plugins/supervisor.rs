//! One supervised plugin: its worker thread, its status, its restarts.
//!
//! Each plugin has a dedicated thread (the *worker*) that owns its stateful
//! instance and runs, one at a time and in order, the jobs of a bounded
//! queue: `call`, `validate`, feeding `handle_delta` the stored deltas it
//! has not seen, and swapping in a new version. Jobs queued before a swap
//! run on the old module, those after it on the new one, so a replacement
//! loses no request. `resolve` is a pure function of its input and runs on
//! the thread that resolves the view, in an instance taken from a small
//! pool (so views never wait behind a long `call`).
//!
//! A hook that traps, runs out of fuel or memory, or breaks the ABI fails
//! that call only. The plugin then goes `restarting`: its instances are
//! dropped and the worker builds a fresh one after a backoff that doubles
//! with each crash in the window (fed every stored delta again when it
//! handles deltas); calls meanwhile get [`HookError::Unavailable`]. More
//! than [`RestartPolicy::max_crashes`] crashes within
//! [`RestartPolicy::window`] make it `failed` with the last error, until it
//! is replaced. This is OTP's one-for-one supervisor with a restart
//! intensity, on a thread per plugin.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::oneshot;
use wasmi::Engine;

use super::runtime::{Compiled, Fault, Hook, Instance, RunLimits};
use crate::changes::FeedFilter;
use crate::node::Node;
use crate::store::Seq;

/// Jobs a worker's queue holds before callers are told it is busy.
pub const QUEUE_CAPACITY: usize = 256;
/// Resolve instances kept per plugin between views.
pub const POOL_SIZE: usize = 8;
/// How often an idle worker checks whether its plugin crashed elsewhere.
const IDLE_CHECK: Duration = Duration::from_millis(50);
/// Deltas read from the log per page while feeding `handle_delta`.
const FEED_PAGE: usize = 4096;

/// A plugin's state in `GET /api/plugins`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Serving calls.
    Running,
    /// A hook failed; a fresh instance is being started after a backoff.
    Restarting,
    /// It crashed too often; it stays down until it is replaced.
    Failed,
}

impl Status {
    /// The name used in the API and in metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Restarting => "restarting",
            Status::Failed => "failed",
        }
    }
}

/// How a crashed plugin is restarted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RestartPolicy {
    /// The first restart's delay; each further crash in the window doubles it.
    pub backoff: Duration,
    /// The longest delay.
    pub max_backoff: Duration,
    /// More crashes than this within `window` make the plugin `failed`.
    pub max_crashes: usize,
    /// The window crashes are counted in.
    pub window: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            max_crashes: 5,
            window: Duration::from_secs(60),
        }
    }
}

/// A hook call that did not produce an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookError {
    /// The plugin is restarting or failed (with the error that brought it
    /// down), or its queue is full.
    Unavailable {
        /// Its status (`running` when only the queue was full).
        status: Status,
        /// Why.
        reason: String,
    },
    /// This call failed; the plugin is being restarted.
    Failed(Fault),
}

impl std::fmt::Display for HookError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HookError::Unavailable { status, reason } => {
                write!(f, "the plugin is {}: {reason}", status.as_str())
            }
            HookError::Failed(fault) => write!(f, "the hook failed ({fault}); the plugin restarts"),
        }
    }
}

/// One version of a plugin: a checked module and its manifest.
#[derive(Debug)]
pub struct Version {
    /// The module.
    pub compiled: Compiled,
    /// Plugins that must be installed before it (`manifest()`).
    pub depends_on: Vec<String>,
}

#[derive(Debug)]
struct Supervision {
    status: Status,
    last_error: Option<String>,
    crashes: VecDeque<Instant>,
    retry_at: Option<Instant>,
}

/// What the worker, the resolve path and the host share about a plugin.
pub(crate) struct Shared {
    pub(crate) name: Arc<str>,
    engine: Engine,
    limits: RunLimits,
    policy: RestartPolicy,
    version: RwLock<Arc<Version>>,
    sup: Mutex<Supervision>,
    pool: Mutex<Vec<(Arc<Version>, Instance)>>,
    pub(crate) calls: AtomicU64,
    pub(crate) traps: AtomicU64,
    pub(crate) restarts: AtomicU64,
    /// Called whenever what the plugin answers may have changed (a crash,
    /// a restart, a new version): the node drops its cached views.
    on_change: Box<dyn Fn() + Send + Sync>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn version(&self) -> Arc<Version> {
        Arc::clone(&self.version.read().unwrap_or_else(|e| e.into_inner()))
    }

    pub(crate) fn status(&self) -> (Status, Option<String>) {
        let s = lock(&self.sup);
        (s.status, s.last_error.clone())
    }

    fn unavailable(&self) -> Option<HookError> {
        let s = lock(&self.sup);
        (s.status != Status::Running).then(|| HookError::Unavailable {
            status: s.status,
            reason: s
                .last_error
                .clone()
                .unwrap_or_else(|| "it is starting".into()),
        })
    }

    /// Marks an unloaded plugin `failed` ("unloaded"), so what still holds
    /// it (a live watch's resolver) stops using it.
    pub(crate) fn retire(&self) {
        lock(&self.pool).clear();
        let mut s = lock(&self.sup);
        s.status = Status::Failed;
        s.last_error = Some("the plugin was unloaded".into());
        s.retry_at = None;
    }

    /// Records a failed hook: `restarting` with a backoff, or `failed`
    /// past the restart intensity. Returns the new status.
    pub(crate) fn crash(&self, fault: &Fault) -> Status {
        self.traps.fetch_add(1, Ordering::Relaxed);
        lock(&self.pool).clear();
        let status = {
            let mut s = lock(&self.sup);
            let now = Instant::now();
            s.crashes.push_back(now);
            while s
                .crashes
                .front()
                .is_some_and(|t| now.duration_since(*t) > self.policy.window)
            {
                s.crashes.pop_front();
            }
            s.last_error = Some(fault.to_string());
            if s.crashes.len() > self.policy.max_crashes {
                s.status = Status::Failed;
                s.retry_at = None;
            } else if s.status != Status::Failed {
                let doublings = u32::try_from(s.crashes.len().saturating_sub(1)).unwrap_or(31);
                let delay = self
                    .policy
                    .backoff
                    .saturating_mul(2u32.saturating_pow(doublings.min(20)))
                    .min(self.policy.max_backoff);
                s.status = Status::Restarting;
                s.retry_at = Some(now + delay);
            }
            s.status
        };
        tracing::warn!(plugin = %self.name, status = status.as_str(), "plugin hook failed: {fault}");
        // No `on_change` here: a `resolve` fails while its view is being
        // computed under the view cache's lock. The worker drops the cached
        // views when it sees the crash, and again once restarted.
        status
    }

    /// Runs `resolve` in a pooled instance of the current version. `None`
    /// when the plugin is not running or the call failed (it is then
    /// restarting).
    pub(crate) fn resolve(&self, input: &[u8]) -> Result<Vec<u8>, HookError> {
        if let Some(e) = self.unavailable() {
            return Err(e);
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
        let version = self.version();
        let pooled = {
            let mut pool = lock(&self.pool);
            let i = pool.iter().rposition(|(v, _)| Arc::ptr_eq(v, &version));
            i.map(|i| pool.swap_remove(i).1)
        };
        let instance = match pooled {
            Some(i) => Ok(i),
            None => Instance::new(&self.engine, &version.compiled, &self.name, self.limits),
        };
        let result = instance.and_then(|mut i| {
            let out = i.invoke(Hook::Resolve, input)?;
            let mut pool = lock(&self.pool);
            if pool.len() < POOL_SIZE && Arc::ptr_eq(&version, &self.version()) {
                pool.push((version, i));
            }
            Ok(out)
        });
        result.map_err(|fault| {
            self.crash(&fault);
            HookError::Failed(fault)
        })
    }
}

/// A job for a plugin's worker.
pub(crate) enum Job {
    /// Runs `hook` once per input, in order (after feeding `handle_delta`
    /// what it has not seen).
    Run {
        hook: Hook,
        inputs: Vec<Vec<u8>>,
        reply: oneshot::Sender<Result<Vec<Vec<u8>>, HookError>>,
    },
    /// Deltas were stored: feed them to `handle_delta`.
    Wake,
    /// Install a new version whose instance has been fed up to `fed`.
    Swap {
        version: Arc<Version>,
        instance: Box<Instance>,
        fed: Seq,
        reply: oneshot::Sender<Result<(), Fault>>,
    },
}

/// A running plugin: its shared state and its worker's queue. Dropping the
/// last handle stops the worker.
#[derive(Debug)]
pub struct Plugin {
    pub(crate) shared: Arc<Shared>,
    jobs: SyncSender<Job>,
}

impl Plugin {
    /// Starts the worker of `name` with an instance of `version` already fed
    /// up to `fed`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        name: &str,
        engine: Engine,
        limits: RunLimits,
        policy: RestartPolicy,
        node: Node,
        version: Arc<Version>,
        instance: Instance,
        fed: Seq,
        on_change: Box<dyn Fn() + Send + Sync>,
    ) -> crate::Result<Plugin> {
        let shared = Arc::new(Shared {
            name: name.into(),
            engine,
            limits,
            policy,
            version: RwLock::new(Arc::clone(&version)),
            sup: Mutex::new(Supervision {
                status: Status::Running,
                last_error: None,
                crashes: VecDeque::new(),
                retry_at: None,
            }),
            pool: Mutex::new(Vec::new()),
            calls: AtomicU64::new(0),
            traps: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            on_change,
        });
        let (jobs, rx) = std::sync::mpsc::sync_channel(QUEUE_CAPACITY);
        let worker = Worker {
            shared: Arc::clone(&shared),
            node,
            instance: Some(instance),
            fed,
            rx,
        };
        std::thread::Builder::new()
            .name(format!("plugin-{name}"))
            .spawn(move || worker.run())
            .map_err(|e| crate::Error::io("starting a plugin's worker thread", e))?;
        Ok(Plugin { shared, jobs })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Runs `hook` on each input in the worker, waiting for the answer
    /// (from async code: the wait does not block a thread).
    pub async fn run(&self, hook: Hook, inputs: Vec<Vec<u8>>) -> Result<Vec<Vec<u8>>, HookError> {
        let (reply, answer) = oneshot::channel();
        self.try_send(Job::Run {
            hook,
            inputs,
            reply,
        })?;
        answer.await.unwrap_or_else(|_| Err(self.gone()))
    }

    /// [`Plugin::run`] from a thread that may block (never an async worker).
    pub fn run_blocking(
        &self,
        hook: Hook,
        inputs: Vec<Vec<u8>>,
    ) -> Result<Vec<Vec<u8>>, HookError> {
        let (reply, answer) = oneshot::channel();
        if let Some(e) = self.shared.unavailable() {
            return Err(e);
        }
        self.jobs
            .send(Job::Run {
                hook,
                inputs,
                reply,
            })
            .map_err(|_| self.gone())?;
        answer.blocking_recv().unwrap_or_else(|_| Err(self.gone()))
    }

    /// Installs `version` (its instance fed up to `fed`) in place of the
    /// running one, after the jobs already queued. Blocks.
    pub(crate) fn swap_blocking(
        &self,
        version: Arc<Version>,
        instance: Instance,
        fed: Seq,
    ) -> Result<(), Fault> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Swap {
            version,
            instance: Box::new(instance),
            fed,
            reply,
        };
        if self.jobs.send(job).is_err() {
            return Err(Fault::Trap("the plugin's worker stopped".into()));
        }
        answer
            .blocking_recv()
            .unwrap_or_else(|_| Err(Fault::Trap("the plugin's worker stopped".into())))
    }

    /// Tells the worker new deltas are stored (never waits).
    pub(crate) fn wake(&self) -> bool {
        !matches!(
            self.jobs.try_send(Job::Wake),
            Err(TrySendError::Disconnected(_))
        )
    }

    fn try_send(&self, job: Job) -> Result<(), HookError> {
        if let Some(e) = self.shared.unavailable() {
            return Err(e);
        }
        self.jobs.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) => HookError::Unavailable {
                status: Status::Running,
                reason: format!("its queue of {QUEUE_CAPACITY} calls is full"),
            },
            TrySendError::Disconnected(_) => self.gone(),
        })
    }

    fn gone(&self) -> HookError {
        HookError::Unavailable {
            status: Status::Failed,
            reason: "its worker stopped".into(),
        }
    }
}

/// Feeds `handle_delta` every stored delta after `from`, in order; returns
/// the last sequence number fed.
pub(crate) fn feed(node: &Node, instance: &mut Instance, from: Seq) -> Result<Seq, Fault> {
    if !instance.has(Hook::HandleDelta) {
        return Ok(node.last_seq());
    }
    let mut fed = from;
    let mut input = Vec::with_capacity(1024);
    let all = FeedFilter::default();
    loop {
        let page = node.changes(fed, FEED_PAGE, &all);
        for (seq, delta) in &page.deltas {
            input.clear();
            input.extend_from_slice(b"{\"seq\":");
            input.extend_from_slice(seq.to_string().as_bytes());
            input.extend_from_slice(b",\"delta\":");
            rhizome_crdt::codec::json::encode_into(
                delta,
                rhizome_crdt::codec::Format::V1,
                &mut input,
            )
            .map_err(|e| Fault::Abi(format!("cannot encode delta {seq}: {e}")))?;
            input.push(b'}');
            let out = instance.invoke(Hook::HandleDelta, &input)?;
            if serde_json::from_slice::<serde::de::IgnoredAny>(&out).is_err() {
                return Err(Fault::Abi(format!(
                    "handle_delta answered seq {seq} with text that is not JSON"
                )));
            }
        }
        if page.last_seq == fed || page.deltas.is_empty() {
            return Ok(page.last_seq.max(fed));
        }
        fed = page.last_seq;
    }
}

struct Worker {
    shared: Arc<Shared>,
    node: Node,
    instance: Option<Instance>,
    fed: Seq,
    rx: Receiver<Job>,
}

impl Worker {
    fn run(mut self) {
        loop {
            let (retry_at, crashed_elsewhere) = {
                let s = lock(&self.shared.sup);
                // A crash elsewhere (a resolve, an answer that is not JSON)
                // restarts this instance too.
                let elsewhere = s.status != Status::Running && self.instance.is_some();
                (s.retry_at, elsewhere)
            };
            if crashed_elsewhere {
                self.instance = None;
                (self.shared.on_change)();
            }
            // Idle, the worker still looks up now and then: a crash seen
            // outside it (a resolve, an answer that is not JSON) sets a
            // restart time it must act on.
            let wait = retry_at.map_or(IDLE_CHECK, |at| {
                at.saturating_duration_since(Instant::now())
            });
            let job = match self.rx.recv_timeout(wait) {
                Ok(job) => Some(job),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if retry_at.is_some_and(|at| Instant::now() >= at) {
                self.restart();
            }
            if let Some(job) = job {
                self.handle(job);
            }
        }
    }

    fn handle(&mut self, job: Job) {
        match job {
            Job::Wake => {
                if let Some(i) = self.instance.as_mut() {
                    match feed(&self.node, i, self.fed) {
                        Ok(seq) => self.fed = seq,
                        Err(f) => self.crashed(&f),
                    }
                }
            }
            Job::Run {
                hook,
                inputs,
                reply,
            } => {
                let _ = reply.send(self.run_hook(hook, &inputs));
            }
            Job::Swap {
                version,
                instance,
                fed,
                reply,
            } => {
                let mut instance = *instance;
                let result = feed(&self.node, &mut instance, fed).map(|seq| {
                    self.fed = seq;
                    self.instance = Some(instance);
                    *self
                        .shared
                        .version
                        .write()
                        .unwrap_or_else(|e| e.into_inner()) = version;
                    lock(&self.shared.pool).clear();
                    let mut s = lock(&self.shared.sup);
                    s.status = Status::Running;
                    s.last_error = None;
                    s.crashes.clear();
                    s.retry_at = None;
                });
                (self.shared.on_change)();
                let _ = reply.send(result);
            }
        }
    }

    fn run_hook(&mut self, hook: Hook, inputs: &[Vec<u8>]) -> Result<Vec<Vec<u8>>, HookError> {
        if let Some(e) = self.shared.unavailable() {
            return Err(e);
        }
        let Some(instance) = self.instance.as_mut() else {
            return Err(HookError::Unavailable {
                status: Status::Restarting,
                reason: "it is starting".into(),
            });
        };
        self.shared.calls.fetch_add(1, Ordering::Relaxed);
        let result = feed(&self.node, instance, self.fed).and_then(|seq| {
            self.fed = seq;
            inputs.iter().map(|i| instance.invoke(hook, i)).collect()
        });
        result.map_err(|fault| {
            self.crashed(&fault);
            HookError::Failed(fault)
        })
    }

    fn crashed(&mut self, fault: &Fault) {
        self.instance = None;
        self.shared.crash(fault);
        (self.shared.on_change)();
    }

    /// A fresh instance of the current version, fed from the start.
    fn restart(&mut self) {
        let version = self.shared.version();
        let started = Instant::now();
        let fresh = Instance::new(
            &self.shared.engine,
            &version.compiled,
            &self.shared.name,
            self.shared.limits,
        )
        .and_then(|mut i| feed(&self.node, &mut i, 0).map(|seq| (i, seq)));
        match fresh {
            Ok((instance, seq)) => {
                self.instance = Some(instance);
                self.fed = seq;
                {
                    let mut s = lock(&self.shared.sup);
                    s.status = Status::Running;
                    s.retry_at = None;
                }
                self.shared.restarts.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    plugin = %self.shared.name,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "plugin restarted"
                );
                (self.shared.on_change)();
            }
            Err(f) => self.crashed(&f),
        }
    }
}
