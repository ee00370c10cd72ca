//! Signed deltas (API.md §6): Ed25519 over the [canonical form](crate::canonical).
//!
//! A delta may carry a `signature`: the base64url (no padding) Ed25519
//! signature of its canonical bytes. Once its creator has a registered key
//! ([`KeyRing`]), a delta must carry a signature that verifies under one of
//! that creator's keys (`verify_strict`: no malleable or small-order
//! encodings), wherever it comes from.
//!
//! ```
//! use rhizome_crdt::Delta;
//! use rhizome_crdt::signature::{SigningKey, verify};
//!
//! let key = SigningKey::from_bytes(&[7; 32]);
//! let delta = Delta::builder("alice", "app")
//!     .id("d1")
//!     .timestamp(1_700_000_000_000)
//!     .set_property("alice", "name", "Alice")
//!     .build()?;
//! let signed = key.sign(delta);
//! assert!(verify(&signed, &key.public()).is_ok());
//! # Ok::<(), rhizome_crdt::Error>(())
//! ```

mod keyring;

use std::fmt;
use std::sync::Arc;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ed25519_dalek::Signer;

use crate::Delta;
use crate::canonical::canonical_bytes;

pub use keyring::{
    Authorities, KEY_ENTITY_PREFIX, KeyRing, PUBLIC_KEY, REVOKED, entity_of, key_registration,
    key_revocation,
};

/// base64url without padding on output; padding optional on input.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Encodes `bytes` as base64url without padding.
pub fn base64url(bytes: &[u8]) -> String {
    BASE64URL.encode(bytes)
}

/// Decodes base64url, with or without padding.
pub fn from_base64url(text: &str) -> Result<Vec<u8>, SignatureError> {
    BASE64URL
        .decode(text)
        .map_err(|e| SignatureError::Malformed(format!("not base64url: {e}")))
}

/// Why a delta's signature is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The creator has a key and the delta carries no signature.
    #[error("creator {creator:?} has a registered key and the delta is not signed")]
    Missing {
        /// The delta's creator.
        creator: String,
    },
    /// The signature (or a key) is not base64url of the right length.
    #[error("malformed: {0}")]
    Malformed(String),
    /// The signature does not verify under any key of the creator.
    #[error("the signature does not verify under any key registered for {creator:?}")]
    Invalid {
        /// The delta's creator.
        creator: String,
    },
}

impl SignatureError {
    /// A short machine-readable reason: `missing`, `malformed`, `invalid`
    /// (metric labels, logs).
    pub fn reason(&self) -> &'static str {
        match self {
            SignatureError::Missing { .. } => "missing",
            SignatureError::Malformed(_) => "malformed",
            SignatureError::Invalid { .. } => "invalid",
        }
    }
}

/// An Ed25519 public key (32 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; 32]);

impl PublicKey {
    /// The key from its 32 bytes, if they are a valid curve point.
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<PublicKey, SignatureError> {
        ed25519_dalek::VerifyingKey::from_bytes(bytes)
            .map_err(|_| SignatureError::Malformed("not an Ed25519 public key".into()))?;
        Ok(PublicKey(*bytes))
    }

    /// The key from base64url (32 bytes once decoded).
    pub fn from_base64url(text: &str) -> Result<PublicKey, SignatureError> {
        let bytes = from_base64url(text)?;
        let bytes: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
            SignatureError::Malformed(format!(
                "a public key is 32 bytes, this one is {}",
                bytes.len()
            ))
        })?;
        PublicKey::from_bytes(&bytes)
    }

    /// The key from lowercase or uppercase hex (64 digits): how node ids
    /// are written.
    pub fn from_hex(text: &str) -> Result<PublicKey, SignatureError> {
        let text = text.as_bytes();
        if text.len() != 64 {
            return Err(SignatureError::Malformed("not 64 hex digits".into()));
        }
        let mut bytes = [0u8; 32];
        for (i, pair) in text.chunks_exact(2).enumerate() {
            let digit = |c: u8| (c as char).to_digit(16);
            match (digit(pair[0]), digit(pair[1])) {
                (Some(h), Some(l)) => bytes[i] = (h * 16 + l) as u8,
                _ => return Err(SignatureError::Malformed("not 64 hex digits".into())),
            }
        }
        PublicKey::from_bytes(&bytes)
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// base64url without padding.
    pub fn to_base64url(&self) -> String {
        base64url(&self.0)
    }

    /// Lowercase hex (a node id).
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether `signature` is a valid strict Ed25519 signature of `message`.
    pub fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&self.0) else {
            return false;
        };
        let signature = ed25519_dalek::Signature::from_bytes(signature);
        key.verify_strict(message, &signature).is_ok()
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_base64url())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64url())
    }
}

