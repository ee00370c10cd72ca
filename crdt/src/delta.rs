//! The delta: an immutable assertion whose pointers name entities and values.

use std::fmt;
use std::sync::Arc;

use crate::number::Number;
use crate::{Error, Result};

/// Limits on what a delta may hold. Input beyond them is refused when a delta
/// is built or decoded, so nothing from outside can make one delta costly.
pub mod limits {
    /// Bytes of UTF-8 in a delta id (API.md §1).
    pub const MAX_ID_BYTES: usize = 256;
    /// Bytes in `host`, `creator`, a role (`localContext`) or a `targetContext`.
    pub const MAX_NAME_BYTES: usize = 256;
    /// Bytes in the id a reference points at (an entity or a delta).
    pub const MAX_REFERENCE_BYTES: usize = 1024;
    /// Bytes in a primitive string target.
    pub const MAX_STRING_BYTES: usize = 64 * 1024;
    /// Pointers in one delta.
    pub const MAX_POINTERS: usize = 1024;
    /// The largest `timeCreated`: 2^53 - 1, the largest integer a JavaScript
    /// client can hold exactly (the year 287396).
    pub const MAX_TIMESTAMP: u64 = (1 << 53) - 1;
}

/// Roles and contexts with a meaning of their own (API.md §1, "Reserved roles").
pub mod roles {
    /// A pointer with this role, targeting a delta id, negates that delta.
    pub const NEGATES: &str = "_negates";
    /// Accepted alias of [`NEGATES`].
    pub const NEGATES_ALIAS: &str = "negates";
    /// The only context a negation pointer may carry (or none).
    pub const NEGATED_BY: &str = "negated_by";
    /// The role of transaction pointers.
    pub const TRANSACTION: &str = "_transaction";
    /// Context of a transaction-membership pointer.
    pub const DELTAS: &str = "deltas";
    /// Context of a transaction-size pointer, and the role of the size value.
    pub const SIZE: &str = "size";
    /// The default role of the entity pointer in `set_property`.
    pub const ENTITY: &str = "entity";
}

/// The id of a delta: a non-empty string of at most
/// [`limits::MAX_ID_BYTES`] bytes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeltaId(Arc<str>);

impl DeltaId {
    /// Checks `id` against the rules of API.md §1.
    pub fn new(id: impl Into<Arc<str>>) -> Result<DeltaId> {
        let id = id.into();
        if let Err(problem) = check_id(&id) {
            return Err(Error::invalid("id", problem));
        }
        Ok(DeltaId(id))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The shared string behind the id.
    pub fn as_arc(&self) -> &Arc<str> {
        &self.0
    }
}

impl fmt::Debug for DeltaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for DeltaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DeltaId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for DeltaId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// Milliseconds since the Unix epoch: a positive integer of at most
/// [`limits::MAX_TIMESTAMP`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The earliest valid timestamp.
    pub const MIN: Timestamp = Timestamp(1);
    /// The latest valid timestamp.
    pub const MAX: Timestamp = Timestamp(limits::MAX_TIMESTAMP);

    /// Checks `ms` against the rules of API.md §1.
    pub fn new(ms: u64) -> Result<Timestamp> {
        check_timestamp(ms).map_err(|problem| Error::invalid("timeCreated", problem))?;
        Ok(Timestamp(ms))
    }

    /// The current time (clamped into the valid range).
    pub fn now() -> Timestamp {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(1);
        Timestamp(
            u64::try_from(ms)
                .unwrap_or(u64::MAX)
                .clamp(1, limits::MAX_TIMESTAMP),
        )
    }

    /// Milliseconds since the Unix epoch.
    pub fn as_millis(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a pointer points at.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// A reference to the entity (or delta) `id`. With a `context`, the delta
    /// is filed under that entity's property `context`; without one, it
    /// points at the entity but is filed under no property.
    Reference {
        /// The referenced entity or delta id.
        id: Arc<str>,
        /// The property of the referenced entity this delta is filed under.
        context: Option<Arc<str>>,
    },
    /// A string value.
    String(Arc<str>),
    /// A numeric value.
    Number(Number),
    /// A boolean value.
    Bool(bool),
    /// The null value.
    Null,
}

impl Target {
    /// A reference to `id` filed under its property `context`.
    pub fn reference(id: impl Into<Arc<str>>, context: impl Into<Arc<str>>) -> Target {
        Target::Reference {
            id: id.into(),
            context: Some(context.into()),
        }
    }

