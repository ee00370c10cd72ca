//! Resolving views, with strategies and with custom resolvers that depend on
//! other properties.
//!
//! A [`ViewResolver`] turns a [`Hyperview`] into a [`View`]: each property is
//! resolved by the strategy given for it, or by the default strategy. A
//! property can also be given a [`PropertyResolver`]: a computation that
//! declares the properties it depends on and receives their resolved values
//! (and its own property's candidates). It may compute a property no delta
//! speaks of. The builder checks the whole set when it is built: a
//! dependency on a property with no resolver, or a cycle of dependencies, is
//! refused, and the order of evaluation is fixed then, once.
//!
//! ```
//! use std::collections::BTreeMap;
//! use std::sync::Arc;
//! use rhizome_crdt::resolver::{Computed, ViewResolver};
//! use rhizome_crdt::strategy::LastWriteWins;
//! use rhizome_crdt::value::Value;
//! use rhizome_crdt::{Delta, DeltaId, Hyperview, Number, Pointer, Target, Timestamp};
//!
//! // total = price - discount, price and discount by last-write-wins.
//! let resolver = ViewResolver::builder()
//!     .strategy("price", LastWriteWins)
//!     .strategy("discount", LastWriteWins)
//!     .resolver(
//!         "total",
//!         Computed::new(["price", "discount"], |input| {
//!             let price = input.number("price")?;
//!             let discount = input.number("discount").unwrap_or(Number::Int(0));
//!             let total = match (price, discount) {
//!                 (Number::Int(p), Number::Int(d)) => p.checked_sub(d).map(Number::Int),
//!                 _ => None,
//!             };
//!             total
//!                 .or_else(|| Number::from_f64(price.as_f64() - discount.as_f64()))
//!                 .map(Value::Number)
//!         }),
//!     )
//!     .build()
//!     .unwrap();
//!
//! let set = |id: &str, t: u64, property: &str, value: i64| {
//!     let pointers = vec![
//!         Pointer::new("item", Target::reference("item1", property)),
//!         Pointer::new(property, value),
//!     ];
//!     let (id, t) = (DeltaId::new(id).unwrap(), Timestamp::new(t).unwrap());
//!     Arc::new(Delta::new(id, t, "node-a", "alice", pointers).unwrap())
//! };
//! let hyperview = Hyperview {
//!     id: "item1".into(),
//!     properties: BTreeMap::from([
//!         ("discount".into(), vec![set("d2", 2, "discount", 15)]),
//!         ("price".into(), vec![set("d1", 1, "price", 100), set("d3", 3, "price", 120)]),
//!     ]),
//! };
//! let view = resolver.resolve(&hyperview);
//! assert_eq!(view.get("total"), Some(&Value::from(105)));
//! assert_eq!(
//!     serde_json::to_string(&view).unwrap(),
//!     r#"{"id":"item1","properties":{"discount":15,"price":120,"total":105}}"#
//! );
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::strategy::{Candidate, Context, LastWriteWins, Scope, Strategy};
use crate::value::{Value, ValueRef};
use crate::view::View;
use crate::{Delta, Error, Hyperview, Number, Result};

/// A computed property: declares the properties it depends on and computes
/// its value from their resolved values (and its own candidates).
///
/// `compute` must be a deterministic function of its [`Input`]. `None` means
/// the property is absent from the view.
pub trait PropertyResolver: Send + Sync {
    /// The properties whose resolved values this one needs. Each must have a
    /// resolver (or strategy) in the same [`ViewResolver`].
    fn dependencies(&self) -> &[Arc<str>] {
        &[]
    }

    /// The property's value.
    fn compute(&self, input: &Input<'_>) -> Option<Value>;
}

/// What a [`PropertyResolver`] is given.
pub struct Input<'a> {
    /// The property's own candidates (values of its visible deltas), in
    /// `(timeCreated, id)` order; empty for a property no delta speaks of.
    pub candidates: &'a [Candidate<'a>],
    /// The entity, the property and the trusted list.
    pub cx: Context<'a>,
    dependencies: &'a [Arc<str>],
    positions: &'a [usize],
    resolved: &'a [Option<Value>],
}

