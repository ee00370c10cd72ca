//! From a delta as read ([`RawEnvelope`]) to a [`Delta`]: format detection
//! and every rule of API.md §1, with errors naming fields in the input's own
//! format.

use std::borrow::Cow;
use std::sync::Arc;

use super::shape::{
    EnvKey, PtrKey, RawEnvelope, RawPointer, RawPointerItem, RawPointers, RawTop, Scalar,
    TargetShape,
};
use crate::codec::Format;
use crate::delta::{Field, Violation};
use crate::number::Number;
use crate::{Delta, DeltaId, Error, Pointer, Result, Target, Timestamp, limits};

/// The problem phrase for a timestamp that is not a positive integer.
const POSITIVE_INTEGER: &str = "must be a positive integer (milliseconds since the Unix epoch)";
const NON_EMPTY: &str = "must be a non-empty string";

/// A delta from a top-level value, with the format it was written in.
pub(super) fn build(top: &RawTop<'_>) -> Result<(Delta, Format)> {
    match top {
        RawTop::Envelope(env) => build_envelope(env),
        RawTop::Other(kind) => Err(Error::invalid(
            "delta",
            format!("must be a JSON object, not {kind}"),
        )),
    }
}

/// The format an envelope is written in (API.md §1): `author`, `system` or
/// `timestamp` make it rhizomedb; otherwise an object `pointers` makes it
/// v2; otherwise v1.
pub(super) fn detect(env: &RawEnvelope<'_>) -> Format {
    if env.has(EnvKey::Author) || env.has(EnvKey::System) || env.has(EnvKey::Timestamp) {
        Format::RhizomeDb
    } else if matches!(env.pointers, Some(RawPointers::Object(_))) {
        Format::V2
    } else {
        Format::V1
    }
}

/// The envelope keys of each format, in the order they are checked.
struct Envelope {
    id: EnvKey,
    time: EnvKey,
    host: EnvKey,
    creator: EnvKey,
}

fn envelope_keys(format: Format) -> Envelope {
    match format {
        Format::V1 | Format::V2 => Envelope {
            id: EnvKey::Id,
            time: EnvKey::TimeCreated,
            host: EnvKey::Host,
            creator: EnvKey::Creator,
        },
        Format::RhizomeDb => Envelope {
            id: EnvKey::Id,
            time: EnvKey::Timestamp,
            host: EnvKey::System,
            creator: EnvKey::Author,
        },
    }
}

fn allowed(format: Format, key: EnvKey) -> bool {
    use EnvKey::*;
    match format {
        Format::V1 => matches!(
            key,
            Id | TimeCreated
                | Host
                | Creator
                | Signature
                | TimeReceived
                | ReceivedFrom
                | TransactionId
        ),
        Format::V2 => matches!(key, Id | TimeCreated | Host | Creator | Signature),
        Format::RhizomeDb => matches!(key, Id | Timestamp | Author | System | Signature),
    }
}

fn not_a_field(path: String, format: Format, what: &str) -> Error {
    Error::invalid(path, format!("is not a field of a {format} {what}"))
}

fn build_envelope(env: &RawEnvelope<'_>) -> Result<(Delta, Format)> {
    let format = detect(env);
    if let Some(key) = &env.unknown {
        return Err(not_a_field(key_path("", key), format, "delta"));
    }
    if let Some(key) = &env.duplicate {
        return Err(Error::invalid(key_path("", key), "appears more than once"));
    }
    if let Some(key) = EnvKey::ALL
        .iter()
        .find(|k| env.has(**k) && !allowed(format, **k))
    {
        return Err(not_a_field(key.name().into(), format, "delta"));
    }
    let keys = envelope_keys(format);

    let id = match required(env, keys.id)? {
        Scalar::Str(s) => DeltaId::new(&**s).map_err(|e| rename(e, "id"))?,
        _ => return Err(Error::invalid("id", NON_EMPTY)),
    };
    let time = timestamp(required(env, keys.time)?, keys.time.name())?;
    let host = string(required(env, keys.host)?, keys.host.name())?;
    let creator = string(required(env, keys.creator)?, keys.creator.name())?;
    let signature = match env.get(EnvKey::Signature) {
        None => None,
        Some(s) => Some(string(s, "signature")?),
    };
    let raw_pointers = env
        .pointers
        .as_ref()
        .ok_or_else(|| Error::invalid("pointers", "is missing"))?;
    let pointers = match raw_pointers {
        RawPointers::Object(entries) if format == Format::V2 => v2_pointers(entries)?,
        // At most MAX_POINTERS + 1 items are kept: enough for the model to
        // refuse too many.
        RawPointers::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| array_pointer(format, i, item))
            .collect::<Result<Vec<_>>>()?,
        other => {
            return Err(Error::invalid(
                "pointers",
                format!("must be an array, not {}", pointers_kind(other)),
            ));
        }
    };
    let delta = Delta::from_parts(id, time, host, creator, pointers)
        .map_err(|v| violation(format, raw_pointers, v))?;
    Ok((delta.with_signature(signature), format))
}

