//! Schemas, schema views and queries through the HTTP API (API.md §2
//! "Schemas", §3) against a real server on a free port.

use std::net::SocketAddr;

use serde_json::{Value, json};

mod common;

use common::{Reply, TestServer, get, post, request};

fn put(addr: SocketAddr, path: &str, body: &Value) -> Reply {
    request(
        addr,
        "PUT",
        path,
        Some("application/json"),
        body.to_string().as_bytes(),
    )
}

fn delta(id: &str, t: u64, entity: &str, prop: &str, value: Value) -> Value {
    json!({"id": id, "timeCreated": t, "host": "h1", "creator": "alice", "pointers": [
        {"localContext": "entity", "target": entity, "targetContext": prop},
        {"localContext": prop, "target": value}]})
}

/// A delta from `entity`.`prop` to the entity `target` (seen from it as `back`).
fn link(id: &str, t: u64, entity: &str, prop: &str, target: &str, back: &str) -> Value {
    json!({"id": id, "timeCreated": t, "host": "h1", "creator": "alice", "pointers": [
        {"localContext": "entity", "target": entity, "targetContext": prop},
        {"localContext": prop, "target": target, "targetContext": back}]})
}

fn store(addr: SocketAddr, deltas: &[Value]) {
    post(addr, "/api/deltas", &json!(deltas)).ok(201);
}

// --------------------------------------------------------------- schemas

#[test]
fn schemas_register_list_read_and_refuse() {
    let s = TestServer::start();
    let a = s.addr;
    // Data is not schemas.
    store(
        a,
        &[
            delta("d1", 1000, "p1", "name", json!("Ridley")),
            link("d2", 1000, "m1", "director", "p1", "directed"),
        ],
    );
    assert_eq!(get(a, "/api/schemas").ok(200), json!({"schemas": []}));
    get(a, "/api/schemas/Person").error(404, "not_found");
    let person = json!({"name": "Person", "select": "by-target-context", "contexts": ["name"]});
    let r = put(a, "/api/schemas/Person", &person).ok(201);
    assert_eq!(
        r,
        json!({"name": "Person", "select": "by-target-context", "contexts": ["name"], "max_depth": 3})
    );
    assert_eq!(get(a, "/api/schemas/Person").ok(200), r);
    assert_eq!(
        get(a, "/api/schemas").ok(200),
        json!({"schemas": ["Person"]})
    );
    // The registration is a delta: in the feed, on `_schema/Person`.
    let feed = get(a, "/api/deltas?entity=_schema/Person").ok(200);
    assert_eq!(feed["deltas"].as_array().unwrap().len(), 1);

    // Bad shape, unknown select, unknown schema named, name != path.
    let e = put(a, "/api/schemas/X", &json!({"name": "X"})).error(422, "invalid_schema");
    assert_eq!(e["field"], "select");
    let e = put(
        a,
        "/api/schemas/X",
        &json!({"name": "X", "select": "by-magic"}),
    )
    .error(422, "invalid_schema");
    assert_eq!(e["field"], "select");
    let e = put(
        a,
        "/api/schemas/X",
        &json!({"name": "X", "select": "by-target-context", "transform": {"p": {"schema": "Nope"}}}),
    )
    .error(422, "invalid_schema");
    assert_eq!(e["schema"], "Nope");
    let e = put(
        a,
        "/api/schemas/Y",
        &json!({"name": "X", "select": "by-target-context"}),
    )
    .error(422, "invalid_schema");
    assert_eq!(e["field"], "name");
    put(a, "/api/schemas/X", &json!(["not", "an", "object"])).error(422, "invalid_schema");
    assert_eq!(
        get(a, "/api/schemas").ok(200),
        json!({"schemas": ["Person"]})
    );

    // Cycles are named.
    let movie = json!({"name": "Movie", "select": "by-target-context",
        "transform": {"director": {"schema": "Person"}}});
    put(a, "/api/schemas/Movie", &movie).ok(201);
    let person_cyclic = json!({"name": "Person", "select": "by-target-context",
        "transform": {"directed": {"schema": "Movie"}}});
    let e = put(a, "/api/schemas/Person", &person_cyclic).error(422, "invalid_schema");
    assert_eq!(e["cycle"], "Person -> Movie -> Person", "{e}");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("Person -> Movie -> Person")
    );
    let self_cycle = json!({"name": "Person", "select": "by-target-context",
        "transform": {"friend": {"schema": "Person"}}});
    let e = put(a, "/api/schemas/Person", &self_cycle).error(422, "invalid_schema");
    assert_eq!(e["cycle"], "Person -> Person");
}

