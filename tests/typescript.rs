//! `GET /api/types.d.ts` and `rhizome types` (API.md §9): the declarations
//! of the wire types and of the registered schemas compile with the real
//! `tsc --strict` (clients/ts's devDependency, installed by
//! `scripts/install-ts-client-deps`), and a usage file type-checks against
//! them: strategies reflected in the types, nested schemas, schemas that
//! reference each other in a cycle.

use std::path::{Path, PathBuf};
use std::process::Command;

use rhizome_crdt::codec::{Format, json::encode_value};
use rhizome_crdt::schema::{HyperSchema, registry::registration_deltas};
use serde_json::{Value, json};

mod common;

use common::{TestServer, get, post, request};

fn root() -> PathBuf {
    // Read at run time: a test binary built from another checkout sharing
    // the build directory would carry that checkout's path.
    PathBuf::from(
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into()),
    )
}

fn tsc() -> PathBuf {
    let tsc = root().join("clients/ts/node_modules/typescript/bin/tsc");
    assert!(
        tsc.exists(),
        "run scripts/install-ts-client-deps first (scripts/test does)"
    );
    tsc
}

/// Type-checks `files` (name, text) in a fresh directory with `tsc
/// --strict`; panics with tsc's output if they do not compile.
fn compile(files: &[(&str, &str)]) {
    let dir = std::env::temp_dir().join(format!(
        "rhizome-tsc-{}-{}",
        std::process::id(),
        uuid::Uuid::now_v7()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
    let out = Command::new("node")
        .arg(tsc())
        .args([
            "--strict",
            "--noEmit",
            "--noUncheckedIndexedAccess",
            "--exactOptionalPropertyTypes",
            "--target",
            "es2022",
            "--module",
            "esnext",
            "--moduleResolution",
            "bundler",
        ])
        .args(files.iter().map(|(name, _)| dir.join(name)))
        .output()
        .expect("node (Node.js) must be installed");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "tsc failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn put_schema(addr: std::net::SocketAddr, body: &Value) {
    let name = body["name"].as_str().unwrap();
    let r = request(
        addr,
        "PUT",
        &format!("/api/schemas/{name}"),
        Some("application/json"),
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
}

/// What the usage file checks, against the node's declarations.
const USAGE: &str = r#"
import type {
  A, B, ClientMessage, Delta, ErrorBody, FeedPage, Film, Hyperview, Movie, MovieHyperview,
  MovieView, Person, PutResult, Schemas, SchemaName, ServerMessage, View, my_thing,
} from "./rhizome";

// The movie schema of tests/http_schemas.rs: director expands to a Person view.
const m: MovieView = { id: "m1", properties: { title: "Alien", director: { id: "p1", properties: { name: "Ridley" } } } };
const beyondDepth: Movie = { director: { id: "p1" } };
// @ts-expect-error: Movie projects title and director only
const projected: Movie = { year: 1979 };
// Strategies are reflected in the types.
const all: Movie<"all-values"> = { title: ["Alien", "Alien³"], director: [{ id: "p1" }, { id: "p2", properties: { name: ["Ridley"] } }] };
const counted: Movie<"count"> = { title: 2, director: 1 };
const perProperty: Film<{ year: "max"; title: "concatenation" }> = { title: "Alien Aliens", year: 1986, rating: 7.5 };
const f: Film = { title: "Alien", year: 1979, released: true };
// @ts-expect-error: a Film's title is a string under last-write-wins
const wrongTitle: Film = { title: 3 };
// @ts-expect-error: all-values gives arrays
const notArray: Film<"all-values"> = { year: 1979 };
// Schemas that reference each other (a registry can hold a cycle).
const a: A = { b: { id: "b1", properties: { a: { id: "a1", properties: { b: { id: "b1" } } } } } };
const b: View<B<"all-values">> = { id: "b1", properties: { a: [{ id: "a1" }] } };
// No contexts: any property, the transformed ones typed.
const p: Person = { name: "Ridley", anything: [1, 2] };
const odd: my_thing = { x: 1 };
const names: SchemaName[] = ["Movie", "Person", "A", "B", "Film", "my-thing"];
const s: Schemas["Movie"] = m.properties;
const hv: MovieHyperview = { id: "m1", properties: { title: [] } };
const h: Hyperview = { id: "m1", properties: { year: [{ id: "d", timeCreated: 1, host: "h", creator: "c",
  pointers: [{ localContext: "x", target: { id: "p1", properties: {} } }] }] } };

// Wire types.
const d: Delta = { id: "d1", timeCreated: 1700000000000, host: "h", creator: "alice", pointers: [
  { localContext: "entity", target: "alice", targetContext: "name" }, { localContext: "name", target: "Alice" },
  { localContext: "ref", target: { id: "bob" } }] };
const page: FeedPage = { deltas: [d], last_seq: 1 };
const put: PutResult = { accepted: ["d1"], duplicates: [] };
const err: ErrorBody = { error: { code: "not_found", message: "no such delta", id: "d9" } };
const out: ClientMessage[] = [
  { op: "subscribe", id: "s1", filter: { entities: ["alice"] }, since: 0 },
  { op: "watch", id: 2, entity: "alice", schema: "Movie" },
  { op: "put", ref: 7, deltas: [d] }, { op: "unsubscribe", id: "s1" }, { op: "ping" }];
function seqOf(msg: ServerMessage): number | undefined {
  switch (msg.type) {
    case "delta": return msg.seq;
    case "overflow": return msg.last_seq;
    case "view": return msg.view.id.length;
    default: return undefined;
  }
}
export { all, a, b, beyondDepth, counted, d, err, f, h, hv, names, notArray, odd, out, p, page, perProperty, projected, put, s, seqOf, wrongTitle };
"#;

#[test]
fn types_d_ts_compiles_with_tsc_strict_for_nested_and_cyclic_schemas() {
    let tsc_path = tsc();
    let s = TestServer::start();
    let a = s.addr;
    // The movie schemas of tests/http_schemas.rs.
    put_schema(
        a,
        &json!({"name": "Person", "select": "by-target-context",
            "transform": {"name": {"primitive": "string"}}}),
    );
    put_schema(
        a,
        &json!({"name": "Movie", "select": "by-target-context", "contexts": ["title", "director"],
            "transform": {"director": {"schema": "Person"}}}),
    );
    put_schema(
        a,
        &json!({"name": "Film", "select": "by-target-context",
            "contexts": ["title", "year", "released", "rating"],
            "transform": {"title": {"primitive": "string"}, "year": {"primitive": "integer.year"},
                "released": {"primitive": "boolean"}, "rating": {"primitive": "number"}}}),
    );
    put_schema(
        a,
        &json!({"name": "my-thing", "select": "by-target-context"}),
    );
    // A cycle A -> B -> A: the registry refuses to close it through the
    // API, but two nodes registering concurrently can store one; written
    // here as the registration deltas themselves.
    let mut deltas = Vec::new();
    for (name, role, other) in [("A", "b", "B"), ("B", "a", "A")] {
        let schema = HyperSchema::from_json(&json!({"name": name, "select": "by-target-context",
            "transform": {role: {"schema": other}}}))
        .unwrap();
        for d in registration_deltas(&schema, "admin", "test", 1000).unwrap() {
            deltas.push(encode_value(&d, Format::V1).unwrap());
        }
    }
    post(a, "/api/deltas", &Value::from(deltas)).ok(201);
    assert_eq!(
        get(a, "/api/schemas").ok(200)["schemas"],
        json!(["A", "B", "Film", "Movie", "Person", "my-thing"])
    );

    let r = get(a, "/api/types.d.ts");
    assert_eq!(r.status, 200);
    let ts = String::from_utf8(r.body).unwrap();
    assert!(
        ts.contains("export interface A<S extends Strategies"),
        "{ts}"
    );
    assert!(ts.contains("\"a\"?: Resolved<Ref | View<A<S>>"), "{ts}");
    compile(&[("rhizome.d.ts", &ts), ("usage.ts", USAGE)]);

    // `rhizome types` fetches the same text from the node...
    let out = Command::new(env!("CARGO_BIN_EXE_rhizome"))
        .args(["types", "--url", &format!("http://{a}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout).unwrap(), ts);
    drop(tsc_path);
}

#[test]
fn rhizome_types_generates_offline_from_a_schema_file() {
    let dir = std::env::temp_dir().join(format!("rhizome-types-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).unwrap();
    let schemas = dir.join("schemas.json");
    // Movie and Person reference each other: fine for the types.
    std::fs::write(
        &schemas,
        json!({"schemas": [
            {"name": "Movie", "select": "by-target-context", "contexts": ["title", "director"],
             "transform": {"director": {"schema": "Person"}, "title": {"primitive": "string"}}},
            {"name": "Person", "select": "by-target-context",
             "transform": {"directed": {"schema": "Movie"}, "name": {"primitive": "string"}}}
        ]})
        .to_string(),
    )
    .unwrap();
    let out_file = dir.join("rhizome.d.ts");
    let run = |args: &[&Path]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rhizome"));
        c.arg("types");
        for a in args {
            c.arg(a);
        }
        c.output().unwrap()
    };
    let out = run(&[
        Path::new("--schemas"),
        &schemas,
        Path::new("--out"),
        &out_file,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ts = std::fs::read_to_string(&out_file).unwrap();
    let usage = r#"import type { Movie, Person, View } from "./rhizome";
const m: View<Movie> = { id: "m", properties: { title: "Alien", director: { id: "p", properties: { name: "Ridley", directed: { id: "m" } } } } };
const p: Person<"all-values"> = { name: ["Ridley"], directed: [{ id: "m", properties: { title: ["Alien"] } }] };
export { m, p };
"#;
    compile(&[("rhizome.d.ts", &ts), ("usage.ts", usage)]);

    // A transform naming a schema the file lacks is refused, in one line.
    std::fs::write(
        &schemas,
        json!([{"name": "Movie", "select": "by-target-context",
            "transform": {"director": {"schema": "Person"}}}])
        .to_string(),
    )
    .unwrap();
    let out = run(&[Path::new("--schemas"), &schemas]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("names schema \"Person\""), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
