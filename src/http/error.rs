//! The one error shape of the HTTP API (API.md §3):
//! `{"error": {"code": "snake_case_code", "message": "human sentence", ...details}}`.
//!
//! Every handler answers errors with [`ApiError`]; a safety net
//! ([`ensure_error_shape`]) rewrites any other error response (a rejection from
//! one of axum's own extractors, say) into the same shape, so a client never sees
//! a bare text error.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;
use serde_json::{Map, Value};

/// An error answer: a status, a stable machine-readable `code`, a human
/// `message`, and optional details merged into the `error` object.
///
/// ```
/// use rhizome::http::ApiError;
/// let e = ApiError::invalid_parameter("limit", "must be a positive integer");
/// assert_eq!(e.status().as_u16(), 400);
/// assert_eq!(e.code(), "invalid_parameter");
/// assert_eq!(e.body()["error"]["parameter"], "limit");
/// ```
#[derive(Clone, Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Map<String, Value>,
}

impl ApiError {
    /// An error with any status and code. Prefer the named constructors.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            details: Map::new(),
        }
    }

    /// Adds a detail field next to `code` and `message` (`code` and
    /// `message` themselves cannot be overridden).
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if key != "code" && key != "message" {
            self.details.insert(key.to_owned(), value.into());
        }
        self
    }

    /// 400 with a caller-chosen code, for client faults with no constructor here.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 405 `method_not_allowed` (the router adds the `Allow` header).
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("{method} is not allowed on {path}"),
        )
        .with("method", method)
    }

    /// 408 `request_timeout`.
    pub fn request_timeout(limit_ms: u64) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request took longer than {limit_ms} ms"),
        )
        .with("limit_ms", limit_ms)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the limit of {limit_bytes} bytes"),
        )
        .with("limit_bytes", limit_bytes)
    }

    /// 415 `unsupported_media_type`.
    pub fn unsupported_media_type(found: Option<&str>) -> Self {
        let message = match found {
            Some(ct) => format!("the body must be application/json, not {ct}"),
            None => "the body must be application/json (content-type header missing)".to_owned(),
        };
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    /// 400 `invalid_json` (the body is not JSON) or `invalid_body` (it is
    /// JSON of the wrong shape), with serde's position.
    pub fn invalid_json(e: &serde_json::Error) -> Self {
        let code = if e.is_data() {
            "invalid_body"
        } else {
            "invalid_json"
        };
        Self::bad_request(code, format!("the body is not valid: {e}"))
            .with("line", e.line())
            .with("column", e.column())
    }

    /// 400 `invalid_json`: the body nests deeper than `limit`.
    pub fn too_deep(limit: usize) -> Self {
        Self::bad_request(
            "invalid_json",
            format!("the body nests arrays and objects deeper than the limit of {limit} levels"),
        )
        .with("nesting_limit", limit)
    }

    /// 400 `invalid_parameter` naming the query or path parameter.
    pub fn invalid_parameter(name: &str, problem: impl std::fmt::Display) -> Self {
        Self::bad_request("invalid_parameter", format!("parameter `{name}` {problem}"))
            .with("parameter", name)
    }

    /// 422 `unprocessable` with a caller-chosen code.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 503 `unavailable`: the node is shutting down or overloaded.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
    }

    /// 500 `internal`: a bug. The message is logged, and sent.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The machine-readable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The human message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The JSON body: `{"error": {"code", "message", ...details}}`.
    pub fn body(&self) -> Value {
        let mut error = Map::with_capacity(self.details.len() + 2);
        error.insert("code".to_owned(), Value::from(self.code));
        error.insert("message".to_owned(), Value::from(self.message.clone()));
        for (k, v) in &self.details {
            error.insert(k.clone(), v.clone());
        }
        let mut outer = Map::with_capacity(1);
        outer.insert("error".to_owned(), Value::Object(error));
        Value::Object(outer)
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, "{}", self.message);
        }
        let body = self.body().to_string();
        let mut response = (self.status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

impl ApiError {
    /// 400 `invalid_delta` for a delta or batch the codec refused, with the
    /// offending delta's `index` in the batch and the `field` when known;
    /// 400 `not_expressible` (with the delta's `id` and the `format`) for
    /// output a format cannot say.
    pub fn from_delta_error(e: &rhizome_crdt::Error) -> Self {
        if let rhizome_crdt::Error::NotExpressible { id, format, .. } = e {
            return ApiError::bad_request("not_expressible", e.to_string())
                .with("id", id.as_str())
                .with("format", format.as_str());
        }
        let mut out = ApiError::bad_request("invalid_delta", e.to_string());
        if let Some(index) = e.batch_index() {
            out = out.with("index", index);
        }
        if let Some(field) = e.field() {
            out = out.with("field", field);
        }
        out
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::Delta(e) => ApiError::from_delta_error(&e),
            crate::Error::Conflict { index, ref id } => ApiError::conflict(e.to_string())
                .with("index", index)
                .with("id", id.as_str()),
            crate::Error::ShuttingDown => ApiError::unavailable(e.to_string()),
            crate::Error::BadSignature {
                index,
                ref id,
                ref source,
            } => ApiError::bad_request("bad_signature", e.to_string())
                .with("index", index)
                .with("id", id.as_str())
                .with("reason", source.reason()),
            crate::Error::InvalidPlugin { ref name, .. } => {
                ApiError::unprocessable("invalid_plugin", e.to_string())
                    .with("plugin", name.as_str())
            }
            crate::Error::UnknownPlugin { ref name } => {
                ApiError::not_found(e.to_string()).with("plugin", name.as_str())
            }
            crate::Error::PluginUnavailable { ref name, .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "plugin_unavailable",
                e.to_string(),
            )
            .with("plugin", name.as_str()),
            crate::Error::PluginInUse {
                ref name,
                ref dependents,
            } => ApiError::new(StatusCode::CONFLICT, "plugin_in_use", e.to_string())
                .with("plugin", name.as_str())
                .with("dependents", dependents.clone()),
            crate::Error::RejectedByPlugin {
                ref plugin,
                index,
                ref reason,
            } => {
                let mut out = ApiError::unprocessable("rejected_by_plugin", e.to_string())
                    .with("plugin", plugin.as_str())
                    .with("reason", reason.as_str());
                if let Some(i) = index {
                    out = out.with("index", i);
                }
                out
            }
            other => ApiError::internal(other.to_string()),
        }
    }
}

