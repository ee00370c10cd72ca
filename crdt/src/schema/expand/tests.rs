use serde_json::{Value as Json, json};

use super::*;
use crate::schema::registry::{SchemaRegistry, registration_deltas};
use crate::strategy::StrategyRegistry;
use crate::view::ViewOptions;

fn set_prop(id: &str, t: u64, entity: &str, prop: &str, value: impl Into<Target>) -> Delta {
    Delta::builder("c", "h")
        .id(id)
        .timestamp(t)
        .set_property(entity, prop, value)
        .build()
        .unwrap()
}

/// `entity.role = reference to target` (filed under target's `back`).
fn link(id: &str, t: u64, entity: &str, role: &str, target: &str, back: &str) -> Delta {
    set_prop(id, t, entity, role, Target::reference(target, back))
}

fn schema(body: Json) -> HyperSchema {
    HyperSchema::from_json(&body).unwrap()
}

fn with_transform(name: &str, transform: Json, max_depth: u32) -> HyperSchema {
    schema(
        json!({"name": name, "select": "by-target-context", "transform": transform, "max_depth": max_depth}),
    )
}

fn view_json(set: &DeltaSet, reg: &SchemaRegistry, entity: &str, schema: &str) -> Option<Json> {
    view_json_with(set, reg, entity, schema, None, &ViewResolver::default())
}

fn view_json_with(
    set: &DeltaSet,
    reg: &SchemaRegistry,
    entity: &str,
    schema: &str,
    as_of: Option<u64>,
    resolver: &ViewResolver,
) -> Option<Json> {
    let as_of = as_of.map(|t| Timestamp::new(t).unwrap());
    Expander::new(set, reg, as_of)
        .view(entity, Some(schema), resolver)
        .unwrap()
        .map(|e| serde_json::to_value(&e.value).unwrap())
}

/// How many nested views deep `v` goes along `roles` (any of them).
fn nesting(v: &Json, roles: &[&str]) -> usize {
    for role in roles {
        if let Some(next) = v["properties"].get(*role)
            && next.get("properties").is_some()
        {
            return 1 + nesting(next, roles);
        }
    }
    0
}

/// m1 → director p1 → mentor p2 → mentor p3 → mentor p4 → mentor p5.
fn chain() -> DeltaSet {
    let mut set = DeltaSet::new();
    let mut deltas = vec![
        set_prop("t", 1, "m1", "title", "Alien"),
        link("d", 2, "m1", "director", "p1", "directed"),
    ];
    for i in 1..=5 {
        deltas.push(set_prop(
            &format!("n{i}"),
            3,
            &format!("p{i}"),
            "name",
            format!("P{i}"),
        ));
        if i < 5 {
            let (a, b) = (format!("p{i}"), format!("p{}", i + 1));
            deltas.push(link(&format!("m{i}"), 4, &a, "mentor", &b, "mentee"));
        }
    }
    set.insert_batch(deltas).unwrap();
    set
}

/// Acyclic schemas `Movie → S1 → S2 → S3 → S4 → S5`, Movie's depth `d`.
fn chain_schemas(d: u32) -> SchemaRegistry {
    let mut r = SchemaRegistry::new();
    r.register(HyperSchema::new("S5")).unwrap();
    for i in (1..5).rev() {
        r.register(with_transform(
            &format!("S{i}"),
            json!({"mentor": {"schema": format!("S{}", i + 1)}}),
            1,
        ))
        .unwrap();
    }
    r.register(with_transform(
        "Movie",
        json!({"director": {"schema": "S1"}}),
        d,
    ))
    .unwrap();
    r
}

#[test]
fn nests_down_to_max_depth() {
    let set = chain();
    for depth in 0..=5u32 {
        let reg = chain_schemas(depth);
        let v = view_json(&set, &reg, "m1", "Movie").unwrap();
        // Nested schemas' own max_depth (1) does not count: the root's does.
        assert_eq!(
            nesting(&v, &["director", "mentor"]),
            depth as usize,
            "depth {depth}"
        );
    }
    let v = view_json(&set, &chain_schemas(2), "m1", "Movie").unwrap();
    assert_eq!(
        v,
        json!({"id": "m1", "properties": {"title": "Alien", "director": {"id": "p1",
            "properties": {"name": "P1", "mentor": {"id": "p2", "properties": {"name": "P2", "mentor": {"id": "p3"}}}}}}})
    );
}