#[test]
fn schemas_as_of_a_time_and_replacement() {
    let s = TestServer::start();
    let a = s.addr;
    let v1 = json!({"name": "P", "select": "by-target-context", "contexts": ["name"]});
    put(a, "/api/schemas/P", &v1).ok(201);
    // Registered "now": as of long ago there was none.
    assert_eq!(
        get(a, "/api/schemas?as_of=1000").ok(200),
        json!({"schemas": []})
    );
    get(a, "/api/schemas/P?as_of=1000").error(404, "not_found");
    let t1 = get(a, "/api/deltas?entity=_schema/P").ok(200)["deltas"][0]["timeCreated"]
        .as_u64()
        .unwrap();
    // Replaced at once (the same millisecond is fine: the new one sorts later).
    let v2 = json!({"name": "P", "select": "by-target-context", "contexts": ["age"]});
    put(a, "/api/schemas/P", &v2).ok(201);
    assert_eq!(get(a, "/api/schemas/P").ok(200)["contexts"], json!(["age"]));
    assert_eq!(
        get(a, &format!("/api/schemas/P?as_of={t1}")).ok(200)["contexts"],
        json!(["name"])
    );
    get(a, "/api/schemas?as_of=0").error(400, "invalid_parameter");
}

// ------------------------------------------------------ views under schemas

/// Movie m1 (title, year, director → p1), Person p1 (name), schemas
/// Person (name) and Movie (title, director → Person).
fn movie_graph(a: SocketAddr) {
    store(
        a,
        &[
            delta("n1", 1000, "p1", "name", json!("Ridley")),
            delta("n2", 1000, "p1", "born", json!(1937)),
            delta("t1", 1000, "m1", "title", json!("Alien")),
            delta("y1", 1000, "m1", "year", json!(1979)),
            link("l1", 1000, "m1", "director", "p1", "directed"),
            delta("t2", 1000, "m2", "year", json!(1986)),
        ],
    );
    put(
        a,
        "/api/schemas/Person",
        &json!({"name": "Person", "select": "by-target-context", "contexts": ["name"]}),
    )
    .ok(201);
    put(
        a,
        "/api/schemas/Movie",
        &json!({"name": "Movie", "select": "by-target-context", "contexts": ["title", "director"],
            "transform": {"director": {"schema": "Person"}}}),
    )
    .ok(201);
}

