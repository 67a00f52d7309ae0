//! The Stripe connector on its own, against localstripe behind the recording stand-in:
//! PaymentIntents with automatic and manual capture, partial capture, cancel, refunds,
//! Customers, SetupIntents, off-session payments; Checkout Sessions from the stand-in;
//! Stripe's faults. Every request it sent is then checked against Stripe's SDK.

use std::time::Duration;

use paybridge::{
    domain::{CaptureMethod, Currency, MerchantCredentials, Money},
    gateway::{
        stripe::{StripeGateway, STRIPE_VERSION},
        CheckoutMode, CheckoutRequest, Finalization, GatewayError, OrderStatus, PaymentGateway, RefundRequest,
        RefundStatus, RegistrationRequest, RegistrationStatus, TokenCharge, TokenUsage,
    },
};
use reqwest::Method;

use super::{
    stand_in::{Fault, StandIn, KEY, REVOKED_KEY},
    tools::sdk,
    WEBHOOK_SECRET,
};

pub fn credentials(key: &str) -> MerchantCredentials {
    MerchantCredentials {
        gateway: "stripe".into(),
        public_key: "pk_test_contract".into(),
        secret_key: key.into(),
        webhook_secret: Some(WEBHOOK_SECRET.into()),
    }
}

pub fn connector(stand_in: &StandIn) -> StripeGateway {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    StripeGateway::new(stand_in.base.clone(), http)
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::Usd)
}

fn id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

fn charge(reference: &str, minor: i64, capture: CaptureMethod, merchant_initiated: bool) -> TokenCharge {
    TokenCharge {
        reference: reference.into(),
        amount: usd(minor),
        capture,
        merchant_initiated,
        description: Some("2 items".into()),
    }
}

