//! The demo store: a shop system of its own using the Store API v2 (SPEC §8), beside the
//! demo mall that plays Cafe24. Its server side does what a store's would, over HTTP with
//! the sandbox's key (`SANDBOX_API_KEY`): it creates an intent (with an Idempotency-Key)
//! and sends the buyer to its `paymentUrl`; on its `successUrl` / `failUrl` it reads the
//! payment with `GET /api/v2/payments/{id}`; and its receiver takes the signed webhooks.
//!
//! Its webhook endpoint is registered through the API on the first Pay (not at start, so
//! the demo mall has no endpoint until someone uses the store). Living in paybridge's
//! process, the store keeps no copy of the endpoint's secret: its receiver reads the
//! endpoint's signing secrets — both during a rotation — where paybridge keeps them
//! sealed. A real store keeps the `whsec_…` of the API's answer in its own secret store.

pub mod receiver;

use std::sync::Arc;

use axum::{
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Json, Router,
};
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{html_escape, page, provision, SandboxContext};
use crate::{
    domain::{Currency, MallId, Money},
    store::{now_ms, StoreError},
};

pub const STORE_PATH: &str = "/demo-mall/store/";
pub const RECEIVER_PATH: &str = "/demo-mall/store/webhooks";
const SUCCESS_PATH: &str = "/demo-mall/store/success";
const FAIL_PATH: &str = "/demo-mall/store/fail";

/// What the demo store's handlers need: the sandbox's context and the store's API key.
#[derive(Clone)]
pub struct DemoStore {
    app: SandboxContext,
    api_key: Arc<str>,
}

impl DemoStore {
    pub fn new(app: SandboxContext, api_key: &str) -> Self {
        DemoStore { app, api_key: api_key.into() }
    }
}

pub fn router<S: Clone + Send + Sync + 'static>(demo: DemoStore) -> Router<S> {
    Router::new()
        .route(STORE_PATH, get(store_page))
        .route("/demo-mall/store/pay", post(pay))
        .route(SUCCESS_PATH, get(success_page))
        .route(FAIL_PATH, get(fail_page))
        .route(RECEIVER_PATH, post(receive_webhook))
        .with_state(demo)
}

fn demo_page(title: &str, body: &str, refresh_secs: Option<u32>) -> Response {
    Html(match refresh_secs {
        Some(secs) => crate::web::refreshing_page(title, body, secs, None),
        None => page(title, body),
    })
    .into_response()
}

fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"bad\" data-testid=\"store-error\">{}</p><p><a href=\"{STORE_PATH}\">Back to the store</a></p>",
        html_escape(title),
        html_escape(message)
    );
    (status, Html(page(title, &body))).into_response()
}

