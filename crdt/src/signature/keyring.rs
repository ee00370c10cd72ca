//! The creators' registered keys, read from key deltas.
//!
//! A **key registration** is one delta filed under the entity
//! `_key/CREATOR`, property `public_key`, whose value is the key in
//! base64url; a **revocation** is the same with property `revoked`:
//!
//! ```json
//! {"id": "key-…", "timeCreated": T, "host": NODE_ID, "creator": NODE_ID,
//!  "pointers": [
//!    {"localContext": "key", "target": "_key/alice", "targetContext": "public_key"},
//!    {"localContext": "public_key", "target": "BASE64URL"},
//!    {"localContext": "registered_by", "target": "PRINCIPAL"}],
//!  "signature": "…"}
//! ```
//!
//! Such a delta **counts** only if it was made by an *authority*: its
//! `host` is a node id (the hex of that node's Ed25519 key), the node is an
//! authority for this node ([`Authorities`]), and the delta is signed by
//! that node's key. A node makes and signs a registration only for a
//! request carrying an `admin` token, so a counted registration proves an
//! admin of a trusted node made it; the same delta forged elsewhere does not
//! verify.
//!
//! The ring is a grow-only pair of sets (registered, revoked), so it is the
//! same whatever order key deltas arrive in: a creator's keys are those
//! registered and not revoked. Negating a key delta changes nothing (any
//! writer may negate any delta; only an authority may revoke a key).
//!
//! ```
//! use rhizome_crdt::signature::{Authorities, KeyRing, SigningKey, key_registration};
//!
//! let node = SigningKey::from_bytes(&[1; 32]);
//! let alice = SigningKey::from_bytes(&[2; 32]);
//! let mut ring = KeyRing::new(Authorities::only([node.public()]));
//! let reg = key_registration("alice", &alice.public(), "root", &node, 1_700_000_000_000)?;
//! assert!(ring.observe(&reg));
//! assert_eq!(ring.keys_of("alice"), vec![alice.public()]);
//! # Ok::<(), rhizome_crdt::Error>(())
//! ```

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::{PublicKey, SignatureError, SigningKey, verify, verify_any};
use crate::{Delta, Result, Target};

/// The prefix of the entities keys are filed on: `_key/CREATOR`.
pub const KEY_ENTITY_PREFIX: &str = "_key/";
/// The property a registration is filed under.
pub const PUBLIC_KEY: &str = "public_key";
/// The property a revocation is filed under.
pub const REVOKED: &str = "revoked";

/// The entity the keys of `creator` are filed on.
pub fn entity_of(creator: &str) -> String {
    format!("{KEY_ENTITY_PREFIX}{creator}")
}

/// Which nodes' key deltas count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Authorities {
    /// Any node's (every peer that can reach this node is trusted with keys).
    #[default]
    Any,
    /// Only these nodes' (by their public key, which is their node id).
    Only(BTreeSet<PublicKey>),
}

impl Authorities {
    /// Only the nodes of `keys`.
    pub fn only(keys: impl IntoIterator<Item = PublicKey>) -> Authorities {
        Authorities::Only(keys.into_iter().collect())
    }

    /// Whether key deltas made by `node` count.
    pub fn admits(&self, node: &PublicKey) -> bool {
        match self {
            Authorities::Any => true,
            Authorities::Only(set) => set.contains(node),
        }
    }
}

/// The keys registered for each creator.
#[derive(Clone, Debug, Default)]
pub struct KeyRing {
    authorities: Authorities,
    registered: HashMap<Arc<str>, BTreeSet<PublicKey>>,
    revoked: HashMap<Arc<str>, BTreeSet<PublicKey>>,
    generation: u64,
}

/// What a key delta says.
#[derive(Clone, Debug, PartialEq, Eq)]
enum KeyEvent {
    Register(Arc<str>, PublicKey),
    Revoke(Arc<str>, PublicKey),
}

impl KeyRing {
    /// An empty ring counting the key deltas of `authorities`.
    pub fn new(authorities: Authorities) -> KeyRing {
        KeyRing {
            authorities,
            ..KeyRing::default()
        }
    }

    /// The authorities whose key deltas count.
    pub fn authorities(&self) -> &Authorities {
        &self.authorities
    }

