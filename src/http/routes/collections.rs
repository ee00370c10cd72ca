//! Typed collections (API.md §3): `PUT /api/collections/{name}` (create),
//! `PUT /api/collections/{name}/{id}` (update), `DELETE
//! /api/collections/{name}/{id}`, `GET /api/collections/{name}/ids`, `GET
//! /api/collections/{name}/{id}`.
//!
//! A collection `NAME` is typed by the registered schema `NAME` (404 if
//! there is none): a property outside its `contexts` is refused, a
//! `{"primitive": T}` property must hold a JSON value of type T, a
//! `{"schema": S}` property holds the id of the referenced entity (stored as
//! a reference). Membership is a delta on `_collection/NAME` (property
//! `members`) pointing at the entity (context `_collections`). A write
//! stores, in one declared transaction, the membership (on create) and one
//! delta per property whose value differs from the current view; a delete
//! negates the membership and every visible delta of the entity under the
//! schema's properties (all of them without `contexts`).

use crate::auth::{Caller, Scope};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::on;
use rhizome_crdt::schema::{HyperSchema, PrimitiveKind, Transform};
use rhizome_crdt::{Delta, HyperviewOptions, Number, Target, View, ViewOptions, ViewResolver};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Route;
use crate::http::json::{JsonBody, json_response};
use crate::http::query::QueryParams;
use crate::http::{ApiError, AppState};

/// The entity a collection's memberships are filed on: `_collection/NAME`.
pub fn collection_entity(name: &str) -> String {
    format!("_collection/{name}")
}

/// The property of `_collection/NAME` memberships are filed under.
pub const MEMBERS: &str = "members";
/// The context of the membership pointer at the member.
pub const MEMBER_CONTEXT: &str = "_collections";

fn name_parameter() -> Value {
    json!({"name": "name", "in": "path", "required": true, "description": "the collection (and its schema's) name", "schema": {"type": "string"}})
}

fn id_parameter() -> Value {
    json!({"name": "id", "in": "path", "required": true, "description": "the entity", "schema": {"type": "string"}})
}

fn body_schema() -> Value {
    json!({"required": true, "content": {"application/json": {"schema": {
        "type": "object", "required": ["properties"], "additionalProperties": false,
        "properties": {"id": {"type": "string"}, "properties": {"type": "object"}}}}}})
}

fn view_response() -> Value {
    json!({"description": "The entity's view under the collection's schema", "content": {"application/json": {"schema": {
        "type": "object", "required": ["id", "properties"],
        "properties": {"id": {"type": "string"}, "properties": {"type": "object"}}}}}})
}

/// The routes of this module.
pub const ROUTES: &[Route] = &[
    Route {
        method: Method::PUT,
        path: "/api/collections/{name}",
        summary: "Create an entity of a typed collection",
        long_lived: false,
        scope: Scope::Write,
        handler: |m| on(m, create),
        operation: || {
            json!({"parameters": [name_parameter()], "requestBody": body_schema(),
                "responses": {"201": view_response(),
                    "404": {"description": "No schema of that name"},
                    "409": {"description": "The id is already a member"},
                    "422": {"description": "invalid_property: unknown property or wrong type"}}})
        },
    },
    Route {
        method: Method::GET,
        path: "/api/collections/{name}/ids",
        summary: "Ids of a collection's members, sorted",
        long_lived: false,
        scope: Scope::Read,
        handler: |m| on(m, ids),
        operation: || {
            json!({"parameters": [name_parameter()],
                "responses": {"200": {"description": "The ids", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["ids"],
                    "properties": {"ids": {"type": "array", "items": {"type": "string"}}}}}}}}})
        },
    },
    Route {
        method: Method::PUT,
        path: "/api/collections/{name}/{id}",
        summary: "Update a member of a typed collection (changed properties only)",
        long_lived: false,
        scope: Scope::Write,
        handler: |m| on(m, update),
        operation: || {
            json!({"parameters": [name_parameter(), id_parameter()], "requestBody": body_schema(),
                "responses": {"200": view_response(),
                    "404": {"description": "No such schema, or the entity is not a member"},
                    "422": {"description": "invalid_property: unknown property or wrong type"}}})
        },
    },
    Route {
        method: Method::GET,
        path: "/api/collections/{name}/{id}",
        summary: "One member's view under the collection's schema",
        long_lived: false,
        scope: Scope::Read,
        handler: |m| on(m, read),
        operation: || {
            json!({"parameters": [name_parameter(), id_parameter()],
                "responses": {"200": view_response(), "404": {"description": "Not a member"}}})
        },
    },
    Route {
        method: Method::DELETE,
        path: "/api/collections/{name}/{id}",
        summary: "Remove a member: negate its membership and its deltas in the collection",
        long_lived: false,
        scope: Scope::Write,
        handler: |m| on(m, delete),
        operation: || {
            json!({"parameters": [name_parameter(), id_parameter()],
                "responses": {"200": {"description": "The negations' ids", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["negated"],
                    "properties": {"negated": {"type": "array", "items": {"type": "string"}}}}}}},
                    "404": {"description": "Not a member"}}})
        },
    },
];