/// A call to the Store API, as the store's server makes it; (status, JSON body).
async fn call(
    demo: &DemoStore,
    method: reqwest::Method,
    path: &str,
    idempotency_key: Option<&str>,
    body: Option<&Value>,
) -> Result<(StatusCode, Value), String> {
    let mut request = demo.app.http.request(method, demo.app.url(path)).bearer_auth(&*demo.api_key);
    if let Some(key) = idempotency_key {
        request = request.header("Idempotency-Key", key);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.map_err(|e| format!("could not reach paybridge: {}", e.without_url()))?;
    let status = response.status();
    let value = response
        .json::<Value>()
        .await
        .map_err(|e| format!("paybridge answered something unreadable: {}", e.without_url()))?;
    Ok((status, value))
}

fn api_message(answer: &Value) -> String {
    answer["error"]["message"].as_str().unwrap_or("no reason given").to_owned()
}

fn demo_mall() -> Result<MallId, StoreError> {
    MallId::parse(provision::DEMO_MALL_ID).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The ids of the demo mall's webhook endpoints that point at this store's receiver.
async fn receiver_endpoints(demo: &DemoStore) -> Result<Vec<String>, StoreError> {
    let receiver = demo.app.url(RECEIVER_PATH).to_string();
    let endpoints = demo.app.store.webhook_endpoints(&demo_mall()?).await?;
    Ok(endpoints.into_iter().filter(|e| e.url == receiver).map(|e| e.id).collect())
}

/// Registers the store's receiver as a webhook endpoint unless one already points at it.
/// Two first Pays at once may register two; the receiver takes either's signature, and
/// keeps an event once (by its `webhook-id`).
async fn ensure_webhook_endpoint(demo: &DemoStore) -> Result<(), String> {
    let known = receiver_endpoints(demo).await.map_err(|e| format!("could not read the webhook endpoints: {e}"))?;
    if !known.is_empty() {
        return Ok(());
    }
    let url = demo.app.url(RECEIVER_PATH).to_string();
    let key = crate::store::new_id("demo-store-endpoint");
    let (status, answer) =
        call(demo, reqwest::Method::POST, "/api/v2/webhook-endpoints", Some(&key), Some(&json!({ "url": url })))
            .await?;
    if status == StatusCode::CREATED {
        tracing::info!(endpoint = %answer["id"].as_str().unwrap_or_default(), "demo store: webhook endpoint registered");
        Ok(())
    } else {
        Err(format!("paybridge refused the webhook endpoint ({status}): {}", api_message(&answer)))
    }
}

async fn store_page(State(demo): State<DemoStore>) -> Response {
    let endpoint = match receiver_endpoints(&demo).await {
        Ok(ids) if !ids.is_empty() => format!("registered as <code>{}</code>", html_escape(&ids.join(", "))),
        Ok(_) => "registered through the API on your first Pay".to_owned(),
        Err(e) => format!("unknown ({})", html_escape(&e.to_string())),
    };
    let body = format!(
        "<p class=\"muted\"><a href=\"/demo-mall/\">Demo mall</a> · a store on the Store API v2 (merchant <code>{mall}</code>)</p>\
         <h1>Demo store</h1>\
         <p>A shop system of its own, using paybridge's <a href=\"/api/v2/docs\">Store API</a>. Its server creates a \
         payment intent with <code>POST /api/v2/payment-intents</code> (key <code>SANDBOX_API_KEY</code>, an \
         <code>Idempotency-Key</code>) and sends you to the intent's <code>paymentUrl</code>, paybridge's hosted page; \
         from there on to the sandbox PG. Back on the store's success page it reads the payment with \
         <code>GET /api/v2/payments/{{id}}</code> and lists the signed webhooks its receiver verified.</p>\
         <form class=\"box\" method=\"post\" action=\"/demo-mall/store/pay\">\
         <label>What you buy <input name=\"order_name\" value=\"Kape at pandesal\" maxlength=\"100\" data-testid=\"store-order-name\"></label>\
         <label>Amount (PHP) <input name=\"amount\" value=\"150.00\" inputmode=\"decimal\" data-testid=\"store-amount\"></label>\
         <button class=\"primary\" type=\"submit\" data-testid=\"store-pay\">Pay</button></form>\
         <p class=\"muted\" data-testid=\"store-endpoint\">Webhook endpoint <code>{receiver}</code>: {endpoint}</p>",
        mall = provision::DEMO_MALL_ID,
        receiver = html_escape(demo.app.url(RECEIVER_PATH).as_str()),
    );
    demo_page("Demo store", &body, None)
}

#[derive(Deserialize)]
struct PayForm {
    amount: String,
    order_name: Option<String>,
}

fn new_order_id() -> String {
    let n: u64 = rand::rng().random_range(0..1_000_000_000_000);
    format!("DS-{n:012}")
}

/// The store's server: an intent for the buyer's amount, then the buyer to its `paymentUrl`.
async fn pay(State(demo): State<DemoStore>, Form(form): Form<PayForm>) -> Response {
    let amount = match Money::parse(form.amount.trim(), provision::DEMO_CURRENCY) {
        Ok(amount) if amount.minor > 0 => amount,
        _ => {
            return error_page(StatusCode::BAD_REQUEST, "Check the amount", "Enter an amount in pesos, such as 150.00.")
        }
    };
    let order_name = form.order_name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
    if let Err(message) = ensure_webhook_endpoint(&demo).await {
        return error_page(StatusCode::BAD_GATEWAY, "Could not register the store's webhooks", &message);
    }
    let order_id = new_order_id();
    let intent = json!({
        "amount": amount.minor,
        "currency": amount.currency.code(),
        "orderId": order_id,
        "orderName": order_name.unwrap_or_else(|| "Demo store order".to_owned()),
        "successUrl": demo.app.url(SUCCESS_PATH).to_string(),
        "failUrl": demo.app.url(FAIL_PATH).to_string(),
        "metadata": {"source": "demo-store"},
    });
    // The key is the order's: the same order sent again (a timeout, a double click) is
    // answered with the same intent, never a second one.
    let key = format!("demo-store-{order_id}");
    match call(&demo, reqwest::Method::POST, "/api/v2/payment-intents", Some(&key), Some(&intent)).await {
        Ok((StatusCode::CREATED, answer)) => match answer["paymentUrl"].as_str() {
            Some(url) => Redirect::to(url).into_response(),
            None => error_page(StatusCode::BAD_GATEWAY, "Payment failed", "paybridge sent no paymentUrl"),
        },
        Ok((status, answer)) => {
            error_page(StatusCode::BAD_GATEWAY, "Payment refused", &format!("{status}: {}", api_message(&answer)))
        }
        Err(message) => error_page(StatusCode::BAD_GATEWAY, "Payment failed", &message),
    }
}

#[derive(Deserialize)]
struct ResultParams {
    #[serde(rename = "paymentId")]
    payment_id: Option<String>,
    code: Option<String>,
}

async fn success_page(State(demo): State<DemoStore>, Query(params): Query<ResultParams>) -> Response {
    result_page(&demo, params, true).await
}

async fn fail_page(State(demo): State<DemoStore>, Query(params): Query<ResultParams>) -> Response {
    result_page(&demo, params, false).await
}

/// A webhook the receiver verified and kept.
#[derive(sqlx::FromRow)]
struct Received {
    webhook_id: String,
    event_type: String,
    payment_status: String,
    version: i64,
    received_at: i64,
}

async fn received_for(demo: &DemoStore, payment_id: &str) -> Result<Vec<Received>, sqlx::Error> {
    sqlx::query_as(
        "SELECT webhook_id, event_type, payment_status, version, received_at FROM demo_store_webhooks \
         WHERE payment_id = $1 ORDER BY received_at, webhook_id",
    )
    .bind(payment_id)
    .fetch_all(demo.app.store.pool())
    .await
}

/// How long the page refreshes itself waiting for the webhook of the payment's last change.
const WAIT_FOR_WEBHOOK_MS: i64 = 2 * 60 * 1000;

/// The store's `successUrl` / `failUrl`: what the URL says is only a hint; the payment is
/// read from the Store API, and the webhooks come from the receiver's table.
async fn result_page(demo: &DemoStore, params: ResultParams, success: bool) -> Response {
    let Some(payment_id) =
        params.payment_id.filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
    else {
        return error_page(StatusCode::BAD_REQUEST, "No payment", "The address names no payment.");
    };
    let payment = match call(demo, reqwest::Method::GET, &format!("/api/v2/payments/{payment_id}"), None, None).await {
        Ok((StatusCode::OK, payment)) => payment,
        Ok((status, answer)) => {
            return error_page(
                StatusCode::BAD_GATEWAY,
                "Could not read the payment",
                &format!("{status}: {}", api_message(&answer)),
            )
        }
        Err(message) => return error_page(StatusCode::BAD_GATEWAY, "Could not read the payment", &message),
    };
    let received = match received_for(demo, &payment_id).await {
        Ok(rows) => rows,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Demo store", &e.to_string()),
    };
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let status = text(&payment["status"]);
    let amount = match (payment["amount"].as_i64(), text(&payment["currency"]).parse::<Currency>()) {
        (Some(minor), Ok(currency)) => Money::new(minor, currency).to_string(),
        _ => "—".to_owned(),
    };
    let version = payment["version"].as_i64().unwrap_or_default();
    let heading = match (success, status.as_str()) {
        (true, "COMPLETE") => "<h1 class=\"ok\" data-testid=\"store-outcome\">Thank you — your payment is complete</h1>".to_owned(),
        (true, "PENDING") => "<h1 class=\"ok\" data-testid=\"store-outcome\">Thank you — your payment is authorized</h1>".to_owned(),
        (true, _) => "<h1 data-testid=\"store-outcome\">Back from the payment</h1>".to_owned(),
        (false, _) => format!(
            "<h1 class=\"bad\" data-testid=\"store-outcome\">Payment not completed</h1><p>Code <code data-testid=\"store-fail-code\">{}</code></p>",
            html_escape(params.code.as_deref().unwrap_or("unknown"))
        ),
    };
    let events: String = payment["events"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| {
            let code = |v: &Value| v.as_i64().map_or("—".to_owned(), |c| c.to_string());
            format!(
                "<li>{} ({} → {})</li>",
                html_escape(&text(&e["type"])),
                code(&e["fromStatus"]),
                code(&e["toStatus"])
            )
        })
        .collect();
    let rows: String = received
        .iter()
        .map(|r| {
            format!(
                "<tr data-testid=\"store-webhook\"><td data-testid=\"store-webhook-type\">{kind}</td><td>{status}</td><td>{version}</td>\
                 <td class=\"ok\">verified</td><td><code>{id}</code><br><span class=\"muted\">{at}</span></td></tr>",
                kind = html_escape(&r.event_type),
                status = html_escape(&r.payment_status),
                version = r.version,
                id = html_escape(&r.webhook_id),
                at = crate::store_api::model::rfc3339(r.received_at),
            )
        })
        .collect();
    // Until the webhook of the payment's latest change is in, the page asks again by itself
    // (for a while: with no endpoint, none will come).
    let heard_latest = received.iter().any(|r| r.version >= version);
    let updated = payment["updatedAt"].as_str().and_then(crate::store_api::model::parse_rfc3339).unwrap_or_default();
    let mut refresh = url::form_urlencoded::Serializer::new(String::new());
    refresh.append_pair("paymentId", &payment_id);
    if let Some(code) = &params.code {
        refresh.append_pair("code", code);
    }
    let refresh = format!("{}?{}", if success { SUCCESS_PATH } else { FAIL_PATH }, refresh.finish());
    let waiting = !heard_latest && now_ms() - updated < WAIT_FOR_WEBHOOK_MS;
    let body = format!(
        "<p class=\"muted\"><a href=\"{STORE_PATH}\">Demo store</a> — its {page}</p>{heading}\
         <div class=\"box\"><p class=\"muted\">From <code>GET /api/v2/payments/{id}</code>:</p><table>\
         <tr><th>Status</th><td data-testid=\"store-status\">{status}</td></tr>\
         <tr><th>Payment</th><td data-testid=\"store-payment-id\">{id}</td></tr>\
         <tr><th>Order</th><td>{order} — {name}</td></tr>\
         <tr><th>Amount</th><td data-testid=\"store-amount-paid\">{amount}</td></tr>\
         <tr><th>Version</th><td>{version}</td></tr></table>\
         <h2>History</h2><ul>{events}</ul></div>\
         <div class=\"box\"><h2>Webhooks received (Standard Webhooks signature verified)</h2>\
         <table><tr><th>type</th><th>status</th><th>version</th><th>signature</th><th>webhook-id, received</th></tr>{rows}</table>\
         {wait}</div>\
         <p><a href=\"{refresh}\" data-testid=\"store-refresh\">Refresh</a> · <a href=\"{STORE_PATH}\">Back to the store</a></p>",
        page = if success { "success page (successUrl)" } else { "failure page (failUrl)" },
        refresh = html_escape(&refresh),
        id = html_escape(&payment_id),
        status = html_escape(&status),
        order = html_escape(&text(&payment["orderId"])),
        name = html_escape(&text(&payment["orderName"])),
        amount = html_escape(&amount),
        wait = if waiting { "<p class=\"muted\" data-testid=\"store-waiting\">Waiting for the webhook of the latest change…</p>" } else { "" },
    );
    demo_page("Demo store — your payment", &body, waiting.then_some(2))
}

/// `POST /demo-mall/store/webhooks`: verified (SPEC §8.4, Standard Webhooks) with the
/// secrets of the endpoints pointing here, then kept once per `webhook-id`. A webhook that
/// does not verify is refused (401) and changes nothing; paybridge sends it again.
async fn receive_webhook(State(demo): State<DemoStore>, headers: HeaderMap, body: Bytes) -> Response {
    let keys = match signing_keys(&demo).await {
        Ok(keys) => keys,
        Err(e) => {
            tracing::error!(error = %e, "demo store: could not read its webhook secrets");
            return (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "try again"}))).into_response();
        }
    };
    if let Err(refusal) = receiver::verify(&keys, &headers, &body, now_ms() / 1000) {
        tracing::warn!(%refusal, "demo store: webhook refused");
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": refusal.to_string()}))).into_response();
    }
    let Ok(event) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "the body is not JSON"}))).into_response();
    };
    let webhook_id = headers.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let field = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let kept = sqlx::query(
        "INSERT INTO demo_store_webhooks (webhook_id, payment_id, event_type, payment_status, version, received_at) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (webhook_id) DO NOTHING",
    )
    .bind(webhook_id)
    .bind(field(&event["data"]["id"]))
    .bind(field(&event["type"]))
    .bind(field(&event["data"]["status"]))
    .bind(event["data"]["version"].as_i64().unwrap_or_default())
    .bind(now_ms())
    .execute(demo.app.store.pool())
    .await;
    match kept {
        Ok(_) => Json(json!({"received": true})).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "demo store: could not keep a webhook");
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"error": "try again"}))).into_response()
        }
    }
}

/// The keys of every secret that signs for an endpoint pointing at the receiver.
async fn signing_keys(demo: &DemoStore) -> Result<Vec<Vec<u8>>, StoreError> {
    let mut keys = Vec::new();
    for endpoint in receiver_endpoints(demo).await? {
        let secrets = demo.app.store.webhook_secrets(&demo.app.keys, &endpoint).await?.unwrap_or_default();
        keys.extend(secrets.iter().filter_map(|s| receiver::secret_key(s)));
    }
    Ok(keys)
}
