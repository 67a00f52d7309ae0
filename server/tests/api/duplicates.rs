//! A field named twice (`"amount":"3065.00","amount":"1.00"`) is refused by every Cafe24
//! endpoint, in JSON as in forms, with `hash_data` valid for the last value, and by every
//! Store API call that takes a body: whichever value we took, something in front of us
//! may have read the other one.

use reqwest::StatusCode;
use serde_json::{json, Map, Value};

use crate::{
    external::{basket, now_secs, payload},
    helpers::*,
};

/// `body` as JSON with `name: first` written once more before everything else.
fn json_with_first(body: &Value, name: &str, first: &str) -> Vec<u8> {
    let rest = body.to_string();
    let inner = rest.strip_prefix('{').unwrap();
    format!("{{{}:{},{inner}", Value::from(name), Value::from(first)).into_bytes()
}

/// `body` as a form with `name=first` given once more before everything else.
fn form_with_first(body: &Value, name: &str, first: &str) -> Vec<u8> {
    let mut pairs: Vec<(String, String)> = vec![(name.to_owned(), first.to_owned())];
    for (k, v) in body.as_object().unwrap() {
        let text = match v {
            Value::String(s) => s.clone(),
            Value::Null => continue,
            other => other.to_string(),
        };
        pairs.push((k.clone(), text));
    }
    serde_urlencoded::to_string(pairs).unwrap().into_bytes()
}

/// Both formats of `body` with a second `name`, each refused with 400 naming the field,
/// and nothing changed.
async fn refused_in_both_formats(app: &TestApp, path: &str, body: &Value, name: &str, first: &str) {
    for (content_type, raw) in [
        ("application/json", json_with_first(body, name, first)),
        ("application/x-www-form-urlencoded", form_with_first(body, name, first)),
    ] {
        let before = app.snapshot().await;
        let (status, answer) = app.post_raw(path, content_type, raw).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} ({content_type}): {answer}");
        assert_eq!(answer["result_code"], "9999");
        let message = answer["result_message"].as_str().unwrap();
        assert_eq!(message, format!("{name} is given more than once"), "{path} ({content_type})");
        assert_eq!(app.snapshot().await, before, "{path} ({content_type}) changed nothing");
    }
}

async fn payment_requests_naming_the_amount_twice_are_refused(db: Db) {
    let app = spawn_app(db).await;
    for path in ["/api/synchronous-checkout/checkout", "/api/asynchronous-checkout/checkout"] {
        let order_id = unique_order_id();
        // Signed for the last amount, as an attacker would.
        let body = payment_request(&order_id, "1.00");
        refused_in_both_formats(&app, path, &body, "amount", "3065.00").await;
        refused_in_both_formats(&app, path, &body, "order_id", "20261123-0000000").await;
        assert_eq!(app.count_where("payments", &format!("order_id = '{order_id}'")).await, 0);
    }
}

async fn cancels_naming_the_cancel_amount_twice_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let paid = app.paid_payment("3065.00").await;
    for path in [
        "/api/synchronous-cancellation/cancel",
        "/api/asynchronous-cancellation/cancel",
        "/api/synchronous-refund/cancel",
        "/api/asynchronous-refund/cancel",
    ] {
        let body = cancel_request(&paid.order_id, &paid.tid, "400.00", None);
        refused_in_both_formats(&app, path, &body, "cancel_amount", "100.00").await;
    }
    let payment = app.payment(&paid.order_id).await;
    assert_eq!((payment.status.code(), payment.cancelled_minor), (2, 0), "nothing was refunded");
}

async fn a_status_read_naming_the_key_twice_is_refused(db: Db) {
    let app = spawn_app(db).await;
    let paid = app.paid_payment("3065.00").await;
    let mut body = Map::new();
    body.insert("key".into(), Value::from(paid.key.clone()));
    refused_in_both_formats(&app, "/api/synchronous-checkout/checkout/status", &Value::Object(body), "key", "other")
        .await;
}

