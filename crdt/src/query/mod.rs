//! Queries (`POST /api/query`): the views of many entities, under a schema,
//! filtered by JSON Logic ([`Logic`]), sorted by id.
//!
//! Index assist: before resolving an entity, [`run`] checks that it has a
//! visible delta under every property the filter requires
//! ([`Logic::required_properties`]), after the schema's projection; an
//! entity lacking one is skipped without being resolved, expanded or
//! serialized. This relies on a property with no visible delta being absent
//! from the view, which holds for views made of strategies (what
//! [`crate::ViewOptions`] makes), not for custom resolvers computing
//! properties from nothing.
//!
//! ```
//! use rhizome_crdt::query::{self, Logic, Query};
//! use rhizome_crdt::schema::SchemaRegistry;
//! use rhizome_crdt::{Delta, DeltaSet, ViewResolver};
//!
//! let mut set = DeltaSet::new();
//! for (i, age) in [25, 35, 45].into_iter().enumerate() {
//!     let d = Delta::builder("c", "h").id(format!("d{i}")).timestamp(1)
//!         .set_property(format!("p{i}"), "age", age).build()?;
//!     set.insert(d)?;
//! }
//! let filter = Logic::compile(&serde_json::json!({">": [{"var": "properties.age"}, 30]}))?;
//! let query = Query { filter: Some(&filter), ..Query::default() };
//! let views = query::run(&set, &SchemaRegistry::new(), &ViewResolver::default(), &query)?;
//! let ids: Vec<&str> = views.iter().map(|v| &*v.id).collect();
//! assert_eq!(ids, ["p1", "p2"]);
//! # Ok::<(), rhizome_crdt::Error>(())
//! ```

pub mod json_logic;

use std::sync::Arc;

pub use json_logic::Logic;

use crate::schema::{Expander, SchemaRegistry};
use crate::view::View;
use crate::{DeltaSet, HyperviewOptions, Result, Timestamp, ViewResolver};

/// What a query asks for (strategies are the resolver's business).
#[derive(Clone, Copy, Debug, Default)]
pub struct Query<'a> {
    /// Views under this schema.
    pub schema: Option<&'a str>,
    /// As of this time (`None`: now).
    pub as_of: Option<Timestamp>,
    /// Only views for which this filter is truthy.
    pub filter: Option<&'a Logic>,
    /// Only these entities (`None`: every entity that exists).
    pub ids: Option<&'a [Arc<str>]>,
    /// At most this many views.
    pub limit: Option<usize>,
}

/// Counters of one run, for tests and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Entities considered.
    pub candidates: usize,
    /// Entities skipped by the index assist, unresolved.
    pub skipped: usize,
    /// Entities resolved.
    pub resolved: usize,
}

/// Runs `query`: the matching views sorted by id.
/// [`crate::Error::UnknownSchema`] for a schema not registered; filter
/// evaluation errors ([`crate::Error::FilterLimit`]) are returned as such.
pub fn run(
    set: &DeltaSet,
    schemas: &SchemaRegistry,
    resolver: &ViewResolver,
    query: &Query<'_>,
) -> Result<Vec<View>> {
    run_with_stats(set, schemas, resolver, query).map(|(views, _)| views)
}

