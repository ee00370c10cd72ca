//! The delta form of one Automerge change (API.md §7, `docs/documents.md`).
//!
//! ```json
//! {"id": "am:<change hash, hex>:<blake3(entity 0x00 property), first 16 bytes, hex>",
//!  "timeCreated": <the change's time in ms, or 1 when it has none>,
//!  "host": "<the change's actor id, hex>", "creator": "<who posted it>",
//!  "pointers": [
//!    {"localContext": "document", "target": ENTITY, "targetContext": PROPERTY},
//!    {"localContext": "automerge", "target": "<the change's bytes, base64url>"}]}
//! ```
//!
//! Everything but `creator` is a function of the change and of the
//! document's (entity, property), so the same change posted twice, or to
//! two nodes, makes one delta.

use std::sync::Arc;

use automerge::{Change, ChangeHash};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::delta::{Delta, DeltaId, Pointer, Target, Timestamp, limits};
use crate::{Error, Result};

/// The role of the pointer whose target is the change's bytes (base64url,
/// no padding).
pub const CHANGE_ROLE: &str = "automerge";
/// The role of the pointer that files the change under the document's
/// entity and property.
pub const DOCUMENT_ROLE: &str = "document";
/// The largest change one delta carries, in bytes (its base64url form fills
/// a primitive string target).
pub const MAX_CHANGE_BYTES: usize = limits::MAX_STRING_BYTES / 4 * 3;
/// `timeCreated` of a change that carries no time (Automerge's default, 0).
pub const TIMELESS: u64 = 1;

/// The delta id of the change `hash` in the document (`entity`,
/// `property`): `am:HASH:DOC`, DOC being the first 16 bytes of
/// blake3(`entity` 0x00 `property`), hex.
///
/// ```
/// use rhizome_crdt::document::delta_id;
///
/// let hash = automerge::ChangeHash([7; 32]);
/// let id = delta_id("notes/1", "body", &hash);
/// assert!(id.starts_with("am:0707"));
/// assert_eq!(id.len(), 3 + 64 + 1 + 32);
/// assert_ne!(id, delta_id("notes/2", "body", &hash));
/// ```
pub fn delta_id(entity: &str, property: &str, hash: &ChangeHash) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(entity.as_bytes());
    hasher.update(&[0]);
    hasher.update(property.as_bytes());
    let doc = hasher.finalize();
    let mut id = String::with_capacity(100);
    id.push_str("am:");
    id.push_str(&hash.to_string());
    id.push(':');
    for b in &doc.as_bytes()[..16] {
        id.push_str(&format!("{b:02x}"));
    }
    id
}

/// `timeCreated` for a change: its time (Automerge counts seconds) in
/// milliseconds, or [`TIMELESS`] when it has none (0, as JavaScript's
/// `Automerge.change` leaves it) or one no delta can carry.
///
/// ```
/// assert_eq!(rhizome_crdt::document::time_created(1_700_000_000), 1_700_000_000_000);
/// assert_eq!(rhizome_crdt::document::time_created(0), 1);
/// ```
pub fn time_created(change_time: i64) -> u64 {
    u64::try_from(change_time)
        .ok()
        .and_then(|s| s.checked_mul(1000))
        .filter(|&ms| ms > 0 && ms <= limits::MAX_TIMESTAMP)
        .unwrap_or(TIMELESS)
}

/// The delta that stores `change` in the document (`entity`, `property`),
/// posted by `creator` (see the [module documentation](self)).
///
/// Errors: [`Error::ChangeTooLarge`] past [`MAX_CHANGE_BYTES`]; the errors
/// of [`Delta::new`] for an empty entity, property or creator.
///
/// ```
/// use automerge::{AutoCommit, ReadDoc, transaction::Transactable};
/// use rhizome_crdt::document::{change_delta, change_of};
///
/// let mut doc = AutoCommit::new();
/// doc.put(automerge::ROOT, "title", "hello").unwrap();
/// let change = doc.get_last_local_change().unwrap();
/// let delta = change_delta("notes/1", "body", &change, "alice").unwrap();
/// assert!(delta.files_under("notes/1", "body"));
/// assert_eq!(change_of(&delta).unwrap().unwrap().hash(), change.hash());
/// ```
pub fn change_delta(entity: &str, property: &str, change: &Change, creator: &str) -> Result<Delta> {
    let bytes = change.raw_bytes();
    let hash = change.hash();
    if bytes.len() > MAX_CHANGE_BYTES {
        return Err(Error::ChangeTooLarge {
            hash: hash.to_string(),
            bytes: bytes.len(),
            limit: MAX_CHANGE_BYTES,
        });
    }
    let mut host = change.actor_id().to_hex_string();
    host.truncate(limits::MAX_NAME_BYTES);
    if host.is_empty() {
        host.push_str("automerge");
    }
    Delta::new(
        DeltaId::new(delta_id(entity, property, &hash))?,
        Timestamp::new(time_created(change.timestamp()))?,
        host,
        creator,
        vec![
            Pointer::new(DOCUMENT_ROLE, Target::reference(entity, property)),
            Pointer::new(
                CHANGE_ROLE,
                Target::String(Arc::from(URL_SAFE_NO_PAD.encode(bytes))),
            ),
        ],
    )
}

/// The change a delta carries, if it is a change delta: `None` when it has
/// no `automerge` pointer with a string target, `Some(Err)` when that
/// string is not one Automerge change in base64url.
pub fn change_of(delta: &Delta) -> Option<Result<Change>> {
    let encoded = change_text(delta)?;
    Some(decode_change(encoded))
}

/// Whether `delta` carries an Automerge change (an `automerge` pointer with
/// a string target; its bytes are not checked).
pub fn is_change_delta(delta: &Delta) -> bool {
    change_text(delta).is_some()
}

fn change_text(delta: &Delta) -> Option<&str> {
    delta
        .pointers()
        .iter()
        .find_map(|p| match (&*p.role, &p.target) {
            (CHANGE_ROLE, Target::String(s)) => Some(&**s),
            _ => None,
        })
}

/// One change from its base64url text.
pub fn decode_change(encoded: &str) -> Result<Change> {
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded.trim_end_matches('='))
        .map_err(|e| Error::InvalidAutomerge(format!("not base64url: {e}")))?;
    Change::from_bytes(bytes).map_err(|e| Error::InvalidAutomerge(e.to_string()))
}

/// Bytes as base64url without padding (how API.md §7 carries Automerge
/// bytes in JSON).
pub fn base64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Bytes from base64url (padding tolerated).
pub fn from_base64url(text: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|e| Error::InvalidAutomerge(format!("not base64url: {e}")))
}
