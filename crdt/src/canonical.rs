//! The canonical form of a delta and its content hash.