impl Input<'_> {
    /// The resolved value of dependency `name`; `None` when that property is
    /// absent from the view, or is not a declared dependency.
    pub fn dependency(&self, name: &str) -> Option<&Value> {
        let i = self.dependencies.iter().position(|d| &**d == name)?;
        self.resolved[self.positions[i]].as_ref()
    }

    /// The dependency `name` if it is a number.
    pub fn number(&self, name: &str) -> Option<Number> {
        self.dependency(name).and_then(Value::as_number)
    }
}

/// A [`PropertyResolver`] from a list of dependencies and a closure.
///
/// ```
/// use rhizome_crdt::resolver::Computed;
/// use rhizome_crdt::value::Value;
///
/// // "first last", from the resolved first and last names.
/// let full_name = Computed::new(["first", "last"], |input| {
///     let first = input.dependency("first")?.as_str()?;
///     let last = input.dependency("last")?.as_str()?;
///     Some(Value::from(format!("{first} {last}").as_str()))
/// });
/// ```
pub struct Computed<F> {
    dependencies: Vec<Arc<str>>,
    compute: F,
}

impl<F> Computed<F>
where
    F: for<'x> Fn(&Input<'x>) -> Option<Value> + Send + Sync,
{
    /// A resolver depending on `dependencies`, computing with `compute`.
    pub fn new<I, S>(dependencies: I, compute: F) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        Computed {
            dependencies: dependencies.into_iter().map(Into::into).collect(),
            compute,
        }
    }
}

impl<F> PropertyResolver for Computed<F>
where
    F: for<'x> Fn(&Input<'x>) -> Option<Value> + Send + Sync,
{
    fn dependencies(&self) -> &[Arc<str>] {
        &self.dependencies
    }

    fn compute(&self, input: &Input<'_>) -> Option<Value> {
        (self.compute)(input)
    }
}

impl<F> fmt::Debug for Computed<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Computed")
            .field("dependencies", &self.dependencies)
            .finish_non_exhaustive()
    }
}

/// How one listed property is resolved.
#[derive(Clone)]
enum Rule {
    Strategy(Arc<dyn Strategy>),
    Resolver(Arc<dyn PropertyResolver>),
}

impl Rule {
    fn dependencies(&self) -> &[Arc<str>] {
        match self {
            Rule::Strategy(_) => &[],
            Rule::Resolver(r) => r.dependencies(),
        }
    }
}

/// A listed property, in evaluation order.
#[derive(Clone)]
struct Entry {
    property: Arc<str>,
    rule: Rule,
    /// Positions (in evaluation order) of the dependencies, parallel to
    /// `rule.dependencies()`.
    positions: Box<[usize]>,
}

/// Resolves hyperviews into views: a default strategy, strategies or
/// resolvers for listed properties (evaluated in dependency order, fixed at
/// build time), and the trusted list. Cheap to share (`Clone` copies a few
/// `Arc`s per listed property); resolving never fails.
#[derive(Clone)]
pub struct ViewResolver {
    default: Arc<dyn Strategy>,
    /// Listed properties in evaluation (topological) order.
    entries: Box<[Entry]>,
    /// (property, position in `entries`), sorted by property.
    by_name: Box<[(Arc<str>, usize)]>,
    trusted: Box<[Arc<str>]>,
}

impl Default for ViewResolver {
    /// Last-write-wins for every property.
    fn default() -> Self {
        ViewResolver {
            default: Arc::new(LastWriteWins),
            entries: Box::new([]),
            by_name: Box::new([]),
            trusted: Box::new([]),
        }
    }
}

impl fmt::Debug for ViewResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ViewResolver")
            .field(
                "order",
                &self
                    .entries
                    .iter()
                    .map(|e| &*e.property)
                    .collect::<Vec<_>>(),
            )
            .field("trusted", &self.trusted)
            .finish_non_exhaustive()
    }
}

impl ViewResolver {
    /// A builder: last-write-wins by default, nothing listed, no trusted list.
    pub fn builder() -> ViewResolverBuilder {
        ViewResolverBuilder::default()
    }

