//! Building deltas in code: [`DeltaBuilder`], the fluent builder of the
//! reference implementation (rhizome-node's `DeltaBuilder`).
//!
//! ```
//! use rhizome_crdt::{Delta, Target};
//!
//! let delta = Delta::builder("alice", "node-a")
//!     .id("d1")
//!     .timestamp(1_700_000_000_000)
//!     .set_property("alice", "name", "Alice")
//!     .build()?;
//! assert_eq!(delta.value_for("alice", "name"), Some(&Target::from("Alice")));
//! assert!(delta.files_under("alice", "name"));
//! # Ok::<(), rhizome_crdt::Error>(())
//! ```
//!
//! # One pointer per role
//!
//! As in the reference, a builder holds at most one pointer per role: adding
//! a second pointer with the same role and the same target is ignored, with
//! a different target it is an error ([`Error::ConflictingPointer`], naming
//! the role). The methods stay chainable; the first such error is returned
//! by [`DeltaBuilder::build`]. A delta with several pointers under one role
//! (which the v1 format allows) is made with [`Delta::new`].
//!
//! # Errors
//!
//! [`DeltaBuilder::build`] checks everything [`Delta::new`] checks, with the
//! same errors naming the same fields (`id`, `timeCreated`, `host`,
//! `pointers[1].target`, ...; pointer indices count the pointers in the
//! order they were added to the builder).

use std::sync::Arc;

use crate::delta::{Delta, DeltaId, Pointer, Target, Timestamp, roles};
use crate::number::Number;
use crate::{Error, Result};

/// No relationship properties, for [`DeltaBuilder::relate`].
pub const NO_PROPERTIES: [(&str, Target); 0] = [];

/// What [`DeltaBuilder::timestamp`] accepts: milliseconds since the Unix
/// epoch as a `u64`, or a [`Timestamp`].
pub trait IntoTimeCreated {
    /// Milliseconds since the Unix epoch (checked by [`DeltaBuilder::build`]).
    fn into_millis(self) -> u64;
}

impl IntoTimeCreated for u64 {
    fn into_millis(self) -> u64 {
        self
    }
}

impl IntoTimeCreated for Timestamp {
    fn into_millis(self) -> u64 {
        self.as_millis()
    }
}

/// Builds a [`Delta`] by `creator` on `host`, pointer by pointer.
///
/// Unless set, the id is a fresh UUIDv7 (ordered by creation within a
/// process) and `timeCreated` is the time of [`DeltaBuilder::build`].
/// See the [module documentation](self) for the one-pointer-per-role rule.
#[derive(Clone, Debug)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct DeltaBuilder {
    creator: Arc<str>,
    host: Arc<str>,
    id: Option<Arc<str>>,
    time_created: Option<u64>,
    pointers: Vec<Pointer>,
    /// The first conflicting pointer, reported by `build`.
    conflict: Option<Error>,
}

impl DeltaBuilder {
    /// A builder for a delta by `creator` on `host` (also
    /// [`Delta::builder`]).
    pub fn new(creator: impl Into<Arc<str>>, host: impl Into<Arc<str>>) -> Self {
        DeltaBuilder {
            creator: creator.into(),
            host: host.into(),
            id: None,
            time_created: None,
            pointers: Vec::new(),
            conflict: None,
        }
    }

    /// Sets the delta's id (instead of a fresh UUIDv7).
    ///
    /// ```
    /// # use rhizome_crdt::Delta;
    /// let delta = Delta::builder("alice", "node-a").id("d1").build()?;
    /// assert_eq!(delta.id().as_str(), "d1");
    /// # Ok::<(), rhizome_crdt::Error>(())
    /// ```
    pub fn id(mut self, id: impl AsRef<str>) -> Self {
        self.id = Some(id.as_ref().into());
        self
    }

    /// Sets `timeCreated` (instead of the time of `build`): milliseconds as a
    /// `u64`, or a [`Timestamp`].
    ///
    /// ```
    /// # use rhizome_crdt::{Delta, Timestamp};
    /// let delta = Delta::builder("alice", "node-a").timestamp(1_700_000_000_000).build()?;
    /// assert_eq!(delta.time_created(), Timestamp::new(1_700_000_000_000)?);
    /// # Ok::<(), rhizome_crdt::Error>(())
    /// ```
    pub fn timestamp(mut self, time_created: impl IntoTimeCreated) -> Self {
        self.time_created = Some(time_created.into_millis());
        self
    }

