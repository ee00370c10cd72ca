//! The bounded buffer between the dispatcher and one subscription.
//!
//! The dispatcher pushes without ever waiting ([`SubQueue::push`]); when the
//! buffer is full the subscription ends with an overflow instead. The
//! connection that owns the subscription is woken through a [`Notify`]
//! shared by all its subscriptions and drains the queue at its own pace.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::store::Seq;

/// One delta as a subscriber receives it, shared by every subscriber of
/// the same format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// The delta's JSON.
    Delta(Arc<str>),
    /// The requested format cannot express the delta: the error object's
    /// JSON (`{"code": "not_expressible", ...}`).
    NotExpressible(Arc<str>),
}

/// Why a subscription ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    /// The buffer was full; every matching delta up to `last_seq` was
    /// delivered into it. Resubscribe with `since = last_seq`.
    Overflow {
        /// Resume point.
        last_seq: Seq,
    },
    /// The node is shutting down.
    Closed,
}

#[derive(Debug, Default)]
struct Inner {
    items: VecDeque<(Seq, Payload)>,
    end: Option<End>,
}

/// A subscription's bounded buffer.
#[derive(Debug)]
pub struct SubQueue {
    inner: Mutex<Inner>,
    capacity: usize,
    wake: Arc<Notify>,
}

impl SubQueue {
    /// A queue of `capacity` messages that wakes `wake` on every change.
    pub fn new(capacity: usize, wake: Arc<Notify>) -> SubQueue {
        SubQueue {
            inner: Mutex::new(Inner::default()),
            capacity: capacity.max(1),
            wake,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a delivery; `false` (and the queue ends with
    /// [`End::Overflow`] at `seq - 1`) if the buffer is full.
    pub fn push(&self, seq: Seq, payload: Payload) -> bool {
        let mut q = self.lock();
        if q.end.is_some() {
            return false;
        }
        let ok = if q.items.len() >= self.capacity {
            q.end = Some(End::Overflow {
                last_seq: seq.saturating_sub(1),
            });
            false
        } else {
            q.items.push_back((seq, payload));
            true
        };
        drop(q);
        self.wake.notify_one();
        ok
    }

    /// Ends the queue (no-op if it already ended).
    pub fn end(&self, end: End) {
        self.lock().end.get_or_insert(end);
        self.wake.notify_one();
    }

    /// Moves up to `max` waiting deliveries into `out`; returns the end
    /// once the queue has ended and is empty.
    pub fn drain(&self, out: &mut Vec<(Seq, Payload)>, max: usize) -> Option<End> {
        let mut q = self.lock();
        let n = q.items.len().min(max);
        out.extend(q.items.drain(..n));
        if q.items.is_empty() {
            if q.items.capacity() > 64 {
                q.items.shrink_to_fit();
            }
            q.end
        } else {
            None
        }
    }

    /// Whether deliveries are waiting.
    pub fn has_items(&self) -> bool {
        !self.lock().items.is_empty()
    }
}

/// A watch's "the view may have changed" flag: set by the dispatcher,
/// taken by the connection, which recomputes the view once however many
/// batches set it in between.
#[derive(Debug)]
pub struct WatchFlag {
    dirty: AtomicBool,
    wake: Arc<Notify>,
}

impl WatchFlag {
    /// A clear flag that wakes `wake` when set.
    pub fn new(wake: Arc<Notify>) -> WatchFlag {
        WatchFlag {
            dirty: AtomicBool::new(false),
            wake,
        }
    }

    /// Marks the view as possibly changed.
    pub fn set(&self) {
        if !self.dirty.swap(true, Ordering::AcqRel) {
            self.wake.notify_one();
        }
    }

    /// Whether it was set since the last call (and clears it).
    pub fn take(&self) -> bool {
        self.dirty.swap(false, Ordering::AcqRel)
    }
}
