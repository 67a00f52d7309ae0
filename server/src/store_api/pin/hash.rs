//! How a PIN is kept (SPEC §8.3): argon2id of the six digits, keyed with a server-side
//! pepper (argon2's secret input), as a PHC string.
//!
//! Parameters: argon2id v1.3, 19 MiB of memory, 2 passes, 1 lane, a 16-byte random salt
//! and a 32-byte output — the OWASP minimum for argon2id. A six-digit PIN has only a
//! million values, so the hash alone would not protect it: the pepper, which is not in
//! the row, is what makes a stolen table useless, and the lock-out what stops guessing
//! through the API. The work runs on tokio's blocking threads, at most
//! [`CONCURRENT_HASHES`] at once (each holds 19 MiB).
//!
//! The pepper is 32 random bytes made once (by whichever instance needs it first) and kept
//! in `server_secrets`, sealed under the key ring like every other secret. It is not
//! derived from `ENCRYPTION_KEY`: a derived pepper would change with the key and no PIN
//! could be checked afterwards (a PIN cannot be re-hashed without the PIN).
//! `paybridge rotate-keys` re-encrypts it under the new key; its value never changes.

use argon2::{
    password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Algorithm, Argon2, Params, Version,
};
use base64::{engine::general_purpose::STANDARD, Engine};
use rand::RngCore;
use tokio::sync::Semaphore;
use zeroize::Zeroizing;

use crate::{
    domain::Pin,
    secrets::KeyRing,
    store::{server_secret_context, Store, StoreError},
};

pub const PEPPER_NAME: &str = "pin_pepper";
/// Argon2id hashes running at once in this process, at most.
pub const CONCURRENT_HASHES: usize = 4;
const MEMORY_KIB: u32 = 19 * 1024;
const PASSES: u32 = 2;
const LANES: u32 = 1;

static HASHING: Semaphore = Semaphore::const_new(CONCURRENT_HASHES);

#[derive(Debug, thiserror::Error)]
pub enum PinHashError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the PIN pepper: {0}")]
    Pepper(String),
    #[error("argon2: {0}")]
    Argon2(String),
    #[error("the PIN hash task: {0}")]
    Task(String),
}

/// The pepper, made and kept on first need.
async fn pepper(store: &Store, keys: &KeyRing) -> Result<Zeroizing<Vec<u8>>, PinHashError> {
    let context = server_secret_context(PEPPER_NAME);
    let sealed = match store.server_secret(PEPPER_NAME).await? {
        Some(sealed) => sealed,
        None => {
            let mut bytes = Zeroizing::new([0u8; 32]);
            rand::rng().fill_bytes(&mut bytes[..]);
            let encoded = Zeroizing::new(STANDARD.encode(&bytes[..]));
            // Whichever instance kept one first wins; this one reads that.
            store.add_server_secret(PEPPER_NAME, &keys.seal(&context, &encoded)).await?
        }
    };
    let encoded = Zeroizing::new(keys.open(&context, &sealed).map_err(|e| PinHashError::Pepper(e.to_string()))?);
    let pepper = STANDARD.decode(encoded.as_bytes()).map_err(|e| PinHashError::Pepper(e.to_string()))?;
    Ok(Zeroizing::new(pepper))
}

fn hasher(pepper: &[u8]) -> Result<Argon2<'_>, PinHashError> {
    let params = Params::new(MEMORY_KIB, PASSES, LANES, Some(32)).map_err(|e| PinHashError::Argon2(e.to_string()))?;
    Argon2::new_with_secret(pepper, Algorithm::Argon2id, Version::V0x13, params)
        .map_err(|e| PinHashError::Argon2(e.to_string()))
}

/// Runs `work` (argon2) on a blocking thread, within the process's limit.
async fn off_the_runtime<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, PinHashError> + Send + 'static,
) -> Result<T, PinHashError> {
    let _permit = HASHING.acquire().await.map_err(|e| PinHashError::Task(e.to_string()))?;
    tokio::task::spawn_blocking(work).await.map_err(|e| PinHashError::Task(e.to_string()))?
}

/// The PHC string to keep for `pin`.
pub async fn hash(store: &Store, keys: &KeyRing, pin: Pin) -> Result<String, PinHashError> {
    let pepper = pepper(store, keys).await?;
    off_the_runtime(move || {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|e| PinHashError::Argon2(e.to_string()))?;
        let hash =
            hasher(&pepper)?.hash_password(pin.as_bytes(), &salt).map_err(|e| PinHashError::Argon2(e.to_string()))?;
        Ok(hash.to_string())
    })
    .await
}

/// Whether `pin` is the one `phc` was made of.
pub async fn matches(store: &Store, keys: &KeyRing, pin: Pin, phc: &str) -> Result<bool, PinHashError> {
    let pepper = pepper(store, keys).await?;
    let phc = phc.to_owned();
    off_the_runtime(move || {
        let parsed = PasswordHash::new(&phc).map_err(|e| PinHashError::Argon2(format!("the kept hash: {e}")))?;
        match hasher(&pepper)?.verify_password(pin.as_bytes(), &parsed) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::Password) => Ok(false),
            Err(e) => Err(PinHashError::Argon2(e.to_string())),
        }
    })
    .await
}
