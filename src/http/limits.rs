//! The server's limits: connections, request time, body size; and the
//! middleware that enforces the per-request ones.

use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// File descriptors kept free for everything that is not an HTTP
/// connection (the store, the sync endpoint, logs, plugins).
pub const FD_HEADROOM: u64 = 256;

/// Default request body limit: 8 MiB (API.md §3).
pub const DEFAULT_MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The HTTP server's limits, read from the environment (flags mirror them).
#[derive(Clone, Debug, clap::Args)]
pub struct Limits {
    /// Most HTTP connections served at once; more wait in the accept queue.
    /// Default: the open-file limit minus 256. Capped at that value.
    #[arg(long, env = "RHIZOME_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Time a request may take to produce its response head, in ms (then
    /// 408). Streaming bodies (SSE, WebSocket) are not limited by it.
    #[arg(long, env = "RHIZOME_REQUEST_TIMEOUT_MS", default_value_t = 30_000)]
    pub request_timeout_ms: u64,
    /// Largest request body, in bytes (then 413).
    #[arg(long, env = "RHIZOME_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// At shutdown, how long in-flight requests may run before their
    /// connections are closed, in ms.
    #[arg(long, env = "RHIZOME_SHUTDOWN_GRACE_MS", default_value_t = 10_000)]
    pub shutdown_grace_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: None,
            request_timeout_ms: 30_000,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            shutdown_grace_ms: 10_000,
        }
    }
}

impl Limits {
    /// The request timeout.
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The shutdown grace period.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_millis(self.shutdown_grace_ms)
    }

    /// The connection limit for a process whose open-file soft limit is
    /// `nofile`: the configured one, never above `nofile - FD_HEADROOM`
    /// (and at least 1).
    ///
    /// ```
    /// use rhizome::http::Limits;
    /// let mut l = Limits::default();
    /// assert_eq!(l.connection_limit(1024), 768);
    /// l.max_connections = Some(4);
    /// assert_eq!(l.connection_limit(1024), 4);
    /// l.max_connections = Some(5000);
    /// assert_eq!(l.connection_limit(1024), 768);
    /// ```
    pub fn connection_limit(&self, nofile: u64) -> usize {
        let ceiling = nofile.saturating_sub(FD_HEADROOM).max(1);
        let ceiling = usize::try_from(ceiling).unwrap_or(usize::MAX);
        match self.max_connections {
            Some(n) => n.clamp(1, ceiling),
            None => ceiling,
        }
    }
}

/// The process's open-file limits, after [`raise_open_file_limit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenFileLimit {
    /// The soft limit now in force.
    pub soft: u64,
    /// The hard limit.
    pub hard: u64,
}

/// Never assume more descriptors than this, even when the limit is
/// "unlimited".
const NOFILE_CAP: u64 = 1 << 20;

/// Reads `RLIMIT_NOFILE` and raises the soft limit to the hard limit when
/// allowed. Returns the limits in force (falling back to 1024 if they
/// cannot be read).
pub fn raise_open_file_limit() -> OpenFileLimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; no other effect.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        tracing::warn!(
            "cannot read the open-file limit: {}",
            std::io::Error::last_os_error()
        );
        return OpenFileLimit {
            soft: 1024,
            hard: 1024,
        };
    }
    // `rlim_t` is u64 on Linux but not on every platform.
    #[allow(clippy::useless_conversion)]
    let cap = |v: libc::rlim_t| {
        if v == libc::RLIM_INFINITY {
            NOFILE_CAP
        } else {
            u64::try_from(v).unwrap_or(NOFILE_CAP).min(NOFILE_CAP)
        }
    };
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct; failing leaves the limit as it was.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim = raised;
        } else {
            tracing::debug!(
                "cannot raise the open-file limit: {}",
                std::io::Error::last_os_error()
            );
        }
    }
    OpenFileLimit {
        soft: cap(lim.rlim_cur),
        hard: cap(lim.rlim_max),
    }
}

/// The body limit in force, in the request's extensions (put there by
/// [`enforce_body_limit`]) for body extractors to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimit(pub usize);

impl Default for BodyLimit {
    fn default() -> Self {
        BodyLimit(DEFAULT_MAX_BODY_BYTES)
    }
}

/// Middleware: a `content-length` over the limit is a 413 before the
/// handler runs; otherwise the limit goes into the request for the body
/// extractors (which enforce it on the bytes actually sent).
pub async fn enforce_body_limit(
    State(limit): State<BodyLimit>,
    mut request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit.0 as u64) {
        return ApiError::payload_too_large(limit.0).into_response();
    }
    request.extensions_mut().insert(limit);
    next.run(request).await
}

/// Middleware: the handler must produce its response head within the
/// timeout, else 408. The body is not timed, so streaming answers (SSE)
/// are not cut; routes marked long-lived skip this layer entirely.
pub async fn enforce_timeout(
    State(timeout): State<Duration>,
    request: Request,
    next: Next,
) -> Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            ApiError::request_timeout(ms).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_file_limit_is_read_and_not_lowered() {
        let before = raise_open_file_limit();
        let after = raise_open_file_limit();
        assert!(before.soft >= 1 && before.soft <= before.hard);
        assert!(after.soft >= before.soft);
    }

    #[test]
    fn connection_limit_keeps_headroom_even_on_tiny_limits() {
        let l = Limits::default();
        assert_eq!(l.connection_limit(100), 1);
        assert_eq!(l.connection_limit(FD_HEADROOM + 10), 10);
    }
}
