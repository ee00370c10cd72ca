//! The crate's one error type.

/// What can go wrong in reconciliation: a message that cannot be decoded or
/// breaks the protocol's rules, or a configuration out of range.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are not a postcard-encoded message of this protocol.
    #[error("cannot decode a sync message: {0}")]
    Decode(#[from] postcard::Error),
    /// The message decodes but breaks a rule of the wire format (bounds out
    /// of order, an unknown version, a timestamp that overflows).
    #[error("malformed sync message: {0}")]
    Malformed(&'static str),
    /// A [`Config`](crate::Config) value out of its allowed range.
    #[error("invalid sync configuration: {field} {problem}")]
    InvalidConfig {
        /// The configuration field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