    /// Takes `delta` into account: if it is a key registration or
    /// revocation made by an authority, the ring changes and `true` is
    /// returned. Any other delta (including a key delta nobody trusted
    /// made) changes nothing.
    pub fn observe(&mut self, delta: &Delta) -> bool {
        let Some(event) = self.counted_event(delta) else {
            return false;
        };
        let (map, creator, key) = match event {
            KeyEvent::Register(c, k) => (&mut self.registered, c, k),
            KeyEvent::Revoke(c, k) => (&mut self.revoked, c, k),
        };
        let changed = map.entry(creator).or_default().insert(key);
        if changed {
            self.generation += 1;
        }
        changed
    }

    /// Bumped whenever the ring changes: a check made at one generation
    /// holds while the generation is the same.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Whether any creator has a key.
    pub fn is_empty(&self) -> bool {
        self.registered.is_empty()
    }

    /// The keys in force for `creator` (registered and not revoked).
    pub fn keys_of(&self, creator: &str) -> Vec<PublicKey> {
        let Some(registered) = self.registered.get(creator) else {
            return Vec::new();
        };
        let revoked = self.revoked.get(creator);
        registered
            .iter()
            .filter(|k| revoked.is_none_or(|r| !r.contains(*k)))
            .copied()
            .collect()
    }

    /// Whether deltas of `creator` must be signed: it has (or had) a key.
    /// A creator whose every key is revoked still needs a signature (none
    /// can verify until a new key is registered).
    pub fn requires_signature(&self, creator: &str) -> bool {
        self.registered.contains_key(creator)
    }

    /// Checks `delta` against its creator's keys: `Ok` when the creator has
    /// no key, or when the signature verifies under one of them.
    pub fn check(&self, delta: &Delta) -> std::result::Result<(), SignatureError> {
        if !self.requires_signature(delta.creator()) {
            return Ok(());
        }
        verify_any(delta, &self.keys_of(delta.creator()))
    }

    /// The key event `delta` carries if it counts here.
    fn counted_event(&self, delta: &Delta) -> Option<KeyEvent> {
        let event = parse(delta)?;
        let node = PublicKey::from_hex(delta.host()).ok()?;
        if !self.authorities.admits(&node) || verify(delta, &node).is_err() {
            return None;
        }
        Some(event)
    }
}

/// The key event of a delta shaped as a registration or revocation (who
/// made it is not checked here).
fn parse(delta: &Delta) -> Option<KeyEvent> {
    let (creator, property) = delta.references().find_map(|(id, context)| {
        let creator = id.strip_prefix(KEY_ENTITY_PREFIX)?;
        let context = context?;
        (!creator.is_empty() && (context == PUBLIC_KEY || context == REVOKED))
            .then_some((creator, context))
    })?;
    let entity = entity_of(creator);
    let Some(Target::String(text)) = delta.value_for(&entity, property) else {
        return None;
    };
    let key = PublicKey::from_base64url(text).ok()?;
    let creator: Arc<str> = Arc::from(creator);
    Some(if property == PUBLIC_KEY {
        KeyEvent::Register(creator, key)
    } else {
        KeyEvent::Revoke(creator, key)
    })
}

/// A registration of `key` for `creator`, made and signed by `node` for the
/// admin `registered_by`, at `timestamp` (ms). Its id is derived from its
/// content, so the same registration made twice is stored once.
pub fn key_registration(
    creator: &str,
    key: &PublicKey,
    registered_by: &str,
    node: &SigningKey,
    timestamp: u64,
) -> Result<Delta> {
    key_delta(creator, key, PUBLIC_KEY, registered_by, node, timestamp)
}

/// A revocation of `key` for `creator`, made and signed by `node` for the
/// admin `revoked_by`.
pub fn key_revocation(
    creator: &str,
    key: &PublicKey,
    revoked_by: &str,
    node: &SigningKey,
    timestamp: u64,
) -> Result<Delta> {
    key_delta(creator, key, REVOKED, revoked_by, node, timestamp)
}

