//! Every bad payment request gets a clear 4xx in Cafe24's error format and changes
//! nothing.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

const CHECKOUT: &str = "/api/synchronous-checkout/checkout";

async fn refused(app: &TestApp, body: &Value, status: StatusCode, message_part: &str) {
    let before = app.snapshot().await;
    let (got, answer) = app.post_json(CHECKOUT, body).await;
    assert_eq!(got, status, "{answer}");
    assert_eq!(answer["result_code"], "9999", "{answer}");
    assert_eq!(answer["payment_url"], "", "{answer}");
    let message = answer["result_message"].as_str().unwrap();
    assert!(message.contains(message_part), "{message:?} should mention {message_part:?}");
    assert_eq!(app.snapshot().await, before, "nothing changed after: {message}");
}

async fn bad_signatures_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let order_id = unique_order_id();
    let mut missing = payment_request(&order_id, "3065.00");
    missing.as_object_mut().unwrap().remove("hash_data");
    refused(&app, &missing, StatusCode::UNPROCESSABLE_ENTITY, "hash_data is required").await;

    let mut wrong = payment_request(&order_id, "3065.00");
    wrong["hash_data"] = json!(sign(&["3065.00", "PHP", &order_id, "another"]));
    refused(&app, &wrong, StatusCode::UNAUTHORIZED, "hash_data").await;

    let mut garbage = payment_request(&order_id, "3065.00");
    garbage["hash_data"] = json!("%%%not-base64");
    refused(&app, &garbage, StatusCode::UNAUTHORIZED, "hash_data").await;

    // The amount is covered by the hash: raising it breaks the signature.
    let mut tampered = payment_request(&order_id, "3065.00");
    tampered["amount"] = json!("1.00");
    refused(&app, &tampered, StatusCode::UNAUTHORIZED, "hash_data").await;

    let mut other_key = payment_request(&order_id, "3065.00");
    other_key["hash_data"] =
        json!(paybridge::cafe24::signature::sign("not-the-service-key", &["3065.00", "PHP", &order_id, PARTNER_ID]));
    refused(&app, &other_key, StatusCode::UNAUTHORIZED, "hash_data").await;
}

fn signed_with(order_id: &str, amount: &str, currency: &str, partner_id: &str) -> Value {
    let mut body = payment_request(order_id, amount);
    body["currency"] = json!(currency);
    body["partner_id"] = json!(partner_id);
    body["hash_data"] = json!(sign(&[amount, currency, order_id, partner_id]));
    body
}

async fn requests_for_shops_we_cannot_serve_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let order_id = unique_order_id();
    refused(
        &app,
        &signed_with(&order_id, "3065.00", "PHP", "othermall:0:demo-app-public-key"),
        StatusCode::NOT_FOUND,
        "unknown partner_id",
    )
    .await;
    refused(&app, &signed_with(&order_id, "3065", "JPY", PARTNER_ID), StatusCode::UNPROCESSABLE_ENTITY, "currency JPY")
        .await;
    refused(
        &app,
        &signed_with(&order_id, "3065", "XYZ", PARTNER_ID),
        StatusCode::UNPROCESSABLE_ENTITY,
        "not supported",
    )
    .await;

    let mut wrong_shop = payment_request(&order_id, "3065.00");
    wrong_shop["shop_no"] = json!("2");
    refused(&app, &wrong_shop, StatusCode::UNPROCESSABLE_ENTITY, "shop_no").await;

    assert!(app.state.store.set_shop_enabled("demomall", 1, false).await.unwrap());
    refused(&app, &payment_request(&order_id, "3065.00"), StatusCode::FORBIDDEN, "not enabled").await;
}

async fn amounts_and_order_ids_must_be_well_formed(db: Db) {
    let app = spawn_app(db).await;
    for (amount, part) in [("-5", "amount"), ("12.345", "more decimals"), ("1e3", "amount"), ("0", "greater than zero")]
    {
        refused(&app, &payment_request(&unique_order_id(), amount), StatusCode::UNPROCESSABLE_ENTITY, part).await;
    }
    let long = "9".repeat(65);
    refused(&app, &payment_request(&long, "1.00"), StatusCode::UNPROCESSABLE_ENTITY, "order_id").await;
}

