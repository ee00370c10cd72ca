//! The one middleware that decides who may make a request (API.md §6):
//!
//! 1. `Host`: while the node listens on a loopback address, a `Host` that is
//!    not a loopback name or address gets 421 (DNS rebinding).
//! 2. `Origin`: a request from a web page is served only if its origin is
//!    allowed ([`Origins`](super::Origins)); else 403 `origin_not_allowed` —
//!    JSON routes, the SSE feed and WebSocket upgrades alike. Allowed
//!    cross-origin requests get CORS headers, and their preflights (`OPTIONS`)
//!    an answer.
//! 3. The token (`Authorization: Bearer`, or `?token=`, which is then taken
//!    out of the query so it reaches no handler and no log): checked against
//!    the scope the matched route declares in its table entry; 401
//!    `unauthenticated` (with `WWW-Authenticate: Bearer`) or 403 `forbidden`.
//!    The [`Caller`] is left in the request for handlers. A streaming
//!    response of a token that expires ends at that moment.

use std::sync::OnceLock;
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::StreamExt;

use super::origin::is_loopback_host;
use super::{AuthError, Caller, Scope};
use crate::http::error::ApiError;
use crate::http::routes::{self, Route};
use crate::http::state::AppState;

/// How long browsers may cache a preflight answer.
const PREFLIGHT_MAX_AGE: &str = "600";

/// The SSE record sent when a stream ends because its token expired.
const EXPIRED_EVENT: &[u8] = b"event: error\ndata: {\"error\":{\"code\":\"token_expired\",\"message\":\"the token has expired; reconnect with a new one\"}}\n\n";

/// Middleware: the `Host`, `Origin` and token rules, in that order.
pub async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let auth = &state.auth;
    let host = request
        .headers()
        .get(header::HOST)
        .map(|h| h.to_str().unwrap_or("\u{fffd}").to_owned());
    if state.node.config().http_addr.is_loopback()
        && let Some(h) = &host
        && !is_loopback_host(h)
    {
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "misdirected_request",
            "this node listens on a loopback address and answers only to a loopback Host \
             (localhost, 127.0.0.1, [::1]); see docs/security.md",
        )
        .with("host", h.as_str())
        .into_response();
    }
    let origin = match request.headers().get(header::ORIGIN) {
        None => None,
        Some(o) => {
            let o = o.to_str().unwrap_or("null").to_owned();
            if !auth.origins().allows(&o, host.as_deref()) {
                crate::metrics::global().auth_refused("origin");
                return ApiError::new(
                    StatusCode::FORBIDDEN,
                    "origin_not_allowed",
                    format!(
                        "web pages of origin {o} may not call this node (allow it with RHIZOME_CORS_ORIGINS)"
                    ),
                )
                .with("origin", o)
                .into_response();
            }
            Some(o)
        }
    };
    if request.method() == Method::OPTIONS
        && let Some(o) = &origin
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        return preflight(o);
    }

    let token = take_token(&mut request);
    let route = route_of(&request);
    let scope = route.map_or(Scope::Open, |r| r.scope);
    let mut expires = None;
    if auth.is_on() {
        match auth.authenticate(token.as_deref(), SystemTime::now()) {
            Ok(Some(principal)) => {
                if !principal.has(scope) {
                    crate::metrics::global().auth_refused("forbidden");
                    return with_cors(forbidden(scope), origin.as_deref());
                }
                expires = principal.expires();
                request.extensions_mut().insert(Caller::new(principal));
            }
            Ok(None) => {}
            Err(e) if scope == Scope::Open => {
                // An open route ignores a bad token.
                let _ = e;
            }
            Err(e) => {
                crate::metrics::global().auth_refused(match e {
                    AuthError::Missing => "missing",
                    AuthError::Expired => "expired",
                    _ => "invalid",
                });
                return with_cors(unauthenticated(&e), origin.as_deref());
            }
        }
    }
    let mut response = next.run(request).await;
    if let Some(deadline) = expires
        && (route.is_some_and(|r| r.long_lived) || is_event_stream(&response))
    {
        response = end_at(response, deadline);
    }
    with_cors(response, origin.as_deref())
}

