//! A client that plays a store talking to the Store API v2 (SPEC §8): its key, an
//! Idempotency-Key on every POST, JSON in and out; and a webhook signature check written
//! independently of ours (Python's `hmac`).

use reqwest::{header::HeaderMap, StatusCode};
use serde_json::{json, Value};
use url::Url;

use crate::helpers::*;

/// The demo mall's key with the sandbox on (`SANDBOX_API_KEY`).
pub const KEY: &str = "sk_test_paybridge_demomall";

pub struct V2Answer {
    pub status: StatusCode,
    pub body: Value,
    pub headers: HeaderMap,
}

impl TestApp {
    /// A Store API call; `key` and `idempotency` may be left out to see them refused.
    pub async fn v2(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        idempotency: Option<&str>,
        body: Option<&Value>,
    ) -> V2Answer {
        let mut request = self.client.request(method, self.url(path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(idempotency) = idempotency {
            request = request.header("Idempotency-Key", idempotency);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let body =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path} answered non-JSON ({status}): {text}"));
        V2Answer { status, body, headers }
    }

    /// POST with the demo key and a fresh Idempotency-Key.
    pub async fn v2_post(&self, path: &str, body: &Value) -> V2Answer {
        let key = uuid::Uuid::new_v4().to_string();
        self.v2(reqwest::Method::POST, path, Some(KEY), Some(&key), Some(body)).await
    }

    pub async fn v2_get(&self, path: &str) -> V2Answer {
        self.v2(reqwest::Method::GET, path, Some(KEY), None, None).await
    }

    /// An intent body for the demo mall (PHP), `extra` merged over it.
    pub fn intent_body(&self, extra: Value) -> Value {
        let mut body = json!({
            "amount": 15000,
            "currency": "PHP",
            "orderId": format!("A-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]),
            "orderName": "2 items",
            "customerId": "c-77",
            "successUrl": self.url("/store/success").to_string(),
            "failUrl": self.url("/store/fail").to_string(),
            "metadata": {"cart": "7"},
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                body.insert(k.clone(), v.clone());
            }
        }
        body
    }

    /// Creates an intent; it must be created.
    pub async fn intent(&self, extra: Value) -> Value {
        let answer = self.v2_post("/api/v2/payment-intents", &self.intent_body(extra)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body
    }

    /// The buyer approves at the sandbox PG's page and comes back through our callback;
    /// returns where we send them (the store's successUrl or failUrl).
    pub async fn buyer_pays(&self, intent: &Value, button: &str) -> Url {
        let checkout = intent["pgResponse"]["checkoutUrl"].as_str().unwrap();
        self.buyer_presses(checkout, button).await
    }

    /// The payment as the Store API shows it now.
    pub async fn v2_payment(&self, id: &str) -> Value {
        let answer = self.v2_get(&format!("/api/v2/payments/{id}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body
    }

    /// A webhook endpoint of the demo mall at `url`; returns (id, secret).
    pub async fn webhook_endpoint(&self, url: &str) -> (String, String) {
        let answer = self.v2_post("/api/v2/webhook-endpoints", &json!({ "url": url })).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        (answer.body["id"].as_str().unwrap().to_owned(), answer.body["secret"].as_str().unwrap().to_owned())
    }
}

/// The sandbox PG's test cards (SPEC §8.5).
pub const CARD_OK: &str = "4242424242424242";
pub const CARD_REFUSED: &str = "4000000000000002";
pub const CARD_DECLINES: &str = "4000000000000341";

impl TestApp {
    /// Opens a card registration for `customer`; it must be opened.
    pub async fn open_registration(&self, customer: &str, usage: &str) -> Value {
        let answer = self.v2_post("/api/v2/tokens/registrations", &self.registration_body(customer, usage)).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        answer.body
    }

    pub fn registration_body(&self, customer: &str, usage: &str) -> Value {
        json!({
            "customerId": customer,
            "successUrl": self.url("/store/cards/saved").to_string(),
            "failUrl": self.url("/store/cards/failed").to_string(),
            "usage": usage,
        })
    }

    /// The buyer types `card` on the sandbox PG's registration page and saves it; returns
    /// where the PG sends them (our callback), not followed.
    pub async fn buyer_enters_card(&self, registration_url: &str, card: &str) -> Url {
        let form = [("card_number", card), ("exp_month", "12"), ("exp_year", "2031"), ("cvc", "123")];
        let response = self.client.post(registration_url).form(&form).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "the sandbox PG took the card");
        location(&response)
    }

    /// The buyer saves `card` and comes back through our callback; returns where we send
    /// them (the store's successUrl or failUrl).
    pub async fn buyer_saves_card(&self, registration: &Value, card: &str) -> Url {
        let callback = self.buyer_enters_card(registration["registrationUrl"].as_str().unwrap(), card).await;
        let response = self.client.get(callback.clone()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "callback {callback}");
        location(&response)
    }

    /// A card saved for `customer`: its token id (`tok_…`).
    pub async fn saved_card(&self, customer: &str, usage: &str, card: &str) -> String {
        let registration = self.open_registration(customer, usage).await;
        let back = self.buyer_saves_card(&registration, card).await;
        let params = query_map(&back);
        assert_eq!(back.path(), "/store/cards/saved", "{back}");
        params["tokenId"].clone()
    }

    pub fn token_payment_body(&self, token: &str, extra: Value) -> Value {
        let mut body = json!({
            "tokenId": token,
            "amount": 15000,
            "currency": "PHP",
            "orderId": format!("T-{}", &uuid::Uuid::new_v4().simple().to_string()[..10]),
            "orderName": "Subscription box",
            "initiator": "merchant",
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                if v.is_null() {
                    body.remove(k);
                } else {
                    body.insert(k.clone(), v.clone());
                }
            }
        }
        body
    }

    /// Gives `customer` of the demo mall a PIN and a verification token (`pv_…`) that
    /// expires in `expires_in_ms`, written as the PIN endpoints write them (only its SHA-256).
    pub async fn pin_verification(&self, customer: &str, expires_in_ms: i64) -> String {
        let now = paybridge::store::now_ms();
        sqlx::query(
            "INSERT INTO customer_pins (mall_id, customer_id, pin_hash, failed_attempts, created_at, updated_at) \
             VALUES ('demomall', $1, '$argon2id$test', 0, $2, $2) ON CONFLICT (mall_id, customer_id) DO NOTHING",
        )
        .bind(customer)
        .bind(now)
        .execute(self.state.store.pool())
        .await
        .unwrap();
        let token = format!("pv_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(
            "INSERT INTO pin_verifications (token_hash, mall_id, customer_id, expires_at, created_at) \
             VALUES ($1, 'demomall', $2, $3, $4)",
        )
        .bind(paybridge::store::verification_token_hash(&token))
        .bind(customer)
        .bind(now + expires_in_ms)
        .bind(now)
        .execute(self.state.store.pool())
        .await
        .unwrap();
        token
    }
}

/// Whether `signature` (the `webhook-signature` header) holds a valid signature of
/// `body` under `secret`, checked by Python's `hmac` as a store's receiver would.
pub fn python_verifies(secret: &str, id: &str, timestamp: &str, body: &str, signature: &str) -> bool {
    const CHECK: &str = r#"
import base64, hashlib, hmac, sys
secret, msg_id, ts, body, header = sys.argv[1:6]
key = base64.b64decode(secret.split("_", 1)[1])
expected = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.{body}".encode(), hashlib.sha256).digest()).decode()
given = [part.split(",", 1)[1] for part in header.split(" ") if part.startswith("v1,")]
sys.exit(0 if any(hmac.compare_digest(expected, g) for g in given) else 1)
"#;
    std::process::Command::new("python3")
        .args(["-c", CHECK, secret, id, timestamp, body, signature])
        .status()
        .expect("python3 runs")
        .success()
}

/// The ids of the events a receiver got, by type, as (type, payment id, version).
pub fn webhook_events(received: &[crate::receiver::Received]) -> Vec<(String, String, i64)> {
    received
        .iter()
        .map(|r| {
            let v: Value = serde_json::from_str(&r.body).unwrap();
            (
                v["type"].as_str().unwrap().to_owned(),
                v["data"]["id"].as_str().unwrap().to_owned(),
                v["data"]["version"].as_i64().unwrap(),
            )
        })
        .collect()
}
