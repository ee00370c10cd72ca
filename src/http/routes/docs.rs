//! Collaborative documents (API.md §7): `POST` and `GET
//! /api/docs/{entity}/{property}`, `GET /api/docs/{entity}/{property}/changes`.
//! The delta form and the client path are in `docs/documents.md`.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use axum::routing::on;
use serde_json::{Value, json};

use super::Route;
use super::deltas::{as_of_param, as_of_parameter};
use crate::auth::{Caller, CreatorMismatch, Scope};
use crate::documents::{Posted, parse_heads, post_changes};
use crate::http::json::json_response;
use crate::http::query::QueryParams;
use crate::http::{ApiError, AppState};

/// The routes of this module.
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::POST,
        path: "/api/docs/{entity}/{property}",
        summary: "Store Automerge changes (or a saved document) in a document property",
        long_lived: false,
        scope: Scope::Write,
        handler: |m| on(m, post_doc),
        operation: || {
            json!({
                "parameters": [path("entity"), path("property"),
                    {"name": "creator", "in": "query", "required": false,
                     "description": "the creator written on the new deltas (default anonymous)",
                     "schema": {"type": "string"}}],
                "requestBody": {"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                "responses": {
                    "201": {"description": "Stored and durable: change hashes (hex)", "content": {"application/json": {"schema": posted_schema()}}},
                    "400": {"description": "invalid_automerge, missing_dependencies or change_too_large; nothing stored"}}
            })
        },
    },
    Route {
        method: Method::GET,
        path: "/api/docs/{entity}/{property}",
        summary: "A document: Automerge save() bytes, or {value, heads} as JSON",
        long_lived: false,
        scope: Scope::Read,
        handler: |m| on(m, get_doc),
        operation: || {
            json!({
                "parameters": [path("entity"), path("property"), as_of_parameter()],
                "responses": {
                    "200": {"description": "The document", "content": {
                        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                        "application/json": {"schema": {"type": "object", "required": ["value", "heads"],
                            "properties": {"value": {}, "heads": {"type": "array", "items": {"type": "string"}}}}}}},
                    "404": {"description": "No change is stored in this property"}}
            })
        },
    },
    Route {
        method: Method::GET,
        path: "/api/docs/{entity}/{property}/changes",
        summary: "The changes a client holding the given heads lacks",
        long_lived: false,
        scope: Scope::Read,
        handler: |m| on(m, get_changes),
        operation: || {
            json!({
                "parameters": [path("entity"), path("property"),
                    {"name": "heads", "in": "query", "required": false,
                     "description": "the client's heads, hex change hashes, comma-separated (none: every change)",
                     "schema": {"type": "string"}}],
                "responses": {
                    "200": {"description": "Changes, concatenated", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
                    "404": {"description": "No change is stored in this property"}}
            })
        },
    },
];

fn path(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
}

fn posted_schema() -> Value {
    json!({"type": "object", "required": ["accepted", "duplicates"], "properties": {
        "accepted": {"type": "array", "items": {"type": "string"}},
        "duplicates": {"type": "array", "items": {"type": "string"}}}})
}

/// The `creator` of the deltas a document write makes: the one place it is
/// decided. With authentication (API.md §6), the caller's principal (an
/// `admin` may name another with `?creator=`; a `write` token naming
/// another gets 403 `creator_mismatch`); without, `?creator=` (a WebSocket
/// `doc_put` has none), else `anonymous`.
pub(crate) fn creator(caller: &Caller, requested: Option<&str>) -> Result<String, ApiError> {
    let requested = match requested.map(str::trim) {
        Some(c) if c.is_empty() || c.len() > rhizome_crdt::limits::MAX_NAME_BYTES => {
            return Err(ApiError::invalid_parameter(
                "creator",
                "must be a non-empty name of at most 256 bytes",
            ));
        }
        other => other,
    };
    match (caller.principal(), requested) {
        (None, r) => Ok(r.unwrap_or("anonymous").to_owned()),
        (Some(p), None) => Ok(p.name().to_owned()),
        (Some(p), Some(r)) if r == p.name() || p.has(Scope::Admin) => Ok(r.to_owned()),
        (Some(p), Some(r)) => Err(CreatorMismatch {
            index: 0,
            creator: r.to_owned(),
            principal: p.name().to_owned(),
        }
        .into()),
    }
}