/// The route the request matched, from the route table.
fn route_of(request: &Request) -> Option<&'static Route> {
    static TABLE: OnceLock<foldhash::HashMap<(Method, &'static str), &'static Route>> =
        OnceLock::new();
    let table = TABLE.get_or_init(|| {
        routes::all()
            .map(|r| ((r.method.clone(), r.path), r))
            .collect()
    });
    let path = request.extensions().get::<MatchedPath>()?.as_str();
    // HEAD is answered by the GET route.
    let method = if request.method() == Method::HEAD {
        Method::GET
    } else {
        request.method().clone()
    };
    table.get(&(method, path)).copied()
}

/// The bearer token of `request`: the `Authorization` header, else the
/// `token` query parameter. The parameter is removed from the request
/// either way, so no handler sees it and no log shows it.
fn take_token(request: &mut Request) -> Option<String> {
    let from_query = strip_token(request.uri_mut());
    bearer(request.headers()).or(from_query)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// Removes `token=...` from `uri`'s query, returning its (decoded) value.
fn strip_token(uri: &mut Uri) -> Option<String> {
    let query = uri.query()?;
    let mut token = None;
    let mut kept = Vec::new();
    for part in query.split('&') {
        let key = part.split('=').next().unwrap_or("");
        if key == "token" {
            if token.is_none() {
                token = form_urlencoded::parse(part.as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned());
            }
        } else {
            kept.push(part);
        }
    }
    token.as_ref()?;
    let path = uri.path();
    let rebuilt = if kept.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", kept.join("&"))
    };
    let mut parts = std::mem::take(uri).into_parts();
    parts.path_and_query = rebuilt.parse().ok();
    if let Ok(u) = Uri::from_parts(parts) {
        *uri = u;
    }
    token
}

fn unauthenticated(e: &AuthError) -> Response {
    let challenge = match e {
        AuthError::Missing => r#"Bearer realm="rhizome""#,
        _ => r#"Bearer realm="rhizome", error="invalid_token""#,
    };
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", e.to_string()).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    response
}

fn forbidden(scope: Scope) -> Response {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("this needs a token with the {} scope", scope.as_str()),
    )
    .with("scope", scope.as_str())
    .into_response()
}

fn preflight(origin: &str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(
            "authorization, content-type, accept, last-event-id, x-request-id",
        ),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE),
    );
    with_cors(response, Some(origin))
}

/// Adds the CORS headers of an allowed `origin` (a request without one gets
/// none).
fn with_cors(mut response: Response, origin: Option<&str>) -> Response {
    let Some(origin) = origin else {
        return response;
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(origin) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    h.append(header::VARY, HeaderValue::from_static("origin"));
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("www-authenticate, x-request-id"),
    );
    response
}

/// Whether `response` is an SSE stream (`GET /api/deltas?feed=sse` shares
/// its route with the paged feed).
fn is_event_stream(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
}

/// Ends a streaming response at `deadline` (an SSE stream with a last
/// `error` event saying why).
fn end_at(response: Response, deadline: SystemTime) -> Response {
    let sse = is_event_stream(&response);
    let (parts, body) = response.into_parts();
    let left = deadline
        .duration_since(SystemTime::now())
        .unwrap_or_default();
    let data = body.into_data_stream().take_until(tokio::time::sleep(left));
    let tail = futures_util::stream::once(async move {
        (sse && SystemTime::now() >= deadline).then(|| Ok(Bytes::from_static(EXPIRED_EVENT)))
    })
    .filter_map(std::future::ready);
    Response::from_parts(parts, Body::from_stream(data.chain(tail)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_parameter_is_taken_out_of_the_query() {
        let mut uri: Uri = "/api/deltas?feed=sse&token=a%2Bb&since=3".parse().unwrap();
        assert_eq!(strip_token(&mut uri).as_deref(), Some("a+b"));
        assert_eq!(uri.to_string(), "/api/deltas?feed=sse&since=3");
        let mut only: Uri = "/api/ws?token=t".parse().unwrap();
        assert_eq!(strip_token(&mut only).as_deref(), Some("t"));
        assert_eq!(only.to_string(), "/api/ws");
        let mut none: Uri = "/api/ws?tokens=t".parse().unwrap();
        assert_eq!(strip_token(&mut none), None);
        assert_eq!(none.to_string(), "/api/ws?tokens=t");
    }

    #[test]
    fn bearer_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer  abc "),
        );
        assert_eq!(bearer(&h).as_deref(), Some("abc"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic abc"));
        assert_eq!(bearer(&h), None);
    }
}