#[test]
fn without_schema_or_with_depth_zero_references_stay() {
    let set = chain();
    let reg = chain_schemas(0);
    let plain = Expander::new(&set, &reg, None)
        .view("m1", None, &ViewResolver::default())
        .unwrap()
        .unwrap();
    assert_eq!(
        serde_json::to_value(&plain.value).unwrap()["properties"]["director"],
        json!({"id": "p1"})
    );
    assert_eq!(plain.read.len(), 1);
    let e = Expander::new(&set, &reg, None).view("m1", Some("Nope"), &ViewResolver::default());
    assert_eq!(
        e.unwrap_err(),
        crate::Error::UnknownSchema {
            name: "Nope".into()
        }
    );
}

#[test]
fn self_reference_is_never_expanded() {
    let mut set = DeltaSet::new();
    set.insert_batch([
        set_prop("n", 1, "alice", "name", "Alice"),
        // alice.friend = alice: the friend pointer targets alice herself.
        set_prop(
            "f",
            2,
            "alice",
            "friend",
            Target::reference_without_context("alice"),
        ),
    ])
    .unwrap();
    let mut reg = SchemaRegistry::new();
    // As stored (a registry read from deltas may hold a self-reference).
    reg.insert_unchecked(with_transform(
        "Person",
        json!({"friend": {"schema": "Person"}}),
        3,
    ));
    // The value of the delta for "friend" of alice is no value at all
    // (its only "friend" pointer points at alice): the property is absent.
    assert_eq!(
        view_json(&set, &reg, "alice", "Person").unwrap(),
        json!({"id": "alice", "properties": {"name": "Alice"}})
    );
    let hv = Expander::new(&set, &reg, None)
        .hyperview("alice", "Person")
        .unwrap()
        .unwrap();
    assert!(hv.value.properties["friend"][0].expanded.is_empty());
}

#[test]
fn circular_data_terminates_at_max_depth() {
    let mut set = DeltaSet::new();
    set.insert_batch([
        set_prop("na", 1, "a", "name", "A"),
        set_prop("nb", 1, "b", "name", "B"),
        link("ab", 2, "a", "friend", "b", "friend_of"),
        link("ba", 2, "b", "friend", "a", "friend_of"),
    ])
    .unwrap();
    // Schemas that allow it without a schema cycle: Person → Friend → Acquaintance.
    let mut reg = SchemaRegistry::new();
    reg.register(HyperSchema::new("Acquaintance")).unwrap();
    reg.register(with_transform(
        "Friend",
        json!({"friend": {"schema": "Acquaintance"}}),
        3,
    ))
    .unwrap();
    reg.register(with_transform(
        "Person",
        json!({"friend": {"schema": "Friend"}}),
        3,
    ))
    .unwrap();
    let v = view_json(&set, &reg, "a", "Person").unwrap();
    assert_eq!(
        v["properties"]["friend"],
        json!({"id": "b", "properties": {"name": "B",
            "friend": {"id": "a", "properties": {"name": "A", "friend": {"id": "b"}}}}})
    );
    // A cyclic registry (concurrent registrations merged) still terminates.
    let mut cyclic = SchemaRegistry::new();
    cyclic.insert_unchecked(with_transform(
        "Person",
        json!({"friend": {"schema": "Person"}}),
        4,
    ));
    let v = view_json(&set, &cyclic, "a", "Person").unwrap();
    assert_eq!(nesting(&v, &["friend"]), 4);
    let hv = Expander::new(&set, &cyclic, None)
        .hyperview("a", "Person")
        .unwrap()
        .unwrap();
    let text = serde_json::to_value(hv.value.json(Format::V1).unwrap()).unwrap();
    // a → b → a → b → a, then a reference.
    let mut at = &text;
    for _ in 0..4 {
        at = &at["properties"]["friend"][0]["pointers"];
        let p = at
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["localContext"] == "friend")
            .unwrap();
        at = &p["target"];
        assert!(at.get("properties").is_some());
    }
    let last = at["properties"]["friend"][0]["pointers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["localContext"] == "friend")
        .unwrap();
    assert!(last["target"].is_string());
}

