//! The one error type of the node crate.

use rhizome_crdt::DeltaId;

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
    /// The sync layer failed (node key, endpoint, a peer setting).
    #[error(transparent)]
    Sync(#[from] rhizome_sync::Error),
    /// A delta of a batch has the id of a stored delta (or of an earlier
    /// delta of the same batch) but other content. Nothing of the batch was
    /// stored.
    #[error("deltas[{index}]: id {id} is already taken by a delta with other content")]
    Conflict {
        /// The position of the conflicting delta in the batch.
        index: usize,
        /// The id both deltas claim.
        id: DeltaId,
    },
    /// A delta of a client's batch whose creator has a registered key
    /// carries no valid signature. Nothing of the batch was stored.
    #[error("deltas[{index}] ({id}): bad signature: {source}")]
    BadSignature {
        /// The position of the delta in the batch.
        index: usize,
        /// Its id.
        id: DeltaId,
        /// What is wrong with its signature.
        source: rhizome_crdt::signature::SignatureError,
    },
    /// An operating-system I/O error, with what we were doing.
    #[error("{context}: {source}")]
    Io {
        /// What the node was doing.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The storage engine failed.
    #[error("storage: {context}: {message}")]
    Storage {
        /// What the store was doing.
        context: String,
        /// The engine's error.
        message: String,
    },
    /// A stored record cannot be decoded: the store is damaged.
    #[error("stored delta at sequence number {seq} is corrupt: {source}")]
    CorruptRecord {
        /// The record's sequence number.
        seq: u64,
        /// Why it does not decode.
        source: rhizome_crdt::Error,
    },
    /// The stored sequence numbers are not gap-free: the store is damaged.
    #[error("store is missing sequence number {expected} (next stored is {found})")]
    SequenceGap {
        /// The sequence number that should come next.
        expected: u64,
        /// The one that came.
        found: u64,
    },
    /// A client subcommand failed (connection, file, or the node's error
    /// answer), as one line.
    #[error("{0}")]
    Client(String),
    /// A plugin module was refused (not WebAssembly, missing exports,
    /// unknown imports, a dependency missing or a cycle), named.
    #[error("plugin {name}: {reason}")]
    InvalidPlugin {
        /// The plugin's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No plugin of that name is installed.
    #[error("no plugin named {name} is installed")]
    UnknownPlugin {
        /// The name asked for.
        name: String,
    },
    /// A plugin cannot answer now (restarting, failed, busy, or this call
    /// failed).
    #[error("plugin {name} is unavailable: {reason}")]
    PluginUnavailable {
        /// The plugin's name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A plugin cannot be removed while others depend on it.
    #[error("plugin {name} is needed by {}", dependents.join(", "))]
    PluginInUse {
        /// The plugin's name.
        name: String,
        /// The plugins that depend on it.
        dependents: Vec<String>,
    },
    /// A plugin's `validate` refused a client's batch; nothing was stored.
    #[error("{}rejected by plugin {plugin}: {reason}", index.map(|i| format!("deltas[{i}]: ")).unwrap_or_default())]
    RejectedByPlugin {
        /// The validating plugin.
        plugin: String,
        /// The refused delta's position in the batch, when one was.
        index: Option<usize>,
        /// The plugin's reason.
        reason: String,
    },
    /// The node is shutting down (or its writer stopped) and takes no more
    /// writes.
    #[error("the node is shutting down")]
    ShuttingDown,
}

impl Error {
    /// An [`Error::Io`] with `context`.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// An [`Error::Storage`] with `context`.
    pub fn storage(context: impl Into<String>, source: impl std::fmt::Display) -> Self {
        Error::Storage {
            context: context.into(),
            message: source.to_string(),
        }
    }
}

/// `Result` with the node's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
