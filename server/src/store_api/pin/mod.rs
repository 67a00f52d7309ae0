//! A customer's PIN (SPEC §8.3): the public key the buyer's browser encrypts it to, setting
//! it, and verifying it for a single-use `pv_…` token bound to the customer.
//!
//! The PIN arrives only inside a JWE ([`keys`]); decrypted, it is a [`Pin`] that is checked
//! and hashed ([`hash`]), then wiped. It is never logged, stored or answered.
//!
//! Lock-out: 5 consecutive wrong PINs lock the PIN for 30 minutes, during which every
//! verify is 423 `pin_locked`, the right PIN too; a right PIN resets the count. Each wrong
//! PIN is counted by one conditional UPDATE in the database (see `store::pins`), so the
//! count is exact whatever runs at the same time, on any number of instances.
//!
//! Under the Idempotency-Key (SPEC §8.1), a verify is like any POST, with these answers:
//! - right PIN: 200 with the token; the same request again with the same key answers that
//!   same token (the answer is kept sealed under the key ring, as the token is a secret),
//!   never a second one — whether the first was used meanwhile or not.
//! - wrong PIN: 422 `pin_mismatch` was counted, so the answer is kept and replayed: the
//!   same request again is not counted twice.
//! - refused before anything was checked (malformed JWE, unknown `kid`, no PIN, locked):
//!   nothing was counted and the key is as new.
//! - a fault of ours (5xx) leaves the key to resume: the retry checks the PIN again (a
//!   token the first attempt may have issued was never shown, and expires unused).

pub mod hash;
pub mod keys;

use std::time::Duration;

use axum::{
    extract::{Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use zeroize::Zeroizing;

use super::{
    model::{rfc3339, ErrorBody},
    request::{parse, post_json, post_json_sealed, Answer, Body, Merchant},
    ApiError, StoreApiContext,
};
use crate::{
    domain::{Pin, PinRefusal},
    store::{now_ms, random_token, LockOut},
};
use keys::JweRefusal;

/// SPEC §8.3: 5 consecutive wrong PINs lock the PIN for 30 minutes.
pub const LOCK_OUT: LockOut = LockOut { max_attempts: 5, lock_ms: 30 * 60 * 1000 };
/// How long a verification token is good for (SPEC §8.3: at most 5 minutes).
pub const VERIFICATION_LIFETIME: Duration = Duration::from_secs(5 * 60);

/// `GET /api/v2/pin/public-key`
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct PinPublicKey {
    /// The key's id: put it in the JWE's protected header as `kid`.
    pub kid: String,
    /// The public key as a JWK: `{"kty":"EC","crv":"P-256","x","y","use":"enc","alg":"ECDH-ES","kid"}`.
    #[schema(value_type = Object)]
    pub jwk: Value,
}

/// `POST /api/v2/customers/{customerId}/pin`
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SetPin {
    /// The new PIN as a JWE compact serialization (`alg` `ECDH-ES`, `enc` `A256GCM`, `kid`
    /// of `GET /api/v2/pin/public-key`), the plaintext six ASCII digits.
    pub encrypted_pin: String,
    /// Required to replace an existing PIN: a `pv_…` token of a verify of the current PIN
    /// (used up).
    pub verification_token: Option<String>,
}

/// `POST /api/v2/customers/{customerId}/pin/verify`
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyPin {
    /// The PIN as a JWE compact serialization, as for setting it.
    pub encrypted_pin: String,
}

/// A customer's PIN (never the PIN itself).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PinObject {
    /// `pin`.
    pub object: String,
    pub customer_id: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A right PIN.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PinVerification {
    pub verified: bool,
    /// `pv_…`: single use, for this customer only, until `expiresAt` (5 minutes).
    pub verification_token: String,
    pub expires_at: String,
}

fn json_of<T: Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// 1–64 visible ASCII characters (SPEC §8.1: the store's own ids).
fn customer(customer_id: &str) -> Result<(), ApiError> {
    if (1..=64).contains(&customer_id.len()) && customer_id.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(())
    } else {
        Err(ApiError::field("parameter_invalid", "customerId", "customerId must be 1 to 64 visible ASCII characters"))
    }
}

fn pin_locked(until: i64) -> ApiError {
    ApiError::new(
        StatusCode::LOCKED,
        "pin_error",
        "pin_locked",
        "too many wrong PINs: the PIN is locked until lockedUntil, for the right PIN too",
    )
    .with("lockedUntil", rfc3339(until))
}

fn verification_required(message: &str) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "pin_error", "pin_verification_required", message).at("verificationToken")
}

fn pin_not_set() -> ApiError {
    ApiError::invalid(StatusCode::NOT_FOUND, "pin_not_set", "this customer has no PIN")
}

