//! The `rhizome` command: run a node, or talk to one.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use rhizome::config::{Config, StorageKind};
use rhizome::http::{self, AppState, Server};
use rhizome::node::Node;

/// Rhizome: a CRDT-centric replication engine and database.
#[derive(Parser)]
#[command(name = "rhizome", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node in the foreground until Ctrl-C or SIGTERM.
    Start {
        #[command(flatten)]
        config: Config,
    },
    /// Load tools.
    #[command(subcommand)]
    Bench(Bench),
    #[command(flatten)]
    Client(rhizome::cli::ClientCommand),
}

#[derive(Subcommand)]
enum Bench {
    /// Ingest reference-workload deltas from many concurrent writers through
    /// the real writer and store; print throughput and latency.
    Ingest {
        #[command(flatten)]
        options: rhizome::bench::IngestOptions,
        #[command(flatten)]
        config: Config,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rhizome: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Start { config } => start(config).await,
            Command::Bench(Bench::Ingest { options, config }) => {
                bench_ingest(config, options).await
            }
            Command::Client(command) => rhizome::cli::run(command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rhizome: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn start(config: Config) -> rhizome::Result<()> {
    let node = Arc::new(Node::start(config).await?);
    let c = node.config();
    tracing::info!(storage = ?c.storage, data_dir = %c.data_dir.display(), "node started");
    let limits = c.http.clone();
    let sync = if c.sync.is_enabled() {
        Some(rhizome::replication::start(&node).await?)
    } else {
        None
    };
    let mut state = AppState::try_new(Arc::clone(&node))?;
    if !c.http_addr.is_loopback() && !state.auth.is_on() {
        tracing::warn!(
            http_addr = %c.http_addr,
            "the HTTP address is not a loopback one and authentication is off: anyone who can reach it may read and write everything (set RHIZOME_AUTH, see docs/security.md)"
        );
    }
    if let Some(sync) = &sync {
        state = state.with_sync(sync.clone());
    }
    let stopping = state.shutdown();
    let app = http::router(state, &limits);
    let server = Server::bind(SocketAddr::new(c.http_addr, c.http_port), &limits, app)
        .await?
        .stopping_raises(stopping);
    // The start line of API.md §5, parsed by tests and scripts: the node
    // id and the address its endpoint is bound to (what a peer dials as
    // `NODE_ID@IP:PORT`), or `sync=off`.
    let sync_addr = match &sync {
        Some(sync) => sync
            .bound_sockets()
            .first()
            .map_or_else(|| "none".to_owned(), ToString::to_string),
        None => "off".to_owned(),
    };
    println!(
        "rhizome listening http={} node={} sync={sync_addr}",
        server.local_addr(),
        node.node_id(),
    );
    if let Err(e) = std::io::stdout().flush() {
        tracing::warn!("cannot flush stdout: {e}");
    }
    server.run(shutdown_signal()).await?;
    tracing::info!("HTTP server stopped; shutting the node down");
    if let Some(sync) = &sync {
        sync.shutdown().await;
    }
    node.shutdown().await?;
    println!("rhizome stopped");
    Ok(())
}

async fn bench_ingest(
    config: Config,
    options: rhizome::bench::IngestOptions,
) -> rhizome::Result<()> {
    use rhizome::bench::{dir_bytes, resident_bytes};
    let rss_before = resident_bytes();
    let t = std::time::Instant::now();
    let node = Node::start(config.clone()).await?;
    let opened = t.elapsed();
    let before = node.len() as u64;
    eprintln!(
        "opened {:?} store with {before} deltas in {:.1} ms",
        config.storage,
        opened.as_secs_f64() * 1000.0
    );
    let report = rhizome::bench::ingest(&node, &options).await?;
    let stored = node.len() as u64 - before;
    if options.readers > 0 {
        eprintln!(
            "reads during ingest: {} by {} readers = {:.0} reads/s, read p99 {:.3} ms",
            report.reads,
            options.readers,
            report.reads as f64 / report.elapsed.as_secs_f64().max(1e-9),
            report.read_p99.as_secs_f64() * 1000.0
        );
    }
    let rss_after = resident_bytes();
    eprintln!(
        "ingested {} deltas ({stored} new) with {} writers, batch {}: {:.0} deltas/s, \
         call latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
        report.acked,
        options.writers,
        options.batch,
        report.rate(),
        report.p50.as_secs_f64() * 1000.0,
        report.p99.as_secs_f64() * 1000.0,
        report.max.as_secs_f64() * 1000.0,
    );
    node.shutdown().await?;
    let total = node.len().max(1) as f64;
    eprintln!(
        "memory: {:.0} bytes/delta resident (process growth / deltas held)",
        rss_after.saturating_sub(rss_before) as f64 / total
    );
    if config.storage == StorageKind::Disk {
        eprintln!(
            "disk: {} bytes = {:.1} bytes/delta",
            dir_bytes(&config.data_dir),
            dir_bytes(&config.data_dir) as f64 / total
        );
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Logs to stderr; `RHIZOME_LOG` is the filter (default `info`),
/// `RHIZOME_LOG_FORMAT=json` writes JSON lines (default `text`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RHIZOME_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    match std::env::var("RHIZOME_LOG_FORMAT").as_deref() {
        Ok("json") => builder.json().init(),
        Ok("text") | Ok("") | Err(_) => builder.init(),
        Ok(other) => {
            builder.init();
            tracing::warn!("RHIZOME_LOG_FORMAT={other:?} is neither `text` nor `json`; using text");
        }
    }
}
