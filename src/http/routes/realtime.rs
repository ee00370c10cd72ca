//! The real-time routes (API.md §4): `GET /api/deltas?feed=sse` and
//! `GET /api/ws`. The handlers are in [`crate::realtime`].

use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use serde_json::json;

use super::Route;
use crate::http::error::ApiError;
use crate::http::query::QueryParams;
use crate::http::state::AppState;
use crate::realtime::{sse, ws};

/// The routes of this module.
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::GET,
        path: "/api/deltas",
        summary: "The changes feed; with feed=sse, as server-sent events (backlog, then live)",
        // The response head is immediate; the streamed body is not timed.
        long_lived: false,
        handler: |m| on(m, deltas),
        operation: || {
            json!({
                "parameters": [
                    {"name": "feed", "in": "query", "schema": {"type": "string", "enum": ["sse"]}},
                    {"name": "since", "in": "query", "schema": {"type": "integer", "minimum": 0}},
                    {"name": "entity", "in": "query", "schema": {"type": "string"}, "description": "comma-separated, OR'ed"},
                    {"name": "creator", "in": "query", "schema": {"type": "string"}, "description": "comma-separated, OR'ed"},
                    {"name": "host", "in": "query", "schema": {"type": "string"}, "description": "comma-separated, OR'ed"},
                    {"name": "from", "in": "query", "schema": {"type": "integer"}},
                    {"name": "to", "in": "query", "schema": {"type": "integer"}},
                    {"name": "format", "in": "query", "schema": {"type": "string", "enum": ["v1", "v2", "rhizomedb"]}},
                    {"name": "Last-Event-ID", "in": "header", "schema": {"type": "integer"}}
                ],
                "responses": {"200": {
                    "description": "`id: SEQ` / `event: delta` / `data: DELTA` records, backlog then live",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}}
                }}
            })
        },
    },
    Route {
        method: Method::GET,
        path: "/api/ws",
        summary: "WebSocket: subscribe, watch, put, ping (JSON text frames)",
        long_lived: true,
        handler: |m| on(m, websocket),
        operation: || json!({"responses": {"101": {"description": "Switching to the WebSocket protocol of docs/realtime.md"}}}),
    },
];

/// `GET /api/deltas`: here only `feed=sse` (the plain changes feed is
/// served by the REST layer, which calls [`sse::sse_changes`] for it).
async fn deltas(
    State(state): State<AppState>,
    params: QueryParams,
    headers: HeaderMap,
) -> Response {
    match params.str("feed") {
        Ok(Some("sse")) => sse::sse_changes(state, params, &headers).await,
        Ok(_) => ApiError::invalid_parameter("feed", "must be `sse` here").into_response(),
        Err(e) => e.into_response(),
    }
}

async fn websocket(
    State(state): State<AppState>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    match upgrade {
        Ok(ws) => ws::upgrade(state, ws),
        Err(e) => ApiError::bad_request("bad_request", format!("not a WebSocket upgrade: {e}"))
            .into_response(),
    }
}
