//! The sandbox's demo store, a store on the Store API v2: its server creates the intent
//! over HTTP, the buyer pays through our hosted page, and its receiver verifies the
//! signed webhooks (Standard Webhooks) — refusing, and keeping nothing of, one it cannot.

use std::time::Duration;

use paybridge::{outbox::signature_header, store::now_ms};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::helpers::*;

const SECONDS: Duration = Duration::from_secs(10);

/// The demo store's Pay: the store's server creates the intent over HTTP; returns the
/// `paymentUrl` it sends the buyer to.
async fn demo_store_pays(app: &TestApp, amount: &str) -> url::Url {
    let response = app
        .client
        .post(app.url("/demo-mall/store/pay"))
        .form(&[("amount", amount), ("order_name", "Pandesal")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "{}", response.text().await.unwrap());
    location(&response)
}

async fn the_demo_store_pays_through_the_hosted_page_and_verifies_its_webhook(db: Db) {
    let app = spawn_app(db).await;
    assert_eq!(app.count("webhook_endpoints").await, 0, "registered on first use, not at start");
    let page = app.client.get(app.url("/demo-mall/store/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    let payment_url = demo_store_pays(&app, "150.00").await;
    let id = payment_url.path().strip_prefix("/pay/").unwrap().to_owned();
    assert!(id.starts_with("pay_"), "{payment_url}");
    let receiver = app.url("/demo-mall/store/webhooks").to_string();
    assert_eq!(app.count_where("webhook_endpoints", &format!("url = '{receiver}' AND mall_id = 'demomall'")).await, 1);
    let payment = app.v2_payment(&id).await;
    assert_eq!((payment["amount"].as_i64(), payment["currency"].as_str()), (Some(15000), Some("PHP")));
    assert_eq!(payment["successUrl"], app.url("/demo-mall/store/success").as_str());

    // The buyer: the hosted page, then the PG's.
    assert_eq!(app.pay_page(&id).await.status, StatusCode::OK);
    let checkout = app.state.payments.payment_by_reference(&id).await.unwrap().unwrap().checkout_url.unwrap();
    let back = app.buyer_presses(&checkout, "approve").await;
    assert_eq!(back.path(), "/demo-mall/store/success");

    // The store's receiver verified the signed payment.completed, and keeps it once.
    app.settled().await;
    app.wait_rows(
        "demo_store_webhooks",
        &format!("payment_id = '{id}' AND event_type = 'payment.completed'"),
        1,
        SECONDS,
    )
    .await;
    let success = app.client.get(back).send().await.unwrap();
    assert_eq!(success.status(), StatusCode::OK);
    let html = success.text().await.unwrap();
    assert!(html.contains(r#"data-testid="store-status">COMPLETE<"#), "{html}");
    assert!(html.contains(r#"data-testid="store-amount-paid">150.00 PHP<"#), "{html}");
    assert!(html.contains(r#"data-testid="store-webhook-type">payment.completed<"#), "{html}");
    assert!(!html.contains("http-equiv=\"refresh\""), "nothing left to wait for");

    // A second Pay registers no second endpoint.
    demo_store_pays(&app, "20").await;
    assert_eq!(app.count("webhook_endpoints").await, 1);
    // A bad amount is refused before anything is asked of paybridge.
    let before = app.snapshot().await;
    let response = app.client.post(app.url("/demo-mall/store/pay")).form(&[("amount", "1.005")]).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.snapshot().await, before);
}

async fn the_demo_stores_receiver_refuses_a_webhook_it_cannot_verify(db: Db) {
    let app = spawn_app(db).await;
    demo_store_pays(&app, "150.00").await;
    let (endpoint,): (String,) =
        sqlx::query_as("SELECT id FROM webhook_endpoints").fetch_one(app.state.store.pool()).await.unwrap();
    let secrets = app.state.store.webhook_secrets(&app.state.keys, &endpoint).await.unwrap().unwrap();
    let key = |secret: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.decode(secret.strip_prefix("whsec_").unwrap()).unwrap()
    };
    let body = json!({"id": "evt_test1", "type": "payment.completed", "timestamp": "2026-12-04T00:00:00Z",
                      "data": {"id": "pay_test1", "status": "COMPLETE", "version": 2}})
    .to_string();
    let now = now_ms() / 1000;
    // Signs `body` under `keys` as sent at `at`, and sends `sent` (the body, unless changed).
    let send = |keys: Vec<Vec<u8>>, id: &'static str, at: i64, body: String, sent: Option<String>| {
        let app = &app;
        async move {
            let signature = signature_header(&keys, id, at, &body);
            let body = sent.unwrap_or(body);
            let response = app
                .client
                .post(app.url("/demo-mall/store/webhooks"))
                .header("content-type", "application/json")
                .header("webhook-id", id)
                .header("webhook-timestamp", at.to_string())
                .header("webhook-signature", signature)
                .body(body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let kept = || app.count("demo_store_webhooks");

    let wrong_secret = key("whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ=");
    let (status, answer) = send(vec![wrong_secret], "evt_test1", now, body.clone(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    let tampered = Some(body.replace("COMPLETE", "CANCEL"));
    let (status, _) = send(vec![key(&secrets[0])], "evt_test1", now, body.clone(), tampered).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a body changed after signing");
    let (status, answer) = send(vec![key(&secrets[0])], "evt_test1", now - 301, body.clone(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "older than 5 minutes: {answer}");
    let unsigned = app.client.post(app.url("/demo-mall/store/webhooks")).body(body.clone()).send().await.unwrap();
    assert_eq!(unsigned.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(kept().await, 0, "a refused webhook is not kept");

    // Signed with the endpoint's secret, it is taken, and a redelivery is kept once.
    for _ in 0..2 {
        let (status, answer) = send(vec![key(&secrets[0])], "evt_test1", now, body.clone(), None).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
    }
    assert_eq!(kept().await, 1);
}

crate::on_both_databases!(
    the_demo_store_pays_through_the_hosted_page_and_verifies_its_webhook,
    the_demo_stores_receiver_refuses_a_webhook_it_cannot_verify,
);
