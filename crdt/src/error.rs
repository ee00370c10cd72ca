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
    /// A delta with this id is already stored (or earlier in the same batch)
    /// with other content. Nothing of the batch was stored.
    #[error("delta {id} conflicts with a stored delta of the same id and other content")]
    Conflict {
        /// The id both deltas carry.
        id: String,
    },
    /// The set cannot hold more deltas (more than `u32::MAX` ids).
    #[error("the delta set is full ({0} ids)")]
    Full(usize),
    /// A builder was used in a way that cannot produce a delta.
    #[error("{0}")]
    Builder(String),
}

impl Error {
    /// An [`Error::InvalidDelta`] for `field`.
    pub fn invalid(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Error::InvalidDelta {
            field: field.into(),
            problem: problem.into(),
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
