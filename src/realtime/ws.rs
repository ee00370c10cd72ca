//! `GET /api/ws`: the WebSocket protocol of API.md §4, JSON text frames.
//!
//! | client sends | server answers |
//! |---|---|
//! | `{"op":"subscribe","id":S,"filter"?:F,"since"?:SEQ,"format"?}` | `{"type":"delta","sub":S,"seq","delta"}`, backlog then live |
//! | `{"op":"watch","id":S,"entity":E,"strategy"?,"as_of"?}` | `{"type":"view","sub":S,"view"}` now and on every change |
//! | `{"op":"unsubscribe","id":S}` | – |
//! | `{"op":"put","ref":R,"deltas":[...]}` | `{"type":"ack","ref":R,"accepted","duplicates"}` or `{"type":"error","ref":R,"error"}` |
//! | `{"op":"ping"}` | `{"type":"pong"}` |
//! | `{"op":"doc", ...}`, `{"op":"doc_put", ...}` | collaborative documents (API.md §7): [`doc_ops`] |
//!
//! One task per socket reads frames, drains its subscriptions' queues and
//! writes; a slow socket only ever waits on itself.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::SinkExt;
use rhizome_crdt::codec::Format;
use rhizome_crdt::schema::expand::Expander;
use rhizome_crdt::view::ViewOptions;
use rhizome_crdt::{Timestamp, ViewResolver};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::Notify;

use super::dispatcher::Registration;
use super::queue::{End, Payload, SubQueue, WatchFlag};
use super::sse::Backlog;
use super::{Hub, SubFilter};
use crate::auth::{Caller, Scope};
use crate::http::error::ApiError;
use crate::http::state::AppState;
use crate::metrics::GaugeGuard;
use crate::store::Seq;

mod doc_ops;

/// Upgrades the request to a WebSocket with small buffers (about 6 KB per
/// idle socket instead of 134 KB with tungstenite's defaults).
///
/// `caller` is who opened it: each operation needs its own scope (`read` to
/// subscribe and watch, `write` to put), and when the caller's token
/// expires the socket is closed (code 1008, "token expired").
pub fn upgrade(state: AppState, ws: WebSocketUpgrade, caller: Caller) -> Response {
    let max = state.realtime.settings().ws_max_message_bytes;
    ws.read_buffer_size(4096)
        .write_buffer_size(0)
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve(state.realtime, socket, caller))
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
enum Op {
    Subscribe {
        id: Value,
        #[serde(default)]
        filter: SubFilter,
        #[serde(default)]
        since: Seq,
        format: Option<String>,
    },
    Watch {
        id: Value,
        entity: String,
        schema: Option<String>,
        strategy: Option<String>,
        as_of: Option<u64>,
    },
    Unsubscribe {
        id: Value,
    },
    Put {
        #[serde(rename = "ref")]
        reference: Value,
        deltas: Value,
    },
    Ping,
    /// API.md §7: follow a document's changes.
    Doc {
        id: Value,
        entity: String,
        property: String,
        heads: Option<Vec<String>>,
    },
    /// API.md §7: store Automerge changes in a document.
    #[serde(rename = "doc_put")]
    DocPut {
        #[serde(rename = "ref")]
        reference: Value,
        entity: String,
        property: String,
        changes: String,
    },
}

/// An error frame: `{"type":"error", KEY: ID?, "error": {code, message, ...}}`,
/// counted in `rhizome_realtime_ws_frames_rejected_total{reason=code}`.
fn error_frame(
    key: Option<(&str, &Value)>,
    code: &'static str,
    message: impl Into<String>,
    extra: Value,
) -> String {
    crate::metrics::global().frame_rejected(code);
    let mut error = json!({"code": code, "message": message.into()});
    if let (Some(e), Value::Object(x)) = (error.as_object_mut(), extra) {
        e.extend(x);
    }
    let mut frame = json!({"type": "error", "error": error});
    if let (Some((k, id)), Some(f)) = (key, frame.as_object_mut()) {
        f.insert(k.to_owned(), id.clone());
    }
    frame.to_string()
}

struct SubEntry {
    /// The id as JSON, spliced into every frame.
    id_json: Arc<str>,
    queue: Arc<SubQueue>,
    _registration: Registration,
}

