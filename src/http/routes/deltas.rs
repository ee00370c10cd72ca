//! Deltas: `POST /api/deltas` (ingest), `GET /api/deltas` (the changes
//! feed), `GET /api/deltas/count`, `GET /api/deltas/{id}` and `POST
//! /api/deltas/{id}/negate` (API.md §3).

use crate::auth::Scope;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::on;
use rhizome_crdt::codec::Format;
use rhizome_crdt::codec::json;
use rhizome_crdt::{Delta, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::Route;
use crate::auth::Caller;
use crate::changes::FeedFilter;
use crate::http::json::{JsonBytes, OptionalJsonBody, json_response};
use crate::http::query::QueryParams;
use crate::http::{ApiError, AppState};
use crate::ingest::Ingested;
use crate::store::Seq;

/// Page size of `GET /api/deltas` when `limit` is not given.
pub const DEFAULT_FEED_LIMIT: usize = 1000;
/// Largest page of `GET /api/deltas`; a larger `limit` is served as this.
pub const MAX_FEED_LIMIT: usize = 10_000;

/// The routes of this module.
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::POST,
        path: "/api/deltas",
        summary: "Store deltas (one, an array, or {\"deltas\": [...]}; any format), all or nothing",
        long_lived: false,
        scope: Scope::Write,
        handler: |m| on(m, post_deltas),
        operation: || {
            json!({
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/Delta"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/Delta"}},
                        {"type": "object", "required": ["deltas"], "properties": {
                            "deltas": {"type": "array", "items": {"$ref": "#/components/schemas/Delta"}}}}
                    ]}}}},
                "responses": {
                    "201": {"description": "Stored durably", "content": {"application/json": {"schema": {
                        "type": "object", "required": ["accepted", "duplicates"],
                        "properties": {
                            "accepted": {"type": "array", "items": {"type": "string"}},
                            "duplicates": {"type": "array", "items": {"type": "string"}}}}}}},
                    "400": {"description": "`invalid_delta` (with `index` and `field`) or `invalid_json`; nothing stored"},
                    "409": {"description": "`conflict`: an id is taken by other content (with `index` and `id`); nothing stored"}
                }
            })
        },
    },
    Route {
        method: Method::GET,
        path: "/api/deltas",
        summary: "The changes feed: deltas in arrival order after `since`, filtered",
        long_lived: false,
        scope: Scope::Read,
        handler: |m| on(m, get_changes),
        operation: || {
            json!({
                "parameters": feed_parameters(),
                "responses": {"200": {"description": "A page of the feed; continue with since=last_seq",
                    "content": {"application/json": {"schema": {
                        "type": "object", "required": ["deltas", "last_seq"],
                        "properties": {
                            "deltas": {"type": "array", "items": {"$ref": "#/components/schemas/Delta"}},
                            "last_seq": {"type": "integer", "minimum": 0}}}}}}}
            })
        },
    },
    Route {
        method: Method::GET,
        path: "/api/deltas/count",
        summary: "How many deltas the node stores",
        long_lived: false,
        scope: Scope::Read,
        handler: |m| on(m, count),
        operation: || {
            json!({"responses": {"200": {"description": "The count", "content": {"application/json": {"schema": {
                "type": "object", "required": ["count"],
                "properties": {"count": {"type": "integer", "minimum": 0}}}}}}}})
        },
    },
    Route {
        method: Method::GET,
        path: "/api/deltas/{id}",
        summary: "One delta by id",
        long_lived: false,
        scope: Scope::Read,
        handler: |m| on(m, get_delta),
        operation: || {
            json!({
                "parameters": [format_parameter()],
                "responses": {
                    "200": {"description": "The delta", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Delta"}}}},
                    "404": {"description": "No such delta"}}
            })
        },
    },
    Route {
        method: Method::POST,
        path: "/api/deltas/{id}/negate",
        summary: "Create and store a negation of a delta",
        long_lived: false,
        scope: Scope::Write,
        handler: |m| on(m, negate),
        operation: || {
            json!({
                "parameters": [format_parameter()],
                "requestBody": {"required": false, "content": {"application/json": {"schema": {
                    "type": "object", "additionalProperties": false,
                    "properties": {
                        "creator": {"type": "string", "description": "default: the node's host id"},
                        "reason": {"type": "string", "description": "stored as the pointer `reason`"}}}}}},
                "responses": {
                    "201": {"description": "The stored negation", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Delta"}}}},
                    "404": {"description": "No such delta"}}
            })
        },
    },
];

/// The OpenAPI `format` query parameter.
pub(crate) fn format_parameter() -> Value {
    json!({"name": "format", "in": "query", "required": false,
        "description": "output format of deltas (default v1); 400 not_expressible if a delta cannot be written in it",
        "schema": {"type": "string", "enum": ["v1", "v2", "rhizomedb"]}})
}

/// The OpenAPI `as_of` query parameter.
pub(crate) fn as_of_parameter() -> Value {
    json!({"name": "as_of", "in": "query", "required": false,
        "description": "time travel: the answer as of this time (ms since the Unix epoch)",
        "schema": {"type": "integer", "minimum": 1}})
}

fn query(name: &str, description: &str, ty: &str) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": {"type": ty}})
}

