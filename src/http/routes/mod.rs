//! The route table and the router built from it.
//!
//! Every route of the API is a [`Route`] in one of the tables of
//! [`TABLES`]; the router ([`api_routes`]) and the OpenAPI document
//! ([`crate::http::openapi::document`]) are both built from them, so they
//! cannot disagree.
//!
//! **Adding routes** (store, query, real-time layers): write a module
//! under `routes/` with `pub const ROUTES: &[Route] = &[...]` (handlers take
//! `State<AppState>`, [`QueryParams`](crate::http::query::QueryParams),
//! [`JsonBody`](crate::http::json::JsonBody) and return `Result<_,
//! ApiError>`), and add `yourmodule::ROUTES` to [`TABLES`]. Mark streaming
//! routes (SSE, WebSocket) `long_lived: true` to exempt them from the
//! request timeout. Several routes may share a path with different methods.

pub mod collections;
pub mod dashboard;
pub mod deltas;
pub mod docs;
pub mod entities;
pub mod health;
pub mod keys;
pub mod metrics;
pub mod openapi;
pub mod peers;
pub mod plugins;
pub mod query;
pub mod realtime;
pub mod schemas;
pub mod transactions;
pub mod types;

use std::any::Any;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{Method, Uri};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter};
use serde_json::Value;
use tower_http::catch_panic::CatchPanicLayer;

use super::error::{ApiError, ensure_error_shape};
use super::limits::{BodyLimit, Limits, enforce_body_limit, enforce_timeout};
use super::observe::observe;
use super::state::AppState;

/// One route: method, path template, documentation and handler.
#[derive(Clone)]
pub struct Route {
    /// The HTTP method.
    pub method: Method,
    /// The path template in axum's and OpenAPI's shared syntax
    /// (`/api/deltas/{id}`).
    pub path: &'static str,
    /// One line for the OpenAPI `summary`.
    pub summary: &'static str,
    /// A streaming route (SSE, WebSocket): not subject to the request timeout.
    pub long_lived: bool,
    /// What the caller's token must carry when authentication is on
    /// (API.md §6).
    pub scope: crate::auth::Scope,
    /// Builds the handler for the method: `|m| on(m, handler)`.
    pub handler: fn(MethodFilter) -> MethodRouter<AppState>,
    /// The OpenAPI operation object (`parameters`, `requestBody`,
    /// `responses`); `summary` and the error responses are added to it.
    pub operation: fn() -> Value,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// Every route table of the API.
pub const TABLES: &[&[Route]] = &[
    health::ROUTES,
    metrics::ROUTES,
    openapi::ROUTES,
    deltas::ROUTES,
    entities::ROUTES,
    schemas::ROUTES,
    query::ROUTES,
    collections::ROUTES,
    transactions::ROUTES,
    realtime::ROUTES,
    peers::ROUTES,
    docs::ROUTES,
    keys::ROUTES,
    plugins::ROUTES,
    types::ROUTES,
    dashboard::ROUTES,
];

/// Every route of the API, in table order.
pub fn all() -> impl Iterator<Item = &'static Route> {
    TABLES.iter().flat_map(|t| t.iter())
}

/// The API's routes (with the request timeout on all but long-lived
/// ones), before [`finish`]. Tests may add routes to it.
///
/// # Panics
///
/// If a route's method is not one axum can route (a bug in a table, caught
/// by the tests).
pub fn api_routes(limits: &Limits) -> Router<AppState> {
    let timeout = limits.request_timeout();
    let mut router = Router::new();
    for route in all() {
        // Constant tables; the tests route every one of them.
        let filter =
            MethodFilter::try_from(route.method.clone()).expect("route table methods are routable");
        let mut handler = (route.handler)(filter);
        if !route.long_lived {
            handler = handler.layer(from_fn_with_state(timeout, enforce_timeout));
        }
        router = router.route(route.path, handler);
    }
    router
}

/// Adds what every route shares to `routes`: the 404 and 405 answers, the
/// panic guard, the body limit, the error shape, request ids, tracing and
/// metrics. Call it last: routes added afterwards get none of it.
pub fn finish(routes: Router<AppState>, state: AppState, limits: &Limits) -> Router {
    routes
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(CatchPanicLayer::custom(panicked))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(from_fn_with_state(
            BodyLimit(limits.max_body_bytes),
            enforce_body_limit,
        ))
        .layer(from_fn(ensure_error_shape))
        .layer(from_fn_with_state(state.clone(), crate::auth::guard))
        .layer(from_fn(observe))
        .with_state(state)
}

/// The node's whole HTTP application.
pub fn router(state: AppState, limits: &Limits) -> Router {
    finish(api_routes(limits), state, limits)
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::not_found(format!("no route for {}", uri.path())).with("path", uri.path())
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::method_not_allowed(method.as_str(), uri.path())
}

fn panicked(payload: Box<dyn Any + Send + 'static>) -> Response {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-string payload".to_owned());
    tracing::error!(panic = %what, "a request handler panicked");
    ApiError::internal("the request failed on a bug in the node (a handler panicked); it is logged")
        .into_response()
}
