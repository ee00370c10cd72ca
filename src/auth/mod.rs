//! Authentication and authorization (API.md §6), and the browser rules.
//!
//! - [`AuthConfig`]: `RHIZOME_AUTH` (`off`, `tokens`, `jwt`),
//!   `RHIZOME_TOKENS_FILE`, `RHIZOME_JWT_SECRET`, `RHIZOME_CORS_ORIGINS`,
//!   `RHIZOME_KEY_AUTHORITIES`, each with a flag.
//! - [`Auth`]: what the node checks, built once at start.
//! - [`Scope`]: what a route needs; every route declares it in its
//!   [`Route`](crate::http::routes::Route) entry, and [`guard`] (one
//!   middleware) enforces it, with the `Host` and `Origin` rules.
//! - [`Caller`]: who made a request (an extractor); handlers that write ask it
//!   whether the batch's creators are allowed.
//!
//! ```
//! use rhizome::auth::{Auth, Scope};
//!
//! let auth = Auth::jwt(b"a-secret-of-at-least-32-bytes-for-hs256!!");
//! // A token made by any HS256 library: {"alg":"HS256"} . {"sub":"alice","scope":"read write"}
//! let token = rhizome::auth::jwt::sign_hs256(
//!     b"a-secret-of-at-least-32-bytes-for-hs256!!",
//!     &serde_json::json!({"sub": "alice", "scope": "read write"}),
//! );
//! let alice = auth.authenticate(Some(&token), std::time::SystemTime::now())?.unwrap();
//! assert_eq!(alice.name(), "alice");
//! assert!(alice.has(Scope::Write) && !alice.has(Scope::Admin));
//! # Ok::<(), rhizome::auth::AuthError>(())
//! ```

pub mod guard;
pub mod jwt;
pub mod origin;
pub mod tokens;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use rhizome_crdt::Delta;

pub use guard::guard;
pub use origin::Origins;

use crate::{Error, Result};

/// What a route, a WebSocket operation or a feed needs from the caller's
/// token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// No token needed (`GET /api/health`, the dashboard's static files).
    Open,
    /// Any valid token (the WebSocket upgrade: each operation then needs
    /// its own scope).
    Authenticated,
    /// Reading deltas, views, feeds, schemas, peers, metrics.
    Read,
    /// Storing deltas whose `creator` is the token's principal.
    Write,
    /// Schemas, plugins, keys, and writing as any creator. Implies the
    /// other scopes.
    Admin,
}

impl Scope {
    /// The scope's name in tokens (`read`, `write`, `admin`).
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Open => "open",
            Scope::Authenticated => "authenticated",
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Admin => "admin",
        }
    }

    /// The scope named `name` in a token (`read`, `write`, `admin`).
    pub fn parse(name: &str) -> Option<Scope> {
        match name {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    fn bit(self) -> u8 {
        match self {
            Scope::Open | Scope::Authenticated => 0,
            Scope::Read => 1,
            Scope::Write => 2,
            Scope::Admin => 4,
        }
    }
}

/// The scopes a token carries.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Scopes(u8);

impl Scopes {
    /// The set of `scopes`.
    pub fn of(scopes: impl IntoIterator<Item = Scope>) -> Scopes {
        Scopes(scopes.into_iter().fold(0, |acc, s| acc | s.bit()))
    }

    /// Whether these scopes grant `needed` (`admin` grants everything).
    pub fn grant(self, needed: Scope) -> bool {
        self.0 & Scope::Admin.bit() != 0 || self.0 & needed.bit() == needed.bit()
    }
}

/// Who a valid token says the caller is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    name: Arc<str>,
    scopes: Scopes,
    expires: Option<SystemTime>,
}

impl Principal {
    /// A principal `name` with `scopes`, valid until `expires` (if any).
    pub fn new(name: impl Into<Arc<str>>, scopes: Scopes, expires: Option<SystemTime>) -> Self {
        Principal {
            name: name.into(),
            scopes,
            expires,
        }
    }

    /// The principal's name (a token's `principal`, a JWT's `sub`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the token grants `scope`.
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.grant(scope)
    }

    /// When the token expires (a JWT's `exp`), if it does.
    pub fn expires(&self) -> Option<SystemTime> {
        self.expires
    }
}

/// Why a request's credentials are refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No token was sent.
    #[error(
        "a token is required (Authorization: Bearer TOKEN, or ?token= for EventSource and WebSocket)"
    )]
    Missing,
    /// The token is not one the node knows, or its signature is wrong.
    #[error("the token is not valid")]
    Invalid,
    /// The token's `exp` has passed.
    #[error("the token has expired")]
    Expired,
    /// The token cannot be read (not a JWT, a refused `alg`, bad claims).
    #[error("the token is malformed: {0}")]
    Malformed(String),
    /// The token is valid but lacks the scope.
    #[error("the token does not grant the {0:?} scope")]
    Forbidden(&'static str),
}

