//! Hyperviews and views under a schema: projection and nested expansion.
//!
//! Under schema S, the hyperview of E keeps only S's `contexts` (if given),
//! and each reference target in a pointer whose role S transforms with
//! `{"schema": S2}` becomes the nested hyperview (or view) of the
//! referenced entity under S2, at the same `as_of`, recursively (API.md §2).
//! Never expanded: a pointer that targets the entity being built, a
//! reference to an entity that does not exist (no visible delta under any
//! property, before projection), or anything deeper than the root schema's
//! `max_depth` (counted in expansions from the root: `max_depth` 0 expands
//! nothing); those stay references (`{"id"}`). Circular data terminates by
//! that bound. A `{"schema": S2}` naming a schema that is not registered
//! (retracted since) expands nothing.
//!
//! An [`Expansion`] also says which entities the answer read (the root,
//! every referenced entity whose existence was checked, every nested one,
//! and the `_schema/NAME` entities of the schemas used), so a cache can
//! drop it when any of them changes ([`crate::view_cache`]).
//!
//! ```
//! use rhizome_crdt::schema::{Expander, HyperSchema, SchemaRegistry};
//! use rhizome_crdt::{Delta, DeltaSet, Target, ViewResolver};
//!
//! let mut set = DeltaSet::new();
//! set.insert_batch([
//!     Delta::builder("c", "h").id("d1").timestamp(1).set_property("m1", "title", "Alien").build()?,
//!     Delta::builder("c", "h").id("d2").timestamp(2)
//!         .set_property("m1", "director", Target::reference("p1", "directed")).build()?,
//!     Delta::builder("c", "h").id("d3").timestamp(3).set_property("p1", "name", "Ridley").build()?,
//! ])?;
//! let mut schemas = SchemaRegistry::new();
//! schemas.register(HyperSchema::new("Person"))?;
//! schemas.register(HyperSchema::from_json(&serde_json::json!({
//!     "name": "Movie", "select": "by-target-context",
//!     "transform": {"director": {"schema": "Person"}}}))?)?;
//!
//! let expander = Expander::new(&set, &schemas, None);
//! let movie = expander.view("m1", Some("Movie"), &ViewResolver::default())?.unwrap();
//! assert_eq!(
//!     serde_json::to_string(&movie.value).unwrap(),
//!     r#"{"id":"m1","properties":{"director":{"id":"p1","properties":{"name":"Ridley"}},"title":"Alien"}}"#
//! );
//! assert!(movie.read.contains("p1"));
//! # Ok::<(), rhizome_crdt::Error>(())
//! ```

use std::cell::{OnceCell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use foldhash::HashMap;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use super::HyperSchema;
use super::registry::{SchemaRegistry, entity_of};
use crate::codec::Format;
use crate::codec::json::{JsonExpandedDelta, NestedTarget, check_expressible_nested};
use crate::value::ValueRef;
use crate::view::View;
use crate::{Delta, DeltaSet, HyperviewOptions, Result, Target, Timestamp, ViewResolver};

/// An answer and the entities it was computed from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expansion<T> {
    /// The hyperview or view.
    pub value: T,
    /// Every entity the answer depends on (see the [module documentation](self)).
    pub read: BTreeSet<Arc<str>>,
}

/// A hyperview under a schema: deltas whose expanded pointers carry nested
/// hyperviews. Serialize it with [`ExpandedHyperview::json`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExpandedHyperview {
    /// The entity.
    pub id: Arc<str>,
    /// Property → visible deltas in `(timeCreated, id)` order.
    pub properties: BTreeMap<Arc<str>, Vec<ExpandedDelta>>,
}

/// A delta of an [`ExpandedHyperview`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpandedDelta {
    /// The delta as stored.
    pub delta: Arc<Delta>,
    /// (pointer index, nested hyperview of its target), by index.
    pub expanded: Vec<(usize, Arc<ExpandedHyperview>)>,
}

impl ExpandedHyperview {
    /// Whether nothing is visible (for the root: a 404).
    pub fn is_empty(&self) -> bool {
        self.properties.is_empty()
    }

    /// A serializable form in `format`, or [`crate::Error::NotExpressible`]
    /// naming the first delta (nested ones included) the format cannot say:
    /// v2 cannot carry an expansion, rhizomedb cannot carry a null target.
    pub fn json(&self, format: Format) -> Result<JsonExpandedHyperview<'_>> {
        self.check(format)?;
        Ok(JsonExpandedHyperview { hv: self, format })
    }

    fn check(&self, format: Format) -> Result<()> {
        for d in self.properties.values().flatten() {
            check_expressible_nested(&d.delta, format, !d.expanded.is_empty())?;
            for (_, nested) in &d.expanded {
                nested.check(format)?;
            }
        }
        Ok(())
    }
}

/// An [`ExpandedHyperview`] checked for a format: `{"id", "properties": {P:
/// [deltas]}}` with expanded targets written in place (v1 keeps
/// `targetContext` beside the nested target, rhizomedb puts `context` in
/// it).
#[derive(Clone, Copy, Debug)]
pub struct JsonExpandedHyperview<'a> {
    hv: &'a ExpandedHyperview,
    format: Format,
}

