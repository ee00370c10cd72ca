//! `rhizome keys`: Ed25519 key pairs for signed deltas (API.md §6), and
//! `rhizome put --sign`.
//!
//! A key file is JSON: `{"secret_key": BASE64URL, "public_key": BASE64URL}`
//! (32 bytes each), written with mode 0600.
//!
//! ```sh
//! rhizome keys gen --out alice.key          # prints the public key
//! rhizome keys register alice --key alice.key --token "$ADMIN_TOKEN"
//! rhizome put deltas.json --sign alice.key --token "$ALICE_TOKEN"
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use hyper::Method;
use rhizome_crdt::codec::{Format, json};
use rhizome_crdt::signature::{PublicKey, SigningKey, base64url, from_base64url};
use serde::{Deserialize, Serialize};

use super::Connect;
use super::client::encode;
use crate::{Error, Result};

/// `rhizome keys ...`.
#[derive(Subcommand, Clone, Debug)]
pub enum KeysCommand {
    /// Make a new Ed25519 key pair and write it to FILE (never
    /// overwritten); print the public key.
    Gen {
        /// Where to write the key pair (mode 0600).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Register the public key of KEYFILE for CREATOR on a node (needs an
    /// admin token): from then on CREATOR's deltas must be signed.
    Register {
        /// The creator the key signs for.
        creator: String,
        /// The key file (only its public key is sent).
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
        #[command(flatten)]
        connect: Connect,
    },
}

/// A key pair as stored in a key file.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    secret_key: String,
    public_key: String,
}

impl KeyFile {
    /// Reads and checks the key file at `path`.
    pub fn read(path: &Path) -> Result<SigningKey> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::Client(format!("cannot read {}: {e}", path.display())))?;
        let bad = |what: &str| Error::Client(format!("{}: {what}", path.display()));
        let file: KeyFile = serde_json::from_str(&text).map_err(|e| {
            bad(&format!(
                "not a key file ({{\"secret_key\", \"public_key\"}}): {e}"
            ))
        })?;
        let secret: [u8; 32] = from_base64url(&file.secret_key)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("secret_key is not 32 bytes of base64url"))?;
        let key = SigningKey::from_bytes(&secret);
        if key.public().to_base64url() != file.public_key {
            return Err(bad("public_key is not the public half of secret_key"));
        }
        Ok(key)
    }

    fn of(key: &SigningKey) -> KeyFile {
        KeyFile {
            secret_key: base64url(&key.to_bytes()),
            public_key: key.public().to_base64url(),
        }
    }
}

/// A fresh key pair from the operating system's randomness.
pub fn generate() -> SigningKey {
    SigningKey::from_bytes(&rhizome_sync::net::SecretKey::generate().to_bytes())
}

/// Signs every delta of `body` (any format; one delta, an array or
/// `{"deltas": [...]}`) and returns them as a v1 JSON array.
pub fn sign_batch(key: &SigningKey, body: &[u8]) -> Result<Vec<u8>> {
    let deltas =
        json::decode_batch(body).map_err(|e| Error::Client(format!("cannot sign: {e}")))?;
    let mut out = Vec::with_capacity(body.len() + deltas.len() * 100);
    out.push(b'[');
    for (i, d) in deltas.into_iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        json::encode_into(&key.sign(d), Format::V1, &mut out)
            .map_err(|e| Error::Client(format!("cannot encode a signed delta: {e}")))?;
    }
    out.push(b']');
    Ok(out)
}

/// Runs `rhizome keys ...`.
pub async fn run(command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Gen { out } => {
            let key = generate();
            let text = serde_json::to_string_pretty(&KeyFile::of(&key))
                .map_err(|e| Error::Client(e.to_string()))?;
            write_new(&out, text.as_bytes())?;
            println!("{}", key.public().to_base64url());
            Ok(())
        }
        KeysCommand::Register {
            creator,
            key,
            connect,
        } => {
            let public: PublicKey = KeyFile::read(&key)?.public();
            let body = serde_json::json!({"public_key": public.to_base64url()});
            let answer = connect
                .client()?
                .request(
                    Method::PUT,
                    &format!("/api/keys/{}", encode(&creator)),
                    Some(body.to_string().into_bytes()),
                )
                .await?
                .ok()?
                .json()?;
            if connect.json {
                println!("{answer}");
            } else {
                println!("registered {} for {creator}", public.to_base64url());
            }
            Ok(())
        }
    }
}

/// Writes `bytes` to a new file at `path`, readable by its owner only.
fn write_new(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| Error::Client(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(bytes)
        .and_then(|()| file.write_all(b"\n"))
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::Client(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_and_signed_batches_verify() {
        let dir = std::env::temp_dir().join(format!("rhizome-keys-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("k.json");
        let key = generate();
        let text = serde_json::to_string(&KeyFile::of(&key)).unwrap();
        write_new(&path, text.as_bytes()).unwrap();
        assert!(write_new(&path, b"{}").is_err(), "never overwritten");
        let back = KeyFile::read(&path).unwrap();
        assert_eq!(back.public(), key.public());
        let body = br#"{"id":"d1","timeCreated":1,"host":"h","creator":"alice","pointers":[]}"#;
        let signed = json::decode_batch(&sign_batch(&back, body).unwrap()).unwrap();
        rhizome_crdt::signature::verify(&signed[0], &key.public()).unwrap();
        std::fs::write(&path, r#"{"secret_key":"AA","public_key":"AA"}"#).unwrap();
        assert!(KeyFile::read(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
