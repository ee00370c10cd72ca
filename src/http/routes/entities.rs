//! Entities: `GET /api/entities`, `GET /api/hyperview/{id}` and `GET
//! /api/view/{id}` (API.md §3). Reads go to the in-memory index under its
//! read lock, which is released before the answer is serialised (hyperviews
//! hold `Arc`s of the deltas).

use crate::auth::Scope;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::on;
use rhizome_crdt::codec::Format;
use rhizome_crdt::schema::Expander;
use rhizome_crdt::{Hyperview, HyperviewOptions, StrategyRegistry, Timestamp, View, ViewOptions};
use serde_json::{Value, json};

use super::Route;
use super::deltas::{as_of_param, as_of_parameter, format_param, format_parameter, write_deltas};
use crate::http::json::json_response;
use crate::http::query::QueryParams;
use crate::http::{ApiError, AppState};

/// Page size of `GET /api/entities` when `limit` is not given.
pub const DEFAULT_ENTITIES_LIMIT: usize = 1000;
/// Largest page of `GET /api/entities`; a larger `limit` is served as this.
pub const MAX_ENTITIES_LIMIT: usize = 10_000;

/// The routes of this module.
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::GET,
        path: "/api/entities",
        summary: "Ids of the entities with visible deltas, sorted, paged",
        long_lived: false,
        scope: Scope::Read,
        handler: |m| on(m, entities),
        operation: || {
            json!({
                "parameters": [
                    as_of_parameter(),
                    {"name": "limit", "in": "query", "required": false, "description": "page size (default 1000, at most 10000)", "schema": {"type": "integer", "minimum": 1}},
                    {"name": "after", "in": "query", "required": false, "description": "continue after this id", "schema": {"type": "string"}}
                ],
                "responses": {"200": {"description": "A page of ids", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["ids"],
                    "properties": {"ids": {"type": "array", "items": {"type": "string"}}}}}}}}
            })
        },
    },
    Route {
        method: Method::GET,
        path: "/api/hyperview/{id}",
        summary: "An entity's hyperview: per property, its visible deltas",
        long_lived: false,
        scope: Scope::Read,
        handler: |m| on(m, hyperview),
        operation: || {
            json!({
                "parameters": [as_of_parameter(), format_parameter(), schema_parameter(), schema_as_of_parameter()],
                "responses": {
                    "200": {"description": "The hyperview", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["id", "properties"],
                        "properties": {"id": {"type": "string"}, "properties": {"type": "object",
                            "additionalProperties": {"type": "array", "items": {"$ref": "#/components/schemas/Delta"}}}}}}}},
                    "404": {"description": "The entity does not exist (at as_of), or the schema's projection leaves nothing"}}
            })
        },
    },
    Route {
        method: Method::GET,
        path: "/api/view/{id}",
        summary: "An entity's view: per property, the value its strategy resolves",
        long_lived: false,
        scope: Scope::Read,
        handler: |m| on(m, view),
        operation: || {
            json!({
                "parameters": [
                    as_of_parameter(),
                    schema_parameter(),
                    schema_as_of_parameter(),
                    {"name": "strategy", "in": "query", "required": false, "description": "strategy of every property (default last-write-wins)", "schema": {"type": "string"}},
                    {"name": "strategies", "in": "query", "required": false, "description": "per property: P:S,P2:S2", "schema": {"type": "string"}},
                    {"name": "trusted", "in": "query", "required": false, "description": "priority list of trusted-author / trusted-system: a,b", "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {"description": "The view", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["id", "properties"],
                        "properties": {"id": {"type": "string"}, "properties": {"type": "object"}}}}}},
                    "404": {"description": "The entity does not exist (at as_of), or the schema's projection leaves nothing"}}
            })
        },
    },
];

fn schema_parameter() -> Value {
    json!({"name": "schema", "in": "query", "required": false,
        "description": "a registered schema's name (400 unknown_schema otherwise)", "schema": {"type": "string"}})
}