fn feed_parameters() -> Value {
    json!([
        query(
            "since",
            "sequence number to continue after (0: the start)",
            "integer"
        ),
        query(
            "limit",
            "page size (default 1000, at most 10000)",
            "integer"
        ),
        query(
            "entity",
            "comma-separated entity ids: deltas referencing any",
            "string"
        ),
        query("creator", "comma-separated creators", "string"),
        query("host", "comma-separated hosts", "string"),
        query("from", "timeCreated >= from (ms)", "integer"),
        query("to", "timeCreated <= to (ms)", "integer"),
        format_parameter(),
        query(
            "feed",
            "`sse` streams the feed as server-sent events",
            "string"
        ),
    ])
}

/// `format=` (default v1).
pub(crate) fn format_param(q: &QueryParams) -> Result<Format, ApiError> {
    Ok(q.get::<Format>("format")?.unwrap_or_default())
}

/// `as_of=` as a [`Timestamp`] (`None` when absent).
pub(crate) fn as_of_param(q: &QueryParams) -> Result<Option<Timestamp>, ApiError> {
    q.get::<u64>("as_of")?
        .map(|ms| Timestamp::new(ms).map_err(|e| ApiError::invalid_parameter("as_of", e)))
        .transpose()
}

/// Writes `deltas` as a JSON array in `format` into `out`; 400
/// `not_expressible` naming the first delta the format cannot say.
pub(crate) fn write_deltas<'a>(
    out: &mut Vec<u8>,
    deltas: impl IntoIterator<Item = &'a Delta>,
    format: Format,
) -> Result<(), ApiError> {
    out.push(b'[');
    for (i, d) in deltas.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::encode_into(d, format, out).map_err(|e| ApiError::from_delta_error(&e))?;
    }
    out.push(b']');
    Ok(())
}

/// One delta as a JSON answer in `format`.
fn delta_response(status: StatusCode, delta: &Delta, format: Format) -> Result<Response, ApiError> {
    let body = json::encode(delta, format).map_err(|e| ApiError::from_delta_error(&e))?;
    Ok(json_response(status, body))
}

// ------------------------------------------------------------------ ingest

#[derive(Serialize)]
struct IngestAnswer<'a> {
    accepted: Vec<&'a str>,
    duplicates: Vec<&'a str>,
}

/// The `201` body of an ingest: `{"accepted": [ids], "duplicates": [ids]}`.
pub fn ingest_answer(ingested: &Ingested) -> Vec<u8> {
    let answer = IngestAnswer {
        accepted: ingested.accepted.iter().map(|d| d.as_str()).collect(),
        duplicates: ingested.duplicates.iter().map(|d| d.as_str()).collect(),
    };
    // Serialising strings into a Vec cannot fail.
    serde_json::to_vec(&answer).unwrap_or_default()
}

async fn post_deltas(
    State(state): State<AppState>,
    caller: Caller,
    q: QueryParams,
    JsonBytes(body): JsonBytes,
) -> Result<Response, ApiError> {
    q.deny_unknown(&[])?;
    let deltas = json::decode_batch(&body).map_err(|e| {
        crate::metrics::global().rejected("invalid", 1);
        match (&e, e.batch_index()) {
            // Not JSON at all, outside any delta.
            (rhizome_crdt::Error::Json(message), None) => ApiError::bad_request(
                "invalid_json",
                format!("the body is not valid JSON: {message}"),
            ),
            _ => ApiError::from_delta_error(&e),
        }
    })?;
    caller.check_creators(&deltas)?;
    let ingested = state.node.ingest(deltas).await?;
    Ok(json_response(StatusCode::CREATED, ingest_answer(&ingested)))
}

// ------------------------------------------------------------ changes feed

/// The parameters of a changes-feed request (`GET /api/deltas`, also read
/// by the SSE feed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedQuery {
    /// Continue after this sequence number.
    pub since: Seq,
    /// Page size, at most [`MAX_FEED_LIMIT`].
    pub limit: usize,
    /// Which deltas.
    pub filter: FeedFilter,
    /// Output format.
    pub format: Format,
}

impl FeedQuery {
    /// The parameter names a feed request may carry.
    pub const PARAMETERS: &[&str] = &[
        "since", "limit", "entity", "creator", "host", "from", "to", "format", "feed",
    ];

