//! Collaborative documents (API.md §7): a property whose deltas carry
//! Automerge changes holds an Automerge document.
//!
//! Each Automerge change is stored as one delta ([`change_delta`], the
//! form is in [`form`]) filed under the document's entity and property.
//! Set union of those deltas is Automerge's own merge: a replica holding
//! the same deltas holds the same document. The document of a property is
//! made of its *visible* change deltas ([`Document::of_property`]), so
//! negation, transactions and time travel apply to documents as to any
//! delta; a change whose dependencies are not visible waits inside the
//! document (a negated change takes every change that depends on it along).
//!
//! ```
//! use automerge::{AutoCommit, ObjType, transaction::Transactable};
//! use rhizome_crdt::DeltaSet;
//! use rhizome_crdt::document::{Document, change_delta};
//!
//! let mut am = AutoCommit::new();
//! let text = am.put_object(automerge::ROOT, "text", ObjType::Text).unwrap();
//! am.splice_text(&text, 0, 0, "hello").unwrap();
//! let mut set = DeltaSet::new();
//! for change in am.get_changes(&[]) {
//!     set.insert(change_delta("notes/1", "body", &change, "alice").unwrap()).unwrap();
//! }
//! let doc = Document::of_property(&set, "notes/1", "body", None).unwrap();
//! assert_eq!(doc.json(), serde_json::json!({"text": "hello"}));
//! ```

mod cache;
mod chunks;
pub mod form;
mod materialise;

pub use cache::DocumentCache;
pub use chunks::parse_changes;
pub use form::{
    CHANGE_ROLE, DOCUMENT_ROLE, MAX_CHANGE_BYTES, base64url, change_delta, change_of,
    decode_change, delta_id, from_base64url, is_change_delta, time_created,
};
pub use materialise::{Document, visible_changes};

/// Re-exported so users of this module name the same `automerge`.
pub use automerge;

/// The value a document property shows in a view (API.md §7: "`GET
/// /api/view/:entity` shows a document property as its JSON value"): the
/// JSON of the document made of the change deltas among `deltas` (the
/// property's visible deltas), or `None` when none carries a change.
pub fn view_value(deltas: &[std::sync::Arc<crate::Delta>]) -> Option<serde_json::Value> {
    if !deltas.iter().any(|d| is_change_delta(d)) {
        return None;
    }
    Some(Document::from_deltas(deltas.iter().map(|d| &**d)).json())
}

#[cfg(test)]
mod tests;