    /// Adds the pointer `role` → `target`. A second pointer with the same
    /// role is ignored if it is identical, and makes `build` fail otherwise.
    ///
    /// ```
    /// # use rhizome_crdt::{Delta, Error, Target};
    /// let delta = Delta::builder("alice", "node-a")
    ///     .pointer("users", Target::reference("alice", "friends"))
    ///     .pointer("friend", "bob")
    ///     .pointer("friend", "bob") // the same pointer again: ignored
    ///     .build()?;
    /// assert_eq!(delta.pointers().len(), 2);
    ///
    /// let conflict = Delta::builder("alice", "node-a")
    ///     .pointer("friend", "bob")
    ///     .pointer("friend", "carol")
    ///     .build();
    /// assert_eq!(conflict, Err(Error::ConflictingPointer { role: "friend".into() }));
    /// # Ok::<(), rhizome_crdt::Error>(())
    /// ```
    pub fn pointer(mut self, role: impl Into<Arc<str>>, target: impl Into<Target>) -> Self {
        let pointer = Pointer::new(role, target);
        match self.pointers.iter().find(|p| p.role == pointer.role) {
            None => self.pointers.push(pointer),
            Some(existing) if existing.target == pointer.target => {}
            Some(_) => {
                self.conflict.get_or_insert(Error::ConflictingPointer {
                    role: pointer.role.to_string(),
                });
            }
        }
        self
    }

    /// Sets `property` of `entity` to `value`: the pointers `entity` →
    /// reference to `entity` with context `property`, and `property` →
    /// `value`.
    ///
    /// ```
    /// # use rhizome_crdt::{Delta, Pointer, Target};
    /// let delta = Delta::builder("alice", "node-a")
    ///     .set_property("alice", "name", "Alice")
    ///     .build()?;
    /// assert_eq!(delta.pointers(), [
    ///     Pointer::new("entity", Target::reference("alice", "name")),
    ///     Pointer::new("name", "Alice"),
    /// ]);
    /// # Ok::<(), rhizome_crdt::Error>(())
    /// ```
    pub fn set_property(
        self,
        entity: impl Into<Arc<str>>,
        property: impl Into<Arc<str>>,
        value: impl Into<Target>,
    ) -> Self {
        self.set_property_as(entity, property, value, roles::ENTITY)
    }

    /// Like [`DeltaBuilder::set_property`], with `entity_role` as the role of
    /// the pointer at the entity instead of `entity` (the reference's
    /// `entityLabel`): one delta can then set properties of several entities.
    ///
    /// ```
    /// # use rhizome_crdt::{Delta, Target};
    /// let delta = Delta::builder("alice", "node-a")
    ///     .set_property_as("post1", "title", "Hello", "post")
    ///     .set_property_as("alice", "status", "active", "user")
    ///     .build()?;
    /// assert_eq!(delta.value_for("post1", "title"), Some(&Target::from("Hello")));
    /// assert_eq!(delta.value_for("alice", "status"), Some(&Target::from("active")));
    /// # Ok::<(), rhizome_crdt::Error>(())
    /// ```
    pub fn set_property_as(
        self,
        entity: impl Into<Arc<str>>,
        property: impl Into<Arc<str>>,
        value: impl Into<Target>,
        entity_role: impl Into<Arc<str>>,
    ) -> Self {
        let property = property.into();
        let entity = Target::Reference {
            id: entity.into(),
            context: Some(property.clone()),
        };
        self.pointer(entity_role, entity).pointer(property, value)
    }

