//! Bad input to the Store API v2 gets a clear error and changes nothing (SPEC §8.1, §8.3).

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{helpers::*, v2_helpers::*};

/// Asserts the answer is `status` with error `code` (and `param`, when given).
fn refused(answer: &V2Answer, status: StatusCode, code: &str, param: Option<&str>) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.body["error"]["code"], code, "{}", answer.body);
    assert!(answer.body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    if let Some(param) = param {
        assert_eq!(answer.body["error"]["param"], param, "{}", answer.body);
    }
}

async fn keys_that_are_missing_unknown_or_revoked_are_refused_and_others_see_nothing(db: Db) {
    let app = spawn_app(db).await;
    let before = app.snapshot().await;
    let body = app.intent_body(json!({}));
    let none = app.v2(Method::POST, "/api/v2/payment-intents", None, Some("k-1"), Some(&body)).await;
    refused(&none, StatusCode::UNAUTHORIZED, "invalid_api_key", None);
    assert_eq!(none.body["error"]["type"], "authentication_error");
    let unknown =
        app.v2(Method::POST, "/api/v2/payment-intents", Some("sk_test_nobody"), Some("k-2"), Some(&body)).await;
    refused(&unknown, StatusCode::UNAUTHORIZED, "invalid_api_key", None);
    assert_eq!(app.snapshot().await, before);

    // Another merchant, with its own key, sees none of the demo mall's payments.
    let intent = app.intent(json!({})).await;
    let id = intent["id"].as_str().unwrap();
    let other = paybridge::store_api::keys::new_api_key(paybridge::store_api::keys::KeyMode::Test);
    let mall = paybridge::domain::MallId::parse("othermall").unwrap();
    let row = app.state.store.create_api_key(&mall, "test", &other.hash, other.prefix, &other.last4).await.unwrap();
    let theirs = app.v2(Method::GET, &format!("/api/v2/payments/{id}"), Some(&other.key), None, None).await;
    refused(&theirs, StatusCode::NOT_FOUND, "resource_missing", None);
    let capture = app
        .v2(
            Method::POST,
            &format!("/api/v2/payments/{id}/cancel"),
            Some(&other.key),
            Some("k-3"),
            Some(&json!({"reason": "x"})),
        )
        .await;
    refused(&capture, StatusCode::NOT_FOUND, "resource_missing", None);
    // Nor its webhook endpoints: rotating or deleting one is 404 and changes nothing.
    let (endpoint, _) = app.webhook_endpoint("https://shop.cafe24.com/hooks").await;
    let sealed = || async {
        let (secret, previous): (String, Option<String>) =
            sqlx::query_as("SELECT secret_enc, previous_secret_enc FROM webhook_endpoints WHERE id = $1")
                .bind(&endpoint)
                .fetch_one(app.state.store.pool())
                .await
                .unwrap();
        (secret, previous)
    };
    let (before, secrets) = (app.snapshot().await, sealed().await);
    let rotate = app
        .v2(
            Method::POST,
            &format!("/api/v2/webhook-endpoints/{endpoint}/rotate-secret"),
            Some(&other.key),
            Some("k-4"),
            None,
        )
        .await;
    refused(&rotate, StatusCode::NOT_FOUND, "resource_missing", None);
    let delete =
        app.v2(Method::DELETE, &format!("/api/v2/webhook-endpoints/{endpoint}"), Some(&other.key), None, None).await;
    refused(&delete, StatusCode::NOT_FOUND, "resource_missing", None);
    assert_eq!((app.snapshot().await, sealed().await), (before, secrets), "the endpoint is as it was");
    assert_eq!(app.count_where("webhook_endpoints", "deleted_at IS NULL").await, 1);
    let list = app.v2(Method::GET, "/api/v2/payments", Some(&other.key), None, None).await;
    assert_eq!(list.body["data"], json!([]));

    // Revoked: refused from then on.
    assert!(app.state.store.revoke_api_key(&mall, &row.id).await.unwrap());
    let revoked = app.v2(Method::GET, "/api/v2/payments", Some(&other.key), None, None).await;
    refused(&revoked, StatusCode::UNAUTHORIZED, "invalid_api_key", None);
}

