//! `GET /`, `GET /dashboard/app.js` and `GET /dashboard/style.css`: the dashboard's static files
//! ([`crate::dashboard`]). Open: the page holds no data, and asks the
//! user for a token when the API answers 401.

use crate::auth::Scope;
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
        path: "/dashboard/app.js",
        summary: "The dashboard's script",
        long_lived: false,
        scope: Scope::Open,
        handler: |m| on(m, app_js),
        operation: || asset_operation("text/javascript"),
    },
    Route {
        method: Method::GET,
        path: "/dashboard/style.css",
        summary: "The dashboard's style sheet",
        long_lived: false,
        scope: Scope::Open,
        handler: |m| on(m, style_css),
        operation: || asset_operation("text/css"),
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

fn asset_operation(content_type: &str) -> serde_json::Value {
    json!({"responses": {"200": {"description": "The file",
        "content": {content_type: {"schema": {"type": "string"}}}}}})
}

/// A file of [`dashboard`]'s table (every name routed here is in it).
fn asset(name: &str) -> Response {
    match dashboard::asset(name) {
        Some((content_type, body)) => page(content_type, body),
        None => ApiError::not_found(format!("no dashboard file {name:?}")).into_response(),
    }
}

async fn app_js() -> Response {
    asset("app.js")
}

async fn style_css() -> Response {
    asset("style.css")
}
