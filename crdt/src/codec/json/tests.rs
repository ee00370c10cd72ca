//! Tests of the JSON codecs: every rule of API.md §1 with a valid and an
//! invalid case per format, detection, batches, encoding, and properties.

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::arbitrary::arb_delta;
use crate::codec::binary;
use crate::{DeltaId, Number, Pointer, Target, Timestamp, limits};

const TS: u64 = 1_700_000_000_000;

fn v1(pointers: Value) -> Value {
    json!({"id": "d1", "timeCreated": TS, "host": "h", "creator": "c", "pointers": pointers})
}

fn v2(pointers: Value) -> Value {
    json!({"id": "d1", "timeCreated": TS, "host": "h", "creator": "c", "pointers": pointers})
}

fn rh(pointers: Value) -> Value {
    json!({"id": "d1", "timestamp": TS, "author": "c", "system": "h", "pointers": pointers})
}

/// The three formats' envelopes, with their names of the envelope fields
/// `(format, make, time, host, creator)`.
type Make = fn(Value) -> Value;
const FORMATS: [(Format, Make, &str, &str, &str); 3] = [
    (Format::V1, v1, "timeCreated", "host", "creator"),
    (Format::V2, v2, "timeCreated", "host", "creator"),
    (Format::RhizomeDb, rh, "timestamp", "system", "author"),
];

/// Empty pointers in `format` (an array, or v2's object).
fn empty(format: Format) -> Value {
    if format == Format::V2 {
        json!({})
    } else {
        json!([])
    }
}

