//! The one error type of this crate.

use crate::codec::Format;

/// Everything that can go wrong in `rhizome-crdt`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A delta breaks a rule of the data model. `field` is a path into the
    /// delta as the client wrote it (`pointers[2].targetContext`), `problem`
    /// completes the sentence (`must be a non-empty string`).
    #[error("{field} {problem}")]
    InvalidDelta {
        /// Where in the delta: `id`, `pointers[2].target`, `timestamp`, ...
        field: String,
        /// What is wrong, phrased to follow the field name.
        problem: String,
    },
    /// The delta is valid but the requested output format cannot say it.
    #[error("delta {id} cannot be expressed in format {format}: {reason}")]
    NotExpressible {
        /// The delta's id.
        id: String,
        /// The format that was asked for.
        format: Format,
        /// What the format lacks.
        reason: String,
    },
    /// The input is not JSON at all (or not the expected JSON shape).
    #[error("malformed JSON: {0}")]
    Json(String),
    /// The input is not a valid binary (postcard) delta.
    #[error("malformed binary delta: {0}")]
    Binary(String),
    /// A [`crate::DeltaBuilder`] was given a pointer whose role already has
    /// a different pointer (as in the reference builder, one role holds one
    /// pointer; adding the identical pointer again is not an error).
    #[error("pointer role {role:?} already has a different target in this delta")]
    ConflictingPointer {
        /// The role (`localContext`) given twice.
        role: String,
    },
    /// A strategy name that no strategy is registered under.
    #[error("unknown strategy {name:?} (known: {known})")]
    UnknownStrategy {
        /// The name asked for.
        name: String,
        /// The registered names, comma-separated.
        known: String,
    },
    /// A view option (`strategy`, `strategies`, `trusted`) that cannot be
    /// read. `part` is the offending piece as written.
    #[error("{option}: {part:?} {problem}")]
    InvalidViewOption {
        /// The option: `strategy`, `strategies` or `trusted`.
        option: &'static str,
        /// The piece of it that is wrong.
        part: String,
        /// What is wrong, phrased to follow the piece.
        problem: String,
    },
    /// Custom resolvers whose dependencies form a cycle, named as
    /// `a -> b -> a`.
    #[error("resolver dependencies form a cycle: {cycle}")]
    ResolverCycle {
        /// The properties on the cycle, first one repeated at the end.
        cycle: String,
    },
    /// A resolver depends on a property that has no resolver in the set.
    #[error("resolver of {property:?} depends on {dependency:?}, which has no resolver")]
    MissingDependency {
        /// The property whose resolver declares the dependency.
        property: String,
        /// The dependency that is missing.
        dependency: String,
    },
    /// Two resolvers (or strategies) were given for one property.
    #[error("property {property:?} is given two resolvers")]
    DuplicateResolver {
        /// The property.
        property: String,
    },
    /// The delta at `index` of a batch (API.md §3 `POST /api/deltas`) is
    /// invalid: `deltas[57]: pointers[2].targetContext must be a non-empty string`.
    #[error("deltas[{index}]: {source}")]
    InBatch {
        /// The position of the offending delta in the batch (0 for a body
        /// that is a single delta).
        index: usize,
        /// What is wrong with it.
        source: Box<Error>,
    },
    /// A delta with this id is already stored (or earlier in the same batch)
    /// with other content. Nothing of the batch was stored.
    #[error("delta {id} conflicts with a stored delta of the same id and other content")]
    Conflict {
        /// The id both deltas carry.
        id: String,
    },
    /// Bytes that should hold Automerge changes or a saved Automerge
    /// document (API.md §7) do not.
    #[error("not Automerge data: {0}")]
    InvalidAutomerge(String),
    /// One Automerge change is too large for one delta: its base64url form
    /// would exceed [`crate::limits::MAX_STRING_BYTES`].
    #[error("change {hash} is {bytes} bytes, more than one delta carries ({limit} bytes)")]
    ChangeTooLarge {
        /// The change hash, hex.
        hash: String,
        /// Its size in bytes.
        bytes: usize,
        /// The largest change a delta carries.
        limit: usize,
    },
    /// Automerge changes name dependencies that neither the document nor the
    /// same request holds.
    #[error("the document lacks the dependencies {missing} of the changes posted")]
    MissingDependencies {
        /// The missing change hashes, hex, comma-separated.
        missing: String,
    },
    /// The set cannot hold more deltas (more than `u32::MAX` ids).
    #[error("the delta set is full ({0} ids)")]
    Full(usize),
    /// A schema body (API.md §2 "Schemas") that cannot be read: `field` is
    /// its path in the body (`transform.director`), `problem` completes the
    /// sentence.
    #[error("schema {field} {problem}")]
    InvalidSchema {
        /// Where in the body: `name`, `select`, `transform.director`, ...
        field: String,
        /// What is wrong, phrased to follow the field name.
        problem: String,
    },
    /// A schema name that no schema is registered under (a `?schema=`, or a
    /// `{"schema": S}` transform naming a schema not registered).
    #[error("unknown schema {name:?}")]
    UnknownSchema {
        /// The name asked for.
        name: String,
    },
    /// A registration that would close a cycle among schemas, named as
    /// `Movie -> Person -> Movie`.
    #[error("schemas would form a cycle: {cycle}")]
    SchemaCycle {
        /// The schemas on the cycle, the first one repeated at the end.
        cycle: String,
    },
    /// A JSON Logic filter that cannot be compiled: `path` locates the
    /// offending part (`and[1].var`), `problem` completes the sentence.
    #[error("filter {path} {problem}")]
    InvalidFilter {
        /// Where in the filter (`filter` for the whole of it).
        path: String,
        /// What is wrong, phrased to follow the path.
        problem: String,
    },
    /// A JSON Logic operator this evaluator does not know.
    #[error("filter {path}: unknown operator {operator:?}")]
    UnknownOperator {
        /// The operator as written.
        operator: String,
        /// Where in the filter.
        path: String,
    },
    /// Evaluating a filter went past a limit (steps, array size): a filter
    /// cannot loop forever nor exhaust memory.
    #[error("filter exceeds a limit: {0}")]
    FilterLimit(String),
}

impl Error {
    /// An [`Error::InvalidDelta`] for `field`.
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::InvalidDelta {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The field path an [`Error::InvalidDelta`] names (also inside
    /// [`Error::InBatch`]): `pointers[2].targetContext`.
    pub fn field(&self) -> Option<&str> {
        match self {
            Error::InvalidDelta { field, .. } => Some(field),
            Error::InBatch { source, .. } => source.field(),
            _ => None,
        }
    }

    /// The index of the offending delta, for an error about one delta of a batch.
    pub fn batch_index(&self) -> Option<usize> {
        match self {
            Error::InBatch { index, .. } => Some(*index),
            _ => None,
        }
    }

    /// The same error with its field path placed under `prefix`
    /// (`pointers[0].target` under `deltas[57]` reads `deltas[57].pointers[0].target`).
    #[must_use]
    pub fn within(self, prefix: &str) -> Self {
        match self {
            Error::InvalidDelta { field, problem } => Error::InvalidDelta {
                field: if field.is_empty() {
                    prefix.to_owned()
                } else {
                    format!("{prefix}.{field}")
                },
                problem,
            },
            other => other,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
