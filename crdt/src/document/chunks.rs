//! Reading what a client sends: Automerge changes (concatenated, as
//! `getChanges` / `getLastLocalChange` give them) or a saved document, or
//! both, strictly: any byte that is not part of a valid chunk refuses the
//! whole input.
//!
//! Automerge's storage format is a sequence of chunks, each `85 6f 4a 83`
//! (magic), a 4-byte checksum, a type byte (0 document, 1 change, 2
//! compressed change, 3 bundle), a LEB128 length and that many bytes.

use automerge::{Automerge, Change, LoadOptions, OnPartialLoad};

use crate::{Error, Result};

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED_CHANGE: u8 = 2;

/// The changes in `bytes`, in order (a saved document gives all of its
/// changes). Errors: [`Error::InvalidAutomerge`] for empty input, a
/// truncated or corrupt chunk, a bundle, or trailing bytes.
///
/// ```
/// use automerge::{AutoCommit, transaction::Transactable};
/// use rhizome_crdt::document::parse_changes;
///
/// let mut doc = AutoCommit::new();
/// doc.put(automerge::ROOT, "a", 1).unwrap();
/// doc.commit();
/// doc.put(automerge::ROOT, "b", 2).unwrap();
/// let saved = doc.save();
/// assert_eq!(parse_changes(&saved).unwrap().len(), 2);
/// assert!(parse_changes(&saved[..saved.len() - 1]).is_err());
/// assert!(parse_changes(b"hello").is_err());
/// ```
pub fn parse_changes(bytes: &[u8]) -> Result<Vec<Change>> {
    if bytes.is_empty() {
        return Err(Error::InvalidAutomerge("no bytes".into()));
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut index = 0usize;
    while !rest.is_empty() {
        let (kind, len) = chunk_header(rest, index)?;
        let chunk = &rest[..len];
        rest = &rest[len..];
        match kind {
            CHANGE | COMPRESSED_CHANGE => {
                let change = Change::from_bytes(chunk.to_vec()).map_err(|e| {
                    Error::InvalidAutomerge(format!("chunk {index} is not a valid change: {e}"))
                })?;
                out.push(change);
            }
            DOCUMENT => {
                let doc = Automerge::load_with_options(
                    chunk,
                    LoadOptions::new().on_partial_load(OnPartialLoad::Error),
                )
                .map_err(|e| {
                    Error::InvalidAutomerge(format!("chunk {index} is not a valid document: {e}"))
                })?;
                out.extend(doc.get_changes(&[]));
            }
            other => {
                return Err(Error::InvalidAutomerge(format!(
                    "chunk {index} has type {other}; send changes or a saved document"
                )));
            }
        }
        index += 1;
    }
    Ok(out)
}

/// The type and total length (header included) of the chunk at the start
/// of `bytes`.
fn chunk_header(bytes: &[u8], index: usize) -> Result<(u8, usize)> {
    let bad = |what: &str| Error::InvalidAutomerge(format!("chunk {index}: {what}"));
    if bytes.len() < 9 || bytes[..4] != MAGIC {
        return Err(bad("does not start with Automerge's magic bytes"));
    }
    let kind = bytes[8];
    let mut len: u64 = 0;
    let mut at = 9;
    let mut shift = 0u32;
    loop {
        let Some(&b) = bytes.get(at) else {
            return Err(bad("truncated length"));
        };
        at += 1;
        if shift >= 63 {
            return Err(bad("length out of range"));
        }
        len |= u64::from(b & 0x7f) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    let total = usize::try_from(len)
        .ok()
        .and_then(|l| l.checked_add(at))
        .filter(|&t| t <= bytes.len())
        .ok_or_else(|| bad("truncated: the chunk is longer than the bytes sent"))?;
    Ok((kind, total))
}