struct WatchEntry {
    id: Value,
    entity: Arc<str>,
    schema: Option<Arc<str>>,
    as_of: Option<Timestamp>,
    resolver: ViewResolver,
    flag: Arc<WatchFlag>,
    last: String,
    /// One registration per entity the last answer read (the entity, the
    /// entities nested under the schema, `_schema/NAME`): a batch changing
    /// any of them raises `flag`.
    registrations: HashMap<Arc<str>, Registration>,
}

impl WatchEntry {
    /// Keeps the registrations in step with what the answer read.
    async fn watch_exactly(&mut self, hub: &Hub, read: BTreeSet<Arc<str>>) {
        self.registrations.retain(|e, _| read.contains(e));
        for e in read {
            if !self.registrations.contains_key(&e) {
                let r = hub.watch(Arc::clone(&e), Arc::clone(&self.flag)).await;
                self.registrations.insert(e, r);
            }
        }
    }
}

struct Conn {
    hub: Arc<Hub>,
    socket: WebSocket,
    wake: Arc<Notify>,
    /// Keyed by the id's JSON text.
    subs: HashMap<String, SubEntry>,
    watches: HashMap<String, WatchEntry>,
    docs: HashMap<String, doc_ops::DocWatch>,
    caller: Caller,
}

/// Why the connection loop stops.
struct Gone;

async fn serve(hub: Arc<Hub>, socket: WebSocket, caller: Caller) {
    let _open = GaugeGuard::inc(&crate::metrics::global().realtime_ws_connections);
    let shutdown = hub.shutdown().clone();
    let mut conn = Conn {
        hub,
        socket,
        wake: Arc::new(Notify::new()),
        subs: HashMap::new(),
        watches: HashMap::new(),
        docs: HashMap::new(),
        caller,
    };
    let _ = conn.run(&shutdown).await;
}

impl Conn {
    async fn run(&mut self, shutdown: &super::Shutdown) -> Result<(), Gone> {
        let expires = self.caller.expires();
        loop {
            let wake = Arc::clone(&self.wake);
            tokio::select! {
                biased;
                () = shutdown.raised() => {
                    let _ = self.socket.send(Message::Close(Some(CloseFrame {
                        code: 1001,
                        reason: Utf8Bytes::from_static("the node is shutting down"),
                    }))).await;
                    return Ok(());
                }
                () = until(expires) => {
                    let _ = self.socket.send(Message::Close(Some(CloseFrame {
                        code: 1008,
                        reason: Utf8Bytes::from_static("token expired"),
                    }))).await;
                    return Ok(());
                }
                () = wake.notified() => self.deliver().await?,
                msg = self.socket.recv() => match msg {
                    None => return Ok(()),
                    Some(Ok(Message::Text(text))) => self.frame(text.as_str()).await?,
                    Some(Ok(Message::Binary(_))) => {
                        let f = error_frame(None, "binary_frame", "binary frames are not accepted; send JSON text frames", Value::Null);
                        self.send(f).await?;
                    }
                    Some(Ok(Message::Close(_))) => return Ok(()),
                    Some(Ok(_)) => {} // ping/pong: answered by the library
                    Some(Err(e)) => {
                        if let Some(f) = too_large(&e, self.hub.settings().ws_max_message_bytes) {
                            let _ = self.send(f).await;
                            let _ = self.socket.send(Message::Close(Some(CloseFrame {
                                code: 1009,
                                reason: Utf8Bytes::from_static("message too large"),
                            }))).await;
                        }
                        return Ok(());
                    }
                },
            }
        }
    }

    async fn send(&mut self, text: String) -> Result<(), Gone> {
        self.socket
            .send(Message::Text(text.into()))
            .await
            .map_err(|_| Gone)
    }

    /// Writes what the subscriptions' queues hold and the views that changed.
    async fn deliver(&mut self) -> Result<(), Gone> {
        let mut items = Vec::new();
        let mut ended = Vec::new();
        let mut frames = Vec::new();
        for (key, sub) in &self.subs {
            items.clear();
            let end = sub.queue.drain(&mut items, usize::MAX);
            for (seq, p) in items.drain(..) {
                frames.push(delta_frame(&sub.id_json, seq, &p));
            }
            match end {
                Some(End::Overflow { last_seq }) => {
                    frames.push(format!(
                        "{{\"type\":\"overflow\",\"sub\":{},\"last_seq\":{last_seq}}}",
                        sub.id_json
                    ));
                    ended.push(key.clone());
                }
                Some(End::Closed) => ended.push(key.clone()),
                None => {}
            }
        }
        for key in ended {
            self.subs.remove(&key);
        }
        for w in self.watches.values_mut() {
            if w.flag.take() {
                let (view, read) = compute_view(
                    &self.hub,
                    &w.entity,
                    w.schema.as_deref(),
                    w.as_of,
                    &w.resolver,
                );
                w.watch_exactly(&self.hub, read).await;
                if view != w.last {
                    frames.push(view_frame(&w.id, &view));
                    w.last = view;
                }
            }
        }
        self.deliver_docs(&mut frames);
        for f in frames {
            self.socket
                .feed(Message::Text(f.into()))
                .await
                .map_err(|_| Gone)?;
        }
        self.socket.flush().await.map_err(|_| Gone)
    }