/// The code of an error response that did not come from an [`ApiError`].
fn code_for(status: StatusCode) -> &'static str {
    match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::UNAUTHORIZED => "unauthenticated",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::CONFLICT => "conflict",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UNPROCESSABLE_ENTITY => "unprocessable",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "error",
    }
}

/// How much of a foreign error body is kept as the message.
const FOREIGN_MESSAGE_LIMIT: usize = 4096;

/// Middleware: an error response (4xx/5xx) that is not JSON is rewritten
/// into the error shape, keeping its status and headers (`Allow`, say) and
/// using its text as the message.
pub async fn ensure_error_shape(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let limited = http_body_util::Limited::new(body, FOREIGN_MESSAGE_LIMIT);
    let text = match limited.collect().await {
        Ok(collected) => String::from_utf8_lossy(&collected.to_bytes())
            .trim()
            .to_owned(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_owned()
    } else {
        text
    };
    let body = ApiError::new(status, code_for(status), message)
        .body()
        .to_string();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_code_message_and_details_but_details_cannot_override() {
        let e = ApiError::payload_too_large(10)
            .with("code", "other")
            .with("extra", 1);
        let b = e.body();
        assert_eq!(b["error"]["code"], "payload_too_large");
        assert_eq!(b["error"]["limit_bytes"], 10);
        assert_eq!(b["error"]["extra"], 1);
        assert!(b["error"]["message"].as_str().unwrap().contains("10 bytes"));
        assert_eq!(e.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn serde_errors_keep_their_position() {
        let e = serde_json::from_str::<Value>("{\n  \"a\": tru }").unwrap_err();
        let b = ApiError::invalid_json(&e).body();
        assert_eq!(b["error"]["code"], "invalid_json");
        assert_eq!(b["error"]["line"], 2);
        let e = serde_json::from_str::<u8>("\"x\"").unwrap_err();
        assert_eq!(ApiError::invalid_json(&e).code(), "invalid_body");
    }
}
