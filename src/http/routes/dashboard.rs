//! `GET /` and `GET /dashboard/{file}`: the dashboard's static files
//! ([`crate::dashboard`]). Open: the page holds no data, and asks the
//! user for a token when the API answers 401.

use crate::auth::Scope;
use axum::extract::Path;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::on;
use serde_json::json;

use super::Route;
use crate::dashboard;
use crate::http::ApiError;

/// The routes of this module.
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::GET,
        path: "/",
        summary: "The dashboard (HTML)",
        long_lived: false,
        scope: Scope::Open,
        handler: |m| on(m, index),
        operation: || {
            json!({"responses": {"200": {"description": "The dashboard page",
                "content": {"text/html": {"schema": {"type": "string"}}}}}})
        },
    },
    Route {
        method: Method::GET,
        path: "/dashboard/{file}",
        summary: "The dashboard's script and style sheet",
        long_lived: false,
        scope: Scope::Open,
        handler: |m| on(m, file),
        operation: || {
            json!({
                "parameters": [{"name": "file", "in": "path", "required": true,
                    "schema": {"type": "string", "enum": ["app.js", "style.css"]}}],
                "responses": {
                    "200": {"description": "The file", "content": {"text/plain": {"schema": {"type": "string"}}}},
                    "404": {"description": "No such file"}}
            })
        },
    },
];

fn page(content_type: &'static str, body: &'static str) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

async fn index() -> Response {
    page("text/html; charset=utf-8", dashboard::INDEX_HTML)
}

async fn file(Path(name): Path<String>) -> Result<Response, ApiError> {
    match dashboard::asset(&name) {
        Some((content_type, body)) => Ok(page(content_type, body)),
        None => Err(ApiError::not_found(format!("no dashboard file {name:?}")).with("file", name)),
    }
}
