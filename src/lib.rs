//! The Rhizome node: configuration, store, ingest, API, sync wiring.
//!
//! The binary (`src/main.rs`) is a thin command-line shell over this library,
//! so integration tests and benchmarks can run a node in-process.

pub mod config;
mod error;
pub mod http;
pub mod node;

pub use error::{Error, Result};
