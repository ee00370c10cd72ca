//! A document materialised from change deltas.

use std::sync::Arc;

use automerge::{AutoSerde, Automerge, Change, ChangeHash};

use super::form::change_of;
use crate::delta_set::DeltaSet;
use crate::{Delta, HyperviewOptions, Timestamp};

/// An Automerge document built from the visible change deltas of one
/// property. Changes whose dependencies are missing wait inside it (they
/// are neither in its heads nor in its value) and apply when the
/// dependencies arrive.
///
/// ```
/// use automerge::{AutoCommit, transaction::Transactable};
/// use rhizome_crdt::document::{Document, change_delta};
///
/// let mut a = AutoCommit::new();
/// a.put(automerge::ROOT, "x", 1).unwrap();
/// let first = a.get_last_local_change().unwrap();
/// a.put(automerge::ROOT, "y", 2).unwrap();
/// a.commit();
/// let second = a.get_last_local_change().unwrap();
///
/// let mut doc = Document::new();
/// // The second change waits for the first.
/// doc.apply_deltas([&change_delta("e", "p", &second, "me").unwrap()]);
/// assert_eq!(doc.json(), serde_json::json!({}));
/// doc.apply_deltas([&change_delta("e", "p", &first, "me").unwrap()]);
/// assert_eq!(doc.json(), serde_json::json!({"x": 1, "y": 2}));
/// ```
#[derive(Debug, Default)]
pub struct Document {
    doc: Automerge,
    /// Change bytes given to it (applied or waiting), for memory accounting.
    bytes: usize,
    /// Changes given to it (applied or waiting).
    changes: usize,
    /// Deltas whose bytes were not one Automerge change, or that Automerge
    /// refused; they are left out.
    invalid: usize,
}

impl Document {
    /// An empty document.
    pub fn new() -> Self {
        Self::default()
    }

    /// The document made of the change deltas among `deltas` (others are
    /// ignored).
    pub fn from_deltas<'a>(deltas: impl IntoIterator<Item = &'a Delta>) -> Self {
        let mut doc = Document::new();
        doc.apply_deltas(deltas);
        doc
    }

    /// The document of (`entity`, `property`) in `set` as of `as_of`
    /// (`None`: now): its visible change deltas (API.md §2 visibility:
    /// negations, transactions, time travel). `None` when no change delta is
    /// visible there.
    pub fn of_property(
        set: &DeltaSet,
        entity: &str,
        property: &str,
        as_of: Option<Timestamp>,
    ) -> Option<Document> {
        let deltas = visible_changes(set, entity, property, as_of);
        if deltas.is_empty() {
            return None;
        }
        Some(Document::from_deltas(deltas.iter().map(|d| &**d)))
    }

    /// Applies the change deltas among `deltas`; returns how many changes
    /// were given to Automerge (applied now, or waiting for dependencies).
    pub fn apply_deltas<'a>(&mut self, deltas: impl IntoIterator<Item = &'a Delta>) -> usize {
        let mut changes = Vec::new();
        for d in deltas {
            match change_of(d) {
                Some(Ok(c)) => changes.push(c),
                Some(Err(_)) => self.invalid += 1,
                None => {}
            }
        }
        self.apply_changes(changes)
    }

    /// Applies `changes` (those already known are ignored); returns how many
    /// were given to Automerge.
    pub fn apply_changes(&mut self, changes: Vec<Change>) -> usize {
        let n = changes.len();
        let bytes: usize = changes.iter().map(|c| c.raw_bytes().len()).sum();
        if self.doc.apply_changes(changes.iter().cloned()).is_err() {
            // One bad change spoils a batch: apply them one by one and leave
            // out those Automerge refuses.
            for c in changes {
                if self.doc.apply_changes([c]).is_err() {
                    self.invalid += 1;
                }
            }
        }
        self.changes += n;
        self.bytes += bytes;
        n
    }

    /// The Automerge document.
    pub fn automerge(&self) -> &Automerge {
        &self.doc
    }

    /// The heads of the applied changes.
    pub fn heads(&self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    /// The heads, hex, sorted.
    pub fn heads_hex(&self) -> Vec<String> {
        let mut heads: Vec<String> = self.heads().iter().map(ToString::to_string).collect();
        heads.sort();
        heads
    }

    /// Whether the change `hash` is applied.
    pub fn has_change(&self, hash: &ChangeHash) -> bool {
        self.doc.get_change_meta_by_hash(hash).is_some()
    }

    /// The document as JSON: maps as objects, lists as arrays, text as a
    /// string.
    pub fn json(&self) -> serde_json::Value {
        serde_json::to_value(AutoSerde::from(&self.doc)).unwrap_or(serde_json::Value::Null)
    }

    /// The document in Automerge's `save()` format.
    pub fn save(&self) -> Vec<u8> {
        self.doc.save()
    }

    /// The applied changes a holder of `heads` lacks, concatenated (heads
    /// this document does not know are ignored: what they name is not here
    /// to send).
    pub fn changes_since(&self, heads: &[ChangeHash]) -> Vec<u8> {
        let known: Vec<ChangeHash> = heads
            .iter()
            .copied()
            .filter(|h| self.has_change(h))
            .collect();
        let mut out = Vec::new();
        for c in self.doc.get_changes(&known) {
            out.extend_from_slice(c.raw_bytes());
        }
        out
    }

    /// Changes named as dependencies that the document does not have.
    pub fn missing_deps(&self) -> Vec<ChangeHash> {
        use automerge::ReadDoc as _;
        self.doc.get_missing_deps(&[])
    }

    /// Changes given to it, applied or waiting.
    pub fn change_count(&self) -> usize {
        self.changes
    }

    /// Change deltas left out (bytes that are not a change, or a change
    /// Automerge refused).
    pub fn invalid_count(&self) -> usize {
        self.invalid
    }

    /// An estimate of the memory it holds: the bytes of its changes (the
    /// Automerge document keeps them, and its op set is of that order).
    pub fn approx_bytes(&self) -> usize {
        self.bytes.saturating_mul(2) + 1024
    }
}

/// The visible deltas filed under (`entity`, `property`) that carry a
/// change, in `(timeCreated, id)` order.
pub fn visible_changes(
    set: &DeltaSet,
    entity: &str,
    property: &str,
    as_of: Option<Timestamp>,
) -> Vec<Arc<Delta>> {
    let options = HyperviewOptions {
        contexts: Some(vec![Arc::from(property)]),
        ..HyperviewOptions::as_of(as_of)
    };
    let mut hv = set.hyperview(entity, &options);
    let mut deltas = hv.properties.remove(property).unwrap_or_default();
    deltas.retain(|d| super::form::is_change_delta(d));
    deltas
}
