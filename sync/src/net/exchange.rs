//! One reconciliation run with a peer over the `rhizome/sync/1` protocol
//! (ALPN), driving the pure [`Reconciler`].
//!
//! On one QUIC connection:
//!
//! - a **control** stream (bidirectional, opened by the initiator) carries
//!   length-prefixed postcard [`Control`] frames: `Hello` both ways (version
//!   and the side's partial-replication filter), then the reconciler's
//!   messages ping-pong, then `Done` both ways;
//! - a **data** stream per direction (unidirectional, one opened by each
//!   side) carries length-prefixed, lz4-compressed batches of deltas: what
//!   the reconciler decided this side sends.
//!
//! The two sides reconcile the deltas both their filters select. A side's
//! part of the reconciliation is over when the reconciler says so
//! ([`Outcome::is_done`](crate::Outcome::is_done)); it then finishes its
//! data stream. A side sends `Done` once its part is over and it has read
//! the peer's data stream to its end (everything received is stored), and
//! the run ends when both sides have sent `Done`. Keys are sent at most once
//! per run.
//!
//! **Bounds.** A control frame is at most [`MAX_CONTROL_FRAME`] (the
//! reconciler's messages are capped by `Config::max_message_bytes`); a data
//! frame at most [`MAX_DATA_FRAME`] compressed and [`DATA_RAW_BYTES`]×2
//! raw. The data writer takes the keys to send from a bounded channel and
//! reads their deltas from the replica a frame at a time; the reader stores
//! one frame before reading the next. So a run holds a few frames in memory
//! whatever it transfers, QUIC flow control pushes back on a fast sender,
//! and the node's writer interleaves these batches with live writes.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use iroh::endpoint::{Connection, RecvStream, SendStream};
use rhizome_crdt::Delta;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::live::{compress, decompress};
use super::replica::Replica;
use crate::error::{Error, Result};
use crate::{FingerprintTree, Key, Message, Reconciler, SyncFilter};

/// The ALPN of the reconciliation protocol.
pub const SYNC_ALPN: &[u8] = b"rhizome/sync/1";

/// Said in `Hello`: the reconciliation messages' wire format, so peers of
/// different versions part at the first frame with a clear error.
const VERSION: u8 = crate::PROTOCOL_VERSION;

/// The largest control frame read.
pub const MAX_CONTROL_FRAME: usize = 4 * 1024 * 1024;
/// The largest data frame read (compressed).
pub const MAX_DATA_FRAME: usize = 4 * 1024 * 1024;
/// A data frame is cut once its raw deltas reach this size.
pub const DATA_RAW_BYTES: usize = 256 * 1024;
/// How long a side waits for the peer's next frame.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(60);

/// A control frame.
#[derive(Debug, Serialize, Deserialize)]
pub enum Control {
    /// The opening: protocol version and the sender's filter.
    Hello {
        /// Protocol version (1).
        version: u8,
        /// What the sender replicates.
        filter: SyncFilter,
    },
    /// A reconciler message (its own wire format).
    Message(Vec<u8>),
    /// The sender's part is over and it has stored all it received.
    Done,
}

/// What one run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Reconciler messages this side received.
    pub rounds: u64,
    /// Reconciler messages this side sent.
    pub messages_sent: u64,
    /// Deltas this side sent.
    pub deltas_sent: u64,
    /// Deltas this side received.
    pub deltas_received: u64,
    /// Of those, how many were new here.
    pub deltas_new: u64,
    /// Bytes of control frames sent (the protocol's overhead).
    pub control_bytes_sent: u64,
    /// Bytes of control frames received.
    pub control_bytes_received: u64,
    /// Bytes of data frames sent.
    pub data_bytes_sent: u64,
    /// Bytes of data frames received.
    pub data_bytes_received: u64,
}

impl Report {
    /// Control bytes both ways: everything a run exchanged beyond the
    /// deltas themselves (and their framing).
    pub fn control_bytes(&self) -> u64 {
        self.control_bytes_sent + self.control_bytes_received
    }
}

