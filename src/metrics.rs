//! The node's metrics, exposed at `GET /metrics` in the Prometheus text
//! format (0.0.4).
//!
//! All metrics live in one [`Metrics`] value reached with [`global`], so
//! recording from anywhere in the crate is one line:
//!
//! ```
//! rhizome::metrics::global().uptime_seconds.set(1.0);
//! ```
//!
//! To add a metric: add a public field to [`Metrics`], register it in
//! [`Metrics::new`] with its help text, then record it where it happens
//! (`metrics::global().deltas_stored.inc_by(n)`). Label sets are small
//! structs deriving `EncodeLabelSet`; keep their values bounded (route
//! templates, not raw paths; status codes, not messages).
//!
//! Built on `prometheus-client` rather than `metrics` +
//! `metrics-exporter-prometheus`: it has four small dependencies and no
//! global recorder, histogram sketches or clock crate to build, and typed
//! fields make every metric's name and help visible in one place.

use std::sync::atomic::AtomicU64;
use std::sync::{LazyLock, Mutex};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The `content-type` of [`Metrics::encode`]'s output.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Labels of a finished HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The request method.
    pub method: String,
    /// The matched route template (`/api/deltas/{id}`), or `unmatched`.
    pub route: String,
    /// The response status.
    pub status: u16,
}

/// Labels of a request latency observation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The request method.
    pub method: String,
    /// The matched route template, or `unmatched`.
    pub route: String,
}

/// Why a delta (or a batch) was refused.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RejectLabels {
    /// `invalid` (did not decode or validate) or `conflict` (id taken by
    /// other content).
    pub reason: &'static str,
}

/// Why a WebSocket frame was answered with an error.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FrameRejectLabels {
    /// The error frame's `code` (`invalid_json`, `unknown_op`,
    /// `too_many_subscriptions`, ...; a fixed set, see `docs/realtime.md`).
    pub reason: &'static str,
}

/// Labels of the build-info gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// A histogram constructor usable in a [`Family`].
type HistogramFn = fn() -> Histogram;