async fn idempotency_keys_replay_refuse_reuse_and_forget_refusals(db: Db) {
    let app = spawn_app(db).await;
    let body = app.intent_body(json!({}));
    let missing = app.v2(Method::POST, "/api/v2/payment-intents", Some(KEY), None, Some(&body)).await;
    refused(&missing, StatusCode::BAD_REQUEST, "idempotency_key_required", None);
    let too_long = "k".repeat(256);
    let invalid = app.v2(Method::POST, "/api/v2/payment-intents", Some(KEY), Some(&too_long), Some(&body)).await;
    refused(&invalid, StatusCode::BAD_REQUEST, "idempotency_key_invalid", None);

    let first = app.v2(Method::POST, "/api/v2/payment-intents", Some(KEY), Some("order-1"), Some(&body)).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let snapshot = app.snapshot().await;
    // The same body as other bytes — its keys in reverse order, spaced and indented, a
    // character escaped: the saved answer.
    let object = body.as_object().unwrap();
    let mut keys: Vec<&String> = object.keys().collect();
    keys.sort();
    keys.reverse();
    let members: Vec<String> = keys.iter().map(|k| format!("\n   {} :  {}", json!(k), object[*k])).collect();
    let written = format!("{{ {} \n}}\n", members.join(" ,")).replace("\"2 items\"", "\"2 \\u0069tems\"");
    assert!(written.starts_with("{ \n   \"successUrl\""), "{written}");
    assert!(written.contains("\\u0069") && serde_json::from_str::<Value>(&written).unwrap() == body, "{written}");
    let raw = app
        .client
        .post(app.url("/api/v2/payment-intents"))
        .bearer_auth(KEY)
        .header("Idempotency-Key", "order-1")
        .header("content-type", "application/json")
        .body(written)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.headers()["idempotent-replayed"], "true");
    assert_eq!((raw.status(), raw.json::<Value>().await.unwrap()), (StatusCode::CREATED, first.body.clone()));
    assert_eq!(app.snapshot().await, snapshot, "a replay does nothing");
    let mut other = body.clone();
    other["amount"] = json!(15001);
    let reused = app.v2(Method::POST, "/api/v2/payment-intents", Some(KEY), Some("order-1"), Some(&other)).await;
    refused(&reused, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", None);
    assert_eq!(reused.body["error"]["type"], "idempotency_error");
    let elsewhere = app
        .v2(
            Method::POST,
            "/api/v2/webhook-endpoints",
            Some(KEY),
            Some("order-1"),
            Some(&json!({"url": "https://shop.cafe24.com/x"})),
        )
        .await;
    refused(&elsewhere, StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", None);

    // A refusal is not kept: the key works for the corrected request.
    let mut bad = app.intent_body(json!({}));
    bad["amount"] = json!(0);
    let refusal = app.v2(Method::POST, "/api/v2/payment-intents", Some(KEY), Some("order-2"), Some(&bad)).await;
    refused(&refusal, StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount", Some("amount"));
    bad["amount"] = json!(100);
    let fixed = app.v2(Method::POST, "/api/v2/payment-intents", Some(KEY), Some("order-2"), Some(&bad)).await;
    assert_eq!(fixed.status, StatusCode::CREATED, "{}", fixed.body);

    // Another key's order id: one payment per order, whatever the key.
    let same_order = app.v2(Method::POST, "/api/v2/payment-intents", Some(KEY), Some("order-3"), Some(&body)).await;
    refused(&same_order, StatusCode::CONFLICT, "order_id_in_use", None);
}

async fn bad_intents_are_refused_with_the_field_named_and_change_nothing(db: Db) {
    let app = spawn_app(db).await;
    let before = app.snapshot().await;
    let cases: Vec<(Value, StatusCode, &str, &str)> = vec![
        (json!({"amount": 0}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount", "amount"),
        (json!({"amount": -5}), StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount", "amount"),
        (json!({"amount": 10.5}), StatusCode::UNPROCESSABLE_ENTITY, "parameter_invalid", "amount"),
        (json!({"amount": "100"}), StatusCode::UNPROCESSABLE_ENTITY, "parameter_invalid", "amount"),
        (json!({"currency": "KRW"}), StatusCode::UNPROCESSABLE_ENTITY, "currency_not_supported", "currency"),
        (json!({"currency": "XYZ"}), StatusCode::UNPROCESSABLE_ENTITY, "currency_not_supported", "currency"),
        (json!({"orderId": "has space"}), StatusCode::UNPROCESSABLE_ENTITY, "parameter_invalid", "orderId"),
        (
            json!({"successUrl": "https://evil.example.net/steal"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "url_not_allowed",
            "successUrl",
        ),
        (json!({"failUrl": "http://10.0.0.1/x"}), StatusCode::UNPROCESSABLE_ENTITY, "url_not_allowed", "failUrl"),
        (json!({"captureMethod": "later"}), StatusCode::UNPROCESSABLE_ENTITY, "parameter_invalid", "captureMethod"),
        (json!({"finalization": "email"}), StatusCode::UNPROCESSABLE_ENTITY, "parameter_invalid", "finalization"),
        (json!({"surprise": 1}), StatusCode::UNPROCESSABLE_ENTITY, "parameter_invalid", "surprise"),
    ];
    for (extra, status, code, param) in cases {
        let body = app.intent_body(extra.clone());
        let answer = app.v2_post("/api/v2/payment-intents", &body).await;
        assert_eq!(answer.status, status, "{extra}: {}", answer.body);
        assert_eq!(answer.body["error"]["code"], code, "{extra}: {}", answer.body);
        if code != "parameter_invalid" || param != "surprise" {
            assert_eq!(answer.body["error"]["param"], param, "{extra}: {}", answer.body);
        }
    }
    let mut missing = app.intent_body(json!({}));
    missing.as_object_mut().unwrap().remove("orderName");
    refused(
        &app.v2_post("/api/v2/payment-intents", &missing).await,
        StatusCode::BAD_REQUEST,
        "parameter_missing",
        Some("orderName"),
    );
    let mut metadata = serde_json::Map::new();
    for i in 0..21 {
        metadata.insert(format!("k{i}"), json!("v"));
    }
    let crowded = app.intent_body(json!({ "metadata": metadata }));
    refused(
        &app.v2_post("/api/v2/payment-intents", &crowded).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "parameter_invalid",
        Some("metadata"),
    );
    assert_eq!(app.snapshot().await, before, "nothing was created or asked of the PG");
}

async fn bodies_that_are_too_large_or_not_json_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let before = app.snapshot().await;
    let send = |content_type: &'static str, body: Vec<u8>| {
        app.client
            .post(app.url("/api/v2/payment-intents"))
            .bearer_auth(KEY)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let huge = send("application/json", format!("{{\"orderName\":\"{}\"}}", "x".repeat(70 * 1024)).into_bytes())
        .await
        .unwrap();
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body: Value = huge.json().await.unwrap();
    assert_eq!(body["error"]["code"], "body_too_large");
    let form = send("application/x-www-form-urlencoded", b"amount=1".to_vec()).await.unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let broken = send("application/json", b"{\"amount\":".to_vec()).await.unwrap();
    assert_eq!(broken.status(), StatusCode::BAD_REQUEST);
    let body: Value = broken.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_json");
    assert_eq!(app.snapshot().await, before);

    // An empty body is `{}` — unless it says it is something else than JSON.
    let (endpoint, _) = app.webhook_endpoint("https://shop.cafe24.com/hooks").await;
    let rotate = |content_type: Option<&'static str>| {
        let mut request = app
            .client
            .post(app.url(&format!("/api/v2/webhook-endpoints/{endpoint}/rotate-secret")))
            .bearer_auth(KEY)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    let before = app.snapshot().await;
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"] {
        let empty = rotate(Some(content_type)).await.unwrap();
        assert_eq!(empty.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}, empty");
        let body: Value = empty.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unsupported_media_type");
    }
    assert_eq!(app.snapshot().await, before, "nothing rotated");
    assert_eq!(rotate(None).await.unwrap().status(), StatusCode::OK, "no content type, no body: {{}}");
    assert_eq!(rotate(Some("application/json")).await.unwrap().status(), StatusCode::OK);
}

async fn what_a_payments_state_does_not_allow_is_refused_and_changes_nothing(db: Db) {
    let app = spawn_app(db).await;
    // Capture of a payment that is not a manual authorization.
    let automatic = app.intent(json!({})).await;
    let id = automatic["id"].as_str().unwrap().to_owned();
    app.buyer_pays(&automatic, "approve").await;
    let before = app.snapshot().await;
    refused(
        &app.v2_post(&format!("/api/v2/payments/{id}/capture"), &json!({})).await,
        StatusCode::CONFLICT,
        "not_capturable",
        None,
    );
    // Refunds beyond the balance, and non-positive ones.
    refused(
        &app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"amount": 15001, "reason": "r"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "amount_too_large",
        Some("amount"),
    );
    refused(
        &app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"amount": 0, "reason": "r"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_amount",
        Some("amount"),
    );
    refused(
        &app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"amount": -100, "reason": "r"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_amount",
        Some("amount"),
    );
    refused(
        &app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"amount": 100.5, "reason": "r"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "parameter_invalid",
        Some("amount"),
    );
    refused(
        &app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"amount": 100})).await,
        StatusCode::BAD_REQUEST,
        "parameter_missing",
        Some("reason"),
    );
    assert_eq!(app.snapshot().await, before);

    // Capture above the authorization, and of zero.
    let manual = app.intent(json!({"captureMethod": "manual"})).await;
    let id = manual["id"].as_str().unwrap().to_owned();
    app.buyer_pays(&manual, "approve").await;
    let before = app.snapshot().await;
    refused(
        &app.v2_post(&format!("/api/v2/payments/{id}/capture"), &json!({"amount": 15001})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "amount_too_large",
        Some("amount"),
    );
    refused(
        &app.v2_post(&format!("/api/v2/payments/{id}/capture"), &json!({"amount": 0})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_amount",
        Some("amount"),
    );
    refused(
        &app.v2_post(&format!("/api/v2/payments/{id}/capture"), &json!({"amount": -1})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_amount",
        Some("amount"),
    );
    refused(
        &app.v2_post(&format!("/api/v2/payments/{id}/capture"), &json!({"amount": 1200.5})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "parameter_invalid",
        Some("amount"),
    );
    // An authorization is voided whole: a partial void is refused, and changes nothing.
    refused(
        &app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"amount": 100, "reason": "r"})).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "partial_void_not_allowed",
        Some("amount"),
    );
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.v2_payment(&id).await["status"], "PENDING");
    let tid = manual["pgResponse"]["checkoutCode"].as_str().unwrap();
    let (at_pg,): (String,) = sqlx::query_as("SELECT status FROM sandbox_pg_orders WHERE code = $1")
        .bind(tid)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(at_pg, "authorized", "nothing asked of the PG");

    // A confirmed payment is not canceled, and the refusal changes nothing.
    let confirmed = app.intent(json!({})).await;
    let id = confirmed["id"].as_str().unwrap().to_owned();
    app.buyer_pays(&confirmed, "approve").await;
    assert_eq!(app.v2_post(&format!("/api/v2/payments/{id}/confirm"), &json!({})).await.status, StatusCode::OK);
    app.settled().await;
    let before = app.snapshot().await;
    refused(
        &app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"reason": "too late"})).await,
        StatusCode::CONFLICT,
        "payment_confirmed",
        None,
    );
    assert_eq!(app.snapshot().await, before);

    // A webhook-method payment is not finalized by API: refused, nothing changed.
    let webhook_method = app.intent(json!({})).await;
    let before = app.snapshot().await;
    refused(
        &app.v2_post("/api/v2/payments", &json!({"paymentId": webhook_method["id"], "authData": "sbx_auth_x"})).await,
        StatusCode::CONFLICT,
        "finalization_mismatch",
        None,
    );
    assert_eq!(app.snapshot().await, before);

    // Unknown payments, in the merchant's own space too.
    let unknown = app.v2_post("/api/v2/payments/pay_00000000000000000000000000000000/confirm", &json!({})).await;
    refused(&unknown, StatusCode::NOT_FOUND, "resource_missing", None);
    let nonsense = app.v2_get("/api/v2/payments/not-an-id").await;
    refused(&nonsense, StatusCode::NOT_FOUND, "resource_missing", None);
}