/// Every request the connector sent: the pinned version, the key, an Idempotency-Key on
/// each POST (each key used for one request only, unless it is the same request again),
/// and parameters Stripe's SDK accepts for the endpoint.
pub fn assert_stripe_would_accept(stand_in: &StandIn) {
    let recorded = stand_in.recorded();
    assert!(!recorded.is_empty());
    let mut keys = std::collections::HashMap::new();
    for r in &recorded {
        assert_eq!(r.stripe_version.as_deref(), Some(STRIPE_VERSION), "{} {}", r.method, r.path);
        assert!(r.authorization.as_deref().is_some_and(|a| a.starts_with("Bearer sk_")), "{} {}", r.method, r.path);
        if r.method == "POST" {
            let key = r.idempotency_key.clone().unwrap_or_else(|| panic!("POST {} without an Idempotency-Key", r.path));
            let request = (r.path.clone(), r.body.clone());
            assert_eq!(keys.entry(key.clone()).or_insert_with(|| request.clone()), &request, "key {key} reused");
        }
    }
    let requests: Vec<_> = recorded
        .iter()
        .map(|r| serde_json::json!({"method": r.method, "path": r.path, "query": r.query, "body": r.body}))
        .collect();
    let report = sdk("requests", &serde_json::json!({ "requests": requests }));
    let failures: Vec<_> = report.as_array().unwrap().iter().filter(|r| r["errors"] != serde_json::json!([])).collect();
    assert!(failures.is_empty(), "Stripe's SDK refuses what the connector sent: {failures:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_card_is_registered_charged_off_session_captured_refunded_voided_and_detached() {
    let stand_in = StandIn::start().await;
    let stripe = connector(&stand_in);
    let creds = credentials(KEY);
    let registration_id = id("pay");
    let request = RegistrationRequest {
        reference: registration_id.clone(),
        customer: "c-77".into(),
        usage: TokenUsage::OffSession,
        callback_url: "http://127.0.0.1:9/api/v2/registrations/callback".parse().unwrap(),
        webhook_url: None,
    };
    let registration = stripe.create_registration(&creds, &request).await.unwrap();
    assert!(registration.tid.starts_with("cs_"), "{}", registration.tid);
    let session = stand_in.session(&registration.tid);
    assert_eq!(session["mode"], "setup");
    assert!(session["success_url"].as_str().unwrap().ends_with(&format!("reference_no={registration_id}")));
    assert_eq!(stripe.get_registration(&creds, &registration.tid).await.unwrap().status, RegistrationStatus::Open);

    stand_in.register(&registration.tid, "4242424242424242").await;
    let registered = stripe.get_registration(&creds, &registration.tid).await.unwrap();
    assert_eq!(registered.reference, registration_id);
    let RegistrationStatus::Registered(card) = registered.status else { panic!("{:?}", registered.status) };
    assert_eq!((card.brand.as_str(), card.last4.as_str(), card.exp_month, card.exp_year), ("visa", "4242", 12, 2034));
    assert!(card.token.starts_with("cus_") && card.token.contains("/pm_"), "{}", card.token);

    // Merchant-initiated, captured at once.
    let paid_id = id("pay");
    let paid = stripe
        .charge_token(&creds, &card.token, &charge(&paid_id, 1500, CaptureMethod::Automatic, true))
        .await
        .unwrap();
    assert_eq!((paid.status, paid.reference.as_str(), paid.amount), (OrderStatus::Paid, paid_id.as_str(), usd(1500)));
    assert_eq!(stripe.get_order(&creds, &paid.tid).await.unwrap().status, OrderStatus::Paid);

    // Customer-initiated, authorized; part captured, the rest released; part refunded.
    let held = stripe
        .charge_token(&creds, &card.token, &charge(&id("pay"), 2000, CaptureMethod::Manual, false))
        .await
        .unwrap();
    assert_eq!(held.status, OrderStatus::Authorized);
    let captured = stripe.capture(&creds, &held.tid, usd(1200)).await.unwrap();
    assert_eq!((captured.status, captured.captured), (OrderStatus::Paid, Some(usd(1200))));
    let again = stripe.capture(&creds, &held.tid, usd(1200)).await.unwrap();
    assert_eq!(again.status, OrderStatus::Paid, "a capture again answers the captured order");
    let refund_id = id("ref");
    let refund = RefundRequest { reference: refund_id.clone(), amount: usd(500), webhook_url: None };
    let refunded = stripe.refund(&creds, &held.tid, &refund).await.unwrap();
    assert_eq!(refunded.status, RefundStatus::Refunded);
    let record = stripe.get_refund(&creds, &held.tid, &refund_id).await.unwrap();
    assert_eq!((record.id, record.amount, record.status), (refunded.id, usd(500), RefundStatus::Refunded));
    assert!(matches!(stripe.get_refund(&creds, &held.tid, "ref_unknown").await, Err(GatewayError::NotFound(_))));

    // Authorized, then released.
    let released =
        stripe.charge_token(&creds, &card.token, &charge(&id("pay"), 700, CaptureMethod::Manual, true)).await.unwrap();
    let voided = stripe.void(&creds, &released.tid).await.unwrap();
    assert_eq!(voided.status, OrderStatus::Voided);
    assert_eq!(stripe.void(&creds, &released.tid).await.unwrap().status, OrderStatus::Voided, "again: as it is");

    // A card that registers but whose charges are declined: a decline is an order.
    let second = id("pay");
    let request = RegistrationRequest { reference: second, ..request };
    let registration = stripe.create_registration(&creds, &request).await.unwrap();
    stand_in.register(&registration.tid, "4000000000000341").await;
    let RegistrationStatus::Registered(refused_card) =
        stripe.get_registration(&creds, &registration.tid).await.unwrap().status
    else {
        panic!("the card registers")
    };
    let declined_id = id("pay");
    let declined = stripe
        .charge_token(&creds, &refused_card.token, &charge(&declined_id, 900, CaptureMethod::Automatic, true))
        .await
        .unwrap();
    assert_eq!((declined.status, declined.reference.as_str()), (OrderStatus::Declined, declined_id.as_str()));

    stripe.delete_token(&creds, &card.token).await.unwrap();
    stripe.delete_token(&creds, &card.token).await.unwrap();
    assert!(matches!(stripe.delete_token(&creds, "sbx_tok_1").await, Err(GatewayError::Rejected(_))));

    assert_stripe_would_accept(&stand_in);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_session_is_opened_paid_captured_and_an_unpaid_one_expired() {
    let stand_in = StandIn::start().await;
    let stripe = connector(&stand_in);
    let creds = credentials(KEY);
    let open = |reference: &str, capture| CheckoutRequest {
        reference: reference.into(),
        amount: usd(2500),
        description: Some("Basic Product".into()),
        merchant_name: None,
        callback_url: "http://127.0.0.1:9/api/v2/checkout/callback".parse().unwrap(),
        webhook_url: None,
        mode: CheckoutMode::Redirect,
        allow_deposit: false,
        capture,
        finalization: Finalization::Webhook,
    };
    let reference = id("pay");
    let checkout = stripe.create_checkout(&creds, &open(&reference, CaptureMethod::Manual)).await.unwrap();
    assert_eq!(checkout.payment_url, format!("{}pay/{}", stand_in.base, checkout.tid));
    let order = stripe.get_order(&creds, &checkout.tid).await.unwrap();
    assert_eq!(
        (order.status, order.reference.as_str(), order.amount),
        (OrderStatus::Open, reference.as_str(), usd(2500))
    );
    assert!(matches!(stripe.capture(&creds, &checkout.tid, usd(2500)).await, Err(GatewayError::Rejected(_))));

    stand_in.pay(&checkout.tid, "4242424242424242", None).await;
    assert_eq!(stripe.get_order(&creds, &checkout.tid).await.unwrap().status, OrderStatus::Authorized);
    let captured = stripe.capture(&creds, &checkout.tid, usd(2000)).await.unwrap();
    assert_eq!(
        (captured.status, captured.captured, captured.tid),
        (OrderStatus::Paid, Some(usd(2000)), checkout.tid.clone())
    );
    let closed = stripe.close_checkout(&creds, &checkout.tid).await.unwrap();
    assert_eq!(closed.status, OrderStatus::Paid, "a paid checkout is not closed, and says so");

    let unpaid = stripe.create_checkout(&creds, &open(&id("pay"), CaptureMethod::Automatic)).await.unwrap();
    // Closed by us, it is not "abandoned by the buyer": open, nothing to take in.
    assert_eq!(stripe.close_checkout(&creds, &unpaid.tid).await.unwrap().status, OrderStatus::Open);
    assert_eq!(stand_in.session(&unpaid.tid)["status"], "expired");

    // What Stripe's browser SDK would be needed for is declared, and refused.
    let caps = stripe.capabilities();
    assert!(!caps.review_checkout && !caps.api_finalization && caps.manual_capture && caps.saved_cards);
    let review = CheckoutRequest { mode: CheckoutMode::Review, ..open(&id("pay"), CaptureMethod::Automatic) };
    assert!(matches!(stripe.create_checkout(&creds, &review).await, Err(GatewayError::Rejected(_))));

    assert_stripe_would_accept(&stand_in);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripe_failing_or_silent_is_unavailable_and_its_no_is_rejected() {
    let stand_in = StandIn::start().await;
    let stripe = connector(&stand_in);
    let creds = credentials(KEY);

    let profile = stripe.verify_credentials(&creds).await.unwrap();
    assert!(profile.currencies.contains(&Currency::Usd) && !profile.currencies.contains(&Currency::Krw));
    assert!(matches!(stripe.verify_credentials(&credentials(REVOKED_KEY)).await, Err(GatewayError::Rejected(_))));
    assert!(matches!(
        stripe.verify_credentials(&credentials("pk_test_not_secret")).await,
        Err(GatewayError::Rejected(_))
    ));

    let request = CheckoutRequest {
        reference: id("pay"),
        amount: usd(100),
        description: None,
        merchant_name: None,
        callback_url: "http://127.0.0.1:9/cb".parse().unwrap(),
        webhook_url: None,
        mode: CheckoutMode::Redirect,
        allow_deposit: false,
        capture: CaptureMethod::Automatic,
        finalization: Finalization::Webhook,
    };
    for (status, unavailable) in [(500, true), (502, true), (429, true), (409, true), (400, false), (404, false)] {
        stand_in.fail_next(Method::POST, "/v1/checkout/sessions", Fault::Status(status));
        match stripe.create_checkout(&creds, &request).await {
            Err(GatewayError::Unavailable(_)) if unavailable => {}
            Err(GatewayError::Rejected(_)) if !unavailable => {}
            other => panic!("HTTP {status}: {other:?}"),
        }
    }
    let checkout = stripe.create_checkout(&creds, &request).await.unwrap();
    stand_in.fail_next(Method::GET, "/v1/checkout/sessions", Fault::Hang);
    let started = std::time::Instant::now();
    let silent = stripe.get_order(&creds, &checkout.tid).await;
    assert!(matches!(silent, Err(GatewayError::Unavailable(ref m)) if m.contains("in time")), "{silent:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(stripe.get_order(&creds, &checkout.tid).await.unwrap().status, OrderStatus::Open);
    assert!(matches!(stripe.get_order(&creds, "cs_../../v1/refunds").await, Err(GatewayError::Rejected(_))));
}
