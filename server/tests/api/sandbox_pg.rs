//! The sandbox PG's authorizations (SPEC §8.5), spoken to through its connector as the
//! core does: manual capture and void, a lapsed authorization, and checkouts the merchant
//! finalizes with the one-time `authData` the buyer comes back with.

use paybridge::{
    domain::{CaptureMethod, Currency, MerchantCredentials, Money},
    gateway::{
        sandbox::{SandboxGateway, GATEWAY_ID},
        CheckoutMode, CheckoutRequest, Finalization, GatewayError, OrderStatus, PaymentGateway,
    },
};
use reqwest::StatusCode;
use url::Url;

use crate::helpers::*;

fn php(minor: i64) -> Money {
    Money::new(minor, Currency::Php)
}

fn credentials() -> MerchantCredentials {
    MerchantCredentials {
        gateway: GATEWAY_ID.into(),
        public_key: "demo-app-public-key".into(),
        secret_key: PG_SECRET.into(),
        webhook_secret: None,
    }
}

fn gateway(app: &TestApp) -> SandboxGateway {
    SandboxGateway::new(app.url("/sandbox-pg"), reqwest::Client::new())
}

/// A checkout at the sandbox PG for a fresh reference; returns its code (tid) and page.
async fn checkout(app: &TestApp, capture: CaptureMethod, finalization: Finalization) -> (String, String) {
    let request = CheckoutRequest {
        reference: format!("ref-{}", unique_order_id()),
        amount: php(10_000),
        description: Some("Sandbox test".into()),
        merchant_name: None,
        callback_url: Url::parse("https://shop.example/back").unwrap(),
        webhook_url: None,
        mode: CheckoutMode::Redirect,
        allow_deposit: false,
        capture,
        finalization,
    };
    let opened = gateway(app).create_checkout(&credentials(), &request).await.unwrap();
    (opened.tid, opened.payment_url)
}

