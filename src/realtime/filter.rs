//! The filter of a subscription (API.md §4): the changes feed's filter
//! plus `properties`. Lists are OR'ed, fields AND'ed; an empty or absent
//! list means "any".

use rhizome_crdt::Delta;
use serde::Deserialize;

use crate::changes::FeedFilter;

/// Which deltas a subscription wants.
///
/// ```
/// use rhizome::realtime::SubFilter;
/// let f: SubFilter = serde_json::from_str(r#"{"entities": ["alice"], "properties": ["name"]}"#).unwrap();
/// let d = rhizome_crdt::Delta::builder("c", "h").set_property("alice", "name", "Alice").build().unwrap();
/// assert!(f.matches(&d));
/// let d = rhizome_crdt::Delta::builder("c", "h").set_property("alice", "age", 3).build().unwrap();
/// assert!(!f.matches(&d));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "Wire")]
pub struct SubFilter {
    /// The changes feed's fields: entities, creators, hosts, from, to.
    pub feed: FeedFilter,
    /// Deltas filed under any of these property names (a reference whose
    /// context is one of them).
    pub properties: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    #[serde(default)]
    entities: Vec<String>,
    #[serde(default)]
    creators: Vec<String>,
    #[serde(default)]
    hosts: Vec<String>,
    #[serde(default)]
    properties: Vec<String>,
    from: Option<u64>,
    to: Option<u64>,
}

impl From<Wire> for SubFilter {
    fn from(w: Wire) -> SubFilter {
        SubFilter {
            feed: FeedFilter {
                entities: w.entities,
                creators: w.creators,
                hosts: w.hosts,
                from: w.from,
                to: w.to,
            },
            properties: w.properties,
        }
    }
}

/// The field a subscription is indexed under by the dispatcher: the first
/// non-empty list among entities, properties, creators, hosts. Since fields
/// are AND'ed, a matching delta always has a key in that list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexField {
    /// Indexed by referenced entity.
    Entities,
    /// Indexed by the context of references.
    Properties,
    /// Indexed by creator.
    Creators,
    /// Indexed by host.
    Hosts,
    /// No list: a candidate for every delta.
    Unfiltered,
}

impl SubFilter {
    /// A filter with only the changes feed's fields.
    pub fn from_feed(feed: FeedFilter) -> SubFilter {
        SubFilter {
            feed,
            properties: Vec::new(),
        }
    }

    /// Whether `delta` passes every field.
    pub fn matches(&self, delta: &Delta) -> bool {
        self.feed.matches(delta) && self.matches_properties(delta)
    }

    /// Whether `delta` passes the `properties` field alone.
    pub fn matches_properties(&self, delta: &Delta) -> bool {
        self.properties.is_empty()
            || delta
                .references()
                .any(|(_, ctx)| ctx.is_some_and(|c| self.properties.iter().any(|p| p == c)))
    }

    /// The field to index the subscription under, and its keys.
    pub fn index(&self) -> (IndexField, &[String]) {
        if !self.feed.entities.is_empty() {
            (IndexField::Entities, &self.feed.entities)
        } else if !self.properties.is_empty() {
            (IndexField::Properties, &self.properties)
        } else if !self.feed.creators.is_empty() {
            (IndexField::Creators, &self.feed.creators)
        } else if !self.feed.hosts.is_empty() {
            (IndexField::Hosts, &self.feed.hosts)
        } else {
            (IndexField::Unfiltered, &[])
        }
    }
}
