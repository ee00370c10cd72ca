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
    /// The node key file cannot be read, parsed or written.
    #[error("node key {path}: {problem}")]
    Identity {
        /// The key file.
        path: String,
        /// What went wrong.
        problem: String,
    },
    /// A peer address that is neither `NODE_ID@IP:PORT` nor a ticket.
    #[error("bad peer `{peer}`: {problem}")]
    BadPeer {
        /// The text given.
        peer: String,
        /// What is wrong with it.
        problem: String,
    },
    /// A sync setting out of range.
    #[error("bad setting {name}: {problem}")]
    BadSetting {
        /// The setting.
        name: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The endpoint cannot bind its address.
    #[error("cannot bind the sync endpoint on {addr}: {problem}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        problem: String,
    },
    /// A connection or stream failed, or the peer broke the protocol.
    #[error("sync: {0}")]
    Net(String),
    /// A frame from a peer that does not decode or breaks a limit.
    #[error("bad frame from a peer: {0}")]
    BadFrame(String),
    /// The peer refused this run because it is reconciling with this node
    /// already (runs started by both sides at once: the one started by the
    /// smaller node id goes on). Not a failure: nothing is retried sooner.
    #[error("sync: the peer is already reconciling with this node")]
    Crossed,
    /// The node could not store what a peer sent.
    #[error("cannot store deltas from a peer: {0}")]
    Replica(String),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