fn latency_histogram() -> Histogram {
    // 0.5 ms .. ~16 s, doubling.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

fn size_histogram() -> Histogram {
    // 1 .. 32768 deltas, doubling.
    Histogram::new(exponential_buckets(1.0, 2.0, 16))
}

fn commit_histogram() -> Histogram {
    // 50 µs .. ~1.6 s, doubling.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// Every metric of the node.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    started: Instant,
    /// `rhizome_http_requests_total{method, route, status}`.
    pub http_requests: Family<RequestLabels, Counter>,
    /// `rhizome_http_request_duration_seconds{method, route}`: time to the
    /// response head.
    pub http_request_duration: Family<RouteLabels, Histogram, HistogramFn>,
    /// `rhizome_http_connections`: connections being served now.
    pub http_connections: Gauge,
    /// `rhizome_uptime_seconds`: refreshed on every scrape.
    pub uptime_seconds: Gauge<f64, AtomicU64>,
    /// `rhizome_deltas_stored_total`: deltas newly stored (not duplicates).
    pub deltas_stored: Counter,
    /// `rhizome_deltas_duplicate_total`: deltas received again (not stored again).
    pub deltas_duplicate: Counter,
    /// `rhizome_deltas_rejected_total{reason}`: deltas refused, by reason;
    /// for a refused batch, the offending delta counts once.
    pub deltas_rejected: Family<RejectLabels, Counter>,
    /// `rhizome_auth_refused_total{reason}`: requests refused by the
    /// authentication and browser rules (`missing`, `invalid`, `expired`,
    /// `forbidden`, `origin`, `creator_mismatch`).
    pub auth_refused: Family<RejectLabels, Counter>,
    /// `rhizome_store_bytes`: the store's size on disk (0 for memory).
    pub store_bytes: Gauge,
    /// `rhizome_last_seq`: the sequence number of the last stored delta.
    pub last_seq: Gauge,
    /// `rhizome_writer_group_batches`: batches per group commit.
    pub writer_group_batches: Histogram,
    /// `rhizome_writer_group_deltas`: deltas written per group commit.
    pub writer_group_deltas: Histogram,
    /// `rhizome_writer_commit_seconds`: time of one group commit's durable write.
    pub writer_commit_seconds: Histogram,
    /// `rhizome_view_cache_hits_total`: views served from the live view cache.
    pub view_cache_hits: Counter,
    /// `rhizome_view_cache_misses_total`: views computed (then cached).
    pub view_cache_misses: Counter,
    /// `rhizome_view_cache_invalidations_total`: cached views dropped because
    /// an entity they read changed.
    pub view_cache_invalidations: Counter,
    /// `rhizome_realtime_ws_connections`: WebSockets open now.
    pub realtime_ws_connections: Gauge,
    /// `rhizome_realtime_sse_streams`: SSE streams open now.
    pub realtime_sse_streams: Gauge,
    /// `rhizome_realtime_subscriptions`: subscriptions (WebSocket and SSE)
    /// the dispatcher serves now.
    pub realtime_subscriptions: Gauge,
    /// `rhizome_realtime_watches`: watch registrations (one per entity a
    /// watched view reads) the dispatcher serves now.
    pub realtime_watches: Gauge,
    /// `rhizome_realtime_deliveries_total`: deltas pushed to subscribers
    /// (one per delta and subscriber).
    pub realtime_deliveries: Counter,
    /// `rhizome_realtime_overflows_total`: subscriptions ended because
    /// their buffer was full.
    pub realtime_overflows: Counter,
    /// `rhizome_realtime_ws_frames_rejected_total{reason}`: WebSocket frames
    /// answered with an error, by error code.
    pub realtime_ws_frames_rejected: Family<FrameRejectLabels, Counter>,
}

impl Metrics {
    /// A fresh set of metrics with its own registry (tests use this; the
    /// node uses [`global`]).
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("rhizome");
        let http_requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route template and status",
            http_requests.clone(),
        );
        let http_request_duration =
            Family::<RouteLabels, Histogram, HistogramFn>::new_with_constructor(
                latency_histogram as HistogramFn,
            );
        registry.register(
            "http_request_duration_seconds",
            "Time from a request's arrival to its response head, by method and route template",
            http_request_duration.clone(),
        );
        let http_connections = Gauge::default();
        registry.register(
            "http_connections",
            "HTTP connections being served",
            http_connections.clone(),
        );
        let uptime_seconds = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "uptime_seconds",
            "Seconds since the node started",
            uptime_seconds.clone(),
        );
        let build_info = Family::<BuildLabels, Gauge>::default();
        build_info
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        registry.register(
            "build_info",
            "Always 1; the labels describe the running build",
            build_info,
        );
        let deltas_stored = Counter::default();
        registry.register(
            "deltas_stored",
            "Deltas newly stored (duplicates excluded)",
            deltas_stored.clone(),
        );
        let deltas_duplicate = Counter::default();
        registry.register(
            "deltas_duplicate",
            "Deltas received that were already stored with the same content",
            deltas_duplicate.clone(),
        );
        let deltas_rejected = Family::<RejectLabels, Counter>::default();
        registry.register(
            "deltas_rejected",
            "Deltas refused, by reason (invalid, conflict, bad_signature from clients, peer_bad_signature from peers)",
            deltas_rejected.clone(),
        );
        let auth_refused = Family::<RejectLabels, Counter>::default();
        registry.register(
            "auth_refused",
            "Requests refused by authentication, scopes and the browser rules, by reason",
            auth_refused.clone(),
        );
        let store_bytes = Gauge::default();
        registry.register(
            "store_bytes",
            "Size of the store on disk in bytes (0 for the memory store)",
            store_bytes.clone(),
        );
        let last_seq = Gauge::default();
        registry.register(
            "last_seq",
            "Sequence number of the last stored delta",
            last_seq.clone(),
        );
        let writer_group_batches = size_histogram();
        registry.register(
            "writer_group_batches",
            "Batches taken into one group commit",
            writer_group_batches.clone(),
        );
        let writer_group_deltas = size_histogram();
        registry.register(
            "writer_group_deltas",
            "Deltas written by one group commit",
            writer_group_deltas.clone(),
        );
        let writer_commit_seconds = commit_histogram();
        registry.register(
            "writer_commit_seconds",
            "Time of one group commit's durable write",
            writer_commit_seconds.clone(),
        );
        let view_cache_hits = Counter::default();
        registry.register(
            "view_cache_hits",
            "Views served from the live view cache",
            view_cache_hits.clone(),
        );
        let view_cache_misses = Counter::default();
        registry.register(
            "view_cache_misses",
            "Views computed by the live view cache (then cached)",
            view_cache_misses.clone(),
        );
        let view_cache_invalidations = Counter::default();
        registry.register(
            "view_cache_invalidations",
            "Cached views dropped because an entity they read changed",
            view_cache_invalidations.clone(),
        );
        let realtime_ws_connections = Gauge::default();
        registry.register(
            "realtime_ws_connections",
            "WebSocket connections open (GET /api/ws)",
            realtime_ws_connections.clone(),
        );
        let realtime_sse_streams = Gauge::default();
        registry.register(
            "realtime_sse_streams",
            "SSE change streams open (GET /api/deltas?feed=sse)",
            realtime_sse_streams.clone(),
        );
        let realtime_subscriptions = Gauge::default();
        registry.register(
            "realtime_subscriptions",
            "Subscriptions (WebSocket and SSE) the real-time dispatcher serves",
            realtime_subscriptions.clone(),
        );
        let realtime_watches = Gauge::default();
        registry.register(
            "realtime_watches",
            "Watch registrations (one per entity a watched view reads) the real-time dispatcher serves",
            realtime_watches.clone(),
        );
        let realtime_deliveries = Counter::default();
        registry.register(
            "realtime_deliveries",
            "Deltas pushed to subscribers, one per delta and subscriber",
            realtime_deliveries.clone(),
        );
        let realtime_overflows = Counter::default();
        registry.register(
            "realtime_overflows",
            "Subscriptions ended because their buffer was full",
            realtime_overflows.clone(),
        );
        let realtime_ws_frames_rejected = Family::<FrameRejectLabels, Counter>::default();
        registry.register(
            "realtime_ws_frames_rejected",
            "WebSocket frames answered with an error, by error code",
            realtime_ws_frames_rejected.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            realtime_ws_connections,
            realtime_sse_streams,
            realtime_subscriptions,
            realtime_watches,
            realtime_deliveries,
            realtime_overflows,
            realtime_ws_frames_rejected,
            view_cache_hits,
            view_cache_misses,
            view_cache_invalidations,
            deltas_stored,
            deltas_duplicate,
            deltas_rejected,
            auth_refused,
            store_bytes,
            last_seq,
            writer_group_batches,
            writer_group_deltas,
            writer_commit_seconds,
            started: Instant::now(),
            http_requests,
            http_request_duration,
            http_connections,
            uptime_seconds,
        }
    }

    /// Every metric in the Prometheus text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        self.uptime_seconds
            .set(self.started.elapsed().as_secs_f64());
        let mut out = String::with_capacity(4096);
        // Registering happens only in `new`, so the lock is never contended
        // for long; a poisoned lock still holds a usable registry.
        let registry = self
            .registry
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
            tracing::error!("cannot encode metrics: {e}");
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

