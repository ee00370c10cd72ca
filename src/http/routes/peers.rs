//! `GET /api/peers`: this node's sync identity and what it knows of its
//! peers (API.md §3).

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
    path: "/api/peers",
    summary: "This node's node id, addresses and ticket, and every peer it knows",
    long_lived: false,
    scope: Scope::Read,
    handler: |m| on(m, peers),
    operation: || {
        json!({"responses": {"200": {
            "description": "Sync identity and peers",
            "content": {"application/json": {"schema": {
                "type": "object",
                "required": ["self", "peers"],
                "properties": {
                    "self": {"type": "object", "required": ["node_id", "addrs", "ticket"], "properties": {
                        "node_id": {"type": "string"},
                        "addrs": {"type": "array", "items": {"type": "string"}},
                        "ticket": {"type": ["string", "null"]}
                    }},
                    "sync": {"type": "string", "enum": ["on", "off"]},
                    "peers": {"type": "array", "items": {"type": "object",
                        "required": ["node_id", "status", "deltas_sent", "deltas_received", "last_seen"],
                        "properties": {
                            "node_id": {"type": "string"},
                            "status": {"type": "string", "enum": ["connected", "disconnected", "unreachable", "refused"]},
                            "deltas_sent": {"type": "integer"},
                            "deltas_received": {"type": "integer"},
                            "last_seen": {"type": ["integer", "null"], "description": "ms since the Unix epoch"},
                            "last_sync": {"type": ["integer", "null"]},
                            "syncs": {"type": "integer"},
                            "sync_failures": {"type": "integer"},
                            "configured": {"type": "boolean"},
                            "last_error": {"type": ["string", "null"]}
                        }}}
                }
            }}}
        }}})
    },
}];

async fn peers(State(state): State<AppState>) -> Json<Value> {
    Json(match &state.sync {
        Some(sync) => json!({
            "self": sync.self_info(),
            "sync": "on",
            "peers": sync.peers(),
        }),
        None => json!({
            "self": {"node_id": state.node.node_id(), "addrs": [], "ticket": null},
            "sync": "off",
            "peers": [],
        }),
    })
}
