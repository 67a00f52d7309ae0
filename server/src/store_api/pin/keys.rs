//! The key PINs travel under (SPEC §8.3): a P-256 key pair whose public half buyers'
//! browsers encrypt the PIN to, as a JWE compact serialization (`alg` `ECDH-ES`, `enc`
//! `A256GCM`, `kid` in the protected header, plaintext the six ASCII digits).
//!
//! The pair is made on first need and kept in the database (so every instance uses the
//! same), its private half sealed under the key ring. `paybridge rotate-pin-key` makes a
//! new current pair; the one it replaces still decrypts for [`ROTATION_OVERLAP`], so a page
//! that fetched the old public key finishes its PIN entry, then it is purged.
//!
//! Decryption is josekit's (OpenSSL's ECDH, Concat KDF and AES-GCM); before it, the
//! protected header is checked here, so that only the one algorithm pair we publish is
//! taken, whatever else the library would.

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use josekit::{
    jwe::{self, ECDH_ES},
    jwk::{alg::ec::EcCurve, KeyPair},
};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::{
    secrets::KeyRing,
    store::{new_id, PinKey, Store, StoreError},
};

/// How long a replaced key still decrypts.
pub const ROTATION_OVERLAP: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

pub const ALG: &str = "ECDH-ES";
pub const ENC: &str = "A256GCM";

/// A compact JWE of six digits is about 400 characters; far longer is not one of ours.
const MAX_JWE_LEN: usize = 4096;

/// Why an `encryptedPin` was not taken (all answered 422 `invalid_encrypted_pin`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JweRefusal {
    #[error("encryptedPin is not a JWE compact serialization: {0}")]
    Malformed(&'static str),
    #[error("encryptedPin must use alg ECDH-ES and enc A256GCM (got alg {alg:?}, enc {enc:?})")]
    WrongAlgorithm { alg: String, enc: String },
    #[error("encryptedPin names a key (kid) we do not have or no longer decrypt with: fetch GET /api/v2/pin/public-key again")]
    UnknownKey,
    #[error("encryptedPin could not be decrypted: it was not encrypted to this key or was altered")]
    Undecryptable,
}

#[derive(Debug, thiserror::Error)]
pub enum PinKeyError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("PIN key {kid}: {cause}")]
    Key { kid: String, cause: String },
}

/// The key PINs are encrypted to now, made (and kept) on first need.
pub async fn current(store: &Store, keys: &KeyRing) -> Result<PinKey, PinKeyError> {
    if let Some(key) = store.current_pin_key().await? {
        return Ok(key);
    }
    let (key, sealed) = generate(keys)?;
    if store.add_first_pin_key(&key, &sealed).await? {
        tracing::info!(kid = %key.kid, "made the PIN encryption key");
        return Ok(key);
    }
    // Another instance made one at the same time: that one is the key.
    store.current_pin_key().await?.ok_or_else(|| PinKeyError::Key {
        kid: key.kid,
        cause: "no current key after another instance made one".into(),
    })
}

/// Makes a new current key; returns it and the id of the one it replaced (which still
/// decrypts for [`ROTATION_OVERLAP`]).
pub async fn rotate(store: &Store, keys: &KeyRing) -> Result<(PinKey, Option<String>), PinKeyError> {
    let (key, sealed) = generate(keys)?;
    let retired = store.rotate_pin_key(&key, &sealed, ROTATION_OVERLAP.as_millis() as i64).await?;
    Ok((key, retired))
}

/// A fresh P-256 pair: its public JWK and its private half (PKCS#8 DER), sealed.
fn generate(keys: &KeyRing) -> Result<(PinKey, String), PinKeyError> {
    let kid = new_id("pinkey");
    let failed = |cause: josekit::JoseError| PinKeyError::Key { kid: kid.clone(), cause: cause.to_string() };
    let pair = ECDH_ES.generate_ec_key_pair(EcCurve::P256).map_err(failed)?;
    let mut jwk = pair.to_jwk_public_key();
    jwk.set_key_id(&kid);
    jwk.set_key_use("enc");
    jwk.set_algorithm(ALG);
    let der = Zeroizing::new(pair.to_der_private_key());
    let encoded = Zeroizing::new(URL_SAFE_NO_PAD.encode(&*der));
    let sealed = keys.seal(&crate::store::pin_key_context(&kid), &encoded);
    Ok((PinKey { public_jwk: jwk.to_string(), kid }, sealed))
}

