//! Interned names: one shared copy of each entity id, property, creator, host
//! and transaction id, and a compact integer for it in the indexes.

use foldhash::HashMap;
use std::sync::Arc;

/// The compact id of an interned name.
pub(crate) type Sym = u32;

/// A table of interned names. Names are never removed (deltas are immutable
/// and never deleted).
#[derive(Clone, Debug, Default)]
pub(crate) struct Symbols {
    by_name: HashMap<Arc<str>, Sym>,
    names: Vec<Arc<str>>,
}

impl Symbols {
    /// The symbol of `name`, interning it (by sharing the given `Arc`, no
    /// copy) if it is new.
    pub(crate) fn intern(&mut self, name: &Arc<str>) -> Sym {
        if let Some(&sym) = self.by_name.get(&**name) {
            return sym;
        }
        // Symbols are bounded by the number of names in stored deltas; a set
        // with more than u32::MAX names is refused before it gets here.
        let sym = Sym::try_from(self.names.len()).unwrap_or(Sym::MAX);
        self.by_name.insert(name.clone(), sym);
        self.names.push(name.clone());
        sym
    }

    /// The symbol of `name`, if interned.
    pub(crate) fn get(&self, name: &str) -> Option<Sym> {
        self.by_name.get(name).copied()
    }

    /// The shared copy of `sym`'s name.
    pub(crate) fn name(&self, sym: Sym) -> &Arc<str> {
        &self.names[sym as usize]
    }

    /// How many names are interned.
    pub(crate) fn len(&self) -> usize {
        self.names.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_shares_one_copy() {
        let mut s = Symbols::default();
        let a: Arc<str> = "alice".into();
        let a2: Arc<str> = "alice".into();
        let x = s.intern(&a);
        assert_eq!(s.intern(&a2), x);
        assert!(Arc::ptr_eq(s.name(x), &a));
        assert_eq!(s.get("alice"), Some(x));
        assert_eq!(s.get("bob"), None);
        let b = s.intern(&"bob".into());
        assert_ne!(b, x);
        assert_eq!(s.len(), 2);
    }
}
