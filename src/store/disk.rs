//! The disk store: redb, one table of binary deltas keyed by sequence number.
//!
//! Why redb and not fjall: docs/storage.md (measured on this layout).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use rhizome_crdt::Delta;
use rhizome_crdt::codec::binary;

use super::{Seq, Store, expect_next};
use crate::{Error, Result};

/// Deltas in binary form, keyed by sequence number (appends).
const DELTAS: TableDefinition<u64, &[u8]> = TableDefinition::new("deltas");
/// Store metadata: `format` = [`FORMAT`].
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// The layout version this code writes and reads.
const FORMAT: u64 = 1;
/// The database file under the data directory.
pub const FILE_NAME: &str = "rhizome.redb";

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
    /// needed. After a crash redb repairs the file here (about 0.1 s per
    /// million deltas).
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
            deltas
                .last()
                .map_err(|e| Error::storage(ctx(), e))?
                .map_or(0, |(k, _)| k.value())
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

    fn decode(seq: Seq, bytes: &[u8]) -> Result<Arc<Delta>> {
        binary::decode(bytes)
            .map(Arc::new)
            .map_err(|source| Error::CorruptRecord { seq, source })
    }
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
            for (seq, delta) in (first..).zip(deltas) {
                self.scratch.clear();
                binary::encode_into(delta, &mut self.scratch);
                table
                    .insert(seq, self.scratch.as_slice())
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
        let ctx = || format!("reading from sequence {from}");
        let tx = self.db.begin_read().map_err(|e| Error::storage(ctx(), e))?;
        let table = tx
            .open_table(DELTAS)
            .map_err(|e| Error::storage(ctx(), e))?;
        let mut out = Vec::with_capacity(limit.min(1024));
        for kv in table
            .range(from.max(1)..)
            .map_err(|e| Error::storage(ctx(), e))?
            .take(limit)
        {
            let (k, v) = kv.map_err(|e| Error::storage(ctx(), e))?;
            let seq = k.value();
            out.push((seq, Self::decode(seq, v.value())?));
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
            let seq = k.value();
            expect_next(prev, seq)?;
            visit(seq, Self::decode(seq, v.value())?);
            prev = seq;
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
        let ds: Vec<_> = (0..3)
            .map(|i| Arc::new(rhizome_crdt::workload::Workload::seeded(1).delta(i)))
            .collect();
        s.append(&ds).unwrap();
        let tx = s.db.begin_write().unwrap();
        tx.open_table(DELTAS)
            .unwrap()
            .insert(2, [1u8, 2, 3].as_slice())
            .unwrap();
        tx.commit().unwrap();
        let err = s.load(&mut |_, _| {}).unwrap_err();
        assert!(matches!(err, Error::CorruptRecord { seq: 2, .. }), "{err}");
        assert!(err.to_string().contains("sequence number 2"), "{err}");
        let tx = s.db.begin_write().unwrap();
        tx.open_table(DELTAS).unwrap().remove(2).unwrap();
        tx.commit().unwrap();
        let err = s.load(&mut |_, _| {}).unwrap_err();
        assert!(
            matches!(
                err,
                Error::SequenceGap {
                    expected: 2,
                    found: 3
                }
            ),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
