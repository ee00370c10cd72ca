//! The client subcommands of `rhizome` (API.md §5): `put`, `get`, `view`,
//! `hyperview`, `export`, `import`, `status`, `types`, against a running node
//! (`--url`, default `http://127.0.0.1:4000`, or `RHIZOME_URL`).
//!
//! Readable output by default, `--json` for machine output. Errors are one
//! line; the binary exits non-zero on them.

pub mod client;
mod import;

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
}

/// The client subcommands.
#[derive(Subcommand, Clone, Debug)]
pub enum ClientCommand {
    /// Store the deltas of FILE (`-` for stdin): one delta, an array or
    /// `{"deltas": [...]}`, any format; all or nothing.
    Put {
        /// The file, or `-` for stdin.
        file: PathBuf,
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
    /// Write TypeScript declarations of the wire types and of the schemas
    /// (API.md §9): those the node at `--url` has registered
    /// (`GET /api/types.d.ts`), or, offline, those of `--schemas FILE`.
    Types {
        /// Write to FILE instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Generate without a node, from FILE: a JSON array of schema
        /// bodies (as `PUT /api/schemas/:name` takes them), or
        /// `{"schemas": [...]}`.
        #[arg(long)]
        schemas: Option<PathBuf>,
        #[command(flatten)]
        connect: Connect,
    },
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
        ClientCommand::Put { file, connect } => {
            let mut body = Vec::new();
            open(&file)?
                .read_to_end(&mut body)
                .map_err(|e| Error::Client(format!("cannot read {}: {e}", file.display())))?;
            let mut client = Client::new(&connect.url)?;
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
            let mut client = Client::new(&connect.url)?;
            let answer = client.get(&format!("/api/deltas/{}", encode(&id))).await?;
            print(&connect, &answer.json()?)
        }
        ClientCommand::View {
            entity,
            as_of,
            schema,
            connect,
        } => {
            let mut client = Client::new(&connect.url)?;
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
            let mut client = Client::new(&connect.url)?;
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
        ClientCommand::Types {
            out,
            schemas,
            connect,
        } => {
            let text = match schemas {
                Some(file) => offline_types(&file)?,
                None => {
                    let mut client = Client::new(&connect.url)?;
                    let answer = client.get("/api/types.d.ts").await?;
                    String::from_utf8(answer.body.to_vec()).map_err(|_| {
                        Error::Client("the node's declarations are not UTF-8".into())
                    })?
                }
            };
            match out {
                Some(path) => std::fs::write(&path, text)
                    .map_err(|e| Error::Client(format!("cannot write {}: {e}", path.display()))),
                None => {
                    let mut stdout = std::io::stdout().lock();
                    stdout
                        .write_all(text.as_bytes())
                        .and_then(|()| stdout.flush())
                        .map_err(|e| Error::Client(format!("cannot write to stdout: {e}")))
                }
            }
        }
        ClientCommand::Status { connect } => {
            let mut client = Client::new(&connect.url)?;
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

/// The declarations for the schemas of `file` (a JSON array of schema
/// bodies, or `{"schemas": [...]}`), with no node: every schema named by a
/// transform must be in the file; cycles are allowed (TypeScript takes
/// them).
fn offline_types(file: &PathBuf) -> Result<String> {
    let mut text = String::new();
    open(file)?
        .read_to_string(&mut text)
        .map_err(|e| Error::Client(format!("cannot read {}: {e}", file.display())))?;
    let body: Value = serde_json::from_str(&text)
        .map_err(|e| Error::Client(format!("{} is not JSON: {e}", file.display())))?;
    let list = match &body {
        Value::Array(list) => list,
        Value::Object(o) => match o.get("schemas") {
            Some(Value::Array(list)) => list,
            _ => {
                return Err(Error::Client(format!(
                    "{}: expected an array of schemas or {{\"schemas\": [...]}}",
                    file.display()
                )));
            }
        },
        _ => {
            return Err(Error::Client(format!(
                "{}: expected an array of schemas or {{\"schemas\": [...]}}",
                file.display()
            )));
        }
    };
    let mut registry = rhizome_crdt::schema::SchemaRegistry::new();
    for (i, body) in list.iter().enumerate() {
        let schema = rhizome_crdt::schema::HyperSchema::from_json(body)
            .map_err(|e| Error::Client(format!("{}: schema {i}: {e}", file.display())))?;
        registry.insert_unchecked(schema);
    }
    for schema in registry.iter() {
        for name in schema.referenced_schemas() {
            if registry.get(name).is_none() {
                return Err(Error::Client(format!(
                    "{}: schema {:?} names schema {name:?}, which the file does not define",
                    file.display(),
                    &*schema.name
                )));
            }
        }
    }
    Ok(crate::typescript::declarations(&registry))
}

/// Pages the changes feed from `since` to its end, one delta per line.
async fn export(connect: &Connect, mut since: u64) -> Result<()> {
    let mut client = Client::new(&connect.url)?;
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
