//! Real-time feeds (API.md §4): server-sent events and WebSocket
//! subscriptions, with resume by sequence number and bounded buffers.
//!
//! One [`dispatcher`] task per node reads the node's live feed
//! ([`crate::node::Node::subscribe`]) and fans each stored batch out to the
//! subscriptions that match, through indexes on the filter fields. Each
//! delta is encoded once per format and the encoding shared by every
//! subscriber. Each subscription has a bounded [`queue::SubQueue`]; the
//! dispatcher never waits for a subscriber: past the bound the subscription
//! ends with an overflow, and the client resumes with `since`.
//!
//! - [`sse`] — `GET /api/deltas?feed=sse` ([`sse::sse_changes`]).
//! - [`ws`] — `GET /api/ws`, the JSON protocol of API.md §4.
//! - [`filter`] — the subscription filter.
//!
//! `docs/realtime.md` describes the protocol, settings and limits.

pub mod dispatcher;
pub mod filter;
pub mod queue;
pub mod sse;
pub mod ws;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use dispatcher::Hub;
pub use filter::SubFilter;

/// The real-time settings, read from the environment (flags mirror them).
#[derive(Clone, Debug, clap::Args)]
pub struct Settings {
    /// Messages one subscription may have waiting for its client; past
    /// it the subscription ends with an overflow.
    #[arg(long, env = "RHIZOME_SUBSCRIBER_BUFFER", default_value_t = 1024)]
    pub subscriber_buffer: usize,
    /// Interval between SSE keep-alive comment lines, in ms.
    #[arg(long, env = "RHIZOME_SSE_KEEPALIVE_MS", default_value_t = 15_000)]
    pub sse_keepalive_ms: u64,
    /// Largest WebSocket message a client may send, in bytes.
    #[arg(long, env = "RHIZOME_WS_MAX_MESSAGE_BYTES", default_value_t = 1024 * 1024)]
    pub ws_max_message_bytes: usize,
    /// Subscriptions and watches one WebSocket may hold at once.
    #[arg(long, env = "RHIZOME_WS_MAX_SUBSCRIPTIONS", default_value_t = 64)]
    pub ws_max_subscriptions: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            subscriber_buffer: 1024,
            sse_keepalive_ms: 15_000,
            ws_max_message_bytes: 1024 * 1024,
            ws_max_subscriptions: 64,
        }
    }
}

impl Settings {
    /// The SSE keep-alive interval (at least 1 ms).
    pub fn sse_keepalive(&self) -> Duration {
        Duration::from_millis(self.sse_keepalive_ms.max(1))
    }

    /// The per-subscription buffer (at least 1).
    pub fn buffer(&self) -> usize {
        self.subscriber_buffer.max(1)
    }
}

/// A shutdown flag that long-lived streams watch: the HTTP server raises
/// it when it stops accepting (see [`crate::http::Server::stopping_raises`]),
/// and SSE streams and WebSockets then end on their own.
#[derive(Clone, Debug)]
pub struct Shutdown {
    flag: Arc<watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    /// A flag not raised.
    pub fn new() -> Shutdown {
        Shutdown {
            flag: Arc::new(watch::channel(false).0),
        }
    }

    /// Raises the flag (idempotent).
    pub fn raise(&self) {
        self.flag.send_replace(true);
    }

    /// Whether the flag is raised.
    pub fn is_raised(&self) -> bool {
        *self.flag.borrow()
    }

    /// Resolves once the flag is raised.
    pub async fn raised(&self) {
        let mut rx = self.flag.subscribe();
        // The sender lives in `self`, so `wait_for` cannot fail.
        let _ = rx.wait_for(|raised| *raised).await;
    }
}