/// The body of a create or update.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    id: Option<String>,
    properties: Map<String, Value>,
}

fn schema_of(state: &AppState, name: &str) -> Result<Arc<HyperSchema>, ApiError> {
    state
        .node
        .read(|s| s.schemas.get(name).cloned())
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "no collection {name:?}: no schema of that name is registered"
            ))
            .with("collection", name)
        })
}

/// The membership deltas of `id` in `name` visible now.
fn memberships(state: &AppState, name: &str, id: &str) -> Vec<Arc<Delta>> {
    let entity = collection_entity(name);
    let options = HyperviewOptions {
        contexts: Some(vec![Arc::from(MEMBERS)]),
        ..HyperviewOptions::default()
    };
    state.node.read(|s| {
        s.index
            .hyperview(&entity, &options)
            .properties
            .get(MEMBERS)
            .into_iter()
            .flatten()
            .filter(|d| {
                d.value_for(&entity, MEMBERS)
                    .is_some_and(|t| target_id(t) == Some(id))
            })
            .cloned()
            .collect()
    })
}

fn target_id(t: &Target) -> Option<&str> {
    match t {
        Target::Reference { id, .. } => Some(id),
        _ => None,
    }
}

fn not_member(name: &str, id: &str) -> ApiError {
    ApiError::not_found(format!("{id:?} is not a member of collection {name:?}"))
        .with("collection", name)
        .with("id", id)
}

fn invalid_property(property: &str, problem: impl std::fmt::Display) -> ApiError {
    ApiError::unprocessable(
        "invalid_property",
        format!("property {property:?} {problem}"),
    )
    .with("property", property)
}

/// The target a body value is stored as, and the JSON its view shows, or
/// 422 naming the property.
fn typed(schema: &HyperSchema, property: &str, value: &Value) -> Result<(Target, Value), ApiError> {
    if !schema.keeps(property) {
        return Err(invalid_property(
            property,
            format!("is not a property of schema {:?}", &*schema.name),
        ));
    }
    let scalar = |value: &Value| -> Result<(Target, Value), ApiError> {
        match value {
            Value::String(s) => Ok((Target::from(s.as_str()), value.clone())),
            Value::Bool(b) => Ok((Target::from(*b), value.clone())),
            Value::Null => Ok((Target::from(()), Value::Null)),
            Value::Number(n) => {
                let number = Number::from_json(n)
                    .ok_or_else(|| invalid_property(property, "is not a finite number"))?;
                let shown = match number {
                    Number::Int(i) => json!(i),
                    Number::Float(f) => json!(f),
                };
                Ok((Target::from(number), shown))
            }
            _ => Err(invalid_property(
                property,
                "must be a string, number, boolean or null",
            )),
        }
    };
    match schema.transform.get(property) {
        None => scalar(value),
        Some(Transform::Schema(_)) => match value {
            // No context: the reference is not filed on the target.
            Value::String(id) if !id.is_empty() => Ok((
                Target::Reference {
                    id: Arc::from(id.as_str()),
                    context: None,
                },
                json!({"id": id}),
            )),
            _ => Err(invalid_property(
                property,
                "must be the id (a non-empty string) of the entity it references",
            )),
        },
        Some(Transform::Primitive(p)) => {
            let ok = match p.kind {
                PrimitiveKind::String => value.is_string(),
                PrimitiveKind::Boolean => value.is_boolean(),
                PrimitiveKind::Number => value.is_number(),
                PrimitiveKind::Integer => value
                    .as_f64()
                    .is_some_and(|f| f.fract() == 0.0 && f.is_finite()),
            };
            if !ok {
                return Err(invalid_property(property, format!("must be of type {p}")));
            }
            scalar(value)
        }
    }
}