    fn count(&self) -> usize {
        self.subs.len() + self.watches.len() + self.docs.len()
    }

    async fn frame(&mut self, text: &str) -> Result<(), Gone> {
        let value: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(e) => {
                let f = error_frame(
                    None,
                    "invalid_json",
                    format!("the frame is not JSON: {e}"),
                    Value::Null,
                );
                return self.send(f).await;
            }
        };
        let op: Op = match serde_json::from_value(value.clone()) {
            Ok(op) => op,
            Err(e) => {
                let (key, id) = ["id", "ref"]
                    .iter()
                    .find_map(|k| value.get(*k).map(|v| (*k, v)))
                    .map_or((None, None), |(k, v)| (Some(k), Some(v.clone())));
                let code = match value.get("op") {
                    Some(Value::String(op))
                        if ![
                            "subscribe",
                            "watch",
                            "unsubscribe",
                            "put",
                            "ping",
                            "doc",
                            "doc_put",
                        ]
                        .contains(&op.as_str()) =>
                    {
                        "unknown_op"
                    }
                    _ => "invalid_frame",
                };
                let f = error_frame(
                    key.zip(id.as_ref()),
                    code,
                    format!("the frame is not a valid operation: {e}"),
                    Value::Null,
                );
                return self.send(f).await;
            }
        };
        if let Some(f) = self.refuse(&op) {
            return self.send(f).await;
        }
        match op {
            Op::Ping => self.send(r#"{"type":"pong"}"#.to_owned()).await,
            Op::Unsubscribe { id } => {
                let key = id.to_string();
                self.subs.remove(&key);
                self.watches.remove(&key);
                self.docs.remove(&key);
                Ok(())
            }
            Op::Subscribe {
                id,
                filter,
                since,
                format,
            } => self.subscribe(id, filter, since, format).await,
            Op::Watch {
                id,
                entity,
                schema,
                strategy,
                as_of,
            } => self.watch(id, entity, schema, strategy, as_of).await,
            Op::Put { reference, deltas } => self.put(reference, deltas).await,
            Op::Doc {
                id,
                entity,
                property,
                heads,
            } => self.doc(id, entity, property, heads).await,
            Op::DocPut {
                reference,
                entity,
                property,
                changes,
            } => self.doc_put(reference, entity, property, changes).await,
        }
    }

    /// The error frame of an operation the caller's token does not allow.
    fn refuse(&self, op: &Op) -> Option<String> {
        let (scope, key, id) = match op {
            Op::Subscribe { id, .. } | Op::Watch { id, .. } => (Scope::Read, "sub", id),
            Op::Put { reference, .. } | Op::DocPut { reference, .. } => {
                (Scope::Write, "ref", reference)
            }
            Op::Doc { id, .. } => (Scope::Read, "sub", id),
            Op::Ping | Op::Unsubscribe { .. } => return None,
        };
        (!self.caller.may(scope)).then(|| {
            crate::metrics::global().auth_refused("forbidden");
            error_frame(
                Some((key, id)),
                "forbidden",
                format!("this needs a token with the {} scope", scope.as_str()),
                json!({"scope": scope.as_str()}),
            )
        })
    }

    /// Checks a new subscription's id and the per-socket limit.
    fn admit(&self, id: &Value) -> Result<String, String> {
        if !(id.is_string() || id.is_number()) {
            return Err(error_frame(
                Some(("sub", id)),
                "invalid_frame",
                "`id` must be a string or a number",
                json!({"field": "id"}),
            ));
        }
        let key = id.to_string();
        if self.subs.contains_key(&key)
            || self.watches.contains_key(&key)
            || self.docs.contains_key(&key)
        {
            return Err(error_frame(
                Some(("sub", id)),
                "duplicate_subscription",
                format!("a subscription with id {key} is already open on this socket"),
                Value::Null,
            ));
        }
        let limit = self.hub.settings().ws_max_subscriptions;
        if self.count() >= limit {
            return Err(error_frame(
                Some(("sub", id)),
                "too_many_subscriptions",
                format!("this socket already holds {limit} subscriptions and watches, the limit"),
                json!({"limit": limit}),
            ));
        }
        Ok(key)
    }

