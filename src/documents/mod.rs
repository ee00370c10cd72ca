//! Collaborative documents in the node (API.md §7): storing Automerge
//! changes a client posts as deltas, and reading documents back. The pure
//! part (the delta form, materialisation, the cache) is
//! `rhizome_crdt::document`; the routes are `http/routes/docs.rs`, the
//! WebSocket ops `doc` and `doc_put` are in `realtime/ws/doc_ops.rs`.
//!
//! ```no_run
//! # async fn run(node: rhizome::node::Node, bytes: Vec<u8>) -> rhizome::Result<()> {
//! let posted = rhizome::documents::post_changes(&node, "notes/1", "body", &bytes, "alice").await?;
//! println!("{} new changes", posted.accepted.len());
//! # Ok(()) }
//! ```

use std::collections::HashSet;

use rhizome_crdt::document::automerge::{Change, ChangeHash};
use rhizome_crdt::document::{change_delta, delta_id, parse_changes};

use crate::node::Node;
use crate::{Error, Result};

/// Documents the node keeps materialised at once (least recently read out
/// first).
pub const CACHE_CAPACITY: usize = 64;

/// The answer to a post: change hashes (hex), in the order posted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Posted {
    /// Changes stored by this post.
    pub accepted: Vec<String>,
    /// Changes already stored (or repeated in the post).
    pub duplicates: Vec<String>,
}

/// Stores the Automerge changes in `bytes` (changes, concatenated, or a
/// saved document) in the document (`entity`, `property`), each change not
/// stored yet as one delta by `creator`; answers once they are durable.
///
/// Refused whole, nothing stored: bytes that are not Automerge
/// ([`rhizome_crdt::Error::InvalidAutomerge`]), a change too large for a
/// delta, or a change whose dependencies neither the document nor the post
/// holds ([`rhizome_crdt::Error::MissingDependencies`]: a change of another
/// document, or one sent without what it builds on).
pub async fn post_changes(
    node: &Node,
    entity: &str,
    property: &str,
    bytes: &[u8],
    creator: &str,
) -> Result<Posted> {
    let changes = parse_changes(bytes)?;
    post_parsed(node, entity, property, changes, creator).await
}

async fn post_parsed(
    node: &Node,
    entity: &str,
    property: &str,
    changes: Vec<Change>,
    creator: &str,
) -> Result<Posted> {
    if entity.is_empty() || property.is_empty() {
        return Err(Error::Client(
            "a document needs a non-empty entity and property".into(),
        ));
    }
    let posted: HashSet<ChangeHash> = changes.iter().map(Change::hash).collect();
    let mut answer = Posted::default();
    let mut seen = HashSet::new();
    let mut fresh = Vec::new();
    let missing = node.read(|s| {
        let mut missing = Vec::new();
        for c in &changes {
            let hash = c.hash();
            if !seen.insert(hash) || s.index.contains(&delta_id(entity, property, &hash)) {
                answer.duplicates.push(hash.to_string());
                continue;
            }
            for dep in c.deps() {
                if !posted.contains(dep)
                    && !s.index.contains(&delta_id(entity, property, dep))
                    && !missing.contains(dep)
                {
                    missing.push(*dep);
                }
            }
            fresh.push(c);
        }
        missing
    });
    if !missing.is_empty() {
        let missing: Vec<String> = missing.iter().map(ToString::to_string).collect();
        return Err(rhizome_crdt::Error::MissingDependencies {
            missing: missing.join(","),
        }
        .into());
    }
    let deltas = fresh
        .iter()
        .map(|c| change_delta(entity, property, c, creator))
        .collect::<rhizome_crdt::Result<Vec<_>>>()?;
    let hash_of = |id: &str| id.get(3..67).unwrap_or(id).to_owned();
    let ingested = match node.ingest(deltas.clone()).await {
        Ok(i) => i,
        // Another post stored one of these changes meanwhile, by another
        // creator: it is a duplicate; store the rest.
        Err(Error::Conflict { .. }) => {
            let (stored, rest): (Vec<_>, Vec<_>) = node.read(|s| {
                deltas
                    .into_iter()
                    .partition(|d| s.index.contains(d.id().as_str()))
            });
            let mut i = node.ingest(rest).await?;
            i.duplicates.extend(stored.iter().map(|d| d.id().clone()));
            i
        }
        Err(e) => return Err(e),
    };
    answer
        .accepted
        .extend(ingested.accepted.iter().map(|id| hash_of(id.as_str())));
    answer
        .duplicates
        .extend(ingested.duplicates.iter().map(|id| hash_of(id.as_str())));
    Ok(answer)
}

/// Parses `heads` given as comma-separated hex change hashes (empty: none).
pub fn parse_heads<S: AsRef<str>>(heads: &[S]) -> std::result::Result<Vec<ChangeHash>, String> {
    heads
        .iter()
        .map(AsRef::as_ref)
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            h.parse::<ChangeHash>()
                .map_err(|_| format!("{h:?} is not a change hash (64 hex digits)"))
        })
        .collect()
}