fn pointers_kind(p: &RawPointers<'_>) -> &'static str {
    match p {
        RawPointers::Array(_) => "an array",
        RawPointers::Object(_) => "an object",
        RawPointers::Other(kind) => kind,
    }
}

fn required<'a, 'de>(env: &'a RawEnvelope<'de>, key: EnvKey) -> Result<&'a Scalar<'de>> {
    env.get(key)
        .ok_or_else(|| Error::invalid(key.name(), "is missing"))
}

/// The same error naming `field` instead.
fn rename(e: Error, field: &str) -> Error {
    match e {
        Error::InvalidDelta { problem, .. } => Error::invalid(field, problem),
        other => other,
    }
}

/// A timestamp: a positive integer; `3.0` counts as integral, `1.5` does not.
fn timestamp(value: &Scalar<'_>, field: &str) -> Result<Timestamp> {
    let ms = match *value {
        Scalar::UInt(u) => u,
        // 2^64 and above cannot be exact; MAX_TIMESTAMP is far below anyway.
        Scalar::Float(f) if f.fract() == 0.0 && f >= 1.0 => {
            if f > limits::MAX_TIMESTAMP as f64 {
                u64::MAX
            } else {
                f as u64
            }
        }
        _ => return Err(Error::invalid(field, POSITIVE_INTEGER)),
    };
    Timestamp::new(ms).map_err(|e| rename(e, field))
}

/// A string field that the model checks further (emptiness, length).
fn string(value: &Scalar<'_>, field: &str) -> Result<Arc<str>> {
    match value {
        Scalar::Str(s) if !s.is_empty() => Ok(Arc::from(&**s)),
        _ => Err(Error::invalid(field, NON_EMPTY)),
    }
}

/// `prefix.key`, or `prefix["key"]` when the key is not a plain name, so
/// that any key can be told back; very long keys are cut.
pub(super) fn key_path(prefix: &str, key: &str) -> String {
    const SHOWN: usize = 64;
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'$');
    if plain && key.len() <= SHOWN {
        if prefix.is_empty() {
            key.to_owned()
        } else {
            format!("{prefix}.{key}")
        }
    } else {
        let cut = if key.len() > SHOWN {
            let mut end = SHOWN;
            while !key.is_char_boundary(end) {
                end -= 1;
            }
            Cow::Owned(format!("{}…", &key[..end]))
        } else {
            Cow::Borrowed(key)
        };
        let quoted = serde_json::to_string(&*cut).unwrap_or_default();
        format!("{prefix}[{quoted}]")
    }
}

/// A primitive target, or `None` for an array or object.
fn primitive(value: &Scalar<'_>) -> Option<Result<Target, &'static str>> {
    Some(Ok(match value {
        Scalar::Str(s) => Target::String(Arc::from(&**s)),
        Scalar::UInt(u) => Target::Number(Number::from_u64(*u)),
        Scalar::Int(i) => Target::Number(Number::Int(*i)),
        Scalar::Float(f) => match Number::from_f64(*f) {
            Some(n) => Target::Number(n),
            None => return Some(Err("must be a finite number")),
        },
        Scalar::Bool(b) => Target::Bool(*b),
        Scalar::Null => Target::Null,
        Scalar::Array | Scalar::Object => return None,
    }))
}

/// The string of a role or context (the model checks emptiness and length).
fn name_string(value: &Scalar<'_>) -> Option<Arc<str>> {
    match value {
        Scalar::Str(s) => Some(Arc::from(&**s)),
        _ => None,
    }
}

/// `pointers[i]`, written only when an error names it.
#[derive(Clone, Copy)]
struct At(usize);

impl std::fmt::Display for At {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pointers[{}]", self.0)
    }
}

fn array_pointer(format: Format, i: usize, item: &RawPointerItem<'_>) -> Result<Pointer> {
    let at = At(i);
    let p = match item {
        RawPointerItem::Object(p) => p,
        RawPointerItem::Other(kind) => {
            return Err(Error::invalid(
                at.to_string(),
                format!("must be an object, not {kind}"),
            ));
        }
    };
    if let Some(key) = &p.unknown {
        return Err(not_a_field(
            key_path(&at.to_string(), key),
            format,
            "pointer",
        ));
    }
    if let Some(key) = &p.duplicate {
        return Err(Error::invalid(
            key_path(&at.to_string(), key),
            "appears more than once",
        ));
    }
    let own: &[PtrKey] = match format {
        Format::RhizomeDb => &[PtrKey::Role, PtrKey::Target],
        _ => &[PtrKey::LocalContext, PtrKey::Target, PtrKey::TargetContext],
    };
    if let Some(key) = PtrKey::ALL.iter().find(|k| p.has(**k) && !own.contains(k)) {
        return Err(not_a_field(
            key_path(&at.to_string(), key.name()),
            format,
            "pointer",
        ));
    }
    match format {
        Format::RhizomeDb => rhizomedb_pointer(at, p),
        _ => v1_pointer(at, p),
    }
}

