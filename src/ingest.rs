//! Deciding what of a batch to store: duplicates, conflicts and signatures
//! (pure).
//!
//! The writer runs [`plan`] for each batch of a group commit, against the
//! index and against what earlier batches of the same group accepted, so
//! two concurrent batches that race with one id are decided in one place.
//!
//! Signatures (API.md §6) are verified before the batch reaches the writer,
//! in the caller's task ([`verify`]), so that batches from several clients
//! verify on several cores; the writer only checks that the key ring is
//! still the one they were verified against, and verifies again if not.

use std::sync::Arc;

use rhizome_crdt::signature::{KEY_ENTITY_PREFIX, KeyRing, SignatureError};
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
    /// Deltas from a peer dropped because their creator has a key and their
    /// signature is missing or wrong (a client's batch is refused whole
    /// instead, with [`Error::BadSignature`]).
    pub refused: Vec<(DeltaId, SignatureError)>,
}

/// The signature check of a batch, made against the key ring of one
/// generation: the positions of the deltas that fail it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Verdicts {
    /// The key ring generation the batch was checked against (`None`: not
    /// checked).
    generation: Option<u64>,
    bad: Vec<(usize, SignatureError)>,
}

/// Checks the signatures of `batch` against `keys`. Deltas whose creator
/// has no key pass; a ring with no key at all costs nothing.
pub(crate) fn verify(keys: &KeyRing, batch: &[Arc<Delta>]) -> Verdicts {
    let mut bad = Vec::new();
    if !keys.is_empty() {
        for (i, d) in batch.iter().enumerate() {
            if let Err(e) = keys.check(d) {
                bad.push((i, e));
            }
        }
    }
    Verdicts {
        generation: Some(keys.generation()),
        bad,
    }
}

/// [`verify`] on the cores of this machine (for large batches; run it off
/// the async workers).
pub(crate) fn verify_parallel(keys: &KeyRing, batch: &[Arc<Delta>]) -> Verdicts {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    if keys.is_empty() || threads < 2 || batch.len() < 64 {
        return verify(keys, batch);
    }
    let chunk = batch.len().div_ceil(threads);
    let parts: Vec<Verdicts> = std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .chunks(chunk)
            .map(|part| scope.spawn(move || verify(keys, part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut bad = Vec::new();
    for (n, part) in parts.into_iter().enumerate() {
        if part.generation.is_none() {
            // A verifying thread panicked: let the writer check again.
            return Verdicts::default();
        }
        bad.extend(part.bad.into_iter().map(|(i, e)| (n * chunk + i, e)));
    }
    Verdicts {
        generation: Some(keys.generation()),
        bad,
    }
}

/// Whether `d` may change the key ring (a key registration or revocation).
pub(crate) fn is_key_delta(d: &Delta) -> bool {
    d.references()
        .any(|(id, context)| context.is_some() && id.starts_with(KEY_ENTITY_PREFIX))
}

/// Deltas accepted earlier in the same group commit, not yet stored, by id.
pub(crate) type PendingIds = foldhash::HashMap<DeltaId, Arc<Delta>>;

/// The part of a batch to store.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub accepted: Vec<Arc<Delta>>,
    pub duplicates: Vec<DeltaId>,
    pub refused: Vec<(DeltaId, SignatureError)>,
}

impl Plan {
    pub fn answer(&self) -> Ingested {
        Ingested {
            accepted: self.accepted.iter().map(|d| d.id().clone()).collect(),
            duplicates: self.duplicates.clone(),
            refused: self.refused.clone(),
        }
    }
}

/// Who sent a batch, which decides what a bad signature costs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A client or this node: a bad signature refuses the whole batch.
    Local,
    /// A peer: deltas with a bad signature are dropped, the rest stored.
    Peer,
}

/// Splits `batch` into new deltas and duplicates, or refuses it whole with
/// [`Error::Conflict`] for the first delta whose id is taken by other
/// content: in `stored`, in `pending` (accepted earlier in this group, not
/// yet stored) or earlier in the batch.
///
/// New deltas must also pass the signature check: `verdicts` if they were
/// made against `keys` (the ring in force), else the check is made here. A
/// bad signature refuses a [`Source::Local`] batch whole
/// ([`Error::BadSignature`]) and drops the delta from a [`Source::Peer`]
/// batch.
pub(crate) fn plan<'a>(
    batch: &[Arc<Delta>],
    stored: impl Fn(&str) -> Option<&'a Arc<Delta>>,
    pending: &PendingIds,
    keys: &KeyRing,
    verdicts: &Verdicts,
    source: Source,
) -> Result<Plan> {
    let mut out = Plan::default();
    // Key deltas of the batch count for the rest of it.
    let mut with_batch_keys = None;
    if batch.iter().any(|d| is_key_delta(d)) {
        let mut ring = keys.clone();
        let mut changed = false;
        for d in batch {
            changed |= ring.observe(d);
        }
        if changed {
            with_batch_keys = Some(ring);
        }
    }
    let fresh;
    let verdicts = match &with_batch_keys {
        Some(ring) => {
            fresh = verify(ring, batch);
            &fresh
        }
        None if verdicts.generation != Some(keys.generation()) => {
            fresh = verify(keys, batch);
            &fresh
        }
        None => verdicts,
    };
    let mut bad = verdicts.bad.iter().peekable();
    let mut seen: foldhash::HashMap<&str, &Arc<Delta>> =
        foldhash::HashMap::with_capacity_and_hasher(batch.len(), Default::default());
    for (index, d) in batch.iter().enumerate() {
        let mut refused = None;
        while let Some((i, e)) = bad.peek() {
            if *i < index {
                bad.next();
            } else {
                if *i == index {
                    refused = Some(e.clone());
                }
                break;
            }
        }
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
            None => match (refused, source) {
                (None, _) => {
                    seen.insert(id, d);
                    out.accepted.push(Arc::clone(d));
                }
                (Some(e), Source::Local) => {
                    return Err(Error::BadSignature {
                        index,
                        id: d.id().clone(),
                        source: e,
                    });
                }
                (Some(e), Source::Peer) => out.refused.push((d.id().clone(), e)),
            },
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
        let p = plan(
            &batch,
            |id| stored.get(id),
            &pending,
            &KeyRing::default(),
            &Verdicts::default(),
            Source::Local,
        )
        .unwrap();
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
            match plan(
                &batch,
                |i| stored.get(i),
                pend,
                &KeyRing::default(),
                &Verdicts::default(),
                Source::Local,
            ) {
                Err(Error::Conflict { index: i, id: c }) => {
                    assert_eq!((i, c.as_str()), (index, id));
                }
                other => panic!("expected a conflict, got {other:?}"),
            }
        }
    }
}
