//! Wire formats of a delta: JSON in three formats (v1, v2, rhizomedb) and a
//! binary form (postcard) for disk and network.
//!
//! - [`json`] — decode (format detected, fully validated, single or batch)
//!   and encode (sorted keys, [`json::JsonDelta`] to embed in answers).
//! - [`binary`] — the postcard form.
//!
//! `docs/wire-formats.md` describes every format, rule and message.

pub mod binary;
pub mod json;

use std::fmt;
use std::str::FromStr;

/// The JSON formats a delta can be read and written in (API.md §1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Format {
    /// The default: `{"id", "timeCreated", "host", "creator", "pointers": [...]}`.
    #[default]
    V1,
    /// v1's envelope with `pointers` as an object keyed by role.
    V2,
    /// `{"id", "timestamp", "author", "system", "pointers": [{"role", "target"}]}`.
    RhizomeDb,
}

impl Format {
    /// The name used in `format=` parameters.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::V1 => "v1",
            Format::V2 => "v2",
            Format::RhizomeDb => "rhizomedb",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Format {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "v1" => Ok(Format::V1),
            "v2" => Ok(Format::V2),
            "rhizomedb" => Ok(Format::RhizomeDb),
            other => Err(crate::Error::invalid(
                "format",
                format!("must be one of v1, v2, rhizomedb (got {other:?})"),
            )),
        }
    }
}
