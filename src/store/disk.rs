//! The disk store: redb, one table of binary deltas keyed by sequence number.
//!
//! Each record is a **chunk**: up to [`CHUNK_MAX_DELTAS`] consecutive deltas
//! of one group commit (at most [`CHUNK_MAX_BYTES`] of them unless a single
//! delta is larger), keyed by the sequence number of its first delta. Writes
//! append; a group commit of 1,000 deltas is a handful of B-tree inserts
//! rather than 1,000, which is what lets one writer approach the disk's
//! speed (docs/storage.md). A chunk's value is, for each delta in order, its
//! length as a little-endian `u32` then its binary form
//! ([`rhizome_crdt::codec::binary`]).
//!
//! Why redb and not fjall: docs/storage.md (measured on this layout).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use rhizome_crdt::Delta;
use rhizome_crdt::codec::binary;

use super::{Seq, Store, expect_next};
use crate::{Error, Result};

/// Chunks of binary deltas, keyed by the sequence number of their first delta.
const DELTAS: TableDefinition<u64, &[u8]> = TableDefinition::new("deltas");
/// Store metadata: `format` = [`FORMAT`].
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The layout version this code writes and reads (2: chunked records).
const FORMAT: u64 = 2;
/// The database file under the data directory.
pub const FILE_NAME: &str = "rhizome.redb";
/// Most deltas in one chunk.
pub const CHUNK_MAX_DELTAS: usize = 64;
/// A chunk is closed once it holds this many bytes.
pub const CHUNK_MAX_BYTES: usize = 256 * 1024;

/// A durable store in `<data dir>/rhizome.redb`. Every [`Store::append`] is
/// one redb write transaction committed with `Durability::Immediate`
/// (fsynced before it returns).
pub struct DiskStore {
    db: redb::Database,
    path: PathBuf,
    last_seq: Seq,
    scratch: Vec<u8>,
}

impl std::fmt::Debug for DiskStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiskStore")
            .field("path", &self.path)
            .field("last_seq", &self.last_seq)
            .finish()
    }
}

impl DiskStore {
    /// Opens (or creates) the store in directory `dir`, creating `dir` if
    /// needed. After a crash redb repairs the file here.
    pub fn open(dir: &Path) -> Result<DiskStore> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating data directory {}", dir.display()), e))?;
        let path = dir.join(FILE_NAME);
        let ctx = || format!("opening {}", path.display());
        let db = redb::Database::create(&path).map_err(|e| Error::storage(ctx(), e))?;
        let tx = db.begin_write().map_err(|e| Error::storage(ctx(), e))?;
        let last_seq = {
            let mut meta = tx.open_table(META).map_err(|e| Error::storage(ctx(), e))?;
            let format = meta
                .get("format")
                .map_err(|e| Error::storage(ctx(), e))?
                .map(|v| v.value());
            match format {
                None => {
                    meta.insert("format", FORMAT)
                        .map_err(|e| Error::storage(ctx(), e))?;
                }
                Some(FORMAT) => {}
                Some(other) => {
                    return Err(Error::storage(
                        ctx(),
                        format!("unknown store format {other} (this node reads {FORMAT})"),
                    ));
                }
            }
            let deltas = tx
                .open_table(DELTAS)
                .map_err(|e| Error::storage(ctx(), e))?;
            match deltas.last().map_err(|e| Error::storage(ctx(), e))? {
                None => 0,
                Some((k, v)) => {
                    let first = k.value();
                    first + chunk_deltas(first, v.value())?.len() as Seq - 1
                }
            }
        };
        tx.commit().map_err(|e| Error::storage(ctx(), e))?;
        Ok(DiskStore {
            db,
            path,
            last_seq,
            scratch: Vec::new(),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// The binary deltas of the chunk starting at `first`, not yet decoded.
fn chunk_deltas(first: Seq, mut bytes: &[u8]) -> Result<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let seq = first + out.len() as Seq;
        let truncated = || Error::CorruptRecord {
            seq,
            source: rhizome_crdt::Error::Binary("truncated chunk".into()),
        };
        let (len, rest) = bytes.split_first_chunk::<4>().ok_or_else(truncated)?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err(truncated());
        }
        let (delta, rest) = rest.split_at(len);
        out.push(delta);
        bytes = rest;
    }
    if out.is_empty() {
        return Err(Error::CorruptRecord {
            seq: first,
            source: rhizome_crdt::Error::Binary("empty chunk".into()),
        });
    }
    Ok(out)
}