/// The storefront's calls are JSON only, nested: a member named twice at any depth is
/// refused in the storefront's shape, naming where, and nothing changes.
async fn refused_from_the_storefront(app: &TestApp, path: &str, raw: String, named: &str) {
    let before = app.snapshot().await;
    let (status, answer) = app.post_raw(path, "application/json", raw.into_bytes()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
    assert_eq!(answer["bResult"], false);
    assert_eq!(answer["mData"]["message"], format!("{named} is given more than once"), "{path}");
    assert_eq!(app.snapshot().await, before, "{path} changed nothing");
}

async fn storefront_reservations_naming_a_member_twice_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let order_id = unique_order_id();
    // Signed for the last values, as an attacker would: the reservation's hmac holds.
    let body = payload(&order_id, &basket(), "https://demomall.cafe24shop.com/noty", 2700, now_secs());
    refused_from_the_storefront(
        &app,
        "/api/external-checkout/payload",
        String::from_utf8(json_with_first(&body, "order_id", "20261123-0000000")).unwrap(),
        "order_id",
    )
    .await;
    // Inside the basket: the first line's price named twice, the last value signed.
    let text = body.to_string();
    let nested = text.replacen(
        "\"product_price\":\"1000.00\"",
        "\"product_price\":\"9000.00\",\"product_price\":\"1000.00\"",
        1,
    );
    assert_ne!(nested, text);
    refused_from_the_storefront(&app, "/api/external-checkout/payload", nested, "order[0].product_price").await;
    assert_eq!(app.count_where("payments", &format!("order_id = '{order_id}'")).await, 0);
    let (status, answer) = app.post_json("/api/external-checkout/payload", &body).await;
    assert_eq!(status, StatusCode::OK, "the same reservation sent once is taken: {answer}");

    let pay = format!(r#"{{"mall_id":"demomall","order_id":"20261123-0000000","order_id":"{order_id}"}}"#);
    refused_from_the_storefront(&app, "/api/external-checkout/order/pay", pay, "order_id").await;
}

/// Cafe24's app-deleted webhook names the mall in `resource.mall_id`: named twice, the
/// webhook is refused and the mall stays installed.
async fn a_cafe24_webhook_naming_the_mall_twice_is_refused(db: Db) {
    let app = spawn_app(db).await;
    let event = paybridge::admin::APP_DELETED_EVENT;
    let body = format!(r#"{{"event_no":{event},"resource":{{"mall_id":"othermall","mall_id":"demomall"}}}}"#);
    let before = app.snapshot().await;
    let response = app
        .client
        .post(app.url("/api/cafe24/webhook"))
        .header("content-type", "application/json")
        .header("x-api-key", paybridge::config::DEV_WEBHOOK_KEY)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["message"], "not a Cafe24 webhook: resource.mall_id is given more than once");
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.count_where("pg_credentials", "mall_id = 'demomall'").await, 1, "still installed");
    assert_eq!(app.count_where("shops", "mall_id = 'demomall' AND enabled = 1").await, 1, "still on");
}