fn set(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

fn remove(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

/// Decodes from bytes and from a `Value`; both must agree.
fn ok(v: &Value) -> Delta {
    let bytes = serde_json::to_vec(v).unwrap();
    let delta = decode(&bytes).unwrap_or_else(|e| panic!("{v}: {e}"));
    assert_eq!(decode_value(v).unwrap(), delta);
    delta
}

/// Decoding fails naming `field` with exactly `message`, from bytes and from
/// a `Value`.
fn bad(v: &Value, field: &str, message: &str) {
    let bytes = serde_json::to_vec(v).unwrap();
    bad_text(std::str::from_utf8(&bytes).unwrap(), field, message);
    let e = decode_value(v).unwrap_err();
    assert_eq!((e.field(), e.to_string().as_str()), (Some(field), message));
}

/// Like [`bad`] for raw text (duplicate keys, escapes).
fn bad_text(text: &str, field: &str, message: &str) {
    let e = decode_str(text).unwrap_err();
    assert_eq!(
        (e.field(), e.to_string().as_str()),
        (Some(field), message),
        "{text}"
    );
}

fn format_of(v: &Value) -> Format {
    decode_with_format(&serde_json::to_vec(v).unwrap())
        .unwrap()
        .1
}

fn delta(pointers: Vec<Pointer>) -> Delta {
    Delta::new(
        DeltaId::new("d1").unwrap(),
        Timestamp::new(TS).unwrap(),
        "h",
        "c",
        pointers,
    )
    .unwrap()
}

// ---- envelope ----

#[test]
fn the_api_example() {
    let d = ok(&v1(json!([
        {"localContext": "entity", "target": "alice", "targetContext": "name"},
        {"localContext": "name", "target": "Alice"}
    ])));
    assert_eq!(
        d,
        delta(vec![
            Pointer::new("entity", Target::reference("alice", "name")),
            Pointer::new("name", "Alice"),
        ])
    );
    assert_eq!(
        ok(&v2(json!({"name": "Alice", "entity": {"alice": "name"}}))),
        d
    );
    assert_eq!(
        ok(&rh(json!([
            {"role": "entity", "target": {"id": "alice", "context": "name"}},
            {"role": "name", "target": "Alice"}
        ]))),
        d
    );
}

#[test]
fn id_rule() {
    for (f, make, ..) in FORMATS {
        let base = make(empty(f));
        let long = "é".repeat(128);
        assert_eq!(
            ok(&set(base.clone(), "id", json!(long))).id().as_str(),
            long
        );
        bad(
            &set(base.clone(), "id", json!("")),
            "id",
            "id must be a non-empty string",
        );
        bad(
            &set(base.clone(), "id", json!("a".repeat(257))),
            "id",
            "id must be at most 256 bytes",
        );
        bad(
            &set(base.clone(), "id", json!(7)),
            "id",
            "id must be a non-empty string",
        );
        bad(&remove(base, "id"), "id", "id is missing");
    }
}

#[test]
fn timestamp_rule() {
    for (f, make, time, ..) in FORMATS {
        let base = make(empty(f));
        let at = |v: Value| set(base.clone(), time, v);
        assert_eq!(ok(&at(json!(1))).time_created().as_millis(), 1);
        assert_eq!(ok(&at(json!(3.0))).time_created().as_millis(), 3);
        assert_eq!(
            ok(&at(json!(1e12))).time_created().as_millis(),
            1_000_000_000_000
        );
        assert_eq!(
            ok(&at(json!(limits::MAX_TIMESTAMP))).time_created(),
            Timestamp::MAX
        );
        let positive =
            format!("{time} must be a positive integer (milliseconds since the Unix epoch)");
        for wrong in [
            json!(1.5),
            json!("5"),
            json!(-1),
            json!(0),
            json!(0.0),
            json!(null),
            json!([1]),
        ] {
            bad(&at(wrong), time, &positive);
        }
        let too_late = format!("{time} must be at most {}", limits::MAX_TIMESTAMP);
        bad(&at(json!(limits::MAX_TIMESTAMP + 1)), time, &too_late);
        bad(&at(json!(1e300)), time, &too_late);
        bad(
            &remove(base.clone(), time),
            time,
            &format!("{time} is missing"),
        );
    }
}

#[test]
fn host_and_creator_rule() {
    for (f, make, _, host, creator) in FORMATS {
        let base = make(empty(f));
        for field in [host, creator] {
            let d = ok(&set(base.clone(), field, json!("ünï")));
            assert!(d.host() == "ünï" || d.creator() == "ünï");
            let must = format!("{field} must be a non-empty string");
            bad(&set(base.clone(), field, json!("")), field, &must);
            bad(&set(base.clone(), field, json!(1)), field, &must);
            bad(&set(base.clone(), field, json!(null)), field, &must);
            bad(
                &set(base.clone(), field, json!("x".repeat(257))),
                field,
                &format!("{field} must be at most 256 bytes"),
            );
            bad(
                &remove(base.clone(), field),
                field,
                &format!("{field} is missing"),
            );
        }
        let d = ok(&base);
        assert_eq!((d.host(), d.creator()), ("h", "c"));
    }
}

#[test]
fn signature_is_kept_and_must_be_a_string() {
    for (f, make, ..) in FORMATS {
        let base = make(empty(f));
        let d = ok(&set(base.clone(), "signature", json!("c2ln")));
        assert_eq!(d.signature(), Some("c2ln"));
        assert_eq!(ok(&base).signature(), None);
        for wrong in [json!(1), json!(""), json!(null)] {
            bad(
                &set(base.clone(), "signature", wrong),
                "signature",
                "signature must be a non-empty string",
            );
        }
    }
}

#[test]
fn pointers_must_be_present_and_of_the_format_shape() {
    for (f, make, ..) in FORMATS {
        let base = make(empty(f));
        assert!(ok(&base).pointers().is_empty());
        bad(
            &remove(base.clone(), "pointers"),
            "pointers",
            "pointers is missing",
        );
        bad(
            &set(base.clone(), "pointers", json!("x")),
            "pointers",
            "pointers must be an array, not a string",
        );
        bad(
            &set(base, "pointers", json!(null)),
            "pointers",
            "pointers must be an array, not null",
        );
    }
    // An object makes v1 v2, but rhizomedb stays rhizomedb.
    bad(
        &rh(json!({"name": "x"})),
        "pointers",
        "pointers must be an array, not an object",
    );
    for pointers in [
        v1(json!([{"localContext": "a", "target": 1}, 5])),
        rh(json!([{"role": "a", "target": 1}, 5])),
    ] {
        bad(
            &pointers,
            "pointers[1]",
            "pointers[1] must be an object, not a number",
        );
    }
}

#[test]
fn unknown_and_foreign_envelope_keys() {
    for (f, make, ..) in FORMATS {
        bad(
            &set(make(empty(f)), "foo", json!(1)),
            "foo",
            &format!("foo is not a field of a {f} delta"),
        );
        bad(
            &set(make(empty(f)), "a b", json!(1)),
            "[\"a b\"]",
            &format!("[\"a b\"] is not a field of a {f} delta"),
        );
    }
    // Keys of two formats together: the rhizomedb keys decide the format.
    bad(
        &set(rh(json!([])), "creator", json!("c")),
        "creator",
        "creator is not a field of a rhizomedb delta",
    );
    bad(
        &set(v1(json!([])), "author", json!("c")),
        "timeCreated",
        "timeCreated is not a field of a rhizomedb delta",
    );
    bad(
        &set(v2(json!({})), "timestamp", json!(1)),
        "timeCreated",
        "timeCreated is not a field of a rhizomedb delta",
    );
}

#[test]
fn rhizome_node_local_fields_only_in_v1() {
    let plain = ok(&v1(json!([{"localContext": "a", "target": 1}])));
    let mut exported = v1(json!([{"localContext": "a", "target": 1}]));
    exported["timeReceived"] = json!(TS + 5);
    exported["receivedFrom"] = json!("peer");
    exported["transactionId"] = json!(null);
    assert_eq!(ok(&exported), plain);
    for key in ["timeReceived", "receivedFrom", "transactionId"] {
        bad(
            &set(v2(json!({})), key, json!(1)),
            key,
            &format!("{key} is not a field of a v2 delta"),
        );
        bad(
            &set(rh(json!([])), key, json!(1)),
            key,
            &format!("{key} is not a field of a rhizomedb delta"),
        );
    }
}

#[test]
fn duplicate_keys_are_invalid() {
    bad_text(
        r#"{"id":"a","id":"b","timeCreated":1,"host":"h","creator":"c","pointers":[]}"#,
        "id",
        "id appears more than once",
    );
    bad_text(
        r#"{"id":"a","timeCreated":1,"host":"h","creator":"c","pointers":[],"pointers":[]}"#,
        "pointers",
        "pointers appears more than once",
    );
    bad_text(
        r#"{"id":"a","timeCreated":1,"host":"h","creator":"c","pointers":[{"localContext":"x","target":1,"target":2}]}"#,
        "pointers[0].target",
        "pointers[0].target appears more than once",
    );
    bad_text(
        r#"{"id":"a","timeCreated":1,"host":"h","creator":"c","pointers":{"name":1,"age":2,"name":3}}"#,
        "pointers.name",
        "pointers.name appears more than once",
    );
    bad_text(
        r#"{"id":"a","timestamp":1,"author":"h","system":"c","pointers":[{"role":"r","target":{"id":"x","id":"y"}}]}"#,
        "pointers[0].target.id",
        "pointers[0].target.id appears more than once",
    );
}

#[test]
fn escaped_keys_and_strings() {
    let d = decode_str(
        r#"{"i\u0064":"d\u00e9","timeCreated":1,"host":"h","creator":"c","pointers":[{"localContext":"n\"","target":"\ud83d\ude00"}]}"#,
    )
    .unwrap();
    assert_eq!(d.id().as_str(), "dé");
    assert_eq!(d.pointers()[0], Pointer::new("n\"", "😀"));
}

#[test]
fn not_an_object_and_malformed_json() {
    for (text, kind) in [
        ("[]", "an array"),
        ("\"x\"", "a string"),
        ("1", "a number"),
        ("null", "null"),
    ] {
        bad_text(
            text,
            "delta",
            &format!("delta must be a JSON object, not {kind}"),
        );
    }
    for text in ["", "{", "{\"id\": }", "{} {}", "{\"id\":\"a\"} x"] {
        assert!(matches!(decode_str(text), Err(Error::Json(_))), "{text}");
    }
    // A number beyond f64 is malformed.
    let text = r#"{"id":"a","timeCreated":1,"host":"h","creator":"c","pointers":[{"localContext":"x","target":1e400}]}"#;
    assert!(matches!(decode_str(text), Err(Error::Json(_))));
}

#[test]
fn deep_nesting_errors_without_overflow() {
    let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    let text = format!(
        r#"{{"id":"a","timeCreated":1,"host":"h","creator":"c","pointers":[{{"localContext":"x","target":{deep}}}]}}"#
    );
    bad_text(
        &text,
        "pointers[0].target",
        "pointers[0].target must be a string, number, boolean, null or {\"id\": ID}, not an array",
    );
    let deep_object = format!("{}1{}", "{\"a\":".repeat(200_000), "}".repeat(200_000));
    assert!(decode_str(&deep_object).is_err());
    assert!(decode_batch(deep.as_bytes()).is_err());
    assert!(decode_batch(format!("[{deep_object}]").as_bytes()).is_err());
    // A parsed Value is bounded by serde_json's recursion limit.
    assert!(serde_json::from_str::<Value>(&deep).is_err());
}

// ---- detection ----

#[test]
fn detection_by_keys() {
    assert_eq!(format_of(&v1(json!([]))), Format::V1);
    assert_eq!(format_of(&v2(json!({}))), Format::V2);
    assert_eq!(format_of(&rh(json!([]))), Format::RhizomeDb);
    // Any one rhizomedb key decides.
    for key in ["author", "system", "timestamp"] {
        let e = decode_value(&set(v1(json!([])), key, json!("x"))).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("is not a field of a rhizomedb delta"),
            "{e}"
        );
    }
    // The same delta whatever the format.
    let d = ok(&v1(json!([])));
    assert_eq!(ok(&v2(json!({}))), d);
    assert_eq!(ok(&rh(json!([]))), d);
}

// ---- v1 pointers ----

fn v1p(pointer: Value) -> Value {
    v1(json!([{"localContext": "a", "target": 0}, {"localContext": "b", "target": 0}, pointer]))
}

fn rhp(pointer: Value) -> Value {
    rh(json!([{"role": "a", "target": 0}, {"role": "b", "target": 0}, pointer]))
}

#[test]
fn pointer_keys_are_their_formats() {
    bad(
        &v1p(json!({"localContext": "x", "target": 1, "foo": 1})),
        "pointers[2].foo",
        "pointers[2].foo is not a field of a v1 pointer",
    );
    bad(
        &v1p(json!({"localContext": "x", "target": 1, "role": "x"})),
        "pointers[2].role",
        "pointers[2].role is not a field of a v1 pointer",
    );
    bad(
        &rhp(json!({"role": "x", "target": 1, "foo": 1})),
        "pointers[2].foo",
        "pointers[2].foo is not a field of a rhizomedb pointer",
    );
    for key in ["localContext", "targetContext"] {
        bad(
            &rhp(json!({"role": "x", "target": 1, key: "y"})),
            &format!("pointers[2].{key}"),
            &format!("pointers[2].{key} is not a field of a rhizomedb pointer"),
        );
    }
}

#[test]
fn role_rule() {
    assert_eq!(
        ok(&v1p(json!({"localContext": "é", "target": 1}))).pointers()[2],
        Pointer::new("é", 1)
    );
    assert_eq!(
        ok(&rhp(json!({"role": "é", "target": 1}))).pointers()[2],
        Pointer::new("é", 1)
    );
    for (make, key) in [(v1p as Make, "localContext"), (rhp as Make, "role")] {
        let field = format!("pointers[2].{key}");
        let must = format!("{field} must be a non-empty string");
        bad(&make(json!({key: "", "target": 1})), &field, &must);
        bad(&make(json!({key: 5, "target": 1})), &field, &must);
        bad(&make(json!({key: null, "target": 1})), &field, &must);
        bad(
            &make(json!({key: "r".repeat(257), "target": 1})),
            &field,
            &format!("{field} must be at most 256 bytes"),
        );
        bad(
            &make(json!({"target": 1})),
            &field,
            &format!("{field} is missing"),
        );
        bad(
            &make(json!({key: "x"})),
            "pointers[2].target",
            "pointers[2].target is missing",
        );
    }
}

#[test]
fn v1_target_context_rule() {
    let with = ok(&v1p(
        json!({"localContext": "x", "target": "e", "targetContext": "p"}),
    ));
    assert_eq!(with.pointers()[2].target, Target::reference("e", "p"));
    // null is the same as absent.
    assert_eq!(
        ok(&v1p(
            json!({"localContext": "x", "target": "e", "targetContext": null})
        )),
        ok(&v1p(json!({"localContext": "x", "target": "e"})))
    );
    bad(
        &v1p(json!({"localContext": "x", "target": "e", "targetContext": ""})),
        "pointers[2].targetContext",
        "pointers[2].targetContext must be a non-empty string",
    );
    bad(
        &v1p(json!({"localContext": "x", "target": "e", "targetContext": 5})),
        "pointers[2].targetContext",
        "pointers[2].targetContext must be a non-empty string or null",
    );
    bad(
        &v1p(json!({"localContext": "x", "target": "e", "targetContext": "c".repeat(257)})),
        "pointers[2].targetContext",
        "pointers[2].targetContext must be at most 256 bytes",
    );
}

#[test]
fn v1_reference_target_must_be_a_non_empty_string() {
    let must =
        "pointers[2].target must be a non-empty string (a reference) when targetContext is given";
    for target in [
        json!(1),
        json!(true),
        json!(null),
        json!({"id": "e"}),
        json!(["e"]),
    ] {
        bad(
            &v1p(json!({"localContext": "x", "target": target, "targetContext": "p"})),
            "pointers[2].target",
            must,
        );
    }
    bad(
        &v1p(json!({"localContext": "x", "target": "", "targetContext": "p"})),
        "pointers[2].target",
        "pointers[2].target must be a non-empty string",
    );
    bad(
        &v1p(json!({"localContext": "x", "target": "e".repeat(1025), "targetContext": "p"})),
        "pointers[2].target",
        "pointers[2].target must be at most 1024 bytes",
    );
}

#[test]
fn v1_reference_without_context() {
    let d = ok(&v1p(json!({"localContext": "x", "target": {"id": "e"}})));
    assert_eq!(
        d.pointers()[2].target,
        Target::reference_without_context("e")
    );
    bad(
        &v1p(json!({"localContext": "x", "target": {"id": ""}})),
        "pointers[2].target.id",
        "pointers[2].target.id must be a non-empty string",
    );
    bad(
        &v1p(json!({"localContext": "x", "target": {"id": 5}})),
        "pointers[2].target.id",
        "pointers[2].target.id must be a non-empty string",
    );
    bad(
        &v1p(json!({"localContext": "x", "target": {}})),
        "pointers[2].target.id",
        "pointers[2].target.id is missing",
    );
    bad(
        &v1p(json!({"localContext": "x", "target": {"id": "e", "context": "p"}})),
        "pointers[2].target.context",
        "pointers[2].target.context is not a field of a reference {\"id\": ID}",
    );
    bad(
        &v1p(json!({"localContext": "x", "target": {"a": 1, "b": 2, "c": 3, "d": 4, "id": "e"}})),
        "pointers[2].target.a",
        "pointers[2].target.a is not a field of a reference {\"id\": ID}",
    );
}

#[test]
fn primitive_targets() {
    let cases = [
        (json!("s"), Target::from("s")),
        (json!(""), Target::from("")),
        (json!(-7), Target::from(-7)),
        (json!(3.0), Target::from(3)),
        (json!(1.5), Target::Number(Number::Float(1.5))),
        (
            json!(u64::MAX),
            Target::Number(Number::Float(u64::MAX as f64)),
        ),
        (json!(i64::MIN), Target::Number(Number::Int(i64::MIN))),
        (json!(true), Target::Bool(true)),
        (json!(null), Target::Null),
    ];
    for (json, target) in cases {
        let d = ok(&v1p(json!({"localContext": "x", "target": json.clone()})));
        assert_eq!(d.pointers()[2].target, target);
        let d = ok(&v2(json!({"x": json.clone()})));
        assert_eq!(d.pointers()[0].target, target);
        if target != Target::Null {
            let d = ok(&rhp(json!({"role": "x", "target": json})));
            assert_eq!(d.pointers()[2].target, target);
        }
    }
    bad(
        &v1p(json!({"localContext": "x", "target": [1]})),
        "pointers[2].target",
        "pointers[2].target must be a string, number, boolean, null or {\"id\": ID}, not an array",
    );
    bad(
        &v1p(json!({"localContext": "x", "target": "s".repeat(limits::MAX_STRING_BYTES + 1)})),
        "pointers[2].target",
        "pointers[2].target must be at most 65536 bytes",
    );
}

// ---- rhizomedb pointers ----

#[test]
fn rhizomedb_targets() {
    let d = ok(&rhp(
        json!({"role": "x", "target": {"id": "e", "context": "p"}}),
    ));
    assert_eq!(d.pointers()[2].target, Target::reference("e", "p"));
    let none = Target::reference_without_context("e");
    let d = ok(&rhp(
        json!({"role": "x", "target": {"context": null, "id": "e"}}),
    ));
    assert_eq!(d.pointers()[2].target, none);
    let d = ok(&rhp(json!({"role": "x", "target": {"id": "e"}})));
    assert_eq!(d.pointers()[2].target, none);
    let cases = [
        (
            json!(null),
            "pointers[2].target",
            "must not be null (rhizomedb has no null target)",
        ),
        (
            json!([]),
            "pointers[2].target",
            "must be a string, number, boolean or {\"id\", \"context\"?}, not an array",
        ),
        (
            json!({"id": ""}),
            "pointers[2].target.id",
            "must be a non-empty string",
        ),
        (
            json!({"id": 1}),
            "pointers[2].target.id",
            "must be a non-empty string",
        ),
        (
            json!({"context": "p"}),
            "pointers[2].target.id",
            "is missing",
        ),
        (
            json!({"id": "e", "context": 5}),
            "pointers[2].target.context",
            "must be a non-empty string or null",
        ),
        (
            json!({"id": "e", "context": ""}),
            "pointers[2].target.context",
            "must be a non-empty string",
        ),
        (
            json!({"id": "e", "foo": 1}),
            "pointers[2].target.foo",
            "is not a field of a rhizomedb target {\"id\", \"context\"}",
        ),
    ];
    for (target, field, problem) in cases {
        bad(
            &rhp(json!({"role": "x", "target": target})),
            field,
            &format!("{field} {problem}"),
        );
    }
}

// ---- v2 pointers ----

#[test]
fn v2_pointers() {
    let d = ok(&v2(
        json!({"b": 1, "entity": {"alice": "name"}, "a": {"id": "x"}}),
    ));
    assert_eq!(
        d.pointers(),
        [
            Pointer::new("a", Target::reference("id", "x")),
            Pointer::new("b", 1),
            Pointer::new("entity", Target::reference("alice", "name")),
        ]
    );
    let cases = [
        (
            json!({"entity": {}}),
            "pointers.entity",
            "must be a primitive or an object {ID: CONTEXT} with exactly one entry",
        ),
        (
            json!({"entity": {"a": "p", "b": "q"}}),
            "pointers.entity",
            "must be a primitive or an object {ID: CONTEXT} with exactly one entry",
        ),
        (
            json!({"entity": {"alice": 5}}),
            "pointers.entity.alice",
            "must be a non-empty string",
        ),
        (
            json!({"entity": {"alice": null}}),
            "pointers.entity.alice",
            "must be a non-empty string",
        ),
        (
            json!({"entity": {"alice": ""}}),
            "pointers.entity.alice",
            "must be a non-empty string",
        ),
        (
            json!({"entity": {"": "name"}}),
            "pointers.entity",
            "reference id must be a non-empty string",
        ),
        (
            json!({"entity": ["alice"]}),
            "pointers.entity",
            "must be a string, number, boolean, null or {ID: CONTEXT}, not an array",
        ),
        (
            json!({"": 1}),
            "pointers[\"\"]",
            "key must be a non-empty string",
        ),
        (
            json!({"a.b": "x".repeat(limits::MAX_STRING_BYTES + 1)}),
            "pointers[\"a.b\"]",
            "must be at most 65536 bytes",
        ),
    ];
    for (pointers, field, problem) in cases {
        bad(&v2(pointers), field, &format!("{field} {problem}"));
    }
}

// ---- the model's checks, named per format ----

#[test]
fn model_violations_use_input_indices_and_format_names() {
    let problem = "must be a positive integer (the size of the transaction)";
    // The size pointer comes first in the input but sorts last.
    bad(
        &v1(json!([
            {"localContext": "size", "target": 0},
            {"localContext": "_transaction", "target": "tx", "targetContext": "size"}
        ])),
        "pointers[0].target",
        &format!("pointers[0].target {problem}"),
    );
    bad(
        &rh(json!([
            {"role": "_transaction", "target": {"id": "tx", "context": "size"}},
            {"role": "size", "target": 1.5}
        ])),
        "pointers[1].target",
        &format!("pointers[1].target {problem}"),
    );
    bad(
        &v2(json!({"size": "3", "_transaction": {"tx": "size"}})),
        "pointers.size",
        &format!("pointers.size {problem}"),
    );
    // A valid declaration in each format, 3.0 counting as an integer.
    let d = ok(&v2(json!({"size": 3.0, "_transaction": {"tx": "size"}})));
    assert_eq!(d.transaction_size(), Some(("tx", 3)));
}

#[test]
fn too_many_pointers() {
    let many: Vec<Value> = (0..=limits::MAX_POINTERS)
        .map(|i| json!({"localContext": "r", "target": i}))
        .collect();
    let message = "pointers must have at most 1024 pointers";
    bad(&v1(json!(many)), "pointers", message);
    let mut extra = many.clone();
    extra.extend(many.iter().cloned());
    bad(&v1(json!(extra)), "pointers", message);
    let object: serde_json::Map<String, Value> = (0..=limits::MAX_POINTERS)
        .map(|i| (format!("r{i}"), json!(i)))
        .collect();
    bad(&v2(Value::Object(object)), "pointers", message);
    let exactly: Vec<Value> = many[1..].to_vec();
    assert_eq!(
        ok(&v1(json!(exactly))).pointers().len(),
        limits::MAX_POINTERS
    );
}

// ---- batches ----

fn batch_err(text: &str) -> Error {
    let e = decode_batch(text.as_bytes()).unwrap_err();
    if let Ok(value) = serde_json::from_str::<Value>(text) {
        assert_eq!(decode_batch_value(&value).unwrap_err(), e);
    }
    e
}

#[test]
fn batch_forms() {
    let one = v1(json!([{"localContext": "a", "target": 1}]));
    let d = ok(&one);
    let one_text = one.to_string();
    assert_eq!(decode_batch(one_text.as_bytes()).unwrap(), vec![d.clone()]);
    let mixed = json!([
        one,
        rh(json!([{"role": "a", "target": 1}])),
        v2(json!({"a": 1}))
    ]);
    assert_eq!(
        decode_batch(mixed.to_string().as_bytes()).unwrap(),
        vec![d.clone(); 3]
    );
    assert_eq!(decode_batch_value(&mixed).unwrap(), vec![d.clone(); 3]);
    let wrapped = json!({"deltas": mixed});
    assert_eq!(
        decode_batch(wrapped.to_string().as_bytes()).unwrap(),
        vec![d.clone(); 3]
    );
    assert_eq!(decode_batch_value(&wrapped).unwrap(), vec![d; 3]);
    assert!(decode_batch(b"[]").unwrap().is_empty());
    assert!(decode_batch(br#"{"deltas": []}"#).unwrap().is_empty());
}

#[test]
fn batch_errors_carry_the_index_and_field() {
    let good = v1(json!([]));
    let mut deltas = vec![good.clone(); 60];
    deltas[57] = v1(
        json!([{"localContext": "a", "target": 1}, {"localContext": "b", "target": 1},
        {"localContext": "c", "target": "x", "targetContext": ""}]),
    );
    deltas[59] = json!(5);
    for body in [json!(deltas.clone()), json!({"deltas": deltas})] {
        let e = batch_err(&body.to_string());
        assert_eq!(e.batch_index(), Some(57));
        assert_eq!(e.field(), Some("pointers[2].targetContext"));
        assert_eq!(
            e.to_string(),
            "deltas[57]: pointers[2].targetContext must be a non-empty string"
        );
    }
    // A body that is one delta: index 0.
    let e = batch_err(&set(good.clone(), "id", json!("")).to_string());
    assert_eq!((e.batch_index(), e.field()), (Some(0), Some("id")));
    let e = batch_err("[{\"id\": 1}, 5]");
    assert_eq!(e.to_string(), "deltas[0]: id must be a non-empty string");
    let e = batch_err(&format!("[{good}, 5]"));
    assert_eq!(
        e.to_string(),
        "deltas[1]: delta must be a JSON object, not a number"
    );
}

#[test]
fn batch_shape_errors() {
    let e = batch_err(r#"{"deltas": 5}"#);
    assert_eq!(
        e.to_string(),
        "deltas must be an array of deltas, not a number"
    );
    assert_eq!(e.batch_index(), None);
    let e = batch_err(r#"{"deltas": {}}"#);
    assert_eq!(
        e.to_string(),
        "deltas must be an array of deltas, not an object"
    );
    let e = batch_err(r#"{"deltas": [], "more": 1}"#);
    assert_eq!(
        e.to_string(),
        "more is not a field of a batch {\"deltas\": [...]}"
    );
    let e = batch_err("\"x\"");
    assert_eq!(
        e.to_string(),
        "body must be a delta, an array of deltas or {\"deltas\": [...]}, not a string"
    );
}

#[test]
fn batch_syntax_errors_name_the_delta() {
    let good = v1(json!([])).to_string();
    let e = decode_batch(format!("[{good}, {good}, {{\"id\": ]").as_bytes()).unwrap_err();
    assert_eq!(e.batch_index(), Some(2));
    assert!(matches!(e, Error::InBatch { ref source, .. } if matches!(**source, Error::Json(_))));
    let e = decode_batch(format!("[{good}] x").as_bytes()).unwrap_err();
    assert!(matches!(e, Error::Json(_)));
    // After an invalid delta the rest must still be JSON.
    let e = decode_batch(format!("[5, {good}, {{").as_bytes()).unwrap_err();
    assert!(matches!(e, Error::Json(_)));
}

// ---- encoding ----

fn sample() -> Delta {
    delta(vec![
        Pointer::new("entity", Target::reference("alice", "name")),
        Pointer::new("name", "Alice"),
        Pointer::new("n", Number::Float(1.5)),
        Pointer::new("i", -7),
        Pointer::new("b", true),
        Pointer::new("z", ()),
    ])
    .with_signature(Some("c2ln".into()))
}

#[test]
fn encodings_have_sorted_keys() {
    let d = sample();
    assert_eq!(
        encode_string(&d, Format::V1).unwrap(),
        concat!(
            r#"{"creator":"c","host":"h","id":"d1","pointers":["#,
            r#"{"localContext":"b","target":true},"#,
            r#"{"localContext":"entity","target":"alice","targetContext":"name"},"#,
            r#"{"localContext":"i","target":-7},{"localContext":"n","target":1.5},"#,
            r#"{"localContext":"name","target":"Alice"},{"localContext":"z","target":null}],"#,
            r#""signature":"c2ln","timeCreated":1700000000000}"#
        )
    );
    assert_eq!(
        encode_string(&d, Format::V2).unwrap(),
        concat!(
            r#"{"creator":"c","host":"h","id":"d1","pointers":{"b":true,"entity":{"alice":"name"},"#,
            r#""i":-7,"n":1.5,"name":"Alice","z":null},"signature":"c2ln","timeCreated":1700000000000}"#
        )
    );
    let d = delta(vec![
        Pointer::new("entity", Target::reference("alice", "name")),
        Pointer::new("r", Target::reference_without_context("x")),
        Pointer::new("name", "Alice"),
    ]);
    assert_eq!(
        encode_string(&d, Format::RhizomeDb).unwrap(),
        concat!(
            r#"{"author":"c","id":"d1","pointers":[{"role":"entity","target":{"context":"name","id":"alice"}},"#,
            r#"{"role":"name","target":"Alice"},{"role":"r","target":{"id":"x"}}],"#,
            r#""system":"h","timestamp":1700000000000}"#
        )
    );
    assert_eq!(
        encode_string(&d, Format::V1).unwrap(),
        concat!(
            r#"{"creator":"c","host":"h","id":"d1","pointers":["#,
            r#"{"localContext":"entity","target":"alice","targetContext":"name"},"#,
            r#"{"localContext":"name","target":"Alice"},{"localContext":"r","target":{"id":"x"}}],"#,
            r#""timeCreated":1700000000000}"#
        )
    );
}

#[test]
fn not_expressible() {
    let twice = delta(vec![Pointer::new("a", 1), Pointer::new("a", 2)]);
    let e = encode(&twice, Format::V2).unwrap_err();
    assert_eq!(
        e,
        Error::NotExpressible {
            id: "d1".into(),
            format: Format::V2,
            reason: "it has two pointers with role \"a\"".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "delta d1 cannot be expressed in format v2: it has two pointers with role \"a\""
    );
    let no_context = delta(vec![Pointer::new(
        "r",
        Target::reference_without_context("x"),
    )]);
    assert!(matches!(
        JsonDelta::new(&no_context, Format::V2),
        Err(Error::NotExpressible {
            format: Format::V2,
            ..
        })
    ));
    let null = delta(vec![Pointer::new("z", ())]);
    let e = encode_value(&null, Format::RhizomeDb).unwrap_err();
    assert_eq!(
        e.to_string(),
        "delta d1 cannot be expressed in format rhizomedb: pointer \"z\" has a null target"
    );
    let mut out = b"x".to_vec();
    assert!(encode_into(&null, Format::RhizomeDb, &mut out).is_err());
    assert_eq!(out, b"x");
    // v1 says everything; the others what they can.
    for d in [&twice, &no_context, &null] {
        assert!(check_expressible(d, Format::V1).is_ok());
    }
    assert!(check_expressible(&twice, Format::RhizomeDb).is_ok());
    assert!(check_expressible(&null, Format::V2).is_ok());
}

#[test]
fn json_delta_embeds_in_larger_answers() {
    let d = sample();
    let page = json!({"deltas": [JsonDelta::new(&d, Format::V1).unwrap()], "last_seq": 1});
    assert_eq!(page["deltas"][0], encode_value(&d, Format::V1).unwrap());
    assert_eq!(decode_batch_value(&page["deltas"]).unwrap(), vec![d]);
}

// ---- properties ----

const ALL: [Format; 3] = [Format::V1, Format::V2, Format::RhizomeDb];

/// JSON text of `value` with the keys of every object in an order given by
/// `seed` (arrays keep their order).
fn shuffled_text(value: &Value, seed: u64) -> String {
    fn write(value: &Value, seed: &mut u64, out: &mut String) {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                *seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                let s = *seed;
                entries.sort_by_key(|(k, _)| {
                    k.bytes()
                        .fold(s, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
                });
                out.push('{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    write(v, seed, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(v, seed, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    let mut seed = seed;
    write(value, &mut seed, &mut out);
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn round_trip_in_every_expressible_format(d in arb_delta()) {
        for f in ALL {
            let Ok(bytes) = encode(&d, f) else {
                prop_assert!(check_expressible(&d, f).is_err());
                continue;
            };
            let (back, detected) = decode_with_format(&bytes).unwrap();
            prop_assert_eq!(&back, &d);
            prop_assert_eq!(back.signature(), d.signature());
            prop_assert_eq!(detected, f);
            prop_assert_eq!(decode_value(&encode_value(&d, f).unwrap()).unwrap(), d.clone());
        }
    }

    #[test]
    fn conversions_commute(d in arb_delta()) {
        for from in ALL {
            let Ok(bytes) = encode(&d, from) else { continue };
            let decoded = decode(&bytes).unwrap();
            for to in ALL {
                prop_assert_eq!(encode(&decoded, to).ok(), encode(&d, to).ok());
            }
        }
    }

    #[test]
    fn key_order_does_not_matter(d in arb_delta(), seed in any::<u64>()) {
        for f in ALL {
            let Ok(value) = encode_value(&d, f) else { continue };
            let text = shuffled_text(&value, seed);
            prop_assert_eq!(decode_str(&text).unwrap(), d.clone(), "{}", text);
        }
    }

    #[test]
    fn canonical_bytes_do_not_depend_on_format_or_key_order(d in arb_delta(), seed in any::<u64>()) {
        let canonical = crate::canonical::canonical_bytes(&d);
        for f in ALL {
            let Ok(value) = encode_value(&d, f) else { continue };
            let decoded = decode_str(&shuffled_text(&value, seed)).unwrap();
            prop_assert_eq!(crate::canonical::canonical_bytes(&decoded), canonical.clone());
        }
        let from_binary = binary::decode(&binary::encode(&d)).unwrap();
        prop_assert_eq!(crate::canonical::canonical_bytes(&from_binary), canonical);
    }

    #[test]
    fn output_keys_are_sorted(d in arb_delta()) {
        for f in ALL {
            let Ok(bytes) = encode(&d, f) else { continue };
            // serde_json's Value sorts keys: re-serialising must not change a byte.
            let value: Value = serde_json::from_slice(&bytes).unwrap();
            prop_assert_eq!(serde_json::to_vec(&value).unwrap(), bytes);
        }
    }

    #[test]
    fn postcard_round_trip(d in arb_delta()) {
        let back = binary::decode(&binary::encode(&d)).unwrap();
        prop_assert_eq!(back.signature(), d.signature());
        prop_assert_eq!(back, d);
    }

    #[test]
    fn batch_of_any_deltas(ds in prop::collection::vec(arb_delta(), 0..8)) {
        let body: Vec<Value> = ds.iter().map(|d| encode_value(d, Format::V1).unwrap()).collect();
        let text = serde_json::to_vec(&body).unwrap();
        prop_assert_eq!(decode_batch(&text).unwrap(), ds);
    }
}