/// Which deltas a run covers: those both sides' filters select.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    mine: SyncFilter,
    theirs: SyncFilter,
}

impl Scope {
    /// The scope of a run between filters `mine` and `theirs`.
    pub fn new(mine: SyncFilter, theirs: SyncFilter) -> Scope {
        Scope { mine, theirs }
    }

    /// Whether every delta is in scope.
    pub fn is_all(&self) -> bool {
        self.mine.is_all() && self.theirs.is_all()
    }

    /// Whether `delta` is in scope.
    pub fn matches(&self, delta: &Delta) -> bool {
        self.mine.matches(delta) && self.theirs.matches(delta)
    }
}

/// Where a run reads its side's fingerprints.
pub trait Trees: Send + Sync {
    /// Runs `f` over this side's tree for `scope`.
    fn with_tree<R>(&self, scope: &Scope, f: impl FnOnce(&FingerprintTree) -> R) -> R;
}

async fn write_frame(stream: &mut SendStream, bytes: &[u8]) -> Result<()> {
    let len = u32::try_from(bytes.len()).map_err(|_| Error::BadFrame("frame over 4 GiB".into()))?;
    stream.write_all(&len.to_le_bytes()).await.map_err(net)?;
    stream.write_all(bytes).await.map_err(net)
}

/// Reads one frame; `None` at a clean end of stream between frames.
async fn read_frame(stream: &mut RecvStream, max: usize) -> Result<Option<Vec<u8>>> {
    let mut len = [0u8; 4];
    match tokio::time::timeout(FRAME_TIMEOUT, stream.read_exact(&mut len)).await {
        Err(_) => return Err(Error::Net("timed out waiting for the peer".into())),
        Ok(Err(iroh::endpoint::ReadExactError::FinishedEarly(0))) => return Ok(None),
        Ok(Err(e)) => return Err(net(e)),
        Ok(Ok(())) => {}
    }
    let len = u32::from_le_bytes(len) as usize;
    if len > max {
        return Err(Error::BadFrame(format!(
            "a frame of {len} bytes, over the limit of {max}"
        )));
    }
    let mut buf = vec![0u8; len];
    match tokio::time::timeout(FRAME_TIMEOUT, stream.read_exact(&mut buf)).await {
        Err(_) => Err(Error::Net("timed out waiting for the peer".into())),
        Ok(Err(e)) => Err(net(e)),
        Ok(Ok(())) => Ok(Some(buf)),
    }
}

fn net(e: impl std::fmt::Display) -> Error {
    Error::Net(e.to_string())
}

async fn send_control(stream: &mut SendStream, control: &Control, bytes: &mut u64) -> Result<()> {
    let encoded = postcard::to_stdvec(control)?;
    *bytes += encoded.len() as u64 + 4;
    write_frame(stream, &encoded).await
}

