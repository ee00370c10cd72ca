//! The changes feed: every stored delta in this node's arrival order, with
//! the filters of `GET /api/deltas` (API.md §3).
//!
//! Served from memory. A [`SeqLog`] keeps the deltas by sequence number and,
//! per referenced entity, the sequence numbers of the deltas that reference
//! it, so an entity-filtered page costs the size of those lists, not the
//! history. Every request examines at most [`MAX_SCAN`] deltas; `last_seq`
//! says how far it got, so `since = last_seq` continues without gaps or
//! repeats.

use std::sync::Arc;

use rhizome_crdt::Delta;

use crate::store::Seq;

/// The most deltas one [`SeqLog::changes`] call examines.
pub const MAX_SCAN: usize = 100_000;

/// Which deltas a changes-feed request wants. Empty lists mean "any";
/// lists are OR'ed, fields AND'ed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FeedFilter {
    /// Deltas with a reference to any of these (with or without context).
    pub entities: Vec<String>,
    /// Deltas by any of these creators.
    pub creators: Vec<String>,
    /// Deltas from any of these hosts.
    pub hosts: Vec<String>,
    /// `timeCreated >= from` (ms).
    pub from: Option<u64>,
    /// `timeCreated <= to` (ms).
    pub to: Option<u64>,
}

impl FeedFilter {
    /// Whether `delta` passes the filter.
    pub fn matches(&self, delta: &Delta) -> bool {
        let t = delta.time_created().as_millis();
        (self.creators.is_empty() || self.creators.iter().any(|c| c == delta.creator()))
            && (self.hosts.is_empty() || self.hosts.iter().any(|h| h == delta.host()))
            && self.from.is_none_or(|f| t >= f)
            && self.to.is_none_or(|to| t <= to)
            && (self.entities.is_empty()
                || delta
                    .references()
                    .any(|(id, _)| self.entities.iter().any(|e| e == id)))
    }
}

/// A page of the changes feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changes {
    /// Matching deltas with their sequence numbers, in order.
    pub deltas: Vec<(Seq, Arc<Delta>)>,
    /// The last sequence number examined: ask again with `since = last_seq`
    /// to continue. When the scan reached the end of the log, the log's
    /// last sequence number.
    pub last_seq: Seq,
}

/// Deltas committed together, published on the live feed
/// ([`crate::node::Node::subscribe`]) once they are durable and readable.
/// Their sequence numbers are `first_seq, first_seq + 1, ...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredBatch {
    /// The sequence number of `deltas[0]`.
    pub first_seq: Seq,
    /// The deltas, in sequence order.
    pub deltas: Vec<Arc<Delta>>,
    /// How many of `deltas`, from the first, this node's clients wrote; the
    /// rest were received from peers.
    pub local: usize,
    /// The `(entity, property)` pairs whose views may have changed through
    /// this batch (negations and completed transactions included), for view
    /// caches and watchers.
    pub changed: rhizome_crdt::ChangeSet,
}

impl StoredBatch {
    /// The deltas with their sequence numbers.
    pub fn iter(&self) -> impl Iterator<Item = (Seq, &Arc<Delta>)> {
        (self.first_seq..).zip(&self.deltas)
    }

    /// The sequence number of the last delta.
    pub fn last_seq(&self) -> Seq {
        self.first_seq + self.deltas.len() as Seq - 1
    }
}

/// Every stored delta by sequence number, with per-entity postings.
#[derive(Debug, Default)]
pub struct SeqLog {
    /// `log[i]` has sequence number `i + 1`.
    log: Vec<Arc<Delta>>,
    /// Entity id → sequence numbers of the deltas referencing it, ascending.
    by_entity: foldhash::HashMap<Arc<str>, Vec<Seq>>,
}

impl SeqLog {
    /// An empty log.
    pub fn new() -> Self {
        SeqLog::default()
    }

    /// The last sequence number (0 if empty).
    pub fn last_seq(&self) -> Seq {
        self.log.len() as Seq
    }

    /// Appends `delta`, which must have sequence number `last_seq() + 1`.
    pub fn push(&mut self, delta: Arc<Delta>) {
        let seq = self.last_seq() + 1;
        let mut refs: Vec<&str> = delta.references().map(|(id, _)| id).collect();
        refs.sort_unstable();
        refs.dedup();
        for id in refs {
            match self.by_entity.get_mut(id) {
                Some(v) => v.push(seq),
                None => {
                    self.by_entity.insert(Arc::from(id), vec![seq]);
                }
            }
        }
        self.log.push(delta);
    }

    /// The delta with sequence number `seq`.
    pub fn get(&self, seq: Seq) -> Option<&Arc<Delta>> {
        let i = usize::try_from(seq.checked_sub(1)?).ok()?;
        self.log.get(i)
    }