/// The six digits inside `encryptedPin` (422 `invalid_encrypted_pin` when it is not a
/// JWE of ours that decrypts).
async fn decrypt(ctx: &StoreApiContext, encrypted_pin: &str) -> Result<Zeroizing<Vec<u8>>, ApiError> {
    match keys::decrypt(&ctx.store, &ctx.keys, encrypted_pin).await {
        Ok(Ok(plaintext)) => Ok(plaintext),
        Ok(Err(refusal)) => Err(refused_jwe(&refusal)),
        Err(e) => Err(ApiError::internal("decrypting a PIN", e)),
    }
}

fn refused_jwe(refusal: &JweRefusal) -> ApiError {
    ApiError::field("invalid_encrypted_pin", "encryptedPin", refusal.to_string())
}

fn refused_pin(refusal: PinRefusal) -> ApiError {
    let code = match refusal {
        PinRefusal::NotSixDigits => "invalid_pin",
        PinRefusal::Weak => "weak_pin",
    };
    ApiError::field(code, "encryptedPin", refusal.to_string())
}

#[utoipa::path(
    get, path = "/api/v2/pin/public-key", tag = "pin",
    summary = "The key to encrypt PINs to",
    description = "A P-256 public key as a JWK. The buyer's browser encrypts the PIN to it as a JWE compact serialization (`alg` `ECDH-ES`, `enc` `A256GCM`, this `kid` in the protected header, plaintext the six ASCII digits). After a rotation the previous key still decrypts for 24 hours; the answer may be cached for an hour.",
    responses((status = 200, description = "The current key", body = PinPublicKey)),
    security(("api_key" = []))
)]
pub async fn public_key(State(ctx): State<StoreApiContext>, _merchant: Merchant) -> Response {
    let key = match keys::current(&ctx.store, &ctx.keys).await {
        Ok(key) => key,
        Err(e) => return ApiError::internal("reading the PIN key", e).into_response(),
    };
    let jwk = match serde_json::from_str(&key.public_jwk) {
        Ok(jwk) => jwk,
        Err(e) => return ApiError::internal("reading the PIN key", e).into_response(),
    };
    ([(header::CACHE_CONTROL, "private, max-age=3600")], Json(PinPublicKey { kid: key.kid, jwk })).into_response()
}

#[utoipa::path(
    post, path = "/api/v2/customers/{customerId}/pin", tag = "pin",
    summary = "Set or replace a customer's PIN",
    description = "The PIN (six digits, not weak) arrives encrypted (`encryptedPin`, see `GET /api/v2/pin/public-key`) and is kept as argon2id with a server-side pepper. Replacing an existing PIN needs `verificationToken` from a verify of the current PIN; it is used up, and the count of wrong PINs starts again.",
    params(("customerId" = String, Path, description = "The store's id of the customer (1–64 visible ASCII)")),
    request_body = SetPin,
    responses(
        (status = 201, description = "The PIN is set", body = PinObject),
        (status = 200, description = "The PIN is replaced", body = PinObject),
        (status = 403, description = "`pin_verification_required` (`pin_error`): the customer has a PIN and no valid `verificationToken` (missing, used, expired, or another customer's) came with the request", body = ErrorBody),
        (status = 422, description = "`invalid_encrypted_pin`: not a JWE we can decrypt (malformed, another `alg`/`enc`, an unknown or expired `kid`, altered); `invalid_pin`: not six ASCII digits; `weak_pin`: one digit repeated or a run such as 123456 or 654321; `parameter_invalid`", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn set_pin(
    State(ctx): State<StoreApiContext>,
    merchant: Merchant,
    Path(customer_id): Path<String>,
    body: Body,
) -> Response {
    let path = format!("/api/v2/customers/{customer_id}/pin");
    post_json(ctx, merchant, path, body, move |ctx, merchant, value, _held| async move {
        set(&ctx, &merchant, &customer_id, value).await
    })
    .await
}

async fn set(ctx: &StoreApiContext, merchant: &Merchant, customer_id: &str, value: Value) -> Answer {
    customer(customer_id)?;
    let req: SetPin = parse(value)?;
    let pin = Pin::parse_new(&decrypt(ctx, &req.encrypted_pin).await?).map_err(refused_pin)?;
    let mall_id = &merchant.mall_id;
    let existing = ctx.store.customer_pin(mall_id, customer_id).await?;
    if existing.is_some() && req.verification_token.is_none() {
        return Err(verification_required(
            "the customer has a PIN: replacing it needs verificationToken of a verify of it",
        ));
    }
    let pin_hash = hash::hash(&ctx.store, &ctx.keys, pin).await.map_err(|e| ApiError::internal("hashing a PIN", e))?;
    let status = match (&existing, &req.verification_token) {
        (None, _) => {
            if !ctx.store.create_customer_pin(mall_id, customer_id, &pin_hash).await? {
                return Err(verification_required(
                    "the customer set a PIN meanwhile: replacing it needs verificationToken of a verify of it",
                ));
            }
            StatusCode::CREATED
        }
        (Some(_), Some(token)) => {
            if !ctx.store.replace_customer_pin(mall_id, customer_id, &pin_hash, token).await? {
                return Err(verification_required(
                    "verificationToken is not a valid token of this customer (used, expired, or another's)",
                ));
            }
            StatusCode::OK
        }
        (Some(_), None) => unreachable!("refused above"),
    };
    let kept = ctx.store.customer_pin(mall_id, customer_id).await?.ok_or_else(pin_not_set)?;
    let object = PinObject {
        object: "pin".into(),
        customer_id: customer_id.to_owned(),
        created_at: rfc3339(kept.created_at),
        updated_at: rfc3339(kept.updated_at),
    };
    Ok((status, json_of(&object)))
}

#[utoipa::path(
    post, path = "/api/v2/customers/{customerId}/pin/verify", tag = "pin",
    summary = "Verify a customer's PIN",
    description = "A right PIN gives a single-use `pv_…` token for this customer, good for 5 minutes (a customer-initiated token payment, or replacing the PIN, takes it). 5 consecutive wrong PINs lock the PIN for 30 minutes; a right one resets the count. The same request again with the same Idempotency-Key answers the same token or the same `pin_mismatch`, counted once.",
    params(("customerId" = String, Path, description = "The store's id of the customer (1–64 visible ASCII)")),
    request_body = VerifyPin,
    responses(
        (status = 200, description = "The PIN is right", body = PinVerification),
        (status = 404, description = "`pin_not_set`: the customer has no PIN", body = ErrorBody),
        (status = 409, description = "`pin_changed`: the PIN was replaced while it was being checked; nothing was counted", body = ErrorBody),
        (status = 422, description = "`pin_mismatch`: the PIN is wrong, counted; the error has `remainingAttempts` (4, 3, 2, 1, then 0 with `lockedUntil`). `invalid_encrypted_pin`: not a JWE we can decrypt (malformed, another `alg`/`enc`, an unknown or expired `kid`, altered); `invalid_pin`: not six ASCII digits; `parameter_invalid` — these are not counted", body = ErrorBody),
        (status = 423, description = "`pin_locked` (`pin_error`): 5 wrong PINs in a row; the error has `lockedUntil`; nothing is checked until then", body = ErrorBody),
    ),
    security(("api_key" = []))
)]
pub async fn verify_pin(
    State(ctx): State<StoreApiContext>,
    merchant: Merchant,
    Path(customer_id): Path<String>,
    body: Body,
) -> Response {
    let path = format!("/api/v2/customers/{customer_id}/pin/verify");
    // Sealed: the kept answer carries the verification token.
    post_json_sealed(ctx, merchant, path, body, move |ctx, merchant, value, _held| async move {
        verify(&ctx, &merchant, &customer_id, value).await
    })
    .await
}

