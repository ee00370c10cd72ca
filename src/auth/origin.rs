//! The browser rules (API.md §6): which web origins may call the node, and
//! the `Host` check against DNS rebinding.
//!
//! A request with an `Origin` header comes from a web page. It is served
//! when the origin is the node's own (same scheme-less host and port as the
//! request's `Host`), or listed in `RHIZOME_CORS_ORIGINS` (`*`: any).
//! While the node listens on a loopback address, a `Host` that is not a
//! loopback name or address is refused: a page on `evil.example` whose name
//! was rebound to 127.0.0.1 still sends `Host: evil.example`.
//!
//! ```
//! use rhizome::auth::origin::{Origins, is_loopback_host};
//!
//! let origins = Origins::parse(&["https://app.example.com".into()])?;
//! assert!(origins.allows("https://app.example.com", Some("127.0.0.1:4000")));
//! assert!(origins.allows("http://127.0.0.1:4000", Some("127.0.0.1:4000"))); // its own
//! assert!(!origins.allows("https://evil.example", Some("127.0.0.1:4000")));
//! assert!(is_loopback_host("localhost:4000") && !is_loopback_host("evil.example"));
//! # Ok::<(), rhizome::Error>(())
//! ```

use std::collections::BTreeSet;
use std::net::IpAddr;

use crate::{Error, Result};

/// The web origins allowed besides the node's own.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origins {
    any: bool,
    listed: BTreeSet<String>,
}

impl Origins {
    /// Reads `RHIZOME_CORS_ORIGINS` entries: `scheme://host[:port]`, or `*`.
    pub fn parse(entries: &[String]) -> Result<Origins> {
        let mut out = Origins::default();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            if entry == "*" {
                out.any = true;
                continue;
            }
            let normal = normalize(entry).ok_or_else(|| Error::Config {
                name: "RHIZOME_CORS_ORIGINS",
                problem: format!(
                    "{entry:?} is not an origin (scheme://host[:port], no path), nor *"
                ),
            })?;
            out.listed.insert(normal);
        }
        Ok(out)
    }

    /// Any origin is allowed (`*`).
    pub fn any() -> Origins {
        Origins {
            any: true,
            listed: BTreeSet::new(),
        }
    }

    /// Whether a page of `origin` may call a node reached as `host` (the
    /// request's `Host` header).
    pub fn allows(&self, origin: &str, host: Option<&str>) -> bool {
        if self.any {
            return true;
        }
        let Some(origin) = normalize(origin) else {
            // `null` (sandboxed frames, files) and anything unreadable.
            return false;
        };
        self.listed.contains(&origin) || host.is_some_and(|h| same_origin(&origin, h))
    }

    /// Whether only the node's own origin is allowed.
    pub fn is_default(&self) -> bool {
        !self.any && self.listed.is_empty()
    }
}

/// `origin` lowercased, with its default port dropped; `None` if it is not
/// `http(s)://host[:port]`.
fn normalize(origin: &str) -> Option<String> {
    let origin = origin.to_ascii_lowercase();
    let (scheme, rest) = origin.split_once("://")?;
    let default_port = match scheme {
        "http" => "80",
        "https" => "443",
        _ => return None,
    };
    if rest.is_empty() || rest.contains(['/', '?', '#', '@', ' ']) {
        return None;
    }
    let (host, port) = split_port(rest);
    if host.is_empty() {
        return None;
    }
    Some(match port {
        Some(p) if p == default_port => format!("{scheme}://{host}"),
        Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            format!("{scheme}://{host}:{p}")
        }
        Some(_) => return None,
        None => format!("{scheme}://{host}"),
    })
}

/// Whether the normalized `origin` names the same host and port as the
/// `Host` header `host`.
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    let host = host.trim().to_ascii_lowercase();
    let (h, port) = split_port(&host);
    let default_port = if scheme == "https" { "443" } else { "80" };
    let host = match port {
        Some(p) if p == default_port => h.to_owned(),
        _ => host.clone(),
    };
    rest == host
}

/// `host[:port]` → (host, port); IPv6 literals keep their brackets.
fn split_port(s: &str) -> (&str, Option<&str>) {
    if s.starts_with('[') {
        return match s.find(']') {
            Some(end) => {
                let (host, rest) = s.split_at(end + 1);
                (host, rest.strip_prefix(':'))
            }
            None => (s, None),
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (s, None),
    }
}

/// Whether a `Host` header names this machine: `localhost` (or a name under
/// `.localhost`), or a loopback address, with any port.
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim().to_ascii_lowercase();
    let (name, _) = split_port(&host);
    let name = name.trim_end_matches('.');
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    let literal = name
        .strip_prefix('[')
        .and_then(|n| n.strip_suffix(']'))
        .unwrap_or(name);
    literal.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_origin_listed_origins_and_wildcard() {
        let none = Origins::default();
        assert!(none.allows("http://127.0.0.1:4000", Some("127.0.0.1:4000")));
        assert!(none.allows("HTTP://LOCALHOST:4000", Some("localhost:4000")));
        assert!(none.allows("http://node.example", Some("node.example:80")));
        assert!(none.allows("https://node.example:443", Some("node.example")));
        assert!(!none.allows("http://localhost:4000", Some("127.0.0.1:4000")));
        assert!(!none.allows("http://127.0.0.1:4001", Some("127.0.0.1:4000")));
        assert!(!none.allows("null", Some("127.0.0.1:4000")));
        assert!(!none.allows("http://127.0.0.1:4000", None));
        let listed = Origins::parse(&[" https://app.example ".into(), String::new()]).unwrap();
        assert!(listed.allows("https://app.example:443", Some("x")));
        assert!(!listed.allows("http://app.example", Some("x")));
        assert!(Origins::parse(&["*".into()]).unwrap().allows("null", None));
        for bad in [
            "app.example",
            "https://app.example/path",
            "ftp://x",
            "https://",
            "http://h:x",
        ] {
            let e = Origins::parse(&[bad.into()]).unwrap_err().to_string();
            assert!(e.contains("RHIZOME_CORS_ORIGINS"), "{e}");
        }
    }

    #[test]
    fn loopback_hosts() {
        for ok in [
            "localhost",
            "localhost:4000",
            "LOCALHOST.",
            "app.localhost:3000",
            "127.0.0.1",
            "127.0.0.2:80",
            "[::1]:4000",
            "[::1]",
        ] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:4000",
            "localhost.evil.example",
            "10.0.0.1:4000",
            "[::2]",
            "",
            "127.0.0.1.evil.example",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
    }
}
