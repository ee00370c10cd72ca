//! A plugin's `resolve` hook as a resolution strategy ([`PluginStrategy`]),
//! registered under the plugin's name in the registry every request uses
//! (`?strategy=NAME`, `strategies=P:NAME`, schemas, queries, watch).

use std::sync::Arc;

use rhizome_crdt::Number;
use rhizome_crdt::strategy::{Candidate, Context, Strategy};
use rhizome_crdt::value::Value;
use serde::Serialize;

use super::runtime::Fault;
use super::supervisor::Shared;

/// The strategy of a plugin that exports `resolve`. It looks the plugin's
/// current version up at each call, so replacing the plugin changes what
/// the strategy answers without touching the registry.
///
/// While the plugin is restarting or failed, or when the call fails, the
/// property is absent from the view: a plugin never turns a read into an
/// error. The node drops its cached views whenever the plugin's state
/// changes, so such an answer is not kept once the plugin is back.
#[derive(Debug)]
pub struct PluginStrategy {
    pub(crate) shared: Arc<Shared>,
}

#[derive(Serialize)]
struct CandidateJson<'a> {
    value: rhizome_crdt::value::ValueRef<'a>,
    id: &'a str,
    creator: &'a str,
    host: &'a str,
    #[serde(rename = "timeCreated")]
    time_created: u64,
}

#[derive(Serialize)]
struct Input<'a> {
    entity: &'a str,
    property: &'a str,
    candidates: Vec<CandidateJson<'a>>,
}

/// The `resolve` hook's input for `candidates` of `cx`.
pub fn resolve_input(candidates: &[Candidate<'_>], cx: &Context<'_>) -> Vec<u8> {
    let input = Input {
        entity: cx.entity,
        property: cx.property,
        candidates: candidates
            .iter()
            .map(|c| CandidateJson {
                value: c.value,
                id: c.delta.id().as_str(),
                creator: c.delta.creator(),
                host: c.delta.host(),
                time_created: c.delta.time_created().as_millis(),
            })
            .collect(),
    };
    // Serialising strings and numbers cannot fail.
    serde_json::to_vec(&input).unwrap_or_default()
}

/// The value a `resolve` answer gives: `{"value": V}` or `{}` (no value).
///
/// ```
/// use rhizome::plugins::strategy::resolve_output;
/// use rhizome_crdt::value::Value;
/// assert_eq!(resolve_output(br#"{"value": "x"}"#).unwrap(), Some(Value::from("x")));
/// assert_eq!(resolve_output(b"{}").unwrap(), None);
/// assert!(resolve_output(b"[1").is_err());
/// ```
pub fn resolve_output(out: &[u8]) -> Result<Option<Value>, String> {
    let json: serde_json::Value =
        serde_json::from_slice(out).map_err(|e| format!("resolve answered invalid JSON: {e}"))?;
    let serde_json::Value::Object(mut o) = json else {
        return Err("resolve must answer an object: {\"value\": V} or {}".into());
    };
    match o.remove("value") {
        None => Ok(None),
        Some(v) => value_of(v).map(Some),
    }
}

fn value_of(v: serde_json::Value) -> Result<Value, String> {
    use serde_json::Value as J;
    Ok(match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(b),
        J::Number(n) => Value::Number(
            Number::from_json(&n).ok_or_else(|| format!("resolve answered the number {n}"))?,
        ),
        J::String(s) => Value::String(s.into()),
        J::Array(items) => Value::List(
            items
                .into_iter()
                .map(value_of)
                .collect::<Result<Vec<_>, _>>()?
                .into(),
        ),
        J::Object(o) => match (o.len(), o.get("id")) {
            (1, Some(J::String(id))) => Value::Reference(id.as_str().into()),
            _ => {
                return Err(
                    "resolve answered an object value; a value is null, a boolean, a number, a string, {\"id\": ID} or a list of those"
                        .into(),
                );
            }
        },
    })
}

impl Strategy for PluginStrategy {
    fn resolve(&self, candidates: &[Candidate<'_>], cx: &Context<'_>) -> Option<Value> {
        if candidates.is_empty() {
            return None;
        }
        let out = self.shared.resolve(&resolve_input(candidates, cx)).ok()?;
        match resolve_output(&out) {
            Ok(v) => v,
            Err(reason) => {
                self.shared.crash(&Fault::Abi(reason));
                None
            }
        }
    }
}
