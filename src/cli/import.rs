//! `rhizome import`: streams a file of deltas (JSON lines or one JSON
//! array) to the node in batches. A reader thread cuts the input into
//! request bodies (without decoding the deltas: the node validates them)
//! while the previous batch is in flight.

use std::io::{BufRead, BufReader, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

use hyper::Method;
use serde::de::{DeserializeSeed, SeqAccess, Visitor};
use serde_json::value::RawValue;

use super::Connect;
use super::progress::{CountingReader, Progress, Unit};
use crate::{Error, Result};

/// Bodies read ahead of the one being sent.
const READ_AHEAD: usize = 4;

/// One request body: `[d1,d2,...]` with how many deltas it holds and the
/// index of its first delta in the file.
struct Body {
    bytes: Vec<u8>,
    count: usize,
    first: usize,
}

/// Appends deltas to bodies of `batch` deltas and sends them to `tx`.
struct Batcher {
    batch: usize,
    tx: mpsc::SyncSender<Result<Body>>,
    current: Vec<u8>,
    count: usize,
    total: usize,
}

impl Batcher {
    fn push(&mut self, delta: &[u8]) -> bool {
        self.current.push(if self.count == 0 { b'[' } else { b',' });
        self.current.extend_from_slice(delta);
        self.count += 1;
        self.total += 1;
        if self.count >= self.batch {
            return self.flush();
        }
        true
    }

    /// Sends the current body; false when the receiver is gone.
    fn flush(&mut self) -> bool {
        if self.count == 0 {
            return true;
        }
        let mut bytes = std::mem::take(&mut self.current);
        bytes.push(b']');
        let body = Body {
            bytes,
            count: self.count,
            first: self.total - self.count,
        };
        self.count = 0;
        self.tx.send(Ok(body)).is_ok()
    }
}

/// Reads `input` (JSON lines, or a JSON array when its first non-blank
/// byte is `[`) into bodies.
fn read(input: Box<dyn Read + Send>, mut batcher: Batcher) {
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let first = loop {
        match reader.fill_buf() {
            Ok([]) => break None,
            Ok(buf) => match buf.iter().position(|b| !b.is_ascii_whitespace()) {
                Some(i) => {
                    let b = buf[i];
                    reader.consume(i);
                    break Some(b);
                }
                None => {
                    let n = buf.len();
                    reader.consume(n);
                }
            },
            Err(e) => {
                let _ = batcher
                    .tx
                    .send(Err(Error::Client(format!("cannot read the input: {e}"))));
                return;
            }
        }
    };
    let result = match first {
        None => Ok(()),
        Some(b'[') => read_array(reader, &mut batcher),
        Some(_) => read_lines(reader, &mut batcher),
    };
    match result {
        Ok(()) => {
            batcher.flush();
        }
        Err(e) => {
            let _ = batcher.tx.send(Err(e));
        }
    }
}

fn read_lines(reader: impl BufRead, batcher: &mut Batcher) -> Result<()> {
    for (n, line) in reader.split(b'\n').enumerate() {
        let line = line.map_err(|e| Error::Client(format!("cannot read line {}: {e}", n + 1)))?;
        let trimmed = line.trim_ascii();
        if trimmed.is_empty() {
            continue;
        }
        if !batcher.push(trimmed) {
            break;
        }
    }
    Ok(())
}

/// Streams the elements of a JSON array as raw text.
struct Elements<'a>(&'a mut Batcher);

impl<'de> Visitor<'de> for Elements<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON array of deltas")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(raw) = seq.next_element::<Box<RawValue>>()? {
            if !self.0.push(raw.get().as_bytes()) {
                break;
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Elements<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

fn read_array(reader: impl Read, batcher: &mut Batcher) -> Result<()> {
    let mut de = serde_json::Deserializer::from_reader(reader);
    Elements(batcher)
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| Error::Client(format!("the input is not a JSON array of deltas: {e}")))
}

/// Sends every body, with a progress bar on stderr when it is a terminal
/// (`total`: the input's size in bytes, if known).
pub async fn run(
    connect: &Connect,
    input: Box<dyn Read + Send>,
    batch: usize,
    total: Option<u64>,
) -> Result<()> {
    let read_bytes = Arc::new(AtomicU64::new(0));
    let input: Box<dyn Read + Send> = Box::new(CountingReader::new(input, Arc::clone(&read_bytes)));
    let mut progress = Progress::new(Unit::Bytes, total);
    let mut client = connect.client()?;
    let (tx, rx) = mpsc::sync_channel(READ_AHEAD);
    let batcher = Batcher {
        batch,
        tx,
        current: Vec::new(),
        count: 0,
        total: 0,
    };
    let reader = std::thread::spawn(move || read(input, batcher));
    let (mut sent, mut accepted, mut duplicates) = (0usize, 0usize, 0usize);
    let mut rx = Some(rx);
    let result = loop {
        // Waiting on the reader blocks; keep it off the async workers.
        let Some(r) = rx.take() else { break Ok(()) };
        let (next, r) = tokio::task::spawn_blocking(move || (r.recv(), r))
            .await
            .map_err(|e| Error::Client(format!("the reader task failed: {e}")))?;
        rx = Some(r);
        let body = match next {
            Ok(Ok(body)) => body,
            Ok(Err(e)) => break Err(e),
            Err(_) => break Ok(()),
        };
        let answer = client
            .request(Method::POST, "/api/deltas", Some(body.bytes))
            .await?
            .ok()
            .map_err(|e| {
                Error::Client(format!(
                    "the batch of deltas {}..{} was refused: {e}",
                    body.first,
                    body.first + body.count
                ))
            })?
            .json()?;
        sent += body.count;
        accepted += answer["accepted"].as_array().map_or(0, Vec::len);
        duplicates += answer["duplicates"].as_array().map_or(0, Vec::len);
        progress.update(read_bytes.load(Ordering::Relaxed), sent as u64);
    };
    drop(rx);
    let _ = reader.join();
    progress.finish();
    result?;
    if connect.json {
        println!(
            "{}",
            serde_json::json!({"sent": sent, "accepted": accepted, "duplicates": duplicates})
        );
    } else {
        println!("imported {sent} deltas: {accepted} new, {duplicates} duplicates");
    }
    Ok(())
}
