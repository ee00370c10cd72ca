//! The reconciliation protocol as an I/O-free state machine: messages in,
//! messages and decisions out. The network (iroh) wraps around it.
//!
//! Each side holds a [`FingerprintTree`] of its items. The initiator splits
//! the whole key space into [`Config::branching`] ranges of equal count and
//! sends their fingerprints. On receiving a message, a side answers range by
//! range:
//!
//! - `Skip` → nothing to do;
//! - `Fingerprint` equal to its own → `Skip`;
//! - `Fingerprint` different, and it holds at most [`Config::item_threshold`]
//!   items there → `ItemList` of its keys;
//! - `Fingerprint` different, more items → split the range into `branching`
//!   sub-ranges of equal count (by rank) and send their fingerprints;
//! - `ItemList` → it now knows the difference in that range exactly: the
//!   keys it has and the peer did not list go to [`Outcome::send`], those
//!   listed that it lacks go to [`Outcome::need`] and into the reply's
//!   [`want`](Message::want); the range is settled (`Skip`).
//!
//! Keys in a received `want` that the side holds go to [`Outcome::send`]. A
//! message with no range left is terminal: its receiver does not reply. So at
//! the end each side's `send` holds exactly the keys the other side lacks.
//!
//! Frame limit (negentropy's): once a reply reaches three quarters of
//! [`Config::max_message_bytes`], the ranges not yet processed are carried
//! over one by one: a skip stays a skip, any other range is answered with
//! this side's fingerprint of it (a skip if it equals the peer's), so the
//! next round resumes at the same granularity. Should even the echoes reach
//! the limit, the rest is folded into one fingerprint up to the end. No
//! state is kept between rounds.

use crate::error::{Error, Result};
use crate::fingerprint_tree::FingerprintTree;
use crate::key::{Bound, Key};
use crate::message::{Message, MessageBuilder, Payload};

/// Under the frame limit, the last `1 / CARRY_SHARE_DIVISOR` of a reply is
/// kept for carrying the unprocessed ranges over one by one.
const CARRY_SHARE_DIVISOR: usize = 4;

/// The tuning of a [`Reconciler`]. Both sides may use different values.
///
/// ```
/// use rhizome_sync::Config;
/// let config = Config { branching: 16, item_threshold: 32, max_message_bytes: 64 * 1024 };
/// assert!(config.validate().is_ok());
/// assert!(Config { branching: 1, ..config }.validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Into how many equal-count sub-ranges a differing range is split
    /// (B ≥ 2; default 16).
    pub branching: usize,
    /// A differing range holding at most this many items is answered with
    /// its keys rather than split (≥ 1; default 32).
    pub item_threshold: usize,
    /// The size a reply stops growing at (≥ 1024; default 512 KiB): past it,
    /// the rest is carried over to the next round. A message can exceed it
    /// by one range's answer (at most `branching` fingerprints or
    /// `item_threshold` keys).
    pub max_message_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            branching: 16,
            item_threshold: 32,
            max_message_bytes: 512 * 1024,
        }
    }
}

impl Config {
    /// Checks every value against its range.
    pub fn validate(&self) -> Result<()> {
        let invalid = |field, problem: &str| Error::InvalidConfig {
            field,
            problem: problem.to_owned(),
        };
        if self.branching < 2 {
            return Err(invalid("branching", "must be at least 2"));
        }
        if self.item_threshold < 1 {
            return Err(invalid("item_threshold", "must be at least 1"));
        }
        if self.max_message_bytes < 1024 {
            return Err(invalid("max_message_bytes", "must be at least 1024"));
        }
        Ok(())
    }
}

/// What a side learns from one message, and what it answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The message to send back; `None` when the received message was
    /// terminal.
    pub reply: Option<Message>,
    /// Keys of items this side has and the peer lacks: send it those items.
    pub send: Vec<Key>,
    /// Keys of items this side lacks and the peer has; the reply asks for
    /// them (its `want`), and the peer will send them.
    pub need: Vec<Key>,
}

