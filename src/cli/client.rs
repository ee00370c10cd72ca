//! A small HTTP/1.1 client for the command line: one kept-alive connection
//! to the node, plain HTTP only (no TLS: a node serves plain HTTP; put a
//! TLS proxy in front of it and talk to the proxy from elsewhere).

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

use crate::{Error, Result};

/// A node's base URL, `http://HOST:PORT[/PREFIX]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    /// `HOST:PORT` to connect to (port 80 if the URL has none).
    pub authority: String,
    /// Path prefix without a trailing slash (usually empty).
    pub prefix: String,
}

impl BaseUrl {
    /// Parses `http://host[:port][/prefix]`.
    ///
    /// ```
    /// use rhizome::cli::client::BaseUrl;
    /// let u = BaseUrl::parse("http://127.0.0.1:4000/").unwrap();
    /// assert_eq!((u.authority.as_str(), u.prefix.as_str()), ("127.0.0.1:4000", ""));
    /// assert!(BaseUrl::parse("https://example.com").is_err());
    /// ```
    pub fn parse(url: &str) -> Result<BaseUrl> {
        let bad = |problem: &str| Error::Client(format!("--url {url:?} {problem}"));
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("must start with http:// (the client speaks plain HTTP only)"))?;
        let (authority, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(bad("has no host"));
        }
        let has_port = match authority.rfind(':') {
            Some(i) => !authority[i..].contains(']'),
            None => false,
        };
        let authority = if has_port {
            authority.to_owned()
        } else {
            format!("{authority}:80")
        };
        Ok(BaseUrl {
            authority,
            prefix: prefix.to_owned(),
        })
    }
}

/// An answer: status and body.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> Result<Value> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::Client(format!("the node answered something that is not JSON: {e}"))
        })
    }

    /// `Ok(self)` on a 2xx status, else the node's error as one line
    /// (`404 not_found: no delta with id "x" is stored`).
    pub fn ok(self) -> Result<Answer> {
        if self.status.is_success() {
            return Ok(self);
        }
        let detail = serde_json::from_slice::<Value>(&self.body)
            .ok()
            .and_then(|v| {
                let e = v.get("error")?;
                Some(format!(
                    "{}: {}",
                    e.get("code")?.as_str()?,
                    e.get("message")?.as_str()?
                ))
            })
            .unwrap_or_else(|| String::from_utf8_lossy(&self.body).trim().to_owned());
        Err(Error::Client(format!("{} {detail}", self.status.as_u16())))
    }
}

/// A connection to one node, opened on first use and reopened when the
/// node closes it.
pub struct Client {
    url: BaseUrl,
    conn: Option<SendRequest<Full<Bytes>>>,
    /// `Authorization: Bearer` value, when a token is given.
    token: Option<String>,
}

impl Client {
    /// A client of the node at `url`.
    pub fn new(url: &str) -> Result<Client> {
        Ok(Client {
            url: BaseUrl::parse(url)?,
            conn: None,
            token: None,
        })
    }

    /// This client, sending `token` (API.md §6) with every request.
    pub fn with_token(mut self, token: Option<String>) -> Client {
        self.token = token.filter(|t| !t.is_empty());
        self
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(&self.url.authority).await.map_err(|e| {
            Error::Client(format!(
                "cannot connect to {}: {e} (is the node running? see --url)",
                self.url.authority
            ))
        })?;
        // Small requests (single deltas) should not wait for Nagle.
        let _ = stream.set_nodelay(true);
        let (send, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| Error::Client(format!("HTTP handshake with the node failed: {e}")))?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("client connection ended: {e}");
            }
        });
        Ok(send)
    }

    /// The kept connection if it is still open, else a new one, ready to
    /// send.
    async fn sender(&mut self) -> Result<SendRequest<Full<Bytes>>> {
        let mut send = match self.conn.take() {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        send.ready()
            .await
            .map_err(|e| Error::Client(format!("the connection to the node failed: {e}")))?;
        Ok(send)
    }

    /// A request to `path` accepting `accept`, with the token if any.
    fn builder(&self, method: Method, path: &str, accept: &str) -> hyper::http::request::Builder {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.url.prefix))
            .header(header::HOST, &self.url.authority)
            .header(header::ACCEPT, accept);
        if let Some(token) = &self.token {
            builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        builder
    }

    /// Sends `method path` with an optional JSON body; `path` starts with
    /// `/` and is appended to the URL's prefix.
    pub async fn request(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer> {
        let mut send = self.sender().await?;
        let mut builder = self.builder(method, path, "application/json");
        if body.is_some() {
            builder = builder.header(header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| Error::Client(format!("cannot build the request for {path}: {e}")))?;
        let response = send
            .send_request(request)
            .await
            .map_err(|e| Error::Client(format!("request {path} failed: {e}")))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| Error::Client(format!("reading the answer to {path} failed: {e}")))?
            .to_bytes();
        self.conn = Some(send);
        Ok(Answer { status, body })
    }

    /// `GET path` as a stream (server-sent events): `on_data` gets each
    /// piece of the body as it arrives, until it returns `false` or the
    /// node ends the stream. A non-2xx answer is an error, as for
    /// [`Answer::ok`]. The connection is not kept afterwards.
    pub async fn stream(
        &mut self,
        path: &str,
        mut on_data: impl FnMut(&[u8]) -> bool,
    ) -> Result<()> {
        let mut send = self.sender().await?;
        let builder = self.builder(Method::GET, path, "text/event-stream");
        let request = builder
            .body(Full::new(Bytes::new()))
            .map_err(|e| Error::Client(format!("cannot build the request for {path}: {e}")))?;
        let response = send
            .send_request(request)
            .await
            .map_err(|e| Error::Client(format!("request {path} failed: {e}")))?;
        let status = response.status();
        let mut body = response.into_body();
        if !status.is_success() {
            let body = body
                .collect()
                .await
                .map_err(|e| Error::Client(format!("reading the answer to {path} failed: {e}")))?
                .to_bytes();
            Answer { status, body }.ok()?;
            return Ok(());
        }
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| Error::Client(format!("the stream {path} failed: {e}")))?;
            if let Some(data) = frame.data_ref()
                && !on_data(data)
            {
                break;
            }
        }
        Ok(())
    }

    /// `GET path`, 2xx required.
    pub async fn get(&mut self, path: &str) -> Result<Answer> {
        self.request(Method::GET, path, None).await?.ok()
    }
}

/// Percent-encodes a path segment or query value (everything but
/// unreserved characters).
///
/// ```
/// assert_eq!(rhizome::cli::client::encode("a b/c"), "a%20b%2Fc");
/// ```
pub fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
