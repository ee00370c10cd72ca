use serde_json::{Value as Json, json};

use super::*;

/// Each row: logic, data, expected result.
fn table(rows: &[(Json, Json, Json)]) {
    for (logic, data, expected) in rows {
        let compiled = Logic::compile(logic).unwrap_or_else(|e| panic!("{logic}: {e}"));
        let got = compiled
            .evaluate(data)
            .unwrap_or_else(|e| panic!("{logic}: {e}"));
        assert_eq!(&got, expected, "{logic} on {data}");
    }
}

fn rows(rows: &[(Json, Json)]) {
    let with_null: Vec<(Json, Json, Json)> = rows
        .iter()
        .map(|(l, e)| (l.clone(), Json::Null, e.clone()))
        .collect();
    table(&with_null);
}

#[test]
fn var() {
    let data = json!({"a": 1, "b": {"c": [10, {"d": "deep"}]}, "n": null, "e": ""});
    table(&[
        (json!({"var": "a"}), data.clone(), json!(1)),
        (json!({"var": ["a"]}), data.clone(), json!(1)),
        (json!({"var": "b.c.0"}), data.clone(), json!(10)),
        (json!({"var": "b.c.1.d"}), data.clone(), json!("deep")),
        (json!({"var": ["z", 26]}), data.clone(), json!(26)),
        (
            json!({"var": ["b.z.y", "dflt"]}),
            data.clone(),
            json!("dflt"),
        ),
        // A stored null is returned as null, not the default.
        (json!({"var": ["n", 5]}), data.clone(), json!(null)),
        (json!({"var": "z"}), data.clone(), json!(null)),
        (json!({"var": ""}), json!(7), json!(7)),
        (json!({"var": []}), json!("all"), json!("all")),
        (json!({"var": 1}), json!(["zero", "one"]), json!("one")),
        (
            json!({"var": {"cat": ["b", ".c.0"]}}),
            data.clone(),
            json!(10),
        ),
        (json!({"var": "a.b"}), data.clone(), json!(null)),
    ]);
}

#[test]
fn equality() {
    rows(&[
        (json!({"==": [1, 1]}), json!(true)),
        (json!({"==": [1, "1"]}), json!(true)),
        (json!({"==": [0, false]}), json!(true)),
        (json!({"==": [null, null]}), json!(true)),
        (json!({"==": [null, 0]}), json!(false)),
        (json!({"==": ["", 0]}), json!(true)),
        (json!({"==": [[1], 1]}), json!(true)),
        (json!({"==": [[], 0]}), json!(true)),
        (json!({"==": [[1, 2], "1,2"]}), json!(true)),
        (json!({"==": [1.0, 1]}), json!(true)),
        (json!({"==": ["a", "b"]}), json!(false)),
        (json!({"===": [1, 1]}), json!(true)),
        (json!({"===": [1, "1"]}), json!(false)),
        (json!({"===": [null, null]}), json!(true)),
        (json!({"!=": [1, 2]}), json!(true)),
        (json!({"!=": [1, "1"]}), json!(false)),
        (json!({"!==": [1, "1"]}), json!(true)),
        (json!({"!==": [1, 1]}), json!(false)),
    ]);
}

#[test]
fn comparisons() {
    rows(&[
        (json!({">": [2, 1]}), json!(true)),
        (json!({">": [1, 1]}), json!(false)),
        (json!({">": ["2", 1]}), json!(true)),
        (json!({">": ["b", "a"]}), json!(true)),
        (json!({">": ["10", "9"]}), json!(false)), // strings compare as strings
        (json!({">": ["a", 1]}), json!(false)),    // NaN
        (json!({">=": [1, 1]}), json!(true)),
        (json!({">=": [0, 1]}), json!(false)),
        (json!({"<": [1, 2]}), json!(true)),
        (json!({"<": [2, 1]}), json!(false)),
        (json!({"<": [null, 1]}), json!(true)),
        (json!({"<": [1, 2, 3]}), json!(true)),
        (json!({"<": [1, 1, 3]}), json!(false)),
        (json!({"<": [1, 4, 3]}), json!(false)),
        (json!({"<=": [1, 1]}), json!(true)),
        (json!({"<=": [1, 1, 3]}), json!(true)),
        (json!({"<=": [1, 4, 3]}), json!(false)),
        (json!({"<=": ["a", 1]}), json!(false)),
    ]);
}

