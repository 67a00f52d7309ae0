//! A panic in a handler answers 500 in the shape of the channel it was asked through,
//! never a dropped connection or a page that never ends; nothing is changed and the
//! server goes on. The panics come from a PG connector that panics on every call,
//! reached through the real routes.

use std::{sync::Arc, time::Duration};

use paybridge::{
    domain::{MerchantCredentials, Money},
    gateway::{
        Capabilities, Checkout, CheckoutRequest, GatewayError, GatewayOrder, GatewayRefund, GatewayRefundRecord,
        MerchantProfile, PaymentGateway, RefundRequest, WebhookError, WebhookEvent, WebhookSubject,
    },
};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::{
    external::{basket, now_secs, payload},
    helpers::*,
};

const PANICKING: &str = "panicking";

/// A connector whose every call panics, as a bug would.
struct PanickingGateway;

fn boom() -> ! {
    panic!("the panicking test connector was called")
}

#[async_trait::async_trait]
impl PaymentGateway for PanickingGateway {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            all_cancel: true,
            partial_cancel: true,
            escrow: false,
            manual_capture: true,
            api_finalization: true,
            review_checkout: true,
            saved_cards: false,
        }
    }
    async fn verify_credentials(&self, _: &MerchantCredentials) -> Result<MerchantProfile, GatewayError> {
        boom()
    }
    async fn create_checkout(&self, _: &MerchantCredentials, _: &CheckoutRequest) -> Result<Checkout, GatewayError> {
        boom()
    }
    async fn get_order(&self, _: &MerchantCredentials, _: &str) -> Result<GatewayOrder, GatewayError> {
        boom()
    }
    async fn refund(&self, _: &MerchantCredentials, _: &str, _: &RefundRequest) -> Result<GatewayRefund, GatewayError> {
        boom()
    }
    async fn get_refund(&self, _: &MerchantCredentials, _: &str, _: &str) -> Result<GatewayRefundRecord, GatewayError> {
        boom()
    }
    async fn pay(&self, _: &MerchantCredentials, _: &str, _: Money) -> Result<String, GatewayError> {
        boom()
    }
    async fn approve(&self, _: &MerchantCredentials, _: &str, _: &str) -> Result<GatewayOrder, GatewayError> {
        boom()
    }
    async fn capture(&self, _: &MerchantCredentials, _: &str, _: Money) -> Result<GatewayOrder, GatewayError> {
        boom()
    }
    async fn void(&self, _: &MerchantCredentials, _: &str) -> Result<GatewayOrder, GatewayError> {
        boom()
    }
    async fn close_checkout(&self, _: &MerchantCredentials, _: &str) -> Result<GatewayOrder, GatewayError> {
        boom()
    }
    fn webhook_subject(&self, _: &[u8]) -> Option<WebhookSubject> {
        boom()
    }
    fn verify_webhook(
        &self,
        _: &MerchantCredentials,
        _: &http::HeaderMap,
        _: &[u8],
    ) -> Result<Option<WebhookEvent>, WebhookError> {
        boom()
    }
}

/// The body of an answer, as text; a hung answer fails the test instead of waiting.
async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, String, String) {
    let response = request.timeout(Duration::from_secs(10)).send().await.expect("an answer, not a hang");
    let status = response.status();
    let content_type =
        response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (status, content_type, response.text().await.expect("a whole body"))
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| panic!("JSON expected: {text}"))
}

async fn a_panic_answers_500_in_each_channels_shape_and_changes_nothing(db: Db) {
    let (vars, guard) = environment(db, &[]).await;
    let app = start_with_connectors(vars, guard, vec![(PANICKING, Arc::new(PanickingGateway))]).await;
    // An external checkout opened while the mall still used the sandbox PG.
    let order_id = unique_order_id();
    let reservation = payload(&order_id, &basket(), "https://demomall.cafe24shop.com/noty", 2700, now_secs());
    let (status, opened) = app.post_json("/api/external-checkout/payload", &reservation).await;
    assert_eq!(status, StatusCode::OK, "{opened}");
    let review = opened["mData"]["redirect_url"].as_str().unwrap().to_owned();
    let payment_id = app.payment(&order_id).await.id;
    // The mall and that payment are now at the panicking PG.
    for table in ["pg_credentials", "payments"] {
        sqlx::query(&format!("UPDATE {table} SET gateway = 'panicking' WHERE mall_id = 'demomall'"))
            .execute(app.state.store.pool())
            .await
            .unwrap();
    }
    let before = app.snapshot().await;
    let hidden = "internal error; nothing was changed";

    // Cafe24's API: result_code 9999.
    let request = payment_request(&unique_order_id(), "3065.00");
    let (status, _, body) = answer(app.client.post(app.url("/api/synchronous-checkout/checkout")).json(&request)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json_of(&body), json!({"result_code": "9999", "result_message": hidden}));

    // The storefront's calls: bResult false.
    let fresh = payload(&unique_order_id(), &basket(), "https://demomall.cafe24shop.com/noty", 2700, now_secs());
    let (status, _, body) = answer(app.client.post(app.url("/api/external-checkout/payload")).json(&fresh)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json_of(&body), json!({"bResult": false, "mData": {"message": hidden}}));
    let pay = json!({"mall_id": "demomall", "order_id": order_id});
    let (status, _, body) = answer(app.client.post(app.url("/api/external-checkout/order/pay")).json(&pay)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json_of(&body)["bResult"], false);

    // The buyer's browser: a page, whether a Leptos page or the PG's callback.
    for path in [
        review.clone(),
        app.url(&format!("/api/external-checkout/order/callback?reference_no={payment_id}")).to_string(),
    ] {
        let (status, content_type, body) = answer(app.client.get(&path)).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{path}: {body}");
        assert!(content_type.starts_with("text/html"), "{path}: {content_type}");
        assert!(!body.contains("panicking test connector"), "{path} says nothing of why");
    }

    // The Store API: its error object; the key is left to resume at once (a 5xx), not
    // held "in use" until its lease runs out.
    let intent = app.intent_body(json!({}));
    for attempt in ["first", "again with the same key"] {
        let (status, _, body) = answer(
            app.client
                .post(app.url("/api/v2/payment-intents"))
                .bearer_auth(crate::v2_helpers::KEY)
                .header("Idempotency-Key", "panics-1")
                .json(&intent),
        )
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{attempt}: {body}");
        assert_eq!(json_of(&body)["error"]["type"], "api_error", "{attempt}: {body}");
    }
    let resumable = app.count_where("idempotency_keys", "idem_key = 'panics-1'").await;
    assert_eq!(resumable, 1, "the key is kept, to resume");

    // A PG's webhook: 500, so the PG sends it again.
    let (status, _, body) =
        answer(app.client.post(app.url(&format!("/pg/{PANICKING}/webhook"))).body(r#"{"reference":"x"}"#)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json_of(&body)["result"], "error");

    let mut after = app.snapshot().await;
    after[6] -= resumable;
    assert_eq!(after, before, "nothing was changed but the resumable key");
    let (status, _, _) = answer(app.client.get(app.url("/healthz"))).await;
    assert_eq!(status, StatusCode::OK, "the server goes on");
}

crate::on_both_databases!(a_panic_answers_500_in_each_channels_shape_and_changes_nothing);