fn schema_as_of_parameter() -> Value {
    json!({"name": "schema_as_of", "in": "query", "required": false,
        "description": "with schema: the schema's definition as of this time (ms; default: the current one)",
        "schema": {"type": "integer", "minimum": 1}})
}

/// `schema=` and `schema_as_of=`: the schema's name and the registry it is
/// looked up in (as of `schema_as_of`, default now), read from `index`.
fn schema_param(q: &QueryParams) -> Result<Option<(String, Option<Timestamp>)>, ApiError> {
    let schema_as_of = q
        .get::<u64>("schema_as_of")?
        .map(|ms| Timestamp::new(ms).map_err(|e| ApiError::invalid_parameter("schema_as_of", e)))
        .transpose()?;
    match q.str("schema")? {
        Some(name) => Ok(Some((name.to_owned(), schema_as_of))),
        None if schema_as_of.is_some() => Err(ApiError::invalid_parameter(
            "schema_as_of",
            "is only meaningful with schema",
        )),
        None => Ok(None),
    }
}

/// 400 `unknown_schema` for [`rhizome_crdt::Error::UnknownSchema`]; other
/// errors of an expansion are the delta errors (`not_expressible`).
pub(crate) fn expansion_error(e: &rhizome_crdt::Error) -> ApiError {
    match e {
        rhizome_crdt::Error::UnknownSchema { name } => ApiError::bad_request(
            "unknown_schema",
            format!("no schema named {name:?} is registered"),
        )
        .with("schema", name.as_str()),
        _ => ApiError::from_delta_error(e),
    }
}

fn no_entity(id: &str) -> ApiError {
    ApiError::not_found(format!("entity {id:?} does not exist (no visible delta)")).with("id", id)
}

async fn entities(State(state): State<AppState>, q: QueryParams) -> Result<Response, ApiError> {
    q.deny_unknown(&["as_of", "limit", "after"])?;
    let as_of = as_of_param(&q)?;
    let limit = q.get_or("limit", DEFAULT_ENTITIES_LIMIT)?;
    if limit == 0 {
        return Err(ApiError::invalid_parameter("limit", "must be at least 1"));
    }
    let after = q.str("after")?;
    let ids = state.node.read(|s| {
        s.index
            .entities(as_of, after, Some(limit.min(MAX_ENTITIES_LIMIT)))
    });
    let ids: Vec<&str> = ids.iter().map(|s| &**s).collect();
    Ok(json_response(
        StatusCode::OK,
        json!({"ids": ids}).to_string().into_bytes(),
    ))
}

/// The hyperview of `id` as of `q`'s `as_of`, or 404.
fn read_hyperview(state: &AppState, id: &str, q: &QueryParams) -> Result<Hyperview, ApiError> {
    let options = HyperviewOptions::as_of(as_of_param(q)?);
    let hv = state.node.read(|s| s.index.hyperview(id, &options));
    if hv.exists() {
        Ok(hv)
    } else {
        Err(no_entity(id))
    }
}

/// Writes `{"id": ..., "properties": {P: [deltas]}}` (keys sorted).
pub fn write_hyperview(out: &mut Vec<u8>, hv: &Hyperview, format: Format) -> Result<(), ApiError> {
    let string = |out: &mut Vec<u8>, s: &str| {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
    };
    out.extend_from_slice(b"{\"id\":");
    string(out, &hv.id);
    out.extend_from_slice(b",\"properties\":{");
    for (i, (property, deltas)) in hv.properties.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        string(out, property);
        out.push(b':');
        write_deltas(out, deltas.iter().map(|d| &**d), format)?;
    }
    out.extend_from_slice(b"}}");
    Ok(())
}