fn key_delta(
    creator: &str,
    key: &PublicKey,
    property: &str,
    by: &str,
    node: &SigningKey,
    timestamp: u64,
) -> Result<Delta> {
    let node_id = node.public().to_hex();
    let encoded = key.to_base64url();
    let mut hash = blake3::Hasher::new();
    for part in [
        creator.as_bytes(),
        encoded.as_bytes(),
        property.as_bytes(),
        by.as_bytes(),
        node_id.as_bytes(),
    ] {
        hash.update(&(part.len() as u64).to_le_bytes());
        hash.update(part);
    }
    hash.update(&timestamp.to_le_bytes());
    let id = format!("key-{}", &hash.finalize().to_hex()[..32]);
    let role = if property == PUBLIC_KEY {
        "registered_by"
    } else {
        "revoked_by"
    };
    let delta = Delta::builder(node_id.as_str(), node_id.as_str())
        .id(id)
        .timestamp(timestamp)
        .set_property_as(entity_of(creator), property, Target::from(encoded), "key")
        .pointer(role, Target::from(by))
        .build()?;
    Ok(node.sign(delta))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> (SigningKey, SigningKey, SigningKey) {
        (
            SigningKey::from_bytes(&[1; 32]),
            SigningKey::from_bytes(&[2; 32]),
            SigningKey::from_bytes(&[3; 32]),
        )
    }

    #[test]
    fn only_authorities_registrations_count_in_any_order() {
        let (node, alice, rogue) = keys();
        let reg = key_registration("alice", &alice.public(), "root", &node, 10).unwrap();
        let forged = key_registration("alice", &rogue.public(), "root", &rogue, 11).unwrap();
        let revoke = key_revocation("alice", &alice.public(), "root", &node, 12).unwrap();
        let trusted = Authorities::only([node.public()]);
        for order in [
            vec![&reg, &forged, &revoke],
            vec![&revoke, &forged, &reg],
            vec![&forged, &revoke, &reg],
        ] {
            let mut ring = KeyRing::new(trusted.clone());
            for d in &order {
                ring.observe(d);
            }
            assert!(ring.requires_signature("alice"));
            assert!(ring.keys_of("alice").is_empty(), "revoked");
        }
        let mut ring = KeyRing::new(trusted.clone());
        assert!(!ring.observe(&forged), "a rogue node is no authority");
        assert!(ring.observe(&reg));
        assert!(!ring.observe(&reg), "the same registration twice");
        assert_eq!(ring.keys_of("alice"), vec![alice.public()]);
        assert_eq!(ring.generation(), 1);
        // With any authority, the rogue's registration counts too.
        let mut any = KeyRing::new(Authorities::Any);
        assert!(any.observe(&forged));
        // A registration whose signature was stripped or altered is nothing.
        let mut ring = KeyRing::new(trusted);
        assert!(!ring.observe(&reg.clone().with_signature(None)));
        let tampered = Delta::builder(reg.creator(), reg.host())
            .id(reg.id().as_str())
            .timestamp(10)
            .set_property_as(
                "_key/bob",
                PUBLIC_KEY,
                Target::from(alice.public().to_base64url()),
                "key",
            )
            .pointer("registered_by", Target::from("root"))
            .build()
            .unwrap()
            .with_signature(reg.signature().map(Arc::from));
        assert!(!ring.observe(&tampered));
    }

    #[test]
    fn checks_follow_the_ring() {
        let (node, alice, other) = keys();
        let mut ring = KeyRing::new(Authorities::only([node.public()]));
        let d = Delta::builder("alice", "app")
            .id("d")
            .timestamp(5)
            .set_property("alice", "name", "A")
            .build()
            .unwrap();
        ring.check(&d).unwrap();
        ring.observe(&key_registration("alice", &alice.public(), "root", &node, 1).unwrap());
        assert!(matches!(
            ring.check(&d),
            Err(SignatureError::Missing { .. })
        ));
        assert!(matches!(
            ring.check(&other.sign(d.clone())),
            Err(SignatureError::Invalid { .. })
        ));
        ring.check(&alice.sign(d.clone())).unwrap();
        // Rotation: a second key; both verify until one is revoked.
        ring.observe(&key_registration("alice", &other.public(), "root", &node, 2).unwrap());
        ring.check(&other.sign(d.clone())).unwrap();
        ring.observe(&key_revocation("alice", &alice.public(), "root", &node, 3).unwrap());
        assert!(ring.check(&alice.sign(d.clone())).is_err());
        ring.check(&other.sign(d)).unwrap();
    }
}
