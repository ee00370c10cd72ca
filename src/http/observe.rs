//! Observing every request: its id, a tracing span, a log line, metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use super::request_id::{RequestId, X_REQUEST_ID};
use crate::metrics::{self, RequestLabels, RouteLabels};

/// The route label of requests that matched no route (bounded cardinality).
pub const UNMATCHED: &str = "unmatched";

/// Middleware: gives the request an id (honouring `x-request-id`), runs it
/// in a `request` span (id, method, route), logs its status and latency
/// (`debug`, or `error` for a 5xx) and records the request metrics by
/// route template.
pub async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = RequestId::from_headers(request.headers());
    request.extensions_mut().insert(id.clone());
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let span = tracing::info_span!(
        "request",
        id = id.as_str(),
        method = %method,
        route = %route,
    );
    let mut response = next.run(request).instrument(span.clone()).await;
    let latency = started.elapsed();
    let status = response.status().as_u16();
    span.in_scope(|| {
        let latency_ms = latency.as_secs_f64() * 1000.0;
        if response.status().is_server_error() {
            tracing::error!(status, latency_ms, "request failed");
        } else {
            tracing::debug!(status, latency_ms, "request");
        }
    });
    response.headers_mut().insert(X_REQUEST_ID.clone(), id.0);
    let m = metrics::global();
    m.http_request_duration
        .get_or_create(&RouteLabels {
            method: method.clone(),
            route: route.clone(),
        })
        .observe(latency.as_secs_f64());
    m.http_requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status,
        })
        .inc();
    response
}