#[test]
fn logic_and_truthiness() {
    rows(&[
        (json!({"and": [true, true]}), json!(true)),
        (json!({"and": [true, false]}), json!(false)),
        (json!({"and": [1, 3]}), json!(3)),
        (json!({"and": [3, false]}), json!(false)),
        (json!({"and": [0, 3]}), json!(0)),
        (json!({"or": [false, true]}), json!(true)),
        (json!({"or": [1, 3]}), json!(1)),
        (json!({"or": [0, ""]}), json!("")),
        (json!({"or": [false, 0, "a"]}), json!("a")),
        (json!({"!": [true]}), json!(false)),
        (json!({"!": false}), json!(true)),
        (json!({"!": [[]]}), json!(true)),
        (json!({"!": [{"var": "x"}]}), json!(true)),
        (json!({"!!": [[]]}), json!(false)),
        (json!({"!!": ["0"]}), json!(true)),
        (json!({"!!": [0]}), json!(false)),
        (json!({"!!": [[0]]}), json!(true)),
        (json!({"!!": [null]}), json!(false)),
    ]);
}

#[test]
fn conditionals() {
    rows(&[
        (json!({"if": [true, "yes", "no"]}), json!("yes")),
        (json!({"if": [false, "yes", "no"]}), json!("no")),
        (json!({"if": [false, 1, true, 2, 3]}), json!(2)),
        (json!({"if": [false, 1, false, 2, 3]}), json!(3)),
        (json!({"if": [false, 1, false, 2]}), json!(null)),
        (json!({"if": [[], "a", "b"]}), json!("b")),
        (json!({"if": []}), json!(null)),
        (json!({"if": ["only"]}), json!("only")),
        (json!({"?:": [true, 1, 2]}), json!(1)),
        (json!({"?:": [0, 1, 2]}), json!(2)),
    ]);
}

#[test]
fn strings_and_membership() {
    rows(&[
        (json!({"in": ["Spring", "Springfield"]}), json!(true)),
        (json!({"in": ["spring", "Springfield"]}), json!(false)),
        (json!({"in": ["b", ["a", "b"]]}), json!(true)),
        (json!({"in": [1, ["1"]]}), json!(false)),
        (json!({"in": [1, "a1"]}), json!(true)),
        (json!({"in": ["a", null]}), json!(false)),
        (json!({"cat": ["I love", " pie"]}), json!("I love pie")),
        (
            json!({"cat": ["I love ", 3.5, " ", null, true]}),
            json!("I love 3.5 true"),
        ),
        (json!({"cat": [[1, 2], "x"]}), json!("1,2x")),
        (json!({"cat": []}), json!("")),
        (json!({"substr": ["jsonlogic", 4]}), json!("logic")),
        (json!({"substr": ["jsonlogic", -5]}), json!("logic")),
        (json!({"substr": ["jsonlogic", 1, 3]}), json!("son")),
        (json!({"substr": ["jsonlogic", 4, -2]}), json!("log")),
        (json!({"substr": ["jsonlogic", 20]}), json!("")),
        (json!({"substr": ["héllo", 1, 2]}), json!("él")),
    ]);
}

#[test]
fn arithmetic() {
    rows(&[
        (json!({"+": [4, 2]}), json!(6)),
        (json!({"+": [2, 2, 2, 2, 2]}), json!(10)),
        (json!({"+": ["2.5"]}), json!(2.5)),
        (json!({"+": ["3abc", 1]}), json!(4)),
        (json!({"+": []}), json!(0)),
        (json!({"+": ["abc"]}), json!(null)), // NaN
        (json!({"-": [4, 2]}), json!(2)),
        (json!({"-": [2]}), json!(-2)),
        (json!({"-": ["-2"]}), json!(2)),
        (json!({"*": [4, 2]}), json!(8)),
        (json!({"*": [2, 2, 2, 2, 2]}), json!(32)),
        (json!({"*": ["1.5", 2]}), json!(3)),
        (json!({"/": [4, 2]}), json!(2)),
        (json!({"/": [1, 4]}), json!(0.25)),
        (json!({"/": [1, 0]}), json!(null)), // Infinity
        (json!({"%": [101, 2]}), json!(1)),
        (json!({"%": [-7, 3]}), json!(-1)),
        (json!({"min": [1, 2, 3]}), json!(1)),
        (json!({"min": ["-1", 2]}), json!(-1)),
        (json!({"max": [1, 2, 3]}), json!(3)),
        (json!({"max": [1, "a"]}), json!(null)),
        (json!({"max": []}), json!(null)),
    ]);
}