/// Decodes the chunk starting at `first` and visits its deltas.
fn visit_chunk(
    first: Seq,
    bytes: &[u8],
    visit: &mut dyn FnMut(Seq, Arc<Delta>) -> Result<()>,
) -> Result<()> {
    for (seq, raw) in (first..).zip(chunk_deltas(first, bytes)?) {
        let delta = binary::decode(raw).map_err(|source| Error::CorruptRecord { seq, source })?;
        visit(seq, Arc::new(delta))?;
    }
    Ok(())
}

impl Store for DiskStore {
    fn append(&mut self, deltas: &[Arc<Delta>]) -> Result<Seq> {
        let first = self.last_seq + 1;
        if deltas.is_empty() {
            return Ok(first);
        }
        let ctx = || format!("appending {} deltas at sequence {first}", deltas.len());
        let tx = self
            .db
            .begin_write()
            .map_err(|e| Error::storage(ctx(), e))?;
        {
            let mut table = tx
                .open_table(DELTAS)
                .map_err(|e| Error::storage(ctx(), e))?;
            let mut chunk_start = first;
            let mut in_chunk = 0;
            self.scratch.clear();
            for (seq, delta) in (first..).zip(deltas) {
                let at = self.scratch.len();
                self.scratch.extend_from_slice(&[0; 4]);
                binary::encode_into(delta, &mut self.scratch);
                let len = u32::try_from(self.scratch.len() - at - 4).map_err(|_| {
                    Error::storage(ctx(), format!("delta at sequence {seq} is over 4 GiB"))
                })?;
                self.scratch[at..at + 4].copy_from_slice(&len.to_le_bytes());
                in_chunk += 1;
                if in_chunk == CHUNK_MAX_DELTAS || self.scratch.len() >= CHUNK_MAX_BYTES {
                    table
                        .insert(chunk_start, self.scratch.as_slice())
                        .map_err(|e| Error::storage(ctx(), e))?;
                    self.scratch.clear();
                    chunk_start = seq + 1;
                    in_chunk = 0;
                }
            }
            if in_chunk > 0 {
                table
                    .insert(chunk_start, self.scratch.as_slice())
                    .map_err(|e| Error::storage(ctx(), e))?;
            }
        }
        // Durability::Immediate is redb's default: fsynced when commit returns.
        tx.commit().map_err(|e| Error::storage(ctx(), e))?;
        self.last_seq += deltas.len() as Seq;
        Ok(first)
    }

    fn last_seq(&self) -> Seq {
        self.last_seq
    }

    fn read(&self, from: Seq, limit: usize) -> Result<Vec<(Seq, Arc<Delta>)>> {
        let from = from.max(1);
        let ctx = || format!("reading from sequence {from}");
        let tx = self.db.begin_read().map_err(|e| Error::storage(ctx(), e))?;
        let table = tx
            .open_table(DELTAS)
            .map_err(|e| Error::storage(ctx(), e))?;
        // The chunk holding `from` starts at or before it.
        let start = table
            .range(..=from)
            .map_err(|e| Error::storage(ctx(), e))?
            .next_back()
            .transpose()
            .map_err(|e| Error::storage(ctx(), e))?
            .map_or(from, |(k, _)| k.value());
        let mut out = Vec::with_capacity(limit.min(1024));
        for kv in table.range(start..).map_err(|e| Error::storage(ctx(), e))? {
            if out.len() >= limit {
                break;
            }
            let (k, v) = kv.map_err(|e| Error::storage(ctx(), e))?;
            visit_chunk(k.value(), v.value(), &mut |seq, d| {
                if seq >= from && out.len() < limit {
                    out.push((seq, d));
                }
                Ok(())
            })?;
        }
        Ok(out)
    }

    fn load(&self, visit: &mut dyn FnMut(Seq, Arc<Delta>)) -> Result<()> {
        let ctx = || format!("loading {}", self.path.display());
        let tx = self.db.begin_read().map_err(|e| Error::storage(ctx(), e))?;
        let table = tx
            .open_table(DELTAS)
            .map_err(|e| Error::storage(ctx(), e))?;
        let mut prev = 0;
        for kv in table.iter().map_err(|e| Error::storage(ctx(), e))? {
            let (k, v) = kv.map_err(|e| Error::storage(ctx(), e))?;
            visit_chunk(k.value(), v.value(), &mut |seq, d| {
                expect_next(prev, seq)?;
                prev = seq;
                visit(seq, d);
                Ok(())
            })?;
        }
        Ok(())
    }

