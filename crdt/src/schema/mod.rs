//! HyperSchemas (API.md §2 "Schemas"): named shapes that project an
//! entity's properties and expand its references into nested views.
//!
//! A [`HyperSchema`] is read from the JSON body of a registration
//! ([`HyperSchema::from_json`], unknown keys refused, errors naming the
//! field) and written back in canonical form (sorted keys, defaults
//! spelled out) by its `Serialize` impl. Schemas live in a
//! [`SchemaRegistry`], itself stored as deltas ([`registry`]); an
//! [`Expander`] ([`expand`]) builds hyperviews and views under them.
//!
//! ```
//! use rhizome_crdt::schema::{HyperSchema, Transform};
//!
//! let movie = HyperSchema::from_json(&serde_json::json!({
//!     "name": "Movie", "select": "by-target-context",
//!     "contexts": ["title", "director"],
//!     "transform": {"director": {"schema": "Person"}, "year": {"primitive": "integer.year"}}
//! }))?;
//! assert_eq!(movie.max_depth, 3);
//! assert_eq!(movie.schema_for("director"), Some("Person"));
//! assert!(matches!(&movie.transform["year"], Transform::Primitive(p) if p.refinement.as_deref() == Some("year")));
//! assert_eq!(
//!     serde_json::to_string(&movie).unwrap(),
//!     r#"{"contexts":["title","director"],"max_depth":3,"name":"Movie","select":"by-target-context","transform":{"director":{"schema":"Person"},"year":{"primitive":"integer.year"}}}"#
//! );
//! # Ok::<(), rhizome_crdt::Error>(())
//! ```

pub mod expand;
pub mod registry;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value as Json;

use crate::{Error, Result};

pub use expand::{ExpandedDelta, ExpandedHyperview, Expander, Expansion};
pub use registry::SchemaRegistry;

/// The default of `max_depth`.
pub const DEFAULT_MAX_DEPTH: u32 = 3;

/// The largest `max_depth` accepted (expansion is bounded; deeper answers
/// would be enormous anyway).
pub const MAX_MAX_DEPTH: u32 = 16;

/// The longest schema name, in bytes (it is part of an entity id,
/// `_schema/NAME`).
pub const MAX_NAME_BYTES: usize = 200;

/// A HyperSchema: `{"name", "select", "contexts"?, "transform"?, "max_depth"?}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HyperSchema {
    /// The schema's name (non-empty, no `/`).
    pub name: Arc<str>,
    /// How deltas are selected: only `by-target-context` exists.
    pub select: Select,
    /// Projection: only these properties (`None`: all), in the order given.
    pub contexts: Option<Vec<Arc<str>>>,
    /// Pointer role → what to do with its targets.
    pub transform: BTreeMap<Arc<str>, Transform>,
    /// How many expansions deep, counted from the root (default 3). Only
    /// the root schema's value counts for a whole answer.
    pub max_depth: u32,
}

/// How a schema selects deltas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Select {
    /// The deltas filed under the entity (a reference to it with a
    /// context), per context: the hyperview.
    ByTargetContext,
}

impl Select {
    /// The name in a schema body.
    pub fn as_str(self) -> &'static str {
        match self {
            Select::ByTargetContext => "by-target-context",
        }
    }
}

/// What a schema does with the targets of a role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Transform {
    /// `{"schema": S}`: reference targets are expanded into the nested
    /// hyperview or view of the referenced entity under `S`.
    Schema(Arc<str>),
    /// `{"primitive": T}`: declares the type; values are returned as stored.
    Primitive(PrimitiveType),
}

/// A primitive type with an optional refinement: `integer.year`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrimitiveType {
    /// The base type.
    pub kind: PrimitiveKind,
    /// What follows the first dot (`year` in `integer.year`), if anything.
    pub refinement: Option<Arc<str>>,
}

/// The base types of [`PrimitiveType`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrimitiveKind {
    /// `string`.
    String,
    /// `integer` (an integral number, `3.0` included).
    Integer,
    /// `number`.
    Number,
    /// `boolean`.
    Boolean,
}

impl PrimitiveKind {
    /// The name in a schema body.
    pub fn as_str(self) -> &'static str {
        match self {
            PrimitiveKind::String => "string",
            PrimitiveKind::Integer => "integer",
            PrimitiveKind::Number => "number",
            PrimitiveKind::Boolean => "boolean",
        }
    }
}

