//! What every Store API call goes through (SPEC §8.1): the key in `Authorization:
//! Bearer …` (401 otherwise), a JSON body of at most 64 KiB (415, 413, 400), its fields
//! parsed with the name of the one that failed (a field named twice is refused, 400
//! `parameter_duplicated`), and for every POST the
//! `Idempotency-Key` (400 without it) with the record in the database that makes a
//! repeated request answer the first one's result — across instances.

use futures::FutureExt;
use std::future::Future;

use axum::{
    body::Bytes,
    extract::{FromRef, FromRequest, FromRequestParts, Request},
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{
    error::ApiError,
    keys::{key_hash, KeyMode},
    StoreApiContext,
};
use crate::{
    domain::MallId,
    json::StrictJsonError,
    store::{
        idempotency_answer_context, is_sealed_answer, IdempotencyBegin, IdempotencyEnd, IdempotencyLease,
        IdempotencyRequest,
    },
};

/// The merchant whose key signed the call.
#[derive(Clone, Debug)]
pub struct Merchant {
    pub mall_id: MallId,
}

impl<S> FromRequestParts<S> for Merchant
where
    S: Send + Sync,
    StoreApiContext: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let ctx = StoreApiContext::from_ref(state);
        let given = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .ok_or_else(|| ApiError::unauthorized("send your API key as Authorization: Bearer sk_…"))?;
        // Test keys with the sandbox on, live keys without it (SPEC §8.1): a key of the
        // other mode opens nothing here, whatever it is.
        let mode = ctx.settings.key_mode;
        let refused_mode = || {
            ApiError::unauthorized(match mode {
                KeyMode::Test => "this server runs the sandbox: use an sk_test_ key",
                KeyMode::Live => "sk_test_ keys work only with the sandbox on: use an sk_live_ key",
            })
        };
        if !given.starts_with(mode.prefix()) {
            return Err(refused_mode());
        }
        let key = ctx
            .store
            .use_api_key(&key_hash(given))
            .await?
            .ok_or_else(|| ApiError::unauthorized("the API key is unknown or revoked"))?;
        if key.mode != mode.as_str() {
            return Err(refused_mode());
        }
        let mall_id = MallId::parse(&key.mall_id).map_err(|e| ApiError::internal("reading an API key's mall", e))?;
        Ok(Merchant { mall_id })
    }
}

/// A request body as received, at most 64 KiB (413 otherwise).
pub struct Body {
    pub headers: HeaderMap,
    pub bytes: Bytes,
}

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let headers = req.headers().clone();
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::invalid(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the body is larger than 64 KiB")
            } else {
                ApiError::invalid(StatusCode::BAD_REQUEST, "body_unreadable", "the request body could not be read")
            }
        })?;
        Ok(Body { headers, bytes })
    }
}

impl Body {
    /// The body as JSON: 415 when it says it is anything but `application/json` (even
    /// empty), or has a body without saying what it is. An empty body without a
    /// `Content-Type` is `{}` (a call that takes no fields needs none).
    pub fn json(&self) -> Result<Value, ApiError> {
        let content_type = self.headers.get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap_or("?"));
        let is_json = content_type
            .is_some_and(|t| t.split(';').next().unwrap_or_default().trim().eq_ignore_ascii_case("application/json"));
        if (content_type.is_some() || !self.bytes.is_empty()) && !is_json {
            return Err(ApiError::invalid(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send the body as application/json",
            ));
        }
        if self.bytes.is_empty() {
            return Ok(Value::Object(Default::default()));
        }
        // A member named twice is refused (anywhere in the body), not read as its last
        // value: something in front of us may have read the first.
        crate::json::parse_strict(&self.bytes).map_err(|e| match e {
            StrictJsonError::Malformed(e) => {
                ApiError::invalid(StatusCode::BAD_REQUEST, "invalid_json", format!("the body is not JSON: {e}"))
            }
            StrictJsonError::Duplicate(path) => ApiError::invalid(
                StatusCode::BAD_REQUEST,
                "parameter_duplicated",
                format!("{path} is given more than once"),
            )
            .at(&path),
        })
    }
}

