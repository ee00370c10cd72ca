//! Transactions (API.md §2): members take effect only once the transaction is
//! complete.
//!
//! A transaction is complete at time T when a size declaration with
//! `timeCreated <= T` is stored (with several, the one with the smallest
//! `(timeCreated, id)` counts) and at least that many distinct members with
//! `timeCreated <= T` are stored, negated or not.
//!
//! For a given set of deltas completeness is monotone in T: the counting
//! declaration is the same at every T where one exists (the smallest
//! `(timeCreated, id)` is stored at T as soon as any declaration is), and the
//! members counted only grow with T. So a transaction has one **completion
//! time**: the smallest T at which it is complete, or none. It is kept up to
//! date on every insert, which makes "complete at T" one comparison.

use std::sync::Arc;

use crate::delta_set::Slot;
use crate::{Delta, Timestamp};

/// What is stored about one transaction.
#[derive(Clone, Debug, Default)]
pub(crate) struct Transaction {
    /// Members, sorted by `timeCreated` (ties in arrival order: only the
    /// times matter for counting).
    members: Vec<(Timestamp, Slot)>,
    /// Every size declaration, in arrival order.
    declarations: Vec<Slot>,
    /// The counting declaration: its order key and declared size.
    declared: Option<Declared>,
    /// The smallest T at which the transaction is complete.
    completion: Option<Timestamp>,
}

#[derive(Clone, Debug)]
struct Declared {
    time: Timestamp,
    id: Arc<str>,
    size: u64,
}

/// The state of a transaction at some time (for `GET /api/transactions/:id`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransactionStatus {
    /// The declared size (of the declaration that counts), if one is stored.
    pub size: Option<u64>,
    /// How many distinct members are stored.
    pub received: usize,
    /// Whether the transaction is complete.
    pub complete: bool,
}

impl Transaction {
    /// Records a stored member.
    pub(crate) fn add_member(&mut self, time: Timestamp, slot: Slot) {
        let at = match self.members.last() {
            Some(&(last, _)) if last > time => self.members.partition_point(|&(t, _)| t <= time),
            _ => self.members.len(),
        };
        self.members.insert(at, (time, slot));
        self.update_completion();
    }

    /// Records a stored size declaration of `size`.
    pub(crate) fn add_declaration(&mut self, delta: &Delta, slot: Slot, size: u64) {
        self.declarations.push(slot);
        let counts = match &self.declared {
            None => true,
            Some(d) => delta.order_key() < (d.time, &*d.id),
        };
        if counts {
            self.declared = Some(Declared {
                time: delta.time_created(),
                id: delta.id().as_arc().clone(),
                size,
            });
        }
        self.update_completion();
    }

    fn update_completion(&mut self) {
        self.completion = self.declared.as_ref().and_then(|d| {
            let nth = usize::try_from(d.size).ok()?.checked_sub(1)?;
            let &(member_time, _) = self.members.get(nth)?;
            Some(member_time.max(d.time))
        });
    }

    /// The smallest T at which the transaction is complete, if any.
    pub(crate) fn completion(&self) -> Option<Timestamp> {
        self.completion
    }

    /// Whether the transaction is complete at `as_of` (`None`: infinity).
    pub(crate) fn complete_at(&self, as_of: Option<Timestamp>) -> bool {
        match (self.completion, as_of) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(c), Some(t)) => c <= t,
        }
    }

    /// The stored members, sorted by `timeCreated`.
    pub(crate) fn members(&self) -> impl Iterator<Item = Slot> + '_ {
        self.members.iter().map(|&(_, s)| s)
    }

    /// The stored size declarations, in arrival order.
    pub(crate) fn declarations(&self) -> &[Slot] {
        &self.declarations
    }

    /// The state at `as_of`.
    pub(crate) fn status(&self, as_of: Option<Timestamp>) -> TransactionStatus {
        let seen = |t: Timestamp| as_of.is_none_or(|a| t <= a);
        TransactionStatus {
            size: self
                .declared
                .as_ref()
                .filter(|d| seen(d.time))
                .map(|d| d.size),
            received: match as_of {
                None => self.members.len(),
                Some(a) => self.members.partition_point(|&(t, _)| t <= a),
            },
            complete: self.complete_at(as_of),
        }
    }
}