#[test]
fn missing() {
    let data = json!({"a": "apple", "c": "carrot", "e": "", "n": null, "p": {"q": 1}});
    table(&[
        (json!({"missing": ["a", "b"]}), data.clone(), json!(["b"])),
        (json!({"missing": ["a", "c"]}), data.clone(), json!([])),
        (
            json!({"missing": ["e", "n", "p.q", "p.r"]}),
            data.clone(),
            json!(["e", "n", "p.r"]),
        ),
        (json!({"missing": [["a", "b"]]}), data.clone(), json!(["b"])),
        (json!({"missing": "b"}), data.clone(), json!(["b"])),
        (
            json!({"missing_some": [1, ["a", "b", "c"]]}),
            data.clone(),
            json!([]),
        ),
        (
            json!({"missing_some": [2, ["a", "b", "x"]]}),
            data.clone(),
            json!(["b", "x"]),
        ),
        (json!({"missing_some": [0, ["x"]]}), data.clone(), json!([])),
        (
            json!({"if": [{"merge": [{"missing": ["a"]}, {"missing_some": [1, ["x", "c"]]}]}, "no", "ok"]}),
            data.clone(),
            json!("ok"),
        ),
    ]);
}

#[test]
fn arrays() {
    let data = json!({"xs": [1, 2, 3, 4], "people": [{"age": 20}, {"age": 40}], "empty": []});
    table(&[
        (
            json!({"map": [{"var": "xs"}, {"*": [{"var": ""}, 2]}]}),
            data.clone(),
            json!([2, 4, 6, 8]),
        ),
        (
            json!({"map": [{"var": "nope"}, {"var": ""}]}),
            data.clone(),
            json!([]),
        ),
        (
            json!({"filter": [{"var": "xs"}, {"%": [{"var": ""}, 2]}]}),
            data.clone(),
            json!([1, 3]),
        ),
        (
            json!({"filter": [{"var": "people"}, {">": [{"var": "age"}, 30]}]}),
            data.clone(),
            json!([{"age": 40}]),
        ),
        (
            json!({"reduce": [{"var": "xs"}, {"+": [{"var": "current"}, {"var": "accumulator"}]}, 0]}),
            data.clone(),
            json!(10),
        ),
        (
            json!({"reduce": [{"var": "xs"}, {"*": [{"var": "current"}, {"var": "accumulator"}]}, 1]}),
            data.clone(),
            json!(24),
        ),
        (
            json!({"reduce": [{"var": "nope"}, {"var": "current"}, 7]}),
            data.clone(),
            json!(7),
        ),
        (
            json!({"all": [{"var": "xs"}, {">": [{"var": ""}, 0]}]}),
            data.clone(),
            json!(true),
        ),
        (
            json!({"all": [{"var": "xs"}, {">": [{"var": ""}, 1]}]}),
            data.clone(),
            json!(false),
        ),
        (
            json!({"all": [{"var": "empty"}, true]}),
            data.clone(),
            json!(false),
        ),
        (
            json!({"some": [{"var": "people"}, {">": [{"var": "age"}, 30]}]}),
            data.clone(),
            json!(true),
        ),
        (
            json!({"some": [{"var": "empty"}, true]}),
            data.clone(),
            json!(false),
        ),
        (
            json!({"none": [{"var": "xs"}, {">": [{"var": ""}, 10]}]}),
            data.clone(),
            json!(true),
        ),
        (
            json!({"none": [{"var": "xs"}, {"==": [{"var": ""}, 2]}]}),
            data.clone(),
            json!(false),
        ),
        (
            json!({"merge": [[1, 2], [3, 4]]}),
            data.clone(),
            json!([1, 2, 3, 4]),
        ),
        (
            json!({"merge": [1, 2, [3, 4]]}),
            data.clone(),
            json!([1, 2, 3, 4]),
        ),
        (
            json!({"merge": [[1, [2]], []]}),
            data.clone(),
            json!([1, [2]]),
        ),
        (json!({"merge": []}), data.clone(), json!([])),
        (json!([1, {"var": "xs.0"}]), data.clone(), json!([1, 1])),
    ]);
}

#[test]
fn compile_errors_name_the_place() {
    let e = Logic::compile(&json!({"and": [true, {"regex": ["a"]}]})).unwrap_err();
    assert_eq!(
        e,
        Error::UnknownOperator {
            operator: "regex".into(),
            path: "filter.and[1]".into()
        }
    );
    let e = Logic::compile(&json!({"==": [1, 1], "!=": [1, 2]})).unwrap_err();
    assert_eq!(
        e.to_string(),
        "filter filter must have exactly one key, the operator"
    );
    let mut deep = json!(true);
    for _ in 0..100 {
        deep = json!({"!": [deep]});
    }
    let e = Logic::compile(&deep).unwrap_err();
    assert!(e.to_string().contains("nests deeper than 64 levels"), "{e}");
    // Just within the limit compiles and evaluates.
    let mut ok = json!(true);
    for _ in 0..31 {
        ok = json!({"!": [ok]});
    }
    assert_eq!(
        Logic::compile(&ok).unwrap().evaluate(&Json::Null).unwrap(),
        json!(false)
    );
    // Literal empty objects are values.
    assert_eq!(
        Logic::compile(&json!({}))
            .unwrap()
            .evaluate(&Json::Null)
            .unwrap(),
        json!({})
    );
}

