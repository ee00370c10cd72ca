//! Schemas: `PUT /api/schemas/{name}`, `GET /api/schemas`, `GET
//! /api/schemas/{name}` (API.md §2 "Schemas", §3).
//!
//! A registration is validated against the current registry under the
//! index's read lock (`State::schemas`, which the writer rebuilds with
//! [`SchemaRegistry::from_set`] whenever a `_schema/` entity changes), then
//! stored as the
//! registration deltas of [`registry::registration_deltas`] through
//! [`crate::node::Node::ingest`]: durable before the 201, in the feed,
//! replicated like any delta. Two registrations racing may still both be
//! stored (as two nodes registering concurrently would); expansion
//! terminates on a registry holding a cycle.

use crate::auth::{Caller, Scope};
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::on;
use rhizome_crdt::schema::{HyperSchema, SchemaRegistry, registry};
use rhizome_crdt::{HyperviewOptions, Timestamp};
use serde_json::{Value, json};

use super::Route;
use super::deltas::{as_of_param, as_of_parameter};
use crate::http::json::{JsonBody, json_response};
use crate::http::query::QueryParams;
use crate::http::{ApiError, AppState};

/// The routes of this module.
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::GET,
        path: "/api/schemas",
        summary: "Names of the registered schemas, sorted",
        long_lived: false,
        scope: Scope::Read,
        handler: |m| on(m, list),
        operation: || {
            json!({
                "parameters": [as_of_parameter()],
                "responses": {"200": {"description": "The names", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["schemas"],
                    "properties": {"schemas": {"type": "array", "items": {"type": "string"}}}}}}}}
            })
        },
    },
    Route {
        method: Method::GET,
        path: "/api/schemas/{name}",
        summary: "One schema as registered",
        long_lived: false,
        scope: Scope::Read,
        handler: |m| on(m, one),
        operation: || {
            json!({
                "parameters": [name_parameter(), as_of_parameter()],
                "responses": {
                    "200": {"description": "The schema", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HyperSchema"}}}},
                    "404": {"description": "No schema of that name (at as_of)"}}
            })
        },
    },
    Route {
        method: Method::PUT,
        path: "/api/schemas/{name}",
        summary: "Register (or replace) a schema",
        long_lived: false,
        scope: Scope::Admin,
        handler: |m| on(m, register),
        operation: || {
            json!({
                "parameters": [name_parameter()],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HyperSchema"}}}},
                "responses": {
                    "201": {"description": "The schema as registered", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/HyperSchema"}}}},
                    "422": {"description": "invalid_schema: bad shape, unknown schema named, name differs from the path, or a cycle (named)"}}
            })
        },
    },
];

fn name_parameter() -> Value {
    json!({"name": "name", "in": "path", "required": true, "description": "the schema's name", "schema": {"type": "string"}})
}

/// The OpenAPI component of a schema body.
pub(crate) fn schema_component() -> Value {
    json!({"type": "object", "required": ["name", "select"], "additionalProperties": false,
        "properties": {
            "name": {"type": "string"},
            "select": {"type": "string", "enum": ["by-target-context"]},
            "contexts": {"type": "array", "items": {"type": "string"}},
            "transform": {"type": "object", "additionalProperties": {"type": "object"}},
            "max_depth": {"type": "integer", "minimum": 0, "maximum": 16}}})
}

/// The registry as of `as_of` (`None`: now).
pub(crate) fn registry_at(state: &AppState, as_of: Option<Timestamp>) -> SchemaRegistry {
    state.node.read(|s| s.schemas_as_of(as_of).into_owned())
}

/// 422 `invalid_schema` for a schema the registry refuses, with the details
/// the error has (`field`, `cycle`, `schema`).
fn invalid_schema(e: &rhizome_crdt::Error) -> ApiError {
    let out = ApiError::unprocessable("invalid_schema", e.to_string());
    match e {
        rhizome_crdt::Error::InvalidSchema { field, .. } => out.with("field", field.as_str()),
        rhizome_crdt::Error::SchemaCycle { cycle } => out.with("cycle", cycle.as_str()),
        rhizome_crdt::Error::UnknownSchema { name } => out.with("schema", name.as_str()),
        _ => out,
    }
}

fn schema_response(status: StatusCode, schema: &HyperSchema) -> Response {
    json_response(status, schema.to_json_string().into_bytes())
}

async fn list(State(state): State<AppState>, q: QueryParams) -> Result<Response, ApiError> {
    q.deny_unknown(&["as_of"])?;
    let registry = registry_at(&state, as_of_param(&q)?);
    let names: Vec<&str> = registry.names().map(|n| &**n).collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"schemas": names}).to_string().into_bytes(),
    ))
}

async fn one(
    State(state): State<AppState>,
    Path(name): Path<String>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    q.deny_unknown(&["as_of"])?;
    let registry = registry_at(&state, as_of_param(&q)?);
    match registry.get(&name) {
        Some(schema) => Ok(schema_response(StatusCode::OK, schema)),
        None => Err(
            ApiError::not_found(format!("no schema named {name:?} is registered"))
                .with("schema", name),
        ),
    }
}

async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    q: QueryParams,
    JsonBody(body): JsonBody<Value>,
) -> Result<Response, ApiError> {
    q.deny_unknown(&[])?;
    let schema = HyperSchema::from_json(&body).map_err(|e| invalid_schema(&e))?;
    let entity = registry::entity_of(&name);
    let (checked, latest) = state.node.read(|s| {
        let registry = &s.schemas;
        // The newest registration of the name, visible or not: the new one
        // must sort after it to replace it.
        let latest = s
            .index
            .hyperview(&entity, &HyperviewOptions::default())
            .properties
            .get(registry::DEFINITION)
            .and_then(|ds| ds.last().map(|d| d.time_created().as_millis()));
        (registry.check_registration(&name, &schema), latest)
    });
    checked.map_err(|e| invalid_schema(&e))?;
    let now = Timestamp::now().as_millis();
    let timestamp = latest.map_or(now, |t| now.max(t + 1));
    let host = state.node.host_id();
    let deltas =
        registry::registration_deltas(&schema, caller.creator_or(host), host, timestamp)
            .map_err(|e| ApiError::internal(format!("cannot build a schema registration: {e}")))?;
    state.node.ingest(deltas).await?;
    Ok(schema_response(StatusCode::CREATED, &schema))
}