    /// A reference to `id` filed under no property.
    pub fn reference_without_context(id: impl Into<Arc<str>>) -> Target {
        Target::Reference {
            id: id.into(),
            context: None,
        }
    }

    /// The referenced id, if this is a reference.
    pub fn reference_id(&self) -> Option<&str> {
        match self {
            Target::Reference { id, .. } => Some(id),
            _ => None,
        }
    }

    /// The context, if this is a reference that has one.
    pub fn context(&self) -> Option<&str> {
        match self {
            Target::Reference { context, .. } => context.as_deref(),
            _ => None,
        }
    }

    /// Whether this is a primitive (not a reference).
    pub fn is_primitive(&self) -> bool {
        !matches!(self, Target::Reference { .. })
    }

    /// The number, if this is one.
    pub fn as_number(&self) -> Option<Number> {
        match self {
            Target::Number(n) => Some(*n),
            _ => None,
        }
    }
}

impl From<&str> for Target {
    fn from(s: &str) -> Self {
        Target::String(s.into())
    }
}

impl From<String> for Target {
    fn from(s: String) -> Self {
        Target::String(s.into())
    }
}

impl From<Arc<str>> for Target {
    fn from(s: Arc<str>) -> Self {
        Target::String(s)
    }
}

impl From<bool> for Target {
    fn from(b: bool) -> Self {
        Target::Bool(b)
    }
}

impl From<Number> for Target {
    fn from(n: Number) -> Self {
        Target::Number(n)
    }
}

impl From<i64> for Target {
    fn from(i: i64) -> Self {
        Target::Number(Number::Int(i))
    }
}

impl From<i32> for Target {
    fn from(i: i32) -> Self {
        Target::Number(Number::from(i))
    }
}

impl From<()> for Target {
    fn from((): ()) -> Self {
        Target::Null
    }
}

/// One pointer of a delta: a role (`localContext`) and a target.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pointer {
    /// The role this pointer plays in the delta (`localContext` in v1).
    pub role: Arc<str>,
    /// What it points at.
    pub target: Target,
}

impl Pointer {
    /// A pointer with `role` and `target`.
    pub fn new(role: impl Into<Arc<str>>, target: impl Into<Target>) -> Pointer {
        Pointer {
            role: role.into(),
            target: target.into(),
        }
    }

    /// Whether this pointer negates a delta; if so, the negated id.
    pub fn negated_id(&self) -> Option<&str> {
        if &*self.role != roles::NEGATES && &*self.role != roles::NEGATES_ALIAS {
            return None;
        }
        match &self.target {
            Target::Reference { id, context } => match context.as_deref() {
                None | Some(roles::NEGATED_BY) => Some(id),
                Some(_) => None,
            },
            _ => None,
        }
    }

    /// If this is a `_transaction` reference with context `ctx`, the transaction id.
    fn transaction_with(&self, ctx: &str) -> Option<&str> {
        if &*self.role != roles::TRANSACTION {
            return None;
        }
        match &self.target {
            Target::Reference {
                id,
                context: Some(c),
            } if &**c == ctx => Some(id),
            _ => None,
        }
    }
}

/// Which part of a delta a validation problem is in, in terms every format
/// can name (see [`crate::codec`] for the names each format uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The delta id.
    Id,
    /// `timeCreated` / `timestamp`.
    TimeCreated,
    /// `host` / `system`.
    Host,
    /// `creator` / `author`.
    Creator,
    /// The pointer list as a whole.
    Pointers,
    /// The role of pointer `i` (input order).
    Role(usize),
    /// The target of pointer `i`.
    Target(usize),
    /// The target context of pointer `i`.
    TargetContext(usize),
}

impl Field {
    /// The field's name in the v1 format (`pointers[2].targetContext`).
    pub fn v1_name(self) -> String {
        match self {
            Field::Id => "id".into(),
            Field::TimeCreated => "timeCreated".into(),
            Field::Host => "host".into(),
            Field::Creator => "creator".into(),
            Field::Pointers => "pointers".into(),
            Field::Role(i) => format!("pointers[{i}].localContext"),
            Field::Target(i) => format!("pointers[{i}].target"),
            Field::TargetContext(i) => format!("pointers[{i}].targetContext"),
        }
    }
}

/// A rule a delta breaks: where, and what (a phrase that follows the field name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Where.
    pub field: Field,
    /// What, e.g. `must be a non-empty string`.
    pub problem: String,
}

impl Violation {
    fn new(field: Field, problem: impl Into<String>) -> Self {
        Violation {
            field,
            problem: problem.into(),
        }
    }