#[test]
fn projection_and_existence() {
    let mut set = chain();
    set.insert_batch([
        set_prop("y", 5, "m2", "year", 1999),
        // Without context: the reference files nothing under "nobody".
        set_prop(
            "ghost",
            6,
            "m3",
            "director",
            Target::reference_without_context("nobody"),
        ),
        set_prop("t3", 6, "m3", "title", "Ghost"),
    ])
    .unwrap();
    let mut reg = SchemaRegistry::new();
    reg.register(schema(
        json!({"name": "Person", "select": "by-target-context", "contexts": ["age"]}),
    ))
    .unwrap();
    reg.register(schema(
        json!({"name": "Movie", "select": "by-target-context",
        "contexts": ["title", "director"], "transform": {"director": {"schema": "Person"}}}),
    ))
    .unwrap();
    // The nested entity exists (it has a name) but its projection keeps nothing.
    assert_eq!(
        view_json(&set, &reg, "m1", "Movie").unwrap(),
        json!({"id": "m1", "properties": {"title": "Alien", "director": {"id": "p1", "properties": {}}}})
    );
    // A projection leaving nothing visible is a 404, like a missing entity.
    assert_eq!(view_json(&set, &reg, "m2", "Movie"), None);
    assert_eq!(view_json(&set, &reg, "zzz", "Movie"), None);
    assert!(
        Expander::new(&set, &reg, None)
            .hyperview("m2", "Movie")
            .unwrap()
            .is_none()
    );
    // A reference to an entity that does not exist stays a reference.
    let v = view_json(&set, &reg, "m3", "Movie").unwrap();
    assert_eq!(v["properties"]["director"], json!({"id": "nobody"}));
    let e = Expander::new(&set, &reg, None).view("m3", Some("Movie"), &ViewResolver::default());
    let e = e.unwrap().unwrap();
    let read: Vec<&str> = e.read.iter().map(|s| &**s).collect();
    assert_eq!(read, ["_schema/Movie", "_schema/Person", "m3", "nobody"]);
}

#[test]
fn nested_views_follow_as_of_and_strategies() {
    let mut set = chain();
    set.insert(set_prop("n1b", 10, "p1", "name", "Renamed"))
        .unwrap();
    set.insert(set_prop("yr", 10, "m1", "year", "1979"))
        .unwrap();
    let mut reg = SchemaRegistry::new();
    reg.register(HyperSchema::new("Person")).unwrap();
    reg.register(with_transform(
        "Movie",
        json!({"director": {"schema": "Person"}, "year": {"primitive": "integer.year"}}),
        1,
    ))
    .unwrap();
    let lww = ViewResolver::default();
    let now = view_json_with(&set, &reg, "m1", "Movie", None, &lww).unwrap();
    assert_eq!(
        now["properties"]["director"]["properties"]["name"],
        "Renamed"
    );
    // Primitive transforms return values as stored.
    assert_eq!(now["properties"]["year"], "1979");
    let before = view_json_with(&set, &reg, "m1", "Movie", Some(5), &lww).unwrap();
    assert_eq!(before["properties"]["director"]["properties"]["name"], "P1");
    assert!(before["properties"].get("year").is_none());
    // Before p1 existed, the director is a plain reference.
    let mut late = DeltaSet::new();
    let director = Target::reference_without_context("p1");
    late.insert_batch([
        set_prop("d", 2, "m1", "director", director),
        set_prop("n", 8, "p1", "name", "X"),
    ])
    .unwrap();
    assert_eq!(
        view_json_with(&late, &reg, "m1", "Movie", Some(5), &lww).unwrap()["properties"]["director"],
        json!({"id": "p1"})
    );
    // Strategies apply to nested views too.
    let strategies = StrategyRegistry::default();
    let first = ViewOptions::from_query(Some("first-write-wins"), None, None)
        .unwrap()
        .resolver(&strategies)
        .unwrap();
    let v = view_json_with(&set, &reg, "m1", "Movie", None, &first).unwrap();
    assert_eq!(v["properties"]["director"]["properties"]["name"], "P1");
    let all = ViewOptions::from_query(Some("all-values"), None, None)
        .unwrap()
        .resolver(&strategies)
        .unwrap();
    let v = view_json_with(&set, &reg, "m1", "Movie", None, &all).unwrap();
    assert_eq!(
        v["properties"]["director"][0]["properties"]["name"],
        json!(["P1", "Renamed"])
    );
}

