//! Abuse limits (`RATE_LIMITS`): a burst past a limit is answered 429 with
//! `Retry-After`, in the channel's shape, and a request sent after that wait passes;
//! another client (or another API key) is not held up. Loopback, where every test
//! client is, is exempt unless `RATE_LIMIT_EXEMPT` says otherwise.

use std::time::Duration;

use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::{helpers::*, v2_helpers::KEY};

/// Sends `send` until it is answered 429 (at most `burst + 1` times): every answer before
/// is not 429, the 429 comes right after the burst. Returns the 429 and its wait.
async fn burst_until_refused<F, Fut>(burst: usize, mut send: F) -> (Value, u64)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    for i in 0..=burst {
        let response = send().await.expect("an answer");
        if i < burst {
            assert_ne!(response.status(), StatusCode::TOO_MANY_REQUESTS, "request {i} is within the burst");
            continue;
        }
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS, "request {i} is past the burst");
        let wait: u64 = response
            .headers()
            .get(header::RETRY_AFTER)
            .expect("Retry-After")
            .to_str()
            .unwrap()
            .parse()
            .expect("Retry-After in seconds");
        assert!((1..=5).contains(&wait), "Retry-After {wait}");
        let body = response.json().await.expect("a JSON answer");
        return (body, wait);
    }
    unreachable!()
}

/// Waits the announced `Retry-After`, as a client is told to.
async fn wait_as_told(seconds: u64) {
    tokio::time::sleep(Duration::from_secs(seconds)).await;
}