    /// The error, naming the field as v1 does.
    pub fn into_error(self) -> Error {
        Error::invalid(self.field.v1_name(), self.problem)
    }
}

/// An immutable assertion: who (`creator`) said what (`pointers`) when
/// (`timeCreated`), from where (`host`).
///
/// A `Delta` is valid by construction (every rule and limit of API.md §1 is
/// checked by [`Delta::new`], the codecs and the builder). Its pointers are
/// kept in canonical order: stably sorted by role, so pointers that share a
/// role keep their relative order (which is all the semantics can observe:
/// "the first pointer whose role is P"), and two deltas that say the same
/// thing compare equal whatever order their pointers were written in.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Delta {
    id: DeltaId,
    time_created: Timestamp,
    host: Arc<str>,
    creator: Arc<str>,
    pointers: Box<[Pointer]>,
    signature: Option<Arc<str>>,
}

impl Delta {
    /// Starts a [`crate::DeltaBuilder`] for a delta by `creator` on `host`.
    pub fn builder(creator: impl Into<Arc<str>>, host: impl Into<Arc<str>>) -> crate::DeltaBuilder {
        crate::DeltaBuilder::new(creator, host)
    }

    /// A delta from its parts, checked against every rule of API.md §1.
    /// Errors name fields as the v1 format does.
    pub fn new(
        id: DeltaId,
        time_created: Timestamp,
        host: impl Into<Arc<str>>,
        creator: impl Into<Arc<str>>,
        pointers: Vec<Pointer>,
    ) -> Result<Delta> {
        Delta::from_parts(id, time_created, host.into(), creator.into(), pointers)
            .map_err(Violation::into_error)
    }

    /// Like [`Delta::new`], but reports the problem as a [`Violation`] so a
    /// codec can name the field in its own format's terms.
    pub fn from_parts(
        id: DeltaId,
        time_created: Timestamp,
        host: Arc<str>,
        creator: Arc<str>,
        mut pointers: Vec<Pointer>,
    ) -> Result<Delta, Violation> {
        check_name(&host).map_err(|p| Violation::new(Field::Host, p))?;
        check_name(&creator).map_err(|p| Violation::new(Field::Creator, p))?;
        check_pointers(&pointers)?;
        // Stable: pointers sharing a role keep their order.
        pointers.sort_by(|a, b| a.role.as_bytes().cmp(b.role.as_bytes()));
        Ok(Delta {
            id,
            time_created,
            host,
            creator,
            pointers: pointers.into_boxed_slice(),
            signature: None,
        })
    }

    /// The same delta carrying `signature` (base64url Ed25519 over the
    /// canonical form, API.md §6). The signature is not part of the content:
    /// equality of content is [`Delta::same_content`].
    #[must_use]
    pub fn with_signature(mut self, signature: Option<Arc<str>>) -> Delta {
        self.signature = signature;
        self
    }

    /// The delta's id.
    pub fn id(&self) -> &DeltaId {
        &self.id
    }

    /// When the delta was created.
    pub fn time_created(&self) -> Timestamp {
        self.time_created
    }

    /// The system that made it.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The shared string of the host.
    pub fn host_arc(&self) -> &Arc<str> {
        &self.host
    }

    /// The author.
    pub fn creator(&self) -> &str {
        &self.creator
    }

    /// The shared string of the creator.
    pub fn creator_arc(&self) -> &Arc<str> {
        &self.creator
    }

    /// The pointers, in canonical order (stably sorted by role).
    pub fn pointers(&self) -> &[Pointer] {
        &self.pointers
    }

    /// The signature, if the delta carries one.
    pub fn signature(&self) -> Option<&str> {
        self.signature.as_deref()
    }

    /// The key deltas are ordered by everywhere: `(timeCreated, id)`, ids
    /// compared as bytes.
    pub fn order_key(&self) -> (Timestamp, &str) {
        (self.time_created, self.id.as_str())
    }

    /// Whether two deltas say the same thing (everything but the signature).
    /// The same id with other content is a conflict.
    pub fn same_content(&self, other: &Delta) -> bool {
        self.id == other.id
            && self.time_created == other.time_created
            && self.host == other.host
            && self.creator == other.creator
            && self.pointers == other.pointers
    }

    /// The ids this delta negates (API.md §1: a pointer with role `_negates`
    /// or `negates` whose target is a reference with context `negated_by` or
    /// none).
    pub fn negated_ids(&self) -> impl Iterator<Item = &str> {
        self.pointers.iter().filter_map(Pointer::negated_id)
    }

