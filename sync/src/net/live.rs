//! The gossip message that carries live deltas.
//!
//! Every batch a node stores from its own clients is broadcast on the
//! cluster's gossip topic as few, full messages. A message is
//!
//! ```text
//! version: u8 (= 1) ‖ raw length: u32 LE ‖ lz4 block of raw
//! raw = postcard(LiveMessage { origin, epoch, counter, deltas })
//! ```
//!
//! `deltas` are the deltas' binary (postcard) forms. `origin` is the node id
//! of the node whose clients wrote them; `(epoch, counter)` numbers that
//! node's messages (the epoch is drawn at start, the counter counts from 1),
//! so a receiver that sees a counter jump knows it missed something and
//! reconciles with the origin.
//!
//! Gossip refuses messages over its configured maximum size, and that size
//! includes gossip's own framing ([`GOSSIP_ENVELOPE`]). A broadcast over it
//! fails silently, and worse: iroh-gossip's send loop for that neighbour
//! stops, so nothing more reaches it by gossip. So the broadcaster packs
//! into frames of at most [`max_frame`] bytes: [`Sequencer::pack`] fills a
//! message, compresses it, and halves it while the result does not fit. A
//! delta that alone does not fit is not broadcast; its counter is used up
//! anyway and an empty message follows, so receivers see the gap at once
//! and reconcile.

use std::sync::Arc;

use bytes::Bytes;
use rhizome_crdt::Delta;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const VERSION: u8 = 1;
const HEADER: usize = 5;

/// The largest raw (uncompressed) payload a received frame may announce.
pub const MAX_RAW_BYTES: usize = 16 * 1024 * 1024;

/// What iroh-gossip adds to a message's content on the wire, rounded up:
/// the message kinds (2 bytes), its id (32), the content's length (up to
/// 5) and the delivery round (up to 4), and its size check is strict
/// (`len >= max` fails).
pub const GOSSIP_ENVELOPE: usize = 64;

/// The largest live frame that fits in a gossip message of
/// `gossip_max_message` bytes.
///
/// ```
/// use rhizome_sync::net::live::{GOSSIP_ENVELOPE, max_frame};
/// assert_eq!(max_frame(4096), 4096 - GOSSIP_ENVELOPE);
/// ```
pub fn max_frame(gossip_max_message: usize) -> usize {
    gossip_max_message.saturating_sub(GOSSIP_ENVELOPE)
}

/// One gossip message of live deltas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveMessage {
    /// The node id (public key bytes) of the node whose clients wrote these.
    pub origin: [u8; 32],
    /// The origin's run: drawn at its start.
    pub epoch: u64,
    /// The origin's message number in this epoch, from 1, without gaps.
    pub counter: u64,
    /// The deltas, each in binary form.
    pub deltas: Vec<Vec<u8>>,
}

/// Compresses `raw` into a frame: version, raw length, lz4 block.
pub fn compress(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + lz4_flex::block::get_maximum_output_size(raw.len()));
    out.push(VERSION);
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out.extend_from_slice(&lz4_flex::block::compress(raw));
    out
}

/// Decompresses a frame made by [`compress`], refusing one that announces
/// more than `max_raw` bytes (before allocating them).
pub fn decompress(frame: &[u8], max_raw: usize) -> Result<Vec<u8>> {
    if frame.len() < HEADER {
        return Err(Error::BadFrame("shorter than its header".into()));
    }
    if frame[0] != VERSION {
        return Err(Error::BadFrame(format!("unknown version {}", frame[0])));
    }
    let len = u32::from_le_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
    if len > max_raw {
        return Err(Error::BadFrame(format!(
            "announces {len} bytes, more than the limit of {max_raw}"
        )));
    }
    let mut raw = vec![0u8; len];
    let n = lz4_flex::block::decompress_into(&frame[HEADER..], &mut raw)
        .map_err(|e| Error::BadFrame(format!("lz4: {e}")))?;
    if n != len {
        return Err(Error::BadFrame(format!("holds {n} bytes, announced {len}")));
    }
    Ok(raw)
}

/// Numbers a node's live messages: `(epoch, counter)`.
#[derive(Debug)]
pub struct Sequencer {
    origin: [u8; 32],
    epoch: u64,
    counter: u64,
}

impl Sequencer {
    /// A sequencer for `origin`'s messages, in a fresh epoch.
    pub fn new(origin: [u8; 32]) -> Sequencer {
        let epoch = u64::from_le_bytes(
            blake3::hash(
                &[
                    origin.as_slice(),
                    &std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map(|d| d.as_nanos())
                        .unwrap_or(0)
                        .to_le_bytes(),
                ]
                .concat(),
            )
            .as_bytes()[..8]
                .try_into()
                .unwrap_or([0; 8]),
        );
        Sequencer {
            origin,
            epoch,
            counter: 0,
        }
    }

    /// Uses up one counter without a message (for deltas that could not be
    /// broadcast): receivers will see the gap.
    pub fn skip(&mut self) {
        self.counter += 1;
    }

