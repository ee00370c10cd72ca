//! The sync layer's metrics (Prometheus), rendered by the node's
//! `GET /metrics` after its own.

use std::sync::Mutex;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A peer label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PeerLabel {
    /// The peer's node id.
    pub peer: String,
}

/// A run outcome label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RunLabels {
    /// The peer's node id.
    pub peer: String,
    /// `ok` or `error`.
    pub result: &'static str,
}

/// A direction label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DirectionLabel {
    /// `sent` or `received`.
    pub direction: &'static str,
}

/// Every sync metric (prefix `rhizome_sync_`).
#[derive(Debug)]
pub struct SyncMetrics {
    registry: Mutex<Registry>,
    /// `runs_total{peer, result}`: reconciliation runs.
    pub runs: Family<RunLabels, Counter>,
    /// `rounds_total{peer}`: reconciliation messages received.
    pub rounds: Family<PeerLabel, Counter>,
    /// `deltas_sent_total{peer}`: deltas sent by reconciliation.
    pub deltas_sent: Family<PeerLabel, Counter>,
    /// `deltas_received_total{peer}`: new deltas received (reconciliation
    /// and gossip delivered by that peer).
    pub deltas_received: Family<PeerLabel, Counter>,
    /// `bytes_sent_total{peer}`: reconciliation bytes sent (control + data).
    pub bytes_sent: Family<PeerLabel, Counter>,
    /// `bytes_received_total{peer}`: reconciliation bytes received.
    pub bytes_received: Family<PeerLabel, Counter>,
    /// `seconds_since_last_sync{peer}`: refreshed on every scrape.
    pub since_last_sync: Family<PeerLabel, Gauge<f64, AtomicU64>>,
    /// `gossip_messages_total{direction}`.
    pub gossip_messages: Family<DirectionLabel, Counter>,
    /// `gossip_bytes_total{direction}`.
    pub gossip_bytes: Family<DirectionLabel, Counter>,
    /// `gossip_deltas_total{direction}`: deltas in gossip messages.
    pub gossip_deltas: Family<DirectionLabel, Counter>,
    /// `gossip_lagged_total`: times the gossip subscription fell behind.
    pub gossip_lagged: Counter,
    /// `gossip_gaps_total`: gaps seen in an origin's message numbers.
    pub gossip_gaps: Counter,
    /// `broadcast_skipped_total`: deltas not broadcast (too large, or the
    /// outbox was full); peers find them by reconciliation.
    pub broadcast_skipped: Counter,
    /// `refused_total`: connections refused by the allow-list or a block.
    pub refused: Counter,
    /// `peers`: peers known.
    pub peers: Gauge,
    /// `neighbours`: current gossip neighbours.
    pub neighbours: Gauge,
}

impl SyncMetrics {
    /// Fresh metrics with their own registry.
    pub fn new() -> SyncMetrics {
        let mut r = Registry::with_prefix("rhizome_sync");
        let m = SyncMetrics {
            registry: Mutex::new(Registry::default()),
            runs: Family::default(),
            rounds: Family::default(),
            deltas_sent: Family::default(),
            deltas_received: Family::default(),
            bytes_sent: Family::default(),
            bytes_received: Family::default(),
            since_last_sync: Family::default(),
            gossip_messages: Family::default(),
            gossip_bytes: Family::default(),
            gossip_deltas: Family::default(),
            gossip_lagged: Counter::default(),
            gossip_gaps: Counter::default(),
            broadcast_skipped: Counter::default(),
            refused: Counter::default(),
            peers: Gauge::default(),
            neighbours: Gauge::default(),
        };
        r.register(
            "runs",
            "Reconciliation runs with a peer, by result",
            m.runs.clone(),
        );
        r.register(
            "rounds",
            "Reconciliation messages received from a peer",
            m.rounds.clone(),
        );
        r.register(
            "deltas_sent",
            "Deltas sent to a peer by reconciliation",
            m.deltas_sent.clone(),
        );
        r.register(
            "deltas_received",
            "New deltas received from a peer (reconciliation and gossip)",
            m.deltas_received.clone(),
        );
        r.register(
            "bytes_sent",
            "Reconciliation bytes sent to a peer (control and data)",
            m.bytes_sent.clone(),
        );
        r.register(
            "bytes_received",
            "Reconciliation bytes received from a peer (control and data)",
            m.bytes_received.clone(),
        );
        r.register(
            "seconds_since_last_sync",
            "Seconds since the last successful reconciliation with a peer",
            m.since_last_sync.clone(),
        );
        r.register(
            "gossip_messages",
            "Gossip messages of live deltas",
            m.gossip_messages.clone(),
        );
        r.register(
            "gossip_bytes",
            "Bytes of gossip messages of live deltas",
            m.gossip_bytes.clone(),
        );
        r.register(
            "gossip_deltas",
            "Deltas carried by gossip",
            m.gossip_deltas.clone(),
        );
        r.register(
            "gossip_lagged",
            "Times the gossip subscription fell behind",
            m.gossip_lagged.clone(),
        );
        r.register(
            "gossip_gaps",
            "Gaps seen in an origin's gossip message numbers",
            m.gossip_gaps.clone(),
        );
        r.register(
            "broadcast_skipped",
            "Deltas not broadcast (too large or outbox full)",
            m.broadcast_skipped.clone(),
        );
        r.register(
            "refused",
            "Connections refused by the allow-list or a block",
            m.refused.clone(),
        );
        r.register("peers", "Peers known", m.peers.clone());
        r.register(
            "neighbours",
            "Current gossip neighbours",
            m.neighbours.clone(),
        );
        *m.registry.lock().unwrap_or_else(|e| e.into_inner()) = r;
        m
    }

    /// Appends the metrics in the Prometheus text format to `out`.
    pub fn encode(&self, out: &mut String) {
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = prometheus_client::encoding::prometheus_text::encode(out, &registry) {
            tracing::error!("cannot encode sync metrics: {e}");
        }
    }
}

impl Default for SyncMetrics {
    fn default() -> Self {
        SyncMetrics::new()
    }
}