    fn disk_bytes(&self) -> Result<u64> {
        std::fs::metadata(&self.path)
            .map(|m| m.len())
            .map_err(|e| Error::io(format!("reading size of {}", self.path.display()), e))
    }

    fn close(self: Box<Self>) -> Result<()> {
        // Every commit is already durable; dropping the database closes the
        // file and marks it clean so the next open needs no repair.
        drop(self.db);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "rhizome-disk-{name}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn passes_the_store_suite() {
        let n = std::sync::atomic::AtomicUsize::new(0);
        let base = tempdir("suite");
        super::super::suite::run(
            || {
                let i = n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                DiskStore::open(&base.join(i.to_string())).unwrap()
            },
            |s| {
                let dir = s.path().parent().unwrap().to_owned();
                Box::new(s).close().unwrap();
                Some(DiskStore::open(&dir).unwrap())
            },
        );
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn corrupt_record_names_its_sequence_number() {
        let dir = tempdir("corrupt");
        let mut s = DiskStore::open(&dir).unwrap();
        let ds: Vec<_> = (0..5)
            .map(|i| Arc::new(rhizome_crdt::workload::Workload::seeded(1).delta(i)))
            .collect();
        s.append(&ds[..3]).unwrap();
        s.append(&ds[3..]).unwrap();
        // The chunk of sequences 1..=3 with garbage as its second delta.
        let mut chunk = Vec::new();
        for raw in [
            binary::encode(&ds[0]),
            vec![1, 2, 3],
            binary::encode(&ds[2]),
        ] {
            chunk.extend_from_slice(&(raw.len() as u32).to_le_bytes());
            chunk.extend_from_slice(&raw);
        }
        let tx = s.db.begin_write().unwrap();
        tx.open_table(DELTAS)
            .unwrap()
            .insert(1, chunk.as_slice())
            .unwrap();
        tx.commit().unwrap();
        let err = s.load(&mut |_, _| {}).unwrap_err();
        assert!(matches!(err, Error::CorruptRecord { seq: 2, .. }), "{err}");
        assert!(err.to_string().contains("sequence number 2"), "{err}");
        // A truncated chunk names the delta it cuts.
        let tx = s.db.begin_write().unwrap();
        tx.open_table(DELTAS)
            .unwrap()
            .insert(1, &chunk[..chunk.len() - 2])
            .unwrap();
        tx.commit().unwrap();
        let err = s.load(&mut |_, _| {}).unwrap_err();
        assert!(matches!(err, Error::CorruptRecord { .. }), "{err}");
        // A missing chunk is a gap.
        let tx = s.db.begin_write().unwrap();
        tx.open_table(DELTAS).unwrap().remove(1).unwrap();
        tx.commit().unwrap();
        let err = s.load(&mut |_, _| {}).unwrap_err();
        assert!(
            matches!(
                err,
                Error::SequenceGap {
                    expected: 1,
                    found: 4
                }
            ),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn large_groups_split_into_chunks_and_read_back_from_any_point() {
        let dir = tempdir("chunks");
        let mut s = DiskStore::open(&dir).unwrap();
        let w = rhizome_crdt::workload::Workload::seeded(3);
        let n = CHUNK_MAX_DELTAS * 2 + 17;
        let ds: Vec<_> = (0..n as u64).map(|i| Arc::new(w.delta(i))).collect();
        assert_eq!(s.append(&ds).unwrap(), 1);
        let tx = s.db.begin_read().unwrap();
        assert_eq!(tx.open_table(DELTAS).unwrap().iter().unwrap().count(), 3);
        drop(tx);
        for from in [1, 2, 255, 256, 257, 300, n as u64] {
            let got = s.read(from, 5).unwrap();
            let want: Vec<_> = (from..=n as u64).take(5).collect();
            assert_eq!(got.iter().map(|(q, _)| *q).collect::<Vec<_>>(), want);
            for (q, d) in got {
                assert_eq!(d.id(), ds[q as usize - 1].id());
            }
        }
        let dir2 = s.path().parent().unwrap().to_owned();
        Box::new(s).close().unwrap();
        let s = DiskStore::open(&dir2).unwrap();
        assert_eq!(s.last_seq(), n as u64);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