    async fn subscribe(
        &mut self,
        id: Value,
        filter: SubFilter,
        since: Seq,
        format: Option<String>,
    ) -> Result<(), Gone> {
        let key = match self.admit(&id) {
            Ok(k) => k,
            Err(f) => return self.send(f).await,
        };
        let format = match format.as_deref().map(str::parse::<Format>).transpose() {
            Ok(f) => f.unwrap_or_default(),
            Err(e) => {
                let f = error_frame(
                    Some(("sub", &id)),
                    "invalid_frame",
                    e.to_string(),
                    json!({"field": "format"}),
                );
                return self.send(f).await;
            }
        };
        let id_json: Arc<str> = key.as_str().into();
        let node = Arc::clone(self.hub.node());
        let mut backlog = Backlog::new(&node, since, &filter, format);
        while let Some(page) = backlog.next_page() {
            for (seq, p) in page {
                let frame = delta_frame(&id_json, seq, &p);
                self.socket
                    .feed(Message::Text(frame.into()))
                    .await
                    .map_err(|_| Gone)?;
            }
            self.socket.flush().await.map_err(|_| Gone)?;
        }
        let after = backlog.last;
        let queue = Arc::new(SubQueue::new(
            self.hub.settings().buffer(),
            Arc::clone(&self.wake),
        ));
        let registration = self
            .hub
            .subscribe(after, filter, format, Arc::clone(&queue))
            .await;
        self.subs.insert(
            key,
            SubEntry {
                id_json,
                queue,
                _registration: registration,
            },
        );
        Ok(())
    }

    async fn watch(
        &mut self,
        id: Value,
        entity: String,
        schema: Option<String>,
        strategy: Option<String>,
        as_of: Option<u64>,
    ) -> Result<(), Gone> {
        let key = match self.admit(&id) {
            Ok(k) => k,
            Err(f) => return self.send(f).await,
        };
        if let Some(schema) = &schema
            && !self
                .hub
                .node()
                .read(|s| s.schemas_as_of(None).get(schema).is_some())
        {
            let f = error_frame(
                Some(("sub", &id)),
                "unknown_schema",
                format!("no schema named {schema:?} is registered"),
                json!({"schema": schema}),
            );
            return self.send(f).await;
        }
        let schema: Option<Arc<str>> = schema.map(Arc::from);
        let as_of = match as_of.map(Timestamp::new).transpose() {
            Ok(t) => t,
            Err(e) => {
                let f = error_frame(
                    Some(("sub", &id)),
                    "invalid_frame",
                    format!("as_of: {e}"),
                    json!({"field": "as_of"}),
                );
                return self.send(f).await;
            }
        };
        let registry = self.hub.node().strategies();
        let resolver = match ViewOptions::from_query(strategy.as_deref(), None, None)
            .and_then(|o| o.resolver(&registry))
        {
            Ok(r) => r,
            Err(e) => {
                let f = error_frame(
                    Some(("sub", &id)),
                    "unknown_strategy",
                    e.to_string(),
                    json!({"field": "strategy"}),
                );
                return self.send(f).await;
            }
        };
        let entity: Arc<str> = entity.into();
        let flag = Arc::new(WatchFlag::new(Arc::clone(&self.wake)));
        let mut entry = WatchEntry {
            id,
            entity: Arc::clone(&entity),
            schema,
            as_of,
            resolver,
            flag,
            last: String::new(),
            registrations: HashMap::new(),
        };
        // Register before computing, so a batch stored meanwhile raises the
        // flag. The entities the answer read are known only after computing;
        // if the flag rose by then, compute once more with them registered.
        entry
            .watch_exactly(&self.hub, BTreeSet::from([Arc::clone(&entity)]))
            .await;
        let (mut view, read) = compute_view(
            &self.hub,
            &entity,
            entry.schema.as_deref(),
            as_of,
            &entry.resolver,
        );
        entry.watch_exactly(&self.hub, read).await;
        if entry.flag.take() {
            let (again, read) = compute_view(
                &self.hub,
                &entity,
                entry.schema.as_deref(),
                as_of,
                &entry.resolver,
            );
            entry.watch_exactly(&self.hub, read).await;
            view = again;
        }
        self.send(view_frame(&entry.id, &view)).await?;
        entry.last = view;
        self.watches.insert(key, entry);
        Ok(())
    }