#[test]
fn expanded_hyperviews_in_every_format() {
    let mut set = DeltaSet::new();
    set.insert_batch([
        link("d", 2, "m1", "director", "p1", "directed"),
        set_prop("n", 1, "p1", "name", "Ridley"),
    ])
    .unwrap();
    let mut reg = SchemaRegistry::new();
    reg.register(HyperSchema::new("Person")).unwrap();
    reg.register(with_transform(
        "Movie",
        json!({"director": {"schema": "Person"}}),
        3,
    ))
    .unwrap();
    let hv = Expander::new(&set, &reg, None)
        .hyperview("m1", "Movie")
        .unwrap()
        .unwrap();
    let v1 = serde_json::to_string(&hv.value.json(Format::V1).unwrap()).unwrap();
    assert_eq!(
        v1,
        r#"{"id":"m1","properties":{"director":[{"creator":"c","host":"h","id":"d","pointers":[{"localContext":"director","target":{"id":"p1","properties":{"directed":[{"creator":"c","host":"h","id":"d","pointers":[{"localContext":"director","target":"p1","targetContext":"directed"},{"localContext":"entity","target":"m1","targetContext":"director"}],"timeCreated":2}],"name":[{"creator":"c","host":"h","id":"n","pointers":[{"localContext":"entity","target":"p1","targetContext":"name"},{"localContext":"name","target":"Ridley"}],"timeCreated":1}]}},"targetContext":"directed"},{"localContext":"entity","target":"m1","targetContext":"director"}],"timeCreated":2}]}}"#
    );
    let db = serde_json::to_value(hv.value.json(Format::RhizomeDb).unwrap()).unwrap();
    let target = &db["properties"]["director"][0]["pointers"][0]["target"];
    assert_eq!(target["context"], "directed");
    assert_eq!(target["id"], "p1");
    assert_eq!(target["properties"]["name"][0]["author"], "c");
    let e = hv.value.json(Format::V2).unwrap_err();
    assert!(
        matches!(e, crate::Error::NotExpressible { ref id, .. } if id == "d"),
        "{e}"
    );
    // Nothing expanded: v2 can say it.
    let mut plain = SchemaRegistry::new();
    plain.register(HyperSchema::new("Movie")).unwrap();
    let hv = Expander::new(&set, &plain, None)
        .hyperview("m1", "Movie")
        .unwrap()
        .unwrap();
    assert!(hv.value.json(Format::V2).is_ok());
}

#[test]
fn schemas_registered_as_deltas_drive_expansion() {
    let mut set = chain();
    set.insert_batch(registration_deltas(&HyperSchema::new("Person"), "admin", "h", 100).unwrap())
        .unwrap();
    let movie = with_transform("Movie", json!({"director": {"schema": "Person"}}), 3);
    set.insert_batch(registration_deltas(&movie, "admin", "h", 100).unwrap())
        .unwrap();
    let reg = SchemaRegistry::from_set(&set, None);
    let v = view_json(&set, &reg, "m1", "Movie").unwrap();
    assert_eq!(v["properties"]["director"]["properties"]["name"], "P1");
}
