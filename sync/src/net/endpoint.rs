//! Binding the iroh endpoint, loopback-only unless configured otherwise, and
//! the guard that decides who may connect.
//!
//! **Network safety** (DESIGN.md): the endpoint starts from
//! `presets::Minimal` (a crypto provider, nothing else), relays disabled
//! unless [`Relay`] says otherwise, port mapping disabled (and not even
//! compiled: iroh's `portmapper` feature is off), its IP transports cleared
//! and replaced by one socket on the configured address (`127.0.0.1` by
//! default), and no address lookup beyond a [`MemoryLookup`] holding the
//! peers we were given (plus what gossip learns from those peers). With
//! these settings no packet leaves loopback unless the operator binds
//! another address or turns a relay on.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use iroh::address_lookup::memory::MemoryLookup;
use iroh::endpoint::{
    AfterHandshakeOutcome, BeforeConnectOutcome, Connection, EndpointHooks, PortmapperConfig,
    VarInt, WeakConnectionHandle, presets,
};
use iroh::{Endpoint, EndpointAddr, EndpointId, RelayMap, RelayMode, RelayUrl, SecretKey};

use crate::error::{Error, Result};

/// Which relays the endpoint may use (`RHIZOME_RELAY`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Relay {
    /// No relay (the default): direct connections on the bound address only.
    #[default]
    None,
    /// iroh's public relays (n0's). Sends packets to the internet.
    Default,
    /// A relay of your own.
    Url(RelayUrl),
}

impl std::str::FromStr for Relay {
    type Err = Error;

    /// `none`, `default` or a relay URL.
    fn from_str(s: &str) -> Result<Relay> {
        match s.trim() {
            "" | "none" => Ok(Relay::None),
            "default" => Ok(Relay::Default),
            url => url.parse().map(Relay::Url).map_err(|e| Error::BadSetting {
                name: "RHIZOME_RELAY",
                problem: format!("`{url}` is not `none`, `default` or a relay URL ({e})"),
            }),
        }
    }
}

/// The close code for a connection the guard refuses.
pub const REFUSED: u32 = 403;

/// Who may connect: an optional allow-list of node ids (fixed at start) and
/// a set of blocked ids (changed at run time: [`Guard::block`]). Installed
/// as endpoint hooks, so it applies to every protocol (gossip and
/// reconciliation), in both directions: an outgoing attempt to a refused
/// node is never started, an incoming one is closed right after the
/// handshake, which is where the remote's id is proven.
#[derive(Debug, Default)]
pub struct Guard {
    allow: Option<BTreeSet<EndpointId>>,
    blocked: Mutex<BTreeSet<EndpointId>>,
    live: Mutex<HashMap<EndpointId, Vec<WeakConnectionHandle>>>,
    refused: std::sync::atomic::AtomicU64,
}

impl Guard {
    /// A guard admitting only `allow` (any node if `None`).
    pub fn new(allow: Option<BTreeSet<EndpointId>>) -> Guard {
        Guard {
            allow,
            ..Guard::default()
        }
    }

    /// Whether `id` may sync with this node now.
    pub fn admits(&self, id: &EndpointId) -> bool {
        self.allow.as_ref().is_none_or(|allow| allow.contains(id))
            && !lock(&self.blocked).contains(id)
    }

    /// Refuses `id` from now on and closes its open connections (what a
    /// network partition does; tests and operators use it).
    pub fn block(&self, id: EndpointId) {
        lock(&self.blocked).insert(id);
        let handles = lock(&self.live).remove(&id).unwrap_or_default();
        for handle in handles {
            if let Some(conn) = handle.upgrade() {
                conn.close(VarInt::from_u32(REFUSED), b"blocked");
            }
        }
    }

    /// Admits `id` again (unless the allow-list leaves it out).
    pub fn unblock(&self, id: &EndpointId) {
        lock(&self.blocked).remove(id);
    }

    /// How many connections or attempts were refused.
    pub fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn refuse(&self) {
        self.refused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The guard as endpoint hooks (the endpoint holds this, the engine the
/// guard).
#[derive(Debug, Clone)]
struct GuardHooks(Arc<Guard>);

impl EndpointHooks for GuardHooks {
    async fn before_connect<'a>(
        &'a self,
        remote_addr: &'a EndpointAddr,
        _alpn: &'a [u8],
    ) -> BeforeConnectOutcome {
        if self.0.admits(&remote_addr.id) {
            BeforeConnectOutcome::Accept
        } else {
            self.0.refuse();
            BeforeConnectOutcome::Reject
        }
    }

    async fn after_handshake<'a>(&'a self, conn: &'a Connection) -> AfterHandshakeOutcome {
        let id = conn.remote_id();
        if !self.0.admits(&id) {
            self.0.refuse();
            return AfterHandshakeOutcome::Reject {
                error_code: VarInt::from_u32(REFUSED),
                reason: b"not allowed".to_vec(),
            };
        }
        let mut live = lock(&self.0.live);
        let handles = live.entry(id).or_default();
        handles.retain(|h| h.upgrade().is_some());
        handles.push(conn.weak_handle());
        AfterHandshakeOutcome::Accept
    }
}

/// What [`bind`] needs.
#[derive(Debug)]
pub struct EndpointSettings {
    /// The node's key (its id is the public half).
    pub secret_key: SecretKey,
    /// The UDP address to bind (`RHIZOME_SYNC_ADDR`:`RHIZOME_SYNC_PORT`).
    pub bind: SocketAddr,
    /// Relays (`RHIZOME_RELAY`).
    pub relay: Relay,
    /// The protocols the endpoint accepts.
    pub alpns: Vec<Vec<u8>>,
}

/// Binds an endpoint per the module's safety rules; returns it with the
/// address lookup that resolves known peers (add peers to it).
pub async fn bind(
    settings: EndpointSettings,
    guard: Arc<Guard>,
) -> Result<(Endpoint, MemoryLookup)> {
    let lookup = MemoryLookup::new();
    let relay_mode = match &settings.relay {
        Relay::None => RelayMode::Disabled,
        Relay::Default => RelayMode::Default,
        Relay::Url(url) => RelayMode::Custom(RelayMap::from(url.clone())),
    };
    let builder = Endpoint::builder(presets::Minimal)
        .secret_key(settings.secret_key)
        .alpns(settings.alpns)
        .relay_mode(relay_mode)
        .portmapper_config(PortmapperConfig::Disabled)
        .clear_address_lookup()
        .address_lookup(lookup.clone())
        .hooks(GuardHooks(guard))
        .clear_ip_transports()
        .bind_addr(settings.bind)
        .map_err(|e| Error::Bind {
            addr: settings.bind,
            problem: e.to_string(),
        })?;
    let endpoint = builder.bind().await.map_err(|e| Error::Bind {
        addr: settings.bind,
        problem: e.to_string(),
    })?;
    Ok((endpoint, lookup))
}

/// The address others dial: the endpoint id and the bound sockets (an
/// unspecified bind address such as `0.0.0.0` is reported as-is; give
/// peers a routable one).
pub fn dialable(endpoint: &Endpoint) -> EndpointAddr {
    let mut addr = endpoint.addr();
    for socket in endpoint.bound_sockets() {
        addr = addr.with_ip_addr(socket);
    }
    addr
}
