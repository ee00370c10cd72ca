//! HS256 JSON Web Tokens (`RHIZOME_AUTH=jwt`, RFC 7519 / RFC 7515).
//!
//! A token is `BASE64URL(header) . BASE64URL(claims) . BASE64URL(HMAC)`.
//! The header's `alg` must be `HS256` (`none`, `RS256` and everything else
//! are refused, whatever the rest says), and a `crit` header is refused
//! (no extension is understood). Claims: `sub` (the principal, required),
//! `scope` (space-separated scopes, or an array of them), `exp` and `nbf`
//! (seconds since the epoch) honoured when present. The MAC is compared in
//! constant time.
//!
//! ```
//! use rhizome::auth::jwt::{Hs256, sign_hs256};
//! use std::time::{Duration, SystemTime, UNIX_EPOCH};
//!
//! let key = Hs256::new(b"secret");
//! let token = sign_hs256(b"secret", &serde_json::json!({"sub": "ann", "scope": "read", "exp": 2_000_000_000}));
//! let ann = key.verify(&token, UNIX_EPOCH + Duration::from_secs(1_900_000_000))?;
//! assert_eq!(ann.name(), "ann");
//! assert!(key.verify(&token, UNIX_EPOCH + Duration::from_secs(2_000_000_000)).is_err()); // expired
//! assert!(Hs256::new(b"other").verify(&token, SystemTime::now()).is_err());
//! # Ok::<(), rhizome::auth::AuthError>(())
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rhizome_crdt::signature::{base64url, from_base64url};
use ring::hmac;
use serde_json::Value;

use super::tokens::MAX_TOKEN_BYTES;
use super::{AuthError, Principal, Scope, Scopes};

/// An HS256 verification key.
pub struct Hs256 {
    key: hmac::Key,
}

impl std::fmt::Debug for Hs256 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hs256(..)")
    }
}

impl Hs256 {
    /// The key of `secret` (its bytes, as HS256 libraries take a string
    /// secret).
    pub fn new(secret: &[u8]) -> Hs256 {
        Hs256 {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// The principal of `token`, if its MAC is right and it is valid at `now`.
    pub fn verify(&self, token: &str, now: SystemTime) -> Result<Principal, AuthError> {
        if token.is_empty() {
            return Err(AuthError::Missing);
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed(format!(
                "longer than {MAX_TOKEN_BYTES} bytes"
            )));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(claims), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(AuthError::Malformed(
                "a JWT has three base64url parts separated by dots".into(),
            ));
        };
        let header = object(header, "header")?;
        match header.get("alg") {
            Some(Value::String(alg)) if alg == "HS256" => {}
            Some(Value::String(alg)) => {
                return Err(AuthError::Malformed(format!(
                    "alg {alg:?} is refused; only HS256 is accepted"
                )));
            }
            _ => return Err(AuthError::Malformed("the header has no alg".into())),
        }
        if header.contains_key("crit") {
            return Err(AuthError::Malformed(
                "crit header parameters are not supported".into(),
            ));
        }
        let mac = from_base64url(mac).map_err(|_| AuthError::Invalid)?;
        // The signing input is the two encoded parts as sent.
        let signed = &token[..header_len(token)];
        hmac::verify(&self.key, signed.as_bytes(), &mac).map_err(|_| AuthError::Invalid)?;
        let claims = object(claims, "claims")?;
        principal(&claims, now)
    }
}

/// The length of `header.claims` in `token` (up to the second dot).
fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(token.len())
}

fn object(part: &str, what: &str) -> Result<serde_json::Map<String, Value>, AuthError> {
    let bytes = from_base64url(part)
        .map_err(|_| AuthError::Malformed(format!("the {what} is not base64url")))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(AuthError::Malformed(format!(
            "the {what} is not a JSON object"
        ))),
    }
}

fn principal(
    claims: &serde_json::Map<String, Value>,
    now: SystemTime,
) -> Result<Principal, AuthError> {
    let sub = match claims.get("sub") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => {
            return Err(AuthError::Malformed(
                "the claims have no sub (the principal)".into(),
            ));
        }
    };
    let names: Vec<&str> = match claims.get("scope") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => s.split_ascii_whitespace().collect(),
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        Some(_) => {
            return Err(AuthError::Malformed(
                "scope must be a space-separated string".into(),
            ));
        }
    };
    // Scopes this node does not know are ignored (a token may carry scopes
    // of other services).
    let scopes = Scopes::of(names.into_iter().filter_map(Scope::parse));
    let expires = match claims.get("exp") {
        None => None,
        Some(v) => Some(time(v, "exp")?),
    };
    if let Some(exp) = expires
        && now >= exp
    {
        return Err(AuthError::Expired);
    }
    if let Some(nbf) = claims.get("nbf")
        && now < time(nbf, "nbf")?
    {
        return Err(AuthError::Invalid);
    }
    Ok(Principal::new(sub, scopes, expires))
}

