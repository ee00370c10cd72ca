//! `GET /api/types.d.ts`: TypeScript declarations of the wire types and of
//! the registered schemas (API.md §9; [`crate::typescript`]).

use crate::auth::Scope;
use axum::extract::State;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use serde_json::json;

use super::Route;
use super::deltas::{as_of_param, as_of_parameter};
use super::schemas::registry_at;
use crate::http::query::QueryParams;
use crate::http::{ApiError, AppState};

/// The content type of the declarations.
pub const CONTENT_TYPE: &str = "application/typescript; charset=utf-8";

/// The routes of this module.
pub const ROUTES: &[Route] = &[Route {
    method: Method::GET,
    path: "/api/types.d.ts",
    summary: "TypeScript declarations: the wire types and one interface per registered schema",
    long_lived: false,
    scope: Scope::Read,
    handler: |m| on(m, types),
    operation: || {
        json!({
            "parameters": [as_of_parameter()],
            "responses": {"200": {
                "description": "A TypeScript declaration file (compiles with tsc --strict)",
                "content": {"application/typescript": {"schema": {"type": "string"}}}
            }}
        })
    },
}];

async fn types(State(state): State<AppState>, q: QueryParams) -> Result<Response, ApiError> {
    q.deny_unknown(&["as_of"])?;
    let registry = registry_at(&state, as_of_param(&q)?);
    let body = crate::typescript::declarations(&registry);
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], body).into_response())
}