impl fmt::Display for PrimitiveType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.kind.as_str())?;
        if let Some(r) = &self.refinement {
            write!(f, ".{r}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for PrimitiveType {
    type Err = Error;

    /// Parses `integer`, `integer.year`, ... (the error names no field;
    /// [`HyperSchema::from_json`] places it).
    fn from_str(s: &str) -> Result<Self> {
        let (base, refinement) = match s.split_once('.') {
            Some((b, r)) => (b, Some(r)),
            None => (s, None),
        };
        let kind = match base {
            "string" => PrimitiveKind::String,
            "integer" => PrimitiveKind::Integer,
            "number" => PrimitiveKind::Number,
            "boolean" => PrimitiveKind::Boolean,
            _ => {
                return Err(schema_error(
                    "",
                    format!(
                        "must be string, integer, number or boolean, optionally refined (integer.year), not {s:?}"
                    ),
                ));
            }
        };
        if refinement.is_some_and(str::is_empty) {
            return Err(schema_error("", format!("has an empty refinement: {s:?}")));
        }
        Ok(PrimitiveType {
            kind,
            refinement: refinement.map(Arc::from),
        })
    }
}

fn schema_error(field: impl Into<String>, problem: impl Into<String>) -> Error {
    Error::InvalidSchema {
        field: field.into(),
        problem: problem.into(),
    }
}

fn kind_of(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "an array",
        Json::Object(_) => "an object",
    }
}

/// Checks a schema name: non-empty, at most [`MAX_NAME_BYTES`], no `/`.
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(schema_error("name", "must be a non-empty string"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(schema_error(
            "name",
            format!("must be at most {MAX_NAME_BYTES} bytes"),
        ));
    }
    if name.contains('/') {
        return Err(schema_error(
            "name",
            format!("must not contain '/': {name:?}"),
        ));
    }
    Ok(())
}

impl HyperSchema {
    /// A schema named `name` with no projection, no transform and the
    /// default depth.
    pub fn new(name: impl Into<Arc<str>>) -> HyperSchema {
        HyperSchema {
            name: name.into(),
            select: Select::ByTargetContext,
            contexts: None,
            transform: BTreeMap::new(),
            max_depth: DEFAULT_MAX_DEPTH,
        }
    }

