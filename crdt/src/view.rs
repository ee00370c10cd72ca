//! Views: an entity's hyperview collapsed into a plain object.
//!
//! A [`View`] is `{"id", "properties": {P: value}}`: per property, the value
//! its resolution strategy makes of the property's candidates (API.md §2).
//! [`ViewOptions`] are the query's `strategy`, `strategies` and `trusted`
//! parameters; bound to a [`StrategyRegistry`] they make a
//! [`ViewResolver`], which resolves hyperviews.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::Arc;
//! use rhizome_crdt::strategy::StrategyRegistry;
//! use rhizome_crdt::view::{View, ViewOptions};
//! use rhizome_crdt::{Delta, DeltaId, Hyperview, Pointer, Target, Timestamp};
//!
//! let vote = |id: &str, t: u64, score: i64| {
//!     let pointers = vec![
//!         Pointer::new("movie", Target::reference("m1", "score")),
//!         Pointer::new("score", score),
//!     ];
//!     let (id, t) = (DeltaId::new(id).unwrap(), Timestamp::new(t).unwrap());
//!     Arc::new(Delta::new(id, t, "node-a", "alice", pointers).unwrap())
//! };
//! let hyperview = Hyperview {
//!     id: "m1".into(),
//!     properties: BTreeMap::from([(
//!         "score".into(),
//!         vec![vote("d1", 1, 4), vote("d2", 2, 5)],
//!     )]),
//! };
//!
//! let registry = StrategyRegistry::default();
//! let options = ViewOptions::from_query(None, Some("score:average"), None).unwrap();
//! let view = View::resolve(&hyperview, &options, &registry).unwrap();
//! assert_eq!(
//!     serde_json::to_string(&view).unwrap(),
//!     r#"{"id":"m1","properties":{"score":4.5}}"#
//! );
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::resolver::ViewResolver;
use crate::strategy::StrategyRegistry;
use crate::value::Value;
use crate::{Error, Hyperview, Result};

/// The resolved view of an entity: `{"id", "properties": {P: value}}`,
/// properties sorted by name; a property its strategy leaves absent is not
/// there. It serializes to exactly the API's JSON, and can itself be a
/// [`Value::Nested`] inside another view.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct View {
    /// The entity.
    pub id: Arc<str>,
    /// Property → resolved value.
    pub properties: BTreeMap<Arc<str>, Value>,
}

impl View {
    /// The view of `hyperview` under `options`, strategies looked up in
    /// `registry`. Fails only on an unknown strategy name. To resolve many
    /// hyperviews with the same options, make the [`ViewResolver`] once
    /// ([`ViewOptions::resolver`]).
    pub fn resolve(
        hyperview: &Hyperview,
        options: &ViewOptions,
        registry: &StrategyRegistry,
    ) -> Result<View> {
        Ok(options.resolver(registry)?.resolve(hyperview))
    }

    /// The value of `property`, if present.
    pub fn get(&self, property: &str) -> Option<&Value> {
        self.properties.get(property)
    }
}

/// How to resolve a view: the query's `strategy` (for every property),
/// `strategies` (per property, overriding it) and `trusted` (the priority
/// list of `trusted-author` / `trusted-system`). Names are checked against a
/// registry by [`ViewOptions::resolver`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ViewOptions {
    /// The strategy of every property not in `strategies`; `None` is the
    /// registry's default (last-write-wins).
    pub strategy: Option<Arc<str>>,
    /// Property → strategy name, in the order given.
    pub strategies: Vec<(Arc<str>, Arc<str>)>,
    /// Creators or hosts, most trusted first.
    pub trusted: Vec<Arc<str>>,
}

impl ViewOptions {
    /// Options from the query parameters `strategy`, `strategies`
    /// (`P:S,P2:S2`) and `trusted` (`a,b`), each optional. Errors name the
    /// parameter and the part of it that is wrong; strategy names are
    /// checked later, against a registry.
    ///
    /// ```
    /// use rhizome_crdt::view::ViewOptions;
    ///
    /// let o = ViewOptions::from_query(Some("max"), Some("name:first-write,tags:all-values"), Some("alice,bob")).unwrap();
    /// assert_eq!(o.strategies.len(), 2);
    /// assert_eq!(o.trusted.len(), 2);
    /// let e = ViewOptions::from_query(None, Some("name:first-write,tags"), None).unwrap_err();
    /// assert_eq!(e.to_string(), r#"strategies: "tags" must be PROPERTY:STRATEGY"#);
    /// ```
    pub fn from_query(
        strategy: Option<&str>,
        strategies: Option<&str>,
        trusted: Option<&str>,
    ) -> Result<ViewOptions> {
        let strategy = match strategy.map(str::trim) {
            None => None,
            Some("") => {
                return Err(invalid("strategy", "", "must be a strategy name"));
            }
            Some(s) => Some(Arc::from(s)),
        };
        Ok(ViewOptions {
            strategy,
            strategies: strategies
                .map(ViewOptions::parse_strategies)
                .transpose()?
                .unwrap_or_default(),
            trusted: trusted
                .map(ViewOptions::parse_trusted)
                .transpose()?
                .unwrap_or_default(),
        })
    }