#[test]
fn views_and_hyperviews_expand_nested_entities_under_a_schema() {
    let s = TestServer::start();
    let a = s.addr;
    movie_graph(a);
    assert_eq!(
        get(a, "/api/view/m1?schema=Movie").ok(200),
        json!({"id": "m1", "properties": {"title": "Alien",
            "director": {"id": "p1", "properties": {"name": "Ridley"}}}})
    );
    // Without a schema: no projection, no expansion.
    assert_eq!(
        get(a, "/api/view/m1").ok(200)["properties"]["director"],
        json!({"id": "p1"})
    );
    let hv = get(a, "/api/hyperview/m1?schema=Movie").ok(200);
    assert_eq!(
        hv["properties"]["director"][0]["pointers"][0],
        json!({"localContext": "director", "targetContext": "directed",
            "target": {"id": "p1", "properties": {"name": [
                {"id": "n1", "timeCreated": 1000, "host": "h1", "creator": "alice", "pointers": [
                    {"localContext": "entity", "target": "p1", "targetContext": "name"},
                    {"localContext": "name", "target": "Ridley"}]}]}}})
    );
    assert!(hv["properties"].get("year").is_none());
    let r = get(a, "/api/hyperview/m1?schema=Movie&format=rhizomedb").ok(200);
    assert_eq!(
        r["properties"]["director"][0]["pointers"][0]["target"]["properties"]["name"][0]["id"],
        "n1"
    );
    let e = get(a, "/api/hyperview/m1?schema=Movie&format=v2").error(400, "not_expressible");
    assert_eq!(e["id"], "l1");
    // A schema hyperview without expansion is fine in v2.
    get(a, "/api/hyperview/p1?schema=Person&format=v2").ok(200);

    // Unknown schema, missing entity, empty projection.
    let e = get(a, "/api/view/m1?schema=Nope").error(400, "unknown_schema");
    assert_eq!(e["schema"], "Nope");
    get(a, "/api/hyperview/m1?schema=Nope").error(400, "unknown_schema");
    get(a, "/api/view/nobody?schema=Movie").error(404, "not_found");
    get(a, "/api/view/m2?schema=Movie").error(404, "not_found");
    get(a, "/api/hyperview/m2?schema=Movie").error(404, "not_found");
    get(a, "/api/view/m1?schema_as_of=5").error(400, "invalid_parameter");

    // Expansion at the query's as_of: before the director's name, the
    // nested entity exists (the link is a delta on it) with nothing under
    // the schema's projection.
    store(
        a,
        &[
            delta("n0", 500, "m3", "title", json!("Early")),
            link("l3", 500, "m3", "director", "p1", "directed"),
        ],
    );
    assert_eq!(
        get(a, "/api/view/m3?schema=Movie&as_of=600").ok(200),
        json!({"id": "m3", "properties": {"title": "Early",
            "director": {"id": "p1", "properties": {}}}})
    );
    assert_eq!(
        get(a, "/api/view/m3?schema=Movie").ok(200)["properties"]["director"]["properties"],
        json!({"name": "Ridley"})
    );
}

#[test]
fn schema_as_of_selects_an_older_definition() {
    let s = TestServer::start();
    let a = s.addr;
    movie_graph(a);
    let t = get(a, "/api/deltas?entity=_schema/Person").ok(200)["deltas"][0]["timeCreated"]
        .as_u64()
        .unwrap();
    put(
        a,
        "/api/schemas/Person",
        &json!({"name": "Person", "select": "by-target-context", "contexts": ["born"]}),
    )
    .ok(201);
    assert_eq!(
        get(a, "/api/view/p1?schema=Person").ok(200)["properties"],
        json!({"born": 1937})
    );
    assert_eq!(
        get(a, &format!("/api/view/p1?schema=Person&schema_as_of={t}")).ok(200)["properties"],
        json!({"name": "Ridley"})
    );
    // Before any registration the schema is unknown.
    get(a, "/api/view/p1?schema=Person&schema_as_of=1").error(400, "unknown_schema");
}

// ----------------------------------------------------------------- query

