//! View cache.
