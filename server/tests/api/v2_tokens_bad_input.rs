//! Bad input to the saved-card calls gets a clear error and changes nothing (SPEC §8.1,
//! §8.3): unknown, deleted or another merchant's tokens and customers, a missing
//! `initiator`, PIN verifications missing, used, expired or another customer's, a
//! merchant-initiated payment with an `on_session` card, a currency the PG does not take,
//! registration URLs outside the host policy.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{helpers::*, v2_helpers::*};

/// The answer is `status` with error `code` (and `param`), and nothing changed.
async fn refused_unchanged(
    app: &TestApp,
    answer: &V2Answer,
    status: StatusCode,
    code: &str,
    param: Option<&str>,
    before: &[i64; 8],
) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], code, "{}", answer.body);
    assert!(answer.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    if let Some(param) = param {
        assert_eq!(answer.body["error"]["param"], param, "{}", answer.body);
    }
    assert_eq!(&app.snapshot().await, before, "refused with {code}: nothing changed");
}

/// Another merchant with a Store API key of its own.
async fn other_merchant(app: &TestApp) -> String {
    let other = paybridge::store_api::keys::new_api_key(paybridge::store_api::keys::KeyMode::Test);
    let mall = paybridge::domain::MallId::parse("othermall").unwrap();
    app.state.store.create_api_key(&mall, "test", &other.hash, other.prefix, &other.last4).await.unwrap();
    other.key
}

async fn tokens_and_customers_that_are_unknown_deleted_or_another_merchants_are_404(db: Db) {
    let app = spawn_app(db).await;
    let token = app.saved_card("c-90", "off_session", CARD_OK).await;
    let gone = app.saved_card("c-90", "off_session", CARD_OK).await;
    let deleted = app.v2(Method::DELETE, &format!("/api/v2/tokens/{gone}"), Some(KEY), None, None).await;
    assert_eq!(deleted.status, StatusCode::OK);
    let other = other_merchant(&app).await;
    let before = app.snapshot().await;
    let cards = app.count_where("card_tokens", "deleted_at IS NULL").await;

    for unknown in ["tok_00000000000000000000000000000000", "nonsense", gone.as_str()] {
        let pay = app.v2_post("/api/v2/token-payments", &app.token_payment_body(unknown, json!({}))).await;
        refused_unchanged(&app, &pay, StatusCode::NOT_FOUND, "resource_missing", Some("tokenId"), &before).await;
        let delete = app.v2(Method::DELETE, &format!("/api/v2/tokens/{unknown}"), Some(KEY), None, None).await;
        refused_unchanged(&app, &delete, StatusCode::NOT_FOUND, "resource_missing", None, &before).await;
    }
    // The demo mall's card and customer, asked with another merchant's key.
    let body = app.token_payment_body(&token, json!({}));
    let theirs = app.v2(Method::POST, "/api/v2/token-payments", Some(&other), Some("k-1"), Some(&body)).await;
    refused_unchanged(&app, &theirs, StatusCode::NOT_FOUND, "resource_missing", Some("tokenId"), &before).await;
    let delete = app.v2(Method::DELETE, &format!("/api/v2/tokens/{token}"), Some(&other), None, None).await;
    refused_unchanged(&app, &delete, StatusCode::NOT_FOUND, "resource_missing", None, &before).await;
    let list = app.v2(Method::GET, "/api/v2/customers/c-90/tokens", Some(&other), None, None).await;
    refused_unchanged(&app, &list, StatusCode::NOT_FOUND, "resource_missing", None, &before).await;
    let nobody = app.v2_get("/api/v2/customers/nobody-here/tokens").await;
    refused_unchanged(&app, &nobody, StatusCode::NOT_FOUND, "resource_missing", None, &before).await;
    assert_eq!(app.count_where("card_tokens", "deleted_at IS NULL").await, cards, "no card was deleted");
    assert_eq!(
        app.count_where("sandbox_pg_registrations", "deleted_at IS NULL AND status = 'registered'").await,
        cards
    );
}

