//! Visibility at time T (API.md §2, "Visibility", "Transactions", "Time
//! travel").
//!
//! At time T (`None`: infinity), for a stored delta D:
//!
//! - D is **eligible** when `timeCreated(D) <= T` and, if D is a member of a
//!   transaction, that transaction is complete at T.
//! - The **negation graph** at T has an edge from each eligible negation N to
//!   each delta it negates. A negation that lies on a cycle of this graph
//!   (p negates q and q negates p, longer cycles, a delta negating itself)
//!   has no effect: "a negation cycle is judged among the negations in effect
//!   at T", eligibility being what puts a negation in effect at T before any
//!   negation is weighed.
//! - D is **in effect** when it is eligible, not on a cycle, and not
//!   negated; D is **negated** when some negation of it is in effect. Once
//!   cycles are set aside the graph is acyclic, so this has exactly one
//!   answer: double negation restores D, a third hides it again.
//! - D is **visible** when it is in effect and is not a negation.
//!
//! Evaluation is iterative (Tarjan's strongly connected components over
//! "is negated by" edges, with an explicit stack): a negation chain of any
//! length never grows the call stack. Answers are memoized per query in a
//! [`Visibility`], never stored in the set.

use foldhash::HashMap;

use crate::Timestamp;
use crate::delta_set::{DeltaSet, HAS_NEGATORS, IS_NEGATION, NO_TX, Slot};

/// One query's view of visibility at a time: memoizes what it works out.
pub(crate) struct Visibility<'a> {
    set: &'a DeltaSet,
    as_of: Option<Timestamp>,
    marks: HashMap<Slot, Mark>,
}

#[derive(Clone, Copy, Debug)]
enum Mark {
    /// On the Tarjan stack: its index and low-link.
    Open { index: u32, low: u32 },
    /// Finished: whether it is in effect.
    Done(bool),
}

/// One frame of the explicit depth-first stack.
struct Frame {
    slot: Slot,
    next: usize,
}

impl<'a> Visibility<'a> {
    /// Visibility in `set` at `as_of` (`None`: infinity).
    pub(crate) fn new(set: &'a DeltaSet, as_of: Option<Timestamp>) -> Self {
        Visibility {
            set,
            as_of,
            marks: HashMap::default(),
        }
    }

    /// The time this query is asked at.
    pub(crate) fn as_of(&self) -> Option<Timestamp> {
        self.as_of
    }

    /// Stored, created at or before T, and (if a transaction member) its
    /// transaction complete at T.
    pub(crate) fn eligible(&self, slot: Slot) -> bool {
        let e = &self.set.entries[slot as usize];
        e.delta.is_some()
            && self.as_of.is_none_or(|t| e.time <= t)
            && (e.tx == NO_TX
                || self
                    .set
                    .transactions
                    .get(&e.tx)
                    .is_some_and(|tx| tx.complete_at(self.as_of)))
    }

    /// Whether the delta in `slot` is visible as data at T.
    pub(crate) fn visible(&mut self, slot: Slot) -> bool {
        let e = &self.set.entries[slot as usize];
        e.flags & IS_NEGATION == 0 && self.eligible(slot) && self.in_effect_if_eligible(slot)
    }

    /// Whether the delta in `slot` is in effect at T (negations included).
    pub(crate) fn in_effect(&mut self, slot: Slot) -> bool {
        self.eligible(slot) && self.in_effect_if_eligible(slot)
    }

    /// For an eligible slot: not on a cycle and not negated.
    fn in_effect_if_eligible(&mut self, slot: Slot) -> bool {
        let flags = self.set.entries[slot as usize].flags;
        if flags & HAS_NEGATORS == 0 {
            return true;
        }
        // Fast path: a negation of it that nothing negates cannot lie on a
        // cycle, so if it is eligible it is in effect and `slot` is negated.
        let negators = self.negators(slot);
        if negators.iter().any(|&n| {
            n != slot && self.set.entries[n as usize].flags & HAS_NEGATORS == 0 && self.eligible(n)
        }) {
            return false;
        }
        if let Some(Mark::Done(b)) = self.marks.get(&slot) {
            return *b;
        }
        self.evaluate(slot)
    }

