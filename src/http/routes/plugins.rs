//! Plugins (API.md §8): `PUT /api/plugins/{name}` (install or replace,
//! admin), `GET /api/plugins`, `GET /api/plugins/{name}`, `DELETE
//! /api/plugins/{name}` (admin), `POST /api/plugins/{name}/call`. The work
//! is the [`PluginHost`](crate::plugins::PluginHost)'s; these handlers only
//! move bytes. A module body is limited like any body (`RHIZOME_MAX_BODY_BYTES`).

use crate::auth::Scope;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::on;
use serde_json::{Value, json};

use super::Route;
use crate::http::json::{JsonBody, json_response};
use crate::http::{ApiError, AppState};

fn name_parameter() -> Value {
    json!({"name": "name", "in": "path", "required": true, "description": "the plugin's name (1 to 64 of A-Z a-z 0-9 _ -)", "schema": {"type": "string"}})
}

fn info_schema() -> Value {
    json!({"type": "object", "required": ["name", "hash", "exports", "depends_on", "status", "calls", "traps", "restarts"],
        "properties": {
            "name": {"type": "string"}, "hash": {"type": "string"},
            "exports": {"type": "array", "items": {"type": "string"}},
            "depends_on": {"type": "array", "items": {"type": "string"}},
            "status": {"type": "string", "enum": ["running", "restarting", "failed"]},
            "calls": {"type": "integer"}, "traps": {"type": "integer"}, "restarts": {"type": "integer"},
            "last_error": {"type": "string"}, "size": {"type": "integer"}}})
}

/// The routes of this module.
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::GET,
        path: "/api/plugins",
        summary: "Every installed plugin and its state",
        long_lived: false,
        scope: Scope::Read,
        handler: |m| on(m, list),
        operation: || {
            json!({"responses": {"200": {"description": "The plugins, by name", "content": {"application/json": {"schema": {
                "type": "object", "required": ["plugins"],
                "properties": {"plugins": {"type": "array", "items": info_schema()}}}}}}}})
        },
    },
    Route {
        method: Method::GET,
        path: "/api/plugins/{name}",
        summary: "One plugin's state",
        long_lived: false,
        scope: Scope::Read,
        handler: |m| on(m, one),
        operation: || {
            json!({"parameters": [name_parameter()], "responses": {
                "200": {"description": "The plugin", "content": {"application/json": {"schema": info_schema()}}},
                "404": {"description": "No plugin of that name"}}})
        },
    },
    Route {
        method: Method::PUT,
        path: "/api/plugins/{name}",
        summary: "Install or replace a plugin (a WebAssembly module, ABI v1)",
        long_lived: false,
        scope: Scope::Admin,
        handler: |m| on(m, put),
        operation: || {
            json!({"parameters": [name_parameter()],
                "requestBody": {"required": true, "content": {"application/wasm": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": {
                    "201": {"description": "Installed (or replaced): {name, hash, exports}", "content": {"application/json": {"schema": info_schema()}}},
                    "422": {"description": "invalid_plugin: not WebAssembly, missing exports, unknown imports, a dependency missing or a cycle"}}})
        },
    },
    Route {
        method: Method::DELETE,
        path: "/api/plugins/{name}",
        summary: "Unload a plugin (refused while others depend on it)",
        long_lived: false,
        scope: Scope::Admin,
        handler: |m| on(m, delete),
        operation: || {
            json!({"parameters": [name_parameter()], "responses": {
                "204": {"description": "Unloaded"},
                "404": {"description": "No plugin of that name"},
                "409": {"description": "plugin_in_use: other plugins depend on it"}}})
        },
    },
    Route {
        method: Method::POST,
        path: "/api/plugins/{name}/call",
        summary: "Call a plugin's `call` hook: JSON in, the plugin's JSON out",
        long_lived: false,
        scope: Scope::Write,
        handler: |m| on(m, call),
        operation: || {
            json!({"parameters": [name_parameter()],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {}}}},
                "responses": {
                    "200": {"description": "The plugin's answer", "content": {"application/json": {"schema": {}}}},
                    "404": {"description": "No plugin of that name, or it exports no call"},
                    "503": {"description": "plugin_unavailable: restarting, failed, busy, or this call failed"}}})
        },
    },
];

fn unknown(name: &str) -> ApiError {
    ApiError::from(crate::Error::UnknownPlugin {
        name: name.to_owned(),
    })
}

fn to_json(value: &impl serde::Serialize) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(value)
        .map_err(|e| ApiError::internal(format!("cannot serialise a plugin's state: {e}")))
}

async fn list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let body = to_json(&json!({"plugins": state.plugins.list()}))?;
    Ok(json_response(StatusCode::OK, body))
}

async fn one(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let info = state.plugins.info(&name).ok_or_else(|| unknown(&name))?;
    Ok(json_response(StatusCode::OK, to_json(&info)?))
}

async fn put(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let info = state.plugins.install(&name, body.to_vec()).await?;
    Ok(json_response(StatusCode::CREATED, to_json(&info)?))
}

async fn delete(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let host = state.plugins.clone();
    let removed = name.clone();
    tokio::task::spawn_blocking(move || host.remove(&removed))
        .await
        .map_err(|e| ApiError::internal(format!("removing plugin {name}: {e}")))??;
    Ok(json_response(StatusCode::NO_CONTENT, Vec::new()))
}

async fn call(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    let input = to_json(&body)?;
    let out = state.plugins.call(&name, input).await?;
    Ok(json_response(StatusCode::OK, out))
}
