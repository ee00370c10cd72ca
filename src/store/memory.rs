//! The memory store: a vector of deltas, gone when the node stops.

use std::sync::Arc;

use rhizome_crdt::Delta;

use super::{Seq, Store};
use crate::Result;

/// Keeps deltas in memory only (`RHIZOME_STORAGE=memory`). It shares the
/// deltas' allocations with the index, so it costs one pointer per delta.
#[derive(Debug, Default)]
pub struct MemoryStore {
    log: Vec<Arc<Delta>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }
}

impl Store for MemoryStore {
    fn append(&mut self, deltas: &[Arc<Delta>]) -> Result<Seq> {
        let first = self.last_seq() + 1;
        self.log.extend(deltas.iter().cloned());
        Ok(first)
    }

    fn last_seq(&self) -> Seq {
        self.log.len() as Seq
    }

    fn read(&self, from: Seq, limit: usize) -> Result<Vec<(Seq, Arc<Delta>)>> {
        let start = from.max(1);
        let skip = usize::try_from(start - 1).unwrap_or(usize::MAX);
        Ok(self
            .log
            .iter()
            .skip(skip)
            .take(limit)
            .zip(start..)
            .map(|(d, s)| (s, Arc::clone(d)))
            .collect())
    }

    fn load(&self, visit: &mut dyn FnMut(Seq, Arc<Delta>)) -> Result<()> {
        for (d, s) in self.log.iter().zip(1..) {
            visit(s, Arc::clone(d));
        }
        Ok(())
    }

    fn disk_bytes(&self) -> Result<u64> {
        Ok(0)
    }

    fn close(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_the_store_suite() {
        super::super::suite::run(MemoryStore::new, |_| None);
    }
}
