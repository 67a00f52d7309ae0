//! Asynchronous cancellation (SPEC §4.5): answered "requested", finished by the PG's
//! refund webhook, and told to Cafe24 by a `cancelnoty` through the outbox.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::{helpers::*, receiver::Receiver};

const CANCEL: &str = "/api/asynchronous-cancellation/cancel";
const SECONDS: Duration = Duration::from_secs(10);

/// A paid asynchronous payment (its payment noty already delivered).
async fn paid_async(app: &TestApp, cafe24: &Receiver) -> (String, String) {
    let order_id = unique_order_id();
    let payment_url = app.request_async_payment(&order_id, "3065.00", &cafe24.url("/noty")).await;
    app.press(&payment_url, "approve").await;
    cafe24.wait_for("/noty", 1, SECONDS).await;
    let tid = app.payment(&order_id).await.tid.unwrap();
    (order_id, tid)
}

fn async_cancel(cafe24: &Receiver, order_id: &str, tid: &str, amount: &str, remain: Option<&str>) -> serde_json::Value {
    let mut body = cancel_request(order_id, tid, amount, remain);
    body["cancel_noty_url"] = json!(cafe24.url("/cancel-noty"));
    body
}

async fn state(app: &TestApp, order_id: &str) -> (i64, i64) {
    let p = app.payment(order_id).await;
    (p.status.code(), p.cancelled_minor)
}

async fn an_async_cancel_is_requested_then_notified(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let (order_id, tid) = paid_async(&app, &cafe24).await;

    let (status, body) =
        app.post_json(CANCEL, &async_cancel(&cafe24, &order_id, &tid, "1000.00", Some("2065.00"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result_code"], "0000");
    assert_eq!(body["result_message"], "cancellation requested");
    let notys = cafe24.wait_for("/cancel-noty", 1, SECONDS).await;
    let noty = &notys[0].fields;
    assert_eq!(noty["request_type"], "cancelnoty");
    assert_eq!(noty["status"], "P");
    assert_eq!(noty["cancel_amount"], "1000.00");
    assert_eq!(noty["tid"], tid);
    assert_eq!(noty["hash_data"], sign(&["1000.00", "PHP", &order_id, PARTNER_ID, &tid]));
    assert_eq!(state(&app, &order_id).await, (7, 100000));

    // The Postman collection's alias finishes the rest.
    let mut rest = async_cancel(&cafe24, &order_id, &tid, "2065.00", Some("0"));
    rest["amount"] = json!("3065.00");
    let (status, body) = app.post_json("/api/asynchronous-refund/cancel", &rest).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let notys = cafe24.wait_for("/cancel-noty", 2, SECONDS).await;
    assert_eq!(notys[1].fields["status"], "P");
    assert_eq!(state(&app, &order_id).await, (3, 306500));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(cafe24.received("/cancel-noty").len(), 2);
}

async fn a_refund_the_pg_refuses_later_is_notified_with_status_f(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let (order_id, tid) = paid_async(&app, &cafe24).await;
    let response = app
        .client
        .post(app.url(&format!("/sandbox-pg/orders/{tid}/refund-outcome")))
        .form(&[("outcome", "RX")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let (status, body) = app.post_json(CANCEL, &async_cancel(&cafe24, &order_id, &tid, "3065.00", Some("0"))).await;
    assert_eq!(status, StatusCode::OK, "{body}: requested; the PG decides later");
    let notys = cafe24.wait_for("/cancel-noty", 1, SECONDS).await;
    assert_eq!(notys[0].fields["status"], "F");
    assert_eq!(notys[0].fields["result_code"], "9999");
    assert_eq!(state(&app, &order_id).await, (2, 0), "nothing was cancelled");

    // The switch is spent: the same cancel again goes through.
    let (status, body) = app.post_json(CANCEL, &async_cancel(&cafe24, &order_id, &tid, "3065.00", Some("0"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let notys = cafe24.wait_for("/cancel-noty", 2, SECONDS).await;
    assert_eq!(notys[1].fields["status"], "P");
    assert_eq!(state(&app, &order_id).await, (3, 306500));
}

async fn bad_async_cancels_and_refund_webhooks_change_nothing(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let (order_id, tid) = paid_async(&app, &cafe24).await;
    let before = app.snapshot().await;

    let mut no_noty_url = cancel_request(&order_id, &tid, "100.00", None);
    no_noty_url.as_object_mut().unwrap().remove("cancel_noty_url");
    let (status, body) = app.post_json(CANCEL, &no_noty_url).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let mut evil = async_cancel(&cafe24, &order_id, &tid, "100.00", None);
    evil["cancel_noty_url"] = json!("https://evil.example.com/noty");
    let (status, body) = app.post_json(CANCEL, &evil).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["result_message"].as_str().unwrap().contains("cancel_noty_url"));

    let (status, _) = app.post_json(CANCEL, &async_cancel(&cafe24, &order_id, &tid, "4000.00", None)).await;
    assert_eq!(status, StatusCode::CONFLICT, "above what was paid");
    assert_eq!(app.snapshot().await, before);

    // Refund webhooks: unknown refund, bad signature.
    let webhook = json!({
        "event_id": "evt-r", "type": "refund", "reference": "rfd_unknown", "order_code": tid,
        "status": "refunded", "amount": 306500, "currency": "PHP", "refund_code": "sbx_rfd_x",
    });
    let (status, _) = app.post_webhook("/api/asynchronous-cancellation/cancel/webhook", &webhook, PG_SECRET).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.post_webhook("/api/asynchronous-refund/cancel/webhook", &webhook, "wrong").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an unknown refund is unknown whoever signs");
    assert_eq!(app.snapshot().await, before);
    assert_eq!(state(&app, &order_id).await, (2, 0));
    assert!(cafe24.received("/cancel-noty").is_empty());
}

crate::on_both_databases!(
    an_async_cancel_is_requested_then_notified,
    a_refund_the_pg_refuses_later_is_notified_with_status_f,
    bad_async_cancels_and_refund_webhooks_change_nothing,
);
