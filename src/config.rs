//! Node configuration: environment variables of API.md §5, mirrored by flags.

use std::net::IpAddr;
use std::path::PathBuf;

/// Where deltas are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StorageKind {
    /// An embedded durable store under the data directory (the default).
    Disk,
    /// In memory only: everything is lost when the node stops.
    Memory,
}

/// How a node is configured. Every field reads an environment variable
/// (API.md §5) and can be overridden by the flag of the same name.
#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// HTTP listen address.
    #[arg(long, env = "RHIZOME_HTTP_ADDR", default_value = "127.0.0.1")]
    pub http_addr: IpAddr,
    /// HTTP port (0 = a free one, printed at start).
    #[arg(long, env = "RHIZOME_HTTP_PORT", default_value_t = 4000)]
    pub http_port: u16,
    /// Where the store and the node key live.
    #[arg(long, env = "RHIZOME_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// `disk` or `memory`.
    #[arg(long, env = "RHIZOME_STORAGE", value_enum, default_value = "disk")]
    pub storage: StorageKind,
    /// Address the iroh endpoint binds.
    #[arg(long, env = "RHIZOME_SYNC_ADDR", default_value = "127.0.0.1")]
    pub sync_addr: IpAddr,
    /// UDP port of the iroh endpoint (0 = a free one).
    #[arg(long, env = "RHIZOME_SYNC_PORT", default_value_t = 0)]
    pub sync_port: u16,
    /// Comma-separated peers: `NODE_ID@IP:PORT` or node tickets.
    #[arg(long, env = "RHIZOME_PEERS", value_delimiter = ',', default_value = "")]
    pub peers: Vec<String>,
    /// `none`, `default` (public relays) or a relay URL.
    #[arg(long, env = "RHIZOME_RELAY", default_value = "none")]
    pub relay: String,
    /// The `host` written on deltas this node creates (default: the node id).
    #[arg(long, env = "RHIZOME_HOST_ID")]
    pub host_id: Option<String>,
    /// Views kept by the live view cache (`GET /api/view/{id}` without
    /// `as_of`); at least one.
    #[arg(long, env = "RHIZOME_VIEW_CACHE", default_value_t = 10_000)]
    pub view_cache: usize,
    /// The HTTP server's limits (connections, request time, body size).
    #[command(flatten)]
    pub http: crate::http::Limits,
    /// The real-time feeds' settings (buffers, keep-alive, WebSocket limits).
    #[command(flatten)]
    pub realtime: crate::realtime::Settings,
    /// Authentication, browser origins and key authorities (API.md §6).
    #[command(flatten)]
    pub auth: crate::auth::AuthConfig,
    /// Sync settings beyond the four above (allow-list, partial
    /// replication, cluster, gossip size, interval, on/off).
    #[command(flatten)]
    pub sync: crate::replication::SyncConfig,
    /// Plugins: their directory, fuel, memory and restart settings.
    #[command(flatten)]
    pub plugins: crate::plugins::PluginSettings,
}

impl Config {
    /// The defaults of API.md §5 with `storage` kept in `data_dir` (for
    /// tests, benchmarks and embedding; the command line reads the
    /// environment instead).
    pub fn new(storage: StorageKind, data_dir: impl Into<PathBuf>) -> Config {
        Config {
            http_addr: IpAddr::from([127, 0, 0, 1]),
            http_port: 4000,
            data_dir: data_dir.into(),
            storage,
            sync_addr: IpAddr::from([127, 0, 0, 1]),
            sync_port: 0,
            peers: Vec::new(),
            relay: "none".into(),
            host_id: None,
            view_cache: 10_000,
            http: crate::http::Limits::default(),
            realtime: crate::realtime::Settings::default(),
            auth: crate::auth::AuthConfig::default(),
            sync: crate::replication::SyncConfig::default(),
            plugins: crate::plugins::PluginSettings::default(),
        }
    }

    /// The configured peers, without the empty entries a trailing comma or an
    /// empty variable leaves.
    pub fn peers(&self) -> impl Iterator<Item = &str> {
        self.peers
            .iter()
            .map(|p| p.trim())
            .filter(|p| !p.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        config: Config,
    }

    #[test]
    fn defaults_match_the_contract() {
        let cli = Cli::try_parse_from(["rhizome"]).unwrap();
        let c = cli.config;
        assert_eq!(c.http_addr.to_string(), "127.0.0.1");
        assert_eq!(c.http_port, 4000);
        assert_eq!(c.data_dir, PathBuf::from("./data"));
        assert_eq!(c.storage, StorageKind::Disk);
        assert_eq!(c.sync_addr.to_string(), "127.0.0.1");
        assert_eq!(c.sync_port, 0);
        assert_eq!(c.peers().count(), 0);
        assert_eq!(c.relay, "none");
        assert_eq!(c.host_id, None);
        assert_eq!(c.view_cache, 10_000);
        assert_eq!(c.http.max_connections, None);
        assert_eq!(c.http.request_timeout_ms, 30_000);
        assert_eq!(c.http.max_body_bytes, 8 * 1024 * 1024);
        let n = Config::new(StorageKind::Disk, "./data");
        assert_eq!(
            (n.http_addr, n.http_port, n.sync_addr, n.sync_port, n.relay),
            (c.http_addr, c.http_port, c.sync_addr, c.sync_port, c.relay)
        );
    }

    #[test]
    fn flags_parse_and_bad_values_are_named() {
        let cli = Cli::try_parse_from([
            "rhizome",
            "--http-port",
            "0",
            "--storage",
            "memory",
            "--peers",
            "a@127.0.0.1:1,,b@127.0.0.1:2",
        ])
        .unwrap();
        assert_eq!(cli.config.http_port, 0);
        assert_eq!(cli.config.storage, StorageKind::Memory);
        assert_eq!(
            cli.config.peers().collect::<Vec<_>>(),
            ["a@127.0.0.1:1", "b@127.0.0.1:2"]
        );
        let err = Cli::try_parse_from(["rhizome", "--http-port", "99999"])
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("--http-port"), "{err}");
    }
}
