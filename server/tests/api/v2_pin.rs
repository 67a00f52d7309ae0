//! Customers' PINs (SPEC §8.3): the published key, setting and replacing a PIN, verifying
//! it for a single-use token bound to the customer, the lock-out (exact under concurrency),
//! every bad input refused without counting, replays under the Idempotency-Key, the key's
//! rotation, and no PIN at rest or in the logs.
//!
//! The JWEs are made here, not by the server's library: P-256 ECDH, the Concat KDF of
//! RFC 7518 §4.6 and AES-256-GCM, written from the RFCs with the RustCrypto crates; and,
//! for the README's recipe, by WebCrypto in Node (`docs/encrypt-pin.mjs`).

use std::{process::Stdio, time::Duration};

use aes_gcm::{
    aead::{Aead, KeyInit, Payload},
    Aes256Gcm, Nonce,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use paybridge::{domain::MallId, secrets::KeyRing, store::now_ms};
use rand::RngCore;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use url::Url;

use crate::{
    helpers::*,
    secrets::{contains, database_bytes},
    v2_helpers::{V2Answer, KEY},
};

/// A JWE compact serialization of `plaintext` to `jwk`, made independently of the server:
/// ephemeral P-256 key, ECDH, Concat KDF (RFC 7518 §4.6.2, AlgorithmID = `enc`, empty
/// PartyUInfo and PartyVInfo, 256 bits), AES-256-GCM with the protected header as AAD.
/// `header` is merged over `{"alg":"ECDH-ES","enc":"A256GCM","kid":jwk.kid,"epk":…}`.
pub fn encrypt_to(jwk: &Value, plaintext: &[u8], header: Value) -> String {
    let coordinate = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    let mut point = vec![4u8];
    point.extend(coordinate("x"));
    point.extend(coordinate("y"));
    let recipient = p256::PublicKey::from_sec1_bytes(&point).unwrap();
    let ephemeral = loop {
        let mut d = [0u8; 32];
        rand::rng().fill_bytes(&mut d);
        if let Ok(key) = p256::SecretKey::from_slice(&d) {
            break key;
        }
    };
    let shared = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), recipient.as_affine());
    let epk = {
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let point = ephemeral.public_key().to_encoded_point(false);
        json!({"kty": "EC", "crv": "P-256",
               "x": URL_SAFE_NO_PAD.encode(point.x().unwrap()), "y": URL_SAFE_NO_PAD.encode(point.y().unwrap())})
    };
    let mut protected = json!({"alg": "ECDH-ES", "enc": "A256GCM", "kid": jwk["kid"], "epk": epk});
    for (k, v) in header.as_object().unwrap() {
        protected[k] = v.clone();
    }
    let enc = protected["enc"].as_str().unwrap_or("A256GCM").to_owned();
    // Concat KDF, one round of SHA-256: counter ‖ Z ‖ OtherInfo.
    let mut kdf = Sha256::new();
    kdf.update(1u32.to_be_bytes());
    kdf.update(shared.raw_secret_bytes());
    kdf.update((enc.len() as u32).to_be_bytes());
    kdf.update(enc.as_bytes());
    kdf.update(0u32.to_be_bytes()); // PartyUInfo: empty
    kdf.update(0u32.to_be_bytes()); // PartyVInfo: empty
    kdf.update(256u32.to_be_bytes()); // SuppPubInfo: the key's length in bits
    let cek = kdf.finalize();
    let header_b64 = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&protected).unwrap());
    let mut iv = [0u8; 12];
    rand::rng().fill_bytes(&mut iv);
    let sealed = Aes256Gcm::new_from_slice(&cek)
        .unwrap()
        .encrypt(Nonce::from_slice(&iv), Payload { msg: plaintext, aad: header_b64.as_bytes() })
        .unwrap();
    let (ciphertext, tag) = sealed.split_at(sealed.len() - 16);
    format!(
        "{header_b64}..{}.{}.{}",
        URL_SAFE_NO_PAD.encode(iv),
        URL_SAFE_NO_PAD.encode(ciphertext),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

/// A Store API client for a server at `base` (a test app or a process).
pub struct Api<'a> {
    pub client: &'a reqwest::Client,
    pub base: &'a Url,
}