/// The buyer approves on the hosted page; returns where the PG sends them.
async fn approve(app: &TestApp, page: &str) -> Url {
    let response = app.client.post(format!("{page}/approve")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    location(&response)
}

async fn a_manual_capture_takes_part_of_the_authorization_once(db: Db) {
    let app = spawn_app(db).await;
    let pg = gateway(&app);
    let (tid, page) = checkout(&app, CaptureMethod::Manual, Finalization::Webhook).await;
    approve(&app, &page).await;
    let order = pg.get_order(&credentials(), &tid).await.unwrap();
    assert_eq!((order.status, order.captured), (OrderStatus::Authorized, None));

    let too_much = pg.capture(&credentials(), &tid, php(10_001)).await;
    assert!(matches!(too_much, Err(GatewayError::Rejected(_))), "{too_much:?}");
    let captured = pg.capture(&credentials(), &tid, php(6_000)).await.unwrap();
    assert_eq!((captured.status, captured.captured), (OrderStatus::Paid, Some(php(6_000))));
    let again = pg.capture(&credentials(), &tid, php(6_000)).await.unwrap();
    assert_eq!(again.captured, Some(php(6_000)), "the same capture again answers the captured order");
    assert!(matches!(pg.capture(&credentials(), &tid, php(1_000)).await, Err(GatewayError::Rejected(_))));
    assert!(matches!(pg.void(&credentials(), &tid).await, Err(GatewayError::Rejected(_))), "paid: refund instead");
}

async fn a_void_releases_an_authorization_and_a_lapsed_one_cannot_be_captured(db: Db) {
    let app = spawn_app(db).await;
    let pg = gateway(&app);
    let (tid, page) = checkout(&app, CaptureMethod::Manual, Finalization::Webhook).await;
    approve(&app, &page).await;
    let voided = pg.void(&credentials(), &tid).await.unwrap();
    assert_eq!(voided.status, OrderStatus::Voided);
    assert_eq!(pg.void(&credentials(), &tid).await.unwrap().status, OrderStatus::Voided, "again: the same");

    let (tid, page) = checkout(&app, CaptureMethod::Manual, Finalization::Webhook).await;
    approve(&app, &page).await;
    app.sandbox_pg(&format!("/orders/{tid}/expire-authorization"), &[]).await;
    let order = pg.get_order(&credentials(), &tid).await.unwrap();
    assert_eq!(order.status, OrderStatus::AuthorizationExpired);
    let late = pg.capture(&credentials(), &tid, php(10_000)).await;
    assert!(matches!(late, Err(GatewayError::Rejected(ref m)) if m.contains("expired")), "{late:?}");
    assert_eq!(pg.void(&credentials(), &tid).await.unwrap().status, OrderStatus::Voided, "a lapsed one is voided");
}

async fn api_finalization_redeems_the_buyers_auth_data_once(db: Db) {
    let app = spawn_app(db).await;
    let pg = gateway(&app);
    let (tid, page) = checkout(&app, CaptureMethod::Automatic, Finalization::Api).await;
    let back = approve(&app, &page).await;
    let auth_data = query_map(&back).get("authData").cloned().expect("the buyer comes back with authData");
    let order = pg.get_order(&credentials(), &tid).await.unwrap();
    assert_eq!(order.status, OrderStatus::Authenticated, "the PG only authenticated the buyer");

    let wrong = pg.approve(&credentials(), &tid, "sbx_auth_not-this-one").await;
    assert!(matches!(wrong, Err(GatewayError::Rejected(_))), "{wrong:?}");
    let paid = pg.approve(&credentials(), &tid, &auth_data).await.unwrap();
    assert_eq!((paid.status, paid.captured), (OrderStatus::Paid, Some(php(10_000))));
    let reused = pg.approve(&credentials(), &tid, &auth_data).await;
    assert!(matches!(reused, Err(GatewayError::Rejected(ref m)) if m.contains("already used")), "{reused:?}");

    // With manual capture the approval authorizes; the decline switch declines it instead.
    let (tid, page) = checkout(&app, CaptureMethod::Manual, Finalization::Api).await;
    let auth_data = query_map(&approve(&app, &page).await)["authData"].clone();
    assert_eq!(pg.approve(&credentials(), &tid, &auth_data).await.unwrap().status, OrderStatus::Authorized);
    let (tid, page) = checkout(&app, CaptureMethod::Automatic, Finalization::Api).await;
    let auth_data = query_map(&approve(&app, &page).await)["authData"].clone();
    app.sandbox_pg(&format!("/orders/{tid}/approve-outcome"), &[("outcome", "decline")]).await;
    assert_eq!(pg.approve(&credentials(), &tid, &auth_data).await.unwrap().status, OrderStatus::Declined);
}

/// The payment page names the shop the checkout names, or else "the sandbox merchant",
/// never the public key; a name that is empty, too long or holds a control character is
/// refused with the field named, and no checkout is opened.
async fn the_payment_page_names_the_merchant_and_bad_names_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let open = |merchant_name: Option<&str>| {
        let body = serde_json::json!({
            "reference": format!("ref-{}", unique_order_id()),
            "amount": 10_000,
            "currency": "PHP",
            "merchant_name": merchant_name,
            "callback_url": "https://shop.example/back",
        });
        app.client
            .post(app.url("/sandbox-pg/v1/checkouts"))
            .basic_auth(&credentials().public_key, Some(PG_SECRET))
            .json(&body)
            .send()
    };
    for (given, shown) in [(Some("  Sari-sari Store "), "Sari-sari Store"), (None, "the sandbox merchant")] {
        let opened: serde_json::Value = open(given).await.unwrap().json().await.unwrap();
        let page = opened["checkout_url"].as_str().unwrap();
        let html = app.client.get(page).send().await.unwrap().text().await.unwrap();
        assert!(html.contains(&format!("<h1>Pay {shown}</h1>")), "{html}");
        assert!(!html.contains(&credentials().public_key), "{html}");
    }
    let before = app.count_where("sandbox_pg_orders", "1 = 1").await;
    for bad in ["", "   ", "Tab\there", &"x".repeat(101)] {
        let refused = open(Some(bad)).await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}");
        let text = refused.text().await.unwrap();
        assert!(text.contains("merchant_name"), "{bad:?}: {text}");
    }
    assert_eq!(app.count_where("sandbox_pg_orders", "1 = 1").await, before, "nothing was opened");
}

crate::on_both_databases!(
    the_payment_page_names_the_merchant_and_bad_names_are_refused,
    a_manual_capture_takes_part_of_the_authorization_once,
    a_void_releases_an_authorization_and_a_lapsed_one_cannot_be_captured,
    api_finalization_redeems_the_buyers_auth_data_once,
);