    async fn put(&mut self, reference: Value, deltas: Value) -> Result<(), Gone> {
        let r = Some(("ref", &reference));
        let batch = match rhizome_crdt::codec::json::decode_batch_value(&deltas) {
            Ok(b) => b,
            Err(e) => {
                let f = error_frame(r, "invalid_delta", e.to_string(), Value::Null);
                return self.send(f).await;
            }
        };
        if let Err(e) = self.caller.check_creators(&batch) {
            return self.send(api_error_frame(r, ApiError::from(e))).await;
        }
        let frame = match self.hub.node().ingest(batch).await {
            Ok(done) => json!({
                "type": "ack",
                "ref": reference,
                "accepted": done.accepted.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
                "duplicates": done.duplicates.iter().map(|d| d.as_str()).collect::<Vec<_>>(),
            })
            .to_string(),
            // The same answer as POST /api/deltas would give, as a frame.
            Err(e) => api_error_frame(r, ApiError::from(e)),
        };
        self.send(frame).await
    }
}

/// An error frame carrying what the HTTP API would answer (`code`,
/// `message` and details); a 5xx is logged.
fn api_error_frame(key: Option<(&str, &Value)>, e: ApiError) -> String {
    if e.status().is_server_error() {
        tracing::error!("a WebSocket operation failed: {}", e.message());
    }
    let mut body = e.body();
    let extra = body
        .get_mut("error")
        .and_then(Value::as_object_mut)
        .map(|o| {
            o.remove("code");
            o.remove("message");
            Value::Object(std::mem::take(o))
        })
        .unwrap_or(Value::Null);
    error_frame(key, e.code(), e.message(), extra)
}

/// Resolves at `deadline` (never without one).
async fn until(deadline: Option<std::time::SystemTime>) {
    match deadline {
        Some(t) => {
            let left = t
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            tokio::time::sleep(left).await;
        }
        None => std::future::pending().await,
    }
}

fn too_large(e: &axum::Error, limit: usize) -> Option<String> {
    let text = e.to_string();
    (text.contains("too long") || text.contains("too large") || text.contains("Space limit")).then(
        || {
            error_frame(
                None,
                "message_too_large",
                format!("a message may have at most {limit} bytes"),
                json!({"limit_bytes": limit}),
            )
        },
    )
}

fn delta_frame(id_json: &str, seq: Seq, payload: &Payload) -> String {
    match payload {
        Payload::Delta(d) => {
            format!("{{\"type\":\"delta\",\"sub\":{id_json},\"seq\":{seq},\"delta\":{d}}}")
        }
        Payload::NotExpressible(e) => {
            format!("{{\"type\":\"error\",\"sub\":{id_json},\"seq\":{seq},\"error\":{e}}}")
        }
    }
}

fn view_frame(id: &Value, view_json: &str) -> String {
    format!("{{\"type\":\"view\",\"sub\":{id},\"view\":{view_json}}}")
}

/// The view of `entity` (under `schema`, if any) as JSON, and every entity
/// the answer read. An entity that does not exist (or that the schema's
/// projection leaves empty) answers `{"id", "properties": {}}`.
fn compute_view(
    hub: &Hub,
    entity: &str,
    schema: Option<&str>,
    as_of: Option<Timestamp>,
    resolver: &ViewResolver,
) -> (String, BTreeSet<Arc<str>>) {
    let answer = hub.node().read(|s| {
        let schemas = s.schemas_as_of(None);
        Expander::new(&s.index, &schemas, as_of).view(entity, schema, resolver)
    });
    let empty = || json!({"id": entity, "properties": {}}).to_string();
    match answer {
        Ok(Some(expansion)) => {
            let json = serde_json::to_string(&expansion.value).unwrap_or_else(|e| {
                tracing::error!("serialising a view: {e}");
                String::from("null")
            });
            (json, expansion.read)
        }
        // Err: the schema was retracted after the watch began; nothing to
        // show until it is registered again.
        Ok(None) | Err(_) => {
            let mut read = BTreeSet::from([Arc::from(entity)]);
            if let Some(name) = schema {
                read.insert(Arc::from(rhizome_crdt::schema::registry::entity_of(name)));
            }
            (empty(), read)
        }
    }
}