async fn return_urls_must_be_on_allowed_hosts(db: Db) {
    let app = spawn_app(db).await;
    for url in [
        "https://evil.example.com/steal",
        "https://cafe24shop.com.evil.example/x",
        "http://10.0.0.8/internal",
        "http://169.254.169.254/latest/meta-data",
        "javascript:alert(1)",
        "not a url",
    ] {
        let mut body = payment_request(&unique_order_id(), "3065.00");
        body["return_url"] = json!(url);
        refused(&app, &body, StatusCode::UNPROCESSABLE_ENTITY, "return_url").await;
    }
    let mut body = payment_request(&unique_order_id(), "3065.00");
    body["return_noty_url"] = json!("https://evil.example.com/noty");
    refused(&app, &body, StatusCode::UNPROCESSABLE_ENTITY, "return_noty_url").await;
}

async fn an_order_id_cannot_be_reused_for_another_amount(db: Db) {
    let app = spawn_app(db).await;
    let order_id = unique_order_id();
    app.request_payment(&order_id, "3065.00").await;
    refused(&app, &payment_request(&order_id, "3066.00"), StatusCode::CONFLICT, "already has a payment").await;
    let paid = app.paid_payment("500.00").await;
    refused(&app, &payment_request(&paid.order_id, "500.00"), StatusCode::CONFLICT, "status Complete").await;
}

async fn malformed_and_oversized_bodies_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let before = app.snapshot().await;
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        ("application/json", b"{\"amount\": ".to_vec(), StatusCode::BAD_REQUEST),
        ("application/json", b"[1, 2, 3]".to_vec(), StatusCode::BAD_REQUEST),
        ("application/x-www-form-urlencoded", b"amount=1&amount=2".to_vec(), StatusCode::BAD_REQUEST),
        ("text/plain", b"amount=1".to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        ("application/json", vec![b' '; 70 * 1024], StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (content_type, body, status) in cases {
        let (got, answer) = app.post_raw(CHECKOUT, content_type, body).await;
        assert_eq!(got, status, "{content_type}: {answer}");
        assert_eq!(answer["result_code"], "9999");
        assert!(!answer["result_message"].as_str().unwrap().is_empty());
    }
    assert_eq!(app.snapshot().await, before);
}

async fn a_guessed_status_key_reveals_nothing(db: Db) {
    let app = spawn_app(db).await;
    let paid = app.paid_payment("100.00").await;
    for guess in [
        format!("sync-checkout:{}", paid.order_id),
        paid.order_id.clone(),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".to_owned(),
    ] {
        let (status, body) = app.status(&guess).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert_eq!(body["result_code"], "9999");
        assert!(body.get("tid").is_none());
    }
    let (status, _) = app.status(&paid.key).await;
    assert_eq!(status, StatusCode::OK);
}

async fn a_callback_for_an_unknown_payment_is_refused(db: Db) {
    let app = spawn_app(db).await;
    let before = app.snapshot().await;
    for query in ["", "?reference_no=pay_doesnotexist", "?order_code=sbx_ord_x"] {
        let response = app
            .client
            .get(app.url(&format!("/api/synchronous-checkout/checkout/callback{query}")))
            .send()
            .await
            .unwrap();
        assert!(response.status().is_client_error(), "{query}: {}", response.status());
        assert!(response.headers().get("location").is_none());
    }
    assert_eq!(app.snapshot().await, before);
}

crate::on_both_databases!(
    bad_signatures_are_refused,
    requests_for_shops_we_cannot_serve_are_refused,
    amounts_and_order_ids_must_be_well_formed,
    return_urls_must_be_on_allowed_hosts,
    an_order_id_cannot_be_reused_for_another_amount,
    malformed_and_oversized_bodies_are_refused,
    a_guessed_status_key_reveals_nothing,
    a_callback_for_an_unknown_payment_is_refused,
);
