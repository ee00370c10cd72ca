//! Authentication and authorization (API.md §6).
//!
//! Every route of the API declares the [`Scope`] it needs in its
//! [`Route`](crate::http::routes::Route) entry; this module decides whether
//! a request's credentials carry it.

/// What a route, a WebSocket operation or a feed needs from the caller's
/// token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// No token needed (`GET /api/health`).
    Open,
    /// Reading deltas, views, feeds, schemas, peers, metrics.
    Read,
    /// Storing deltas whose `creator` is the token's principal.
    Write,
    /// Schemas, plugins, keys, and writing as any creator.
    Admin,
}

impl Scope {
    /// The scope's name in tokens (`read`, `write`, `admin`; `open` for
    /// routes that need none).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Open => "open",
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }
}