/// The current view of `id` (last-write-wins, no expansion) as JSON values.
fn current(state: &AppState, id: &str) -> Map<String, Value> {
    let hv = state
        .node
        .read(|s| s.index.hyperview(id, &HyperviewOptions::default()));
    let view: View = ViewResolver::default().resolve(&hv);
    match serde_json::to_value(&view) {
        Ok(Value::Object(mut o)) => match o.remove("properties") {
            Some(Value::Object(p)) => p,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

/// Stores the membership (if `join`) and the changed properties of `body`
/// in one declared transaction (nothing if nothing changed).
async fn write(
    state: &AppState,
    caller: &Caller,
    name: &str,
    schema: &HyperSchema,
    id: &str,
    properties: &Map<String, Value>,
    join: bool,
) -> Result<(), ApiError> {
    let node = &state.node;
    let host = node.host_id();
    let creator = caller.creator_or(host);
    let now = current(state, id);
    let tx = format!("tx-{}", uuid::Uuid::now_v7());
    let mut members = Vec::new();
    if join {
        members.push(
            Delta::builder(creator, host)
                .in_transaction(tx.as_str())
                .set_property(
                    collection_entity(name),
                    MEMBERS,
                    Target::reference(id, MEMBER_CONTEXT),
                )
                .build(),
        );
    }
    for (property, value) in properties {
        let (target, shown) = typed(schema, property, value)?;
        if now.get(property) == Some(&shown) {
            continue;
        }
        members.push(
            Delta::builder(creator, host)
                .in_transaction(tx.as_str())
                .set_property(id, property.as_str(), target)
                .build(),
        );
    }
    if members.is_empty() {
        return Ok(());
    }
    let size = members.len() as u64;
    members.push(
        Delta::builder(creator, host)
            .declare_transaction(tx.as_str(), size)
            .build(),
    );
    let deltas = members
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::from_delta_error(&e))?;
    node.ingest(deltas).await?;
    Ok(())
}

/// The member's view under the collection's schema, or 404.
fn answer(
    state: &AppState,
    name: &str,
    id: &str,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let view = state
        .node
        .live_view(
            id,
            Some(name),
            &ViewOptions::default(),
            &ViewResolver::default(),
        )
        .map_err(|e| super::entities::expansion_error(&e))?
        .unwrap_or_else(|| {
            Arc::new(View {
                id: Arc::from(id),
                properties: Default::default(),
            })
        });
    let body = serde_json::to_vec(&*view)
        .map_err(|e| ApiError::internal(format!("cannot serialise a view: {e}")))?;
    Ok(json_response(status, body))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    q: QueryParams,
    JsonBody(body): JsonBody<Body>,
) -> Result<Response, ApiError> {
    q.deny_unknown(&[])?;
    let schema = schema_of(&state, &name)?;
    let id = match body.id {
        Some(id) if id.is_empty() => {
            return Err(
                ApiError::bad_request("invalid_body", "id must not be empty").with("field", "id"),
            );
        }
        Some(id) => id,
        None => uuid::Uuid::now_v7().to_string(),
    };
    if !memberships(&state, &name, &id).is_empty() {
        return Err(ApiError::conflict(format!(
            "{id:?} is already a member of collection {name:?}; update it with PUT /api/collections/{name}/{id}"
        ))
        .with("id", id.as_str()));
    }
    write(&state, &caller, &name, &schema, &id, &body.properties, true).await?;
    answer(&state, &name, &id, StatusCode::CREATED)
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
    q: QueryParams,
    JsonBody(body): JsonBody<Body>,
) -> Result<Response, ApiError> {
    q.deny_unknown(&[])?;
    let schema = schema_of(&state, &name)?;
    if body.id.as_deref().is_some_and(|b| b != id) {
        return Err(
            ApiError::bad_request("invalid_body", "id differs from the path's").with("field", "id"),
        );
    }
    if memberships(&state, &name, &id).is_empty() {
        return Err(not_member(&name, &id));
    }
    write(
        &state,
        &caller,
        &name,
        &schema,
        &id,
        &body.properties,
        false,
    )
    .await?;
    answer(&state, &name, &id, StatusCode::OK)
}

async fn read(
    State(state): State<AppState>,
    Path((name, id)): Path<(String, String)>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    q.deny_unknown(&[])?;
    schema_of(&state, &name)?;
    if memberships(&state, &name, &id).is_empty() {
        return Err(not_member(&name, &id));
    }
    answer(&state, &name, &id, StatusCode::OK)
}

async fn ids(
    State(state): State<AppState>,
    Path(name): Path<String>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    q.deny_unknown(&[])?;
    schema_of(&state, &name)?;
    let entity = collection_entity(&name);
    let options = HyperviewOptions {
        contexts: Some(vec![Arc::from(MEMBERS)]),
        ..HyperviewOptions::default()
    };
    let mut ids: Vec<Arc<str>> = state.node.read(|s| {
        s.index
            .hyperview(&entity, &options)
            .properties
            .get(MEMBERS)
            .into_iter()
            .flatten()
            .filter_map(|d| {
                d.value_for(&entity, MEMBERS)
                    .and_then(target_id)
                    .map(Arc::from)
            })
            .collect()
    });
    ids.sort();
    ids.dedup();
    let ids: Vec<&str> = ids.iter().map(|s| &**s).collect();
    Ok(json_response(
        StatusCode::OK,
        json!({ "ids": ids }).to_string().into_bytes(),
    ))
}

async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path((name, id)): Path<(String, String)>,
    q: QueryParams,
) -> Result<Response, ApiError> {
    q.deny_unknown(&[])?;
    let schema = schema_of(&state, &name)?;
    let joined = memberships(&state, &name, &id);
    if joined.is_empty() {
        return Err(not_member(&name, &id));
    }
    let options = HyperviewOptions {
        contexts: schema.contexts.clone(),
        ..HyperviewOptions::default()
    };
    let data = state.node.read(|s| s.index.hyperview(&id, &options));
    let host = state.node.host_id();
    let creator = caller.creator_or(host);
    let negations = joined
        .iter()
        .chain(data.properties.values().flatten())
        .map(|d| {
            Delta::builder(creator, host)
                .negate(d.id().as_str())
                .build()
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ApiError::from_delta_error(&e))?;
    let negated: Vec<String> = negations
        .iter()
        .map(|d| d.id().as_str().to_owned())
        .collect();
    state.node.ingest(negations).await?;
    Ok(json_response(
        StatusCode::OK,
        json!({ "negated": negated }).to_string().into_bytes(),
    ))
}
