//! The Rhizome node: configuration, store, ingest, API, sync wiring.
//!
//! The binary (`src/main.rs`) is a thin command-line shell over this library,
//! so integration tests and benchmarks can run a node in-process.

pub mod auth;
pub mod bench;
pub mod changes;
pub mod cli;
pub mod config;
pub mod dashboard;
pub mod documents;
mod error;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod node;
pub mod plugins;
pub mod realtime;
pub mod replication;
pub mod store;
pub mod typescript;

pub use error::{Error, Result};
