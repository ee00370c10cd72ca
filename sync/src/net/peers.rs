//! What this node knows of each peer, for `GET /api/peers` and metrics.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use iroh::EndpointId;
use serde::Serialize;

/// A peer's state as `GET /api/peers` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerStatus {
    /// Known (configured or learned) but not reached yet or not now.
    Disconnected,
    /// A gossip neighbour, or reconciled within the last interval.
    Connected,
    /// The last attempt to reach it failed; retrying with backoff.
    Unreachable,
    /// Refused by this node's allow-list or blocked.
    Refused,
}

/// One peer's record.
#[derive(Clone, Debug, Serialize)]
pub struct PeerInfo {
    /// Its node id.
    pub node_id: String,
    /// Its state.
    pub status: PeerStatus,
    /// Deltas this node sent it (gossip and reconciliation).
    pub deltas_sent: u64,
    /// Deltas received from it that were new here.
    pub deltas_received: u64,
    /// When it was last heard from (ms since the Unix epoch), if ever.
    pub last_seen: Option<u64>,
    /// When the last reconciliation with it completed (ms since the Unix
    /// epoch), if ever.
    pub last_sync: Option<u64>,
    /// Reconciliation runs with it that completed.
    pub syncs: u64,
    /// Reconciliation runs with it that failed.
    pub sync_failures: u64,
    /// Whether it is in `RHIZOME_PEERS`.
    pub configured: bool,
    /// Its last error, if the last attempt failed.
    pub last_error: Option<String>,
}

#[derive(Debug)]
pub(crate) struct Peer {
    pub info: PeerInfo,
    pub neighbour: bool,
    pub last_sync_at: Option<Instant>,
    pub failures_in_row: u32,
    pub next_attempt: Option<Instant>,
}

/// The table of peers.
#[derive(Debug, Default)]
pub(crate) struct Peers {
    map: BTreeMap<EndpointId, Peer>,
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Backoff after `failures` failures in a row: 0.5 s doubling up to 30 s.
pub(crate) fn backoff(failures: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << failures.min(6))).min(Duration::from_secs(30))
}

impl Peers {
    pub fn entry(&mut self, id: EndpointId) -> &mut Peer {
        self.map.entry(id).or_insert_with(|| Peer {
            info: PeerInfo {
                node_id: id.to_string(),
                status: PeerStatus::Disconnected,
                deltas_sent: 0,
                deltas_received: 0,
                last_seen: None,
                last_sync: None,
                syncs: 0,
                sync_failures: 0,
                configured: false,
                last_error: None,
            },
            neighbour: false,
            last_sync_at: None,
            failures_in_row: 0,
            next_attempt: None,
        })
    }

    pub fn get(&self, id: &EndpointId) -> Option<&Peer> {
        self.map.get(id)
    }

    pub fn seen(&mut self, id: EndpointId) {
        self.entry(id).info.last_seen = Some(now_ms());
    }

    pub fn neighbours(&self) -> usize {
        self.map.values().filter(|p| p.neighbour).count()
    }

    pub fn ids(&self) -> Vec<EndpointId> {
        self.map.keys().copied().collect()
    }

    pub fn snapshot(&self) -> Vec<PeerInfo> {
        self.map.values().map(|p| p.info.clone()).collect()
    }
}
