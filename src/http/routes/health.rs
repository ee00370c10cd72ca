//! `GET /api/health`.

use crate::auth::Scope;
use axum::Json;
use axum::extract::State;
use axum::http::Method;
use axum::routing::on;
use serde_json::{Value, json};

use super::Route;
use crate::http::AppState;

/// The routes of this module.
pub const ROUTES: &[Route] = &[Route {
    method: Method::GET,
    path: "/api/health",
    summary: "Liveness: the node's name and how many deltas it stores",
    long_lived: false,
    scope: Scope::Open,
    handler: |m| on(m, health),
    operation: || {
        json!({"responses": {"200": {
            "description": "The node is up",
            "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["status", "node", "deltas"],
                "properties": {
                    "status": {"type": "string", "enum": ["ok"]},
                    "node": {"type": "string", "description": "the node's host id"},
                    "deltas": {"type": "integer", "minimum": 0}
                }
            }}}
        }}})
    },
}];

/// `{"status": "ok", "node": HOST_ID, "deltas": N}`.
async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "node": state.node.host_id(),
        "deltas": state.node.delta_count(),
    }))
}