async fn unsigned_webhooks_past_the_limit_wait_as_told(db: Db) {
    let app = spawn_app_with(
        db,
        &[("RATE_LIMITS", "webhooks=1/s:burst3,storefront=1/s:burst2"), ("RATE_LIMIT_EXEMPT", "none")],
    )
    .await;
    let notice = json!({"order_id": "no-such-order", "status": "paid"});
    let send = || app.client.post(app.url("/pg/sandbox/webhook")).json(&notice).send();
    let (body, wait) = burst_until_refused(3, send).await;
    assert_eq!(body["result"], "error", "the webhook answers' shape: {body}");
    assert!(body["message"].as_str().unwrap().contains("too many requests"), "{body}");
    // The aliases share the limit: it is the address that is counted.
    let alias = app.client.post(app.url("/api/asynchronous-checkout/checkout/webhook")).json(&notice).send().await;
    assert_eq!(alias.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    // Other routes are not held up.
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);

    wait_as_told(wait).await;
    let again = app.client.post(app.url("/pg/sandbox/webhook")).json(&notice).send().await.unwrap();
    assert_ne!(again.status(), StatusCode::TOO_MANY_REQUESTS, "after Retry-After it is taken again");

    // The storefront's calls answer in the storefront's shape.
    let hmac = || {
        app.client
            .get(app.url("/api/external-checkout/script/hmac"))
            .query(&[("mall_id", "demomall"), ("request_time", "1"), ("client_key", "wrong")])
            .send()
    };
    let (body, wait) = burst_until_refused(2, hmac).await;
    assert_eq!(body["bResult"], false, "{body}");
    assert!(body["mData"]["message"].as_str().unwrap().contains("too many requests"), "{body}");
    wait_as_told(wait).await;
    assert_ne!(hmac().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn buyer_pages_and_the_launch_past_the_limit_are_told_to_wait(db: Db) {
    let app =
        spawn_app_with(db, &[("RATE_LIMITS", "pages=1/s:burst2,launch=1/s:burst1"), ("RATE_LIMIT_EXEMPT", "none")])
            .await;
    for _ in 0..2 {
        let page = app.client.get(app.url("/pay/pay_nonexistent")).send().await.unwrap();
        assert_ne!(page.status(), StatusCode::TOO_MANY_REQUESTS);
    }
    let refused = app.client.get(app.url("/pay/pay_nonexistent/status")).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key(header::RETRY_AFTER));
    let body: Value = refused.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("too many requests"), "the status's JSON shape: {body}");

    let launch = || app.client.get(app.url("/?mall_id=demomall&timestamp=1&hmac=x")).send();
    assert_ne!(launch().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    let refused = launch().await.unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = refused.headers()[header::RETRY_AFTER].to_str().unwrap().parse().unwrap();
    assert!(refused.text().await.unwrap().contains("Too many requests"), "a page");
    // The home page (`/` without launch parameters) is not the launch.
    assert_eq!(app.client.get(app.url("/")).send().await.unwrap().status(), StatusCode::OK);
    wait_as_told(wait).await;
    assert_ne!(launch().await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn a_store_api_key_past_its_limit_waits_and_another_key_does_not(db: Db) {
    let app = spawn_app_with(db, &[("RATE_LIMITS", "store_api=1/s:burst3"), ("RATE_LIMIT_EXEMPT", "none")]).await;
    let other = paybridge::store_api::keys::describe(
        "sk_test_another_key_of_the_demo_mall".to_owned(),
        paybridge::store_api::keys::KeyMode::Test,
    );
    let mall = paybridge::domain::MallId::parse("demomall").unwrap();
    app.state.store.create_api_key(&mall, "test", &other.hash, other.prefix, &other.last4).await.unwrap();

    let list = |key: &'static str| app.client.get(app.url("/api/v2/payments")).bearer_auth(key).send();
    let (body, wait) = burst_until_refused(3, || list(KEY)).await;
    assert_eq!(body["error"]["type"], "rate_limit_error", "{body}");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    // A POST is counted before its body is read or its Idempotency-Key taken.
    let before = app.snapshot().await;
    let refused = app
        .client
        .post(app.url("/api/v2/payment-intents"))
        .bearer_auth(KEY)
        .header("Idempotency-Key", "limited-1")
        .json(&app.intent_body(json!({})))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(app.snapshot().await, before, "nothing done");

    // Another key of the same merchant, from the same address, is not held up.
    let answer = list("sk_test_another_key_of_the_demo_mall").await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    // Nor a call without a key (refused 401 without any work).
    let anonymous = app.client.get(app.url("/api/v2/payments")).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    wait_as_told(wait).await;
    assert_eq!(list(KEY).await.unwrap().status(), StatusCode::OK, "after Retry-After the key works again");
}

/// Behind a trusted proxy the client is the address it forwards; from anyone else
/// `X-Forwarded-For` is not believed.
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit(db: Db) {
    let trusted = spawn_app_with(
        db,
        &[("RATE_LIMITS", "webhooks=1/m:burst1"), ("RATE_LIMIT_EXEMPT", "none"), ("TRUSTED_PROXIES", "loopback")],
    )
    .await;
    let hook = |app: &TestApp, client: &'static str| {
        app.client.post(app.url("/pg/sandbox/webhook")).header("x-forwarded-for", client).json(&json!({})).send()
    };
    assert_ne!(hook(&trusted, "198.51.100.1").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(hook(&trusted, "198.51.100.1").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    // Another client behind the same proxy; a spoofed hop in front of it changes nothing.
    assert_ne!(hook(&trusted, "203.0.113.5").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(hook(&trusted, "198.51.100.1, 203.0.113.5").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);

    // Not trusted: every request is the peer's, whatever it claims.
    let (vars, guard) = environment(db, &[("RATE_LIMITS", "webhooks=1/m:burst1"), ("RATE_LIMIT_EXEMPT", "none")]).await;
    let untrusted = start(vars, guard).await;
    assert_ne!(hook(&untrusted, "198.51.100.1").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(hook(&untrusted, "198.51.100.2").await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
}

/// Development defaults: loopback is exempt, so the tests' and the sandbox's own bursts
/// are never limited, however low a limit is set.
async fn loopback_is_exempt_by_default_in_development(db: Db) {
    let app = spawn_app_with(db, &[("RATE_LIMITS", "webhooks=1/h:burst1,store_api=1/h:burst1")]).await;
    for _ in 0..5 {
        let hook = app.client.post(app.url("/pg/sandbox/webhook")).json(&json!({})).send().await.unwrap();
        assert_ne!(hook.status(), StatusCode::TOO_MANY_REQUESTS);
        let list = app.client.get(app.url("/api/v2/payments")).bearer_auth(KEY).send().await.unwrap();
        assert_eq!(list.status(), StatusCode::OK);
    }
}

crate::on_both_databases!(
    unsigned_webhooks_past_the_limit_wait_as_told,
    buyer_pages_and_the_launch_past_the_limit_are_told_to_wait,
    a_store_api_key_past_its_limit_waits_and_another_key_does_not,
    behind_a_trusted_proxy_each_forwarded_client_has_its_own_limit,
    loopback_is_exempt_by_default_in_development,
);
