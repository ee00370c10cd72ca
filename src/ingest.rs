//! Deciding what of a batch to store: duplicates and conflicts (pure).
//!
//! The writer runs [`plan`] for each batch of a group commit, against the
//! index and against what earlier batches of the same group accepted, so
//! two concurrent batches that race with one id are decided in one place.

use std::sync::Arc;

use rhizome_crdt::{Delta, DeltaId};

use crate::{Error, Result};

/// What an ingest did: every id of the batch is in exactly one list, in
/// batch order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ingested {
    /// Deltas stored by this call (durable when the answer arrives).
    pub accepted: Vec<DeltaId>,
    /// Deltas that were already stored with the same content (or repeated
    /// within the batch): not stored again.
    pub duplicates: Vec<DeltaId>,
}

/// Deltas accepted earlier in the same group commit, not yet stored, by id.
pub(crate) type PendingIds = foldhash::HashMap<DeltaId, Arc<Delta>>;

/// The part of a batch to store.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub accepted: Vec<Arc<Delta>>,
    pub duplicates: Vec<DeltaId>,
}

impl Plan {
    pub fn answer(&self) -> Ingested {
        Ingested {
            accepted: self.accepted.iter().map(|d| d.id().clone()).collect(),
            duplicates: self.duplicates.clone(),
        }
    }
}

/// Splits `batch` into new deltas and duplicates, or refuses it whole with
/// [`Error::Conflict`] for the first delta whose id is taken by other
/// content: in `stored`, in `pending` (accepted earlier in this group, not
/// yet stored) or earlier in the batch.
pub(crate) fn plan<'a>(
    batch: &[Arc<Delta>],
    stored: impl Fn(&str) -> Option<&'a Arc<Delta>>,
    pending: &PendingIds,
) -> Result<Plan> {
    let mut out = Plan::default();
    let mut seen: foldhash::HashMap<&str, &Arc<Delta>> =
        foldhash::HashMap::with_capacity_and_hasher(batch.len(), Default::default());
    for (index, d) in batch.iter().enumerate() {
        let id = d.id().as_str();
        let existing = seen
            .get(id)
            .copied()
            .or_else(|| pending.get(id))
            .or_else(|| stored(id));
        match existing {
            Some(e) if e.same_content(d) => out.duplicates.push(d.id().clone()),
            Some(_) => {
                return Err(Error::Conflict {
                    index,
                    id: d.id().clone(),
                });
            }
            None => {
                seen.insert(id, d);
                out.accepted.push(Arc::clone(d));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use rhizome_crdt::{Pointer, Timestamp};

    fn d(id: &str, v: i64) -> Arc<Delta> {
        Arc::new(
            Delta::new(
                DeltaId::new(id).unwrap(),
                Timestamp::new(1).unwrap(),
                "h",
                "c",
                vec![Pointer::new("v", v)],
            )
            .unwrap(),
        )
    }

    fn ids(v: &[DeltaId]) -> Vec<&str> {
        v.iter().map(DeltaId::as_str).collect()
    }

    #[test]
    fn duplicates_within_stored_pending_and_batch() {
        let stored: HashMap<DeltaId, Arc<Delta>> = [(DeltaId::new("s").unwrap(), d("s", 1))].into();
        let pending: PendingIds = [(DeltaId::new("p").unwrap(), d("p", 1))]
            .into_iter()
            .collect();
        let batch = [d("a", 1), d("s", 1), d("a", 1), d("p", 1), d("b", 2)];
        let p = plan(&batch, |id| stored.get(id), &pending).unwrap();
        let a = p.answer();
        assert_eq!(ids(&a.accepted), ["a", "b"]);
        assert_eq!(ids(&a.duplicates), ["s", "a", "p"]);
    }

    #[test]
    fn conflicts_name_the_index() {
        let stored: HashMap<DeltaId, Arc<Delta>> = [(DeltaId::new("s").unwrap(), d("s", 1))].into();
        let pending: PendingIds = [(DeltaId::new("p").unwrap(), d("p", 1))]
            .into_iter()
            .collect();
        let none = PendingIds::default();
        for (batch, index, id, pend) in [
            (vec![d("a", 1), d("s", 2)], 1, "s", &none),
            (vec![d("a", 1), d("b", 1), d("a", 2)], 2, "a", &none),
            (vec![d("p", 2)], 0, "p", &pending),
        ] {
            match plan(&batch, |i| stored.get(i), pend) {
                Err(Error::Conflict { index: i, id: c }) => {
                    assert_eq!((i, c.as_str()), (index, id));
                }
                other => panic!("expected a conflict, got {other:?}"),
            }
        }
    }
}
