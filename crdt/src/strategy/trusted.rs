//! `trusted-author` and `trusted-system`: values from whom you trust most.

use std::sync::Arc;

use super::{Candidate, Context, Strategy};
use crate::Delta;
use crate::value::Value;

/// The latest value given by the first name of `trusted` that gave any, by
/// `who` of the delta; else the latest value of all.
fn trusted_latest(
    candidates: &[Candidate<'_>],
    trusted: &[Arc<str>],
    who: fn(&Delta) -> &str,
) -> Option<Value> {
    trusted
        .iter()
        .find_map(|name| candidates.iter().rev().find(|c| who(c.delta) == &**name))
        .or_else(|| candidates.last())
        .map(|c| c.value.to_value())
}

/// `trusted-author`: with a priority list of creators (most trusted first),
/// the first listed creator that has values gives its latest value; when no
/// listed creator has any (or the list is empty), last-write-wins.
///
/// The list is the query's (`trusted=a,b`, [`Context::trusted`]) unless
/// the strategy was made with its own ([`TrustedAuthor::with`]).
#[derive(Clone, Debug, Default)]
pub struct TrustedAuthor {
    fixed: Option<Arc<[Arc<str>]>>,
}

impl TrustedAuthor {
    /// The strategy using the query's trusted list.
    pub fn new() -> Self {
        TrustedAuthor::default()
    }

    /// The strategy with its own priority list, whatever the query says.
    pub fn with<I, S>(trusted: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        TrustedAuthor {
            fixed: Some(trusted.into_iter().map(Into::into).collect()),
        }
    }
}

impl Strategy for TrustedAuthor {
    fn resolve(&self, candidates: &[Candidate<'_>], cx: &Context<'_>) -> Option<Value> {
        let trusted = self.fixed.as_deref().unwrap_or(cx.trusted);
        trusted_latest(candidates, trusted, Delta::creator)
    }
}

/// `trusted-system`: as [`TrustedAuthor`], with hosts instead of creators.
#[derive(Clone, Debug, Default)]
pub struct TrustedSystem {
    fixed: Option<Arc<[Arc<str>]>>,
}

impl TrustedSystem {
    /// The strategy using the query's trusted list.
    pub fn new() -> Self {
        TrustedSystem::default()
    }

    /// The strategy with its own priority list, whatever the query says.
    pub fn with<I, S>(trusted: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        TrustedSystem {
            fixed: Some(trusted.into_iter().map(Into::into).collect()),
        }
    }
}

impl Strategy for TrustedSystem {
    fn resolve(&self, candidates: &[Candidate<'_>], cx: &Context<'_>) -> Option<Value> {
        let trusted = self.fixed.as_deref().unwrap_or(cx.trusted);
        trusted_latest(candidates, trusted, Delta::host)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::test_support::*;
    use super::super::{Context, Strategy, StrategyRegistry};
    use super::{TrustedAuthor, TrustedSystem};
    use crate::value::Value;

    fn sample() -> Vec<Arc<crate::Delta>> {
        vec![
            delta("d1", 1, "alice", "node-a", Some(string("alice 1"))),
            delta("d2", 2, "bob", "node-b", Some(string("bob 2"))),
            delta("d3", 3, "alice", "node-b", Some(string("alice 3"))),
            delta("d4", 4, "carol", "node-c", Some(string("carol 4"))),
        ]
    }

    fn resolve(name: &str, trusted: &[&str]) -> Option<Value> {
        let ds = sample();
        let trusted: Vec<Arc<str>> = trusted.iter().map(|s| Arc::from(*s)).collect();
        StrategyRegistry::default().get(name).unwrap().resolve(
            &candidates(&ds),
            &Context::new(ENTITY, PROP).with_trusted(&trusted),
        )
    }

    #[test]
    fn first_listed_author_with_values_wins() {
        assert_eq!(
            resolve("trusted-author", &["alice", "bob"]),
            Some(Value::from("alice 3"))
        );
        assert_eq!(
            resolve("trusted-author", &["bob", "alice"]),
            Some(Value::from("bob 2"))
        );
        // dave has no values: the next listed one gives.
        assert_eq!(
            resolve("trusted-author", &["dave", "bob"]),
            Some(Value::from("bob 2"))
        );
    }

    #[test]
    fn falls_back_to_last_write_wins() {
        assert_eq!(
            resolve("trusted-author", &["dave"]),
            Some(Value::from("carol 4"))
        );
        assert_eq!(resolve("trusted-author", &[]), Some(Value::from("carol 4")));
        assert_eq!(
            resolve("trusted-system", &["node-z"]),
            Some(Value::from("carol 4"))
        );
    }

    #[test]
    fn trusted_system_goes_by_host() {
        assert_eq!(
            resolve("trusted-system", &["node-b"]),
            Some(Value::from("alice 3"))
        );
        assert_eq!(
            resolve("trusted-system", &["node-a", "node-b"]),
            Some(Value::from("alice 1"))
        );
        // A creator name is not a host.
        assert_eq!(
            resolve("trusted-system", &["bob"]),
            Some(Value::from("carol 4"))
        );
    }

    #[test]
    fn a_fixed_list_overrides_the_query() {
        let ds = sample();
        let query: Vec<Arc<str>> = vec!["alice".into()];
        let cx = Context::new(ENTITY, PROP).with_trusted(&query);
        let cs = candidates(&ds);
        assert_eq!(
            TrustedAuthor::with(["bob"]).resolve(&cs, &cx),
            Some(Value::from("bob 2"))
        );
        assert_eq!(
            TrustedAuthor::new().resolve(&cs, &cx),
            Some(Value::from("alice 3"))
        );
        assert_eq!(
            TrustedSystem::with(["node-c"]).resolve(&cs, &cx),
            Some(Value::from("carol 4"))
        );
    }

    #[test]
    fn empty_is_absent() {
        let cx = Context::new(ENTITY, PROP);
        assert_eq!(TrustedAuthor::new().resolve(&[], &cx), None);
        assert_eq!(TrustedSystem::with(["x"]).resolve(&[], &cx), None);
    }
}