/// `RHIZOME_AUTH`: how clients authenticate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthMode {
    /// No authentication (a node on localhost for one developer).
    #[default]
    Off,
    /// Static tokens from `RHIZOME_TOKENS_FILE`.
    Tokens,
    /// HS256 JWTs signed with `RHIZOME_JWT_SECRET`.
    Jwt,
}

/// The security settings of API.md §6, each an environment variable with a
/// flag of the same name.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct AuthConfig {
    /// `off`, `tokens` (with RHIZOME_TOKENS_FILE) or `jwt` (with
    /// RHIZOME_JWT_SECRET).
    #[arg(long = "auth", env = "RHIZOME_AUTH", value_enum, default_value = "off")]
    pub mode: AuthMode,
    /// A JSON array of `{"token", "principal", "scopes": [...]}`.
    #[arg(long, env = "RHIZOME_TOKENS_FILE")]
    pub tokens_file: Option<PathBuf>,
    /// The HS256 secret of JWTs.
    #[arg(long, env = "RHIZOME_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Web origins allowed besides the node's own (comma-separated, `*`
    /// for any).
    #[arg(
        long,
        env = "RHIZOME_CORS_ORIGINS",
        value_delimiter = ',',
        default_value = ""
    )]
    pub cors_origins: Vec<String>,
    /// Node ids whose key registrations count here besides this node's own
    /// (comma-separated; default: the peer allow-list when set, else any
    /// peer's).
    #[arg(
        long,
        env = "RHIZOME_KEY_AUTHORITIES",
        value_delimiter = ',',
        default_value = ""
    )]
    pub key_authorities: Vec<String>,
}

#[derive(Debug)]
enum Mode {
    Off,
    Tokens(tokens::TokenTable),
    Jwt(jwt::Hs256),
}

/// What the node checks on every request: the credentials, and the
/// browser rules.
#[derive(Debug)]
pub struct Auth {
    mode: Mode,
    origins: Origins,
}

impl Default for Auth {
    fn default() -> Auth {
        Auth::off()
    }
}

impl Auth {
    /// No authentication; only the node's own origin may call from a
    /// browser.
    pub fn off() -> Auth {
        Auth {
            mode: Mode::Off,
            origins: Origins::default(),
        }
    }

    /// Authentication on, with no token valid: every request that needs a
    /// token is refused.
    pub fn refuse_all() -> Auth {
        Auth {
            mode: Mode::Tokens(tokens::TokenTable::empty()),
            origins: Origins::default(),
        }
    }

    /// HS256 JWTs signed with `secret`.
    pub fn jwt(secret: &[u8]) -> Auth {
        Auth {
            mode: Mode::Jwt(jwt::Hs256::new(secret)),
            origins: Origins::default(),
        }
    }

    /// Static tokens.
    pub fn tokens(table: tokens::TokenTable) -> Auth {
        Auth {
            mode: Mode::Tokens(table),
            origins: Origins::default(),
        }
    }

    /// These settings with `origins` allowed from browsers.
    pub fn with_origins(mut self, origins: Origins) -> Auth {
        self.origins = origins;
        self
    }

    /// The settings of `config` (reads the tokens file).
    pub fn from_config(config: &AuthConfig) -> Result<Auth> {
        let mode = match config.mode {
            AuthMode::Off => Mode::Off,
            AuthMode::Tokens => {
                let path = config.tokens_file.as_ref().ok_or(Error::Config {
                    name: "RHIZOME_TOKENS_FILE",
                    problem: "is required when RHIZOME_AUTH=tokens".into(),
                })?;
                Mode::Tokens(tokens::TokenTable::load(path)?)
            }
            AuthMode::Jwt => {
                let secret = config
                    .jwt_secret
                    .as_deref()
                    .filter(|s| !s.is_empty())
                    .ok_or(Error::Config {
                        name: "RHIZOME_JWT_SECRET",
                        problem: "is required when RHIZOME_AUTH=jwt".into(),
                    })?;
                Mode::Jwt(jwt::Hs256::new(secret.as_bytes()))
            }
        };
        Ok(Auth {
            mode,
            origins: Origins::parse(&config.cors_origins)?,
        })
    }

    /// Whether tokens are required.
    pub fn is_on(&self) -> bool {
        !matches!(self.mode, Mode::Off)
    }

    /// The browser origins rule.
    pub fn origins(&self) -> &Origins {
        &self.origins
    }