async fn hyperview(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    q.deny_unknown(&["as_of", "format", "schema", "schema_as_of"])?;
    let format = format_param(&q)?;
    if let Some((schema, schema_as_of)) = schema_param(&q)? {
        let as_of = as_of_param(&q)?;
        let expanded = state.node.read(|s| {
            let registry = s.schemas_as_of(schema_as_of);
            Expander::new(&s.index, &registry, as_of).hyperview(&id, &schema)
        });
        let hv = expanded
            .map_err(|e| expansion_error(&e))?
            .ok_or_else(|| no_entity(&id))?
            .value;
        let json = hv.json(format).map_err(|e| expansion_error(&e))?;
        let body = serde_json::to_vec(&json)
            .map_err(|e| ApiError::internal(format!("cannot serialise a hyperview: {e}")))?;
        return Ok(json_response(StatusCode::OK, body));
    }
    let hv = read_hyperview(&state, &id, &q)?;
    let mut body = Vec::with_capacity(256 * (1 + hv.properties.len()));
    write_hyperview(&mut body, &hv, format)?;
    Ok(json_response(StatusCode::OK, body))
}

/// View options from `strategy`, `strategies` and `trusted`, checked
/// against the registry; errors name the parameter.
fn view_options(
    state: &AppState,
    q: &QueryParams,
) -> Result<(ViewOptions, rhizome_crdt::ViewResolver), ApiError> {
    resolver(
        &state.node.strategies(),
        q.str("strategy")?,
        q.str("strategies")?,
        q.str("trusted")?,
    )
}

/// A resolver from `strategy`, `strategies` and `trusted` (query
/// parameters or body fields of the same names), checked against
/// `registry` (the node's: built-in and plugin strategies); errors name the
/// parameter.
pub(crate) fn resolver(
    registry: &StrategyRegistry,
    strategy: Option<&str>,
    strategies: Option<&str>,
    trusted: Option<&str>,
) -> Result<(ViewOptions, rhizome_crdt::ViewResolver), ApiError> {
    let options = ViewOptions::from_query(strategy, strategies, trusted).map_err(|e| match &e {
        rhizome_crdt::Error::InvalidViewOption { option, .. } => {
            ApiError::invalid_parameter(option, &e)
        }
        _ => ApiError::bad_request("invalid_parameter", e.to_string()),
    })?;
    let resolver = options.resolver(registry).map_err(|e| match &e {
        rhizome_crdt::Error::UnknownStrategy { name, .. } => {
            let parameter = if strategy.is_some_and(|s| s.trim() == name) {
                "strategy"
            } else {
                "strategies"
            };
            ApiError::invalid_parameter(parameter, &e).with("strategy", name.as_str())
        }
        _ => ApiError::bad_request("invalid_parameter", e.to_string()),
    })?;
    Ok((options, resolver))
}

async fn view(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    q.deny_unknown(&[
        "as_of",
        "schema",
        "schema_as_of",
        "strategy",
        "strategies",
        "trusted",
    ])?;
    let (options, resolver) = view_options(&state, &q)?;
    let schema = schema_param(&q)?;
    let as_of = as_of_param(&q)?;
    let view: Arc<View> = match schema {
        // Now, under the current schema (if any): the live view cache.
        _ if as_of.is_none() && schema.as_ref().is_none_or(|(_, t)| t.is_none()) => {
            let schema = schema.as_ref().map(|(name, _)| name.as_str());
            state
                .node
                .live_view(&id, schema, &options, &resolver)
                .map_err(|e| expansion_error(&e))?
                .ok_or_else(|| no_entity(&id))?
        }
        Some((schema, schema_as_of)) => {
            let expanded = state.node.read(|s| {
                let registry = s.schemas_as_of(schema_as_of);
                Expander::new(&s.index, &registry, as_of).view(&id, Some(&schema), &resolver)
            });
            expanded
                .map_err(|e| expansion_error(&e))?
                .ok_or_else(|| no_entity(&id))?
                .value
                .into()
        }
        None => resolver.resolve(&read_hyperview(&state, &id, &q)?).into(),
    };
    let body = serde_json::to_vec(&*view)
        .map_err(|e| ApiError::internal(format!("cannot serialise a view: {e}")))?;
    Ok(json_response(StatusCode::OK, body))
}