/// Runs a reconciliation on `conn`, as the side that opened it
/// (`initiator`) or accepted it. `filter` is this side's filter, `trees`
/// its fingerprints, `replica` its store.
pub async fn run(
    conn: &Connection,
    initiator: bool,
    filter: &SyncFilter,
    reconciler: Reconciler,
    trees: &(impl Trees + ?Sized),
    replica: Arc<dyn Replica>,
) -> Result<Report> {
    let mut report = Report::default();
    let hello = Control::Hello {
        version: VERSION,
        filter: filter.clone(),
    };
    let (mut ctl_out, mut ctl_in) = if initiator {
        conn.open_bi().await.map_err(net)?
    } else {
        tokio::time::timeout(FRAME_TIMEOUT, conn.accept_bi())
            .await
            .map_err(|_| Error::Net("the peer opened no stream".into()))?
            .map_err(net)?
    };
    send_control(&mut ctl_out, &hello, &mut report.control_bytes_sent).await?;
    let theirs = match read_frame(&mut ctl_in, MAX_CONTROL_FRAME).await? {
        Some(bytes) => {
            report.control_bytes_received += bytes.len() as u64 + 4;
            match postcard::from_bytes::<Control>(&bytes)? {
                Control::Hello { version, filter } if version == VERSION => filter,
                Control::Hello { version, .. } => {
                    return Err(Error::Net(format!(
                        "the peer speaks version {version}, not {VERSION}"
                    )));
                }
                _ => return Err(Error::Net("the peer did not say hello".into())),
            }
        }
        None => return Err(Error::Net("the peer closed before hello".into())),
    };
    let scope = Scope::new(filter.clone(), theirs);

    // Data streams: one each way.
    let data_out = conn.open_uni().await.map_err(net)?;
    let (keys_tx, keys_rx) = mpsc::channel::<Vec<Key>>(8);
    let writer = tokio::spawn(write_data(data_out, keys_rx, Arc::clone(&replica)));
    let reader_conn = conn.clone();
    let reader_scope = scope.clone();
    let reader_replica = Arc::clone(&replica);
    let peer = conn.remote_id();
    let mut reader = tokio::spawn(async move {
        let stream = reader_conn.accept_uni().await.map_err(net)?;
        read_data(stream, peer, &reader_scope, reader_replica).await
    });
    // Control frames come through a task, so the loop below can wait on
    // them and on the data reader at once (reads are not cancel-safe).
    let (ctl_tx, mut ctl_rx) = mpsc::channel::<Result<Vec<u8>>>(4);
    let ctl_reader = tokio::spawn(async move {
        loop {
            let frame = read_frame(&mut ctl_in, MAX_CONTROL_FRAME).await;
            let end = !matches!(frame, Ok(Some(_)));
            let item = match frame {
                Ok(Some(bytes)) => Ok(bytes),
                Ok(None) => Err(Error::Net("the peer closed the control stream".into())),
                Err(e) => Err(e),
            };
            if ctl_tx.send(item).await.is_err() || end {
                break;
            }
        }
    });

    let result = async {
        let mut sent_keys: HashSet<Key> = HashSet::new();
        let mut keys_tx = Some(keys_tx);
        let mut my_part_done = false;
        let mut data_in_done = false;
        let mut peer_done = false;
        let mut sent_done = false;
        if initiator {
            let first = trees.with_tree(&scope, |tree| reconciler.initiate(tree));
            my_part_done = first.is_terminal();
            send_control(&mut ctl_out, &Control::Message(first.encode()), &mut report.control_bytes_sent).await?;
            report.messages_sent += 1;
            if my_part_done {
                keys_tx = None;
            }
        }
        loop {
            if my_part_done && data_in_done && !sent_done {
                send_control(&mut ctl_out, &Control::Done, &mut report.control_bytes_sent).await?;
                sent_done = true;
            }
            if sent_done && peer_done {
                break;
            }
            tokio::select! {
                frame = ctl_rx.recv() => {
                    let bytes = match frame {
                        Some(Ok(bytes)) => bytes,
                        Some(Err(e)) => return Err(e),
                        None => return Err(Error::Net("the control stream ended".into())),
                    };
                    report.control_bytes_received += bytes.len() as u64 + 4;
                    match postcard::from_bytes::<Control>(&bytes)? {
                        Control::Message(m) => {
                            if my_part_done {
                                return Err(Error::Net("a message after the exchange ended".into()));
                            }
                            report.rounds += 1;
                            let message = Message::decode(&m)?;
                            let outcome = trees.with_tree(&scope, |tree| reconciler.respond(tree, &message));
                            let fresh: Vec<Key> = outcome
                                .send
                                .into_iter()
                                .filter(|k| sent_keys.insert(k.clone()))
                                .collect();
                            if !fresh.is_empty()
                                && let Some(tx) = &keys_tx
                                && tx.send(fresh).await.is_err()
                            {
                                return Err(Error::Net("the data writer stopped".into()));
                            }
                            let done = outcome.reply.as_ref().is_none_or(Message::is_terminal);
                            if let Some(reply) = outcome.reply {
                                send_control(&mut ctl_out, &Control::Message(reply.encode()), &mut report.control_bytes_sent).await?;
                                report.messages_sent += 1;
                            }
                            if done {
                                my_part_done = true;
                                keys_tx = None;
                            }
                        }
                        Control::Done => peer_done = true,
                        Control::Hello { .. } => return Err(Error::Net("a second hello".into())),
                    }
                }
                received = &mut reader, if !data_in_done => {
                    let (received, new, bytes) = received.map_err(net)??;
                    report.deltas_received = received;
                    report.deltas_new = new;
                    report.data_bytes_received = bytes;
                    data_in_done = true;
                }
            }
        }
        drop(keys_tx);
        Ok(())
    }
    .await;
    ctl_reader.abort();
    if result.is_err() {
        reader.abort();
    }
    let (sent, bytes) = writer.await.map_err(net)??;
    result?;
    report.deltas_sent = sent;
    report.data_bytes_sent = bytes;
    let _ = ctl_out.finish();
    Ok(report)
}

