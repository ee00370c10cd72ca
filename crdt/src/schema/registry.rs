//! The schema registry, stored as deltas.
//!
//! A registration of schema `NAME` is one delta on the entity
//! `_schema/NAME`, property `definition`, whose value is the schema's
//! canonical JSON text ([`HyperSchema::to_json_string`]):
//!
//! ```json
//! {"id": "schema-…", "timeCreated": T, "host": H, "creator": C, "pointers": [
//!   {"localContext": "entity", "target": "_schema/Movie", "targetContext": "definition"},
//!   {"localContext": "definition", "target": "{\"max_depth\":3,\"name\":\"Movie\",…}"}]}
//! ```
//!
//! Reading the registry as of T ([`SchemaRegistry::from_set`]) takes, for
//! each `_schema/NAME` entity, the latest visible `definition` (by
//! `(timeCreated, id)`) that is a valid schema named `NAME`; so registering a
//! name again replaces the definition, and a negated registration no longer
//! counts (retracting is negating: [`retraction_deltas`]). Registrations
//! replicate, appear in the feed and travel in time like any delta.
//!
//! Validation happens at registration ([`SchemaRegistry::check_registration`]):
//! the name must match the path, referenced schemas must exist, and no cycle
//! may close among schemas. A registry read from deltas may still hold a
//! cycle (two nodes registering concurrently); expansion terminates anyway
//! (it is bounded by `max_depth`).
//!
//! ```
//! use rhizome_crdt::schema::{HyperSchema, SchemaRegistry, registry};
//! use rhizome_crdt::DeltaSet;
//!
//! let person = HyperSchema::new("Person");
//! let mut set = DeltaSet::new();
//! let registry = SchemaRegistry::from_set(&set, None);
//! registry.check_registration("Person", &person)?;
//! set.insert_batch(registry::registration_deltas(&person, "admin", "node-a", 1_000)?)?;
//! assert!(SchemaRegistry::from_set(&set, None).get("Person").is_some());
//! assert!(SchemaRegistry::from_set(&set, Some(rhizome_crdt::Timestamp::new(999)?)).is_empty());
//! # Ok::<(), rhizome_crdt::Error>(())
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use super::HyperSchema;
use crate::{Delta, DeltaSet, Error, HyperviewOptions, Result, Target, Timestamp};

/// The prefix of the entities schemas are stored on.
pub const ENTITY_PREFIX: &str = "_schema/";

/// The property a registration's definition is filed under.
pub const DEFINITION: &str = "definition";

/// The entity schema `name` is stored on: `_schema/NAME`.
pub fn entity_of(name: &str) -> String {
    format!("{ENTITY_PREFIX}{name}")
}

/// The schema name an entity id stores, if it is a schema entity.
pub fn name_of(entity: &str) -> Option<&str> {
    entity.strip_prefix(ENTITY_PREFIX).filter(|n| !n.is_empty())
}

