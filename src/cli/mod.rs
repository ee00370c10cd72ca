//! The client subcommands of `rhizome` (API.md §5): `put`, `get`, `view`,
//! `hyperview`, `export`, `import`, `status`, against a running node
//! (`--url`, default `http://127.0.0.1:4000`, or `RHIZOME_URL`).
//!
//! Readable output by default, `--json` for machine output. Errors are one
//! line; the binary exits non-zero on them.

pub mod client;
mod import;
pub mod keys;

use std::io::{Read, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::Value;

use self::client::{Client, encode};
use crate::{Error, Result};

/// Deltas per request of `import` (and page size of `export`).
pub const IMPORT_BATCH: usize = 1000;

/// How to reach the node and how to print.
#[derive(Args, Clone, Debug)]
pub struct Connect {
    /// The node's base URL (plain HTTP).
    #[arg(long, env = "RHIZOME_URL", default_value = "http://127.0.0.1:4000")]
    pub url: String,
    /// Machine output: the node's JSON answers, compact (one per line).
    #[arg(long)]
    pub json: bool,
    /// The token to send (`Authorization: Bearer`), when the node
    /// requires one.
    #[arg(long, env = "RHIZOME_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

impl Connect {
    /// A client of the node this names, with its token.
    pub fn client(&self) -> Result<Client> {
        Ok(Client::new(&self.url)?.with_token(self.token.clone()))
    }
}

/// The client subcommands.
#[derive(Subcommand, Clone, Debug)]
pub enum ClientCommand {
    /// Store the deltas of FILE (`-` for stdin): one delta, an array or
    /// `{"deltas": [...]}`, any format; all or nothing.
    Put {
        /// The file, or `-` for stdin.
        file: PathBuf,
        /// Sign every delta with the secret key in KEYFILE (made by
        /// `rhizome keys gen`) before sending.
        #[arg(long, value_name = "KEYFILE")]
        sign: Option<PathBuf>,
        #[command(flatten)]
        connect: Connect,
    },
    /// Print one delta.
    Get {
        /// The delta's id.
        id: String,
        #[command(flatten)]
        connect: Connect,
    },
    /// Print an entity's view.
    View {
        /// The entity's id.
        entity: String,
        /// As of this time (ms since the Unix epoch).
        #[arg(long)]
        as_of: Option<u64>,
        /// Resolve under this schema.
        #[arg(long)]
        schema: Option<String>,
        #[command(flatten)]
        connect: Connect,
    },
    /// Print an entity's hyperview.
    Hyperview {
        /// The entity's id.
        entity: String,
        /// As of this time (ms since the Unix epoch).
        #[arg(long)]
        as_of: Option<u64>,
        #[command(flatten)]
        connect: Connect,
    },
    /// Write every delta (after SEQ) to stdout as JSON lines, in arrival order.
    Export {
        /// Start after this sequence number (0: the beginning).
        #[arg(long, default_value_t = 0)]
        since: u64,
        #[command(flatten)]
        connect: Connect,
    },
    /// Store the deltas of FILE (JSON lines or a JSON array; `-` for
    /// stdin) in batches, with progress on stderr.
    Import {
        /// The file, or `-` for stdin.
        file: PathBuf,
        /// Deltas per request.
        #[arg(long, default_value_t = IMPORT_BATCH)]
        batch: usize,
        #[command(flatten)]
        connect: Connect,
    },
    /// Signing keys: make a key pair, register a creator's public key.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// The node's name, delta count and last sequence number.
    Status {
        #[command(flatten)]
        connect: Connect,
    },
}

/// Opens FILE, or stdin for `-`.
fn open(file: &PathBuf) -> Result<Box<dyn Read + Send>> {
    if file.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdin()));
    }
    let f = std::fs::File::open(file)
        .map_err(|e| Error::Client(format!("cannot open {}: {e}", file.display())))?;
    Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, f)))
}

fn print(connect: &Connect, value: &Value) -> Result<()> {
    let text = if connect.json {
        value.to_string()
    } else {
        serde_json::to_string_pretty(value).map_err(|e| Error::Client(e.to_string()))?
    };
    println!("{text}");
    Ok(())
}

