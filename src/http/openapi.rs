//! The OpenAPI 3 description of the API, built from the route table
//! ([`routes::all`]), so every route is described and every description is
//! routed.

use serde_json::{Map, Value, json};

use super::routes;

/// Error statuses every operation may answer.
const COMMON_ERRORS: &[(&str, &str)] = &[
    ("400", "Bad request (invalid JSON, parameter or delta)"),
    ("408", "The request took longer than the request timeout"),
    ("413", "The body is larger than the body limit"),
    ("500", "A bug in the node"),
];

/// The OpenAPI 3.0 document (`GET /api/openapi.json`).
///
/// ```
/// let doc = rhizome::http::openapi::document();
/// assert!(doc["paths"]["/api/health"]["get"]["responses"]["200"].is_object());
/// ```
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in routes::all() {
        let mut operation = match (route.operation)() {
            Value::Object(o) => o,
            _ => Map::new(),
        };
        operation.insert("summary".into(), Value::from(route.summary));
        // The scope the route needs when authentication is on (API.md §6).
        operation.insert("x-rhizome-scope".into(), Value::from(route.scope.as_str()));
        if route.scope != crate::auth::Scope::Open {
            operation.insert("security".into(), json!([{"bearer": []}]));
        }
        let id = operation_id(route.method.as_str(), route.path);
        operation.insert("operationId".into(), Value::from(id));
        let params: Vec<Value> = path_parameters(route.path)
            .map(|name| {
                json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}})
            })
            .collect();
        if !params.is_empty() {
            let list = operation
                .entry("parameters")
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = list {
                list.extend(params);
            }
        }
        let responses = operation
            .entry("responses")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(responses) = responses {
            for (status, description) in COMMON_ERRORS {
                responses
                    .entry(*status)
                    .or_insert_with(|| error_response(description));
            }
        }
        let item = paths
            .entry(route.path)
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(item) = item {
            item.insert(
                route.method.as_str().to_ascii_lowercase(),
                Value::Object(operation),
            );
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Rhizome node API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A CRDT-centric replication engine and database. Errors are {\"error\": {\"code\", \"message\", ...}}."
        },
        "paths": paths,
        "components": {"securitySchemes": {"bearer": {
            "type": "http", "scheme": "bearer",
            "description": "Only when the node runs with RHIZOME_AUTH (docs/security.md); EventSource and WebSocket clients may send ?token= instead"
        }}, "schemas": {"Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "snake_case, stable"},
                    "message": {"type": "string", "description": "a human sentence"}
                },
                "additionalProperties": true
            }}
        }, "Delta": {
            "type": "object",
            "description": "A delta (API.md §1) in v1 ({id, timeCreated, host, creator, pointers: [...]}), v2 (pointers as an object) or rhizomedb ({id, timestamp, author, system, pointers}) format",
            "required": ["id", "pointers"],
            "properties": {"id": {"type": "string"}, "pointers": {}},
            "additionalProperties": true
        }, "HyperSchema": super::routes::schemas::schema_component()}}
    })
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    })
}

/// The `{name}` segments of a path template.
fn path_parameters(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
}

/// `get_api_deltas_id` for `GET /api/deltas/{id}`.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_ascii_lowercase();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        id.push('_');
        id.extend(
            seg.chars()
                .filter(|c| *c != '{' && *c != '}')
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }),
        );
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_route_is_described_and_every_description_is_a_route() {
        let doc = document();
        let described: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .unwrap()
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .unwrap()
                    .keys()
                    .map(move |m| (m.to_ascii_uppercase(), path.clone()))
            })
            .collect();
        let routed: BTreeSet<(String, String)> = routes::all()
            .map(|r| (r.method.as_str().to_owned(), r.path.to_owned()))
            .collect();
        assert_eq!(described, routed);
        assert_eq!(
            routed.len(),
            routes::all().count(),
            "a route is listed twice"
        );
        for (_, item) in doc["paths"].as_object().unwrap() {
            for (_, op) in item.as_object().unwrap() {
                assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()));
                assert!(op["responses"]["500"].is_object());
            }
        }
    }

    #[test]
    fn path_parameters_and_ids() {
        assert_eq!(
            path_parameters("/api/deltas/{id}/negate").collect::<Vec<_>>(),
            ["id"]
        );
        assert_eq!(operation_id("GET", "/api/deltas/{id}"), "get_api_deltas_id");
        assert_eq!(
            operation_id("GET", "/api/openapi.json"),
            "get_api_openapi_json"
        );
    }
}
