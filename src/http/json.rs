//! JSON request bodies: content type, size, nesting depth, then parsing, each
//! refused with its own error code.
//!
//! Handlers take [`JsonBody<T>`] (or [`OptionalJsonBody<T>`]) instead of
//! axum's `Json<T>`; code that already holds the bytes calls [`parse_body`].

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::limits::BodyLimit;

/// How deep arrays and objects may nest in a request body. Deeper bodies are
/// refused before they are parsed (a cheap byte scan), so a hostile body
/// cannot make the parser recurse.
pub const MAX_NESTING: usize = 64;

/// Checks that the headers announce a JSON body: `application/json` (any
/// parameters, such as `charset=utf-8`) or `application/*+json`.
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue, header};
/// let mut h = HeaderMap::new();
/// assert!(rhizome::http::json::require_json_content_type(&h).is_err());
/// h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
/// assert!(rhizome::http::json::require_json_content_type(&h).is_ok());
/// ```
pub fn require_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(ApiError::unsupported_media_type(None));
    };
    let text = value.to_str().unwrap_or("");
    let essence = text.split(';').next().unwrap_or("").trim();
    let is_json = essence.eq_ignore_ascii_case("application/json")
        || essence.split_once('/').is_some_and(|(ty, sub)| {
            ty.eq_ignore_ascii_case("application") && sub.to_ascii_lowercase().ends_with("+json")
        });
    if is_json {
        Ok(())
    } else {
        Err(ApiError::unsupported_media_type(Some(text)))
    }
}

/// Refuses `bytes` if its arrays and objects nest deeper than `limit`,
/// counting `[` and `{` outside strings. Runs in one pass without
/// allocating; says nothing about whether the rest is valid JSON.
///
/// ```
/// use rhizome::http::json::check_nesting;
/// assert!(check_nesting(br#"{"a": [[1]], "s": "[[[["}"#, 3).is_ok());
/// assert!(check_nesting(b"[[[[]]]]", 3).is_err());
/// ```
pub fn check_nesting(bytes: &[u8], limit: usize) -> Result<(), ApiError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(ApiError::too_deep(limit));
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses a JSON request body into `T`: content type (415), nesting
/// ([`MAX_NESTING`], 400 `invalid_json`), then serde (400 `invalid_json`
/// with line and column, or `invalid_body` when the JSON has the wrong
/// shape). The size limit is the caller's (the extractors enforce it).
pub fn parse_body<T: DeserializeOwned>(headers: &HeaderMap, bytes: &[u8]) -> Result<T, ApiError> {
    require_json_content_type(headers)?;
    check_nesting(bytes, MAX_NESTING)?;
    serde_json::from_slice(bytes).map_err(|e| ApiError::invalid_json(&e))
}

/// A response with a body already written as JSON (`content-type:
/// application/json`): for answers serialised without a `serde_json::Value`
/// in between (feed pages, hyperviews).
pub fn json_response(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Reads the whole body within the configured limit (413 past it).
async fn read_body(request: Request) -> Result<(HeaderMap, Bytes), ApiError> {
    let limit = request
        .extensions()
        .get::<BodyLimit>()
        .copied()
        .unwrap_or_default();
    let (parts, body) = request.into_parts();
    let bytes = http_body_util::BodyExt::collect(http_body_util::Limited::new(body, limit.0))
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::payload_too_large(limit.0)
            } else {
                ApiError::bad_request("invalid_body", format!("cannot read the body: {e}"))
            }
        })?
        .to_bytes();
    Ok((parts.headers, bytes))
}

/// Extractor: a JSON body parsed by [`parse_body`], within the body limit.
///
/// ```
/// use rhizome::http::{ApiError, json::JsonBody};
/// async fn handler(JsonBody(v): JsonBody<serde_json::Value>) -> Result<String, ApiError> {
///     Ok(v.to_string())
/// }
/// ```
#[derive(Debug)]
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let (headers, bytes) = read_body(request).await?;
        parse_body(&headers, &bytes).map(JsonBody)
    }
}

/// Extractor: the raw bytes of a JSON body, for handlers with their own
/// decoder (`POST /api/deltas`): content type (415), size (413) and nesting
/// ([`MAX_NESTING`], 400 `invalid_json`) are checked, parsing is not.
#[derive(Debug)]
pub struct JsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        require_json_content_type(request.headers())?;
        let (_, bytes) = read_body(request).await?;
        check_nesting(&bytes, MAX_NESTING)?;
        Ok(JsonBytes(bytes))
    }
}

/// Extractor: like [`JsonBody`], but an empty body (with or without a
/// content type) is `None`.
#[derive(Debug)]
pub struct OptionalJsonBody<T>(pub Option<T>);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for OptionalJsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, _state: &S) -> Result<Self, ApiError> {
        let (headers, bytes) = read_body(request).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionalJsonBody(None));
        }
        parse_body(&headers, &bytes).map(|v| OptionalJsonBody(Some(v)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn json_headers(ct: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        h
    }

    #[test]
    fn content_types() {
        for ok in [
            "application/json",
            "Application/JSON;charset=utf-8",
            "application/merge-patch+json",
        ] {
            assert!(require_json_content_type(&json_headers(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/jsonx",
            "application/x-www-form-urlencoded",
        ] {
            let e = require_json_content_type(&json_headers(bad)).unwrap_err();
            assert_eq!(e.code(), "unsupported_media_type", "{bad}");
        }
    }

    #[test]
    fn nesting_ignores_brackets_in_strings_and_escapes() {
        let s = format!(r#"{{"k": "{}\"[[[", "v": [1]}}"#, "[".repeat(100));
        assert!(check_nesting(s.as_bytes(), 2).is_ok());
        assert!(check_nesting(b"[[]]", 2).is_ok());
        assert_eq!(
            check_nesting(b"[[[]]]", 2).unwrap_err().code(),
            "invalid_json"
        );
        // A sequence of shallow values never accumulates depth.
        assert!(check_nesting("[]".repeat(1000).as_bytes(), 1).is_ok());
    }

    #[test]
    fn parse_body_orders_its_checks() {
        let deep = format!(
            "{}{}",
            "[".repeat(MAX_NESTING + 1),
            "]".repeat(MAX_NESTING + 1)
        );
        let h = json_headers("application/json");
        assert_eq!(
            parse_body::<serde_json::Value>(&HeaderMap::new(), b"{}")
                .unwrap_err()
                .code(),
            "unsupported_media_type"
        );
        let e = parse_body::<serde_json::Value>(&h, deep.as_bytes()).unwrap_err();
        assert_eq!(e.body()["error"]["nesting_limit"], MAX_NESTING);
        let e = parse_body::<serde_json::Value>(&h, b"{\"a\":").unwrap_err();
        assert_eq!(e.code(), "invalid_json");
        let v: serde_json::Value = parse_body(&h, b"{\"a\": [1]}").unwrap();
        assert_eq!(v["a"][0], 1);
    }
}
