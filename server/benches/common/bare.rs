//! The bare axum + sqlx handlers the benches measure paybridge against: the same work
//! (parse, the PG's loopback call, the same rows in one transaction) without paybridge's
//! layers.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    Json,
};
use paybridge::{
    cafe24::signature,
    store::{new_id, now_ms, Store},
};
use serde_json::{json, Value};

use super::{PARTNER_ID, SERVICE_KEY};

/// The sandbox PG's demo merchant, as the demo mall links it.
pub const PG_USER: &str = "demo-app-public-key";
pub const PG_SECRET: &str = "demo-app-secret-key";

/// The bare handlers' tables.
pub const TABLES: [&str; 5] = [
    "CREATE TABLE bare_payments (id TEXT PRIMARY KEY, order_id TEXT UNIQUE, amount BIGINT, currency TEXT, status BIGINT, tid TEXT, url TEXT, created_at BIGINT)",
    "CREATE TABLE bare_cafe24 (payment_id TEXT PRIMARY KEY, partner_id TEXT, shop_no TEXT, amount_text TEXT, return_url TEXT)",
    "CREATE TABLE bare_store_data (payment_id TEXT PRIMARY KEY, success_url TEXT, fail_url TEXT, metadata TEXT)",
    "CREATE TABLE bare_events (id TEXT PRIMARY KEY, payment_id TEXT, kind TEXT, created_at BIGINT)",
    "CREATE TABLE bare_idempotency (id TEXT PRIMARY KEY, body TEXT, created_at BIGINT)",
];

/// The bare handlers' state: a database of the same kind, the same sandbox PG.
#[derive(Clone)]
pub struct Bare {
    pub store: Store,
    pub http: reqwest::Client,
    /// The sandbox PG's base URL.
    pub pg: String,
    /// The bare server's own base URL.
    pub base: String,
}

impl Bare {
    /// One loopback POST to the sandbox PG as its demo merchant: the PG's JSON answer.
    pub async fn pg_post(&self, path: &str, body: &Value) -> Value {
        let request = self.http.post(format!("{}{path}", self.pg)).basic_auth(PG_USER, Some(PG_SECRET)).json(body);
        request.send().await.unwrap().json().await.unwrap()
    }

    /// Opens the PG's checkout for payment `id`, as paybridge's sandbox connector asks.
    async fn open_checkout(&self, id: &str, amount: &Value, currency: &Value, description: &Value) -> Value {
        let body = json!({
            "reference": id, "amount": amount, "currency": currency, "description": description,
            "callback_url": format!("{}/bare/callback", self.base), "mode": "redirect", "allow_deposit": false,
            "capture_method": "automatic", "finalization": "webhook",
        });
        self.pg_post("/v1/checkouts", &body).await
    }
}

/// The payment row of a checkout just opened at the PG.
async fn insert_payment(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    id: &str,
    order_id: Option<&str>,
    (minor, currency): (Option<i64>, Option<&str>),
    checkout: &Value,
    now: i64,
) {
    sqlx::query("INSERT INTO bare_payments (id, order_id, amount, currency, status, tid, url, created_at) VALUES ($1, $2, $3, $4, 1, $5, $6, $7)")
        .bind(id).bind(order_id).bind(minor).bind(currency)
        .bind(checkout["order_code"].as_str()).bind(checkout["checkout_url"].as_str()).bind(now)
        .execute(&mut **tx).await.unwrap();
}

/// A new payment's two history rows.
async fn insert_events(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &str, now: i64) {
    for kind in ["payment.requested", "checkout.created"] {
        sqlx::query("INSERT INTO bare_events (id, payment_id, kind, created_at) VALUES ($1, $2, $3, $4)")
            .bind(new_id("evt"))
            .bind(id)
            .bind(kind)
            .bind(now)
            .execute(&mut **tx)
            .await
            .unwrap();
    }
}