fn query(pairs: &[(&str, Option<String>)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode(v))))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Runs one client subcommand.
pub async fn run(command: ClientCommand) -> Result<()> {
    match command {
        ClientCommand::Keys(command) => keys::run(command).await,
        ClientCommand::Put {
            file,
            sign,
            connect,
        } => {
            let mut body = Vec::new();
            open(&file)?
                .read_to_end(&mut body)
                .map_err(|e| Error::Client(format!("cannot read {}: {e}", file.display())))?;
            if let Some(keyfile) = sign {
                body = keys::sign_batch(&keys::KeyFile::read(&keyfile)?, &body)?;
            }
            let mut client = connect.client()?;
            let answer = client
                .request(Method::POST, "/api/deltas", Some(body))
                .await?
                .ok()?
                .json()?;
            if connect.json {
                print(&connect, &answer)
            } else {
                let n = |k: &str| answer[k].as_array().map_or(0, Vec::len);
                println!(
                    "stored {} deltas ({} duplicates)",
                    n("accepted"),
                    n("duplicates")
                );
                Ok(())
            }
        }
        ClientCommand::Get { id, connect } => {
            let mut client = connect.client()?;
            let answer = client.get(&format!("/api/deltas/{}", encode(&id))).await?;
            print(&connect, &answer.json()?)
        }
        ClientCommand::View {
            entity,
            as_of,
            schema,
            connect,
        } => {
            let mut client = connect.client()?;
            let q = query(&[("as_of", as_of.map(|t| t.to_string())), ("schema", schema)]);
            let answer = client
                .get(&format!("/api/view/{}{q}", encode(&entity)))
                .await?;
            print(&connect, &answer.json()?)
        }
        ClientCommand::Hyperview {
            entity,
            as_of,
            connect,
        } => {
            let mut client = connect.client()?;
            let q = query(&[("as_of", as_of.map(|t| t.to_string()))]);
            let answer = client
                .get(&format!("/api/hyperview/{}{q}", encode(&entity)))
                .await?;
            print(&connect, &answer.json()?)
        }
        ClientCommand::Export { since, connect } => export(&connect, since).await,
        ClientCommand::Import {
            file,
            batch,
            connect,
        } => import::run(&connect, open(&file)?, batch.max(1)).await,
        ClientCommand::Status { connect } => {
            let mut client = connect.client()?;
            let health = client.get("/api/health").await?.json()?;
            // since past the end: an empty page whose last_seq is the log's end.
            let end = client
                .get(&format!("/api/deltas?since={}&limit=1", u64::MAX))
                .await?
                .json()?;
            let peers = client.get("/api/peers").await?.json()?;
            let list = peers["peers"].as_array().cloned().unwrap_or_default();
            let connected = list.iter().filter(|p| p["status"] == "connected").count();
            let status = serde_json::json!({
                "url": connect.url,
                "node": health["node"],
                "node_id": peers["self"]["node_id"],
                "sync": peers["sync"],
                "sync_addrs": peers["self"]["addrs"],
                "deltas": health["deltas"],
                "last_seq": end["last_seq"],
                "peers": list.len(),
                "peers_connected": connected,
            });
            if connect.json {
                print(&connect, &status)
            } else {
                println!(
                    "node {} at {}: {} deltas, last sequence number {}",
                    status["node"].as_str().unwrap_or("?"),
                    connect.url,
                    status["deltas"],
                    status["last_seq"]
                );
                let addrs: Vec<&str> = status["sync_addrs"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                    .unwrap_or_default();
                println!(
                    "sync {}: node id {}, at {}; {} peers, {connected} connected",
                    status["sync"].as_str().unwrap_or("?"),
                    status["node_id"].as_str().unwrap_or("?"),
                    if addrs.is_empty() {
                        "-".to_owned()
                    } else {
                        addrs.join(", ")
                    },
                    list.len(),
                );
                Ok(())
            }
        }
    }
}

/// Pages the changes feed from `since` to its end, one delta per line.
async fn export(connect: &Connect, mut since: u64) -> Result<()> {
    let mut client = connect.client()?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let write_err = |e: std::io::Error| Error::Client(format!("cannot write to stdout: {e}"));
    loop {
        let page = client
            .get(&format!("/api/deltas?since={since}&limit=10000"))
            .await?
            .json()?;
        let deltas = page["deltas"].as_array().cloned().unwrap_or_default();
        for d in &deltas {
            serde_json::to_writer(&mut out, d).map_err(|e| Error::Client(e.to_string()))?;
            out.write_all(b"\n").map_err(write_err)?;
        }
        let last = page["last_seq"]
            .as_u64()
            .ok_or_else(|| Error::Client("the feed page has no last_seq".into()))?;
        if last <= since {
            break;
        }
        since = last;
    }
    out.flush().map_err(write_err)
}