    /// The first id this delta negates, if it is a negation.
    pub fn negated_id(&self) -> Option<&str> {
        self.negated_ids().next()
    }

    /// Whether this delta is a negation.
    pub fn is_negation(&self) -> bool {
        self.negated_id().is_some()
    }

    /// The transaction this delta is a member of (its first `_transaction`
    /// pointer with context `deltas`).
    pub fn transaction(&self) -> Option<&str> {
        self.pointers
            .iter()
            .find_map(|p| p.transaction_with(roles::DELTAS))
    }

    /// If this delta declares a transaction's size, the transaction and the
    /// size: a `_transaction` pointer with context `size` together with a
    /// `size` pointer (validated to be a positive integer). A `_transaction`
    /// / `size` pointer without a `size` pointer is ordinary data.
    pub fn transaction_size(&self) -> Option<(&str, u64)> {
        let tx = self
            .pointers
            .iter()
            .find_map(|p| p.transaction_with(roles::SIZE))?;
        let size = self.pointers.iter().find(|p| &*p.role == roles::SIZE)?;
        match size.target {
            Target::Number(Number::Int(n)) if n > 0 => Some((tx, n.unsigned_abs())),
            _ => None,
        }
    }

    /// Every reference this delta makes: `(id, context)`.
    pub fn references(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.pointers.iter().filter_map(|p| match &p.target {
            Target::Reference { id, context } => Some((&**id, context.as_deref())),
            _ => None,
        })
    }

    /// Whether this delta is filed under `entity`'s `property`: it has a
    /// reference to `entity` with context `property`.
    pub fn files_under(&self, entity: &str, property: &str) -> bool {
        self.references()
            .any(|(id, ctx)| id == entity && ctx == Some(property))
    }

    /// The value of this delta for `property` of `entity` (API.md §2): the
    /// target of its first pointer whose role is `property` and which does
    /// not point at `entity` itself.
    pub fn value_for(&self, entity: &str, property: &str) -> Option<&Target> {
        self.pointers
            .iter()
            .filter(|p| &*p.role == property)
            .find(|p| p.target.reference_id() != Some(entity))
            .map(|p| &p.target)
    }
}

/// String sharing, for the delta set's indexes (see [`crate::DeltaSet`]).
impl Delta {
    /// Replaces every name this delta holds (host, creator, roles, referenced
    /// ids and contexts) by the copy `share` returns for it, so that a store
    /// holding many deltas keeps one copy of each name. `share` must return
    /// an equal string; primitive string values are left alone (they are
    /// mostly unique).
    pub(crate) fn share_names(&mut self, mut share: impl FnMut(&Arc<str>) -> Arc<str>) {
        self.host = share(&self.host);
        self.creator = share(&self.creator);
        for p in self.pointers.iter_mut() {
            p.role = share(&p.role);
            if let Target::Reference { id, context } = &mut p.target {
                *id = share(id);
                if let Some(c) = context {
                    *c = share(c);
                }
            }
        }
    }

    /// Replaces the id by `id` if it is the same string (to share one copy).
    pub(crate) fn share_id(&mut self, id: &Arc<str>) {
        if **id == *self.id.0 {
            self.id = DeltaId(id.clone());
        }
    }
}

fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        Err("must be a non-empty string".into())
    } else if id.len() > limits::MAX_ID_BYTES {
        Err(format!("must be at most {} bytes", limits::MAX_ID_BYTES))
    } else {
        Ok(())
    }
}

fn check_timestamp(ms: u64) -> Result<(), String> {
    if ms == 0 {
        Err("must be a positive integer (milliseconds since the Unix epoch)".into())
    } else if ms > limits::MAX_TIMESTAMP {
        Err(format!("must be at most {}", limits::MAX_TIMESTAMP))
    } else {
        Ok(())
    }
}

fn check_name(s: &str) -> Result<(), String> {
    check_bounded(s, limits::MAX_NAME_BYTES)
}

fn check_bounded(s: &str, max: usize) -> Result<(), String> {
    if s.is_empty() {
        Err("must be a non-empty string".into())
    } else if s.len() > max {
        Err(format!("must be at most {max} bytes"))
    } else {
        Ok(())
    }
}

