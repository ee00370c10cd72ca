//! Building deltas in code.

use std::sync::Arc;

/// Builds a [`crate::Delta`] (placeholder until the builder lands).
#[derive(Debug)]
pub struct DeltaBuilder {
    _creator: Arc<str>,
    _host: Arc<str>,
}

impl DeltaBuilder {
    /// A builder for a delta by `creator` on `host`.
    pub fn new(creator: impl Into<Arc<str>>, host: impl Into<Arc<str>>) -> Self {
        DeltaBuilder {
            _creator: creator.into(),
            _host: host.into(),
        }
    }
}
