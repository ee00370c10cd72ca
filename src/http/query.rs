//! Query strings, with errors that name the parameter (400
//! `invalid_parameter`).

use std::str::FromStr;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::error::ApiError;

/// The decoded `name=value` pairs of a query string, in order.
///
/// ```
/// use rhizome::http::query::QueryParams;
/// let q = QueryParams::parse("since=5&creator=a,b&limit=x");
/// assert_eq!(q.get::<u64>("since").unwrap(), Some(5));
/// assert_eq!(q.list("creator").unwrap(), ["a", "b"]);
/// let e = q.get::<u64>("limit").unwrap_err();
/// assert_eq!(e.body()["error"]["parameter"], "limit");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    /// Decodes a raw query string (`+` and percent escapes; invalid UTF-8
    /// is replaced, and then fails any typed read naming the parameter).
    pub fn parse(raw: &str) -> QueryParams {
        QueryParams {
            pairs: form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    /// The raw value of `name`: `None` if absent, 400 if given twice.
    pub fn str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        let mut found = self.pairs.iter().filter(|(k, _)| k == name);
        let first = found.next();
        if found.next().is_some() {
            return Err(ApiError::invalid_parameter(name, "is given more than once"));
        }
        Ok(first.map(|(_, v)| v.as_str()))
    }

    /// `name` parsed as `T`: `None` if absent, 400 naming it if malformed.
    pub fn get<T>(&self, name: &str) -> Result<Option<T>, ApiError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        match self.str(name)? {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|e| {
                ApiError::invalid_parameter(name, format!("is not valid ({e}): {v:?}"))
            }),
        }
    }

    /// `name` parsed as `T`, or `default` if absent.
    pub fn get_or<T>(&self, name: &str, default: T) -> Result<T, ApiError>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        Ok(self.get(name)?.unwrap_or(default))
    }

    /// `name` as a comma-separated list (empty items dropped; absent = empty).
    pub fn list(&self, name: &str) -> Result<Vec<String>, ApiError> {
        Ok(self
            .str(name)?
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default())
    }

    /// 400 naming the first parameter not in `known`.
    pub fn deny_unknown(&self, known: &[&str]) -> Result<(), ApiError> {
        match self
            .pairs
            .iter()
            .find(|(k, _)| !known.contains(&k.as_str()))
        {
            Some((k, _)) => Err(ApiError::invalid_parameter(
                k,
                format!("is not known here (known: {})", known.join(", ")),
            )),
            None => Ok(()),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryParams {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        Ok(QueryParams::parse(parts.uri.query().unwrap_or("")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_names_problems() {
        let q = QueryParams::parse("entity=a%2Cb+c&x=1&x=2&flag");
        assert_eq!(q.str("entity").unwrap(), Some("a,b c"));
        assert_eq!(q.list("entity").unwrap(), ["a", "b c"]);
        assert_eq!(q.str("flag").unwrap(), Some(""));
        assert_eq!(q.str("absent").unwrap(), None);
        assert_eq!(q.get_or("absent", 7u32).unwrap(), 7);
        let e = q.get::<u32>("x").unwrap_err();
        assert_eq!(e.body()["error"]["parameter"], "x");
        assert!(e.message().contains("more than once"));
        let e = q.deny_unknown(&["entity", "x"]).unwrap_err();
        assert_eq!(e.body()["error"]["parameter"], "flag");
        assert_eq!(e.code(), "invalid_parameter");
    }
}
