//! Strategies by name.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use super::{
    AllValues, Average, Concatenation, Count, FirstWriteWins, LastWriteWins, MajorityVote, Max,
    Min, Strategy, Sum, TrustedAuthor, TrustedSystem,
};
use crate::{Error, Result};

/// The names of the built-in strategies (API.md §2).
pub mod names {
    /// The greatest value in `(timeCreated, id)` order (the default).
    pub const LAST_WRITE_WINS: &str = "last-write-wins";
    /// Alias of [`LAST_WRITE_WINS`].
    pub const MOST_RECENT: &str = "most-recent";
    /// The smallest value in `(timeCreated, id)` order.
    pub const FIRST_WRITE_WINS: &str = "first-write-wins";
    /// Alias of [`FIRST_WRITE_WINS`].
    pub const FIRST_WRITE: &str = "first-write";
    /// Every value, in order.
    pub const ALL_VALUES: &str = "all-values";
    /// The smallest number.
    pub const MIN: &str = "min";
    /// Alias of [`MIN`].
    pub const MINIMUM: &str = "minimum";
    /// The greatest number.
    pub const MAX: &str = "max";
    /// Alias of [`MAX`].
    pub const MAXIMUM: &str = "maximum";
    /// The sum of the numbers.
    pub const SUM: &str = "sum";
    /// The mean of the numbers.
    pub const AVERAGE: &str = "average";
    /// The number of values.
    pub const COUNT: &str = "count";
    /// The strings joined with a space.
    pub const CONCATENATION: &str = "concatenation";
    /// The most frequent value.
    pub const MAJORITY_VOTE: &str = "majority-vote";
    /// Alias of [`MAJORITY_VOTE`].
    pub const CONSENSUS: &str = "consensus";
    /// The latest value of the most trusted creator.
    pub const TRUSTED_AUTHOR: &str = "trusted-author";
    /// The latest value of the most trusted host.
    pub const TRUSTED_SYSTEM: &str = "trusted-system";
}

/// Strategies by name: the built-ins under both their names, and any a user
/// registers. Cloning is cheap-ish (one map of shared strategies); share a
/// registry behind an `Arc` when it is read per request.
///
/// ```
/// use std::sync::Arc;
/// use rhizome_crdt::strategy::{Candidate, Context, Strategy, StrategyRegistry};
/// use rhizome_crdt::value::Value;
///
/// struct Longest;
/// impl Strategy for Longest {
///     fn resolve(&self, candidates: &[Candidate<'_>], _: &Context<'_>) -> Option<Value> {
///         candidates
///             .iter()
///             .filter_map(|c| c.value.as_str())
///             .max_by_key(|s| s.len())
///             .map(Value::from)
///     }
/// }
///
/// let mut registry = StrategyRegistry::default();
/// registry.register("longest", Arc::new(Longest));
/// registry.alias("longest-string", "longest").unwrap();
/// assert!(registry.get("longest-string").is_ok());
/// let err = registry.get("shortest").err().unwrap();
/// assert!(err.to_string().starts_with("unknown strategy \"shortest\""));
/// ```
#[derive(Clone)]
pub struct StrategyRegistry {
    by_name: HashMap<Arc<str>, Arc<dyn Strategy>>,
    default: Arc<dyn Strategy>,
}

impl StrategyRegistry {
    /// A registry with no strategy at all (its default is still
    /// last-write-wins, used when a query names none).
    pub fn empty() -> Self {
        StrategyRegistry {
            by_name: HashMap::new(),
            default: Arc::new(LastWriteWins),
        }
    }

