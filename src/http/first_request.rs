//! A connection's first request head, read by the server itself before
//! hyper sees the connection.
//!
//! An SSE feed request (`GET /api/deltas?feed=...sse...`) is served on the
//! raw socket ([`super::raw_response`]): hyper's HTTP/1 connection keeps an
//! 8 KiB write buffer and an 8 KiB read buffer for as long as a response
//! streams, more than an idle SSE stream may cost (benches/README.md). Every
//! other connection goes to hyper with the bytes read so far replayed first
//! ([`Replay`]), so hyper parses, answers and errs exactly as it would have.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri, Version};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How long a client may take to send a request head (hyper's default,
/// which the server also sets on hyper's connections).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The head buffer's first size: an `EventSource` request fits.
const HEAD_BUFFER: usize = 2048;

/// Past this many bytes without a complete head, the connection goes to
/// hyper (whose limits then apply) rather than being read further here.
const HEAD_MAX: usize = 8192;

/// Headers parsed here at most (hyper's default limit); more go to hyper.
const MAX_HEADERS: usize = 100;

/// The one path served on the raw socket, with `feed=sse`.
const SSE_PATH: &str = "/api/deltas";

/// What the first request on a connection is.
#[derive(Debug)]
pub enum FirstRequest {
    /// An SSE feed request without a body, the whole of what was read: to
    /// be served on the raw socket.
    Sse(Box<Request<Body>>),
    /// Anything else (another request, a malformed or oversized head, the
    /// client closing early): the bytes read, for hyper to read first.
    Other(Vec<u8>),
}

/// Reads the first request head from `stream` (without a timeout: the
/// caller bounds it with [`HEADER_READ_TIMEOUT`]). A read error is returned
/// as is; the connection is then of no use.
pub async fn read(stream: &mut TcpStream) -> io::Result<FirstRequest> {
    let mut buf = Vec::with_capacity(HEAD_BUFFER);
    loop {
        if buf.len() == buf.capacity() {
            if buf.len() >= HEAD_MAX {
                return Ok(FirstRequest::Other(buf));
            }
            buf.reserve(HEAD_MAX - buf.len());
        }
        if stream.read_buf(&mut buf).await? == 0 {
            // Closed before a whole head: hyper says what it says to that.
            return Ok(FirstRequest::Other(buf));
        }
        match classify(&buf) {
            Head::Partial => {}
            Head::Sse(request) => return Ok(FirstRequest::Sse(request)),
            Head::Other => return Ok(FirstRequest::Other(buf)),
        }
    }
}

/// What the bytes read so far are.
enum Head {
    Partial,
    Sse(Box<Request<Body>>),
    Other,
}

/// Parses `buf` as a request head; an SSE feed request without a body and
/// with nothing after its head becomes a request for the router.
fn classify(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    let end = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(end)) => end,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::Other,
    };
    // Pipelined bytes after the head are hyper's to serve.
    if end != buf.len() || parsed.method != Some("GET") || parsed.version != Some(1) {
        return Head::Other;
    }
    let Some(uri) = parsed.path.and_then(|p| Uri::try_from(p).ok()) else {
        return Head::Other;
    };
    if uri.path() != SSE_PATH || !asks_for_sse(uri.query()) {
        return Head::Other;
    }
    let mut map = HeaderMap::with_capacity(parsed.headers.len());
    for h in parsed.headers.iter() {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(h.name.as_bytes()),
            HeaderValue::from_bytes(h.value),
        ) else {
            return Head::Other;
        };
        // A body (which a GET does not need) is hyper's to read.
        let bodyless = match name.as_str() {
            "transfer-encoding" => false,
            "content-length" => value.as_bytes().trim_ascii() == b"0",
            _ => true,
        };
        if !bodyless {
            return Head::Other;
        }
        map.append(name, value);
    }
    let mut request = Request::new(Body::empty());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = uri;
    *request.version_mut() = Version::HTTP_11;
    *request.headers_mut() = map;
    Head::Sse(Box::new(request))
}

/// Whether a query string has `feed=sse` (form-encoded, as the router
/// reads it).
fn asks_for_sse(query: Option<&str>) -> bool {
    query.is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "feed" && v == "sse")
    })
}

/// An I/O object that yields `prefix` before reading from `inner`; writes
/// go straight to `inner`. The prefix is freed once read.
#[derive(Debug)]
pub struct Replay<T> {
    prefix: Vec<u8>,
    read: usize,
    inner: T,
}

impl<T> Replay<T> {
    /// `inner`, read after `prefix`.
    pub fn new(prefix: Vec<u8>, inner: T) -> Replay<T> {
        Replay {
            prefix,
            read: 0,
            inner,
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Replay<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.read < this.prefix.len() {
            let rest = &this.prefix[this.read..];
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.read += n;
            if this.read == this.prefix.len() {
                this.prefix = Vec::new();
                this.read = 0;
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Replay<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_sse(head: &str) -> bool {
        matches!(classify(head.as_bytes()), Head::Sse(_))
    }

    #[test]
    fn only_a_bodyless_sse_feed_get_is_taken() {
        let sse =
            "GET /api/deltas?since=3&feed=sse HTTP/1.1\r\nhost: x\r\nlast-event-id: 4\r\n\r\n";
        let Head::Sse(r) = classify(sse.as_bytes()) else {
            panic!("not taken")
        };
        assert_eq!(r.uri().query(), Some("since=3&feed=sse"));
        assert_eq!(r.headers()["last-event-id"], "4");
        assert!(is_sse(
            "GET /api/deltas?feed=%73se HTTP/1.1\r\ncontent-length: 0\r\n\r\n"
        ));
        for other in [
            "GET /api/deltas HTTP/1.1\r\n\r\n",
            "GET /api/deltas?feed=ssex HTTP/1.1\r\n\r\n",
            "GET /api/deltas/x?feed=sse HTTP/1.1\r\n\r\n",
            "POST /api/deltas?feed=sse HTTP/1.1\r\n\r\n",
            "GET /api/deltas?feed=sse HTTP/1.0\r\n\r\n",
            "GET /api/deltas?feed=sse HTTP/1.1\r\ncontent-length: 2\r\n\r\nab",
            "GET /api/deltas?feed=sse HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
            "GET /api/deltas?feed=sse HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n",
            "GARBAGE\r\n\r\n",
        ] {
            assert!(matches!(classify(other.as_bytes()), Head::Other), "{other}");
        }
        assert!(matches!(
            classify(b"GET /api/deltas?feed=sse HTTP/1.1\r\nhost"),
            Head::Partial
        ));
    }

    #[tokio::test]
    async fn replay_yields_the_prefix_then_the_inner_reader() {
        let mut r = Replay::new(b"abc".to_vec(), &b"def"[..]);
        let mut out = String::new();
        r.read_to_string(&mut out).await.unwrap();
        assert_eq!(out, "abcdef");
        assert!(r.prefix.is_empty());
    }
}