impl Outcome {
    /// Whether this side's part of the exchange is over: no reply, or a
    /// terminal one (which the peer does not answer).
    pub fn is_done(&self) -> bool {
        self.reply.as_ref().is_none_or(Message::is_terminal)
    }
}

/// The protocol's decisions, given a tree of this side's items. It keeps no
/// per-peer state: one reconciler serves any number of exchanges, and
/// everything a round needs travels in the messages.
///
/// ```
/// use rhizome_sync::{Config, FingerprintTree, Key, Reconciler};
///
/// let items = |ids: &[u64]| FingerprintTree::from_entries(
///     ids.iter().map(|&i| (Key::new(i, i.to_be_bytes()), [i as u8; 32])).collect());
/// let alice = items(&(0..1000).collect::<Vec<_>>());
/// let bob = items(&(1..1001).collect::<Vec<_>>());
/// let reconciler = Reconciler::new(Config::default())?;
///
/// let (mut alice_sends, mut bob_sends) = (Vec::new(), Vec::new());
/// let mut message = reconciler.initiate(&alice);
/// let mut turn_of_bob = true;
/// loop {
///     let (tree, sends) = if turn_of_bob { (&bob, &mut bob_sends) } else { (&alice, &mut alice_sends) };
///     let outcome = reconciler.respond(tree, &message);
///     sends.extend(outcome.send);
///     match outcome.reply {
///         Some(reply) => message = reply,
///         None => break,
///     }
///     turn_of_bob = !turn_of_bob;
/// }
/// assert_eq!(alice_sends, [Key::new(0, 0u64.to_be_bytes())]);
/// assert_eq!(bob_sends, [Key::new(1000, 1000u64.to_be_bytes())]);
/// # Ok::<(), rhizome_sync::Error>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Reconciler {
    config: Config,
}

impl Reconciler {
    /// A reconciler with this (validated) configuration.
    pub fn new(config: Config) -> Result<Reconciler> {
        config.validate()?;
        Ok(Reconciler { config })
    }

    /// Its configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The first message of an exchange: the whole key space split into
    /// `branching` fingerprinted ranges (or every key, if few).
    pub fn initiate(&self, tree: &FingerprintTree) -> Message {
        let mut reply = MessageBuilder::default();
        self.split_or_list(tree, &Bound::start(), &Bound::End, &mut reply);
        reply.finish()
    }

    /// Answers a message from the peer (see the module docs for the rules).
    pub fn respond(&self, tree: &FingerprintTree, message: &Message) -> Outcome {
        let mut outcome = Outcome {
            send: message
                .want()
                .iter()
                .filter(|key| tree.contains(key))
                .cloned()
                .collect(),
            ..Outcome::default()
        };
        if message.is_terminal() {
            return outcome;
        }
        let mut reply = MessageBuilder::default();
        let mut lower = Bound::start();
        let limit = self.config.max_message_bytes;
        let decide_limit = limit / CARRY_SHARE_DIVISOR * (CARRY_SHARE_DIVISOR - 1);
        let mut carrying = false;
        for range in message.ranges() {
            let upper = &range.upper;
            carrying = carrying || (reply.has_work() && reply.estimate() >= decide_limit);
            if carrying {
                if reply.estimate() >= limit {
                    // No room even for echoes: one fingerprint up to the end.
                    let fingerprint = tree.fingerprint(&lower, &Bound::End);
                    reply.push(Bound::End, Payload::Fingerprint(fingerprint));
                    return Outcome {
                        reply: Some(reply.finish()),
                        ..outcome
                    };
                }
                // Carry the range over as this side's fingerprint of it.
                let payload = match &range.payload {
                    Payload::Skip => Payload::Skip,
                    Payload::Fingerprint(theirs) => {
                        let ours = tree.fingerprint(&lower, upper);
                        if ours == *theirs {
                            Payload::Skip
                        } else {
                            Payload::Fingerprint(ours)
                        }
                    }
                    Payload::ItemList(_) => Payload::Fingerprint(tree.fingerprint(&lower, upper)),
                };
                reply.push(upper.clone(), payload);
                lower = upper.clone();
                continue;
            }
            match &range.payload {
                Payload::Skip => reply.push(upper.clone(), Payload::Skip),
                Payload::Fingerprint(theirs) => {
                    if tree.fingerprint(&lower, upper) == *theirs {
                        reply.push(upper.clone(), Payload::Skip);
                    } else {
                        self.split_or_list(tree, &lower, upper, &mut reply);
                    }
                }
                Payload::ItemList(theirs) => {
                    let need = difference(tree, &lower, upper, theirs, &mut outcome.send);
                    reply.want(&need);
                    outcome.need.extend(need);
                    reply.push(upper.clone(), Payload::Skip);
                }
            }
            lower = upper.clone();
        }
        Outcome {
            reply: Some(reply.finish()),
            ..outcome
        }
    }

