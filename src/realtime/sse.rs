//! `GET /api/deltas?feed=sse`: the changes feed as server-sent events.
//!
//! Records are `id: SEQ` / `event: delta` / `data: DELTA`; first the
//! backlog after `since` (or after the `Last-Event-ID` header, which a
//! reconnecting `EventSource` sends by itself), then live deltas, without
//! gap or repeat. A comment line (`:`) is sent every
//! `RHIZOME_SSE_KEEPALIVE_MS`. When the subscription's buffer overflows, an
//! `event: overflow` record (whose `id` is the resume point) ends the
//! stream; the browser reconnects and resumes from it.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rhizome_crdt::codec::Format;
use std::collections::VecDeque;

use tokio::sync::Notify;

use super::SubFilter;
use super::dispatcher::{Registration, encode};
use super::queue::{End, Payload, SubQueue};
use crate::changes::MAX_SCAN;
use crate::http::error::ApiError;
use crate::http::query::QueryParams;
use crate::http::routes::deltas::FeedQuery;
use crate::http::state::AppState;
use crate::metrics::GaugeGuard;
use crate::store::Seq;

/// Deltas read from the changes feed per backlog page.
pub const BACKLOG_PAGE: usize = 256;

/// What a feed request asks for: where to start, which deltas, in which
/// format.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FeedRequest {
    /// Resume after this sequence number.
    pub since: Seq,
    /// Which deltas.
    pub filter: SubFilter,
    /// The JSON format of the deltas.
    pub format: Format,
}

impl FeedRequest {
    /// Reads the changes-feed parameters ([`FeedQuery`]; `limit` does not
    /// apply to a stream and is ignored); `Last-Event-ID`, when present,
    /// takes the place of `since`.
    pub fn parse(params: &QueryParams, headers: &HeaderMap) -> Result<FeedRequest, ApiError> {
        params.deny_unknown(FeedQuery::PARAMETERS)?;
        let feed = FeedQuery::parse(params)?;
        let mut since = feed.since;
        if let Some(v) = headers.get("last-event-id") {
            since = v
                .to_str()
                .ok()
                .and_then(|s| s.trim().parse::<Seq>().ok())
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_header",
                        "the Last-Event-ID header must be a sequence number",
                    )
                    .with("header", "last-event-id")
                })?;
        }
        let (filter, format) = (SubFilter::from_feed(feed.filter), feed.format);
        Ok(FeedRequest {
            since,
            filter,
            format,
        })
    }
}

/// Serves the changes feed as server-sent events (API.md §4):
/// `GET /api/deltas` calls it when `feed=sse`; `params` are the
/// changes-feed parameters ([`FeedQuery::PARAMETERS`]).
pub async fn sse_changes(state: AppState, params: QueryParams, headers: &HeaderMap) -> Response {
    let request = match FeedRequest::parse(&params, headers) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let hub = Arc::clone(&state.realtime);
    let wake = Arc::new(Notify::new());
    let mut keepalive = tokio::time::interval(hub.settings().sse_keepalive());
    keepalive.reset();
    let stream = Stream {
        queue: Arc::new(SubQueue::new(hub.settings().buffer(), Arc::clone(&wake))),
        wake,
        hub: Arc::clone(&hub),
        backlog_after: Some(request.since),
        request,
        pending: VecDeque::new(),
        registration: None,
        keepalive,
        finished: false,
        _open: GaugeGuard::inc(&crate::metrics::global().realtime_sse_streams),
    };
    // The stream is driven by the connection itself (no task, no channel):
    // when the client goes, the connection (src/http/raw_response.rs) drops the body and the
    // registration.
    let body = Body::from_stream(futures_util::stream::unfold(stream, Stream::step));
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// One SSE record.
pub fn record(seq: Seq, payload: &Payload) -> Bytes {
    let (event, data) = match payload {
        Payload::Delta(json) => ("delta", json),
        Payload::NotExpressible(json) => ("error", json),
    };
    Bytes::from(format!("id: {seq}\nevent: {event}\ndata: {data}\n\n"))
}

/// The backlog after a sequence number, read page by page from the
/// changes feed until the head of the log (what lands meanwhile the
/// dispatcher fills in when the subscription registers).
#[derive(Debug)]
pub struct Backlog<'a> {
    node: &'a crate::node::Node,
    filter: &'a SubFilter,
    format: Format,
    /// The last sequence number scanned.
    pub last: Seq,
    done: bool,
}

