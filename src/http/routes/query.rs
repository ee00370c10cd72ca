//! `POST /api/query` (API.md §3): the views of many entities, under a
//! schema, filtered by JSON Logic, sorted by id ([`rhizome_crdt::query`]).

use crate::auth::Scope;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::on;
use rhizome_crdt::query::{self, Logic, Query};
use rhizome_crdt::{Timestamp, View};
use serde::Deserialize;
use serde_json::{Value, json};

use super::Route;
use super::entities::{expansion_error, resolver};
use crate::http::json::{JsonBody, json_response};
use crate::http::query::QueryParams;
use crate::http::{ApiError, AppState};

/// Views answered when the body has no `limit`.
pub const DEFAULT_QUERY_LIMIT: usize = 1000;
/// Largest `limit`; a larger one is served as this.
pub const MAX_QUERY_LIMIT: usize = 10_000;
/// Most `ids` a query may name (more is a 400).
pub const MAX_QUERY_IDS: usize = 10_000;

/// The routes of this module.
pub const ROUTES: &[Route] = &[Route {
    method: Method::POST,
    path: "/api/query",
    summary: "Views of many entities, under a schema, filtered by JSON Logic, sorted by id",
    long_lived: false,
    scope: Scope::Read,
    handler: |m| on(m, run),
    operation: || {
        json!({
            "requestBody": {"required": true, "content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": false,
                "properties": {
                    "schema": {"type": "string"},
                    "schema_as_of": {"type": "integer", "minimum": 1},
                    "as_of": {"type": "integer", "minimum": 1},
                    "strategy": {"type": "string"},
                    "strategies": {"type": "string", "description": "per property: P:S,P2:S2"},
                    "trusted": {"type": "string", "description": "a,b"},
                    "filter": {"description": "JSON Logic over the view {id, properties}"},
                    "ids": {"type": "array", "maxItems": MAX_QUERY_IDS, "items": {"type": "string"}},
                    "limit": {"type": "integer", "minimum": 1, "description": "default 1000, at most 10000"}}}}}},
            "responses": {"200": {"description": "The matching views", "content": {"application/json": {"schema": {
                "type": "object", "required": ["views"],
                "properties": {"views": {"type": "array", "items": {"type": "object"}}}}}}}}
        })
    },
}];

/// The body of `POST /api/query`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct QueryBody {
    schema: Option<String>,
    schema_as_of: Option<u64>,
    as_of: Option<u64>,
    strategy: Option<String>,
    strategies: Option<String>,
    trusted: Option<String>,
    filter: Option<Value>,
    ids: Option<Vec<String>>,
    limit: Option<usize>,
}

fn timestamp(field: &str, ms: Option<u64>) -> Result<Option<Timestamp>, ApiError> {
    ms.map(|ms| {
        Timestamp::new(ms).map_err(|e| {
            ApiError::bad_request("invalid_body", format!("{field}: {e}")).with("field", field)
        })
    })
    .transpose()
}

/// 400 `invalid_filter` naming the operator or the place in the filter.
fn filter_error(e: &rhizome_crdt::Error) -> ApiError {
    let out = ApiError::bad_request("invalid_filter", e.to_string());
    match e {
        rhizome_crdt::Error::UnknownOperator { operator, path } => out
            .with("operator", operator.as_str())
            .with("path", path.as_str()),
        rhizome_crdt::Error::InvalidFilter { path, .. } => out.with("path", path.as_str()),
        _ => out,
    }
}

async fn run(
    State(state): State<AppState>,
    q: QueryParams,
    JsonBody(body): JsonBody<QueryBody>,
) -> Result<Response, ApiError> {
    q.deny_unknown(&[])?;
    let as_of = timestamp("as_of", body.as_of)?;
    let schema_as_of = timestamp("schema_as_of", body.schema_as_of)?;
    let limit = body.limit.unwrap_or(DEFAULT_QUERY_LIMIT);
    if limit == 0 {
        return Err(
            ApiError::bad_request("invalid_body", "limit must be at least 1")
                .with("field", "limit"),
        );
    }
    let ids: Option<Vec<Arc<str>>> = match body.ids {
        Some(ids) if ids.len() > MAX_QUERY_IDS => {
            return Err(ApiError::bad_request(
                "invalid_body",
                format!(
                    "ids names {} entities, more than the {MAX_QUERY_IDS} a query may",
                    ids.len()
                ),
            )
            .with("field", "ids"));
        }
        Some(ids) => Some(ids.into_iter().map(Arc::from).collect()),
        None => None,
    };
    let (_, resolver) = resolver(
        &state.node.strategies(),
        body.strategy.as_deref(),
        body.strategies.as_deref(),
        body.trusted.as_deref(),
    )?;
    let filter = body
        .filter
        .as_ref()
        .map(Logic::compile)
        .transpose()
        .map_err(|e| filter_error(&e))?;
    let query = Query {
        schema: body.schema.as_deref(),
        as_of,
        filter: filter.as_ref(),
        ids: ids.as_deref(),
        limit: Some(limit.min(MAX_QUERY_LIMIT)),
    };
    let views: Vec<View> = state
        .node
        .read(|s| {
            let registry = s.schemas_as_of(schema_as_of);
            query::run(&s.index, &registry, &resolver, &query)
        })
        .map_err(|e| match e {
            rhizome_crdt::Error::UnknownSchema { .. } => expansion_error(&e),
            _ => filter_error(&e),
        })?;
    let body = serde_json::to_vec(&json!({ "views": views }))
        .map_err(|e| ApiError::internal(format!("cannot serialise views: {e}")))?;
    Ok(json_response(StatusCode::OK, body))
}
