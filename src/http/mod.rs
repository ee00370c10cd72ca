//! The HTTP API (API.md §3): server, limits, error shape, metrics, request
//! ids and tracing, OpenAPI, and the routes.
//!
//! Layers plug their routes into [`routes::TABLES`] (see [`routes`]); a
//! handler takes `State<AppState>` and answers `Result<_, ApiError>`.

pub mod error;
mod first_request;
pub mod json;
pub mod limits;
pub use crate::metrics;

pub mod observe;
pub mod openapi;
pub mod query;
mod raw_response;
pub mod request_id;
pub mod routes;
pub mod server;
pub mod state;

pub use error::ApiError;
pub use limits::Limits;
pub use routes::router;
pub use server::{RunningServer, Server};
pub use state::AppState;