impl Api<'_> {
    pub async fn call(&self, method: Method, path: &str, idempotency: Option<&str>, body: Option<&Value>) -> V2Answer {
        let mut request = self.client.request(method, self.base.join(path).unwrap()).bearer_auth(KEY);
        if let Some(key) = idempotency {
            request = request.header("Idempotency-Key", key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let text = response.text().await.unwrap();
        let body =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path} answered non-JSON ({status}): {text}"));
        V2Answer { status, body, headers }
    }

    pub async fn post(&self, path: &str, body: &Value) -> V2Answer {
        self.call(Method::POST, path, Some(&uuid::Uuid::new_v4().to_string()), Some(body)).await
    }

    /// The published key's JWK (with its `kid`).
    pub async fn jwk(&self) -> Value {
        let answer = self.call(Method::GET, "/api/v2/pin/public-key", None, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        assert_eq!(answer.body["kid"], answer.body["jwk"]["kid"]);
        answer.body["jwk"].clone()
    }

    pub async fn encrypted(&self, pin: &str) -> String {
        encrypt_to(&self.jwk().await, pin.as_bytes(), json!({}))
    }

    pub async fn set_pin(&self, customer: &str, pin: &str, token: Option<&str>) -> V2Answer {
        let mut body = json!({"encryptedPin": self.encrypted(pin).await});
        if let Some(token) = token {
            body["verificationToken"] = json!(token);
        }
        self.post(&format!("/api/v2/customers/{customer}/pin"), &body).await
    }

    pub async fn verify_jwe(&self, customer: &str, jwe: &str) -> V2Answer {
        self.post(&format!("/api/v2/customers/{customer}/pin/verify"), &json!({"encryptedPin": jwe})).await
    }

    pub async fn verify(&self, customer: &str, pin: &str) -> V2Answer {
        self.verify_jwe(customer, &self.encrypted(pin).await).await
    }

    /// A right PIN's token.
    pub async fn token(&self, customer: &str, pin: &str) -> String {
        let answer = self.verify(customer, pin).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body["verificationToken"].as_str().unwrap().to_owned()
    }
}

impl TestApp {
    fn api(&self) -> Api<'_> {
        Api { client: &self.client, base: &self.base }
    }

    /// (failed_attempts, locked_until) of a customer's PIN.
    async fn pin_row(&self, customer: &str) -> (i64, Option<i64>) {
        sqlx::query_as(
            "SELECT failed_attempts, locked_until FROM customer_pins WHERE mall_id = 'demomall' AND customer_id = $1",
        )
        .bind(customer)
        .fetch_one(self.state.store.pool())
        .await
        .unwrap()
    }

    async fn use_token(&self, customer: &str, token: &str) -> bool {
        let mall = MallId::parse("demomall").unwrap();
        self.state.store.use_pin_verification(&mall, customer, token).await.unwrap()
    }
}

fn error_code(answer: &V2Answer) -> &str {
    answer.body["error"]["code"].as_str().unwrap_or_else(|| panic!("an error: {} {}", answer.status, answer.body))
}

fn assert_refused(answer: &V2Answer, status: StatusCode, kind: &str, code: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error"]["type"], kind, "{}", answer.body);
    assert_eq!(error_code(answer), code, "{}", answer.body);
}