#[test]
fn hostile_filters_hit_limits() {
    let xs: Vec<i64> = (0..2000).collect();
    let data = json!({"xs": xs});
    // 2000 × 2000 inner evaluations: past the step budget.
    let quadratic = Logic::compile(&json!({"map": [{"var": "xs"}, {"map": [xs, 1]}]})).unwrap();
    let e = quadratic.evaluate(&data).unwrap_err();
    assert!(
        e.to_string().contains("operations in one evaluation"),
        "{e}"
    );
    // An accumulator growing by 1000 elements per step: past the array bound.
    let thousand: Vec<i64> = (0..1000).collect();
    let growing = Logic::compile(&json!({"reduce": [{"var": "xs"},
        {"merge": [{"var": "accumulator"}, thousand]}, []]}))
    .unwrap();
    let e = growing.evaluate(&data).unwrap_err();
    assert!(e.to_string().contains("array longer than"), "{e}");
    // A string doubling at each step: past the string bound.
    let doubling = Logic::compile(&json!({"reduce": [{"var": "xs"},
        {"cat": [{"var": "accumulator"}, {"var": "accumulator"}, "x"]}, "x"]}))
    .unwrap();
    let e = doubling.evaluate(&data).unwrap_err();
    assert!(e.to_string().contains("string longer than"), "{e}");
    // The same shapes on small data are fine.
    assert_eq!(
        growing
            .evaluate(&json!({"xs": [1]}))
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1000
    );
}

#[test]
fn required_and_read_properties() {
    let req = |l: Json| -> Vec<String> {
        Logic::compile(&l)
            .unwrap()
            .required_properties()
            .iter()
            .map(|s| s.to_string())
            .collect()
    };
    let p = |x: &str| json!({"var": format!("properties.{x}")});
    assert_eq!(req(json!({"==": [p("genre"), "drama"]})), ["genre"]);
    assert_eq!(req(json!({">": [p("year"), 1990]})), ["year"]);
    // Absent year passes `< 1990` (null < 1990): not required.
    assert!(req(json!({"<": [p("year"), 1990]})).is_empty());
    assert!(req(json!({"==": [p("genre"), null]})).is_empty());
    assert!(req(json!({"!": p("genre")})).is_empty());
    assert_eq!(
        req(
            json!({"and": [{">": [p("year"), 1990]}, {"in": ["x", p("tags")]}, {"==": [{"var": "id"}, "m1"]}]})
        ),
        ["tags", "year"]
    );
    assert_eq!(
        req(
            json!({"or": [{"and": [{">": [p("year"), 1]}, {"==": [p("a"), 1]}]}, {">": [p("year"), 2]}]})
        ),
        ["year"]
    );
    // A default makes it not required; a comparison of two properties too.
    assert!(req(json!({">": [{"var": ["properties.year", 2000]}, 1990]})).is_empty());
    assert!(req(json!({"==": [p("a"), p("b")]})).is_empty());
    // Nested paths still require their property.
    assert_eq!(
        req(json!({"==": [p("director.properties.name"), "Ridley"]})),
        ["director"]
    );

    let reads = |l: Json| {
        Logic::compile(&l)
            .unwrap()
            .properties_read()
            .map(|r| r.len())
    };
    assert_eq!(
        reads(json!({"and": [{"==": [p("a"), p("b")]}, {"==": [{"var": "id"}, "x"]}]})),
        Some(2)
    );
    assert_eq!(reads(json!({"==": [{"var": ""}, 1]})), None);
    assert_eq!(
        reads(json!({"==": [{"var": {"cat": ["properties.", "a"]}}, 1]})),
        None
    );
    assert_eq!(
        reads(json!({"some": [p("xs"), {"var": "whatever"}]})),
        Some(1)
    );
}

#[test]
fn the_filter_of_the_api_example() {
    let l = Logic::compile(&json!({">": [{"var": "properties.age"}, 30]})).unwrap();
    assert!(
        l.matches(&json!({"id": "a", "properties": {"age": 31}}))
            .unwrap()
    );
    assert!(
        !l.matches(&json!({"id": "a", "properties": {"age": 30}}))
            .unwrap()
    );
    assert!(!l.matches(&json!({"id": "a", "properties": {}})).unwrap());
}