    /// The listed properties in the order they are evaluated (every
    /// property after the ones it depends on).
    pub fn order(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| &*e.property)
    }

    /// The view of `hyperview`: values are [`Delta::value_for`] the entity.
    pub fn resolve(&self, hyperview: &Hyperview) -> View {
        let entity: &str = &hyperview.id;
        self.resolve_with(hyperview, |property, delta| {
            delta.value_for(entity, property).map(ValueRef::from)
        })
    }

    /// The view of `hyperview`, the value of each delta for each property
    /// given by `value_of(property, delta)` (`None`: the delta gives no
    /// value). This is how a schema puts nested views in place of
    /// references: it makes the nested values first, then lends them here.
    pub fn resolve_with<'a, F>(&self, hyperview: &'a Hyperview, mut value_of: F) -> View
    where
        F: FnMut(&str, &'a Delta) -> Option<ValueRef<'a>>,
    {
        let entity: &str = &hyperview.id;
        let mut properties = BTreeMap::new();
        let mut buffer: Vec<Candidate<'a>> = Vec::new();
        let mut fill = |buffer: &mut Vec<Candidate<'a>>,
                        property: &str,
                        deltas: &'a [Arc<Delta>],
                        scope: Scope| {
            buffer.clear();
            let candidate = |d: &'a Arc<Delta>| value_of(property, d).map(|v| Candidate::new(v, d));
            match scope {
                Scope::All => buffer.extend(deltas.iter().filter_map(candidate)),
                Scope::Last => buffer.extend(deltas.iter().rev().find_map(candidate)),
                Scope::First => buffer.extend(deltas.iter().find_map(candidate)),
            }
        };

        // Document properties (API.md §7) show their document's JSON,
        // whatever the strategy.
        for (property, deltas) in &hyperview.properties {
            if let Some(json) = crate::document::view_value(deltas) {
                properties.insert(Arc::clone(property), Value::Document(Arc::new(json)));
            }
        }

        // Properties with no rule of their own: the default strategy.
        let default_scope = self.default.scope();
        for (property, deltas) in &hyperview.properties {
            if self.position(property).is_some() || properties.contains_key(property) {
                continue;
            }
            fill(&mut buffer, property, deltas, default_scope);
            let cx = self.context(entity, property);
            if let Some(v) = self.default.resolve(&buffer, &cx) {
                properties.insert(Arc::clone(property), v);
            }
        }

        // Listed properties, dependencies first.
        if !self.entries.is_empty() {
            let mut resolved: Vec<Option<Value>> = Vec::with_capacity(self.entries.len());
            for entry in self.entries.iter() {
                if let Some(doc @ Value::Document(_)) = properties.get(&entry.property) {
                    resolved.push(Some(doc.clone()));
                    continue;
                }
                let scope = match &entry.rule {
                    Rule::Strategy(s) => s.scope(),
                    Rule::Resolver(_) => Scope::All,
                };
                match hyperview.properties.get(&entry.property) {
                    Some(deltas) => fill(&mut buffer, &entry.property, deltas, scope),
                    None => buffer.clear(),
                }
                let cx = self.context(entity, &entry.property);
                let value = match &entry.rule {
                    Rule::Strategy(s) => s.resolve(&buffer, &cx),
                    Rule::Resolver(r) => r.compute(&Input {
                        candidates: &buffer,
                        cx,
                        dependencies: r.dependencies(),
                        positions: &entry.positions,
                        resolved: &resolved,
                    }),
                };
                if let Some(v) = &value {
                    properties.insert(Arc::clone(&entry.property), v.clone());
                }
                resolved.push(value);
            }
        }

        View {
            id: Arc::clone(&hyperview.id),
            properties,
        }
    }

    fn position(&self, property: &str) -> Option<usize> {
        if self.by_name.is_empty() {
            return None;
        }
        self.by_name
            .binary_search_by(|(p, _)| p.as_bytes().cmp(property.as_bytes()))
            .ok()
            .map(|i| self.by_name[i].1)
    }

    fn context<'s>(&'s self, entity: &'s str, property: &'s str) -> Context<'s> {
        Context {
            entity,
            property,
            trusted: &self.trusted,
        }
    }
}

/// Builds a [`ViewResolver`], checking its resolvers' dependencies at
/// [`ViewResolverBuilder::build`].
#[derive(Clone)]
pub struct ViewResolverBuilder {
    default: Arc<dyn Strategy>,
    listed: Vec<(Arc<str>, Rule)>,
    trusted: Vec<Arc<str>>,
}

impl Default for ViewResolverBuilder {
    fn default() -> Self {
        ViewResolverBuilder {
            default: Arc::new(LastWriteWins),
            listed: Vec::new(),
            trusted: Vec::new(),
        }
    }
}

