//! Request ids: the client's `x-request-id` when it sends a sensible one,
//! else a fresh UUIDv7; returned on the response and carried by the
//! request's tracing span.

use axum::http::{HeaderMap, HeaderName, HeaderValue};

/// The header carrying the request id, both ways.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest client-chosen id honoured.
const MAX_LEN: usize = 128;

/// A request's id, in the request's extensions for handlers that want to
/// mention it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(pub HeaderValue);

impl RequestId {
    /// The client's id from `headers` if it is 1..=128 visible ASCII
    /// characters, else a new UUIDv7.
    ///
    /// ```
    /// use axum::http::{HeaderMap, HeaderValue};
    /// use rhizome::http::request_id::{RequestId, X_REQUEST_ID};
    /// let mut h = HeaderMap::new();
    /// h.insert(X_REQUEST_ID.clone(), HeaderValue::from_static("abc-1"));
    /// assert_eq!(RequestId::from_headers(&h).as_str(), "abc-1");
    /// assert_eq!(RequestId::from_headers(&HeaderMap::new()).as_str().len(), 36);
    /// ```
    pub fn from_headers(headers: &HeaderMap) -> RequestId {
        if let Some(v) = headers.get(&X_REQUEST_ID) {
            let bytes = v.as_bytes();
            if !bytes.is_empty()
                && bytes.len() <= MAX_LEN
                && bytes.iter().all(|b| b.is_ascii_graphic())
            {
                return RequestId(v.clone());
            }
        }
        RequestId::generate()
    }

    /// A new UUIDv7 id.
    pub fn generate() -> RequestId {
        let text = uuid::Uuid::now_v7().to_string();
        // A hyphenated UUID is always a valid header value.
        RequestId(HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("-")))
    }

    /// The id as text (always visible ASCII).
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or("-")
    }
}