static GLOBAL: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    /// Counts a request refused by the authentication or browser rules.
    pub fn auth_refused(&self, reason: &'static str) {
        self.auth_refused
            .get_or_create(&RejectLabels { reason })
            .inc();
    }

    /// Counts `n` refused deltas with `reason` (`invalid`, `conflict`,
    /// `bad_signature`, `peer_bad_signature`).
    pub fn rejected(&self, reason: &'static str, n: u64) {
        self.deltas_rejected
            .get_or_create(&RejectLabels { reason })
            .inc_by(n);
    }
}

impl Metrics {
    /// Counts a WebSocket frame answered with the error `code`.
    pub fn frame_rejected(&self, code: &'static str) {
        self.realtime_ws_frames_rejected
            .get_or_create(&FrameRejectLabels { reason: code })
            .inc();
    }
}

/// Keeps a gauge one higher while it lives (an open connection, a stream).
#[derive(Debug)]
pub struct GaugeGuard(&'static Gauge);

impl GaugeGuard {
    /// Increments `gauge` now and decrements it on drop.
    pub fn inc(gauge: &'static Gauge) -> GaugeGuard {
        gauge.inc();
        GaugeGuard(gauge)
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The process's metrics.
pub fn global() -> &'static Metrics {
    &GLOBAL
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_counters_histograms_uptime_and_build_info() {
        let m = Metrics::new();
        m.http_requests
            .get_or_create(&RequestLabels {
                method: "GET".into(),
                route: "/api/health".into(),
                status: 200,
            })
            .inc();
        m.http_request_duration
            .get_or_create(&RouteLabels {
                method: "GET".into(),
                route: "/api/health".into(),
            })
            .observe(0.002);
        let text = m.encode();
        assert!(
            text.contains(
                r#"rhizome_http_requests_total{method="GET",route="/api/health",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains(r#"rhizome_http_request_duration_seconds_bucket{le="0.002",method="GET",route="/api/health"} 1"#)
                || text.contains(r#"rhizome_http_request_duration_seconds_count{method="GET",route="/api/health"} 1"#),
            "{text}"
        );
        assert!(
            text.contains("# TYPE rhizome_uptime_seconds gauge"),
            "{text}"
        );
        assert!(text.contains(r#"rhizome_build_info{version=""#), "{text}");
    }
}