/// The plaintext of an `encryptedPin`, or why it was refused. Only what we publish is
/// taken: `alg` `ECDH-ES`, `enc` `A256GCM`, a `kid` of a key that still decrypts, no
/// compression and no critical extensions.
pub async fn decrypt(
    store: &Store,
    keys: &KeyRing,
    jwe: &str,
) -> Result<Result<Zeroizing<Vec<u8>>, JweRefusal>, PinKeyError> {
    let kid = match protected_header(jwe) {
        Ok(kid) => kid,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let Some(sealed) = store.pin_decryption_key(&kid).await? else {
        return Ok(Err(JweRefusal::UnknownKey));
    };
    let broken = |cause: String| PinKeyError::Key { kid: kid.clone(), cause };
    let encoded =
        Zeroizing::new(keys.open(&crate::store::pin_key_context(&kid), &sealed).map_err(|e| broken(e.to_string()))?);
    let der = Zeroizing::new(URL_SAFE_NO_PAD.decode(encoded.as_bytes()).map_err(|e| broken(e.to_string()))?);
    decrypt_with(&der, &kid, jwe).map_err(|e| broken(e.to_string()))
}

/// The plaintext of `jwe` under the private key `der` (PKCS#8) whose id is `kid`, or why
/// it was refused; `Err` when the key itself is broken. Pure: a refusal changes nothing.
pub fn open(der: &[u8], kid: &str, jwe: &str) -> Result<Result<Zeroizing<Vec<u8>>, JweRefusal>, josekit::JoseError> {
    match protected_header(jwe) {
        Ok(named) if named == kid => decrypt_with(der, kid, jwe),
        Ok(_) => Ok(Err(JweRefusal::UnknownKey)),
        Err(refusal) => Ok(Err(refusal)),
    }
}

/// `jwe`, whose protected header was checked and names `kid`, under the private key `der`.
fn decrypt_with(
    der: &[u8],
    kid: &str,
    jwe: &str,
) -> Result<Result<Zeroizing<Vec<u8>>, JweRefusal>, josekit::JoseError> {
    let mut decrypter = ECDH_ES.decrypter_from_der(der)?;
    decrypter.set_key_id(kid);
    // Any failure here is the JWE's: a bad ephemeral key, a wrong tag, a changed header
    // (the header is the AAD), a ciphertext for another key.
    Ok(jwe::deserialize_compact(jwe, &decrypter)
        .map(|(plaintext, _header)| Zeroizing::new(plaintext))
        .map_err(|_| JweRefusal::Undecryptable))
}

/// The `kid` of a compact JWE whose protected header asks for exactly what we publish.
pub fn protected_header(jwe: &str) -> Result<String, JweRefusal> {
    if jwe.len() > MAX_JWE_LEN {
        return Err(JweRefusal::Malformed("too long"));
    }
    let parts: Vec<&str> = jwe.split('.').collect();
    let [header, encrypted_key, iv, ciphertext, tag] = parts[..] else {
        return Err(JweRefusal::Malformed("it must have five parts separated by dots"));
    };
    if !encrypted_key.is_empty() {
        return Err(JweRefusal::Malformed("with ECDH-ES (direct key agreement) the encrypted key part is empty"));
    }
    if iv.is_empty() || tag.is_empty() {
        return Err(JweRefusal::Malformed("the IV and tag parts are required"));
    }
    let _ = ciphertext; // may be empty (an empty plaintext): refused as a PIN, not as a JWE
    let bytes = URL_SAFE_NO_PAD.decode(header).map_err(|_| JweRefusal::Malformed("the header is not base64url"))?;
    let header: Map<String, Value> =
        serde_json::from_slice(&bytes).map_err(|_| JweRefusal::Malformed("the header is not a JSON object"))?;
    let text = |name: &str| header.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
    let (alg, enc) = (text("alg"), text("enc"));
    if alg != ALG || enc != ENC {
        return Err(JweRefusal::WrongAlgorithm { alg, enc });
    }
    if header.contains_key("zip") || header.contains_key("crit") {
        return Err(JweRefusal::Malformed("zip and crit are not supported"));
    }
    match header.get("kid").and_then(Value::as_str) {
        Some(kid) if !kid.is_empty() => Ok(kid.to_owned()),
        _ => Err(JweRefusal::Malformed("the protected header has no kid")),
    }
}