/// The payment request without paybridge's layers.
pub async fn bare_checkout(State(b): State<Bare>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
    let (amount, currency, order_id) = (field("amount"), field("currency"), field("order_id"));
    let expected = signature::sign(SERVICE_KEY, &[&amount, &currency, &order_id, PARTNER_ID]);
    if field("hash_data") != expected {
        return (StatusCode::BAD_REQUEST, Json(json!({"result_code": "1001"})));
    }
    let minor = (amount.parse::<f64>().unwrap() * 100.0).round() as i64;
    let id = new_id("pay");
    let checkout = b.open_checkout(&id, &json!(minor), &json!(currency), &body["goods_name"]).await;
    let now = now_ms();
    let mut tx = b.store.pool().begin().await.unwrap();
    insert_payment(&mut tx, &id, Some(&order_id), (Some(minor), Some(&currency)), &checkout, now).await;
    sqlx::query("INSERT INTO bare_cafe24 (payment_id, partner_id, shop_no, amount_text, return_url) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id).bind(field("partner_id")).bind(field("shop_no")).bind(&amount).bind(field("return_url"))
        .execute(&mut *tx).await.unwrap();
    insert_events(&mut tx, &id, now).await;
    tx.commit().await.unwrap();
    let answer =
        json!({"result_code": "0000", "result_message": "checkout created", "payment_url": checkout["checkout_url"]});
    (StatusCode::OK, Json(answer))
}

pub fn payment_request(base: &str, order_id: &str) -> Value {
    let amount = "100.00";
    json!({
        "partner_id": PARTNER_ID, "shop_no": "1", "order_id": order_id, "amount": amount, "currency": "PHP",
        "goods_name": "2 items", "return_url": format!("{base}/demo-mall/return"),
        "hash_data": signature::sign(SERVICE_KEY, &[amount, "PHP", order_id, PARTNER_ID]),
    })
}

/// What paybridge writes for an intent, without its layers: the PG's checkout first, then
/// a payment row, its channel data, two history rows and an idempotency record in one
/// transaction.
pub async fn bare_intent(State(b): State<Bare>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let id = new_id("pay");
    let checkout = b.open_checkout(&id, &body["amount"], &body["currency"], &body["orderName"]).await;
    let now = now_ms();
    let mut tx = b.store.pool().begin().await.unwrap();
    let money = (body["amount"].as_i64(), body["currency"].as_str());
    insert_payment(&mut tx, &id, body["orderId"].as_str(), money, &checkout, now).await;
    sqlx::query("INSERT INTO bare_store_data (payment_id, success_url, fail_url, metadata) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(body["successUrl"].as_str())
        .bind(body["failUrl"].as_str())
        .bind(body["metadata"].to_string())
        .execute(&mut *tx)
        .await
        .unwrap();
    insert_events(&mut tx, &id, now).await;
    let answer = json!({"id": id, "status": "REQUEST", "paymentUrl": checkout["checkout_url"]});
    sqlx::query("INSERT INTO bare_idempotency (id, body, created_at) VALUES ($1, $2, $3)")
        .bind(new_id("idem"))
        .bind(answer.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    (StatusCode::CREATED, Json(answer))
}

/// A payment read by id, without paybridge's layers: one select, the row as JSON.
pub async fn bare_read(State(b): State<Bare>, Path(id): Path<String>) -> (StatusCode, Json<Value>) {
    let row: Option<(String, String, i64, String, i64)> =
        sqlx::query_as("SELECT id, order_id, amount, currency, status FROM bare_payments WHERE id = $1")
            .bind(&id)
            .fetch_optional(b.store.pool())
            .await
            .unwrap();
    match row {
        Some((id, order_id, amount, currency, status)) => (
            StatusCode::OK,
            Json(json!({"id": id, "orderId": order_id, "amount": amount, "currency": currency, "status": status})),
        ),
        None => (StatusCode::NOT_FOUND, Json(json!({"code": "NOT_FOUND"}))),
    }
}
