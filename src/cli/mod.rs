//! The client subcommands of `rhizome` (API.md §5): `put`, `get`, `view`,
//! `hyperview`, `export`, `import`, `status`, `types`, against a running node
//! (`--url`, default `http://127.0.0.1:4000`, or `RHIZOME_URL`).
//!
//! Readable output by default, `--json` for machine output. Errors are one
//! line; the binary exits non-zero on them.

pub mod client;
mod import;
pub mod keys;
pub mod progress;

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
    /// Print an entity's view now and again on every change, until
    /// interrupted (follows the changes feed of the entity over SSE and
    /// reads the view again when a delta about it arrives; resumes after a
    /// dropped connection).
    Watch {
        /// The entity's id.
        entity: String,
        /// Resolve under this schema.
        #[arg(long)]
        schema: Option<String>,
        /// Resolve every property with this strategy.
        #[arg(long)]
        strategy: Option<String>,
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
        } => {
            let total = if file.as_os_str() == "-" {
                None
            } else {
                std::fs::metadata(&file).ok().map(|m| m.len())
            };
            import::run(&connect, open(&file)?, batch.max(1), total).await
        }
        ClientCommand::Watch {
            entity,
            schema,
            strategy,
            connect,
        } => watch(&connect, &entity, schema, strategy).await,
        ClientCommand::Types {
            out,
            schemas,
            connect,
        } => {
            let text = match schemas {
                Some(file) => offline_types(&file)?,
                None => {
                    let mut client = connect.client()?;
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

/// `rhizome watch`: the view now, then again whenever a delta about the
/// entity is stored and the view differs from the last one printed.
async fn watch(
    connect: &Connect,
    entity: &str,
    schema: Option<String>,
    strategy: Option<String>,
) -> Result<()> {
    let mut reads = connect.client()?;
    let view_path = format!(
        "/api/view/{}{}",
        encode(entity),
        query(&[("schema", schema), ("strategy", strategy)])
    );
    let mut last: Option<Value> = None;
    let mut since = reads
        .get(&format!("/api/deltas?since={}&limit=1", u64::MAX))
        .await?
        .json()?["last_seq"]
        .as_u64()
        .unwrap_or(0);
    let show = async |reads: &mut Client, last: &mut Option<Value>| -> Result<()> {
        let answer = reads.request(Method::GET, &view_path, None).await?;
        // Not there yet (404) is shown as an empty view.
        let view = if answer.status.as_u16() == 404 {
            serde_json::json!({"id": entity, "properties": {}})
        } else {
            answer.ok()?.json()?
        };
        if last.as_ref() != Some(&view) {
            print(connect, &view)?;
            *last = Some(view);
        }
        Ok(())
    };
    show(&mut reads, &mut last).await?;
    loop {
        let mut feed = connect.client()?;
        let mut buf = Vec::new();
        let mut changed_at: Vec<u64> = Vec::new();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<u64>(64);
        let path = format!(
            "/api/deltas?feed=sse&entity={}&since={since}",
            encode(entity)
        );
        let streaming = async {
            let tx = tx;
            let r = feed
                .stream(&path, |data| {
                    buf.extend_from_slice(data);
                    while let Some(end) = buf.windows(2).position(|w| w == b"\n\n") {
                        let record: Vec<u8> = buf.drain(..end + 2).collect();
                        let text = String::from_utf8_lossy(&record);
                        if let Some(seq) = text
                            .lines()
                            .find_map(|l| l.strip_prefix("id: "))
                            .and_then(|s| s.trim().parse().ok())
                        {
                            changed_at.push(seq);
                            // Full: the reader is behind and reads the view once anyway.
                            let _ = tx.try_send(seq);
                        }
                    }
                    true
                })
                .await;
            drop(tx);
            r
        };
        let following = async {
            while let Some(seq) = rx.recv().await {
                while let Ok(more) = rx.try_recv() {
                    since = since.max(more);
                }
                since = since.max(seq);
                show(&mut reads, &mut last).await?;
            }
            Ok::<(), Error>(())
        };
        let (streamed, followed) = tokio::join!(streaming, following);
        followed?;
        if let Some(max) = changed_at.iter().max() {
            since = since.max(*max);
        }
        if let Err(e) = streamed {
            eprintln!("rhizome: {e}; retrying");
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
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
    let mut client = connect.client()?;
    // The log's end now: the bar's 100% (deltas stored meanwhile come too).
    let end = client
        .get(&format!("/api/deltas?since={}&limit=1", u64::MAX))
        .await?
        .json()?["last_seq"]
        .as_u64()
        .unwrap_or(0);
    let start = since;
    let mut progress =
        progress::Progress::new(progress::Unit::Deltas, Some(end.saturating_sub(start)));
    let mut written = 0u64;
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
        written += deltas.len() as u64;
        progress.update(since.saturating_sub(start), written);
    }
    progress.finish();
    out.flush().map_err(write_err)
}