/// The deltas that register `schema` (one delta; see the
/// [module documentation](self)). Its id is derived from its content, so
/// the same registration made twice is stored once. Validation is the
/// caller's: see [`SchemaRegistry::check_registration`].
pub fn registration_deltas(
    schema: &HyperSchema,
    creator: &str,
    host: &str,
    timestamp: u64,
) -> Result<Vec<Delta>> {
    let text = schema.to_json_string();
    let mut hash = blake3::Hasher::new();
    for part in [
        schema.name.as_bytes(),
        text.as_bytes(),
        creator.as_bytes(),
        host.as_bytes(),
    ] {
        hash.update(&(part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    hash.update(&timestamp.to_le_bytes());
    let id = format!("schema-{}", &hash.finalize().to_hex()[..32]);
    let delta = Delta::builder(creator, host)
        .id(id)
        .timestamp(timestamp)
        .set_property(entity_of(&schema.name), DEFINITION, Target::from(text))
        .build()?;
    Ok(vec![delta])
}

/// Negations of every registration of `name` visible now, which retract the
/// schema (a name registered several times needs all of them negated).
/// Empty if the schema is not registered.
pub fn retraction_deltas(
    set: &DeltaSet,
    name: &str,
    creator: &str,
    host: &str,
    timestamp: u64,
) -> Result<Vec<Delta>> {
    let hv = set.hyperview(&entity_of(name), &definition_only(None));
    hv.properties
        .get(DEFINITION)
        .into_iter()
        .flatten()
        .map(|d| {
            Delta::builder(creator, host)
                .id(format!("{}-retracted-{timestamp}", d.id().as_str()))
                .timestamp(timestamp)
                .negate(d.id().as_str())
                .build()
        })
        .collect()
}

fn definition_only(as_of: Option<Timestamp>) -> HyperviewOptions {
    HyperviewOptions {
        contexts: Some(vec![Arc::from(DEFINITION)]),
        ..HyperviewOptions::as_of(as_of)
    }
}

/// The schemas in effect: name → schema. Cheap to clone (schemas are shared).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SchemaRegistry {
    schemas: BTreeMap<Arc<str>, Arc<HyperSchema>>,
}

impl SchemaRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// The registry stored in `set` as of `as_of` (`None`: now): for each
    /// `_schema/NAME` entity, the latest visible valid definition named
    /// `NAME` (invalid or misnamed definitions are skipped).
    pub fn from_set(set: &DeltaSet, as_of: Option<Timestamp>) -> SchemaRegistry {
        let mut registry = SchemaRegistry::new();
        let options = definition_only(as_of);
        let mut after: Option<Arc<str>> = Some(Arc::from(ENTITY_PREFIX));
        'pages: while let Some(start) = after.take() {
            let page = set.entities(as_of, Some(&start), Some(64));
            for entity in &page {
                let Some(name) = name_of(entity) else {
                    break 'pages;
                };
                let hv = set.hyperview(entity, &options);
                let found = hv
                    .properties
                    .get(DEFINITION)
                    .into_iter()
                    .flatten()
                    .rev()
                    .filter_map(|d| match d.value_for(entity, DEFINITION) {
                        Some(Target::String(text)) => HyperSchema::from_json_str(text).ok(),
                        _ => None,
                    })
                    .find(|s| &*s.name == name);
                if let Some(schema) = found {
                    registry.insert_unchecked(schema);
                }
            }
            if page.len() == 64 {
                after = page.last().cloned();
            }
        }
        registry
    }

    /// The schema named `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<HyperSchema>> {
        self.schemas.get(name)
    }

    /// The schema named `name`, or [`Error::UnknownSchema`].
    pub fn require(&self, name: &str) -> Result<&Arc<HyperSchema>> {
        self.get(name).ok_or_else(|| Error::UnknownSchema {
            name: name.to_owned(),
        })
    }

    /// The names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &Arc<str>> + '_ {
        self.schemas.keys()
    }

    /// Every schema, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<HyperSchema>> + '_ {
        self.schemas.values()
    }

    /// How many schemas.
    pub fn len(&self) -> usize {
        self.schemas.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.schemas.is_empty()
    }

    /// Adds (or replaces) a schema without any check: what a registry read
    /// from deltas does.
    pub fn insert_unchecked(&mut self, schema: HyperSchema) {
        self.schemas.insert(schema.name.clone(), Arc::new(schema));
    }

    /// Checks then adds (or replaces) `schema`
    /// ([`SchemaRegistry::check_registration`] with its own name as path).
    pub fn register(&mut self, schema: HyperSchema) -> Result<()> {
        self.check_registration(&schema.name.clone(), &schema)?;
        self.insert_unchecked(schema);
        Ok(())
    }

    /// Whether `schema` may be registered under `path_name` (`PUT
    /// /api/schemas/:name`, a 422 otherwise): its name must be
    /// `path_name` ([`Error::InvalidSchema`] on `name`), it must not close
    /// a cycle among schemas with the ones registered, itself replacing
    /// any previous definition ([`Error::SchemaCycle`], `Movie -> Person ->
    /// Movie`; a schema naming itself is the cycle `Person -> Person`), and
    /// every schema it names must be registered ([`Error::UnknownSchema`]).
    pub fn check_registration(&self, path_name: &str, schema: &HyperSchema) -> Result<()> {
        if *schema.name != *path_name {
            return Err(Error::InvalidSchema {
                field: "name".into(),
                problem: format!(
                    "must be {path_name:?}, the name in the path, not {:?}",
                    &*schema.name
                ),
            });
        }
        if let Some(cycle) = self.cycle_through(schema) {
            return Err(Error::SchemaCycle {
                cycle: cycle.join(" -> "),
            });
        }
        for name in schema.referenced_schemas() {
            if self.get(name).is_none() {
                return Err(Error::UnknownSchema {
                    name: name.to_string(),
                });
            }
        }
        Ok(())
    }

    /// A cycle through `schema` in this registry with `schema` in place of
    /// its previous definition: the names along it, first repeated last.
    fn cycle_through(&self, schema: &HyperSchema) -> Option<Vec<String>> {
        let root: &str = &schema.name;
        let edges = |name: &str| -> Vec<Arc<str>> {
            if name == root {
                schema.referenced_schemas().cloned().collect()
            } else {
                self.get(name)
                    .map(|s| s.referenced_schemas().cloned().collect())
                    .unwrap_or_default()
            }
        };
        // Depth-first search from the root, with the path on a stack.
        let mut done: Vec<Arc<str>> = Vec::new();
        let mut path: Vec<(Arc<str>, Vec<Arc<str>>)> =
            vec![(schema.name.clone(), edges(root).into_iter().rev().collect())];
        while let Some((_, todo)) = path.last_mut() {
            let Some(next) = todo.pop() else {
                if let Some((name, _)) = path.pop() {
                    done.push(name);
                }
                continue;
            };
            if &*next == root {
                let mut names: Vec<String> = path.iter().map(|(n, _)| n.to_string()).collect();
                names.push(root.to_owned());
                return Some(names);
            }
            if done.contains(&next) || path.iter().any(|(n, _)| *n == next) {
                continue;
            }
            let children = edges(&next).into_iter().rev().collect();
            path.push((next, children));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(name: &str, refs: &[(&str, &str)]) -> HyperSchema {
        let transform: serde_json::Map<String, serde_json::Value> = refs
            .iter()
            .map(|(role, s)| (role.to_string(), json!({"schema": s})))
            .collect();
        HyperSchema::from_json(
            &json!({"name": name, "select": "by-target-context", "transform": transform}),
        )
        .unwrap()
    }

    #[test]
    fn refuses_cycles_naming_them() {
        let mut r = SchemaRegistry::new();
        let e = r
            .register(schema("Person", &[("friend", "Person")]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "schemas would form a cycle: Person -> Person"
        );

        r.register(schema("Person", &[])).unwrap();
        r.register(schema("Movie", &[("director", "Person")]))
            .unwrap();
        // Re-registering Person to point back at Movie closes a 2-cycle.
        let e = r
            .register(schema("Person", &[("directed", "Movie")]))
            .unwrap_err();
        assert_eq!(
            e,
            Error::SchemaCycle {
                cycle: "Person -> Movie -> Person".into()
            }
        );
        // 3-node cycle.
        r.register(schema("Studio", &[("best", "Movie")])).unwrap();
        let e = r
            .register(schema("Person", &[("employer", "Studio")]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "schemas would form a cycle: Person -> Studio -> Movie -> Person"
        );
        // A diamond is not a cycle.
        r.register(schema(
            "Festival",
            &[("winner", "Movie"), ("jury", "Person")],
        ))
        .unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r.get("Person").unwrap().transform.len(), 0);
    }

    #[test]
    fn refuses_unknown_schemas_and_wrong_names() {
        let r = SchemaRegistry::new();
        let e = r
            .check_registration("Movie", &schema("Movie", &[("d", "Person")]))
            .unwrap_err();
        assert_eq!(
            e,
            Error::UnknownSchema {
                name: "Person".into()
            }
        );
        let e = r
            .check_registration("Film", &schema("Movie", &[]))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"schema name must be "Film", the name in the path, not "Movie""#
        );
        assert!(r.require("Nope").is_err());
    }

    fn ts(t: u64) -> Option<Timestamp> {
        Some(Timestamp::new(t).unwrap())
    }

    #[test]
    fn stored_as_deltas_read_as_of_any_time() {
        let mut set = DeltaSet::new();
        let v1 = HyperSchema::new("Person");
        let mut v2 = HyperSchema::new("Person");
        v2.max_depth = 1;
        set.insert_batch(registration_deltas(&v1, "admin", "h", 100).unwrap())
            .unwrap();
        set.insert_batch(registration_deltas(&v2, "admin", "h", 200).unwrap())
            .unwrap();
        // Another schema, and noise filed under a schema entity.
        set.insert_batch(registration_deltas(&HyperSchema::new("Zed"), "admin", "h", 150).unwrap())
            .unwrap();
        let junk = Delta::builder("mallory", "h")
            .id("junk")
            .timestamp(300)
            .set_property(entity_of("Person"), DEFINITION, "not json")
            .build()
            .unwrap();
        let misnamed = Delta::builder("mallory", "h")
            .id("misnamed")
            .timestamp(301)
            .set_property(
                entity_of("Person"),
                DEFINITION,
                HyperSchema::new("Other").to_json_string(),
            )
            .build()
            .unwrap();
        set.insert_batch([junk, misnamed]).unwrap();

        assert!(SchemaRegistry::from_set(&set, ts(99)).is_empty());
        assert_eq!(
            SchemaRegistry::from_set(&set, ts(100))
                .get("Person")
                .unwrap()
                .max_depth,
            3
        );
        let now = SchemaRegistry::from_set(&set, None);
        assert_eq!(now.get("Person").unwrap().max_depth, 1);
        assert_eq!(
            now.names().map(|n| &**n).collect::<Vec<_>>(),
            ["Person", "Zed"]
        );
        assert_eq!(SchemaRegistry::from_set(&set, ts(199)).len(), 2);

        // Retracting negates every registration: the schema disappears now,
        // but is still there as of before the retraction.
        let negations = retraction_deltas(&set, "Person", "admin", "h", 400).unwrap();
        assert_eq!(negations.len(), 4);
        set.insert_batch(negations).unwrap();
        assert!(SchemaRegistry::from_set(&set, None).get("Person").is_none());
        assert!(
            SchemaRegistry::from_set(&set, ts(399))
                .get("Person")
                .is_some()
        );
        // Registering the same content at the same time again is a duplicate.
        let again = set
            .insert_batch(registration_deltas(&v1, "admin", "h", 100).unwrap())
            .unwrap();
        assert_eq!(again.duplicates.len(), 1);
    }

    #[test]
    fn negating_the_latest_registration_restores_the_previous() {
        let mut set = DeltaSet::new();
        let mut v2 = HyperSchema::new("P");
        v2.max_depth = 0;
        set.insert_batch(registration_deltas(&HyperSchema::new("P"), "a", "h", 10).unwrap())
            .unwrap();
        let latest = registration_deltas(&v2, "a", "h", 20).unwrap();
        let id = latest[0].id().clone();
        set.insert_batch(latest).unwrap();
        assert_eq!(
            SchemaRegistry::from_set(&set, None)
                .get("P")
                .unwrap()
                .max_depth,
            0
        );
        let n = Delta::builder("a", "h")
            .id("n")
            .timestamp(30)
            .negate(id.as_str())
            .build()
            .unwrap();
        set.insert(n).unwrap();
        assert_eq!(
            SchemaRegistry::from_set(&set, None)
                .get("P")
                .unwrap()
                .max_depth,
            3
        );
    }
}