/// `value` as `T`, or which field is missing or of the wrong kind.
pub fn parse<T: DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner().to_string();
        // serde names a missing field in its message: "missing field `amount`".
        let missing = inner.strip_prefix("missing field `").and_then(|rest| rest.split('`').next()).map(str::to_owned);
        match missing {
            Some(field) => {
                ApiError::invalid(StatusCode::BAD_REQUEST, "parameter_missing", format!("{field} is required"))
                    .at(&field)
            }
            None if path == "." => ApiError::invalid(StatusCode::BAD_REQUEST, "invalid_request", inner),
            None => ApiError::field("parameter_invalid", &path, format!("{path}: {inner}")),
        }
    })
}

/// SHA-256 of the body as canonical JSON: the same body written another way (keys in
/// another order, other spacing, other escapes) is the same request (SPEC §8.1).
fn body_hash(value: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(value, &mut canonical);
    Sha256::digest(canonical.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// `value` as canonical JSON: object keys sorted by their UTF-8 bytes at every depth, no
/// whitespace, strings and numbers as serde_json writes them. Written out here rather
/// than left to `Value::to_string`, whose key order is the map's (sorted only while no
/// crate enables serde_json's `preserve_order`).
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|(a, _), (b, _)| a.as_bytes().cmp(b.as_bytes()));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// A call holding its idempotency key.
pub struct Held {
    ctx: StoreApiContext,
    mall_id: MallId,
    key: String,
    lease: IdempotencyLease,
    recovery: Option<String>,
}

impl Held {
    /// The id this request works under: the one an earlier attempt with the same key chose
    /// (a resumed request asks the PG under the same reference), or `make()` kept now,
    /// before anything is asked of the PG.
    pub async fn recovery_id(&mut self, make: impl FnOnce() -> String) -> Result<String, ApiError> {
        if let Some(id) = &self.recovery {
            return Ok(id.clone());
        }
        let id = make();
        if !self.ctx.store.idempotency_recovery_point(&self.mall_id, &self.key, &self.lease, &id).await? {
            // Slower than its lease: another request resumed the key and goes on with it.
            return Err(in_use());
        }
        self.recovery = Some(id.clone());
        Ok(id)
    }

    /// Whether an earlier attempt with the key chose an id already.
    pub fn resumed(&self) -> bool {
        self.recovery.is_some()
    }
}

/// 409 `idempotency_key_in_use`, to try again in a second.
fn in_use() -> ApiError {
    let mut e = ApiError::new(
        StatusCode::CONFLICT,
        "idempotency_error",
        "idempotency_key_in_use",
        "a request with this Idempotency-Key is still being processed; retry shortly",
    );
    e.retry_after = Some(1);
    e
}

/// The request's `Idempotency-Key`: 1–255 visible ASCII characters (SPEC §8.1), taken
/// as sent; 400 `idempotency_key_required` or `idempotency_key_invalid` otherwise.
pub fn idempotency_key(headers: &HeaderMap) -> Result<String, ApiError> {
    let Some(raw) = headers.get("idempotency-key") else {
        return Err(ApiError::invalid(
            StatusCode::BAD_REQUEST,
            "idempotency_key_required",
            "every POST needs an Idempotency-Key header",
        ));
    };
    let key = raw.to_str().ok().filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
    key.map(str::to_owned).ok_or_else(|| {
        ApiError::invalid(
            StatusCode::BAD_REQUEST,
            "idempotency_key_invalid",
            "the Idempotency-Key must be 1–255 visible ASCII characters",
        )
    })
}

/// A JSON answer.
pub type Answer = Result<(StatusCode, Value), ApiError>;

/// How a call's answer is kept for its Idempotency-Key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Keep {
    /// As JSON.
    Plain,
    /// Sealed under the key ring (bound to the merchant and the key): the answer carries a
    /// secret, such as a PIN verification token, that must not rest in clear.
    Sealed,
}

