//! paybridge's own HTTP flows on a mall linked to Stripe (`demostripe`, provisioned by
//! `DEMO_STRIPE_SECRET_KEY`), with `STRIPE_API_BASE` at the stand-in over localstripe:
//! Cafe24's payment and cancels, the Store API's intent, capture and refund, Stripe's
//! signed webhooks; and the bad input of the issue, each leaving everything as it was.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::{
    connector::assert_stripe_would_accept,
    stand_in::{Fault, StandIn, REVOKED_KEY},
    tools::sdk_signature,
    WEBHOOK_SECRET,
};
use crate::{admin_helpers::*, helpers::*, on_both_databases};

const PARTNER: &str = "demostripe:1:stripe";
const KEY: &str = "sk_test_paybridge_demostripe";

async fn stripe_app(db: Db) -> (TestApp, StandIn) {
    let stand_in = StandIn::start().await;
    let base = stand_in.base.to_string();
    let app = spawn_app_with(
        db,
        &[
            ("STRIPE_API_BASE", base.as_str()),
            ("STRIPE_API_TIMEOUT", "2s"),
            ("DEMO_STRIPE_SECRET_KEY", super::stand_in::KEY),
            ("DEMO_STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ],
    )
    .await;
    (app, stand_in)
}

fn cafe24_request(order_id: &str, amount: &str) -> Value {
    json!({
        "request_type": "request", "partner_id": PARTNER, "shop_no": "1", "order_id": order_id,
        "paymethod": "card", "currency": "USD", "amount": amount, "goods_name": "Basic Product",
        "return_url": RETURN_URL, "hash_data": sign(&[amount, "USD", order_id, PARTNER]), "extra_data": "x"
    })
}

fn cafe24_cancel(order_id: &str, tid: &str, cancel: &str) -> Value {
    json!({
        "request_type": "cancel", "partner_id": PARTNER, "shop_no": "1", "paymethod": "card", "tid": tid,
        "order_id": order_id, "escrow_tf": "F", "currency": "USD", "amount": "25.00", "cancel_amount": cancel,
        "cancel_type": "C", "cancel_reason": "customer request",
        "hash_data": sign(&[cancel, "USD", order_id, PARTNER, tid]), "extra_data": "x", "tax_free_tf": "F"
    })
}

impl TestApp {
    async fn stripe_v2(
        &self,
        method: Method,
        path: &str,
        idempotency: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let fresh = uuid::Uuid::new_v4().to_string();
        let key = idempotency.unwrap_or(&fresh);
        let answer = self.v2(method.clone(), path, Some(KEY), (method == Method::POST).then_some(key), body).await;
        (answer.status, answer.body)
    }

    async fn stripe_intent(&self, extra: Value) -> Value {
        let mut body = self.intent_body(extra);
        body["currency"] = json!("USD");
        let (status, intent) = self.stripe_v2(Method::POST, "/api/v2/payment-intents", None, Some(&body)).await;
        assert_eq!(status, StatusCode::CREATED, "{intent}");
        intent
    }

    /// A Stripe webhook, signed as Stripe signs it (by the SDK's own code).
    async fn stripe_webhook(&self, body: &str, signature: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url("/pg/stripe/webhook"))
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn payment_of(&self, mall: &str, order_id: &str) -> paybridge::domain::Payment {
        let (mall, order) =
            (paybridge::domain::MallId::parse(mall).unwrap(), paybridge::domain::OrderId::parse(order_id).unwrap());
        self.state.store.payment_by_order(&mall, &order).await.unwrap().expect("a payment")
    }

    async fn v2_payment_of(&self, key: &str, id: &str) -> Value {
        let answer = self.v2(Method::GET, &format!("/api/v2/payments/{id}"), Some(key), None, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.body
    }

    async fn stripe_snapshot(&self) -> [i64; 4] {
        [
            self.count("payments").await,
            self.count("payment_events").await,
            self.count("refunds").await,
            self.count("outbox").await,
        ]
    }
}

/// The buyer comes back from Stripe's page to our callback (the session's success_url).
async fn buyer_returns(app: &TestApp, stand_in: &StandIn, session_id: &str) -> url::Url {
    let back = stand_in.session(session_id)["success_url"].as_str().unwrap().to_owned();
    let response = app.client.get(back).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    location(&response)
}

async fn a_cafe24_payment_on_stripe_is_paid_then_cancelled_in_two_parts(db: Db) {
    let (app, stand_in) = stripe_app(db).await;
    let order_id = unique_order_id();
    let (status, opened) =
        app.post_json("/api/synchronous-checkout/checkout", &cafe24_request(&order_id, "25.00")).await;
    assert_eq!((status, opened["result_code"].as_str()), (StatusCode::OK, Some("0000")), "{opened}");
    let payment_url = opened["payment_url"].as_str().unwrap();
    let session_id = payment_url.rsplit('/').next().unwrap().to_owned();
    assert!(payment_url.starts_with(stand_in.base.as_str()) && session_id.starts_with("cs_"), "{payment_url}");
    assert_eq!(stand_in.session(&session_id)["amount_total"], 2500);

    stand_in.pay(&session_id, "4242424242424242", None).await;
    let back = buyer_returns(&app, &stand_in, &session_id).await;
    let params = query_map(&back);
    assert_eq!(params["result_code"], "0000", "{back}");
    let (_, details) = app.status(&params["key"]).await;
    assert_eq!((details["payed_tf"].as_str(), details["tid"].as_str()), (Some("T"), Some(session_id.as_str())));

    let (_, first) =
        app.post_json("/api/synchronous-cancellation/cancel", &cafe24_cancel(&order_id, &session_id, "10.00")).await;
    assert_eq!(first["result_code"], "0000", "{first}");
    let (_, rest) =
        app.post_json("/api/synchronous-cancellation/cancel", &cafe24_cancel(&order_id, &session_id, "15.00")).await;
    assert_eq!(rest["result_code"], "0000", "{rest}");
    let payment = app.payment_of("demostripe", &order_id).await;
    assert_eq!((payment.status.code(), payment.cancelled_minor), (3, 2500));
    let refunds: Vec<_> =
        stand_in.recorded().into_iter().filter(|r| r.path == "/v1/refunds" && r.method == "POST").collect();
    assert_eq!(refunds.len(), 2);
    assert!(refunds[0].body.contains("amount=1000") && refunds[1].body.contains("amount=1500"));
    assert_stripe_would_accept(&stand_in);
}

async fn a_store_api_intent_on_stripe_is_authorized_by_a_signed_webhook_captured_in_part_and_refunded(db: Db) {
    let (app, stand_in) = stripe_app(db).await;
    let intent = app.stripe_intent(json!({"amount": 3000, "captureMethod": "manual"})).await;
    let id = intent["id"].as_str().unwrap();
    let session_id = intent["pgResponse"]["checkoutCode"].as_str().unwrap().to_owned();
    assert_eq!(intent["pgResponse"]["gateway"], "stripe");
    stand_in.pay(&session_id, "4242424242424242", None).await;

    // Refused webhooks first: nothing they say changes anything.
    let completed = StandIn::event("checkout.session.completed", stand_in.session(&session_id));
    let now = paybridge::store::now_ms() / 1000;
    let before = app.stripe_snapshot().await;
    let good = sdk_signature(&completed, WEBHOOK_SECRET, now);
    let changed = completed.replacen("complete", "compleTe", 1);
    for (what, body, signature) in [
        ("a changed byte", changed.as_str(), good.clone()),
        ("an old t", completed.as_str(), sdk_signature(&completed, WEBHOOK_SECRET, now - 301)),
        ("a v0-only header", completed.as_str(), good.replace(",v1=", ",v0=")),
        ("a wrong secret", completed.as_str(), sdk_signature(&completed, "whsec_not_this_mall", now)),
    ] {
        let (status, answer) = app.stripe_webhook(body, &signature).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{what}: {answer}");
    }
    let customer = StandIn::event("customer.created", json!({"id": "cus_x", "object": "customer", "metadata": {}}));
    let (status, answer) = app.stripe_webhook(&customer, &sdk_signature(&customer, WEBHOOK_SECRET, now)).await;
    assert_eq!(status, StatusCode::OK, "an object of another integration is acknowledged: {answer}");
    // Another integration's Checkout Session, with a reference of its own: not ours, so
    // acknowledged (a 404 would have Stripe retry it for days).
    let theirs = StandIn::event(
        "checkout.session.completed",
        json!({"id": "cs_theirs", "object": "checkout.session", "client_reference_id": "their-order-7",
               "status": "complete", "metadata": {}}),
    );
    let (status, answer) = app.stripe_webhook(&theirs, &sdk_signature(&theirs, WEBHOOK_SECRET, now)).await;
    assert_eq!(status, StatusCode::OK, "another integration's session is acknowledged: {answer}");
    let stranger = StandIn::event(
        "payment_intent.succeeded",
        json!({"id": "pi_x", "object": "payment_intent", "metadata": {"paybridge_payment": "pay_unknown"}}),
    );
    let (status, _) = app.stripe_webhook(&stranger, &sdk_signature(&stranger, WEBHOOK_SECRET, now)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a payment we do not have");
    assert_eq!(app.stripe_snapshot().await, before);
    assert_eq!(app.v2_payment_of(KEY, id).await["status"], "REQUEST");

    // Signed by Stripe's SDK: taken, and Stripe asked what happened.
    let (status, answer) = app.stripe_webhook(&completed, &good).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let payment = app.v2_payment_of(KEY, id).await;
    assert_eq!(
        (payment["status"].as_str(), payment["pendingReason"].as_str()),
        (Some("PENDING"), Some("capture")),
        "{payment}"
    );
    let (status, _) = app.stripe_webhook(&completed, &good).await;
    assert_eq!(status, StatusCode::OK, "the same webhook again changes nothing");

    let (status, captured) = app
        .stripe_v2(Method::POST, &format!("/api/v2/payments/{id}/capture"), None, Some(&json!({"amount": 2000})))
        .await;
    assert_eq!(
        (status, captured["status"].as_str(), captured["capturedAmount"].as_i64()),
        (StatusCode::OK, Some("COMPLETE"), Some(2000)),
        "{captured}"
    );
    let (status, refunded) = app
        .stripe_v2(
            Method::POST,
            &format!("/api/v2/payments/{id}/cancel"),
            None,
            Some(&json!({"amount": 500, "reason": "one back"})),
        )
        .await;
    assert_eq!(
        (status, refunded["status"].as_str(), refunded["balanceAmount"].as_i64()),
        (StatusCode::OK, Some("PARTIAL_CANCEL"), Some(1500)),
        "{refunded}"
    );
    assert_stripe_would_accept(&stand_in);
}

async fn stripe_failing_or_disagreeing_leaves_payments_as_they_were(db: Db) {
    let (app, stand_in) = stripe_app(db).await;
    // A currency the account cannot charge (the stand-in's country spec lacks KRW).
    let mut body = app.intent_body(json!({"amount": 5000}));
    body["currency"] = json!("KRW");
    let (status, refused) = app.stripe_v2(Method::POST, "/api/v2/payment-intents", None, Some(&body)).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("currency_not_supported")),
        "{refused}"
    );
    // What Stripe cannot do through paybridge is refused, clearly.
    let mut api = app.intent_body(json!({"finalization": "api"}));
    api["currency"] = json!("USD");
    let (status, refused) = app.stripe_v2(Method::POST, "/api/v2/payment-intents", None, Some(&api)).await;
    assert_eq!(
        (status, refused["error"]["param"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("finalization")),
        "{refused}"
    );
    assert!(refused["error"]["message"].as_str().unwrap().contains("finalization by API"), "{refused}");

    // Stripe answers 500, then does not answer: the capture is not applied, and the same
    // call with the same key finishes it.
    let intent = app.stripe_intent(json!({"amount": 1200, "captureMethod": "manual"})).await;
    let id = intent["id"].as_str().unwrap();
    let session_id = intent["pgResponse"]["checkoutCode"].as_str().unwrap();
    stand_in.pay(session_id, "4242424242424242", None).await;
    buyer_returns(&app, &stand_in, session_id).await;
    assert_eq!(app.v2_payment_of(KEY, id).await["status"], "PENDING");
    let path = format!("/api/v2/payments/{id}/capture");
    for fault in [Fault::Status(500), Fault::Hang] {
        stand_in.fail_next(Method::POST, "/v1/payment_intents/", fault.clone());
        let (status, answer) = app.stripe_v2(Method::POST, &path, Some("capture-once"), Some(&json!({}))).await;
        assert!(status.is_server_error(), "{fault:?}: {status} {answer}");
        assert_eq!(answer["error"]["type"], "gateway_error", "{answer}");
        assert_eq!(app.v2_payment_of(KEY, id).await["status"], "PENDING", "{fault:?}");
    }
    let (status, captured) = app.stripe_v2(Method::POST, &path, Some("capture-once"), Some(&json!({}))).await;
    assert_eq!((status, captured["status"].as_str()), (StatusCode::OK, Some("COMPLETE")), "{captured}");

    // Stripe reports another amount than ours: not paid, and the refusal kept in the history.
    let intent = app.stripe_intent(json!({"amount": 1000})).await;
    let id = intent["id"].as_str().unwrap();
    let session_id = intent["pgResponse"]["checkoutCode"].as_str().unwrap();
    stand_in.pay(session_id, "4242424242424242", Some(999)).await;
    let back = buyer_returns(&app, &stand_in, session_id).await;
    assert!(back.as_str().contains("/store/fail") || back.as_str().contains("/store/success"), "{back}");
    let payment = app.v2_payment_of(KEY, id).await;
    assert_eq!(payment["status"], "REQUEST", "{payment}");
    let refused =
        app.count_where("payment_events", &format!("payment_id = '{id}' AND kind = 'transition.refused'")).await;
    assert_eq!(refused, 1);
}

async fn the_admin_links_stripe_after_asking_it_and_a_stripe_mall_refuses_the_review_checkout(db: Db) {
    let (app, _stand_in) = stripe_app(db).await;
    let merchant = app.sign_in("stripemall", "en").await;
    let link = |secret_key: &str, webhook_secret: Option<&str>| {
        json!({"mall_id": "stripemall", "gateway": "stripe", "public_key": "pk_test_stripemall",
               "secret_key": secret_key, "webhook_secret": webhook_secret})
    };
    let post = |body: Value| {
        let (cookie, csrf) = (merchant.cookie.clone(), merchant.csrf.clone());
        let app = &app;
        async move { app.admin_post("/admin/link", Some(&cookie), Some(&csrf), &body).await }
    };
    for (body, field) in [
        (link(REVOKED_KEY, Some(WEBHOOK_SECRET)), "secret_key"),
        (link("sk_test_paybridge_ok", None), "webhook_secret"),
        (link("pk_test_not_a_secret", Some(WEBHOOK_SECRET)), "secret_key"),
        (
            json!({"mall_id": "stripemall", "gateway": "stripe", "public_key": "pk_live_x", "secret_key": "sk_test_paybridge_ok", "webhook_secret": WEBHOOK_SECRET}),
            "public_key",
        ),
    ] {
        let (status, answer) = post(body).await;
        assert_eq!(
            (status, answer["error"]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{answer}"
        );
    }
    assert_eq!(app.count_where("pg_credentials", "mall_id = 'stripemall'").await, 0);
    let (status, overview) = post(link("sk_test_paybridge_ok", Some(WEBHOOK_SECRET))).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(overview["credentials"]["gateway"], "stripe");
    let (secret, webhook): (String, String) =
        sqlx::query_as("SELECT secret_key_enc, webhook_secret_enc FROM pg_credentials WHERE mall_id = 'stripemall'")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert!(!secret.contains("sk_test") && !webhook.contains("whsec_"), "sealed at rest");
    let page = app.admin_page("stripemall", &merchant.cookie).await;
    assert!(!page.contains("sk_test_paybridge_ok") && !page.contains(WEBHOOK_SECRET), "never shown");

    // Cafe24's external checkout needs the review page, which Stripe cannot serve.
    sqlx::query("UPDATE pg_credentials SET gateway = 'stripe' WHERE mall_id = 'demomall'")
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let before = app.stripe_snapshot().await;
    let order_id = unique_order_id();
    let reservation = crate::external::payload(
        &order_id,
        &crate::external::basket(),
        "https://demomall.cafe24shop.com/noty",
        2700,
        now_secs(),
    );
    let (status, answer) = app.post_json("/api/external-checkout/payload", &reservation).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(answer.to_string().contains("review-page checkout"), "{answer}");
    assert_eq!(app.stripe_snapshot().await, before);
}

/// An unpaid intent on Stripe is canceled by the store (the session expired at Stripe):
/// it ends in 4 `canceled`, not as if the buyer had abandoned it, nor refused.
async fn an_unpaid_stripe_intent_is_canceled_and_its_session_expired(db: Db) {
    let (app, stand_in) = stripe_app(db).await;
    let intent = app.stripe_intent(json!({})).await;
    let id = intent["id"].as_str().unwrap();
    let session_id = intent["pgResponse"]["checkoutCode"].as_str().unwrap().to_owned();
    let (status, canceled) = app
        .stripe_v2(Method::POST, &format!("/api/v2/payments/{id}/cancel"), None, Some(&json!({"reason": "r"})))
        .await;
    assert_eq!(status, StatusCode::OK, "{canceled}");
    assert_eq!(
        (canceled["status"].as_str(), canceled["failure"]["code"].as_str()),
        (Some("FAIL"), Some("canceled")),
        "{canceled}"
    );
    assert_eq!(stand_in.session(&session_id)["status"], "expired", "closed at Stripe");
}

on_both_databases!(
    an_unpaid_stripe_intent_is_canceled_and_its_session_expired,
    a_cafe24_payment_on_stripe_is_paid_then_cancelled_in_two_parts,
    a_store_api_intent_on_stripe_is_authorized_by_a_signed_webhook_captured_in_part_and_refunded,
    stripe_failing_or_disagreeing_leaves_payments_as_they_were,
    the_admin_links_stripe_after_asking_it_and_a_stripe_mall_refuses_the_review_checkout,
);