impl ViewResolverBuilder {
    /// The strategy of every property not listed.
    #[must_use]
    pub fn default_strategy(self, strategy: impl Strategy + 'static) -> Self {
        self.default_strategy_shared(Arc::new(strategy))
    }

    /// [`ViewResolverBuilder::default_strategy`] with a shared strategy
    /// (e.g. from a registry).
    #[must_use]
    pub fn default_strategy_shared(mut self, strategy: Arc<dyn Strategy>) -> Self {
        self.default = strategy;
        self
    }

    /// Resolves `property` by `strategy`.
    #[must_use]
    pub fn strategy(
        self,
        property: impl Into<Arc<str>>,
        strategy: impl Strategy + 'static,
    ) -> Self {
        self.strategy_shared(property, Arc::new(strategy))
    }

    /// Resolves `property` by a shared strategy (e.g. from a registry).
    #[must_use]
    pub fn strategy_shared(
        mut self,
        property: impl Into<Arc<str>>,
        strategy: Arc<dyn Strategy>,
    ) -> Self {
        self.listed
            .push((property.into(), Rule::Strategy(strategy)));
        self
    }

    /// Computes `property` by `resolver`, after its dependencies.
    #[must_use]
    pub fn resolver(
        self,
        property: impl Into<Arc<str>>,
        resolver: impl PropertyResolver + 'static,
    ) -> Self {
        self.resolver_shared(property, Arc::new(resolver))
    }

    /// [`ViewResolverBuilder::resolver`] with a shared resolver.
    #[must_use]
    pub fn resolver_shared(
        mut self,
        property: impl Into<Arc<str>>,
        resolver: Arc<dyn PropertyResolver>,
    ) -> Self {
        self.listed
            .push((property.into(), Rule::Resolver(resolver)));
        self
    }

    /// The priority list of `trusted-author` / `trusted-system`, most
    /// trusted first.
    #[must_use]
    pub fn trusted<I, S>(mut self, trusted: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<Arc<str>>,
    {
        self.trusted = trusted.into_iter().map(Into::into).collect();
        self
    }

    /// The resolver, or an error: [`Error::DuplicateResolver`] for a property
    /// listed twice, [`Error::MissingDependency`] for a dependency on a
    /// property not listed, [`Error::ResolverCycle`] naming a cycle of
    /// dependencies (`a -> b -> a`). Evaluation order: every property after
    /// its dependencies, otherwise by name.
    pub fn build(self) -> Result<ViewResolver> {
        let mut index: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, (property, _)) in self.listed.iter().enumerate() {
            if index.insert(property, i).is_some() {
                return Err(Error::DuplicateResolver {
                    property: property.to_string(),
                });
            }
        }
        // Missing dependencies, properties by name.
        for (&property, &i) in &index {
            for dep in self.listed[i].1.dependencies() {
                if !index.contains_key(&**dep) {
                    return Err(Error::MissingDependency {
                        property: property.to_owned(),
                        dependency: dep.to_string(),
                    });
                }
            }
        }
        // Depth-first topological order, roots by name, dependencies in
        // declared order; a dependency met on the current path is a cycle.
        let order = topological_order(&self.listed, &index)?;
        let mut position = vec![0; self.listed.len()];
        for (pos, &i) in order.iter().enumerate() {
            position[i] = pos;
        }
        let dep_positions: Vec<Box<[usize]>> = self
            .listed
            .iter()
            .map(|(_, rule)| {
                rule.dependencies()
                    .iter()
                    .map(|d| index.get(&**d).map_or(0, |&j| position[j]))
                    .collect()
            })
            .collect();
        drop(index);
        let mut slots: Vec<Option<Entry>> = self
            .listed
            .into_iter()
            .zip(dep_positions)
            .map(|((property, rule), positions)| {
                Some(Entry {
                    property,
                    rule,
                    positions,
                })
            })
            .collect();
        let entries: Vec<Entry> = order.iter().filter_map(|&i| slots[i].take()).collect();
        let mut by_name: Vec<(Arc<str>, usize)> = entries
            .iter()
            .enumerate()
            .map(|(pos, e)| (Arc::clone(&e.property), pos))
            .collect();
        by_name.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        Ok(ViewResolver {
            default: self.default,
            entries: entries.into(),
            by_name: by_name.into(),
            trusted: self.trusted.into(),
        })
    }
}