/// A NumericDate (seconds since the epoch, possibly fractional).
fn time(v: &Value, name: &str) -> Result<SystemTime, AuthError> {
    let secs = v
        .as_f64()
        .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e11)
        .ok_or_else(|| AuthError::Malformed(format!("{name} must be a number of seconds")))?;
    Ok(UNIX_EPOCH + Duration::from_secs_f64(secs))
}

/// An HS256 token of `claims` signed with `secret` (tests, examples and
/// tools; the node only verifies).
pub fn sign_hs256(secret: &[u8], claims: &Value) -> String {
    let header = base64url(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims = base64url(claims.to_string().as_bytes());
    let input = format!("{header}.{claims}");
    let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", base64url(mac.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    #[test]
    fn a_token_made_by_pyjwt_verifies() {
        // jwt.encode({"sub": "alice", "scope": "read write", "exp": 4102444800},
        //            "test-secret", algorithm="HS256"), made with PyJWT 2.15.1.
        let token = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInNjb3BlIjoicmVhZCB3cml0ZSIsImV4cCI6NDEwMjQ0NDgwMH0.S4QBEIg73TlzxMjOssizFR4sAQs5j8TUDeHOc1rM168";
        let p = Hs256::new(b"test-secret").verify(token, now()).unwrap();
        assert_eq!(p.name(), "alice");
        assert!(p.has(Scope::Read) && p.has(Scope::Write) && !p.has(Scope::Admin));
        assert_eq!(
            p.expires(),
            Some(UNIX_EPOCH + Duration::from_secs(4_102_444_800))
        );
    }

    #[test]
    fn other_algorithms_and_tampering_are_refused() {
        let key = Hs256::new(b"k");
        let good = sign_hs256(b"k", &json!({"sub": "a", "scope": "admin"}));
        assert!(key.verify(&good, now()).unwrap().has(Scope::Admin));
        let claims = good.split('.').nth(1).unwrap();
        for header in [
            json!({"alg": "none"}),
            json!({"alg": "RS256"}),
            json!({"alg": "hs256"}),
            json!({}),
            json!({"alg": "HS256", "crit": ["b64"]}),
        ] {
            let h = base64url(header.to_string().as_bytes());
            // Unsigned (alg none) and re-signed with the right key: both refused.
            for token in [format!("{h}.{claims}."), {
                let input = format!("{h}.{claims}");
                let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, b"k"), input.as_bytes());
                format!("{input}.{}", base64url(mac.as_ref()))
            }] {
                assert!(
                    matches!(key.verify(&token, now()), Err(AuthError::Malformed(_))),
                    "{header}"
                );
            }
        }
        // A changed claim keeps the old MAC: invalid.
        let forged = base64url(
            json!({"sub": "a", "scope": "admin write"})
                .to_string()
                .as_bytes(),
        );
        let parts: Vec<&str> = good.split('.').collect();
        let token = format!("{}.{forged}.{}", parts[0], parts[2]);
        assert_eq!(key.verify(&token, now()), Err(AuthError::Invalid));
        assert_eq!(
            Hs256::new(b"j").verify(&good, now()),
            Err(AuthError::Invalid)
        );
    }

    #[test]
    fn time_claims_are_honoured() {
        let key = Hs256::new(b"k");
        let t = |claims: Value| key.verify(&sign_hs256(b"k", &claims), now());
        assert_eq!(
            t(json!({"sub": "a", "exp": 1_700_000_000})),
            Err(AuthError::Expired)
        );
        assert!(t(json!({"sub": "a", "exp": 1_900_000_000.5})).is_ok());
        assert_eq!(
            t(json!({"sub": "a", "nbf": 1_900_000_000})),
            Err(AuthError::Invalid)
        );
        assert!(matches!(
            t(json!({"sub": "a", "exp": "soon"})),
            Err(AuthError::Malformed(_))
        ));
        assert!(matches!(
            t(json!({"scope": "read"})),
            Err(AuthError::Malformed(_))
        ));
        // Unknown scopes are ignored; an array works too.
        let p = t(json!({"sub": "a", "scope": ["read", "profile"]})).unwrap();
        assert!(p.has(Scope::Read) && !p.has(Scope::Write));
    }

    #[test]
    fn garbage_never_panics() {
        let key = Hs256::new(b"k");
        for token in [
            "",
            ".",
            "..",
            "...",
            "a.b.c",
            "####.####.####",
            "eyJhbGciOiJIUzI1NiJ9..",
            "eyJhbGciOiJIUzI1NiJ9.e30.",
            "W10.W10.W10",
            &"A".repeat(MAX_TOKEN_BYTES + 1),
            "eyJhbGciOiJIUzI1NiJ9.\u{1F600}.x",
        ] {
            assert!(key.verify(token, now()).is_err(), "{token}");
        }
    }
}