/// The answer to a failed document write.
pub(crate) fn write_error(e: crate::Error) -> ApiError {
    use rhizome_crdt::Error as E;
    match e {
        crate::Error::Delta(E::InvalidAutomerge(m)) => ApiError::bad_request(
            "invalid_automerge",
            format!("the body is not Automerge changes or a saved document: {m}"),
        ),
        crate::Error::Delta(e @ E::ChangeTooLarge { .. }) => {
            ApiError::bad_request("change_too_large", e.to_string())
        }
        crate::Error::Delta(E::MissingDependencies { missing }) => ApiError::bad_request(
            "missing_dependencies",
            format!(
                "the document holds no change {missing}, which the changes posted depend on: \
                 send the changes they build on too (a change of another document is refused so)"
            ),
        )
        .with("missing", missing.split(',').collect::<Vec<_>>()),
        crate::Error::Client(m) => ApiError::bad_request("invalid_document", m),
        other => other.into(),
    }
}

/// The JSON of a post's answer.
pub(crate) fn posted_json(p: &Posted) -> Value {
    json!({"accepted": p.accepted, "duplicates": p.duplicates})
}

async fn post_doc(
    State(state): State<AppState>,
    caller: Caller,
    Path((entity, property)): Path<(String, String)>,
    q: QueryParams,
    body: Bytes,
) -> Result<Response, ApiError> {
    q.deny_unknown(&["creator"])?;
    let creator = creator(&caller, q.str("creator")?)?;
    let posted = post_changes(&state.node, &entity, &property, &body, &creator)
        .await
        .map_err(write_error)?;
    let body = serde_json::to_vec(&posted_json(&posted))
        .map_err(|e| ApiError::internal(format!("cannot serialise an answer: {e}")))?;
    Ok(json_response(StatusCode::CREATED, body))
}

fn no_document(entity: &str, property: &str) -> ApiError {
    ApiError::not_found(format!(
        "no Automerge change is stored in property {property:?} of entity {entity:?}"
    ))
    .with("entity", entity)
    .with("property", property)
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"))
}

fn octets(bytes: Vec<u8>) -> Response {
    let mut r = Response::new(Body::from(bytes));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    r
}

async fn get_doc(
    State(state): State<AppState>,
    Path((entity, property)): Path<(String, String)>,
    q: QueryParams,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    q.deny_unknown(&["as_of"])?;
    let as_of = as_of_param(&q)?;
    if wants_json(&headers) {
        let body = state
            .node
            .with_document(
                &entity,
                &property,
                as_of,
                |d| json!({"value": d.json(), "heads": d.heads_hex()}),
            )
            .ok_or_else(|| no_document(&entity, &property))?;
        let body = serde_json::to_vec(&body)
            .map_err(|e| ApiError::internal(format!("cannot serialise a document: {e}")))?;
        return Ok(json_response(StatusCode::OK, body));
    }
    let saved = state
        .node
        .with_document(&entity, &property, as_of, |d| d.save())
        .ok_or_else(|| no_document(&entity, &property))?;
    Ok(octets(saved))
}

async fn get_changes(
    State(state): State<AppState>,
    Path((entity, property)): Path<(String, String)>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    q.deny_unknown(&["heads"])?;
    let heads =
        parse_heads(&q.list("heads")?).map_err(|e| ApiError::invalid_parameter("heads", e))?;
    let bytes = state
        .node
        .with_document(&entity, &property, None, |d| d.changes_since(&heads))
        .ok_or_else(|| no_document(&entity, &property))?;
    Ok(octets(bytes))
}