    /// Who `token` says the caller is at `now`: `Ok(None)` when
    /// authentication is off.
    pub fn authenticate(
        &self,
        token: Option<&str>,
        now: SystemTime,
    ) -> std::result::Result<Option<Principal>, AuthError> {
        match &self.mode {
            Mode::Off => Ok(None),
            Mode::Tokens(table) => table.lookup(token.ok_or(AuthError::Missing)?).map(Some),
            Mode::Jwt(key) => key.verify(token.ok_or(AuthError::Missing)?, now).map(Some),
        }
    }
}

/// Who made a request, as the [`guard`] found: nobody in particular when
/// authentication is off. An extractor (`caller: Caller` in a handler).
#[derive(Clone, Debug, Default)]
pub struct Caller(Option<Arc<Principal>>);

impl Caller {
    /// A caller authenticated as `principal`.
    pub fn new(principal: Principal) -> Caller {
        Caller(Some(Arc::new(principal)))
    }

    /// The principal, when authentication is on.
    pub fn principal(&self) -> Option<&Principal> {
        self.0.as_deref()
    }

    /// Whether the caller may do what needs `scope` (always, with
    /// authentication off).
    pub fn may(&self, scope: Scope) -> bool {
        self.0.as_ref().is_none_or(|p| p.has(scope))
    }

    /// The creator to write node-made deltas as (negations, collections):
    /// the principal, else `default`.
    pub fn creator_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.0.as_ref().map_or(default, |p| p.name())
    }

    /// When the caller's token expires, if it does.
    pub fn expires(&self) -> Option<SystemTime> {
        self.0.as_ref().and_then(|p| p.expires())
    }

    /// Checks that the caller may store `deltas`: with a `write` token,
    /// only deltas whose creator is its principal; `admin` any. The first
    /// delta that breaks the rule is named.
    pub fn check_creators(&self, deltas: &[Delta]) -> std::result::Result<(), CreatorMismatch> {
        let Some(p) = &self.0 else {
            return Ok(());
        };
        if p.has(Scope::Admin) {
            return Ok(());
        }
        match deltas.iter().position(|d| d.creator() != p.name()) {
            None => Ok(()),
            Some(index) => Err(CreatorMismatch {
                index,
                creator: deltas[index].creator().to_owned(),
                principal: p.name().to_owned(),
            }),
        }
    }
}

/// A delta whose creator is not the caller's principal, in a batch from a
/// `write` (not `admin`) token.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "deltas[{index}] has creator {creator:?}; a write token of {principal:?} may only store deltas of {principal:?} (admin may store any)"
)]
pub struct CreatorMismatch {
    /// The delta's position in the batch.
    pub index: usize,
    /// Its creator.
    pub creator: String,
    /// The caller's principal.
    pub principal: String,
}

impl From<CreatorMismatch> for crate::http::ApiError {
    fn from(e: CreatorMismatch) -> Self {
        crate::metrics::global().auth_refused("creator_mismatch");
        crate::http::ApiError::new(
            axum::http::StatusCode::FORBIDDEN,
            "creator_mismatch",
            e.to_string(),
        )
        .with("index", e.index)
        .with("creator", e.creator)
        .with("principal", e.principal)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> std::result::Result<Caller, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Caller>()
            .cloned()
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_grants_everything_read_and_write_are_separate() {
        let admin = Scopes::of([Scope::Admin]);
        let writer = Scopes::of([Scope::Write]);
        let reader = Scopes::of([Scope::Read]);
        for s in [
            Scope::Read,
            Scope::Write,
            Scope::Admin,
            Scope::Authenticated,
        ] {
            assert!(admin.grant(s));
        }
        assert!(writer.grant(Scope::Write) && !writer.grant(Scope::Read));
        assert!(reader.grant(Scope::Read) && !reader.grant(Scope::Write));
        assert!(!reader.grant(Scope::Admin));
        assert!(Scopes::default().grant(Scope::Authenticated));
        assert!(Scopes::default().grant(Scope::Open));
    }

    #[test]
    fn creators_are_bound_to_write_tokens() {
        let d = |creator: &str| {
            Delta::builder(creator, "h")
                .set_property("e", "p", 1)
                .build()
                .unwrap()
        };
        let alice = Caller::new(Principal::new("alice", Scopes::of([Scope::Write]), None));
        alice.check_creators(&[d("alice"), d("alice")]).unwrap();
        let e = alice.check_creators(&[d("alice"), d("bob")]).unwrap_err();
        assert_eq!((e.index, e.creator.as_str()), (1, "bob"));
        let root = Caller::new(Principal::new("root", Scopes::of([Scope::Admin]), None));
        root.check_creators(&[d("bob")]).unwrap();
        Caller::default().check_creators(&[d("anyone")]).unwrap();
        assert_eq!(alice.creator_or("node"), "alice");
        assert_eq!(Caller::default().creator_or("node"), "node");
    }
}