/// Writes the deltas of the keys it is given, a frame at a time; finishes
/// the stream when the key channel closes.
async fn write_data(
    mut stream: SendStream,
    mut keys: mpsc::Receiver<Vec<Key>>,
    replica: Arc<dyn Replica>,
) -> Result<(u64, u64)> {
    let (mut sent, mut bytes) = (0u64, 0u64);
    let mut batch: Vec<Vec<u8>> = Vec::new();
    let mut raw = 0usize;
    while let Some(chunk) = keys.recv().await {
        for key in chunk {
            let Some(delta) = key.id_str().and_then(|id| replica.get(id)) else {
                continue;
            };
            let encoded = rhizome_crdt::codec::binary::encode(&delta);
            raw += encoded.len() + 5;
            batch.push(encoded);
            sent += 1;
            if raw >= DATA_RAW_BYTES {
                bytes += flush(&mut stream, &mut batch).await?;
                raw = 0;
            }
        }
    }
    bytes += flush(&mut stream, &mut batch).await?;
    stream.finish().map_err(net)?;
    Ok((sent, bytes))
}

async fn flush(stream: &mut SendStream, batch: &mut Vec<Vec<u8>>) -> Result<u64> {
    if batch.is_empty() {
        return Ok(0);
    }
    let frame = compress(&postcard::to_stdvec(&*batch)?);
    batch.clear();
    write_frame(stream, &frame).await?;
    Ok(frame.len() as u64 + 4)
}

/// Reads data frames to the end of the stream, storing each before reading
/// the next; returns (deltas received, deltas new, bytes).
async fn read_data(
    mut stream: RecvStream,
    peer: iroh::EndpointId,
    scope: &Scope,
    replica: Arc<dyn Replica>,
) -> Result<(u64, u64, u64)> {
    let (mut received, mut new, mut bytes) = (0u64, 0u64, 0u64);
    while let Some(frame) = read_frame(&mut stream, MAX_DATA_FRAME).await? {
        bytes += frame.len() as u64 + 4;
        let raw = decompress(&frame, 2 * DATA_RAW_BYTES + MAX_DATA_FRAME)?;
        let encoded: Vec<Vec<u8>> = postcard::from_bytes(&raw)?;
        let mut deltas = Vec::with_capacity(encoded.len());
        for bytes in &encoded {
            let delta = rhizome_crdt::codec::binary::decode(bytes)
                .map_err(|e| Error::BadFrame(format!("a delta does not decode: {e}")))?;
            if !scope.matches(&delta) {
                return Err(Error::BadFrame(
                    "the peer sent a delta outside the agreed filter".into(),
                ));
            }
            deltas.push(delta);
        }
        received += deltas.len() as u64;
        new += replica.ingest(peer, deltas).await.map_err(Error::Replica)? as u64;
    }
    Ok((received, new, bytes))
}