fn topological_order(
    listed: &[(Arc<str>, Rule)],
    index: &BTreeMap<&str, usize>,
) -> Result<Vec<usize>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    let mut marks = vec![Mark::New; listed.len()];
    let mut order = Vec::with_capacity(listed.len());
    let mut path: Vec<usize> = Vec::new();
    for &root in index.values() {
        if marks[root] != Mark::New {
            continue;
        }
        // Iterative DFS: (node, next dependency to look at).
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        marks[root] = Mark::OnPath;
        path.push(root);
        while let Some(top) = stack.last_mut() {
            let node = top.0;
            let deps = listed[node].1.dependencies();
            if let Some(dep) = deps.get(top.1) {
                top.1 += 1;
                let Some(&d) = index.get(&**dep) else {
                    continue; // checked before: cannot happen
                };
                match marks[d] {
                    Mark::Done => {}
                    Mark::OnPath => {
                        let from = path.iter().position(|&p| p == d).unwrap_or(0);
                        let mut names: Vec<&str> =
                            path[from..].iter().map(|&p| &*listed[p].0).collect();
                        names.push(&listed[d].0);
                        return Err(Error::ResolverCycle {
                            cycle: names.join(" -> "),
                        });
                    }
                    Mark::New => {
                        marks[d] = Mark::OnPath;
                        path.push(d);
                        stack.push((d, 0));
                    }
                }
            } else {
                marks[node] = Mark::Done;
                order.push(node);
                path.pop();
                stack.pop();
            }
        }
    }
    Ok(order)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use super::*;
    use crate::strategy::test_support::int;
    use crate::strategy::{FirstWriteWins, StrategyRegistry, Sum};
    use crate::view::ViewOptions;
    use crate::{DeltaId, Pointer, Target, Timestamp};

    const E: &str = "item1";

    fn set(id: &str, t: u64, creator: &str, property: &str, value: Target) -> Arc<Delta> {
        let pointers = vec![
            Pointer::new("item", Target::reference(E, property)),
            Pointer::new(property, value),
        ];
        Arc::new(
            Delta::new(
                DeltaId::new(id).unwrap(),
                Timestamp::new(t).unwrap(),
                "h",
                creator,
                pointers,
            )
            .unwrap(),
        )
    }

    fn hyperview(deltas: Vec<(&str, Arc<Delta>)>) -> Hyperview {
        let mut properties: BTreeMap<Arc<str>, Vec<Arc<Delta>>> = BTreeMap::new();
        for (p, d) in deltas {
            properties.entry(p.into()).or_default().push(d);
        }
        for ds in properties.values_mut() {
            ds.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        }
        Hyperview {
            id: E.into(),
            properties,
        }
    }

    fn json(view: &View) -> String {
        serde_json::to_string(view).unwrap()
    }

    fn sample() -> Hyperview {
        hyperview(vec![
            ("price", set("d1", 1, "alice", "price", int(100))),
            ("price", set("d3", 3, "bob", "price", int(120))),
            ("discount", set("d2", 2, "alice", "discount", int(15))),
            ("name", set("d4", 4, "alice", "name", Target::from("Lamp"))),
            (
                "name",
                set("d5", 5, "bob", "name", Target::from("Desk lamp")),
            ),
        ])
    }

    fn total() -> Computed<impl for<'x> Fn(&Input<'x>) -> Option<Value> + Send + Sync> {
        Computed::new(["price", "discount"], |input| {
            let price = input.number("price")?.as_i64()?;
            let discount = input.number("discount").map_or(Some(0), Number::as_i64)?;
            Some(Value::from(price - discount))
        })
    }

    #[test]
    fn default_is_last_write_wins() {
        let view = ViewResolver::default().resolve(&sample());
        assert_eq!(
            json(&view),
            r#"{"id":"item1","properties":{"discount":15,"name":"Desk lamp","price":120}}"#
        );
    }

    #[test]
    fn per_property_strategies_from_options() {
        let registry = StrategyRegistry::default();
        let options = ViewOptions::from_query(
            Some("first-write"),
            Some("price:sum,name:concatenation"),
            None,
        )
        .unwrap();
        let view = View::resolve(&sample(), &options, &registry).unwrap();
        assert_eq!(
            json(&view),
            r#"{"id":"item1","properties":{"discount":15,"name":"Lamp Desk lamp","price":220}}"#
        );
        // A listed property no delta speaks of is absent, not an error.
        let options = ViewOptions::from_query(None, Some("colour:all-values"), None).unwrap();
        let view = View::resolve(&sample(), &options, &registry).unwrap();
        assert_eq!(view.get("colour"), None);
        assert_eq!(view.properties.len(), 3);
    }

    #[test]
    fn trusted_list_reaches_the_strategies() {
        let registry = StrategyRegistry::default();
        let options =
            ViewOptions::from_query(Some("trusted-author"), None, Some("alice,bob")).unwrap();
        let view = View::resolve(&sample(), &options, &registry).unwrap();
        assert_eq!(view.get("price"), Some(&Value::from(100)));
        assert_eq!(view.get("name"), Some(&Value::from("Lamp")));
    }

    #[test]
    fn a_property_whose_strategy_has_nothing_is_absent() {
        let hv = hyperview(vec![("name", set("d1", 1, "a", "name", Target::from("x")))]);
        let registry = StrategyRegistry::default();
        let options = ViewOptions::from_query(Some("sum"), None, None).unwrap();
        let view = View::resolve(&hv, &options, &registry).unwrap();
        assert_eq!(json(&view), r#"{"id":"item1","properties":{}}"#);
    }

    #[test]
    fn computed_total_from_price_and_discount() {
        let resolver = ViewResolver::builder()
            .resolver("total", total())
            .strategy("price", crate::strategy::LastWriteWins)
            .strategy("discount", crate::strategy::LastWriteWins)
            .build()
            .unwrap();
        assert_eq!(
            resolver.order().collect::<Vec<_>>(),
            ["discount", "price", "total"]
        );
        let view = resolver.resolve(&sample());
        assert_eq!(
            json(&view),
            r#"{"id":"item1","properties":{"discount":15,"name":"Desk lamp","price":120,"total":105}}"#
        );
        // Dependencies see the values their own strategies resolved.
        let resolver = ViewResolver::builder()
            .strategy("price", FirstWriteWins)
            .strategy("discount", Sum)
            .resolver("total", total())
            .build()
            .unwrap();
        assert_eq!(
            resolver.resolve(&sample()).get("total"),
            Some(&Value::from(85))
        );
        // Without a discount, the total is the price; without a price, absent.
        let hv = hyperview(vec![("price", set("d1", 1, "a", "price", int(7)))]);
        let resolver = ViewResolver::builder()
            .strategy("price", crate::strategy::LastWriteWins)
            .strategy("discount", crate::strategy::LastWriteWins)
            .resolver("total", total())
            .build()
            .unwrap();
        assert_eq!(resolver.resolve(&hv).get("total"), Some(&Value::from(7)));
        let hv = hyperview(vec![("discount", set("d1", 1, "a", "discount", int(7)))]);
        assert_eq!(resolver.resolve(&hv).get("total"), None);
    }

    #[test]
    fn chains_resolve_in_dependency_order() {
        // c depends on b depends on a; listed in reverse, and names sort
        // against the order, so only the dependencies can put them right.
        let plus_one = |dep: &'static str| {
            Computed::new([dep], move |input| {
                let n = input.number(dep)?.as_i64()?;
                Some(Value::from(n + 1))
            })
        };
        let resolver = ViewResolver::builder()
            .resolver("a", plus_one("z"))
            .resolver("b", plus_one("a"))
            .strategy("z", crate::strategy::LastWriteWins)
            .build()
            .unwrap();
        assert_eq!(resolver.order().collect::<Vec<_>>(), ["z", "a", "b"]);
        let hv = hyperview(vec![("z", set("d1", 1, "x", "z", int(10)))]);
        let view = resolver.resolve(&hv);
        assert_eq!(view.get("a"), Some(&Value::from(11)));
        assert_eq!(view.get("b"), Some(&Value::from(12)));
        // An undeclared dependency is not visible to a resolver.
        let sneaky = Computed::new(Vec::<&str>::new(), |input| input.dependency("z").cloned());
        let resolver = ViewResolver::builder()
            .strategy("z", crate::strategy::LastWriteWins)
            .resolver("s", sneaky)
            .build()
            .unwrap();
        assert_eq!(resolver.resolve(&hv).get("s"), None);
    }

    #[test]
    fn a_resolver_sees_its_own_candidates() {
        let count_plus = Computed::new(["bonus"], |input| {
            let bonus = input.number("bonus").and_then(Number::as_i64).unwrap_or(0);
            Some(Value::from(input.candidates.len() as i64 + bonus))
        });
        let resolver = ViewResolver::builder()
            .resolver("price", count_plus)
            .strategy("bonus", crate::strategy::LastWriteWins)
            .build()
            .unwrap();
        assert_eq!(
            resolver.resolve(&sample()).get("price"),
            Some(&Value::from(2))
        );
    }

    fn cycle_of(builder: ViewResolverBuilder) -> String {
        match builder.build() {
            Err(Error::ResolverCycle { cycle }) => cycle,
            other => panic!("expected a cycle, got {other:?}"),
        }
    }

    fn on(
        deps: &[&'static str],
    ) -> Computed<impl for<'x> Fn(&Input<'x>) -> Option<Value> + Send + Sync> {
        Computed::new(deps.iter().copied(), |_| None)
    }

    #[test]
    fn cycles_are_refused_and_named() {
        let b = ViewResolver::builder().resolver("a", on(&["a"]));
        assert_eq!(cycle_of(b), "a -> a");
        let b = ViewResolver::builder()
            .resolver("a", on(&["b"]))
            .resolver("b", on(&["a"]));
        assert_eq!(cycle_of(b), "a -> b -> a");
        let b = ViewResolver::builder()
            .resolver("c", on(&["a"]))
            .resolver("b", on(&["c"]))
            .resolver("a", on(&["b"]));
        assert_eq!(cycle_of(b), "a -> b -> c -> a");
        // A cycle reached from outside it is named from where it closes.
        let b = ViewResolver::builder()
            .strategy("x", crate::strategy::LastWriteWins)
            .resolver("a", on(&["x", "m"]))
            .resolver("m", on(&["n"]))
            .resolver("n", on(&["m"]));
        let e = b.build().err().unwrap();
        assert_eq!(
            e.to_string(),
            "resolver dependencies form a cycle: m -> n -> m"
        );
    }

    #[test]
    fn missing_dependencies_and_duplicates_are_refused() {
        let e = ViewResolver::builder()
            .strategy("price", crate::strategy::LastWriteWins)
            .resolver("total", total())
            .build()
            .err()
            .unwrap();
        assert_eq!(
            e,
            Error::MissingDependency {
                property: "total".into(),
                dependency: "discount".into()
            }
        );
        let e = ViewResolver::builder()
            .strategy("price", crate::strategy::LastWriteWins)
            .resolver("price", on(&[]))
            .build()
            .err()
            .unwrap();
        assert_eq!(e.to_string(), r#"property "price" is given two resolvers"#);
    }

    #[test]
    fn resolve_with_lends_other_values() {
        // What a schema does: a reference replaced by a nested view.
        let hv = hyperview(vec![
            (
                "maker",
                set("d1", 1, "a", "maker", Target::reference("acme", "products")),
            ),
            ("name", set("d2", 2, "a", "name", Target::from("Lamp"))),
        ]);
        let acme = Value::Nested(Arc::new(View {
            id: "acme".into(),
            properties: BTreeMap::from([(Arc::from("name"), Value::from("ACME"))]),
        }));
        let view = ViewResolver::default().resolve_with(&hv, |property, delta| {
            match delta.value_for(E, property) {
                Some(Target::Reference { id, .. }) if &**id == "acme" => Some(acme.as_ref()),
                other => other.map(ValueRef::from),
            }
        });
        assert_eq!(
            json(&view),
            r#"{"id":"item1","properties":{"maker":{"id":"acme","properties":{"name":"ACME"}},"name":"Lamp"}}"#
        );
    }
}