async fn token_payments_with_bad_fields_or_the_wrong_initiator_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let off = app.saved_card("c-91", "off_session", CARD_OK).await;
    let on = app.saved_card("c-91", "on_session", CARD_OK).await;
    let before = app.snapshot().await;

    let missing =
        app.v2_post("/api/v2/token-payments", &app.token_payment_body(&off, json!({"initiator": null}))).await;
    refused_unchanged(&app, &missing, StatusCode::BAD_REQUEST, "parameter_missing", Some("initiator"), &before).await;
    let wrong =
        app.v2_post("/api/v2/token-payments", &app.token_payment_body(&off, json!({"initiator": "shop"}))).await;
    refused_unchanged(&app, &wrong, StatusCode::UNPROCESSABLE_ENTITY, "parameter_invalid", Some("initiator"), &before)
        .await;
    let on_session = app.v2_post("/api/v2/token-payments", &app.token_payment_body(&on, json!({}))).await;
    refused_unchanged(&app, &on_session, StatusCode::FORBIDDEN, "off_session_required", Some("tokenId"), &before).await;
    assert_eq!(on_session.body["error"]["type"], "permission_error");
    let with_pin = app
        .v2_post("/api/v2/token-payments", &app.token_payment_body(&off, json!({"pinVerificationToken": "pv_x"})))
        .await;
    refused_unchanged(
        &app,
        &with_pin,
        StatusCode::UNPROCESSABLE_ENTITY,
        "parameter_invalid",
        Some("pinVerificationToken"),
        &before,
    )
    .await;
    for currency in ["KRW", "XXX"] {
        let body = app.token_payment_body(&off, json!({"currency": currency}));
        let answer = app.v2_post("/api/v2/token-payments", &body).await;
        refused_unchanged(
            &app,
            &answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "currency_not_supported",
            Some("currency"),
            &before,
        )
        .await;
    }
    for amount in [0, -5] {
        let answer =
            app.v2_post("/api/v2/token-payments", &app.token_payment_body(&off, json!({"amount": amount}))).await;
        refused_unchanged(&app, &answer, StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount", Some("amount"), &before)
            .await;
    }
    let capture =
        app.v2_post("/api/v2/token-payments", &app.token_payment_body(&off, json!({"captureMethod": "later"}))).await;
    refused_unchanged(
        &app,
        &capture,
        StatusCode::UNPROCESSABLE_ENTITY,
        "parameter_invalid",
        Some("captureMethod"),
        &before,
    )
    .await;
    let unknown_field =
        app.v2_post("/api/v2/token-payments", &app.token_payment_body(&off, json!({"customerId": "c-91"}))).await;
    refused_unchanged(
        &app,
        &unknown_field,
        StatusCode::UNPROCESSABLE_ENTITY,
        "parameter_invalid",
        Some("customerId"),
        &before,
    )
    .await;

    // An orderId that has a payment already.
    let first =
        app.v2_post("/api/v2/token-payments", &app.token_payment_body(&off, json!({"orderId": "T-same"}))).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    let before = app.snapshot().await;
    let again =
        app.v2_post("/api/v2/token-payments", &app.token_payment_body(&off, json!({"orderId": "T-same"}))).await;
    refused_unchanged(&app, &again, StatusCode::CONFLICT, "order_id_in_use", None, &before).await;
}