    /// Records a relationship of kind `kind` from `source` to `target` with
    /// `properties`, as the reference does: the relationship is a new entity
    /// `R` (a fresh UUIDv7; [`DeltaBuilder::relate_with_id`] chooses it)
    /// whose properties `source`, `target`, `type` and each of `properties`
    /// this delta sets, each with its own entity role `_rel_<property>`:
    ///
    /// | role | target |
    /// |---|---|
    /// | `_rel_source` | reference to `R`, context `source` |
    /// | `source` | the string `source` |
    /// | `_rel_target` | reference to `R`, context `target` |
    /// | `target` | the string `target` |
    /// | `_rel_type` | reference to `R`, context `type` |
    /// | `type` | the string `kind` |
    /// | `_rel_K` | reference to `R`, context `K` (each property `K`) |
    /// | `K` | its value |
    ///
    /// `source` and `target` are string values (ids), not references, so the
    /// relationship is filed under `R` only. One delta holds one relationship
    /// (a second one conflicts on `_rel_source`).
    ///
    /// ```
    /// # use rhizome_crdt::{Delta, Target, builder::NO_PROPERTIES};
    /// let delta = Delta::builder("alice", "node-a")
    ///     .relate("user-1", "user-2", "follows", [("since", 2024)])
    ///     .build()?;
    /// let (rel, _) = delta.references().next().unwrap();
    /// assert_eq!(delta.value_for(rel, "source"), Some(&Target::from("user-1")));
    /// assert_eq!(delta.value_for(rel, "type"), Some(&Target::from("follows")));
    /// assert_eq!(delta.value_for(rel, "since"), Some(&Target::from(2024)));
    ///
    /// let plain = Delta::builder("alice", "node-a")
    ///     .relate("user-1", "user-2", "follows", NO_PROPERTIES)
    ///     .build()?;
    /// assert_eq!(plain.pointers().len(), 6);
    /// # Ok::<(), rhizome_crdt::Error>(())
    /// ```
    pub fn relate<K, V>(
        self,
        source: impl Into<Arc<str>>,
        target: impl Into<Arc<str>>,
        kind: impl Into<Arc<str>>,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Self
    where
        K: AsRef<str>,
        V: Into<Target>,
    {
        let rel = uuid::Uuid::now_v7().to_string();
        self.relate_with_id(rel, source, target, kind, properties)
    }

    /// [`DeltaBuilder::relate`] with the relationship entity's id given.
    ///
    /// ```
    /// # use rhizome_crdt::{Delta, Target, builder::NO_PROPERTIES};
    /// let delta = Delta::builder("alice", "node-a")
    ///     .relate_with_id("r1", "user-1", "user-2", "follows", NO_PROPERTIES)
    ///     .build()?;
    /// assert!(delta.files_under("r1", "target"));
    /// assert_eq!(delta.value_for("r1", "target"), Some(&Target::from("user-2")));
    /// # Ok::<(), rhizome_crdt::Error>(())
    /// ```
    pub fn relate_with_id<K, V>(
        self,
        relationship: impl Into<Arc<str>>,
        source: impl Into<Arc<str>>,
        target: impl Into<Arc<str>>,
        kind: impl Into<Arc<str>>,
        properties: impl IntoIterator<Item = (K, V)>,
    ) -> Self
    where
        K: AsRef<str>,
        V: Into<Target>,
    {
        let rel = relationship.into();
        let mut builder = self
            .set_property_as(rel.clone(), "source", source.into(), "_rel_source")
            .set_property_as(rel.clone(), "target", target.into(), "_rel_target")
            .set_property_as(rel.clone(), "type", kind.into(), "_rel_type");
        for (key, value) in properties {
            let key = key.as_ref();
            builder = builder.set_property_as(rel.clone(), key, value, format!("_rel_{key}"));
        }
        builder
    }

    /// Makes the delta a negation of `delta_id`: the pointer `_negates` →
    /// reference to `delta_id` with context `negated_by`.
    ///
    /// ```
    /// # use rhizome_crdt::Delta;
    /// let negation = Delta::builder("moderator", "node-a").negate("d1").build()?;
    /// assert_eq!(negation.negated_id(), Some("d1"));
    /// # Ok::<(), rhizome_crdt::Error>(())
    /// ```
    pub fn negate(self, delta_id: impl AsRef<str>) -> Self {
        let target = Target::reference(delta_id.as_ref(), roles::NEGATED_BY);
        self.pointer(roles::NEGATES, target)
    }

    /// Makes the delta a member of transaction `tx`: the pointer
    /// `_transaction` → reference to `tx` with context `deltas`.
    ///
    /// ```
    /// # use rhizome_crdt::Delta;
    /// let member = Delta::builder("alice", "node-a")
    ///     .in_transaction("tx1")
    ///     .set_property("doc1", "status", "draft")
    ///     .build()?;
    /// assert_eq!(member.transaction(), Some("tx1"));
    /// # Ok::<(), rhizome_crdt::Error>(())
    /// ```
    pub fn in_transaction(self, tx: impl Into<Arc<str>>) -> Self {
        let target = Target::reference(tx, roles::DELTAS);
        self.pointer(roles::TRANSACTION, target)
    }

    /// Declares that transaction `tx` has `size` members: the pointers
    /// `_transaction` → reference to `tx` with context `size`, and `size` →
    /// `size`. A size of 0 makes `build` fail.
    ///
    /// ```
    /// # use rhizome_crdt::Delta;
    /// let declaration = Delta::builder("alice", "node-a").declare_transaction("tx1", 3).build()?;
    /// assert_eq!(declaration.transaction_size(), Some(("tx1", 3)));
    /// # Ok::<(), rhizome_crdt::Error>(())
    /// ```
    pub fn declare_transaction(self, tx: impl Into<Arc<str>>, size: u64) -> Self {
        self.set_property_as(tx, roles::SIZE, Number::from_u64(size), roles::TRANSACTION)
    }

    /// The delta, checked as [`Delta::new`] checks it. Errors: an invalid
    /// id or timestamp, the first [`Error::ConflictingPointer`], then
    /// whatever [`Delta::new`] finds (see the [module documentation](self)).
    pub fn build(self) -> Result<Delta> {
        let id = match self.id {
            Some(id) => DeltaId::new(id)?,
            None => DeltaId::new(uuid::Uuid::now_v7().to_string())?,
        };
        let time_created = match self.time_created {
            Some(ms) => Timestamp::new(ms)?,
            None => Timestamp::now(),
        };
        if let Some(conflict) = self.conflict {
            return Err(conflict);
        }
        Delta::new(id, time_created, self.host, self.creator, self.pointers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> DeltaBuilder {
        Delta::builder("alice", "node-a")
            .id("d1")
            .timestamp(1_700_000_000_000)
    }

    fn pointers(delta: &Delta) -> Vec<(String, Target)> {
        delta
            .pointers()
            .iter()
            .map(|p| (p.role.to_string(), p.target.clone()))
            .collect()
    }

    #[test]
    fn envelope_from_builder() {
        let d = builder().build().unwrap();
        assert_eq!(d.id().as_str(), "d1");
        assert_eq!(d.time_created().as_millis(), 1_700_000_000_000);
        assert_eq!(d.creator(), "alice");
        assert_eq!(d.host(), "node-a");
        assert!(d.pointers().is_empty());
        assert_eq!(d.signature(), None);
    }

    #[test]
    fn timestamp_accepts_millis_and_timestamp() {
        let ts = Timestamp::new(42).unwrap();
        let a = builder().timestamp(ts).build().unwrap();
        let b = builder().timestamp(42).build().unwrap();
        let c = builder().timestamp(42_u64).build().unwrap();
        assert_eq!(a.time_created(), ts);
        assert_eq!(a, b);
        assert_eq!(b, c);
    }

    #[test]
    fn default_id_is_uuid_v7_in_creation_order() {
        let ids: Vec<String> = (0..200)
            .map(|_| {
                let d = Delta::builder("a", "h").build().unwrap();
                d.id().to_string()
            })
            .collect();
        for id in &ids {
            let uuid = uuid::Uuid::parse_str(id).unwrap();
            assert_eq!(uuid.get_version_num(), 7, "{id}");
            // Canonical hyphenated lowercase form.
            assert_eq!(uuid.hyphenated().to_string(), *id);
        }
        // now_v7 orders ids by creation within a process; the lowercase hex
        // form sorts as the bytes do, so ids compare as bytes in that order.
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }

    #[test]
    fn default_timestamp_is_the_time_of_build() {
        let before = Timestamp::now();
        let d = Delta::builder("a", "h").build().unwrap();
        let after = Timestamp::now();
        assert!(before <= d.time_created() && d.time_created() <= after);
    }

    #[test]
    fn pointer_accepts_every_target() {
        let d = builder()
            .pointer("s", "x")
            .pointer("o", String::from("y"))
            .pointer("i", 7)
            .pointer("f", Number::Float(1.5))
            .pointer("b", true)
            .pointer("n", ())
            .pointer("r", Target::reference("e", "p"))
            .pointer("q", Target::reference_without_context("e"))
            .build()
            .unwrap();
        assert_eq!(
            pointers(&d),
            [
                ("b".into(), Target::Bool(true)),
                ("f".into(), Target::Number(Number::Float(1.5))),
                ("i".into(), Target::from(7)),
                ("n".into(), Target::Null),
                ("o".into(), Target::from("y")),
                ("q".into(), Target::reference_without_context("e")),
                ("r".into(), Target::reference("e", "p")),
                ("s".into(), Target::from("x")),
            ]
        );
    }

    #[test]
    fn identical_pointer_twice_is_ignored() {
        let d = builder()
            .set_property("alice", "name", "Alice")
            .set_property("alice", "name", "Alice")
            .build()
            .unwrap();
        assert_eq!(d.pointers().len(), 2);
    }

    #[test]
    fn different_pointer_under_a_used_role_is_an_error() {
        let e = builder()
            .pointer("name", "Alice")
            .pointer("name", "Bob")
            .build()
            .unwrap_err();
        assert_eq!(
            e,
            Error::ConflictingPointer {
                role: "name".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "pointer role \"name\" already has a different target in this delta"
        );
        // The same entity role for two properties conflicts too (as in the
        // reference): the entity pointer's context differs.
        let e = builder()
            .set_property("alice", "name", "Alice")
            .set_property("alice", "age", 30)
            .build()
            .unwrap_err();
        assert_eq!(
            e,
            Error::ConflictingPointer {
                role: "entity".into()
            }
        );
        // The first conflict is the one reported.
        let e = builder()
            .pointer("a", 1)
            .pointer("b", 1)
            .pointer("b", 2)
            .pointer("a", 2)
            .build()
            .unwrap_err();
        assert_eq!(e, Error::ConflictingPointer { role: "b".into() });
        // 1 and 1.0 are the same number; 1 and "1" are not.
        assert!(
            builder()
                .pointer("a", 1)
                .pointer("a", Number::from_f64(1.0).unwrap())
                .build()
                .is_ok()
        );
        assert!(builder().pointer("a", 1).pointer("a", "1").build().is_err());
    }

    #[test]
    fn set_property_pointers() {
        let d = builder()
            .set_property("alice", "name", "Alice")
            .build()
            .unwrap();
        assert_eq!(
            pointers(&d),
            [
                ("entity".into(), Target::reference("alice", "name")),
                ("name".into(), Target::from("Alice")),
            ]
        );
        assert!(d.files_under("alice", "name"));
        assert_eq!(d.value_for("alice", "name"), Some(&Target::from("Alice")));
    }

    #[test]
    fn set_property_as_uses_the_given_entity_role() {
        let d = builder()
            .set_property_as("entity-1", "name", "Test", "user")
            .set_property_as("entity-2", "score", 100, "game")
            .build()
            .unwrap();
        assert_eq!(
            pointers(&d),
            [
                ("game".into(), Target::reference("entity-2", "score")),
                ("name".into(), Target::from("Test")),
                ("score".into(), Target::from(100)),
                ("user".into(), Target::reference("entity-1", "name")),
            ]
        );
    }

    #[test]
    fn relate_pointers() {
        let d = builder()
            .relate_with_id(
                "r1",
                "user-1",
                "user-2",
                "follows",
                [("version", Target::from(1)), ("note", Target::from("x"))],
            )
            .build()
            .unwrap();
        let r = |ctx: &str| Target::reference("r1", ctx);
        assert_eq!(
            pointers(&d),
            [
                ("_rel_note".into(), r("note")),
                ("_rel_source".into(), r("source")),
                ("_rel_target".into(), r("target")),
                ("_rel_type".into(), r("type")),
                ("_rel_version".into(), r("version")),
                ("note".into(), Target::from("x")),
                ("source".into(), Target::from("user-1")),
                ("target".into(), Target::from("user-2")),
                ("type".into(), Target::from("follows")),
                ("version".into(), Target::from(1)),
            ]
        );
    }

    #[test]
    fn relate_generates_a_uuid_v7_relationship() {
        let d = builder()
            .relate("user-1", "user-2", "follows", NO_PROPERTIES)
            .build()
            .unwrap();
        assert_eq!(d.pointers().len(), 6);
        let rel = d.pointers()[0].target.reference_id().unwrap();
        assert_eq!(
            uuid::Uuid::parse_str(rel).unwrap().get_version_num(),
            7,
            "{rel}"
        );
        for p in ["source", "target", "type"] {
            assert!(d.files_under(rel, p), "{p}");
        }
        assert_eq!(d.value_for(rel, "target"), Some(&Target::from("user-2")));
        // Two relationships in one delta conflict on their entity roles.
        let e = builder()
            .relate("a", "b", "follows", NO_PROPERTIES)
            .relate("a", "c", "follows", NO_PROPERTIES)
            .build()
            .unwrap_err();
        assert_eq!(
            e,
            Error::ConflictingPointer {
                role: "_rel_source".into()
            }
        );
    }

    #[test]
    fn negate_makes_a_negation() {
        let d = builder().negate("d0").build().unwrap();
        assert_eq!(
            pointers(&d),
            [("_negates".into(), Target::reference("d0", "negated_by"))]
        );
        assert_eq!(d.negated_id(), Some("d0"));
        assert!(d.is_negation());
        // Accepts a DeltaId.
        let target = builder().build().unwrap();
        let n = builder().id("n").negate(target.id()).build().unwrap();
        assert_eq!(n.negated_id(), Some("d1"));
    }

    #[test]
    fn in_transaction_makes_a_member() {
        let d = builder()
            .in_transaction("tx")
            .set_property("doc", "status", "draft")
            .build()
            .unwrap();
        assert_eq!(
            d.pointers()[0],
            Pointer::new("_transaction", Target::reference("tx", "deltas"))
        );
        assert_eq!(d.transaction(), Some("tx"));
        assert_eq!(d.transaction_size(), None);
        assert_eq!(d.value_for("doc", "status"), Some(&Target::from("draft")));
    }

    #[test]
    fn declare_transaction_declares_a_size() {
        let d = builder().declare_transaction("tx", 3).build().unwrap();
        assert_eq!(
            pointers(&d),
            [
                ("_transaction".into(), Target::reference("tx", "size")),
                ("size".into(), Target::from(3)),
            ]
        );
        assert_eq!(d.transaction_size(), Some(("tx", 3)));
        assert_eq!(d.transaction(), None);
        // Zero is not a size: Delta::new's error, naming the pointer.
        let e = builder().declare_transaction("tx", 0).build().unwrap_err();
        assert_eq!(
            e.to_string(),
            "pointers[1].target must be a positive integer (the size of the transaction)"
        );
        // Membership and declaration share the role `_transaction`.
        let e = builder()
            .in_transaction("tx")
            .declare_transaction("tx", 2)
            .build()
            .unwrap_err();
        assert_eq!(
            e,
            Error::ConflictingPointer {
                role: "_transaction".into()
            }
        );
    }

    #[test]
    fn invalid_parts_name_their_field() {
        let msg = |b: DeltaBuilder| b.build().unwrap_err().to_string();
        assert_eq!(msg(builder().id("")), "id must be a non-empty string");
        assert_eq!(
            msg(builder().id("x".repeat(257))),
            "id must be at most 256 bytes"
        );
        assert_eq!(
            msg(builder().timestamp(0)),
            "timeCreated must be a positive integer (milliseconds since the Unix epoch)"
        );
        assert_eq!(
            msg(builder().timestamp(1 << 53)),
            "timeCreated must be at most 9007199254740991"
        );
        assert_eq!(
            msg(Delta::builder("", "h").id("d")),
            "creator must be a non-empty string"
        );
        assert_eq!(
            msg(Delta::builder("c", "").id("d")),
            "host must be a non-empty string"
        );
        assert_eq!(
            msg(builder().pointer("a", 1).pointer("", 2)),
            "pointers[1].localContext must be a non-empty string"
        );
        assert_eq!(
            msg(builder().set_property("", "name", "x")),
            "pointers[0].target must be a non-empty string"
        );
        assert_eq!(
            msg(builder().set_property("e", "", "x")),
            "pointers[0].targetContext must be a non-empty string"
        );
        // Field errors of the parts come before conflicts.
        assert_eq!(
            msg(builder().id("").pointer("a", 1).pointer("a", 2)),
            "id must be a non-empty string"
        );
    }
}