    /// Reads `since`, `limit`, `entity`, `creator`, `host`, `from`, `to` and
    /// `format` (unknown parameters are the caller's to refuse).
    pub fn parse(q: &QueryParams) -> Result<FeedQuery, ApiError> {
        let limit = q.get_or("limit", DEFAULT_FEED_LIMIT)?;
        if limit == 0 {
            return Err(ApiError::invalid_parameter("limit", "must be at least 1"));
        }
        let (from, to) = (q.get::<u64>("from")?, q.get::<u64>("to")?);
        Ok(FeedQuery {
            since: q.get_or("since", 0)?,
            limit: limit.min(MAX_FEED_LIMIT),
            filter: FeedFilter {
                entities: q.list("entity")?,
                creators: q.list("creator")?,
                hosts: q.list("host")?,
                from,
                to,
            },
            format: format_param(q)?,
        })
    }
}

async fn get_changes(
    State(state): State<AppState>,
    q: QueryParams,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    q.deny_unknown(FeedQuery::PARAMETERS)?;
    match q.str("feed")? {
        None => {}
        // The real-time layer streams the feed (docs/realtime.md).
        Some("sse") => return Ok(crate::realtime::sse::sse_changes(state, q, &headers).await),
        Some(other) => {
            return Err(ApiError::invalid_parameter(
                "feed",
                format!("must be `sse` (got {other:?})"),
            ));
        }
    }
    let feed = FeedQuery::parse(&q)?;
    // The page holds `Arc`s: the lock is released before serialising.
    let page = state.node.changes(feed.since, feed.limit, &feed.filter);
    let mut body = Vec::with_capacity(64 + page.deltas.len() * 256);
    body.extend_from_slice(b"{\"deltas\":");
    write_deltas(
        &mut body,
        page.deltas.iter().map(|(_, d)| &**d),
        feed.format,
    )?;
    body.extend_from_slice(format!(",\"last_seq\":{}}}", page.last_seq).as_bytes());
    Ok(json_response(StatusCode::OK, body))
}

async fn count(State(state): State<AppState>, q: QueryParams) -> Result<Response, ApiError> {
    q.deny_unknown(&[])?;
    let body = json!({"count": state.node.delta_count()}).to_string();
    Ok(json_response(StatusCode::OK, body.into_bytes()))
}

fn unknown_delta(id: &str) -> ApiError {
    ApiError::not_found(format!("no delta with id {id:?} is stored")).with("id", id)
}

async fn get_delta(
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    q.deny_unknown(&["format"])?;
    let format = format_param(&q)?;
    let delta = state.node.get(&id).ok_or_else(|| unknown_delta(&id))?;
    delta_response(StatusCode::OK, &delta, format)
}

// ------------------------------------------------------------------ negate

/// The optional body of `POST /api/deltas/{id}/negate`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct NegateBody {
    /// The negation's creator; default: the caller's principal, or the
    /// node's host id when authentication is off.
    creator: Option<String>,
    /// Why; stored as the pointer `reason` → this string.
    reason: Option<String>,
}

/// The role of the pointer that carries a negation's reason.
pub const REASON_ROLE: &str = "reason";

async fn negate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    q: QueryParams,
    OptionalJsonBody(body): OptionalJsonBody<NegateBody>,
) -> Result<Response, ApiError> {
    q.deny_unknown(&["format"])?;
    let format = format_param(&q)?;
    let body = body.unwrap_or_default();
    if state.node.get(&id).is_none() {
        return Err(unknown_delta(&id));
    }
    let node = &state.node;
    let creator = body
        .creator
        .unwrap_or_else(|| caller.creator_or(node.host_id()).to_owned());
    let mut builder = Delta::builder(creator, node.host_id()).negate(&id);
    if let Some(reason) = body.reason {
        builder = builder.pointer(REASON_ROLE, reason);
    }
    let negation = Arc::new(
        builder
            .build()
            .map_err(|e| ApiError::from_delta_error(&e))?,
    );
    caller.check_creators(std::slice::from_ref(&*negation))?;
    // Check the format can say it before storing it.
    let answer = json::encode(&negation, format).map_err(|e| ApiError::from_delta_error(&e))?;
    node.ingest(vec![Delta::clone(&negation)]).await?;
    Ok(json_response(StatusCode::CREATED, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feed_query_defaults_caps_and_lists() {
        let f = FeedQuery::parse(&QueryParams::parse("")).unwrap();
        assert_eq!(
            (f.since, f.limit, f.format),
            (0, DEFAULT_FEED_LIMIT, Format::V1)
        );
        let f = FeedQuery::parse(&QueryParams::parse(
            "since=7&limit=999999&creator=a,b&entity=e&from=3&to=9&format=v2",
        ))
        .unwrap();
        assert_eq!(f.limit, MAX_FEED_LIMIT);
        assert_eq!(f.filter.creators, ["a", "b"]);
        assert_eq!((f.filter.from, f.filter.to, f.since), (Some(3), Some(9), 7));
        assert_eq!(f.format, Format::V2);
        for bad in ["limit=0", "since=-1", "format=v3", "from=x"] {
            assert_eq!(
                FeedQuery::parse(&QueryParams::parse(bad))
                    .unwrap_err()
                    .code(),
                "invalid_parameter",
                "{bad}"
            );
        }
    }
}
