//! The HTTP server: a TCP listener with a connection limit, hyper's HTTP/1
//! connections serving the router (SSE feed requests are answered on the
//! raw socket instead, see [`raw_response`]), and a graceful, bounded
//! shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tower::Service;

use super::first_request::{self, FirstRequest, HEADER_READ_TIMEOUT, Replay};
use super::limits::{Limits, raise_open_file_limit};
use super::metrics;
use super::raw_response;
use crate::{Error, Result};

/// A bound HTTP server, not yet serving.
///
/// ```no_run
/// # async fn demo(node: std::sync::Arc<rhizome::node::Node>) -> rhizome::Result<()> {
/// use rhizome::http::{self, AppState, Limits, Server};
/// let limits = Limits::default();
/// let app = http::router(AppState::new(node), &limits);
/// let server = Server::bind("127.0.0.1:0".parse().unwrap(), &limits, app).await?;
/// println!("listening on {}", server.local_addr());
/// server.run(async { let _ = tokio::signal::ctrl_c().await; }).await
/// # }
/// ```
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    router: Router,
    connection_limit: usize,
    grace: Duration,
    stopping: Vec<crate::realtime::Shutdown>,
}

impl Server {
    /// Binds `addr` (port 0 = a free port), raising the open-file limit
    /// and deriving the connection limit from it.
    pub async fn bind(addr: SocketAddr, limits: &Limits, router: Router) -> Result<Server> {
        let nofile = raise_open_file_limit();
        let connection_limit = limits.connection_limit(nofile.soft);
        if limits
            .max_connections
            .is_some_and(|asked| asked > connection_limit)
        {
            tracing::warn!(
                asked = limits.max_connections,
                connection_limit,
                open_files = nofile.soft,
                "RHIZOME_MAX_CONNECTIONS is above what the open-file limit allows; capped"
            );
        }
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| Error::io(format!("binding the HTTP listener on {addr}"), e))?;
        let local_addr = listener
            .local_addr()
            .map_err(|e| Error::io("reading the HTTP listener's address", e))?;
        tracing::info!(%local_addr, connection_limit, open_files = nofile.soft, "HTTP server bound");
        Ok(Server {
            listener,
            local_addr,
            router,
            connection_limit,
            grace: limits.shutdown_grace(),
            stopping: Vec::new(),
        })
    }

    /// Raises `flag` when the server stops accepting, so that upgraded
    /// WebSockets and streaming bodies (SSE), which the server does not
    /// track, end on their own (pass [`AppState::shutdown`](crate::http::AppState::shutdown)).
    pub fn stopping_raises(mut self, flag: crate::realtime::Shutdown) -> Server {
        self.stopping.push(flag);
        self
    }

    /// The address the server listens on (with the real port).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many connections are served at once.
    pub fn connection_limit(&self) -> usize {
        self.connection_limit
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets
    /// in-flight requests finish within the grace period, closes what is
    /// left, and returns once every connection is gone.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
        let Server {
            listener,
            router,
            connection_limit,
            grace,
            stopping,
            ..
        } = self;
        let permits = Arc::new(Semaphore::new(connection_limit));
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            while connections.try_join_next().is_some() {}
            // Over the limit, wait here: further connections queue in the
            // kernel's accept backlog until one closes.
            let permit = tokio::select! {
                biased;
                () = &mut shutdown => break,
                permit = Arc::clone(&permits).acquire_owned() => match permit {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (stream, peer) = tokio::select! {
                biased;
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        accept_failed(e).await;
                        continue;
                    }
                },
            };
            connections.spawn(serve_connection(
                stream,
                peer,
                router.clone(),
                stop_rx.clone(),
                permit,
            ));
        }
        drop(listener);
        let _ = stop_tx.send(true);
        for flag in &stopping {
            flag.raise();
        }
        tracing::info!(
            connections = connections.len(),
            "HTTP server stopped accepting; finishing in-flight requests"
        );
        let drained = tokio::time::timeout(grace, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                connections = connections.len(),
                grace_ms = grace.as_millis(),
                "connections still busy after the grace period; closing them"
            );
            connections.shutdown().await;
        }
        Ok(())
    }

    /// Runs the server on a task, for embedding and tests.
    pub fn spawn(self) -> RunningServer {
        let local_addr = self.local_addr;
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async {
            let _ = stopped.await;
        }));
        RunningServer {
            local_addr,
            stop,
            task,
        }
    }
}

/// A server running on its own task ([`Server::spawn`]).
#[derive(Debug)]
pub struct RunningServer {
    local_addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<()>>,
}

impl RunningServer {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Shuts the server down gracefully and waits for it.
    pub async fn shutdown(self) -> Result<()> {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(result) => result,
            Err(e) => Err(Error::io(
                "the HTTP server task",
                std::io::Error::other(e.to_string()),
            )),
        }
    }
}

/// Transient accept errors (a connection reset before we took it) are
/// skipped; others (out of descriptors) are logged and retried after a
/// pause rather than ending the server.
async fn accept_failed(e: std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) {
        tracing::debug!("accept: {e}");
        return;
    }
    tracing::error!("accept failed: {e}; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}

/// Counts a connection in the metrics while it lives.
struct ConnectionGauge;

impl ConnectionGauge {
    fn open() -> ConnectionGauge {
        metrics::global().http_connections.inc();
        ConnectionGauge
    }
}

impl Drop for ConnectionGauge {
    fn drop(&mut self) {
        metrics::global().http_connections.dec();
    }
}

/// Serves one connection until it closes, or until `stop`, after which the
/// request in flight finishes and the connection closes.
///
/// The first request head is read here ([`first_request`]): an SSE feed
/// request is served on the raw socket ([`raw_response`]); every other
/// connection goes to hyper with the bytes read replayed first. Each path
/// is boxed, so the task keeps only the state of the one it takes.
async fn serve_connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    mut stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
) {
    let _gauge = ConnectionGauge::open();
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, "cannot set TCP_NODELAY: {e}");
    }
    let first = tokio::select! {
        read = tokio::time::timeout(
            HEADER_READ_TIMEOUT,
            Box::pin(first_request::read(&mut stream)),
        ) => read,
        // Like an idle keep-alive connection, closed at once.
        _ = stop.wait_for(|stopping| *stopping) => return,
    };
    match first {
        Ok(Ok(FirstRequest::Sse(request))) => {
            Box::pin(raw_response::serve(stream, peer, router, request, stop)).await;
        }
        Ok(Ok(FirstRequest::Other(prefix))) => {
            Box::pin(serve_hyper(Replay::new(prefix, stream), peer, router, stop)).await;
        }
        Ok(Err(e)) => tracing::debug!(%peer, "reading the first request: {e}"),
        Err(_) => tracing::debug!(%peer, "no request head within the header timeout"),
    }
}

/// Serves a connection with hyper's HTTP/1 until it closes, or until
/// `stop` (see [`serve_connection`]).
async fn serve_hyper(
    io: Replay<TcpStream>,
    peer: SocketAddr,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        router.clone().call(request)
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        _ = async { stop.wait_for(|stopping| *stopping).await.is_ok() } => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}