impl Serialize for JsonExpandedHyperview<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(2))?;
        self.hv.serialize_entries(self.format, &mut map)?;
        map.end()
    }
}

impl NestedTarget for Arc<ExpandedHyperview> {
    fn entry_count(&self) -> usize {
        2
    }

    fn serialize_entries<M: SerializeMap>(
        &self,
        format: Format,
        map: &mut M,
    ) -> Result<(), M::Error> {
        (**self).serialize_entries(format, map)
    }
}

impl ExpandedHyperview {
    fn serialize_entries<M: SerializeMap>(
        &self,
        format: Format,
        map: &mut M,
    ) -> Result<(), M::Error> {
        map.serialize_entry("id", &*self.id)?;
        map.serialize_entry("properties", &Properties(self, format))
    }
}

struct Properties<'a>(&'a ExpandedHyperview, Format);

impl Serialize for Properties<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.properties.len()))?;
        for (p, deltas) in &self.0.properties {
            map.serialize_entry(&**p, &Deltas(deltas, self.1))?;
        }
        map.end()
    }
}

struct Deltas<'a>(&'a [ExpandedDelta], Format);

impl Serialize for Deltas<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for d in self.0 {
            // Checked by `ExpandedHyperview::json`.
            let json = JsonExpandedDelta::new(&d.delta, self.1, &d.expanded)
                .map_err(serde::ser::Error::custom)?;
            seq.serialize_element(&json)?;
        }
        seq.end()
    }
}

/// Builds hyperviews and views under schemas, over one delta set, one
/// registry and one `as_of`. Cheap to make; each call is one answer.
#[derive(Clone, Copy, Debug)]
pub struct Expander<'a> {
    set: &'a DeltaSet,
    schemas: &'a SchemaRegistry,
    as_of: Option<Timestamp>,
}

/// (entity, schema, depth) of a nested answer.
type NestKey = (Arc<str>, Arc<str>, u32);

/// The state of one answer: what it read, and nested answers made so far
/// (the same entity under the same schema at the same depth is built once).
struct Walk {
    max_depth: u32,
    read: RefCell<BTreeSet<Arc<str>>>,
    views: RefCell<HashMap<NestKey, Option<Arc<View>>>>,
    hyperviews: RefCell<HashMap<NestKey, Option<Arc<ExpandedHyperview>>>>,
}

impl Walk {
    fn new(max_depth: u32) -> Walk {
        Walk {
            max_depth,
            read: RefCell::default(),
            views: RefCell::default(),
            hyperviews: RefCell::default(),
        }
    }

    fn read(&self, entity: &str) {
        let mut read = self.read.borrow_mut();
        if !read.contains(entity) {
            read.insert(Arc::from(entity));
        }
    }

    fn read_schema(&self, name: &str) {
        self.read(&entity_of(name));
    }
}

impl<'a> Expander<'a> {
    /// An expander over `set` with the schemas of `schemas`, as of `as_of`
    /// (`None`: now).
    pub fn new(set: &'a DeltaSet, schemas: &'a SchemaRegistry, as_of: Option<Timestamp>) -> Self {
        Expander {
            set,
            schemas,
            as_of,
        }
    }

    fn options(&self, schema: Option<&HyperSchema>) -> HyperviewOptions {
        HyperviewOptions {
            contexts: schema.and_then(|s| s.contexts.clone()),
            ..HyperviewOptions::as_of(self.as_of)
        }
    }

    /// The view of `entity` under `schema` (`None`: no schema), resolved by
    /// `resolver` (which resolves nested views too). `Ok(None)` is a 404:
    /// the entity does not exist, or the schema's projection leaves nothing
    /// visible. [`crate::Error::UnknownSchema`] if `schema` is not
    /// registered.
    pub fn view(
        &self,
        entity: &str,
        schema: Option<&str>,
        resolver: &ViewResolver,
    ) -> Result<Option<Expansion<View>>> {
        let schema = schema
            .map(|s| self.schemas.require(s).map(|s| &**s))
            .transpose()?;
        let walk = Walk::new(schema.map_or(0, |s| s.max_depth));
        walk.read(entity);
        if let Some(s) = schema {
            walk.read_schema(&s.name);
        }
        let hv = self.set.hyperview(entity, &self.options(schema));
        if hv.properties.is_empty() {
            return Ok(None);
        }
        let view = match schema {
            None => resolver.resolve(&hv),
            Some(s) => self.resolve(&walk, &hv, s, 0, resolver),
        };
        Ok(Some(Expansion {
            value: view,
            read: walk.read.into_inner(),
        }))
    }

