//! The one error type of the node crate.

/// Everything that can go wrong in the node.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is missing or malformed.
    #[error("configuration: {name} {problem}")]
    Config {
        /// The environment variable or flag.
        name: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A delta or a batch was refused.
    #[error(transparent)]
    Delta(#[from] rhizome_crdt::Error),
    /// An operating-system I/O error, with what we were doing.
    #[error("{context}: {source}")]
    Io {
        /// What the node was doing.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    /// An [`Error::Io`] with `context`.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

/// `Result` with the node's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