#[cfg(test)]
mod properties {
    //! Strategies are functions of the ordered candidates.

    use std::sync::Arc;

    use proptest::prelude::*;

    use crate::strategy::test_support::{ENTITY, PROP, candidates, delta};
    use crate::strategy::{Context, StrategyRegistry};
    use crate::value::Value;
    use crate::{Number, Target};

    fn target() -> impl Strategy<Value = Target> {
        prop_oneof![
            Just(Target::Null),
            any::<bool>().prop_map(Target::Bool),
            (-5i64..5).prop_map(|i| Target::Number(Number::Int(i))),
            (-5i64..5).prop_map(|i| Target::Number(Number::Float(i as f64 / 2.0))),
            "[ab]{0,2}".prop_map(|s| Target::from(s.as_str())),
            "[xy]".prop_map(|s| Target::reference(s, "ctx")),
        ]
    }

    /// Deltas with random values, times, creators and hosts, in
    /// `(timeCreated, id)` order (some without a value).
    fn ordered_deltas() -> impl Strategy<Value = Vec<Arc<crate::Delta>>> {
        prop::collection::vec(
            (
                1u64..6,
                "[abc]",
                "[hk]",
                prop::option::weighted(0.9, target()),
            ),
            0..24,
        )
        .prop_map(|specs| {
            let mut ds: Vec<_> = specs
                .into_iter()
                .enumerate()
                .map(|(i, (t, creator, host, v))| {
                    delta(&format!("{}", i * 7 % 24), t, &creator, &host, v)
                })
                .collect();
            ds.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
            ds
        })
    }

