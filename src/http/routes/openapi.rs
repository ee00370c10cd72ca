//! `GET /api/openapi.json`.

use crate::auth::Scope;
use axum::Json;
use axum::http::Method;
use axum::routing::on;
use serde_json::{Value, json};

use super::Route;
use crate::http::openapi;

/// The routes of this module.
pub const ROUTES: &[Route] = &[Route {
    method: Method::GET,
    path: "/api/openapi.json",
    summary: "This API's OpenAPI 3 description",
    long_lived: false,
    scope: Scope::Read,
    handler: |m| on(m, document),
    operation: || {
        json!({"responses": {"200": {
            "description": "The OpenAPI document",
            "content": {"application/json": {"schema": {"type": "object"}}}
        }}})
    },
}];

async fn document() -> Json<Value> {
    Json(openapi::document())
}