/// [`run`], also saying how many entities the index assist skipped.
pub fn run_with_stats(
    set: &DeltaSet,
    schemas: &SchemaRegistry,
    resolver: &ViewResolver,
    query: &Query<'_>,
) -> Result<(Vec<View>, QueryStats)> {
    let schema = query.schema.map(|s| schemas.require(s)).transpose()?;
    let candidates: Vec<Arc<str>> = match query.ids {
        Some(ids) => {
            let mut ids = ids.to_vec();
            ids.sort();
            ids.dedup();
            ids
        }
        None => set.entities(query.as_of, None, None),
    };
    let required: Vec<Arc<str>> = query
        .filter
        .map(|f| f.required_properties().iter().cloned().collect())
        .unwrap_or_default();
    // Required properties the projection drops: nothing can match.
    if schema.is_some_and(|s| required.iter().any(|p| !s.keeps(p))) {
        let stats = QueryStats {
            candidates: candidates.len(),
            skipped: candidates.len(),
            resolved: 0,
        };
        return Ok((Vec::new(), stats));
    }
    let probe = HyperviewOptions {
        contexts: Some(required.clone()),
        ..HyperviewOptions::as_of(query.as_of)
    };
    let expander = Expander::new(set, schemas, query.as_of);
    let mut stats = QueryStats {
        candidates: candidates.len(),
        ..QueryStats::default()
    };
    let mut views = Vec::new();
    for entity in &candidates {
        if query.limit.is_some_and(|l| views.len() >= l) {
            break;
        }
        if !required.is_empty() && set.hyperview(entity, &probe).properties.len() < required.len() {
            stats.skipped += 1;
            continue;
        }
        stats.resolved += 1;
        let Some(view) = expander.view(entity, query.schema, resolver)? else {
            continue;
        };
        let view = view.value;
        if let Some(filter) = query.filter {
            let data =
                serde_json::to_value(&view).map_err(|e| crate::Error::Json(e.to_string()))?;
            if !filter.matches(&data)? {
                continue;
            }
        }
        views.push(view);
    }
    Ok((views, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::HyperSchema;
    use crate::{Delta, Target};
    use serde_json::json;

    fn set_prop(id: &str, entity: &str, prop: &str, value: impl Into<Target>) -> Delta {
        Delta::builder("c", "h")
            .id(id)
            .timestamp(1)
            .set_property(entity, prop, value)
            .build()
            .unwrap()
    }

    #[test]
    fn filters_skip_entities_lacking_required_properties() {
        let mut set = DeltaSet::new();
        set.insert_batch([
            set_prop("1", "m1", "year", 1979),
            set_prop("2", "m2", "year", 2001),
            set_prop("3", "m2", "director", Target::reference("p1", "directed")),
            set_prop("4", "m3", "title", "no year"),
            set_prop("5", "p1", "name", "Ridley"),
            set_prop("6", "m4", "year", 2010),
        ])
        .unwrap();
        let mut schemas = SchemaRegistry::new();
        schemas.register(HyperSchema::new("Person")).unwrap();
        schemas
            .register(
                HyperSchema::from_json(&json!({"name": "Movie", "select": "by-target-context",
                "transform": {"director": {"schema": "Person"}}}))
                .unwrap(),
            )
            .unwrap();
        let filter = Logic::compile(&json!({"and": [{">": [{"var": "properties.year"}, 1990]},
            {"==": [{"var": "properties.director.properties.name"}, "Ridley"]}]}))
        .unwrap();
        let q = Query {
            schema: Some("Movie"),
            filter: Some(&filter),
            ..Query::default()
        };
        let lww = ViewResolver::default();
        let (views, stats) = run_with_stats(&set, &schemas, &lww, &q).unwrap();
        assert_eq!(views.iter().map(|v| &*v.id).collect::<Vec<_>>(), ["m2"]);
        // Entities: m1 m2 m3 m4 p1 (and p1 is "directed"); only m2 has both.
        assert_eq!(stats.resolved, 1);
        assert_eq!(stats.skipped, stats.candidates - 1);
        // Without the assist (an `or` with an unconstrained branch) the answer is the same.
        let loose = Logic::compile(
            &json!({"or": [{"and": [{">": [{"var": "properties.year"}, 1990]},
            {"==": [{"var": "properties.director.properties.name"}, "Ridley"]}]}, false]}),
        )
        .unwrap();
        let q2 = Query {
            filter: Some(&loose),
            ..q
        };
        let (views2, stats2) = run_with_stats(&set, &schemas, &lww, &q2).unwrap();
        assert_eq!(views2, views);
        assert_eq!(stats2.skipped, 0);
        // ids, limit, and an unknown schema.
        let ids: Vec<Arc<str>> = vec!["m4".into(), "m1".into(), "zz".into()];
        let q3 = Query {
            ids: Some(&ids),
            limit: Some(1),
            ..Query::default()
        };
        let v = run(&set, &schemas, &lww, &q3).unwrap();
        assert_eq!(v.iter().map(|v| &*v.id).collect::<Vec<_>>(), ["m1"]);
        let q4 = Query {
            schema: Some("Nope"),
            ..Query::default()
        };
        assert!(run(&set, &schemas, &lww, &q4).is_err());
    }
}