    /// Up to `limit` deltas after `since` that pass `filter`, examining at
    /// most [`MAX_SCAN`] deltas.
    pub fn changes(&self, since: Seq, limit: usize, filter: &FeedFilter) -> Changes {
        let end = self.last_seq();
        let mut deltas = Vec::new();
        if limit == 0 {
            return Changes {
                deltas,
                last_seq: since.min(end),
            };
        }
        if since >= end {
            return Changes {
                deltas,
                last_seq: end,
            };
        }
        if filter.entities.is_empty() {
            let mut seq = since;
            let stop = end.min(since.saturating_add(MAX_SCAN as Seq));
            while seq < stop && deltas.len() < limit {
                seq += 1;
                if let Some(d) = self.get(seq)
                    && filter.matches(d)
                {
                    deltas.push((seq, Arc::clone(d)));
                }
            }
            return Changes {
                deltas,
                last_seq: seq,
            };
        }
        // Merge the postings of the wanted entities (each ascending).
        let mut cursors: Vec<&[Seq]> = filter
            .entities
            .iter()
            .filter_map(|e| self.by_entity.get(e.as_str()))
            .map(|v| &v[v.partition_point(|s| *s <= since)..])
            .filter(|v| !v.is_empty())
            .collect();
        let mut last = since;
        let mut scanned = 0;
        while deltas.len() < limit && scanned < MAX_SCAN {
            let Some(next) = cursors.iter().filter_map(|c| c.first().copied()).min() else {
                // Every posting list is exhausted: the scan reached the end.
                last = end;
                break;
            };
            for c in &mut cursors {
                if c.first() == Some(&next) {
                    *c = &c[1..];
                }
            }
            scanned += 1;
            last = next;
            if let Some(d) = self.get(next)
                && filter.matches(d)
            {
                deltas.push((next, Arc::clone(d)));
            }
        }
        if deltas.len() == limit && cursors.iter().all(|c| c.is_empty()) {
            last = end;
        }
        Changes {
            deltas,
            last_seq: last,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rhizome_crdt::{DeltaId, Pointer, Target, Timestamp};

    fn d(id: &str, t: u64, creator: &str, host: &str, entity: &str, ctx: bool) -> Arc<Delta> {
        let target = if ctx {
            Target::reference(entity, "p")
        } else {
            Target::reference_without_context(entity)
        };
        Arc::new(
            Delta::new(
                DeltaId::new(id).unwrap(),
                Timestamp::new(t).unwrap(),
                host,
                creator,
                vec![Pointer::new("entity", target), Pointer::new("p", 1)],
            )
            .unwrap(),
        )
    }

    fn log() -> SeqLog {
        let mut l = SeqLog::new();
        l.push(d("1", 10, "alice", "h1", "a", true));
        l.push(d("2", 20, "bob", "h2", "b", true));
        l.push(d("3", 30, "alice", "h2", "a", false));
        l.push(d("4", 40, "carol", "h1", "c", true));
        l.push(d("5", 50, "bob", "h1", "a", true));
        l
    }

    fn seqs(c: &Changes) -> Vec<Seq> {
        c.deltas.iter().map(|(s, _)| *s).collect()
    }

    #[test]
    fn pages_without_gaps_or_repeats() {
        let l = log();
        let all = FeedFilter::default();
        let c = l.changes(0, 2, &all);
        assert_eq!((seqs(&c), c.last_seq), (vec![1, 2], 2));
        let c = l.changes(2, 2, &all);
        assert_eq!((seqs(&c), c.last_seq), (vec![3, 4], 4));
        let c = l.changes(4, 2, &all);
        assert_eq!((seqs(&c), c.last_seq), (vec![5], 5));
        let c = l.changes(5, 2, &all);
        assert_eq!((seqs(&c), c.last_seq), (vec![], 5));
        let c = l.changes(99, 2, &all);
        assert_eq!((seqs(&c), c.last_seq), (vec![], 5));
    }

    #[test]
    fn filters_and_last_scanned() {
        let l = log();
        let alice = FeedFilter {
            creators: vec!["alice".into()],
            ..FeedFilter::default()
        };
        let c = l.changes(0, 1, &alice);
        assert_eq!((seqs(&c), c.last_seq), (vec![1], 1));
        let c = l.changes(1, 1, &alice);
        assert_eq!((seqs(&c), c.last_seq), (vec![3], 3));
        let c = l.changes(3, 1, &alice);
        assert_eq!((seqs(&c), c.last_seq), (vec![], 5), "scanned to the end");

        let hosts = FeedFilter {
            hosts: vec!["h2".into(), "nope".into()],
            from: Some(25),
            ..FeedFilter::default()
        };
        assert_eq!(seqs(&l.changes(0, 10, &hosts)), vec![3]);
        let window = FeedFilter {
            from: Some(20),
            to: Some(40),
            ..FeedFilter::default()
        };
        assert_eq!(seqs(&l.changes(0, 10, &window)), vec![2, 3, 4]);
    }

    #[test]
    fn entity_filter_uses_references_with_or_without_context() {
        let l = log();
        let a = FeedFilter {
            entities: vec!["a".into()],
            ..FeedFilter::default()
        };
        let c = l.changes(0, 10, &a);
        assert_eq!((seqs(&c), c.last_seq), (vec![1, 3, 5], 5));
        let c = l.changes(0, 2, &a);
        assert_eq!((seqs(&c), c.last_seq), (vec![1, 3], 3));
        let c = l.changes(3, 2, &a);
        assert_eq!((seqs(&c), c.last_seq), (vec![5], 5));
        let ac = FeedFilter {
            entities: vec!["c".into(), "a".into(), "zzz".into()],
            creators: vec!["alice".into(), "carol".into()],
            ..FeedFilter::default()
        };
        assert_eq!(seqs(&l.changes(0, 10, &ac)), vec![1, 3, 4]);
        let none = FeedFilter {
            entities: vec!["zzz".into()],
            ..FeedFilter::default()
        };
        assert_eq!(l.changes(0, 10, &none).last_seq, 5);
    }

    #[test]
    fn entity_filter_equals_a_full_scan() {
        let mut l = SeqLog::new();
        for i in 0..500 {
            l.push(Arc::new(
                rhizome_crdt::workload::Workload::seeded(4).delta(i),
            ));
        }
        let e = l.get(7).unwrap().references().next().unwrap().0.to_owned();
        let f = FeedFilter {
            entities: vec![e],
            ..FeedFilter::default()
        };
        let fast: Vec<_> = seqs(&l.changes(0, 1000, &f));
        let slow: Vec<_> = (1..=500)
            .filter(|s| f.matches(l.get(*s).unwrap()))
            .collect();
        assert_eq!(fast, slow);
        assert!(fast.contains(&7));
    }
}