#[test]
fn query_filters_views_under_a_schema_sorted_by_id() {
    let s = TestServer::start();
    let a = s.addr;
    movie_graph(a);
    store(
        a,
        &[
            delta("a1", 1000, "u3", "age", json!(45)),
            delta("a2", 1000, "u1", "age", json!(25)),
            delta("a3", 1000, "u2", "age", json!(35)),
            delta("a4", 3000, "u1", "age", json!(50)),
        ],
    );
    let ids = |r: &Value| -> Vec<String> {
        r["views"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let over_30 = json!({">": [{"var": "properties.age"}, 30]});
    let r = post(a, "/api/query", &json!({"filter": over_30})).ok(200);
    assert_eq!(ids(&r), ["u1", "u2", "u3"]);
    assert_eq!(
        r["views"][0],
        json!({"id": "u1", "properties": {"age": 50}})
    );
    // As of a time, with ids and a limit.
    let r = post(a, "/api/query", &json!({"filter": over_30, "as_of": 2000})).ok(200);
    assert_eq!(ids(&r), ["u2", "u3"]);
    let r = post(
        a,
        "/api/query",
        &json!({"filter": over_30, "ids": ["u3", "u1"]}),
    )
    .ok(200);
    assert_eq!(ids(&r), ["u1", "u3"]);
    let r = post(a, "/api/query", &json!({"filter": over_30, "limit": 1})).ok(200);
    assert_eq!(ids(&r), ["u1"]);
    // Under a schema, nested views included, the filter sees them.
    let by_director = json!({"==": [{"var": "properties.director.properties.name"}, "Ridley"]});
    let r = post(
        a,
        "/api/query",
        &json!({"schema": "Movie", "filter": by_director}),
    )
    .ok(200);
    assert_eq!(
        r,
        json!({"views": [{"id": "m1", "properties": {"title": "Alien",
            "director": {"id": "p1", "properties": {"name": "Ridley"}}}}]})
    );
    let r = post(
        a,
        "/api/query",
        &json!({"strategy": "first-write-wins", "ids": ["u1"]}),
    )
    .ok(200);
    assert_eq!(r["views"][0]["properties"]["age"], 25);

    // Refusals.
    let e = post(
        a,
        "/api/query",
        &json!({"filter": {"and": [true, {"regex": [1]}]}}),
    )
    .error(400, "invalid_filter");
    assert_eq!(e["operator"], "regex");
    assert!(e["message"].as_str().unwrap().contains("regex"));
    let e = post(a, "/api/query", &json!({"schema": "Nope"})).error(400, "unknown_schema");
    assert_eq!(e["schema"], "Nope");
    let many: Vec<String> = (0..10_001).map(|i| format!("e{i}")).collect();
    let e = post(a, "/api/query", &json!({"ids": many})).error(400, "invalid_body");
    assert_eq!(e["field"], "ids");
    post(a, "/api/query", &json!({"limit": 0})).error(400, "invalid_body");
    post(a, "/api/query", &json!({"as_of": 0})).error(400, "invalid_body");
    post(a, "/api/query", &json!({"colour": "red"})).error(400, "invalid_body");
    let e = post(a, "/api/query", &json!({"strategy": "nope"})).error(400, "invalid_parameter");
    assert_eq!(e["parameter"], "strategy");
}

// ------------------------------------------------------------ view cache

fn metric(a: SocketAddr, name: &str) -> f64 {
    let text = String::from_utf8(get(a, "/metrics").body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[test]
fn cached_views_are_never_stale_after_writes() {
    let s = TestServer::start();
    let a = s.addr;
    movie_graph(a);
    let name = |a| get(a, "/api/view/p1").ok(200)["properties"]["name"].clone();
    assert_eq!(name(a), "Ridley");
    let hits = metric(a, "rhizome_view_cache_hits_total");
    assert_eq!(name(a), "Ridley");
    assert!(metric(a, "rhizome_view_cache_hits_total") > hits);
    store(a, &[delta("n9", 2000, "p1", "name", json!("Ridley Scott"))]);
    assert_eq!(name(a), "Ridley Scott");
    assert!(metric(a, "rhizome_view_cache_invalidations_total") >= 1.0);
    // A negation is a write too.
    post(a, "/api/deltas/n9/negate", &json!({})).ok(201);
    assert_eq!(name(a), "Ridley");

    // Nested views: a change to the nested entity reaches the parent.
    let director =
        |a| get(a, "/api/view/m1?schema=Movie").ok(200)["properties"]["director"].clone();
    assert_eq!(director(a)["properties"]["name"], "Ridley");
    assert_eq!(director(a)["properties"]["name"], "Ridley");
    store(a, &[delta("n10", 3000, "p1", "name", json!("Sir Ridley"))]);
    assert_eq!(director(a)["properties"]["name"], "Sir Ridley");
    // Re-registering the nested schema reaches it too.
    put(
        a,
        "/api/schemas/Person",
        &json!({"name": "Person", "select": "by-target-context", "contexts": ["born"]}),
    )
    .ok(201);
    assert_eq!(director(a)["properties"], json!({"born": 1937}));
    // Per strategy, separately cached.
    assert_eq!(
        get(a, "/api/view/p1?strategy=first-write-wins").ok(200)["properties"]["name"],
        "Ridley"
    );
    assert_eq!(name(a), "Sir Ridley");
    // A 404 cached, then the entity appears.
    get(a, "/api/view/p9").error(404, "not_found");
    get(a, "/api/view/p9").error(404, "not_found");
    store(a, &[delta("n11", 4000, "p9", "name", json!("New"))]);
    assert_eq!(name_of(a, "p9"), "New");
}

fn name_of(a: SocketAddr, id: &str) -> Value {
    get(a, &format!("/api/view/{id}")).ok(200)["properties"]["name"].clone()
}

// ------------------------------------------------------------ collections

fn delete(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "DELETE", path, None, b"")
}

#[test]
fn collections_write_changed_properties_in_one_transaction() {
    let s = TestServer::start();
    let a = s.addr;
    put(
        a,
        "/api/schemas/Person",
        &json!({"name": "Person", "select": "by-target-context", "contexts": ["name", "age"],
            "transform": {"age": {"primitive": "integer"}}}),
    )
    .ok(201);
    put(
        a,
        "/api/schemas/Movie",
        &json!({"name": "Movie", "select": "by-target-context", "contexts": ["title", "director"],
            "transform": {"director": {"schema": "Person"}}}),
    )
    .ok(201);
    put(a, "/api/collections/Nope", &json!({"properties": {}})).error(404, "not_found");
    let r = put(
        a,
        "/api/collections/Person",
        &json!({"id": "p1", "properties": {"name": "Ridley", "age": 87.0}}),
    )
    .ok(201);
    assert_eq!(
        r,
        json!({"id": "p1", "properties": {"name": "Ridley", "age": 87}})
    );
    // One transaction: membership + 2 properties + the declaration.
    let feed = get(a, "/api/deltas").ok(200)["deltas"].clone();
    let before = feed.as_array().unwrap().len();
    let tx = feed
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|d| d["pointers"].as_array().unwrap().clone())
        .find(|p| p["localContext"] == "_transaction" && p["targetContext"] == "size")
        .unwrap()["target"]
        .as_str()
        .unwrap()
        .to_owned();
    let t = get(a, &format!("/api/transactions/{tx}")).ok(200);
    assert_eq!(
        (t["complete"].clone(), t["size"].clone()),
        (json!(true), json!(3))
    );
    put(
        a,
        "/api/collections/Person",
        &json!({"id": "p1", "properties": {}}),
    )
    .error(409, "conflict");
    // Types and properties are checked.
    let e = put(
        a,
        "/api/collections/Person",
        &json!({"properties": {"age": 1.5}}),
    )
    .error(422, "invalid_property");
    assert_eq!(e["property"], "age");
    let e = put(
        a,
        "/api/collections/Person",
        &json!({"properties": {"shoe": 42}}),
    )
    .error(422, "invalid_property");
    assert_eq!(e["property"], "shoe");

    // An update writes only what changed.
    let r = put(
        a,
        "/api/collections/Person/p1",
        &json!({"properties": {"name": "Ridley", "age": 88}}),
    )
    .ok(200);
    assert_eq!(r["properties"]["age"], 88);
    let after = get(a, "/api/deltas").ok(200)["deltas"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(after, before + 2, "one property delta and its declaration");
    put(a, "/api/collections/Person/p2", &json!({"properties": {}})).error(404, "not_found");

    // References to other collections expand through the schema.
    let r = put(
        a,
        "/api/collections/Movie",
        &json!({"id": "m1", "properties": {"title": "Alien", "director": "p1"}}),
    )
    .ok(201);
    assert_eq!(
        r["properties"]["director"],
        json!({"id": "p1", "properties": {"name": "Ridley", "age": 88}})
    );
    assert_eq!(
        get(a, "/api/collections/Person/ids").ok(200),
        json!({"ids": ["p1"]})
    );
    assert_eq!(get(a, "/api/collections/Movie/m1").ok(200), r);
    get(a, "/api/collections/Person/m1").error(404, "not_found");

    // Delete negates the membership and every visible delta of the data
    // (name, both ages).
    let d = delete(a, "/api/collections/Person/p1").ok(200);
    assert_eq!(d["negated"].as_array().unwrap().len(), 4);
    assert_eq!(
        get(a, "/api/collections/Person/ids").ok(200),
        json!({"ids": []})
    );
    get(a, "/api/collections/Person/p1").error(404, "not_found");
    delete(a, "/api/collections/Person/p1").error(404, "not_found");
    get(a, "/api/view/p1").error(404, "not_found");
}
