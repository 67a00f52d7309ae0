//! Secrets at rest (SPEC §7): AES-256-GCM under a versioned key ring. The first key of
//! `ENCRYPTION_KEY` encrypts; every key decrypts, so keys rotate without downtime.
//! Sealed values look like `v1.<key id>.<base64url(nonce ‖ ciphertext)>`; the key id is
//! derived from the key itself, so reordering the list never breaks old values.

use std::{fmt, path::Path};

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use base64::{
    engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD},
    Engine,
};
use rand::RngCore;
use sha2::{Digest, Sha256};

const FORMAT: &str = "v1";
const NONCE_LEN: usize = 12;

#[derive(Clone)]
struct Key {
    id: String,
    cipher: Aes256Gcm,
}

#[derive(Clone)]
pub struct KeyRing {
    keys: Vec<Key>,
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<&str> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("KeyRing").field("key_ids", &ids).finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed with key {0}, which is not in ENCRYPTION_KEY")]
    UnknownKey(String),
    #[error("sealed value failed authentication (wrong key or tampered)")]
    Tampered,
}

impl KeyRing {
    /// `ENCRYPTION_KEY`: one or more base64 32-byte keys, comma-separated.
    pub fn parse_list(list: &str) -> Result<Self, String> {
        let keys = list
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .enumerate()
            .map(|(i, encoded)| {
                let bytes = [&STANDARD, &URL_SAFE, &URL_SAFE_NO_PAD]
                    .iter()
                    .find_map(|engine| engine.decode(encoded).ok())
                    .ok_or_else(|| format!("key #{} is not base64", i + 1))?;
                if bytes.len() != 32 {
                    return Err(format!("key #{} is {} bytes; it must be 32", i + 1, bytes.len()));
                }
                Ok(Key::new(&bytes))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if keys.is_empty() {
            return Err("no key given".into());
        }
        Ok(KeyRing { keys })
    }

    /// A fresh random key, base64, for `ENCRYPTION_KEY`.
    pub fn generate_encoded() -> String {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        STANDARD.encode(bytes)
    }

    /// Development only: reads `<dir>/encryption.key`, creating it when missing.
    pub fn load_or_create_in(dir: &Path) -> std::io::Result<(Self, bool)> {
        let path = dir.join("encryption.key");
        let created = !path.exists();
        if created {
            std::fs::create_dir_all(dir)?;
            write_private(&path, &Self::generate_encoded())?;
        }
        let text = std::fs::read_to_string(&path)?;
        let ring = Self::parse_list(&text)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?;
        Ok((ring, created))
    }

    pub fn current_key_id(&self) -> &str {
        &self.keys[0].id
    }

    /// Encrypts `plaintext`; `context` (e.g. `pg_credentials:demomall`) is bound as
    /// associated data so a sealed value cannot be moved to another row.
    pub fn seal(&self, context: &str, plaintext: &str) -> String {
        let key = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = key
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext.as_bytes(), aad: context.as_bytes() })
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ciphertext);
        format!("{FORMAT}.{}.{}", key.id, URL_SAFE_NO_PAD.encode(blob))
    }

    pub fn open(&self, context: &str, sealed: &str) -> Result<String, SecretError> {
        let mut parts = sealed.splitn(3, '.');
        let (Some(FORMAT), Some(key_id), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SecretError::Malformed);
        };
        let key =
            self.keys.iter().find(|k| k.id == key_id).ok_or_else(|| SecretError::UnknownKey(key_id.to_owned()))?;
        let blob = URL_SAFE_NO_PAD.decode(body).map_err(|_| SecretError::Malformed)?;
        if blob.len() < NONCE_LEN {
            return Err(SecretError::Malformed);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        let plain = key
            .cipher
            .decrypt(Nonce::from_slice(nonce), Payload { msg: ciphertext, aad: context.as_bytes() })
            .map_err(|_| SecretError::Tampered)?;
        String::from_utf8(plain).map_err(|_| SecretError::Malformed)
    }

    /// Whether `sealed` was made with a key other than the current one.
    pub fn needs_rotation(&self, sealed: &str) -> bool {
        sealed.split('.').nth(1) != Some(self.current_key_id())
    }
}

impl Key {
    fn new(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        Key {
            id: digest[..4].iter().map(|b| format!("{b:02x}")).collect(),
            cipher: Aes256Gcm::new_from_slice(bytes).expect("32-byte key"),
        }
    }
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_context() {
        let ring = KeyRing::parse_list(&KeyRing::generate_encoded()).unwrap();
        let sealed = ring.seal("pg_credentials:demomall", "demo-app-secret-key");
        assert!(!sealed.contains("demo-app-secret-key"));
        assert_eq!(ring.open("pg_credentials:demomall", &sealed).unwrap(), "demo-app-secret-key");
        assert_eq!(ring.open("pg_credentials:othermall", &sealed), Err(SecretError::Tampered));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(ring.open("pg_credentials:demomall", &tampered).is_err());
    }

    #[test]
    fn a_rotated_ring_still_opens_values_sealed_under_the_old_key() {
        let old = KeyRing::generate_encoded();
        let new = KeyRing::generate_encoded();
        let before = KeyRing::parse_list(&old).unwrap();
        let sealed = before.seal("ctx", "s3cret");
        let rotated = KeyRing::parse_list(&format!("{new},{old}")).unwrap();
        assert_eq!(rotated.open("ctx", &sealed).unwrap(), "s3cret");
        assert!(rotated.needs_rotation(&sealed));
        assert!(!rotated.needs_rotation(&rotated.seal("ctx", "s3cret")));
        let only_new = KeyRing::parse_list(&new).unwrap();
        assert!(matches!(only_new.open("ctx", &sealed), Err(SecretError::UnknownKey(_))));
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(KeyRing::parse_list("not base64!").is_err());
        assert!(KeyRing::parse_list("c2hvcnQ=").is_err());
        assert!(KeyRing::parse_list(" , ").is_err());
    }
}