    /// The hyperview of `entity` under `schema`. `Ok(None)` is a 404 (the
    /// entity does not exist, or the projection leaves nothing visible);
    /// [`crate::Error::UnknownSchema`] if `schema` is not registered.
    pub fn hyperview(
        &self,
        entity: &str,
        schema: &str,
    ) -> Result<Option<Expansion<ExpandedHyperview>>> {
        let schema = self.schemas.require(schema)?;
        let walk = Walk::new(schema.max_depth);
        walk.read(entity);
        walk.read_schema(&schema.name);
        let hv = self.expanded_hyperview(&walk, entity, schema, 0);
        if hv.is_empty() {
            return Ok(None);
        }
        Ok(Some(Expansion {
            value: hv,
            read: walk.read.into_inner(),
        }))
    }

    /// Whether a reference to `target` from `entity` at `depth` expands,
    /// and under which schema.
    fn expands<'s>(
        &'s self,
        walk: &Walk,
        entity: &str,
        target: &str,
        schema_name: &str,
        depth: u32,
    ) -> Option<&'s Arc<HyperSchema>> {
        if target == entity || depth >= walk.max_depth {
            return None;
        }
        walk.read_schema(schema_name);
        let nested = self.schemas.get(schema_name)?;
        walk.read(target);
        self.set.exists(target, self.as_of).then_some(nested)
    }

    /// Resolves `hv` (already projected by `schema`) at `depth`, lending
    /// nested views for references under `{"schema": S}` roles. Nested
    /// views are made lazily: only for the candidates a strategy looks at.
    fn resolve(
        &self,
        walk: &Walk,
        hv: &crate::Hyperview,
        schema: &HyperSchema,
        depth: u32,
        resolver: &ViewResolver,
    ) -> View {
        let entity: &str = &hv.id;
        type Cells = Vec<OnceCell<Option<Arc<View>>>>;
        let mut lazy: BTreeMap<&str, (&[Arc<Delta>], Cells, &str)> = BTreeMap::new();
        if depth < walk.max_depth {
            for (property, deltas) in &hv.properties {
                if let Some(s2) = schema.schema_for(property) {
                    let cells = (0..deltas.len()).map(|_| OnceCell::new()).collect();
                    lazy.insert(property, (deltas, cells, s2));
                }
            }
        }
        resolver.resolve_with(hv, |property, delta| {
            let target = delta.value_for(entity, property)?;
            if let Target::Reference { id, .. } = target
                && let Some((deltas, cells, s2)) = lazy.get(property)
                && let Ok(i) = deltas.binary_search_by(|d| d.order_key().cmp(&delta.order_key()))
                && let Some(nested) =
                    cells[i].get_or_init(|| self.nested_view(walk, entity, id, s2, depth, resolver))
            {
                return Some(ValueRef::Nested(nested));
            }
            Some(ValueRef::from(target))
        })
    }

    fn nested_view(
        &self,
        walk: &Walk,
        entity: &str,
        target: &Arc<str>,
        schema_name: &str,
        depth: u32,
        resolver: &ViewResolver,
    ) -> Option<Arc<View>> {
        let schema = self.expands(walk, entity, target, schema_name, depth)?;
        let key = (target.clone(), schema.name.clone(), depth + 1);
        if let Some(done) = walk.views.borrow().get(&key) {
            return done.clone();
        }
        let hv = self.set.hyperview(target, &self.options(Some(schema)));
        let view = Arc::new(self.resolve(walk, &hv, schema, depth + 1, resolver));
        walk.views.borrow_mut().insert(key, Some(view.clone()));
        Some(view)
    }

    fn expanded_hyperview(
        &self,
        walk: &Walk,
        entity: &str,
        schema: &HyperSchema,
        depth: u32,
    ) -> ExpandedHyperview {
        let hv = self.set.hyperview(entity, &self.options(Some(schema)));
        let mut properties = BTreeMap::new();
        for (property, deltas) in hv.properties {
            let expanded = deltas
                .into_iter()
                .map(|delta| {
                    let mut expanded = Vec::new();
                    for (i, p) in delta.pointers().iter().enumerate() {
                        if let Target::Reference { id, .. } = &p.target
                            && let Some(s2) = schema.schema_for(&p.role)
                            && let Some(nested) = self.nested_hyperview(walk, entity, id, s2, depth)
                        {
                            expanded.push((i, nested));
                        }
                    }
                    ExpandedDelta { delta, expanded }
                })
                .collect();
            properties.insert(property, expanded);
        }
        ExpandedHyperview {
            id: hv.id,
            properties,
        }
    }

    fn nested_hyperview(
        &self,
        walk: &Walk,
        entity: &str,
        target: &Arc<str>,
        schema_name: &str,
        depth: u32,
    ) -> Option<Arc<ExpandedHyperview>> {
        let schema = self.expands(walk, entity, target, schema_name, depth)?;
        let key = (target.clone(), schema.name.clone(), depth + 1);
        if let Some(done) = walk.hyperviews.borrow().get(&key) {
            return done.clone();
        }
        let nested = Arc::new(self.expanded_hyperview(walk, target, schema, depth + 1));
        walk.hyperviews
            .borrow_mut()
            .insert(key, Some(nested.clone()));
        Some(nested)
    }
}

#[cfg(test)]
mod tests;