    /// The messages that carry `deltas`, each at most `max_bytes` long, and
    /// how many deltas were too large to broadcast (their counters are
    /// skipped).
    pub fn pack(&mut self, deltas: &[Arc<Delta>], max_bytes: usize) -> (Vec<Bytes>, usize) {
        let encoded: Vec<Vec<u8>> = deltas
            .iter()
            .map(|d| rhizome_crdt::codec::binary::encode(d))
            .collect();
        let mut out = Vec::new();
        let mut skipped = 0;
        // Fill up to twice the limit before compressing (deltas compress
        // about 2:1); `emit` halves what does not fit.
        let budget = max_bytes.saturating_mul(2);
        let mut start = 0;
        while start < encoded.len() {
            let mut end = start;
            let mut size = 0;
            while end < encoded.len() && (end == start || size + encoded[end].len() + 5 <= budget) {
                size += encoded[end].len() + 5;
                end += 1;
            }
            self.emit(&encoded[start..end], max_bytes, &mut out, &mut skipped);
            start = end;
        }
        if skipped > 0 {
            // An empty message after the gap, so receivers notice it now
            // rather than at this node's next write.
            self.emit(&[], max_bytes, &mut out, &mut skipped);
        }
        (out, skipped)
    }

    fn emit(
        &mut self,
        deltas: &[Vec<u8>],
        max_bytes: usize,
        out: &mut Vec<Bytes>,
        skipped: &mut usize,
    ) {
        let message = LiveMessage {
            origin: self.origin,
            epoch: self.epoch,
            counter: self.counter + 1,
            deltas: deltas.to_vec(),
        };
        let frame = match postcard::to_stdvec(&message) {
            Ok(raw) => compress(&raw),
            Err(_) => Vec::new(),
        };
        if !frame.is_empty() && frame.len() <= max_bytes {
            self.counter += 1;
            out.push(Bytes::from(frame));
        } else if deltas.len() > 1 {
            // Halve what does not fit.
            let mid = deltas.len() / 2;
            self.emit(&deltas[..mid], max_bytes, out, skipped);
            self.emit(&deltas[mid..], max_bytes, out, skipped);
        } else {
            self.skip();
            *skipped += deltas.len();
        }
    }
}

/// Decodes a live message and its deltas. A delta that does not decode is
/// an error for the whole message (a peer that sends garbage is not
/// trusted for the rest).
pub fn unpack(frame: &[u8]) -> Result<(LiveMessage, Vec<Delta>)> {
    let raw = decompress(frame, MAX_RAW_BYTES)?;
    let message: LiveMessage = postcard::from_bytes(&raw)?;
    let deltas = message
        .deltas
        .iter()
        .map(|bytes| rhizome_crdt::codec::binary::decode(bytes))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| Error::BadFrame(format!("a delta does not decode: {e}")))?;
    Ok((message, deltas))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta(i: usize, payload: usize) -> Arc<Delta> {
        Arc::new(
            Delta::builder("alice", "h")
                .id(format!("d{i}"))
                .timestamp(1 + i as u64)
                .pointer("x", "y".repeat(payload))
                .build()
                .unwrap(),
        )
    }

    #[test]
    fn messages_stay_under_the_limit_and_carry_everything_in_order() {
        for max in [1024, 4096, 65536] {
            let deltas: Vec<_> = (0..2000).map(|i| delta(i, i % 300)).collect();
            let mut seq = Sequencer::new([7; 32]);
            let (messages, skipped) = seq.pack(&deltas, max);
            assert_eq!(skipped, 0);
            let mut got = Vec::new();
            for (n, m) in messages.iter().enumerate() {
                assert!(m.len() <= max, "{} > {max}", m.len());
                let (header, ds) = unpack(m).unwrap();
                assert_eq!(header.counter, n as u64 + 1);
                got.extend(ds);
            }
            let want: Vec<Delta> = deltas.iter().map(|d| (**d).clone()).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn a_delta_too_large_is_skipped_and_leaves_a_gap() {
        let mut seq = Sequencer::new([1; 32]);
        // Random-looking content does not compress below the limit.
        let big: String = (0..60_000u32)
            .map(|i| char::from(b'a' + (blake3::hash(&i.to_le_bytes()).as_bytes()[0] % 26)))
            .collect();
        let huge = Arc::new(
            Delta::builder("a", "h")
                .id("big")
                .timestamp(5)
                .pointer("x", big)
                .build()
                .unwrap(),
        );
        let (messages, skipped) = seq.pack(&[delta(1, 10), huge, delta(2, 10)], 4096);
        assert_eq!(skipped, 1);
        let counters: Vec<u64> = messages
            .iter()
            .map(|m| unpack(m).unwrap().0.counter)
            .collect();
        // The two small deltas share one message or travel in two; either
        // way the big one's counter is missing.
        let last = *counters.last().unwrap();
        assert_eq!(last as usize, counters.len() + 1);
    }

    #[test]
    fn hostile_frames_are_refused_without_allocating_their_claim() {
        assert!(decompress(&[], 100).is_err());
        assert!(decompress(&[2, 0, 0, 0, 0], 100).is_err());
        let mut claim = vec![1];
        claim.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(decompress(&claim, MAX_RAW_BYTES).is_err());
        let mut frame = compress(b"hello");
        frame.truncate(frame.len() - 1);
        assert!(decompress(&frame, 100).is_err());
        assert!(unpack(&compress(b"\xff\xff\xff")).is_err());
    }
}