/// Runs a POST under its `Idempotency-Key` (SPEC §8.1): the first request runs `run`; the
/// same request again gets its answer (`Idempotent-Replayed: true`); one with another
/// method, path or body, 422; one while the first still runs, 409. An answer that refused
/// before anything was done is not kept (the key is as new); a refusal after something
/// was done ([`ApiError::after_change`]) is kept like any answer; a 5xx or a lost PG
/// answer leaves the key to resume.
async fn idempotent<F, Fut>(
    ctx: &StoreApiContext,
    merchant: &Merchant,
    path: &str,
    headers: &HeaderMap,
    body: &Value,
    keep: Keep,
    run: F,
) -> Response
where
    F: FnOnce(Held) -> Fut,
    Fut: Future<Output = Answer>,
{
    let key = match idempotency_key(headers) {
        Ok(key) => key,
        Err(e) => return e.into_response(),
    };
    let hash = body_hash(body);
    let request = IdempotencyRequest { mall_id: &merchant.mall_id, key: &key, method: "POST", path, body_hash: &hash };
    let begin = ctx
        .store
        .idempotency_begin(&request, ctx.settings.idempotency_lease_ms, ctx.settings.idempotency_keep_ms)
        .await;
    let (lease, recovery) = match begin {
        Ok(IdempotencyBegin::Fresh { lease }) => (lease, None),
        Ok(IdempotencyBegin::Resume { lease, recovery_id }) => (lease, recovery_id),
        Ok(IdempotencyBegin::Replay { status, body }) if is_sealed_answer(&body) => {
            let context = idempotency_answer_context(merchant.mall_id.as_str(), &key);
            return match ctx.keys.open(&context, &body) {
                Ok(body) => replay(status, &zeroize::Zeroizing::new(body)),
                Err(e) => ApiError::internal("opening a kept answer", e).into_response(),
            };
        }
        Ok(IdempotencyBegin::Replay { status, body }) => return replay(status, &body),
        Ok(IdempotencyBegin::InUse) => return in_use().into_response(),
        Ok(IdempotencyBegin::Reused) => {
            return ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "idempotency_error",
                "idempotency_key_reused",
                "this Idempotency-Key was used with another method, path or body",
            )
            .into_response()
        }
        Err(e) => return ApiError::internal("taking an idempotency key", e).into_response(),
    };
    let held =
        Held { ctx: ctx.clone(), mall_id: merchant.mall_id.clone(), key: key.clone(), lease: lease.clone(), recovery };
    // A panic ends the request like any fault of ours: the key is left to resume at once,
    // not held until its lease runs out.
    let answer = match std::panic::AssertUnwindSafe(run(held)).catch_unwind().await {
        Ok(answer) => answer,
        Err(panic) => Err(ApiError::internal(path, crate::web::panic_message(panic.as_ref()))),
    };
    let kept = |body: String| match keep {
        Keep::Plain => body,
        Keep::Sealed => {
            let body = zeroize::Zeroizing::new(body);
            ctx.keys.seal(&idempotency_answer_context(merchant.mall_id.as_str(), &key), &body)
        }
    };
    let end = match &answer {
        Ok((status, value)) => IdempotencyEnd::Done { status: status.as_u16(), body: kept(value.to_string()) },
        Err(e) if e.is_resumable() => IdempotencyEnd::Resumable,
        // Refused after something was done: that answer is final, and replayed.
        Err(e) if e.after_change => {
            IdempotencyEnd::Done { status: e.status.as_u16(), body: kept(e.body().to_string()) }
        }
        Err(_) => IdempotencyEnd::Forget,
    };
    match ctx.store.idempotency_end(&merchant.mall_id, &key, &lease, &end).await {
        Ok(true) => {}
        // Slower than its lease: the request that resumed the key records its own answer.
        Ok(false) => tracing::warn!(path, "store api: an idempotency key was resumed before this request ended"),
        // The key stays held until its lock runs out, then the request may resume.
        Err(e) => tracing::error!(operation = "ending an idempotency key", error = %e, "store api: internal error"),
    }
    match answer {
        Ok((status, value)) => (status, Json(value)).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A POST of JSON under its Idempotency-Key: the body is read (415, 400), then `run`
/// gets the context, the merchant, the body and the held key.
pub async fn post_json<F, Fut>(ctx: StoreApiContext, merchant: Merchant, path: String, body: Body, run: F) -> Response
where
    F: FnOnce(StoreApiContext, Merchant, Value, Held) -> Fut,
    Fut: Future<Output = Answer>,
{
    post_json_kept(ctx, merchant, path, body, Keep::Plain, run).await
}

/// [`post_json`] for a call whose answer carries a secret: the answer kept for the
/// Idempotency-Key is sealed under the key ring (and opened for a replay).
pub async fn post_json_sealed<F, Fut>(
    ctx: StoreApiContext,
    merchant: Merchant,
    path: String,
    body: Body,
    run: F,
) -> Response
where
    F: FnOnce(StoreApiContext, Merchant, Value, Held) -> Fut,
    Fut: Future<Output = Answer>,
{
    post_json_kept(ctx, merchant, path, body, Keep::Sealed, run).await
}

async fn post_json_kept<F, Fut>(
    ctx: StoreApiContext,
    merchant: Merchant,
    path: String,
    body: Body,
    keep: Keep,
    run: F,
) -> Response
where
    F: FnOnce(StoreApiContext, Merchant, Value, Held) -> Fut,
    Fut: Future<Output = Answer>,
{
    let value = match body.json() {
        Ok(value) => value,
        Err(e) => return e.into_response(),
    };
    let (c, m, v) = (ctx.clone(), merchant.clone(), value.clone());
    idempotent(&ctx, &merchant, &path, &body.headers, &value, keep, move |held| run(c, m, v, held)).await
}

fn replay(status: u16, body: &str) -> Response {
    let value: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let mut response = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), Json(value)).into_response();
    response.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn canonical(value: &Value) -> String {
        let mut out = String::new();
        write_canonical(value, &mut out);
        out
    }

    #[test]
    fn canonical_json_sorts_keys_at_every_depth_and_has_no_whitespace() {
        let value: Value = serde_json::from_str(
            r#" { "b" : [ { "z" : 1 , "a" : "x\u0041" } , 2.5 , null ] ,
                 "a" : { "d" : true , "c" : { "f" : -1 , "e" : "é\n" } } } "#,
        )
        .unwrap();
        assert_eq!(canonical(&value), r#"{"a":{"c":{"e":"é\n","f":-1},"d":true},"b":[{"a":"xA","z":1},2.5,null]}"#);
        assert_eq!(canonical(&json!({})), "{}");
        assert_eq!(canonical(&json!([])), "[]");
        // Byte order, not the map's: "B" (0x42) before "a" (0x61), "a" before "aa".
        assert_eq!(canonical(&json!({"aa": 1, "a": 2, "B": 3})), r#"{"B":3,"a":2,"aa":1}"#);
    }

    #[test]
    fn the_same_body_written_another_way_has_the_same_hash() {
        let one: Value = serde_json::from_slice(br#"{"amount":100,"metadata":{"x":"1","y":"2"}}"#).unwrap();
        let other: Value =
            serde_json::from_slice(b"{\n  \"metadata\" : { \"y\": \"2\", \"x\": \"\\u0031\" },\n  \"amount\" : 100\n}")
                .unwrap();
        assert_eq!(body_hash(&one), body_hash(&other));
        assert_ne!(body_hash(&one), body_hash(&json!({"amount": 101, "metadata": {"x": "1", "y": "2"}})));
    }
}
