//! Asynchronous cancellation (SPEC §4.5): answered "requested", finished by the PG's
//! refund webhook, and told to Cafe24 by a `cancelnoty` through the outbox.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::{helpers::*, receiver::Receiver};

const CANCEL: &str = "/api/asynchronous-cancellation/cancel";
const REFUND_WEBHOOK: &str = "/api/asynchronous-cancellation/cancel/webhook";
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

/// A refund of the payment we track: our id, the PG's refund code, and its status.
struct OurRefund {
    id: String,
    code: String,
    status: String,
}

async fn only_refund(app: &TestApp, order_id: &str) -> OurRefund {
    let payment = app.payment(order_id).await;
    let (id, code, status): (String, Option<String>, String) =
        sqlx::query_as("SELECT id, gateway_refund_id, status FROM refunds WHERE payment_id = $1")
            .bind(payment.id.as_str())
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    OurRefund { id, code: code.expect("the PG's refund code"), status }
}

/// An async cancel the sandbox PG accepts and keeps pending until the test decides it.
async fn held_refund(app: &TestApp, cafe24: &Receiver, order_id: &str, tid: &str, amount: &str) -> OurRefund {
    app.sandbox_pg(&format!("/orders/{tid}/refund-outcome"), &[("outcome", "HOLD")]).await;
    let (status, body) = app.post_json(CANCEL, &async_cancel(cafe24, order_id, tid, amount, None)).await;
    assert_eq!((status, &body["result_code"]), (StatusCode::OK, &json!("0000")), "{body}");
    let refund = only_refund(app, order_id).await;
    assert_eq!(refund.status, "pending");
    refund
}

/// The refund webhook the sandbox PG would send.
fn refund_webhook(refund: &OurRefund, tid: &str, status: &str, amount: i64) -> serde_json::Value {
    json!({
        "event_id": format!("evt-{status}-{amount}"), "type": "refund", "reference": refund.id, "order_code": tid,
        "status": status, "amount": amount, "currency": "PHP", "refund_code": refund.code,
    })
}

/// A pending refund nothing has touched: the same rows, still pending, nothing paid back,
/// nothing sent to Cafe24.
async fn assert_refund_untouched(app: &TestApp, cafe24: &Receiver, order_id: &str, before: [i64; 8]) {
    assert_eq!(app.snapshot().await, before, "nothing changed");
    assert_eq!(only_refund(app, order_id).await.status, "pending");
    assert_eq!(state(app, order_id).await, (2, 0));
    app.settled().await;
    assert!(cafe24.received("/cancel-noty").is_empty(), "nothing sent");
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
    app.settled().await;
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

    // A refund webhook for a refund we do not know is refused, whoever signs it (the
    // signature is checked once the refund, and so the merchant's secret, is known).
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

async fn refund_webhooks_with_a_bad_signature_or_a_wrong_amount_leave_a_pending_refund_alone(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let (order_id, tid) = paid_async(&app, &cafe24).await;
    let refund = held_refund(&app, &cafe24, &order_id, &tid, "1000.00").await;
    let before = app.snapshot().await;
    let truthful = refund_webhook(&refund, &tid, "refunded", 100000);

    let (status, body) = app.post_webhook(REFUND_WEBHOOK, &truthful, "not-the-merchant-secret").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}: bad signature");

    let signed = truthful.to_string();
    let signature =
        paybridge::gateway::sandbox::sign_webhook(PG_SECRET, paybridge::store::now_ms() / 1000, signed.as_bytes());
    let response = app
        .client
        .post(app.url(REFUND_WEBHOOK))
        .header("content-type", "application/json")
        .header(paybridge::gateway::sandbox::SIGNATURE_HEADER, signature)
        .body(signed.replace("100000", "306500"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "amount tampered after signing");

    let wrong_amount = refund_webhook(&refund, &tid, "refunded", 306500);
    let (status, body) = app.post_webhook(REFUND_WEBHOOK, &wrong_amount, PG_SECRET).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: signed by the PG, but not the refund's amount");

    let mut other_order = truthful.clone();
    other_order["order_code"] = json!("sbx_ord_someone_else");
    let (status, body) = app.post_webhook(REFUND_WEBHOOK, &other_order, PG_SECRET).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}: another transaction");

    assert_refund_untouched(&app, &cafe24, &order_id, before).await;

    // The PG's own decision, signed, still goes through once.
    app.sandbox_pg(&format!("/orders/{tid}/refunds/{}/decide", refund.code), &[("outcome", "refunded")]).await;
    let notys = cafe24.wait_for("/cancel-noty", 1, SECONDS).await;
    assert_eq!((notys[0].fields["status"].as_str(), notys[0].fields["cancel_amount"].as_str()), ("P", "1000.00"));
    assert_eq!(state(&app, &order_id).await, (7, 100000));
}

async fn an_unsigned_refund_webhook_is_checked_with_the_pg_and_its_body_ignored(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let (order_id, tid) = paid_async(&app, &cafe24).await;
    // The sandbox PG plays a PG without webhook signatures for this order.
    app.sandbox_pg(&format!("/orders/{tid}/webhook-signing"), &[("signing", "off")]).await;
    let refund = held_refund(&app, &cafe24, &order_id, &tid, "3065.00").await;
    let before = app.snapshot().await;

    // Notices claiming the refund done, or refused; asked, the PG says it is pending.
    for claim in ["refunded", "refused"] {
        let (status, body) =
            app.post_unsigned_webhook(REFUND_WEBHOOK, &refund_webhook(&refund, &tid, claim, 306500)).await;
        assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("nothing to do yet")), "{claim}: {body}");
    }
    assert_refund_untouched(&app, &cafe24, &order_id, before).await;

    // The PG refunds and sends its unsigned webhook: we ask it, and apply that, once.
    app.sandbox_pg(&format!("/orders/{tid}/refunds/{}/decide", refund.code), &[("outcome", "refunded")]).await;
    let notys = cafe24.wait_for("/cancel-noty", 1, SECONDS).await;
    assert_eq!((notys[0].fields["status"].as_str(), notys[0].fields["cancel_amount"].as_str()), ("P", "3065.00"));
    assert_eq!(state(&app, &order_id).await, (3, 306500));
    assert_eq!(only_refund(&app, &order_id).await.status, "succeeded");

    // Its redeliveries, and a notice that now claims it refused, change nothing.
    let report = app.sandbox_pg(&format!("/orders/{tid}/webhooks/resend"), &[("times", "10")]).await;
    assert_eq!(report["signed"], false, "the PG sends this order's webhooks unsigned");
    assert!(report["statuses"].as_array().unwrap().iter().all(|s| s == 200), "{report}");
    let (status, body) = app.post_unsigned_webhook(REFUND_WEBHOOK, &refund_webhook(&refund, &tid, "refused", 1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.settled().await;
    assert_eq!(cafe24.received("/cancel-noty").len(), 1, "one cancel noty");
    assert_eq!(state(&app, &order_id).await, (3, 306500));
    assert_eq!(app.count_where("payment_events", "kind = 'payment.refunded'").await, 1, "one transition");
}

crate::on_both_databases!(
    an_async_cancel_is_requested_then_notified,
    a_refund_the_pg_refuses_later_is_notified_with_status_f,
    bad_async_cancels_and_refund_webhooks_change_nothing,
    refund_webhooks_with_a_bad_signature_or_a_wrong_amount_leave_a_pending_refund_alone,
    an_unsigned_refund_webhook_is_checked_with_the_pg_and_its_body_ignored,
);