async fn pin_verifications_missing_used_expired_or_another_customers_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let token = app.saved_card("c-92", "on_session", CARD_OK).await;
    let fresh = app.pin_verification("c-92", 300_000).await;
    let expired = app.pin_verification("c-92", -1).await;
    let someone_elses = app.pin_verification("c-93", 300_000).await;
    let customer = |pv: Option<&str>| {
        let pin = pv.map(Value::from).unwrap_or(Value::Null);
        app.token_payment_body(&token, json!({"initiator": "customer", "pinVerificationToken": pin}))
    };
    let before = app.snapshot().await;
    let used_before = app.count_where("pin_verifications", "used_at IS NOT NULL").await;
    for (what, pv) in [
        ("missing", None),
        ("expired", Some(expired.as_str())),
        ("another customer's", Some(someone_elses.as_str())),
        ("made up", Some("pv_00000000000000000000000000000000")),
    ] {
        let answer = app.v2_post("/api/v2/token-payments", &customer(pv)).await;
        assert_eq!(answer.body["error"]["type"], "pin_error", "{what}: {}", answer.body);
        refused_unchanged(
            &app,
            &answer,
            StatusCode::FORBIDDEN,
            "pin_verification_required",
            Some("pinVerificationToken"),
            &before,
        )
        .await;
    }
    assert_eq!(app.count_where("pin_verifications", "used_at IS NOT NULL").await, used_before, "none used up");

    let paid = app.v2_post("/api/v2/token-payments", &customer(Some(&fresh))).await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
    let before = app.snapshot().await;
    let used = app.v2_post("/api/v2/token-payments", &customer(Some(&fresh))).await;
    refused_unchanged(
        &app,
        &used,
        StatusCode::FORBIDDEN,
        "pin_verification_required",
        Some("pinVerificationToken"),
        &before,
    )
    .await;
    // The other customer's verification is still theirs to use.
    assert_eq!(app.count_where("pin_verifications", "customer_id = 'c-93' AND used_at IS NULL").await, 1);
}

async fn registrations_with_bad_fields_or_urls_outside_the_host_policy_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let before = app.snapshot().await;
    let registrations = app.count("sandbox_pg_registrations").await;
    let with = |extra: Value| {
        let mut body = app.registration_body("c-94", "on_session");
        for (k, v) in extra.as_object().unwrap() {
            if v.is_null() {
                body.as_object_mut().unwrap().remove(k);
            } else {
                body[k] = v.clone();
            }
        }
        body
    };
    for (param, url) in [
        ("successUrl", "https://evil.example.com/cards"),
        ("failUrl", "http://10.0.0.1/cards"),
        ("successUrl", "javascript:alert(1)"),
    ] {
        let answer = app.v2_post("/api/v2/tokens/registrations", &with(json!({ param: url }))).await;
        refused_unchanged(&app, &answer, StatusCode::UNPROCESSABLE_ENTITY, "url_not_allowed", Some(param), &before)
            .await;
    }
    let usage = app.v2_post("/api/v2/tokens/registrations", &with(json!({"usage": "always"}))).await;
    refused_unchanged(&app, &usage, StatusCode::UNPROCESSABLE_ENTITY, "parameter_invalid", Some("usage"), &before)
        .await;
    let missing = app.v2_post("/api/v2/tokens/registrations", &with(json!({"usage": null}))).await;
    refused_unchanged(&app, &missing, StatusCode::BAD_REQUEST, "parameter_missing", Some("usage"), &before).await;
    let customer = app.v2_post("/api/v2/tokens/registrations", &with(json!({"customerId": "a b"}))).await;
    refused_unchanged(
        &app,
        &customer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "parameter_invalid",
        Some("customerId"),
        &before,
    )
    .await;
    // The PG does not answer: nothing is kept here; the same request again opens it.
    app.sandbox_pg("/faults", &[("path", "/v1/registrations"), ("times", "1")]).await;
    let body = with(json!({}));
    let down = app.v2(Method::POST, "/api/v2/tokens/registrations", Some(KEY), Some("reg-1"), Some(&body)).await;
    assert_eq!(
        (down.status, down.body["error"]["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("gateway_unavailable"))
    );
    assert_eq!(app.count("payments").await, before[0]);
    assert_eq!(app.count("sandbox_pg_registrations").await, registrations);
    let opened = app.v2(Method::POST, "/api/v2/tokens/registrations", Some(KEY), Some("reg-1"), Some(&body)).await;
    assert_eq!(opened.status, StatusCode::CREATED, "{}", opened.body);
    assert_eq!(app.count("sandbox_pg_registrations").await, registrations + 1);
}

crate::on_both_databases!(
    tokens_and_customers_that_are_unknown_deleted_or_another_merchants_are_404,
    token_payments_with_bad_fields_or_the_wrong_initiator_are_refused,
    pin_verifications_missing_used_expired_or_another_customers_are_refused,
    registrations_with_bad_fields_or_urls_outside_the_host_policy_are_refused,
);
