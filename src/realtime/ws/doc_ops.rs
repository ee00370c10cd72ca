//! The WebSocket ops of collaborative documents (API.md §7):
//!
//! | client sends | server answers |
//! |---|---|
//! | `{"op":"doc","id":S,"entity","property","heads"?}` | `{"type":"changes","sub":S,"changes":BASE64URL,"heads":[...]}`: what the client lacks, then the new changes, live |
//! | `{"op":"doc_put","ref":R,"entity","property","changes":BASE64URL}` | `{"type":"ack","ref":R,"accepted","duplicates"}` (change hashes) or an error frame |
//!
//! A `doc` subscription watches the entity (as `watch` does); when a batch
//! changes it, the changes the socket has not been sent yet (from the
//! node's document cache, since the heads last sent) go out in one frame.

use std::sync::Arc;

use rhizome_crdt::document::automerge::ChangeHash;
use rhizome_crdt::document::{base64url, from_base64url};
use serde_json::{Value, json};

use super::{Conn, Gone, error_frame};
use crate::documents::{parse_heads, post_changes};
use crate::http::routes::docs::{creator, posted_json, write_error};
use crate::realtime::dispatcher::Registration;
use crate::realtime::queue::WatchFlag;

/// One `doc` subscription.
pub(super) struct DocWatch {
    id: Value,
    entity: Arc<str>,
    property: String,
    /// The node's heads as last sent.
    heads: Vec<ChangeHash>,
    flag: Arc<WatchFlag>,
    _registration: Registration,
}

impl Conn {
    pub(super) async fn doc(
        &mut self,
        id: Value,
        entity: String,
        property: String,
        heads: Option<Vec<String>>,
    ) -> Result<(), Gone> {
        let key = match self.admit(&id) {
            Ok(k) => k,
            Err(f) => return self.send(f).await,
        };
        let heads = match parse_heads(&heads.unwrap_or_default()) {
            Ok(h) => h,
            Err(e) => {
                let f = error_frame(
                    Some(("sub", &id)),
                    "invalid_frame",
                    format!("heads: {e}"),
                    json!({"field": "heads"}),
                );
                return self.send(f).await;
            }
        };
        let entity: Arc<str> = entity.into();
        let flag = Arc::new(WatchFlag::new(Arc::clone(&self.wake)));
        // Registered before reading, so a change stored meanwhile raises
        // the flag (and is sent at most twice, which Automerge ignores).
        let registration = self.hub.watch(Arc::clone(&entity), Arc::clone(&flag)).await;
        let mut watch = DocWatch {
            id,
            entity,
            property,
            heads,
            flag,
            _registration: registration,
        };
        let frame = self.catch_up(&mut watch, true);
        self.docs.insert(key, watch);
        match frame {
            Some(f) => self.send(f).await,
            None => Ok(()),
        }
    }

    /// The frame of the changes `watch` has not sent yet (`always`: even if
    /// there are none, as the first answer), advancing its heads.
    fn catch_up(&self, watch: &mut DocWatch, always: bool) -> Option<String> {
        let answer = self
            .hub
            .node()
            .with_document(&watch.entity, &watch.property, None, |d| {
                (d.changes_since(&watch.heads), d.heads(), d.heads_hex())
            });
        let (bytes, heads, hex) = answer.unwrap_or_default();
        if bytes.is_empty() && !always {
            return None;
        }
        watch.heads = heads;
        Some(
            json!({
                "type": "changes",
                "sub": watch.id,
                "changes": base64url(&bytes),
                "heads": hex,
            })
            .to_string(),
        )
    }

    /// Frames for the `doc` subscriptions whose entity changed.
    pub(super) fn deliver_docs(&mut self, frames: &mut Vec<String>) {
        let mut docs = std::mem::take(&mut self.docs);
        for w in docs.values_mut() {
            if w.flag.take()
                && let Some(f) = self.catch_up(w, false)
            {
                frames.push(f);
            }
        }
        self.docs = docs;
    }

    pub(super) async fn doc_put(
        &mut self,
        reference: Value,
        entity: String,
        property: String,
        changes: String,
    ) -> Result<(), Gone> {
        let r = Some(("ref", &reference));
        let answer = match from_base64url(&changes) {
            Ok(bytes) => match creator(&self.caller, None) {
                Ok(creator) => post_changes(self.hub.node(), &entity, &property, &bytes, &creator)
                    .await
                    .map_err(write_error),
                Err(e) => Err(e),
            },
            Err(e) => Err(write_error(e.into())),
        };
        let frame = match answer {
            Ok(posted) => {
                let mut ack = posted_json(&posted);
                if let Some(o) = ack.as_object_mut() {
                    o.insert("type".into(), json!("ack"));
                    o.insert("ref".into(), reference);
                }
                ack.to_string()
            }
            Err(e) => {
                let body = e.body();
                let extra = body
                    .get("error")
                    .cloned()
                    .map(|mut x| {
                        if let Some(o) = x.as_object_mut() {
                            o.remove("code");
                            o.remove("message");
                        }
                        x
                    })
                    .unwrap_or(Value::Null);
                error_frame(r, e.code(), e.message().to_owned(), extra)
            }
        };
        self.send(frame).await
    }
}