async fn verify(ctx: &StoreApiContext, merchant: &Merchant, customer_id: &str, value: Value) -> Answer {
    customer(customer_id)?;
    let req: VerifyPin = parse(value)?;
    let mall_id = &merchant.mall_id;
    let mut kept = ctx.store.customer_pin(mall_id, customer_id).await?.ok_or_else(pin_not_set)?;
    if let Some(until) = kept.locked_at(now_ms()) {
        return Err(pin_locked(until));
    }
    let pin = Pin::parse(&decrypt(ctx, &req.encrypted_pin).await?).map_err(refused_pin)?;
    // Checked against the hash read; counted only while that hash is still the PIN and it
    // is not locked. Otherwise (locked by concurrent wrong PINs, replaced) read it again.
    for _ in 0..3 {
        let right = hash::matches(&ctx.store, &ctx.keys, pin.clone(), &kept.pin_hash)
            .await
            .map_err(|e| ApiError::internal("checking a PIN", e))?;
        if right {
            let token = format!("pv_{}", random_token());
            let expires_at = now_ms() + VERIFICATION_LIFETIME.as_millis() as i64;
            if ctx.store.record_pin_success(mall_id, customer_id, &kept.pin_hash, &token, expires_at).await? {
                let answer =
                    PinVerification { verified: true, verification_token: token, expires_at: rfc3339(expires_at) };
                return Ok((StatusCode::OK, json_of(&answer)));
            }
        } else if let Some(counted) =
            ctx.store.record_pin_failure(mall_id, customer_id, &kept.pin_hash, LOCK_OUT).await?
        {
            let remaining = (LOCK_OUT.max_attempts - counted.failed_attempts).max(0);
            let mut mismatch = ApiError::field("pin_mismatch", "encryptedPin", "the PIN is wrong")
                .with("remainingAttempts", remaining);
            if let Some(until) = counted.locked_until {
                mismatch = mismatch.with("lockedUntil", rfc3339(until));
            }
            // Counted: this answer is kept for the Idempotency-Key, never counted twice.
            return Err(mismatch.after_change());
        }
        kept = ctx.store.customer_pin(mall_id, customer_id).await?.ok_or_else(pin_not_set)?;
        if let Some(until) = kept.locked_at(now_ms()) {
            return Err(pin_locked(until));
        }
    }
    Err(ApiError::state("pin_changed", "the PIN was replaced while it was being checked; send the request again"))
}