    /// Reads a schema body. Unknown keys, a `select` other than
    /// `by-target-context`, a bad transform or depth are refused with an
    /// [`Error::InvalidSchema`] naming the field (`transform.year`).
    /// Whether referenced schemas exist is the registry's business
    /// ([`SchemaRegistry::check_registration`]).
    pub fn from_json(body: &Json) -> Result<HyperSchema> {
        let Json::Object(map) = body else {
            return Err(schema_error(
                "body",
                format!("must be an object, not {}", kind_of(body)),
            ));
        };
        for key in map.keys() {
            if !matches!(
                key.as_str(),
                "name" | "select" | "contexts" | "transform" | "max_depth"
            ) {
                return Err(schema_error(
                    key.clone(),
                    "is not a field of a schema (name, select, contexts, transform, max_depth)",
                ));
            }
        }
        let name = match map.get("name") {
            Some(Json::String(s)) => s.as_str(),
            Some(other) => {
                return Err(schema_error(
                    "name",
                    format!("must be a string, not {}", kind_of(other)),
                ));
            }
            None => return Err(schema_error("name", "is required")),
        };
        check_name(name)?;
        let select = match map.get("select") {
            Some(Json::String(s)) if s == "by-target-context" => Select::ByTargetContext,
            Some(Json::String(s)) => {
                return Err(schema_error(
                    "select",
                    format!("must be \"by-target-context\", not {s:?}"),
                ));
            }
            Some(other) => {
                return Err(schema_error(
                    "select",
                    format!("must be a string, not {}", kind_of(other)),
                ));
            }
            None => return Err(schema_error("select", "is required")),
        };
        let contexts = match map.get("contexts") {
            None | Some(Json::Null) => None,
            Some(Json::Array(items)) => {
                let mut out: Vec<Arc<str>> = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Json::String(s) if !s.is_empty() => {
                            if !out.iter().any(|c| **c == **s) {
                                out.push(Arc::from(s.as_str()));
                            }
                        }
                        _ => {
                            return Err(schema_error(
                                format!("contexts[{i}]"),
                                "must be a non-empty string",
                            ));
                        }
                    }
                }
                Some(out)
            }
            Some(other) => {
                return Err(schema_error(
                    "contexts",
                    format!("must be an array of property names, not {}", kind_of(other)),
                ));
            }
        };
        let mut transform = BTreeMap::new();
        match map.get("transform") {
            None | Some(Json::Null) => {}
            Some(Json::Object(roles)) => {
                for (role, t) in roles {
                    let field = format!("transform.{role}");
                    if role.is_empty() {
                        return Err(schema_error(field, "must name a non-empty role"));
                    }
                    transform.insert(Arc::from(role.as_str()), read_transform(&field, t)?);
                }
            }
            Some(other) => {
                return Err(schema_error(
                    "transform",
                    format!("must be an object keyed by role, not {}", kind_of(other)),
                ));
            }
        }
        let max_depth = match map.get("max_depth") {
            None | Some(Json::Null) => DEFAULT_MAX_DEPTH,
            Some(Json::Number(n)) => match n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(MAX_MAX_DEPTH))
                    .map(|f| f as u64)
            }) {
                Some(d) if d <= u64::from(MAX_MAX_DEPTH) => d as u32,
                _ => {
                    return Err(schema_error(
                        "max_depth",
                        format!("must be an integer from 0 to {MAX_MAX_DEPTH}, not {n}"),
                    ));
                }
            },
            Some(other) => {
                return Err(schema_error(
                    "max_depth",
                    format!("must be an integer, not {}", kind_of(other)),
                ));
            }
        };
        Ok(HyperSchema {
            name: Arc::from(name),
            select,
            contexts,
            transform,
            max_depth,
        })
    }

    /// Reads a schema from JSON text (see [`HyperSchema::from_json`]).
    pub fn from_json_str(text: &str) -> Result<HyperSchema> {
        let body: Json = serde_json::from_str(text).map_err(|e| Error::Json(e.to_string()))?;
        HyperSchema::from_json(&body)
    }

    /// The canonical JSON text: sorted keys, `max_depth` and `select`
    /// always present, `transform` present when non-empty.
    pub fn to_json_string(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The schema the targets of `role` expand under, if any.
    pub fn schema_for(&self, role: &str) -> Option<&str> {
        match self.transform.get(role) {
            Some(Transform::Schema(s)) => Some(s),
            _ => None,
        }
    }

    /// The schemas this one names, each once, sorted.
    pub fn referenced_schemas(&self) -> impl Iterator<Item = &Arc<str>> + '_ {
        let mut names: Vec<&Arc<str>> = self
            .transform
            .values()
            .filter_map(|t| match t {
                Transform::Schema(s) => Some(s),
                Transform::Primitive(_) => None,
            })
            .collect();
        names.sort();
        names.dedup();
        names.into_iter()
    }

    /// Whether the projection keeps `property`.
    pub fn keeps(&self, property: &str) -> bool {
        self.contexts
            .as_ref()
            .is_none_or(|c| c.iter().any(|p| &**p == property))
    }
}

fn read_transform(field: &str, t: &Json) -> Result<Transform> {
    let Json::Object(map) = t else {
        return Err(schema_error(
            field,
            format!(
                "must be {{\"schema\": NAME}} or {{\"primitive\": TYPE}}, not {}",
                kind_of(t)
            ),
        ));
    };
    let mut entries = map.iter();
    match (entries.next(), entries.next()) {
        (Some((k, Json::String(s))), None) if k == "schema" => {
            check_name(s).map_err(|e| match e {
                Error::InvalidSchema { problem, .. } => {
                    schema_error(format!("{field}.schema"), problem)
                }
                other => other,
            })?;
            Ok(Transform::Schema(Arc::from(s.as_str())))
        }
        (Some((k, Json::String(s))), None) if k == "primitive" => s
            .parse::<PrimitiveType>()
            .map(Transform::Primitive)
            .map_err(|e| match e {
                Error::InvalidSchema { problem, .. } => {
                    schema_error(format!("{field}.primitive"), problem)
                }
                other => other,
            }),
        (Some((k, v)), None) if k == "schema" || k == "primitive" => Err(schema_error(
            format!("{field}.{k}"),
            format!("must be a string, not {}", kind_of(v)),
        )),
        _ => Err(schema_error(
            field,
            "must be {\"schema\": NAME} or {\"primitive\": TYPE}",
        )),
    }
}

impl Serialize for HyperSchema {
    /// The canonical form: keys sorted, `select` and `max_depth` spelled
    /// out, `contexts` when given, `transform` when non-empty.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if let Some(contexts) = &self.contexts {
            let names: Vec<&str> = contexts.iter().map(|c| &**c).collect();
            map.serialize_entry("contexts", &names)?;
        }
        map.serialize_entry("max_depth", &self.max_depth)?;
        map.serialize_entry("name", &*self.name)?;
        map.serialize_entry("select", self.select.as_str())?;
        if !self.transform.is_empty() {
            map.serialize_entry("transform", &TransformMap(&self.transform))?;
        }
        map.end()
    }
}

