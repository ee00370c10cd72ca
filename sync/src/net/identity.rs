//! The node's key: an ed25519 secret key whose public half is the node id
//! (iroh's endpoint id), kept in the data directory so the id is stable
//! across restarts.

use std::io::Write;
use std::path::Path;

use iroh::SecretKey;

use crate::error::{Error, Result};

/// The file name of the key inside a data directory.
pub const KEY_FILE: &str = "node.key";

/// Reads the key in `dir/node.key`, or creates one there (mode 0600, written
/// to a temporary file, fsynced and renamed into place, so a crash leaves
/// either no key or a whole one).
///
/// The file holds the 32 secret bytes as 64 lowercase hex digits and a
/// newline. A file that does not parse is an error, never silently
/// replaced: the node id is the node's identity in its cluster.
pub fn load_or_create(dir: &Path) -> Result<SecretKey> {
    let path = dir.join(KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => parse(text.trim()).ok_or_else(|| Error::Identity {
            path: path.display().to_string(),
            problem: "not 64 hex digits".into(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretKey::generate();
            write(dir, &path, &key).map_err(|e| Error::Identity {
                path: path.display().to_string(),
                problem: e.to_string(),
            })?;
            Ok(key)
        }
        Err(e) => Err(Error::Identity {
            path: path.display().to_string(),
            problem: e.to_string(),
        }),
    }
}

fn parse(hex: &str) -> Option<SecretKey> {
    if hex.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(SecretKey::from_bytes(&bytes))
}

fn write(dir: &Path, path: &Path, key: &SecretKey) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!("{KEY_FILE}.tmp"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&tmp)?;
    let hex: String = key.to_bytes().iter().map(|b| format!("{b:02x}")).collect();
    file.write_all(format!("{hex}\n").as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_created_once_and_read_back() {
        let dir = std::env::temp_dir().join(format!("rhizome-key-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = load_or_create(&dir).unwrap();
        let second = load_or_create(&dir).unwrap();
        assert_eq!(first.public(), second.public());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.join(KEY_FILE), "not a key").unwrap();
        let err = load_or_create(&dir).unwrap_err().to_string();
        assert!(err.contains("node.key"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
