//! The dashboard served at `GET /` (API.md §9): static files compiled into
//! the binary (plain HTML, JavaScript and CSS: no build step, nothing
//! loaded from anywhere but the node). The page holds no data; it reads the
//! node's API like any client (the live feed over SSE, views, hyperviews,
//! schemas, peers, `/metrics`) and asks for a token when a request gets a
//! 401. See `docs/dashboard.md`.
//!
//! ```
//! let (content_type, body) = rhizome::dashboard::asset("app.js").unwrap();
//! assert!(content_type.starts_with("text/javascript"));
//! assert!(!body.is_empty());
//! assert!(rhizome::dashboard::asset("../secret").is_none());
//! ```

/// The page itself (`GET /`).
pub const INDEX_HTML: &str = include_str!("index.html");

/// The files under `/dashboard/`: name, content type, body.
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("app.js"),
    ),
    (
        "style.css",
        "text/css; charset=utf-8",
        include_str!("style.css"),
    ),
];

/// The content type and body of the dashboard file `name`
/// (`/dashboard/NAME`), if there is one.
pub fn asset(name: &str) -> Option<(&'static str, &'static str)> {
    ASSETS
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, ct, body)| (*ct, *body))
}