    const NAMES: [&str; 17] = [
        "last-write-wins",
        "most-recent",
        "first-write-wins",
        "first-write",
        "all-values",
        "min",
        "minimum",
        "max",
        "maximum",
        "sum",
        "average",
        "count",
        "concatenation",
        "majority-vote",
        "consensus",
        "trusted-author",
        "trusted-system",
    ];

    proptest! {
        #[test]
        fn strategies_are_functions_of_the_ordered_candidates(ds in ordered_deltas(), trusted in prop::collection::vec("[abchk]", 0..3)) {
            let registry = StrategyRegistry::default();
            let trusted: Vec<Arc<str>> = trusted.into_iter().map(|s| Arc::from(s.as_str())).collect();
            let cx = Context::new(ENTITY, PROP).with_trusted(&trusted);
            let cs = candidates(&ds);
            // The same deltas as fresh allocations, reached another way.
            let copies: Vec<Arc<crate::Delta>> = ds.iter().map(|d| Arc::new((**d).clone())).collect();
            let cs2 = candidates(&copies);
            let values: Vec<Value> = cs.iter().map(|c| c.value.to_value()).collect();
            for name in NAMES {
                let s = registry.get(name).unwrap();
                let a = s.resolve(&cs, &cx);
                let b = s.resolve(&cs2, &cx);
                prop_assert_eq!(a.as_ref().map(Value::to_string), b.as_ref().map(Value::to_string), "{}", name);
                if cs.is_empty() {
                    prop_assert!(a.is_none(), "{} on nothing", name);
                }
            }
            // Through a view (where a strategy's scope may spare the other
            // candidates) the answer is the same.
            let hv = crate::Hyperview {
                id: ENTITY.into(),
                properties: std::collections::BTreeMap::from([(Arc::from(PROP), ds.clone())]),
            };
            for name in NAMES {
                let direct = registry.get(name).unwrap().resolve(&cs, &cx);
                let resolver = crate::view::ViewOptions {
                    strategy: Some(name.into()),
                    trusted: trusted.clone(),
                    ..Default::default()
                }
                .resolver(&registry)
                .unwrap();
                let view = resolver.resolve(&hv);
                prop_assert_eq!(view.get(PROP).map(Value::to_string), direct.map(|v| v.to_string()), "{}", name);
            }
            let get = |name: &str| registry.get(name).unwrap().resolve(&cs, &cx);
            prop_assert_eq!(get("last-write-wins").map(|v| v.to_string()), values.last().map(Value::to_string));
            prop_assert_eq!(get("first-write-wins").map(|v| v.to_string()), values.first().map(Value::to_string));
            prop_assert_eq!(get("count"), (!values.is_empty()).then(|| Value::from(values.len() as i64)));
            let all = get("all-values");
            prop_assert_eq!(
                all.map(|v| v.to_string()),
                (!values.is_empty()).then(|| Value::List(values.clone().into()).to_string())
            );
            // Majority vote returns a value that is there, with the most votes.
            if let Some(winner) = get("majority-vote") {
                let votes = |v: &Value| values.iter().filter(|w| w.json_eq(v)).count();
                let most = values.iter().map(votes).max().unwrap_or(0);
                prop_assert_eq!(votes(&winner), most);
            }
        }
    }
}