/// A key of the merchant `mall`, made as the admin makes them, in `mode`.
async fn key_of(app: &TestApp, mall: &str, mode: paybridge::store_api::keys::KeyMode) -> String {
    let key = paybridge::store_api::keys::new_api_key(mode);
    let mall = paybridge::domain::MallId::parse(mall).unwrap();
    app.state.store.create_api_key(&mall, mode.as_str(), &key.hash, key.prefix, &key.last4).await.unwrap();
    key.key
}

async fn test_keys_work_only_with_the_sandbox_on_and_live_keys_only_with_it_off(db: Db) {
    use paybridge::store_api::keys::KeyMode;
    let list = |app: &TestApp, key: String| {
        let app_url = app.url("/api/v2/payments");
        let client = app.client.clone();
        async move {
            let response = client.get(app_url).bearer_auth(key).send().await.unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let sandbox = spawn_app(db).await;
    let live = key_of(&sandbox, "othermall", KeyMode::Live).await;
    let test = key_of(&sandbox, "othermall", KeyMode::Test).await;
    assert_eq!(list(&sandbox, test).await.0, StatusCode::OK);
    let (status, body) = list(&sandbox, live).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_api_key")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("sandbox"), "{body}");

    let production = spawn_app_with(db, &[("SANDBOX", "false")]).await;
    let live = key_of(&production, "othermall", KeyMode::Live).await;
    let test = key_of(&production, "othermall", KeyMode::Test).await;
    assert_eq!(list(&production, live).await.0, StatusCode::OK);
    let (status, body) = list(&production, test).await;
    assert_eq!((status, body["error"]["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_api_key")), "{body}");
}

async fn a_new_sandbox_api_key_replaces_the_one_provisioned_before(db: Db) {
    let mut app = spawn_app(db).await;
    let status = |app: &TestApp, key: &'static str| {
        let (url, client) = (app.url("/api/v2/payments"), app.client.clone());
        async move { client.get(url).bearer_auth(key).send().await.unwrap().status() }
    };
    const NEW: &str = "sk_test_another_demo_key_0001";
    assert_eq!(status(&app, KEY).await, StatusCode::OK);
    app.stop().await;
    let mut restarted = app.sibling(&[("SANDBOX_API_KEY", NEW)]).await;
    assert_eq!(status(&restarted, NEW).await, StatusCode::OK, "the new key works");
    assert_eq!(status(&restarted, KEY).await, StatusCode::UNAUTHORIZED, "the previous one no longer does");
    // A key the merchant made in the admin is not the sandbox's to take away.
    let own = key_of(&restarted, "demomall", paybridge::store_api::keys::KeyMode::Test).await;
    restarted.stop().await;
    let back = app.sibling(&[]).await;
    assert_eq!(status(&back, KEY).await, StatusCode::OK, "configured again: it works again");
    assert_eq!(status(&back, NEW).await, StatusCode::UNAUTHORIZED);
    let response = back.client.get(back.url("/api/v2/payments")).bearer_auth(own).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

async fn unknown_paths_and_wrong_methods_under_api_v2_answer_in_the_error_shape(db: Db) {
    let app = spawn_app(db).await;
    let id = "pay_00000000000000000000000000000000";
    let cases: Vec<(Method, String, StatusCode, &str)> = vec![
        (Method::GET, "/api/v2/no-such-call".into(), StatusCode::NOT_FOUND, "route_not_found"),
        (Method::POST, format!("/api/v2/payments/{id}/refund"), StatusCode::NOT_FOUND, "route_not_found"),
        (Method::GET, format!("/api/v2/payments/{id}/webhooks/resend/again"), StatusCode::NOT_FOUND, "route_not_found"),
        (Method::GET, "/api/v2".into(), StatusCode::NOT_FOUND, "route_not_found"),
        (Method::GET, "/api/v2/".into(), StatusCode::NOT_FOUND, "route_not_found"),
        (Method::PUT, "/api/v2/payments".into(), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (Method::GET, format!("/api/v2/payments/{id}/capture"), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (Method::DELETE, format!("/api/v2/payments/{id}"), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (Method::GET, "/api/v2/webhook-endpoints".into(), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        (Method::POST, "/api/v2/openapi.json".into(), StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
    ];
    for (method, path, status, code) in cases {
        for key in [Some(KEY), None] {
            let answer = app.v2(method.clone(), &path, key, Some("k"), None).await;
            assert_eq!(answer.status, status, "{method} {path}: {}", answer.body);
            assert_eq!(answer.body["error"]["type"], "invalid_request_error", "{method} {path}: {}", answer.body);
            assert_eq!(answer.body["error"]["code"], code, "{method} {path}: {}", answer.body);
            assert!(answer.body["error"]["message"].as_str().is_some_and(|m| m.contains(&path)), "{}", answer.body);
            if status == StatusCode::METHOD_NOT_ALLOWED {
                assert!(answer.headers.contains_key("allow"), "{method} {path} says what is allowed");
            }
        }
    }
}

crate::on_both_databases!(
    unknown_paths_and_wrong_methods_under_api_v2_answer_in_the_error_shape,
    test_keys_work_only_with_the_sandbox_on_and_live_keys_only_with_it_off,
    a_new_sandbox_api_key_replaces_the_one_provisioned_before,
    keys_that_are_missing_unknown_or_revoked_are_refused_and_others_see_nothing,
    idempotency_keys_replay_refuse_reuse_and_forget_refusals,
    bad_intents_are_refused_with_the_field_named_and_change_nothing,
    bodies_that_are_too_large_or_not_json_are_refused,
    what_a_payments_state_does_not_allow_is_refused_and_changes_nothing,
);