impl<'a> Backlog<'a> {
    /// The backlog after `since`.
    pub fn new(
        node: &'a crate::node::Node,
        since: Seq,
        filter: &'a SubFilter,
        format: Format,
    ) -> Self {
        Backlog {
            node,
            filter,
            format,
            last: since,
            done: false,
        }
    }

    /// Whether the head was reached.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// The next page of matching deltas, encoded; `None` once the head was
    /// reached ([`Backlog::last`] is then the registration point).
    pub fn next_page(&mut self) -> Option<Vec<(Seq, Payload)>> {
        if self.done {
            return None;
        }
        let page = self
            .node
            .changes(self.last, BACKLOG_PAGE, &self.filter.feed);
        let scanned = page.last_seq.saturating_sub(self.last);
        self.last = self.last.max(page.last_seq);
        // A short page not cut by the scan limit reached the head.
        self.done = page.deltas.len() < BACKLOG_PAGE && (scanned as usize) < MAX_SCAN;
        Some(
            page.deltas
                .iter()
                .filter(|(_, d)| self.filter.matches_properties(d))
                .map(|(seq, d)| (*seq, encode(d, self.format)))
                .collect(),
        )
    }
}

/// The state of one SSE response body.
struct Stream {
    hub: Arc<super::Hub>,
    request: FeedRequest,
    /// While paging the backlog: the last sequence number scanned.
    backlog_after: Option<Seq>,
    pending: VecDeque<(Seq, Payload)>,
    queue: Arc<SubQueue>,
    wake: Arc<Notify>,
    registration: Option<Registration>,
    keepalive: tokio::time::Interval,
    finished: bool,
    /// Counts the stream in `rhizome_realtime_sse_streams` while it lives.
    _open: GaugeGuard,
}

impl Stream {
    /// The next chunk of the body, or `None` to end it.
    async fn step(mut self) -> Option<(Result<Bytes, Infallible>, Stream)> {
        let mut drained = Vec::new();
        loop {
            if self.finished {
                return None;
            }
            if let Some((seq, p)) = self.pending.pop_front() {
                return Some((Ok(record(seq, &p)), self));
            }
            if let Some(after) = self.backlog_after {
                let node = Arc::clone(self.hub.node());
                let r = &self.request;
                let mut backlog = Backlog::new(&node, after, &r.filter, r.format);
                if let Some(page) = backlog.next_page() {
                    self.pending.extend(page);
                }
                let (done, last) = (backlog.is_done(), backlog.last);
                if done {
                    self.backlog_after = None;
                    let filter = std::mem::take(&mut self.request.filter);
                    let queue = Arc::clone(&self.queue);
                    let format = self.request.format;
                    self.registration = Some(self.hub.subscribe(last, filter, format, queue).await);
                } else {
                    self.backlog_after = Some(last);
                }
                continue;
            }
            drained.clear();
            match self.queue.drain(&mut drained, 64) {
                Some(End::Overflow { last_seq }) => {
                    self.pending.extend(drained.drain(..));
                    self.finished = self.pending.is_empty();
                    if self.finished {
                        let data = format!(
                            "id: {last_seq}\nevent: overflow\ndata: {{\"last_seq\":{last_seq}}}\n\n"
                        );
                        return Some((Ok(Bytes::from(data)), self));
                    }
                    continue;
                }
                Some(End::Closed) if drained.is_empty() => return None,
                _ => {}
            }
            if !drained.is_empty() {
                self.pending.extend(drained.drain(..));
                continue;
            }
            let shutdown = self.hub.shutdown().clone();
            tokio::select! {
                () = shutdown.raised() => return None,
                _ = self.keepalive.tick() => {
                    return Some((Ok(Bytes::from_static(b":\n\n")), self));
                }
                () = self.wake.notified() => {}
            }
        }
    }
}