    /// A registry of the built-in strategies under their names and aliases.
    pub fn builtin() -> Self {
        use names::*;
        let mut r = StrategyRegistry::empty();
        let lww: Arc<dyn Strategy> = Arc::new(LastWriteWins);
        r.register(LAST_WRITE_WINS, Arc::clone(&lww));
        r.register(MOST_RECENT, lww);
        let fww: Arc<dyn Strategy> = Arc::new(FirstWriteWins);
        r.register(FIRST_WRITE_WINS, Arc::clone(&fww));
        r.register(FIRST_WRITE, fww);
        r.register(ALL_VALUES, Arc::new(AllValues));
        let min: Arc<dyn Strategy> = Arc::new(Min);
        r.register(MIN, Arc::clone(&min));
        r.register(MINIMUM, min);
        let max: Arc<dyn Strategy> = Arc::new(Max);
        r.register(MAX, Arc::clone(&max));
        r.register(MAXIMUM, max);
        r.register(SUM, Arc::new(Sum));
        r.register(AVERAGE, Arc::new(Average));
        r.register(COUNT, Arc::new(Count));
        r.register(CONCATENATION, Arc::new(Concatenation));
        let vote: Arc<dyn Strategy> = Arc::new(MajorityVote);
        r.register(MAJORITY_VOTE, Arc::clone(&vote));
        r.register(CONSENSUS, vote);
        r.register(TRUSTED_AUTHOR, Arc::new(TrustedAuthor::new()));
        r.register(TRUSTED_SYSTEM, Arc::new(TrustedSystem::new()));
        r
    }

    /// Registers `strategy` under `name`, replacing any strategy of that name.
    pub fn register(&mut self, name: impl Into<Arc<str>>, strategy: Arc<dyn Strategy>) {
        self.by_name.insert(name.into(), strategy);
    }

    /// Makes `alias` another name of the strategy registered as `name`.
    pub fn alias(&mut self, alias: impl Into<Arc<str>>, name: &str) -> Result<()> {
        let strategy = self.get(name)?;
        self.by_name.insert(alias.into(), strategy);
        Ok(())
    }

    /// The strategy registered as `name`, or [`Error::UnknownStrategy`].
    pub fn get(&self, name: &str) -> Result<Arc<dyn Strategy>> {
        self.by_name
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownStrategy {
                name: name.to_owned(),
                known: self.names().join(", "),
            })
    }

    /// Whether a strategy is registered as `name`.
    pub fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Every registered name, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.by_name.keys().map(|k| &**k).collect();
        names.sort_unstable();
        names
    }

    /// The strategy used when a query names none (last-write-wins unless
    /// changed).
    pub fn default_strategy(&self) -> &Arc<dyn Strategy> {
        &self.default
    }

    /// Makes the strategy registered as `name` the default.
    pub fn set_default(&mut self, name: &str) -> Result<()> {
        self.default = self.get(name)?;
        Ok(())
    }
}

impl Default for StrategyRegistry {
    /// [`StrategyRegistry::builtin`].
    fn default() -> Self {
        StrategyRegistry::builtin()
    }
}

impl fmt::Debug for StrategyRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StrategyRegistry")
            .field("names", &self.names())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_name_is_registered() {
        let r = StrategyRegistry::default();
        assert_eq!(
            r.names(),
            [
                "all-values",
                "average",
                "concatenation",
                "consensus",
                "count",
                "first-write",
                "first-write-wins",
                "majority-vote",
                "max",
                "maximum",
                "min",
                "minimum",
                "most-recent",
                "last-write-wins",
                "sum",
                "trusted-author",
                "trusted-system",
            ]
            .iter()
            .copied()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
        );
    }

    #[test]
    fn unknown_names_are_errors_naming_them() {
        let r = StrategyRegistry::default();
        let e = r.get("lastwritewins").err().unwrap();
        assert!(matches!(&e, Error::UnknownStrategy { name, .. } if name == "lastwritewins"));
        assert!(e.to_string().contains("last-write-wins"));
        // Names are exact: no case folding.
        assert!(r.get("Last-Write-Wins").is_err());
        let mut r = r;
        assert!(r.alias("x", "nope").is_err());
        assert!(r.set_default("nope").is_err());
    }
}