/// Unix ms of an RFC 3339 time in an answer.
fn time_of(value: &Value) -> i64 {
    let text = value.as_str().unwrap_or_else(|| panic!("a time: {value}"));
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

async fn a_pin_is_set_verified_and_replaced_with_a_verification_of_the_current_one(db: Db) {
    let app = spawn_app(db).await;
    let api = app.api();
    let answer = api.call(Method::GET, "/api/v2/pin/public-key", None, None).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    let jwk = &answer.body["jwk"];
    assert_eq!((jwk["kty"].as_str(), jwk["crv"].as_str()), (Some("EC"), Some("P-256")), "{jwk}");
    assert_eq!((jwk["alg"].as_str(), jwk["use"].as_str()), (Some("ECDH-ES"), Some("enc")), "{jwk}");
    assert!(jwk.get("d").is_none(), "the private half is never served: {jwk}");
    assert!(answer.body["kid"].as_str().is_some_and(|k| !k.is_empty()));
    let unauthenticated = app.client.get(app.url("/api/v2/pin/public-key")).send().await.unwrap();
    assert_eq!(unauthenticated.status(), StatusCode::UNAUTHORIZED);

    let set = api.set_pin("c-1", "917364", None).await;
    assert_eq!(set.status, StatusCode::CREATED, "{}", set.body);
    assert_eq!((set.body["object"].as_str(), set.body["customerId"].as_str()), (Some("pin"), Some("c-1")));
    assert!(app.state.store.customer_has_pin(&MallId::parse("demomall").unwrap(), "c-1").await.unwrap());

    // Replacing needs a verification of the current PIN.
    let again = api.set_pin("c-1", "582046", None).await;
    assert_refused(&again, StatusCode::FORBIDDEN, "pin_error", "pin_verification_required");
    assert_eq!(again.body["error"]["param"], "verificationToken");

    let before = now_ms();
    let verified = api.verify("c-1", "917364").await;
    assert_eq!(verified.status, StatusCode::OK, "{}", verified.body);
    assert_eq!(verified.body["verified"], true);
    let token = verified.body["verificationToken"].as_str().unwrap().to_owned();
    assert!(token.starts_with("pv_") && token.len() > 40, "{token}");
    let expires = time_of(&verified.body["expiresAt"]);
    assert!(expires > before + 4 * 60 * 1000 && expires <= now_ms() + 5 * 60 * 1000, "at most 5 minutes");

    let replaced = api.set_pin("c-1", "582046", Some(&token)).await;
    assert_eq!(replaced.status, StatusCode::OK, "{}", replaced.body);
    // The token was used up by the replacement.
    let reused = api.set_pin("c-1", "306915", Some(&token)).await;
    assert_refused(&reused, StatusCode::FORBIDDEN, "pin_error", "pin_verification_required");
    assert!(!app.use_token("c-1", &token).await);

    let old = api.verify("c-1", "917364").await;
    assert_refused(&old, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request_error", "pin_mismatch");
    assert_eq!(old.body["error"]["remainingAttempts"], 4);
    let token = api.token("c-1", "582046").await;
    assert_eq!(app.pin_row("c-1").await, (0, None), "a right PIN resets the count");
    assert!(app.use_token("c-1", &token).await, "the token is good once");
    assert!(!app.use_token("c-1", &token).await, "and only once");

    // An expired token opens nothing.
    let token = api.token("c-1", "582046").await;
    sqlx::query("UPDATE pin_verifications SET expires_at = $1")
        .bind(now_ms() - 1)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    assert!(!app.use_token("c-1", &token).await);
}

async fn weak_and_malformed_pins_are_refused_and_change_nothing(db: Db) {
    let app = spawn_app(db).await;
    let api = app.api();
    for weak in ["111111", "000000", "123456", "654321", "345678", "890123", "109876"] {
        let answer = api.set_pin("c-2", weak, None).await;
        assert_refused(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request_error", "weak_pin");
        assert_eq!(answer.body["error"]["param"], "encryptedPin");
    }
    for not_six_digits in ["12345", "1234567", "12345a", "", "９１７３６４"] {
        let answer = api.set_pin("c-2", not_six_digits, None).await;
        assert_refused(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request_error", "invalid_pin");
    }
    assert_eq!(app.count("customer_pins").await, 0, "nothing was set");

    let jwk = api.jwk().await;
    let good = encrypt_to(&jwk, b"917364", json!({}));
    let parts: Vec<&str> = good.split('.').collect();
    let flip_last = |part: &str| {
        let mut bytes = URL_SAFE_NO_PAD.decode(part).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        URL_SAFE_NO_PAD.encode(bytes)
    };
    let other_header = URL_SAFE_NO_PAD.encode(
        serde_json::to_vec(&json!({"alg": "ECDH-ES", "enc": "A256GCM", "kid": jwk["kid"], "epk": {"kty": "EC"}}))
            .unwrap(),
    );
    let other_key = {
        let mut jwk = jwk.clone();
        // Another P-256 key's coordinates under our kid: it decrypts to nothing.
        let other = p256::SecretKey::from_slice(&[7u8; 32]).unwrap().public_key();
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        let point = other.to_encoded_point(false);
        jwk["x"] = json!(URL_SAFE_NO_PAD.encode(point.x().unwrap()));
        jwk["y"] = json!(URL_SAFE_NO_PAD.encode(point.y().unwrap()));
        encrypt_to(&jwk, b"917364", json!({}))
    };
    let bad: Vec<(&str, String)> = vec![
        ("not a JWE", "917364".to_owned()),
        ("four parts", parts[..4].join(".")),
        ("six parts", format!("{good}.x")),
        ("header not base64url", format!("%%%.{}", parts[1..].join("."))),
        ("header not JSON", format!("{}.{}", URL_SAFE_NO_PAD.encode("nope"), parts[1..].join("."))),
        ("an encrypted key", format!("{}.AAAA.{}", parts[0], parts[2..].join("."))),
        ("no IV", format!("{}..{}", parts[0], ["", parts[3], parts[4]].join("."))),
        ("another alg", encrypt_to(&jwk, b"917364", json!({"alg": "ECDH-ES+A256KW"}))),
        ("another enc", encrypt_to(&jwk, b"917364", json!({"enc": "A128GCM"}))),
        ("RSA", encrypt_to(&jwk, b"917364", json!({"alg": "RSA-OAEP-256"}))),
        ("no kid", encrypt_to(&jwk, b"917364", json!({"kid": null}))),
        ("an unknown kid", encrypt_to(&jwk, b"917364", json!({"kid": "pinkey_00000000000000000000000000000000"}))),
        ("compressed", encrypt_to(&jwk, b"917364", json!({"zip": "DEF"}))),
        ("a tampered tag", format!("{}.{}", parts[..4].join("."), flip_last(parts[4]))),
        ("a tampered ciphertext", format!("{}.{}.{}", parts[..3].join("."), flip_last(parts[3]), parts[4])),
        ("a tampered header", format!("{other_header}.{}", parts[1..].join("."))),
        ("for another key", other_key),
    ];
    // Setting: nothing is set.
    for (what, jwe) in &bad {
        let answer = api.post("/api/v2/customers/c-2/pin", &json!({"encryptedPin": jwe})).await;
        assert_refused(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request_error", "invalid_encrypted_pin");
        assert_eq!(answer.body["error"]["param"], "encryptedPin", "{what}");
    }
    assert_eq!(app.count("customer_pins").await, 0);

    // Verifying: not counted, and the Idempotency-Key is as new.
    let verify_404 = api.verify_jwe("c-2", &good).await;
    assert_refused(&verify_404, StatusCode::NOT_FOUND, "invalid_request_error", "pin_not_set");
    assert_eq!(api.set_pin("c-2", "917364", None).await.status, StatusCode::CREATED);
    let snapshot = app.snapshot().await;
    for (what, jwe) in &bad {
        let answer = api.verify_jwe("c-2", jwe).await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{what}: {}", answer.body);
        assert_eq!(error_code(&answer), "invalid_encrypted_pin", "{what}");
    }
    let not_digits = api.verify("c-2", "91736a").await;
    assert_refused(&not_digits, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request_error", "invalid_pin");
    let missing = api.post("/api/v2/customers/c-2/pin/verify", &json!({})).await;
    assert_refused(&missing, StatusCode::BAD_REQUEST, "invalid_request_error", "parameter_missing");
    assert_eq!(app.pin_row("c-2").await, (0, None), "no attempt was counted");
    assert_eq!(app.snapshot().await, snapshot, "no answer was kept for the Idempotency-Keys");
    assert_eq!(app.count("pin_verifications").await, 0);
    // The right PIN still verifies at once.
    assert_eq!(api.verify_jwe("c-2", &good).await.status, StatusCode::OK);
}

async fn five_wrong_pins_lock_the_pin_even_for_the_right_one(db: Db) {
    let app = spawn_app(db).await;
    let api = app.api();
    assert_eq!(api.set_pin("c-3", "917364", None).await.status, StatusCode::CREATED);

    // A right PIN resets the count.
    for remaining in [4, 3] {
        assert_eq!(api.verify("c-3", "000001").await.body["error"]["remainingAttempts"], remaining);
    }
    api.token("c-3", "917364").await;
    assert_eq!(app.pin_row("c-3").await, (0, None));

    let start = now_ms();
    for remaining in [4, 3, 2, 1, 0] {
        let answer = api.verify("c-3", "000001").await;
        assert_refused(&answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request_error", "pin_mismatch");
        assert_eq!(answer.body["error"]["remainingAttempts"], remaining, "{}", answer.body);
    }
    let (count, locked) = app.pin_row("c-3").await;
    assert_eq!(count, 5);
    let locked = locked.unwrap();
    assert!(locked >= start + 30 * 60 * 1000 && locked <= now_ms() + 30 * 60 * 1000, "30 minutes");
    for pin in ["917364", "000001"] {
        let answer = api.verify("c-3", pin).await;
        assert_refused(&answer, StatusCode::LOCKED, "pin_error", "pin_locked");
        assert!((time_of(&answer.body["error"]["lockedUntil"]) - locked).abs() < 1000, "{}", answer.body);
    }
    assert_eq!(app.pin_row("c-3").await, (5, Some(locked)), "nothing counted while locked");
    assert_eq!(app.count("pin_verifications").await, 1, "no token while locked");

    // Once the lock has run out, a wrong PIN starts a new count, and the right one opens.
    sqlx::query("UPDATE customer_pins SET locked_until = $1")
        .bind(now_ms() - 1)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(api.verify("c-3", "000001").await.body["error"]["remainingAttempts"], 4);
    sqlx::query("UPDATE customer_pins SET locked_until = $1, failed_attempts = 5")
        .bind(now_ms() - 1)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    api.token("c-3", "917364").await;
    assert_eq!(app.pin_row("c-3").await, (0, None));
}

async fn ten_concurrent_wrong_pins_count_exactly_five(db: Db) {
    let app = spawn_app(db).await;
    let api = app.api();
    assert_eq!(api.set_pin("c-4", "917364", None).await.status, StatusCode::CREATED);
    let jwes: Vec<String> = {
        let jwk = api.jwk().await;
        (0..10).map(|i| encrypt_to(&jwk, format!("00000{i}").as_bytes(), json!({}))).collect()
    };
    let answers = futures::future::join_all(jwes.iter().map(|jwe| api.verify_jwe("c-4", jwe))).await;
    let mut remaining: Vec<i64> = Vec::new();
    let mut locked = 0;
    for answer in &answers {
        match answer.status {
            StatusCode::UNPROCESSABLE_ENTITY => {
                assert_eq!(error_code(answer), "pin_mismatch");
                remaining.push(answer.body["error"]["remainingAttempts"].as_i64().unwrap());
            }
            StatusCode::LOCKED => {
                assert_eq!(error_code(answer), "pin_locked");
                locked += 1;
            }
            other => panic!("{other}: {}", answer.body),
        }
    }
    remaining.sort();
    assert_eq!(remaining, [0, 1, 2, 3, 4], "each count seen once");
    assert_eq!(locked, 5);
    assert_eq!(app.pin_row("c-4").await.0, 5);
}

async fn ten_concurrent_uses_of_a_verification_token_succeed_once(db: Db) {
    let app = spawn_app(db).await;
    let api = app.api();
    assert_eq!(api.set_pin("c-5", "917364", None).await.status, StatusCode::CREATED);
    let token = api.token("c-5", "917364").await;
    // Each use on its own connection, as ten requests would.
    let stores = futures::future::join_all((0..10).map(|_| app.connect_store())).await;
    let mall = MallId::parse("demomall").unwrap();
    let uses = futures::future::join_all(stores.iter().map(|s| s.use_pin_verification(&mall, "c-5", &token))).await;
    let won = uses.into_iter().map(Result::unwrap).filter(|used| *used).count();
    assert_eq!(won, 1);
}

/// A JWE holds only the six digits: it proves nothing about a customer. Sent for another
/// customer it is that customer's PIN attempt (wrong unless the PINs are the same, and
/// counted like any wrong PIN); what a verify gives is bound to the customer in its path.
async fn a_verification_is_bound_to_its_customer(db: Db) {
    let app = spawn_app(db).await;
    let api = app.api();
    assert_eq!(api.set_pin("c-a", "917364", None).await.status, StatusCode::CREATED);
    assert_eq!(api.set_pin("c-b", "582046", None).await.status, StatusCode::CREATED);
    let a_jwe = api.encrypted("917364").await;
    let for_a = api.verify_jwe("c-a", &a_jwe).await;
    assert_eq!(for_a.status, StatusCode::OK);
    let a_token = for_a.body["verificationToken"].as_str().unwrap().to_owned();

    // A's JWE replayed for B: a wrong PIN for B, no token.
    let for_b = api.verify_jwe("c-b", &a_jwe).await;
    assert_refused(&for_b, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request_error", "pin_mismatch");
    assert_eq!(for_b.body["error"]["remainingAttempts"], 4);
    assert_eq!(app.count_where("pin_verifications", "customer_id = 'c-b'").await, 0);
    // A's token opens nothing for B (nor in another merchant), and stays good for A.
    let refused = api.set_pin("c-b", "306915", Some(&a_token)).await;
    assert_refused(&refused, StatusCode::FORBIDDEN, "pin_error", "pin_verification_required");
    assert!(!app.use_token("c-b", &a_token).await);
    let other_mall = MallId::parse("othermall").unwrap();
    assert!(!app.state.store.use_pin_verification(&other_mall, "c-a", &a_token).await.unwrap());
    assert_eq!(app.pin_row("c-a").await, (0, None));
    assert!(app.use_token("c-a", &a_token).await);
}

async fn a_replayed_verify_answers_the_same_token_and_counts_once(db: Db) {
    let app = spawn_app(db).await;
    let api = app.api();
    assert_eq!(api.set_pin("c-6", "917364", None).await.status, StatusCode::CREATED);
    let path = "/api/v2/customers/c-6/pin/verify";
    let wrong = json!({"encryptedPin": api.encrypted("000001").await});
    let first = api.call(Method::POST, path, Some("verify-wrong"), Some(&wrong)).await;
    let again = api.call(Method::POST, path, Some("verify-wrong"), Some(&wrong)).await;
    assert_eq!((first.status, &first.body), (again.status, &again.body));
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(app.pin_row("c-6").await.0, 1, "counted once");

    let right = json!({"encryptedPin": api.encrypted("917364").await});
    let first = api.call(Method::POST, path, Some("verify-right"), Some(&right)).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let again = api.call(Method::POST, path, Some("verify-right"), Some(&right)).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(first.body["verificationToken"], again.body["verificationToken"], "no second token");
    assert_eq!(app.count_where("pin_verifications", "customer_id = 'c-6'").await, 1);
    // The kept answer carries the token sealed, never in clear.
    let token = first.body["verificationToken"].as_str().unwrap();
    let kept: (String,) = sqlx::query_as("SELECT response_body FROM idempotency_keys WHERE idem_key = 'verify-right'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert!(kept.0.starts_with("v1.") && !kept.0.contains(token), "{}", kept.0);
    // Used, then replayed: the same (used) token, still not a new one.
    assert!(app.use_token("c-6", token).await);
    let later = api.call(Method::POST, path, Some("verify-right"), Some(&right)).await;
    assert_eq!(later.body["verificationToken"], first.body["verificationToken"]);
    assert!(!app.use_token("c-6", token).await);
}

async fn the_pin_key_rotates_and_the_previous_one_decrypts_for_a_while(db: Db) {
    let app = spawn_app(db).await;
    let api = app.api();
    let old = api.jwk().await;
    assert_eq!(api.jwk().await, old, "one key until it is rotated");
    assert_eq!(api.set_pin("c-7", "917364", None).await.status, StatusCode::CREATED);

    let output = std::process::Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .arg("rotate-pin-key")
        .env("DATABASE_URL", app.var("DATABASE_URL"))
        .env("ENCRYPTION_KEY", app.var("ENCRYPTION_KEY"))
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let new = api.jwk().await;
    assert_ne!(new["kid"], old["kid"]);
    assert_ne!(new["x"], old["x"]);
    assert!(String::from_utf8_lossy(&output.stdout).contains(new["kid"].as_str().unwrap()), "{output:?}");

    // A page that fetched the old key before the rotation still works.
    let under_old = encrypt_to(&old, b"917364", json!({}));
    assert_eq!(api.verify_jwe("c-7", &under_old).await.status, StatusCode::OK);
    assert_eq!(api.verify_jwe("c-7", &encrypt_to(&new, b"917364", json!({}))).await.status, StatusCode::OK);
    // A JWE naming the new kid but encrypted to the old key does not decrypt.
    let mixed = encrypt_to(&old, b"917364", json!({"kid": new["kid"]}));
    assert_eq!(error_code(&api.verify_jwe("c-7", &mixed).await), "invalid_encrypted_pin");

    // 24 hours later the old key decrypts nothing, and the next maintenance pass drops it.
    sqlx::query("UPDATE pin_keys SET decrypts_until = $1 WHERE kid = $2")
        .bind(now_ms() - 1)
        .bind(old["kid"].as_str().unwrap())
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let late = api.verify_jwe("c-7", &under_old).await;
    assert_refused(&late, StatusCode::UNPROCESSABLE_ENTITY, "invalid_request_error", "invalid_encrypted_pin");
    assert_eq!(app.pin_row("c-7").await, (0, None), "not counted");
    app.maintain().await;
    assert_eq!(app.count("pin_keys").await, 1);
}

async fn rotate_keys_reseals_the_pin_key_the_pepper_and_kept_answers(db: Db) {
    let app = spawn_app(db).await;
    let api = app.api();
    assert_eq!(api.set_pin("c-8", "917364", None).await.status, StatusCode::CREATED);
    let path = "/api/v2/customers/c-8/pin/verify";
    let right = json!({"encryptedPin": api.encrypted("917364").await});
    let first = api.call(Method::POST, path, Some("kept-verify"), Some(&right)).await;
    assert_eq!(first.status, StatusCode::OK);

    let old_key = app.var("ENCRYPTION_KEY").to_owned();
    let new_key = KeyRing::generate_encoded();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .arg("rotate-keys")
        .env("DATABASE_URL", app.var("DATABASE_URL"))
        .env("ENCRYPTION_KEY", format!("{new_key},{old_key}"))
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let new_id = KeyRing::parse_list(&new_key).unwrap().current_key_id().to_owned();
    let sealed: Vec<(String,)> = sqlx::query_as(
        "SELECT private_key_enc FROM pin_keys UNION ALL SELECT secret_enc FROM server_secrets \
         UNION ALL SELECT response_body FROM idempotency_keys WHERE idem_key = 'kept-verify'",
    )
    .fetch_all(app.state.store.pool())
    .await
    .unwrap();
    assert_eq!(sealed.len(), 3);
    assert!(sealed.iter().all(|(s,)| s.split('.').nth(1) == Some(new_id.as_str())), "{sealed:?}");

    // An instance with only the new key: the same key pair, the same pepper (the PIN still
    // verifies), the kept answer replays.
    let next = app.sibling(&[("ENCRYPTION_KEY", new_key.as_str())]).await;
    let next_api = next.api();
    assert_eq!(next_api.jwk().await["kid"], api.jwk().await["kid"]);
    next_api.token("c-8", "917364").await;
    let replayed = next_api.call(Method::POST, path, Some("kept-verify"), Some(&right)).await;
    assert_eq!(replayed.status, StatusCode::OK);
    assert_eq!(replayed.body["verificationToken"], first.body["verificationToken"]);
}

/// The README's browser recipe (`docs/encrypt-pin.mjs`, WebCrypto) run by Node makes a JWE
/// the server takes.
async fn the_webcrypto_recipe_makes_a_jwe_the_server_takes(db: Db) {
    let app = spawn_app(db).await;
    let api = app.api();
    let jwk = api.jwk().await;
    let recipe = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/encrypt-pin.mjs");
    let script = format!(
        "import {{ encryptPin }} from {recipe:?};\nconst jwe = await encryptPin(JSON.parse(process.argv[1]), process.argv[2]);\nprocess.stdout.write(jwe);"
    );
    let jwe_of = |pin: &str| {
        let output = std::process::Command::new("node")
            .args(["--input-type=module", "-e", &script, &jwk.to_string(), pin])
            .output()
            .expect("node runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let set = api.post("/api/v2/customers/c-9/pin", &json!({"encryptedPin": jwe_of("917364")})).await;
    assert_eq!(set.status, StatusCode::CREATED, "{}", set.body);
    assert_eq!(api.verify_jwe("c-9", &jwe_of("917364")).await.status, StatusCode::OK);
    assert_eq!(error_code(&api.verify_jwe("c-9", &jwe_of("000001")).await), "pin_mismatch");
}

async fn no_pin_or_token_rests_in_the_database_or_the_logs(db: Db) {
    let (vars, _db) = environment(db, &[("RUST_LOG", "trace,hyper=debug,h2=debug")]).await;
    let log_path = std::env::temp_dir().join(format!("paybridge-pin-log-{}.txt", uuid::Uuid::new_v4().simple()));
    let (mut server, base) = start_process(&vars, Stdio::from(std::fs::File::create(&log_path).unwrap())).await;
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let api = Api { client: &client, base: &base };

    let pins = ["917364", "582046", "306915"];
    assert_eq!(api.set_pin("c-10", pins[0], None).await.status, StatusCode::CREATED);
    let first = api.token("c-10", pins[0]).await;
    assert_eq!(api.set_pin("c-10", pins[1], Some(&first)).await.status, StatusCode::OK);
    assert_eq!(error_code(&api.verify("c-10", pins[2]).await), "pin_mismatch");
    let second = api.verify("c-10", pins[1]).await.body["verificationToken"].as_str().unwrap().to_owned();
    assert_eq!(error_code(&api.set_pin("c-10", "890123", None).await), "weak_pin");

    let store = paybridge::store::Store::connect(&vars["DATABASE_URL"]).await.unwrap();
    server.kill().unwrap();
    server.wait().unwrap();
    let database = database_bytes(db, &vars["DATABASE_URL"], &store).await;
    let logs = std::fs::read(&log_path).unwrap();
    assert!(contains(&logs, "paybridge is listening"), "the log was captured");
    assert!(contains(&logs, "/pin/verify"), "the calls were logged");
    let pepper: (String,) =
        sqlx::query_as("SELECT secret_enc FROM server_secrets").fetch_one(store.pool()).await.unwrap();
    let keys = KeyRing::parse_list(&vars["ENCRYPTION_KEY"]).unwrap();
    let pepper = keys.open("server_secret:pin_pepper", &pepper.0).unwrap();
    let private: (String, String) =
        sqlx::query_as("SELECT kid, private_key_enc FROM pin_keys").fetch_one(store.pool()).await.unwrap();
    let private = keys.open(&format!("pin_key:{}", private.0), &private.1).unwrap();
    let secrets = [
        ("the first PIN", pins[0].to_owned()),
        ("the second PIN", pins[1].to_owned()),
        ("the wrong PIN", pins[2].to_owned()),
        ("the weak PIN", "890123".to_owned()),
        ("a verification token", first),
        ("a verification token", second),
        ("the pepper", pepper),
        ("the PIN key", private),
    ];
    for (name, secret) in &secrets {
        assert!(!contains(&database, secret), "{name} is in the database in plain text");
        assert!(!contains(&logs, secret), "{name} is in the logs");
    }
    store.close().await;
    let _ = std::fs::remove_file(log_path);
}

crate::on_both_databases!(
    a_pin_is_set_verified_and_replaced_with_a_verification_of_the_current_one,
    weak_and_malformed_pins_are_refused_and_change_nothing,
    five_wrong_pins_lock_the_pin_even_for_the_right_one,
    ten_concurrent_wrong_pins_count_exactly_five,
    ten_concurrent_uses_of_a_verification_token_succeed_once,
    a_verification_is_bound_to_its_customer,
    a_replayed_verify_answers_the_same_token_and_counts_once,
    the_pin_key_rotates_and_the_previous_one_decrypts_for_a_while,
    rotate_keys_reseals_the_pin_key_the_pepper_and_kept_answers,
    the_webcrypto_recipe_makes_a_jwe_the_server_takes,
    no_pin_or_token_rests_in_the_database_or_the_logs,
);