fn v1_pointer(at: At, p: &RawPointer<'_>) -> Result<Pointer> {
    let role_field = || format!("{at}.localContext");
    let target_field = || format!("{at}.target");
    let role = match &p.local_context {
        None => return Err(Error::invalid(role_field(), "is missing")),
        Some(v) => name_string(v).ok_or_else(|| Error::invalid(role_field(), NON_EMPTY))?,
    };
    let context = match &p.target_context {
        None | Some(Scalar::Null) => None,
        Some(v) => Some(name_string(v).ok_or_else(|| {
            Error::invalid(
                format!("{at}.targetContext"),
                "must be a non-empty string or null",
            )
        })?),
    };
    let target = p
        .target
        .as_ref()
        .ok_or_else(|| Error::invalid(target_field(), "is missing"))?;
    let target = match (context, target) {
        (Some(context), TargetShape::Scalar(Scalar::Str(id))) => Target::Reference {
            id: Arc::from(&**id),
            context: Some(context),
        },
        (Some(_), _) => {
            return Err(Error::invalid(
                target_field(),
                "must be a non-empty string (a reference) when targetContext is given",
            ));
        }
        (None, TargetShape::Object { entries, .. }) => {
            // At most a few entries are kept; a surplus entry is among them.
            let mut id = None;
            for (key, value) in entries {
                match (&**key, value) {
                    ("id", Scalar::Str(s)) if id.is_none() => id = Some(Arc::from(&**s)),
                    ("id", _) if id.is_some() => {
                        return Err(Error::invalid(
                            key_path(&target_field(), "id"),
                            "appears more than once",
                        ));
                    }
                    ("id", _) => {
                        return Err(Error::invalid(key_path(&target_field(), "id"), NON_EMPTY));
                    }
                    (other, _) => {
                        return Err(Error::invalid(
                            key_path(&target_field(), other),
                            "is not a field of a reference {\"id\": ID}",
                        ));
                    }
                }
            }
            match id {
                Some(id) => Target::Reference { id, context: None },
                None => {
                    return Err(Error::invalid(
                        key_path(&target_field(), "id"),
                        "is missing",
                    ));
                }
            }
        }
        (None, TargetShape::Scalar(v)) => match primitive(v) {
            Some(t) => t.map_err(|problem| Error::invalid(target_field(), problem))?,
            None => {
                return Err(Error::invalid(
                    target_field(),
                    format!(
                        "must be a string, number, boolean, null or {{\"id\": ID}}, not {}",
                        v.kind()
                    ),
                ));
            }
        },
    };
    Ok(Pointer { role, target })
}

fn rhizomedb_pointer(at: At, p: &RawPointer<'_>) -> Result<Pointer> {
    let role_field = || format!("{at}.role");
    let target_field = || format!("{at}.target");
    let role = match &p.role {
        None => return Err(Error::invalid(role_field(), "is missing")),
        Some(v) => name_string(v).ok_or_else(|| Error::invalid(role_field(), NON_EMPTY))?,
    };
    let target = match &p.target {
        None => return Err(Error::invalid(target_field(), "is missing")),
        Some(TargetShape::Object { entries, .. }) => {
            let mut id = None;
            let mut context = None;
            for (key, value) in entries {
                match &**key {
                    "id" | "context" => {}
                    other => {
                        return Err(Error::invalid(
                            key_path(&target_field(), other),
                            "is not a field of a rhizomedb target {\"id\", \"context\"}",
                        ));
                    }
                }
                let slot = if &**key == "id" {
                    &mut id
                } else {
                    &mut context
                };
                if slot.is_some() {
                    return Err(Error::invalid(
                        key_path(&target_field(), key),
                        "appears more than once",
                    ));
                }
                *slot = Some(value);
            }
            let id = match id {
                None => {
                    return Err(Error::invalid(
                        key_path(&target_field(), "id"),
                        "is missing",
                    ));
                }
                Some(v) => name_string(v)
                    .ok_or_else(|| Error::invalid(key_path(&target_field(), "id"), NON_EMPTY))?,
            };
            let context = match context {
                None | Some(Scalar::Null) => None,
                Some(v) => Some(name_string(v).ok_or_else(|| {
                    Error::invalid(
                        key_path(&target_field(), "context"),
                        "must be a non-empty string or null",
                    )
                })?),
            };
            Target::Reference { id, context }
        }
        Some(TargetShape::Scalar(Scalar::Null)) => {
            return Err(Error::invalid(
                target_field(),
                "must not be null (rhizomedb has no null target)",
            ));
        }
        Some(TargetShape::Scalar(v)) => match primitive(v) {
            Some(t) => t.map_err(|problem| Error::invalid(target_field(), problem))?,
            None => {
                return Err(Error::invalid(
                    target_field(),
                    format!(
                        "must be a string, number, boolean or {{\"id\", \"context\"?}}, not {}",
                        v.kind()
                    ),
                ));
            }
        },
    };
    Ok(Pointer { role, target })
}