    /// Parses `P:S,P2:S2` (spaces around parts ignored; the property is
    /// everything before the last `:`). An empty string is no strategies.
    pub fn parse_strategies(s: &str) -> Result<Vec<(Arc<str>, Arc<str>)>> {
        let mut out: Vec<(Arc<str>, Arc<str>)> = Vec::new();
        if s.trim().is_empty() {
            return Ok(out);
        }
        for part in s.split(',').map(str::trim) {
            let (property, strategy) = match part.rsplit_once(':') {
                Some((p, s)) if !p.trim().is_empty() && !s.trim().is_empty() => {
                    (p.trim(), s.trim())
                }
                _ => return Err(invalid("strategies", part, "must be PROPERTY:STRATEGY")),
            };
            if out.iter().any(|(p, _)| &**p == property) {
                return Err(invalid(
                    "strategies",
                    part,
                    format!("names property {property:?} a second time"),
                ));
            }
            out.push((property.into(), strategy.into()));
        }
        Ok(out)
    }

    /// Parses `a,b` (spaces around names ignored). An empty string is an
    /// empty list; an empty name between commas is an error.
    pub fn parse_trusted(s: &str) -> Result<Vec<Arc<str>>> {
        if s.trim().is_empty() {
            return Ok(Vec::new());
        }
        s.split(',')
            .map(str::trim)
            .map(|name| {
                if name.is_empty() {
                    Err(invalid("trusted", s, "has an empty name"))
                } else {
                    Ok(Arc::from(name))
                }
            })
            .collect()
    }

    /// The resolver these options describe, strategies looked up in
    /// `registry` ([`Error::UnknownStrategy`] for a name it lacks).
    pub fn resolver(&self, registry: &StrategyRegistry) -> Result<ViewResolver> {
        let default = match &self.strategy {
            Some(name) => registry.get(name)?,
            None => Arc::clone(registry.default_strategy()),
        };
        let mut builder = ViewResolver::builder()
            .default_strategy_shared(default)
            .trusted(self.trusted.iter().cloned());
        for (property, name) in &self.strategies {
            builder = builder.strategy_shared(Arc::clone(property), registry.get(name)?);
        }
        builder.build()
    }
}

fn invalid(option: &'static str, part: &str, problem: impl Into<String>) -> Error {
    Error::InvalidViewOption {
        option,
        part: part.to_owned(),
        problem: problem.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strategies() {
        let s = ViewOptions::parse_strategies("a:max, b : most-recent,ns:x:sum").unwrap();
        let s: Vec<(&str, &str)> = s.iter().map(|(p, n)| (&**p, &**n)).collect();
        assert_eq!(s, [("a", "max"), ("b", "most-recent"), ("ns:x", "sum")]);
        assert!(ViewOptions::parse_strategies("").unwrap().is_empty());
    }

    #[test]
    fn strategy_errors_name_the_part() {
        for (input, part) in [
            ("a:max,b", "b"),
            ("a:", "a:"),
            (":max", ":max"),
            ("a:max,,b:min", ""),
        ] {
            let e = ViewOptions::parse_strategies(input).unwrap_err();
            assert_eq!(
                e,
                Error::InvalidViewOption {
                    option: "strategies",
                    part: part.into(),
                    problem: "must be PROPERTY:STRATEGY".into()
                },
                "{input}"
            );
        }
        let e = ViewOptions::parse_strategies("a:max,a:min").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"strategies: "a:min" names property "a" a second time"#
        );
    }

    #[test]
    fn parses_trusted() {
        let t = ViewOptions::parse_trusted("alice, bob").unwrap();
        assert_eq!(t, [Arc::from("alice"), Arc::from("bob")]);
        assert!(ViewOptions::parse_trusted("").unwrap().is_empty());
        let e = ViewOptions::parse_trusted("alice,,bob").unwrap_err();
        assert_eq!(e.to_string(), r#"trusted: "alice,,bob" has an empty name"#);
    }

    #[test]
    fn unknown_strategy_names_are_refused_when_bound() {
        let registry = StrategyRegistry::default();
        let o = ViewOptions::from_query(Some("newest"), None, None).unwrap();
        let e = o.resolver(&registry).err().unwrap();
        assert!(matches!(e, Error::UnknownStrategy { ref name, .. } if name == "newest"));
        let o = ViewOptions::from_query(None, Some("a:max,b:median"), None).unwrap();
        let e = o.resolver(&registry).err().unwrap();
        assert!(matches!(e, Error::UnknownStrategy { ref name, .. } if name == "median"));
        assert!(ViewOptions::from_query(Some(" "), None, None).is_err());
    }
}
