//! One request served on the raw socket, without hyper: the router answers
//! it as any other, and its response is written here as HTTP/1.1 (chunked
//! unless its length is known), each body frame as it comes; then the
//! connection closes.
//!
//! Used for SSE feed requests ([`super::first_request`]), which stream for
//! hours: the connection then costs its socket, the response body and this
//! task's small state, not hyper's two 8 KiB buffers. While waiting for the
//! next frame the socket is watched, so a client that goes away is noticed
//! at once, not at the next keep-alive comment.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::SystemTime;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use bytes::Buf;
use http_body_util::BodyExt;
use hyper::body::Body as _;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tower::Service;

/// Serves `request` on `stream` through `router`, then closes the
/// connection. When `stop` is raised the response ends after the frame
/// being written (a streaming body normally ends by itself first, through
/// the real-time shutdown flag).
pub async fn serve(
    mut stream: TcpStream,
    peer: SocketAddr,
    mut router: Router,
    request: Box<Request<Body>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut request = *request;
    request.extensions_mut().insert(ConnectInfo(peer));
    // The router's future is boxed so that its size is not kept in this
    // task's state for as long as the response streams.
    let response = match Box::pin(router.call(request)).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    drop(router);
    let (parts, mut body) = response.into_parts();
    let bodyless = parts.status.is_informational()
        || parts.status == StatusCode::NO_CONTENT
        || parts.status == StatusCode::NOT_MODIFIED;
    let chunked = !bodyless
        && !parts.headers.contains_key(header::CONTENT_LENGTH)
        && body.size_hint().exact().is_none();
    let head = encode_head(&parts, body.size_hint().exact(), bodyless, chunked);
    drop(parts);
    if let Err(e) = stream.write_all(&head).await {
        tracing::debug!(%peer, "writing a response head: {e}");
        return;
    }
    drop(head);
    if !bodyless && let Err(e) = write_body(&mut stream, &mut body, chunked, &mut stop).await {
        tracing::debug!(%peer, "streamed response ended: {e}");
        return;
    }
    let _ = stream.shutdown().await;
}

/// The status line and headers, with `date`, `connection: close` and the
/// body's framing added.
fn encode_head(
    parts: &axum::http::response::Parts,
    exact_len: Option<u64>,
    bodyless: bool,
    chunked: bool,
) -> Vec<u8> {
    let mut head = Vec::with_capacity(256);
    let status = parts.status;
    let _ = write!(
        head,
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut line = |name: &[u8], value: &[u8]| {
        head.extend_from_slice(name);
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    };
    for (name, value) in &parts.headers {
        if name != header::CONNECTION && name != header::TRANSFER_ENCODING {
            line(name.as_str().as_bytes(), value.as_bytes());
        }
    }
    if !parts.headers.contains_key(header::DATE) {
        let date = httpdate::fmt_http_date(SystemTime::now());
        line(b"date", date.as_bytes());
    }
    if !bodyless {
        if chunked {
            line(b"transfer-encoding", b"chunked");
        } else if let (false, Some(n)) = (
            parts.headers.contains_key(header::CONTENT_LENGTH),
            exact_len,
        ) {
            line(b"content-length", n.to_string().as_bytes());
        }
    }
    line(b"connection", b"close");
    head.extend_from_slice(b"\r\n");
    head
}

/// Writes the body frame by frame (trailers are dropped) until it ends, the
/// client goes away, or `stop`.
async fn write_body(
    stream: &mut TcpStream,
    body: &mut Body,
    chunked: bool,
    stop: &mut watch::Receiver<bool>,
) -> io::Result<()> {
    loop {
        let frame = tokio::select! {
            biased;
            frame = body.frame() => frame,
            gone = closed(&*stream) => return Err(gone),
            _ = stop.wait_for(|stopping| *stopping) => None,
        };
        let data = match frame {
            None => break,
            Some(Err(e)) => return Err(io::Error::other(e)),
            Some(Ok(frame)) => match frame.into_data() {
                Ok(data) if !data.is_empty() => data,
                _ => continue,
            },
        };
        if chunked {
            let mut size = [0u8; 18];
            let mut cursor = io::Cursor::new(&mut size[..]);
            write!(cursor, "{:x}\r\n", data.len())?;
            let n = usize::try_from(cursor.position()).unwrap_or(0);
            let mut chunk = (&size[..n]).chain(data).chain(&b"\r\n"[..]);
            stream.write_all_buf(&mut chunk).await?;
        } else {
            stream.write_all(&data).await?;
        }
    }
    if chunked {
        stream.write_all(b"0\r\n\r\n").await?;
    }
    Ok(())
}

/// Resolves once the client has closed its side (or the socket failed);
/// bytes it sends after its request are read and ignored.
async fn closed(stream: &TcpStream) -> io::Error {
    let mut scratch = [0u8; 32];
    loop {
        if let Err(e) = stream.readable().await {
            return e;
        }
        match stream.try_read(&mut scratch) {
            Ok(0) => return io::Error::from(io::ErrorKind::UnexpectedEof),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return e,
        }
    }
}