    /// Answers a differing range `[lower, upper)`: its keys if few, else
    /// `branching` fingerprints of equal-count sub-ranges.
    fn split_or_list(
        &self,
        tree: &FingerprintTree,
        lower: &Bound,
        upper: &Bound,
        reply: &mut MessageBuilder,
    ) {
        let first = tree.rank(lower);
        let count = tree.rank(upper).saturating_sub(first);
        if count <= self.config.item_threshold {
            let keys = tree
                .range(lower, upper)
                .map(|(key, _)| key.clone())
                .collect();
            reply.push(upper.clone(), Payload::ItemList(keys));
            return;
        }
        let branching = self.config.branching;
        let mut sub_lower = lower.clone();
        let mut lower_acc = tree.prefix(lower);
        let mut previous_rank = first;
        for i in 1..branching {
            let rank = first + count * i / branching;
            if rank == previous_rank {
                continue;
            }
            let (Some(before), Some(at)) = (tree.select(rank - 1), tree.select(rank)) else {
                break;
            };
            let sub_upper = Bound::between(before, at);
            let upper_acc = tree.prefix(&sub_upper);
            let fingerprint = upper_acc.minus(&lower_acc).fingerprint();
            reply.push(sub_upper.clone(), Payload::Fingerprint(fingerprint));
            sub_lower = sub_upper;
            lower_acc = upper_acc;
            previous_rank = rank;
        }
        let fingerprint = tree.prefix(upper).minus(&lower_acc).fingerprint();
        debug_assert!(sub_lower < *upper);
        reply.push(upper.clone(), Payload::Fingerprint(fingerprint));
    }
}

/// Compares this side's keys in `[lower, upper)` with the peer's list of its
/// keys there: pushes those the peer lacks to `send`, returns those this
/// side lacks.
fn difference(
    tree: &FingerprintTree,
    lower: &Bound,
    upper: &Bound,
    theirs: &[Key],
    send: &mut Vec<Key>,
) -> Vec<Key> {
    let mut need = Vec::new();
    let mut mine = tree.range(lower, upper).map(|(key, _)| key).peekable();
    let mut theirs = theirs.iter().peekable();
    loop {
        match (mine.peek(), theirs.peek()) {
            (None, None) => break,
            (Some(m), None) => {
                send.push((*m).clone());
                mine.next();
            }
            (None, Some(t)) => {
                need.push((*t).clone());
                theirs.next();
            }
            (Some(m), Some(t)) => match (*m).cmp(*t) {
                std::cmp::Ordering::Less => {
                    send.push((*m).clone());
                    mine.next();
                }
                std::cmp::Ordering::Greater => {
                    need.push((*t).clone());
                    theirs.next();
                }
                std::cmp::Ordering::Equal => {
                    mine.next();
                    theirs.next();
                }
            },
        }
    }
    need
}
