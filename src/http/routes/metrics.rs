//! `GET /metrics`.

use crate::auth::Scope;
use axum::extract::State;
use axum::http::{HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use serde_json::json;

use super::Route;
use crate::http::{AppState, metrics};

/// The routes of this module.
pub const ROUTES: &[Route] = &[Route {
    method: Method::GET,
    path: "/metrics",
    summary: "Prometheus metrics (text exposition format 0.0.4)",
    long_lived: false,
    scope: Scope::Read,
    handler: |m| on(m, exposition),
    operation: || {
        json!({"responses": {"200": {
            "description": "Every metric of the node",
            "content": {"text/plain": {"schema": {"type": "string"}}}
        }}})
    },
}];

async fn exposition(State(state): State<AppState>) -> Response {
    let mut text = metrics::global().encode();
    if let Some(sync) = &state.sync {
        sync.metrics().encode(&mut text);
    }
    state.plugins.encode_metrics(&mut text);
    let mut response = text.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(metrics::CONTENT_TYPE),
    );
    response
}
