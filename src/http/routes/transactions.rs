//! `GET /api/transactions/{id}` (API.md §3).

use crate::auth::Scope;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::on;
use serde_json::json;

use super::Route;
use super::deltas::{as_of_param, as_of_parameter};
use crate::http::json::json_response;
use crate::http::query::QueryParams;
use crate::http::{ApiError, AppState};

/// The routes of this module.
pub const ROUTES: &[Route] = &[Route {
    method: Method::GET,
    path: "/api/transactions/{id}",
    summary: "A transaction's state: declared size, members received, complete",
    long_lived: false,
    scope: Scope::Read,
    handler: |m| on(m, transaction),
    operation: || {
        json!({
            "parameters": [as_of_parameter()],
            "responses": {
                "200": {"description": "The transaction's state", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["id", "size", "received", "complete"],
                    "properties": {
                        "id": {"type": "string"},
                        "size": {"type": "integer", "nullable": true, "description": "null until a size is declared"},
                        "received": {"type": "integer", "minimum": 0},
                        "complete": {"type": "boolean"}}}}}},
                "404": {"description": "Neither a member nor a declaration is stored"}}
        })
    },
}];

async fn transaction(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    q.deny_unknown(&["as_of"])?;
    let as_of = as_of_param(&q)?;
    let status = state
        .node
        .read(|s| s.index.transaction_status(&id, as_of))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no member or size declaration of transaction {id:?} is stored"
            ))
            .with("id", id.as_str())
        })?;
    let body = json!({
        "id": id,
        "size": status.size,
        "received": status.received,
        "complete": status.complete,
    });
    Ok(json_response(StatusCode::OK, body.to_string().into_bytes()))
}
