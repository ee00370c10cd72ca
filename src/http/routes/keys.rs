//! Signing keys (API.md §6): `PUT /api/keys/{creator}` registers a
//! creator's Ed25519 public key, `GET` lists the keys in force,
//! `DELETE /api/keys/{creator}/{public_key}` revokes one.
//!
//! A registration is a delta made and signed by this node for the admin
//! who asked (see `rhizome_crdt::signature::keyring`): it replicates to
//! peers like any delta, and counts on a peer that trusts this node as a
//! key authority. From then on the creator's deltas must be signed.

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::on;
use rhizome_crdt::Timestamp;
use rhizome_crdt::signature::{self, PublicKey, SigningKey};
use serde::Deserialize;
use serde_json::json;

use super::Route;
use crate::auth::{Caller, Scope};
use crate::http::error::ApiError;
use crate::http::json::{JsonBody, json_response};
use crate::http::query::QueryParams;
use crate::http::state::AppState;

/// The routes of this module.
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::PUT,
        path: "/api/keys/{creator}",
        summary: "Register a creator's Ed25519 public key: from then on its deltas must be signed",
        long_lived: false,
        scope: Scope::Admin,
        handler: |m| on(m, register),
        operation: || {
            json!({
                "requestBody": {"required": true, "content": {"application/json": {"schema": {
                    "type": "object", "required": ["public_key"],
                    "properties": {"public_key": {"type": "string", "description": "32 bytes, base64url"}}}}}},
                "responses": {"201": {"description": "Registered (durable)", "content": {"application/json": {"schema": key_answer_schema()}}}}
            })
        },
    },
    Route {
        method: Method::GET,
        path: "/api/keys/{creator}",
        summary: "The keys in force for a creator",
        long_lived: false,
        scope: Scope::Read,
        handler: |m| on(m, list),
        operation: || {
            json!({"responses": {"200": {"description": "The keys (base64url)", "content": {"application/json": {"schema": {
                "type": "object", "required": ["creator", "keys", "signed"],
                "properties": {"creator": {"type": "string"}, "keys": {"type": "array", "items": {"type": "string"}},
                               "signed": {"type": "boolean", "description": "whether the creator's deltas must be signed"}}}}}}}})
        },
    },
    Route {
        method: Method::DELETE,
        path: "/api/keys/{creator}/{public_key}",
        summary: "Revoke one of a creator's keys (its deltas must still be signed, by another key)",
        long_lived: false,
        scope: Scope::Admin,
        handler: |m| on(m, revoke),
        operation: || json!({"responses": {"201": {"description": "Revoked (durable)", "content": {"application/json": {"schema": key_answer_schema()}}}}}),
    },
];

fn key_answer_schema() -> serde_json::Value {
    json!({"type": "object", "required": ["creator", "public_key", "id"],
           "properties": {"creator": {"type": "string"}, "public_key": {"type": "string"},
                          "id": {"type": "string", "description": "the key delta's id"}}})
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    public_key: String,
}

fn parse_key(text: &str) -> Result<PublicKey, ApiError> {
    PublicKey::from_base64url(text).map_err(|e| {
        ApiError::bad_request(
            "invalid_key",
            format!("public_key must be an Ed25519 public key, 32 bytes in base64url: {e}"),
        )
        .with("field", "public_key")
    })
}

fn node_key(state: &AppState) -> SigningKey {
    SigningKey::from_bytes(&state.node.secret_key().to_bytes())
}

async fn register(
    State(state): State<AppState>,
    caller: Caller,
    Path(creator): Path<String>,
    q: QueryParams,
    JsonBody(body): JsonBody<KeyBody>,
) -> Result<Response, ApiError> {
    q.deny_unknown(&[])?;
    let key = parse_key(&body.public_key)?;
    store(&state, &caller, &creator, &key, true).await
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path((creator, public_key)): Path<(String, String)>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    q.deny_unknown(&[])?;
    let key = parse_key(&public_key)?;
    if !state.node.read(|s| s.keys.keys_of(&creator).contains(&key)) {
        return Err(ApiError::not_found(format!(
            "{public_key} is not a key in force for {creator:?}"
        )));
    }
    store(&state, &caller, &creator, &key, false).await
}

async fn store(
    state: &AppState,
    caller: &Caller,
    creator: &str,
    key: &PublicKey,
    register: bool,
) -> Result<Response, ApiError> {
    if creator.is_empty() {
        return Err(ApiError::bad_request(
            "invalid_key",
            "the creator must not be empty",
        ));
    }
    let by = caller.creator_or("anonymous");
    let now = Timestamp::now().as_millis();
    let node = node_key(state);
    let delta = if register {
        signature::key_registration(creator, key, by, &node, now)
    } else {
        signature::key_revocation(creator, key, by, &node, now)
    }
    .map_err(|e| ApiError::from_delta_error(&e))?;
    let id = delta.id().as_str().to_owned();
    state.node.ingest(vec![delta]).await?;
    let body = json!({"creator": creator, "public_key": key.to_base64url(), "id": id});
    Ok(json_response(
        StatusCode::CREATED,
        body.to_string().into_bytes(),
    ))
}

async fn list(
    State(state): State<AppState>,
    Path(creator): Path<String>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    q.deny_unknown(&[])?;
    let (keys, signed) = state.node.read(|s| {
        (
            s.keys.keys_of(&creator),
            s.keys.requires_signature(&creator),
        )
    });
    let keys: Vec<String> = keys.iter().map(PublicKey::to_base64url).collect();
    let body = json!({"creator": creator, "keys": keys, "signed": signed});
    Ok(json_response(StatusCode::OK, body.to_string().into_bytes()))
}
