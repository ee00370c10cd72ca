//! The real-time route (API.md §4): `GET /api/ws`. The SSE feed is
//! `GET /api/deltas?feed=sse` ([`super::deltas`] calls
//! [`crate::realtime::sse::sse_changes`]). The handlers are in
//! [`crate::realtime`].

use crate::auth::{Caller, Scope};
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use serde_json::json;

use super::Route;
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::realtime::ws;

/// The routes of this module.
pub const ROUTES: &[Route] = &[Route {
    method: Method::GET,
    path: "/api/ws",
    summary: "WebSocket: subscribe, watch, put, ping (JSON text frames)",
    long_lived: true,
    // Each operation checks its own scope (read to subscribe or watch,
    // write to put).
    scope: Scope::Authenticated,
    handler: |m| on(m, websocket),
    operation: || json!({"responses": {"101": {"description": "Switching to the WebSocket protocol of docs/realtime.md"}}}),
}];

async fn websocket(
    State(state): State<AppState>,
    caller: Caller,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(ws) => ws::upgrade(state, ws, caller),
        Err(e) => ApiError::bad_request("bad_request", format!("not a WebSocket upgrade: {e}"))
            .into_response(),
    }
}