fn check_pointers(pointers: &[Pointer]) -> Result<(), Violation> {
    if pointers.len() > limits::MAX_POINTERS {
        return Err(Violation::new(
            Field::Pointers,
            format!("must have at most {} pointers", limits::MAX_POINTERS),
        ));
    }
    let mut declares_size = false;
    for (i, p) in pointers.iter().enumerate() {
        check_name(&p.role).map_err(|e| Violation::new(Field::Role(i), e))?;
        match &p.target {
            Target::Reference { id, context } => {
                if let Some(ctx) = context {
                    check_name(ctx).map_err(|e| Violation::new(Field::TargetContext(i), e))?;
                }
                check_bounded(id, limits::MAX_REFERENCE_BYTES)
                    .map_err(|e| Violation::new(Field::Target(i), e))?;
            }
            Target::String(s) if s.len() > limits::MAX_STRING_BYTES => {
                return Err(Violation::new(
                    Field::Target(i),
                    format!("must be at most {} bytes", limits::MAX_STRING_BYTES),
                ));
            }
            _ => {}
        }
        declares_size |= p.transaction_with(roles::SIZE).is_some();
    }
    if declares_size
        && let Some((i, p)) = pointers
            .iter()
            .enumerate()
            .find(|(_, p)| &*p.role == roles::SIZE)
        && !matches!(p.target, Target::Number(Number::Int(n)) if n > 0)
    {
        return Err(Violation::new(
            Field::Target(i),
            "must be a positive integer (the size of the transaction)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> DeltaId {
        DeltaId::new(s).unwrap()
    }

    fn ts(ms: u64) -> Timestamp {
        Timestamp::new(ms).unwrap()
    }

    fn delta(pointers: Vec<Pointer>) -> Result<Delta> {
        Delta::new(id("d1"), ts(1), "h", "c", pointers)
    }

    #[test]
    fn id_rules() {
        assert!(DeltaId::new("x").is_ok());
        assert_eq!(
            DeltaId::new("").unwrap_err().to_string(),
            "id must be a non-empty string"
        );
        assert!(DeltaId::new("a".repeat(256)).is_ok());
        assert_eq!(
            DeltaId::new("a".repeat(257)).unwrap_err().to_string(),
            "id must be at most 256 bytes"
        );
        // Bytes, not characters: 128 two-byte characters fit, 129 do not.
        assert!(DeltaId::new("é".repeat(128)).is_ok());
        assert!(DeltaId::new("é".repeat(129)).is_err());
    }

    #[test]
    fn timestamp_rules() {
        assert!(Timestamp::new(1).is_ok());
        assert!(Timestamp::new(limits::MAX_TIMESTAMP).is_ok());
        assert_eq!(
            Timestamp::new(0).unwrap_err().to_string(),
            "timeCreated must be a positive integer (milliseconds since the Unix epoch)"
        );
        assert!(Timestamp::new(limits::MAX_TIMESTAMP + 1).is_err());
        assert!(Timestamp::now() > Timestamp::new(1_700_000_000_000).unwrap());
    }

    #[test]
    fn host_and_creator_non_empty() {
        let e = Delta::new(id("d"), ts(1), "", "c", vec![]).unwrap_err();
        assert_eq!(e.to_string(), "host must be a non-empty string");
        let e = Delta::new(id("d"), ts(1), "h", "", vec![]).unwrap_err();
        assert_eq!(e.to_string(), "creator must be a non-empty string");
        let e = Delta::new(id("d"), ts(1), "h", "c".repeat(257), vec![]).unwrap_err();
        assert_eq!(e.to_string(), "creator must be at most 256 bytes");
    }

    #[test]
    fn empty_pointers_allowed() {
        assert!(delta(vec![]).is_ok());
    }

    #[test]
    fn pointer_rules_name_the_field() {
        let e = delta(vec![Pointer::new("a", 1), Pointer::new("", 2)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "pointers[1].localContext must be a non-empty string"
        );
        let e = delta(vec![
            Pointer::new("a", 1),
            Pointer::new("b", 2),
            Pointer::new("c", Target::reference("x", "")),
        ])
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "pointers[2].targetContext must be a non-empty string"
        );
        let e = delta(vec![Pointer::new("a", Target::reference("", "p"))]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "pointers[0].target must be a non-empty string"
        );
        let e = delta(vec![Pointer::new(
            "a",
            "x".repeat(limits::MAX_STRING_BYTES + 1),
        )])
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "pointers[0].target must be at most 65536 bytes"
        );
        let many = (0..=limits::MAX_POINTERS)
            .map(|i| Pointer::new("r", i as i64))
            .collect();
        assert_eq!(
            delta(many).unwrap_err().to_string(),
            "pointers must have at most 1024 pointers"
        );
    }

    #[test]
    fn pointers_in_canonical_order() {
        let a = delta(vec![
            Pointer::new("name", "Alice"),
            Pointer::new("entity", Target::reference("alice", "name")),
            Pointer::new("b", 1),
            Pointer::new("a", 2),
            Pointer::new("b", 0),
        ])
        .unwrap();
        let roles: Vec<_> = a.pointers().iter().map(|p| &*p.role).collect();
        assert_eq!(roles, ["a", "b", "b", "entity", "name"]);
        // Same-role pointers keep their order.
        assert_eq!(a.pointers()[1].target, Target::from(1));
        assert_eq!(a.pointers()[2].target, Target::from(0));
        let b = delta(vec![
            Pointer::new("a", 2),
            Pointer::new("b", 1),
            Pointer::new("entity", Target::reference("alice", "name")),
            Pointer::new("b", 0),
            Pointer::new("name", "Alice"),
        ])
        .unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn negation_roles() {
        let n = delta(vec![Pointer::new(
            "_negates",
            Target::reference("d0", "negated_by"),
        )])
        .unwrap();
        assert_eq!(n.negated_id(), Some("d0"));
        let n = delta(vec![Pointer::new(
            "negates",
            Target::reference_without_context("d0"),
        )])
        .unwrap();
        assert_eq!(n.negated_id(), Some("d0"));
        let n = delta(vec![
            Pointer::new("_negates", Target::reference("d0", "negated_by")),
            Pointer::new("_negates", Target::reference("d9", "negated_by")),
        ])
        .unwrap();
        assert_eq!(n.negated_ids().collect::<Vec<_>>(), ["d0", "d9"]);
        // Other context, or a primitive target: ordinary data.
        let n = delta(vec![Pointer::new(
            "_negates",
            Target::reference("d0", "other"),
        )])
        .unwrap();
        assert_eq!(n.negated_id(), None);
        let n = delta(vec![Pointer::new("_negates", "d0")]).unwrap();
        assert!(!n.is_negation());
    }

    #[test]
    fn transaction_roles() {
        let m = delta(vec![Pointer::new(
            "_transaction",
            Target::reference("tx", "deltas"),
        )])
        .unwrap();
        assert_eq!(m.transaction(), Some("tx"));
        assert_eq!(m.transaction_size(), None);
        let s = delta(vec![
            Pointer::new("_transaction", Target::reference("tx", "size")),
            Pointer::new("size", 3),
        ])
        .unwrap();
        assert_eq!(s.transaction_size(), Some(("tx", 3)));
        assert_eq!(s.transaction(), None);
        // Also ordinary data: filed under tx's property size.
        assert!(s.files_under("tx", "size"));
        assert_eq!(s.value_for("tx", "size"), Some(&Target::from(3)));
        // Without a size pointer: ordinary data, not a declaration.
        let plain = delta(vec![Pointer::new(
            "_transaction",
            Target::reference("tx", "size"),
        )])
        .unwrap();
        assert_eq!(plain.transaction_size(), None);
        // A size that is not a positive integer makes the delta invalid.
        for bad in [
            Target::from(0),
            Target::from(-1),
            Target::Number(Number::Float(1.5)),
            Target::from("3"),
            Target::Null,
        ] {
            let e = delta(vec![
                Pointer::new("_transaction", Target::reference("tx", "size")),
                Pointer::new("size", bad),
            ])
            .unwrap_err();
            assert_eq!(
                e.to_string(),
                "pointers[1].target must be a positive integer (the size of the transaction)"
            );
        }
        // A size pointer alone is ordinary data, whatever its value.
        assert!(delta(vec![Pointer::new("size", "big")]).is_ok());
    }

    #[test]
    fn value_for_skips_pointers_at_the_entity_itself() {
        let d = delta(vec![
            Pointer::new("friend", Target::reference("alice", "friends")),
            Pointer::new("friend", Target::reference("bob", "friends")),
        ])
        .unwrap();
        assert_eq!(
            d.value_for("alice", "friend"),
            Some(&Target::reference("bob", "friends"))
        );
        assert_eq!(
            d.value_for("bob", "friend"),
            Some(&Target::reference("alice", "friends"))
        );
        assert_eq!(d.value_for("alice", "nothing"), None);
    }

    #[test]
    fn same_content_ignores_signature() {
        let a = delta(vec![Pointer::new("x", 1)]).unwrap();
        let b = a.clone().with_signature(Some("sig".into()));
        assert!(a.same_content(&b));
        assert_ne!(a, b);
    }
}