fn v2_pointers(entries: &[(Cow<'_, str>, TargetShape<'_>)]) -> Result<Vec<Pointer>> {
    // Duplicate roles: a v2 object cannot hold two pointers with one role.
    let mut roles: Vec<&str> = entries.iter().map(|(k, _)| &**k).collect();
    roles.sort_unstable();
    if let Some(w) = roles.windows(2).find(|w| w[0] == w[1]) {
        return Err(Error::invalid(
            key_path("pointers", w[0]),
            "appears more than once",
        ));
    }
    entries
        .iter()
        .map(|(role, shape)| {
            let field = || key_path("pointers", role);
            let target = match shape {
                TargetShape::Object { entries, len } => match (entries.as_slice(), len) {
                    ([(id, Scalar::Str(context))], 1) => Target::Reference {
                        id: Arc::from(&**id),
                        context: Some(Arc::from(&**context)),
                    },
                    ([(id, _)], 1) => {
                        return Err(Error::invalid(key_path(&field(), id), NON_EMPTY));
                    }
                    _ => {
                        return Err(Error::invalid(
                            field(),
                            "must be a primitive or an object {ID: CONTEXT} with exactly one entry",
                        ));
                    }
                },
                TargetShape::Scalar(v) => match primitive(v) {
                    Some(t) => t.map_err(|problem| Error::invalid(field(), problem))?,
                    None => {
                        return Err(Error::invalid(
                            field(),
                            format!(
                                "must be a string, number, boolean, null or {{ID: CONTEXT}}, not {}",
                                v.kind()
                            ),
                        ));
                    }
                },
            };
            Ok(Pointer {
                role: Arc::from(&**role),
                target,
            })
        })
        .collect()
}

/// A model violation named in the input's format. Pointer indices are the
/// input's (v2: the object's entry order).
fn violation(format: Format, raw: &RawPointers<'_>, v: Violation) -> Error {
    let field = match (format, v.field) {
        (_, Field::Id) => "id".to_owned(),
        (_, Field::Pointers) => "pointers".to_owned(),
        (Format::RhizomeDb, Field::TimeCreated) => "timestamp".to_owned(),
        (Format::RhizomeDb, Field::Host) => "system".to_owned(),
        (Format::RhizomeDb, Field::Creator) => "author".to_owned(),
        (_, f @ (Field::TimeCreated | Field::Host | Field::Creator)) => f.v1_name(),
        (Format::V2, Field::Role(i) | Field::Target(i) | Field::TargetContext(i)) => {
            let RawPointers::Object(entries) = raw else {
                return v.into_error();
            };
            let Some((role, shape)) = entries.get(i) else {
                return v.into_error();
            };
            let at = key_path("pointers", role);
            return match (v.field, shape) {
                (Field::Role(_), _) => Error::invalid(at, format!("key {}", v.problem)),
                (Field::Target(_), TargetShape::Object { .. }) => {
                    Error::invalid(at, format!("reference id {}", v.problem))
                }
                (Field::TargetContext(_), TargetShape::Object { entries, .. }) => {
                    let id = entries.first().map(|(id, _)| &**id).unwrap_or_default();
                    Error::invalid(key_path(&at, id), v.problem)
                }
                _ => Error::invalid(at, v.problem),
            };
        }
        (_, Field::Role(i)) => match format {
            Format::RhizomeDb => format!("pointers[{i}].role"),
            _ => format!("pointers[{i}].localContext"),
        },
        (_, Field::Target(i)) => {
            let object = matches!(
                raw,
                RawPointers::Array(items) if matches!(
                    items.get(i),
                    Some(RawPointerItem::Object(RawPointer {
                        target: Some(TargetShape::Object { .. }),
                        ..
                    }))
                )
            );
            if object {
                format!("pointers[{i}].target.id")
            } else {
                format!("pointers[{i}].target")
            }
        }
        (_, Field::TargetContext(i)) => match format {
            Format::RhizomeDb => format!("pointers[{i}].target.context"),
            _ => format!("pointers[{i}].targetContext"),
        },
    };
    Error::invalid(field, v.problem)
}