/// Every Store API call that takes a JSON body, each with a body naming a field twice
/// (the last value the one a signature or a check would see): 400 `parameter_duplicated`
/// with `param` naming it, and nothing changed — no payment, event, refund, webhook,
/// PG call or idempotency key.
async fn every_store_api_call_refuses_a_field_named_twice(db: Db) {
    let app = spawn_app(db).await;
    let intent = app.intent(json!({})).await;
    let id = intent["id"].as_str().unwrap().to_owned();
    let token_payment = app.token_payment_body("tok_nonexistent", json!({}));
    let calls: Vec<(String, Value, &str, Value)> = vec![
        ("/api/v2/payment-intents".into(), app.intent_body(json!({"amount": 100})), "amount", json!(15000)),
        ("/api/v2/payments".into(), json!({"paymentId": id, "authData": "x"}), "paymentId", json!("pay_other")),
        (format!("/api/v2/payments/{id}/capture"), json!({"amount": 100}), "amount", json!(15000)),
        (format!("/api/v2/payments/{id}/cancel"), json!({"amount": 100, "reason": "r"}), "amount", json!(15000)),
        (format!("/api/v2/payments/{id}/confirm"), json!({"note": "y"}), "note", json!("x")),
        (format!("/api/v2/payments/{id}/delivery"), json!({"carrier": "y"}), "carrier", json!("x")),
        (format!("/api/v2/payments/{id}/webhooks/resend"), json!({"all": false}), "all", json!(true)),
        (
            "/api/v2/webhook-endpoints".into(),
            json!({"url": "https://store.example/hook"}),
            "url",
            json!("https://a.example"),
        ),
        ("/api/v2/webhook-endpoints/we_nonexistent/rotate-secret".into(), json!({"x": 2}), "x", json!(1)),
        ("/api/v2/customers/c-77/pin".into(), json!({"encryptedPin": "a.b.c.d.e"}), "encryptedPin", json!("f.g.h.i.j")),
        ("/api/v2/customers/c-77/pin/verify".into(), json!({"encryptedPin": "a.b.c.d.e"}), "encryptedPin", json!("x")),
        (
            "/api/v2/tokens/registrations".into(),
            app.registration_body("c-77", "on_session"),
            "customerId",
            json!("c-1"),
        ),
        ("/api/v2/token-payments".into(), token_payment.clone(), "amount", json!(1)),
    ];
    for (path, body, name, first) in &calls {
        let first = match first {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let raw = json_with_first_value(body, name, &first);
        refused_by_the_store_api(&app, path, raw, name).await;
    }
    // Nested: inside metadata, and inside the payment's metadata of a token payment.
    let nested = app.intent_body(json!({})).to_string().replacen("\"cart\":\"7\"", "\"cart\":\"1\",\"cart\":\"7\"", 1);
    assert!(nested.contains("\"cart\":\"1\""));
    refused_by_the_store_api(&app, "/api/v2/payment-intents", nested.into_bytes(), "metadata.cart").await;
    assert_eq!(app.count("payments").await, 1, "only the intent made before");
}

/// `body` with `"name": first` written once more before everything else, `first` a JSON
/// value's text when it is not a string.
fn json_with_first_value(body: &Value, name: &str, first: &str) -> Vec<u8> {
    let value: Value = serde_json::from_str(first).unwrap_or_else(|_| Value::from(first));
    let rest = body.to_string();
    let inner = rest.strip_prefix('{').unwrap();
    assert!(body.get(name).is_some(), "{name} is in the body once already");
    format!("{{{}:{value},{inner}", Value::from(name)).into_bytes()
}

async fn refused_by_the_store_api(app: &TestApp, path: &str, raw: Vec<u8>, named: &str) {
    let before = app.snapshot().await;
    let response = app
        .client
        .post(app.url(path))
        .bearer_auth(crate::v2_helpers::KEY)
        .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {answer}");
    assert_eq!(answer["error"]["type"], "invalid_request_error", "{path}");
    assert_eq!(answer["error"]["code"], "parameter_duplicated", "{path}");
    assert_eq!(answer["error"]["param"], named, "{path}");
    assert_eq!(answer["error"]["message"], format!("{named} is given more than once"), "{path}");
    assert_eq!(app.snapshot().await, before, "{path} changed nothing");
}

crate::on_both_databases!(
    payment_requests_naming_the_amount_twice_are_refused,
    cancels_naming_the_cancel_amount_twice_are_refused,
    a_status_read_naming_the_key_twice_is_refused,
    storefront_reservations_naming_a_member_twice_are_refused,
    a_cafe24_webhook_naming_the_mall_twice_is_refused,
    every_store_api_call_refuses_a_field_named_twice,
);