    fn negators(&self, slot: Slot) -> &'a [Slot] {
        let set: &'a DeltaSet = self.set;
        set.negators.get(&slot).map_or(&[], Vec::as_slice)
    }

    /// Tarjan's algorithm from `root` (eligible, not yet done) over the
    /// edges "is negated by (an eligible negation)". Each strongly connected
    /// component is finished after every component it depends on, which is
    /// the order in which "in effect" can be decided.
    fn evaluate(&mut self, root: Slot) -> bool {
        let mut counter: u32 = 0;
        let mut stack: Vec<Slot> = Vec::new();
        let mut frames = vec![Frame {
            slot: root,
            next: 0,
        }];
        self.marks.insert(root, Mark::Open { index: 0, low: 0 });
        stack.push(root);
        counter += 1;

        while let Some(frame) = frames.last_mut() {
            let v = frame.slot;
            let negators = self.negators(v);
            if let Some(&w) = negators.get(frame.next) {
                frame.next += 1;
                if !self.eligible(w) {
                    continue;
                }
                match self.marks.get(&w).copied() {
                    None => {
                        self.marks.insert(
                            w,
                            Mark::Open {
                                index: counter,
                                low: counter,
                            },
                        );
                        counter += 1;
                        stack.push(w);
                        frames.push(Frame { slot: w, next: 0 });
                    }
                    Some(Mark::Open { index, .. }) => self.lower(v, index),
                    Some(Mark::Done(_)) => {}
                }
                continue;
            }
            // Every negator of v explored.
            frames.pop();
            let Some(Mark::Open { index, low }) = self.marks.get(&v).copied() else {
                continue;
            };
            if let Some(parent) = frames.last() {
                self.lower(parent.slot, low);
            }
            if low != index {
                continue;
            }
            // v is the root of a component: pop it.
            let mut size = 0usize;
            let mut last = v;
            while let Some(w) = stack.pop() {
                size += 1;
                last = w;
                if w == v {
                    break;
                }
                self.marks.insert(w, Mark::Done(false));
            }
            debug_assert_eq!(last, v);
            let on_cycle = size > 1 || negators.contains(&v);
            let in_effect = !on_cycle
                && !negators.iter().any(|&n| {
                    self.eligible(n) && matches!(self.marks.get(&n), Some(Mark::Done(true)))
                });
            self.marks.insert(v, Mark::Done(in_effect));
        }
        matches!(self.marks.get(&root), Some(Mark::Done(true)))
    }

    fn lower(&mut self, slot: Slot, to: u32) {
        if let Some(Mark::Open { low, .. }) = self.marks.get_mut(&slot) {
            *low = (*low).min(to);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::fixtures::*;
    use crate::{DeltaSet, Pointer, Target, Timestamp};

    fn visible(set: &DeltaSet, as_of: Option<u64>) -> Vec<String> {
        ids(set, "x", "p", as_of)
    }

    #[test]
    fn negation_hides_in_any_arrival_order() {
        let d = set("d", 10, "x", "p", 1);
        let n = neg("n", 20, "d");
        for order in [vec![d.clone(), n.clone()], vec![n.clone(), d.clone()]] {
            let mut s = DeltaSet::new();
            for x in order {
                s.insert(x).unwrap();
            }
            assert!(visible(&s, None).is_empty());
            assert!(!s.exists("x", None));
            // Negations are never visible as data.
            assert!(!s.is_visible("n", None));
            assert!(s.is_in_effect("n", None));
        }
    }

    #[test]
    fn double_negation_restores_and_triple_hides() {
        let base = vec![set("d", 10, "x", "p", 1), neg("n1", 20, "d")];
        let mut s = set_of(base.clone());
        assert!(visible(&s, None).is_empty());
        s.insert(neg("n2", 30, "n1")).unwrap();
        assert_eq!(visible(&s, None), ["d"]);
        s.insert(neg("n3", 40, "n2")).unwrap();
        assert!(visible(&s, None).is_empty());
        // Inserted backwards: same answers.
        let s = set_of([
            neg("n3", 40, "n2"),
            neg("n2", 30, "n1"),
            neg("n1", 20, "d"),
            set("d", 10, "x", "p", 1),
        ]);
        assert!(visible(&s, None).is_empty());
        assert_eq!(visible(&s, Some(35)), ["d"]);
        assert!(visible(&s, Some(25)).is_empty());
        assert_eq!(visible(&s, Some(15)), ["d"]);
        assert!(visible(&s, Some(5)).is_empty());
    }

    #[test]
    fn any_negation_in_effect_hides() {
        // Two negations; negating one leaves the other in effect.
        let s = set_of([
            set("d", 10, "x", "p", 1),
            neg("n1", 20, "d"),
            neg("n2", 21, "d"),
            neg("m", 30, "n1"),
        ]);
        assert!(visible(&s, None).is_empty());
        let s = set_of([
            set("d", 10, "x", "p", 1),
            neg("n1", 20, "d"),
            neg("m", 30, "n1"),
        ]);
        assert_eq!(visible(&s, None), ["d"]);
    }

    #[test]
    fn negation_with_earlier_timestamp_than_target() {
        let s = set_of([neg("n", 5, "d"), set("d", 10, "x", "p", 1)]);
        assert!(visible(&s, None).is_empty());
        assert!(visible(&s, Some(10)).is_empty());
        assert!(visible(&s, Some(7)).is_empty()); // d not yet created
    }

    #[test]
    fn time_travel_applies_the_negations_of_then() {
        let s = set_of([
            set("d", 10, "x", "p", 1),
            neg("n", 20, "d"),
            neg("m", 30, "n"),
        ]);
        assert_eq!(visible(&s, Some(10)), ["d"]);
        assert_eq!(visible(&s, Some(19)), ["d"]);
        assert!(visible(&s, Some(20)).is_empty());
        assert!(visible(&s, Some(29)).is_empty());
        assert_eq!(visible(&s, Some(30)), ["d"]);
        assert_eq!(visible(&s, None), ["d"]);
        assert!(visible(&s, Some(9)).is_empty());
    }

    #[test]
    fn negation_cycles_have_no_effect() {
        // 2-cycle p <-> q, both also negating d: neither has effect.
        let s = set_of([
            set("d", 10, "x", "p", 1),
            delta("p", 20, vec![neg_pointer("q"), neg_pointer("d")]),
            delta("q", 21, vec![neg_pointer("p"), neg_pointer("d")]),
        ]);
        assert_eq!(visible(&s, None), ["d"]);
        assert!(!s.is_in_effect("p", None));
        assert!(!s.is_in_effect("q", None));
        // Before q exists, p is not on a cycle: it hides d.
        assert!(visible(&s, Some(20)).is_empty());
        assert!(s.is_in_effect("p", Some(Timestamp::new(20).unwrap())));

        // 3-cycle a -> b -> c -> a, with a also negating d.
        let s = set_of([
            set("d", 10, "x", "p", 1),
            delta("a", 20, vec![neg_pointer("b"), neg_pointer("d")]),
            neg("b", 21, "c"),
            neg("c", 22, "a"),
        ]);
        assert_eq!(visible(&s, None), ["d"]);
        // Before c closes the cycle, a is not negated and hides d.
        assert!(visible(&s, Some(21)).is_empty());

        // Self-negation: no effect, on itself or on d.
        let s = set_of([
            set("d", 10, "x", "p", 1),
            delta("s", 20, vec![neg_pointer("s"), neg_pointer("d")]),
        ]);
        assert_eq!(visible(&s, None), ["d"]);
        // A self-negating data delta is a negation: never visible.
        let mut p = set_pointers("x", "p", 1);
        p.push(neg_pointer("z"));
        let s = set_of([delta("z", 10, p)]);
        assert!(visible(&s, None).is_empty());
    }

    #[test]
    fn negation_of_a_cycle_member_and_what_lies_downstream() {
        // p <-> q is a cycle; r negates p. p and q stay without effect; d,
        // negated only by q, stays visible; e negated by an ordinary negation
        // downstream of nothing on the cycle is hidden.
        let s = set_of([
            set("d", 10, "x", "p", 1),
            set("e", 11, "x", "p", 2),
            delta("q", 20, vec![neg_pointer("p"), neg_pointer("d")]),
            neg("p", 21, "q"),
            neg("r", 22, "p"),
            neg("n", 23, "e"),
        ]);
        assert_eq!(visible(&s, None), ["d"]);
    }

    #[test]
    fn long_negation_chain_does_not_overflow_the_stack() {
        const N: usize = 100_000;
        let mut deltas = vec![set("d", 1, "x", "p", 1), neg("n0", 2, "d")];
        for i in 1..N {
            deltas.push(neg(&format!("n{i}"), 2 + i as u64, &format!("n{}", i - 1)));
        }
        // Reverse arrival: every negation before its target.
        deltas.reverse();
        let s = set_of(deltas);
        // N negations: d hidden iff N is odd.
        assert_eq!(visible(&s, None).is_empty(), N % 2 == 1);
        assert!(visible(&s, Some(2)).is_empty());
        assert_eq!(visible(&s, Some(3)), ["d"]);
        // A second negation of n0 that nothing negates: n0 out, d back.
        let mut s = s;
        s.insert(neg(&format!("n{N}"), 1_000_000, "n0")).unwrap();
        assert_eq!(visible(&s, None), ["d"]);
        // Closing the chain into a cycle (n0 negates the last one too) drops
        // every negation on it: d visible.
        let mut s = set_of(
            (1..N).map(|i| neg(&format!("c{i}"), 2 + i as u64, &format!("c{}", (i + 1) % N))),
        );
        s.insert(set("d", 1, "x", "p", 1)).unwrap();
        s.insert(delta("c0", 2, vec![neg_pointer("c1"), neg_pointer("d")]))
            .unwrap();
        assert_eq!(visible(&s, None), ["d"]);
        // Before the cycle closes (c_{N-1}, the only negation of c0, is
        // created at N + 1), nothing negates c0: it hides d.
        assert!(visible(&s, Some(N as u64)).is_empty());
        assert_eq!(visible(&s, Some(N as u64 + 1)), ["d"]);
        assert!(!s.is_in_effect("c0", None));
    }

    #[test]
    fn transactions_take_effect_when_complete() {
        let m1 = member("m1", 10, "tx", "x", "p", 1);
        let m2 = member("m2", 20, "tx", "x", "p", 2);
        let decl = declare("s", 15, "tx", 2);
        // Incomplete: no declaration.
        let s = set_of([m1.clone(), m2.clone()]);
        assert!(visible(&s, None).is_empty());
        // Declaration but one member missing.
        let s = set_of([m1.clone(), decl.clone()]);
        assert!(visible(&s, None).is_empty());
        assert_eq!(
            s.transaction_status("tx", None),
            Some(crate::TransactionStatus {
                size: Some(2),
                received: 1,
                complete: false
            })
        );
        // Complete, in any order; complete from T = 20 on.
        let s = set_of([m2.clone(), decl.clone(), m1.clone()]);
        assert_eq!(visible(&s, None), ["m1", "m2"]);
        assert_eq!(visible(&s, Some(20)), ["m1", "m2"]);
        assert!(visible(&s, Some(19)).is_empty());
        // Declaration after the members: complete only from its time.
        let s = set_of([m1.clone(), m2.clone(), declare("s", 50, "tx", 2)]);
        assert!(visible(&s, Some(49)).is_empty());
        assert_eq!(visible(&s, Some(50)), ["m1", "m2"]);
        // The declaration itself is ordinary data under (tx, size).
        assert_eq!(ids(&s, "tx", "size", None), ["s"]);
        assert!(s.transaction_status("nothing", None).is_none());
    }

    #[test]
    fn the_earliest_declaration_counts() {
        let m1 = member("m1", 10, "tx", "x", "p", 1);
        let m2 = member("m2", 20, "tx", "x", "p", 2);
        // Declares 1 at 5, 3 at 1: the one at 1 counts, so incomplete.
        let s = set_of([
            m1.clone(),
            m2.clone(),
            declare("a", 5, "tx", 1),
            declare("b", 1, "tx", 3),
        ]);
        assert!(visible(&s, None).is_empty());
        // Equal times: smallest id counts ("a" declares 2, "b" declares 3).
        let s = set_of([
            m1.clone(),
            m2.clone(),
            declare("b", 5, "tx", 3),
            declare("a", 5, "tx", 2),
        ]);
        assert_eq!(visible(&s, None), ["m1", "m2"]);
        // Before "b" at 1 exists, "a" at 5 counts: time travel sees size 1.
        let s = set_of([m1, m2, declare("a", 5, "tx", 1), declare("b", 15, "tx", 3)]);
        assert_eq!(visible(&s, Some(12)), ["m1"]);
        // ... and the earliest declaration counts at every T where it exists.
        assert_eq!(visible(&s, None), ["m1", "m2"]);
    }

    #[test]
    fn negated_members_still_count_and_duplicates_count_once() {
        let s = set_of([
            member("m1", 10, "tx", "x", "p", 1),
            member("m2", 11, "tx", "x", "p", 2),
            declare("s", 1, "tx", 2),
            neg("n", 12, "m2"),
        ]);
        assert_eq!(visible(&s, None), ["m1"]);
        // The same member twice is one member.
        let m1 = member("m1", 10, "tx", "x", "p", 1);
        let mut s = set_of([m1.clone(), declare("s", 1, "tx", 2)]);
        let r = s.insert_batch([m1.clone(), m1.clone()]).unwrap();
        assert_eq!(r.duplicates.len(), 2);
        assert!(visible(&s, None).is_empty());
        assert_eq!(s.transaction_status("tx", None).unwrap().received, 1);
    }

    #[test]
    fn negations_inside_transactions_wait_for_completion() {
        let mut neg_in_tx = vec![neg_pointer("d")];
        neg_in_tx.push(member_pointer("tx"));
        let s = set_of([set("d", 10, "x", "p", 1), delta("n", 20, neg_in_tx.clone())]);
        // Incomplete: the negation has no effect.
        assert_eq!(visible(&s, None), ["d"]);
        let s = set_of([
            set("d", 10, "x", "p", 1),
            delta("n", 20, neg_in_tx),
            member("m", 30, "tx", "x", "p", 2),
            declare("s", 5, "tx", 2),
        ]);
        assert_eq!(visible(&s, None), ["m"]);
        assert_eq!(visible(&s, Some(29)), ["d"]);
    }

    #[test]
    fn ties_on_time_created_ordered_by_id_bytes() {
        // "B" (0x42) < "a" (0x61) < "b" as bytes.
        let s = set_of([
            set("b", 10, "x", "p", 1),
            set("a", 10, "x", "p", 2),
            set("B", 10, "x", "p", 3),
            set("c", 9, "x", "p", 4),
        ]);
        assert_eq!(visible(&s, None), ["c", "B", "a", "b"]);
    }

    #[test]
    fn negation_by_reference_without_context_and_alias_role() {
        let s = set_of([
            set("d", 10, "x", "p", 1),
            delta(
                "n",
                20,
                vec![Pointer::new(
                    "negates",
                    Target::reference_without_context("d"),
                )],
            ),
        ]);
        assert!(visible(&s, None).is_empty());
        assert!(!s.exists("x", Some(Timestamp::new(25).unwrap())));
        assert!(s.exists("x", Some(Timestamp::new(15).unwrap())));
    }
}
