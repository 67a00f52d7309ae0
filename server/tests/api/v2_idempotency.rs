//! The Store API's Idempotency-Key beyond the simple cases (SPEC §8.1): a request that
//! did something and was then refused is saved and replayed, never run again.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{helpers::*, receiver::Receiver, v2_helpers::*};

fn id_of(payment: &Value) -> String {
    payment["id"].as_str().unwrap().to_owned()
}

fn tid_of(intent: &Value) -> String {
    intent["pgResponse"]["checkoutCode"].as_str().unwrap().to_owned()
}

impl TestApp {
    /// A POST with the demo key and the given Idempotency-Key.
    async fn v2_keyed(&self, path: &str, key: &str, body: &Value) -> V2Answer {
        self.v2(Method::POST, path, Some(KEY), Some(key), Some(body)).await
    }

    /// What the sandbox PG holds: orders, refunds, and what it captured and refunded.
    async fn at_the_pg(&self) -> (i64, i64, i64, i64) {
        let (captured, refunded): (i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(captured_minor), 0) AS BIGINT), CAST(COALESCE(SUM(refunded_minor), 0) AS BIGINT) \
             FROM sandbox_pg_orders",
        )
        .fetch_one(self.state.store.pool())
        .await
        .unwrap();
        (self.count("sandbox_pg_orders").await, self.count("sandbox_pg_refunds").await, captured, refunded)
    }
}

/// Asserts `again` is `first` replayed.
fn replayed(first: &V2Answer, again: &V2Answer) {
    assert_eq!((again.status, &again.body), (first.status, &first.body), "the saved answer");
    assert_eq!(again.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"), "replayed");
}

async fn a_cancel_refused_because_the_buyer_paid_meanwhile_is_replayed_and_refunds_nothing(db: Db) {
    let app = spawn_app(db).await;
    let intent = app.intent(json!({})).await;
    let id = id_of(&intent);
    // The buyer pays at the PG; its webhook is lost, so only asking the PG finds out.
    sqlx::query("UPDATE sandbox_pg_orders SET webhook_url = NULL WHERE code = $1")
        .bind(tid_of(&intent))
        .execute(app.state.store.pool())
        .await
        .unwrap();
    app.press(intent["pgResponse"]["checkoutUrl"].as_str().unwrap(), "approve").await;

    let path = format!("/api/v2/payments/{id}/cancel");
    let body = json!({"reason": "changed mind"});
    let first = app.v2_keyed(&path, "cancel-once", &body).await;
    assert_eq!(first.status, StatusCode::CONFLICT, "{}", first.body);
    assert_eq!(app.v2_payment(&id).await["status"], "COMPLETE", "what the PG did was applied");
    let (before, pg_before) = (app.snapshot().await, app.at_the_pg().await);

    // The same request again must not become a refund of the whole balance.
    let again = app.v2_keyed(&path, "cancel-once", &body).await;
    replayed(&first, &again);
    assert_eq!(app.snapshot().await, before, "nothing new here");
    assert_eq!(app.at_the_pg().await, pg_before, "nothing new at the PG");
    assert_eq!(app.v2_payment(&id).await["status"], "COMPLETE");
}

async fn a_refund_the_pg_declined_is_replayed_and_the_pg_is_not_asked_again(db: Db) {
    let app = spawn_app(db).await;
    let store = Receiver::start().await;
    app.webhook_endpoint(&store.url("/hooks")).await;
    let intent = app.intent(json!({})).await;
    let id = id_of(&intent);
    app.buyer_pays(&intent, "approve").await;
    app.settled().await;
    // The PG believes the order was refunded in full already: it declines any refund.
    sqlx::query("UPDATE sandbox_pg_orders SET refunded_minor = captured_minor WHERE code = $1")
        .bind(tid_of(&intent))
        .execute(app.state.store.pool())
        .await
        .unwrap();

    let path = format!("/api/v2/payments/{id}/cancel");
    let body = json!({"amount": 1000, "reason": "one item back"});
    let first = app.v2_keyed(&path, "refund-once", &body).await;
    assert_eq!(
        (first.status, first.body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("refund_declined")),
        "{}",
        first.body
    );
    let refunds = app.v2_payment(&id).await["refunds"].clone();
    assert_eq!(refunds.as_array().unwrap().len(), 1, "the declined refund is kept: {refunds}");
    assert_eq!(app.count_where("outbox", "kind = 'webhook.refund.failed'").await, 1, "and told to the store");
    let (before, pg_before) = (app.snapshot().await, app.at_the_pg().await);

    let again = app.v2_keyed(&path, "refund-once", &body).await;
    replayed(&first, &again);
    assert_eq!(app.snapshot().await, before, "no second refund, event or webhook");
    assert_eq!(app.at_the_pg().await, pg_before, "the PG was not asked again");
}

crate::on_both_databases!(
    a_cancel_refused_because_the_buyer_paid_meanwhile_is_replayed_and_refunds_nothing,
    a_refund_the_pg_declined_is_replayed_and_the_pg_is_not_asked_again,
);