struct TransformMap<'a>(&'a BTreeMap<Arc<str>, Transform>);

impl Serialize for TransformMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (role, t) in self.0 {
            match t {
                Transform::Schema(name) => {
                    map.serialize_entry(&**role, &BTreeMap::from([("schema", &**name)]))?
                }
                Transform::Primitive(p) => {
                    map.serialize_entry(&**role, &BTreeMap::from([("primitive", p.to_string())]))?
                }
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for HyperSchema {
    /// Reads a body as [`HyperSchema::from_json`] does (its error message
    /// becomes the deserializer's).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let body = Json::deserialize(d)?;
        HyperSchema::from_json(&body).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(body: Json) -> String {
        HyperSchema::from_json(&body).unwrap_err().to_string()
    }

    #[test]
    fn reads_the_api_example_and_defaults() {
        let s = HyperSchema::from_json(&json!({"name": "Movie", "select": "by-target-context",
            "contexts": ["title", "director"], "transform": {"director": {"schema": "Person"},
            "year": {"primitive": "integer"}}, "max_depth": 2}))
        .unwrap();
        assert_eq!(s.max_depth, 2);
        assert_eq!(s.contexts.as_ref().unwrap().len(), 2);
        assert!(s.keeps("title") && !s.keeps("year"));
        assert_eq!(
            s.transform["year"],
            Transform::Primitive(PrimitiveType {
                kind: PrimitiveKind::Integer,
                refinement: None
            })
        );
        let d =
            HyperSchema::from_json(&json!({"name": "P", "select": "by-target-context"})).unwrap();
        assert_eq!(d, HyperSchema::new("P"));
        assert!(d.keeps("anything"));
        // Round trip through the canonical form, and through serde.
        let text = s.to_json_string();
        assert_eq!(HyperSchema::from_json_str(&text).unwrap(), s);
        let via_serde: HyperSchema = serde_json::from_str(&text).unwrap();
        assert_eq!(via_serde, s);
        // max_depth 2.0 is an integer.
        let f = HyperSchema::from_json(
            &json!({"name": "P", "select": "by-target-context", "max_depth": 2.0}),
        );
        assert_eq!(f.unwrap().max_depth, 2);
    }

    #[test]
    fn errors_name_the_field() {
        let sel = "by-target-context";
        assert_eq!(
            err(json!([])),
            "schema body must be an object, not an array"
        );
        assert_eq!(err(json!({"select": sel})), "schema name is required");
        assert_eq!(
            err(json!({"name": "", "select": sel})),
            "schema name must be a non-empty string"
        );
        assert_eq!(
            err(json!({"name": "a/b", "select": sel})),
            r#"schema name must not contain '/': "a/b""#
        );
        assert_eq!(err(json!({"name": "M"})), "schema select is required");
        assert_eq!(
            err(json!({"name": "M", "select": "by-id"})),
            r#"schema select must be "by-target-context", not "by-id""#
        );
        assert_eq!(
            err(json!({"name": "M", "select": sel, "extra": 1})),
            "schema extra is not a field of a schema (name, select, contexts, transform, max_depth)"
        );
        assert_eq!(
            err(json!({"name": "M", "select": sel, "contexts": ["a", 3]})),
            "schema contexts[1] must be a non-empty string"
        );
        assert_eq!(
            err(json!({"name": "M", "select": sel, "transform": {"year": {"primitive": "date"}}})),
            r#"schema transform.year.primitive must be string, integer, number or boolean, optionally refined (integer.year), not "date""#
        );
        assert_eq!(
            err(
                json!({"name": "M", "select": sel, "transform": {"d": {"schema": "P", "primitive": "string"}}})
            ),
            r#"schema transform.d must be {"schema": NAME} or {"primitive": TYPE}"#
        );
        assert_eq!(
            err(json!({"name": "M", "select": sel, "transform": {"d": {"schema": 1}}})),
            "schema transform.d.schema must be a string, not a number"
        );
        assert_eq!(
            err(json!({"name": "M", "select": sel, "max_depth": -1})),
            "schema max_depth must be an integer from 0 to 16, not -1"
        );
        assert_eq!(
            err(json!({"name": "M", "select": sel, "max_depth": 1.5})),
            "schema max_depth must be an integer from 0 to 16, not 1.5"
        );
        assert_eq!(
            err(json!({"name": "M", "select": sel, "transform": {"y": {"primitive": "integer."}}})),
            r#"schema transform.y.primitive has an empty refinement: "integer.""#
        );
    }
}