/// An Ed25519 signing key: signs deltas (the CLI's `put --sign`, a node's
/// key registrations, tests).
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// The key from its 32 secret bytes.
    pub fn from_bytes(secret: &[u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(secret))
    }

    /// The 32 secret bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The public half.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// The signature of `message` (64 bytes).
    pub fn sign_bytes(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// `delta` carrying its signature (any signature it had is replaced).
    pub fn sign(&self, delta: Delta) -> Delta {
        let signature = base64url(&self.sign_bytes(&canonical_bytes(&delta)));
        delta.with_signature(Some(Arc::from(signature)))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey(public {})", self.public())
    }
}

/// Checks that `delta` carries a signature of its canonical form that
/// verifies under `key`.
pub fn verify(delta: &Delta, key: &PublicKey) -> Result<(), SignatureError> {
    verify_any(delta, std::slice::from_ref(key))
}

/// Checks that `delta` carries a signature of its canonical form that
/// verifies under one of `keys` (a creator may have several).
pub fn verify_any(delta: &Delta, keys: &[PublicKey]) -> Result<(), SignatureError> {
    let Some(text) = delta.signature() else {
        return Err(SignatureError::Missing {
            creator: delta.creator().to_owned(),
        });
    };
    let bytes = from_base64url(text)?;
    let signature: [u8; 64] = bytes.as_slice().try_into().map_err(|_| {
        SignatureError::Malformed(format!(
            "an Ed25519 signature is 64 bytes, this one is {}",
            bytes.len()
        ))
    })?;
    let message = canonical_bytes(delta);
    if keys.iter().any(|k| k.verifies(&message, &signature)) {
        Ok(())
    } else {
        Err(SignatureError::Invalid {
            creator: delta.creator().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delta() -> Delta {
        Delta::builder("alice", "app")
            .id("d1")
            .timestamp(1_700_000_000_000)
            .set_property("alice", "name", "Alice")
            .build()
            .unwrap()
    }

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let key = SigningKey::from_bytes(&[1; 32]);
        let signed = key.sign(delta());
        verify(&signed, &key.public()).unwrap();
        // Another key.
        let other = SigningKey::from_bytes(&[2; 32]).public();
        assert!(matches!(
            verify(&signed, &other),
            Err(SignatureError::Invalid { .. })
        ));
        verify_any(&signed, &[other, key.public()]).unwrap();
        // Other content, same signature.
        let tampered = Delta::builder("alice", "app")
            .id("d1")
            .timestamp(1_700_000_000_001)
            .set_property("alice", "name", "Alice")
            .build()
            .unwrap()
            .with_signature(signed.signature().map(Arc::from));
        assert!(verify(&tampered, &key.public()).is_err());
        // One flipped bit of the signature.
        let mut sig = from_base64url(signed.signature().unwrap()).unwrap();
        sig[10] ^= 1;
        let flipped = delta().with_signature(Some(base64url(&sig).into()));
        assert!(verify(&flipped, &key.public()).is_err());
        // Missing and malformed.
        assert!(matches!(
            verify(&delta(), &key.public()),
            Err(SignatureError::Missing { .. })
        ));
        for bad in ["***", "c2ln", ""] {
            let d = delta().with_signature(Some(bad.into()));
            assert!(
                matches!(verify(&d, &key.public()), Err(SignatureError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn padding_is_optional_and_keys_round_trip() {
        let key = SigningKey::from_bytes(&[3; 32]);
        let signed = key.sign(delta());
        let padded = format!("{}==", signed.signature().unwrap());
        verify(&delta().with_signature(Some(padded.into())), &key.public()).unwrap();
        let public = key.public();
        assert_eq!(
            PublicKey::from_base64url(&public.to_base64url()).unwrap(),
            public
        );
        assert_eq!(PublicKey::from_hex(&public.to_hex()).unwrap(), public);
        assert!(PublicKey::from_base64url("AAAA").is_err());
        assert!(PublicKey::from_hex("zz").is_err());
    }

    #[test]
    fn a_signature_made_elsewhere_verifies() {
        // RFC 8032 test vector 1: the empty message.
        let secret: [u8; 32] =
            hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
        let key = SigningKey::from_bytes(&secret);
        assert_eq!(
            key.public().to_hex(),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let sig: [u8; 64] = hex(concat!(
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155",
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        ));
        assert_eq!(key.sign_bytes(b""), sig);
        assert!(key.public().verifies(b"", &sig));
    }

    fn hex<const N: usize>(text: &str) -> [u8; N] {
        let mut out = [0u8; N];
        for (i, b) in out.iter_mut().enumerate() {
            *b = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }
}
