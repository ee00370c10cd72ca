//! Static tokens (`RHIZOME_AUTH=tokens`): a JSON array of
//! `{"token", "principal", "scopes": ["read", "write", "admin"]}`.
//!
//! The table keeps the blake3 hash of each token, never the token: a
//! presented token is hashed and looked up by its hash, so the time a lookup
//! takes says nothing about how much of a token was right, and a memory
//! dump holds no token.
//!
//! ```
//! use rhizome::auth::tokens::TokenTable;
//! use rhizome::auth::Scope;
//!
//! let table = TokenTable::from_json(
//!     r#"[{"token": "s3cret-token-of-alice", "principal": "alice", "scopes": ["read"]}]"#,
//! )?;
//! let alice = table.lookup("s3cret-token-of-alice").unwrap();
//! assert!(alice.has(Scope::Read) && !alice.has(Scope::Write));
//! assert!(table.lookup("guess").is_err());
//! # Ok::<(), rhizome::Error>(())
//! ```

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::{AuthError, Principal, Scope, Scopes};
use crate::{Error, Result};

/// The longest token accepted (longer ones are refused before hashing).
pub const MAX_TOKEN_BYTES: usize = 8192;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    token: String,
    principal: String,
    scopes: Vec<String>,
}

/// The tokens a node accepts, by hash.
pub struct TokenTable {
    by_hash: HashMap<[u8; 32], Principal>,
}

impl std::fmt::Debug for TokenTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenTable({} tokens)", self.by_hash.len())
    }
}

impl TokenTable {
    /// A table with no token.
    pub fn empty() -> TokenTable {
        TokenTable {
            by_hash: HashMap::new(),
        }
    }

    /// Reads the tokens file at `path`.
    pub fn load(path: &Path) -> Result<TokenTable> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::Config {
            name: "RHIZOME_TOKENS_FILE",
            problem: format!("cannot be read ({}): {e}", path.display()),
        })?;
        TokenTable::from_json(&text)
    }

    /// The table of a tokens file's text.
    pub fn from_json(text: &str) -> Result<TokenTable> {
        let bad = |problem: String| Error::Config {
            name: "RHIZOME_TOKENS_FILE",
            problem,
        };
        let entries: Vec<Entry> = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "must be a JSON array of {{\"token\", \"principal\", \"scopes\"}}: {e}"
            ))
        })?;
        let mut by_hash = HashMap::with_capacity(entries.len());
        for (i, entry) in entries.into_iter().enumerate() {
            if entry.token.is_empty() || entry.token.len() > MAX_TOKEN_BYTES {
                return Err(bad(format!(
                    "[{i}].token must be 1 to {MAX_TOKEN_BYTES} bytes"
                )));
            }
            if entry.principal.is_empty() {
                return Err(bad(format!("[{i}].principal must be a non-empty string")));
            }
            let mut scopes = Vec::with_capacity(entry.scopes.len());
            for s in &entry.scopes {
                scopes.push(Scope::parse(s).ok_or_else(|| {
                    bad(format!(
                        "[{i}].scopes: unknown scope {s:?} (read, write, admin)"
                    ))
                })?);
            }
            let principal = Principal::new(entry.principal, Scopes::of(scopes), None);
            if by_hash
                .insert(*blake3::hash(entry.token.as_bytes()).as_bytes(), principal)
                .is_some()
            {
                return Err(bad(format!("[{i}].token is listed twice")));
            }
        }
        Ok(TokenTable { by_hash })
    }

    /// The principal of `token`.
    pub fn lookup(&self, token: &str) -> std::result::Result<Principal, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid);
        }
        self.by_hash
            .get(blake3::hash(token.as_bytes()).as_bytes())
            .cloned()
            .ok_or(AuthError::Invalid)
    }

    /// How many tokens the table holds.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_files_are_refused_with_the_entry_named() {
        for (text, needle) in [
            ("{}", "JSON array"),
            (r#"[{"token":"","principal":"a","scopes":[]}]"#, "[0].token"),
            (
                r#"[{"token":"t","principal":"","scopes":[]}]"#,
                "[0].principal",
            ),
            (
                r#"[{"token":"t","principal":"a","scopes":["root"]}]"#,
                "unknown scope \"root\"",
            ),
            (
                r#"[{"token":"t","principal":"a","scopes":[]},{"token":"t","principal":"b","scopes":[]}]"#,
                "[1].token is listed twice",
            ),
            (
                r#"[{"token":"t","principal":"a","scopes":[],"extra":1}]"#,
                "unknown field",
            ),
        ] {
            let e = TokenTable::from_json(text).unwrap_err().to_string();
            assert!(
                e.contains(needle) && e.contains("RHIZOME_TOKENS_FILE"),
                "{e}"
            );
            assert!(!e.contains("\"t\""), "a token leaked into an error: {e}");
        }
    }

    #[test]
    fn tokens_are_kept_hashed() {
        let table = TokenTable::from_json(
            r#"[{"token":"tok-a","principal":"a","scopes":["read","write"]}]"#,
        )
        .unwrap();
        assert!(!format!("{table:?}").contains("tok-a"));
        let a = table.lookup("tok-a").unwrap();
        assert_eq!(a.name(), "a");
        assert!(a.has(Scope::Write) && !a.has(Scope::Admin));
        assert_eq!(table.lookup("tok-b"), Err(AuthError::Invalid));
        assert_eq!(table.lookup(""), Err(AuthError::Missing));
        assert_eq!(
            table.lookup(&"x".repeat(MAX_TOKEN_BYTES + 1)),
            Err(AuthError::Invalid)
        );
    }
}
