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

/// Makes the sandbox PG answer the next API call under `path` 503 after doing what it
/// asks: the PG acted, and its answer is lost.
async fn lose_the_next_answer(app: &TestApp, path: &str) {
    app.sandbox_pg("/faults", &[("path", path), ("times", "1"), ("when", "after")]).await;
}

/// The first attempt ended in a 5xx from us: a gateway error the store may send again.
fn gateway_failed(first: &V2Answer) {
    assert_eq!(first.status, StatusCode::BAD_GATEWAY, "{}", first.body);
    assert_eq!(
        (first.body["error"]["type"].as_str(), first.body["error"]["code"].as_str()),
        (Some("gateway_error"), Some("gateway_unavailable"))
    );
}

/// Resumed: a fresh answer, not a replay.
fn resumed(again: &V2Answer, status: StatusCode) {
    assert_eq!(again.status, status, "{}", again.body);
    assert!(again.headers.get("idempotent-replayed").is_none(), "resumed, not replayed");
}

fn count_events(payment: &Value, kind: &str) -> usize {
    payment["events"].as_array().unwrap().iter().filter(|e| e["type"] == kind).count()
}

async fn an_intent_whose_checkout_answer_was_lost_resumes_under_the_same_id(db: Db) {
    let app = spawn_app(db).await;
    lose_the_next_answer(&app, "/v1/checkouts").await;
    let body = app.intent_body(json!({}));
    let first = app.v2_keyed("/api/v2/payment-intents", "intent-lost", &body).await;
    gateway_failed(&first);
    assert_eq!((app.count("payments").await, app.count("sandbox_pg_orders").await), (0, 1), "opened at the PG only");

    let again = app.v2_keyed("/api/v2/payment-intents", "intent-lost", &body).await;
    resumed(&again, StatusCode::CREATED);
    assert_eq!((app.count("payments").await, app.count("sandbox_pg_orders").await), (1, 1), "one checkout, once");
    let (reference,): (String,) =
        sqlx::query_as("SELECT reference FROM sandbox_pg_orders").fetch_one(app.state.store.pool()).await.unwrap();
    assert_eq!(again.body["id"].as_str(), Some(reference.as_str()), "the PG knows it by the same id");
    replayed(&again, &app.v2_keyed("/api/v2/payment-intents", "intent-lost", &body).await);
}

async fn a_finalization_whose_answer_was_lost_resumes_by_asking_the_pg(db: Db) {
    let app = spawn_app(db).await;
    let intent = app.intent(json!({"finalization": "api"})).await;
    let id = id_of(&intent);
    let auth_data = query_map(&app.buyer_pays(&intent, "approve").await)["authData"].clone();
    sqlx::query("UPDATE sandbox_pg_orders SET webhook_url = NULL WHERE code = $1")
        .bind(tid_of(&intent))
        .execute(app.state.store.pool())
        .await
        .unwrap();
    lose_the_next_answer(&app, &format!("/v1/orders/{}/approve", tid_of(&intent))).await;
    let body = json!({"paymentId": id, "authData": auth_data});
    let first = app.v2_keyed("/api/v2/payments", "finalize-lost", &body).await;
    gateway_failed(&first);
    assert_eq!(app.v2_payment(&id).await["status"], "REQUEST", "the PG approved; we did not hear it");

    // The authData is spent at the PG: the retry asks the PG what it did instead.
    let again = app.v2_keyed("/api/v2/payments", "finalize-lost", &body).await;
    resumed(&again, StatusCode::OK);
    assert_eq!(again.body["status"], "COMPLETE", "{}", again.body);
    assert_eq!(count_events(&app.v2_payment(&id).await, "payment.completed"), 1);
    replayed(&again, &app.v2_keyed("/api/v2/payments", "finalize-lost", &body).await);
}

async fn a_capture_whose_answer_was_lost_resumes_and_captures_once(db: Db) {
    let app = spawn_app(db).await;
    let intent = app.intent(json!({"captureMethod": "manual", "amount": 20000})).await;
    let id = id_of(&intent);
    app.buyer_pays(&intent, "approve").await;
    app.settled().await;
    // The PG's webhook about the capture is lost too: only asking it tells.
    sqlx::query("UPDATE sandbox_pg_orders SET webhook_url = NULL WHERE code = $1")
        .bind(tid_of(&intent))
        .execute(app.state.store.pool())
        .await
        .unwrap();
    lose_the_next_answer(&app, &format!("/v1/orders/{}/capture", tid_of(&intent))).await;
    let path = format!("/api/v2/payments/{id}/capture");
    let body = json!({"amount": 12000});
    let first = app.v2_keyed(&path, "capture-lost", &body).await;
    gateway_failed(&first);
    assert_eq!(app.v2_payment(&id).await["status"], "PENDING");

    let again = app.v2_keyed(&path, "capture-lost", &body).await;
    resumed(&again, StatusCode::OK);
    assert_eq!((again.body["status"].as_str(), again.body["capturedAmount"].as_i64()), (Some("COMPLETE"), Some(12000)));
    assert_eq!(app.at_the_pg().await.2, 12000, "captured once at the PG");
    assert_eq!(count_events(&app.v2_payment(&id).await, "payment.captured"), 1);
    replayed(&again, &app.v2_keyed(&path, "capture-lost", &body).await);
}

async fn a_refund_whose_answer_was_lost_resumes_and_refunds_once(db: Db) {
    let app = spawn_app(db).await;
    let intent = app.intent(json!({})).await;
    let id = id_of(&intent);
    app.buyer_pays(&intent, "approve").await;
    app.settled().await;
    lose_the_next_answer(&app, &format!("/v1/orders/{}/refunds", tid_of(&intent))).await;
    let path = format!("/api/v2/payments/{id}/cancel");
    let body = json!({"amount": 1000, "reason": "one item back"});
    let first = app.v2_keyed(&path, "refund-lost", &body).await;
    gateway_failed(&first);
    // The PG refunded and says so by its webhook before the store sends the request again.
    app.settled().await;

    let again = app.v2_keyed(&path, "refund-lost", &body).await;
    resumed(&again, StatusCode::OK);
    assert_eq!(again.body["canceledAmount"], 1000, "{}", again.body);
    app.settled().await;
    let (_, refunds_at_pg, _, refunded) = app.at_the_pg().await;
    assert_eq!((refunds_at_pg, refunded), (1, 1000), "refunded once at the PG");
    let payment = app.v2_payment(&id).await;
    assert_eq!(payment["refunds"].as_array().unwrap().len(), 1, "{}", payment["refunds"]);
    assert_eq!((payment["status"].as_str(), payment["canceledAmount"].as_i64()), (Some("PARTIAL_CANCEL"), Some(1000)));
    replayed(&again, &app.v2_keyed(&path, "refund-lost", &body).await);
}

async fn idempotency_records_are_purged_after_24_hours_by_the_maintenance_worker(db: Db) {
    // Only the passes run here, none on a timer.
    let app = spawn_app_with(db, &[("NOTIFY_WORKER", "off")]).await;
    let old =
        app.v2_keyed("/api/v2/webhook-endpoints", "yesterday", &json!({"url": "https://shop.cafe24.com/a"})).await;
    assert_eq!(old.status, StatusCode::CREATED);
    let fresh = app.v2_keyed("/api/v2/webhook-endpoints", "today", &json!({"url": "https://shop.cafe24.com/b"})).await;
    assert_eq!(fresh.status, StatusCode::CREATED);
    // The first was made 25 hours ago.
    let day = 24 * 3600 * 1000;
    sqlx::query("UPDATE idempotency_keys SET created_at = created_at - $1, expires_at = expires_at - $1 WHERE idem_key = 'yesterday'")
        .bind(day + 3600 * 1000)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let second = match db {
        Db::Postgres => Some(app.sibling(&[]).await),
        Db::Sqlite => None,
    };
    // Every instance's worker purges; on PostgreSQL two at once.
    let (a, b) = tokio::join!(app.maintain(), async {
        match &second {
            Some(second) => second.maintain().await,
            None => Default::default(),
        }
    });
    assert_eq!(a.tidied + b.tidied, 1, "{a:?} {b:?}");
    assert_eq!(app.count_where("idempotency_keys", "idem_key = 'yesterday'").await, 0, "purged");
    assert_eq!(app.count_where("idempotency_keys", "idem_key = 'today'").await, 1, "kept");
    assert_eq!(app.maintain().await.tidied, 0);
    // The purged key is as new: the same request makes another endpoint.
    let again =
        app.v2_keyed("/api/v2/webhook-endpoints", "yesterday", &json!({"url": "https://shop.cafe24.com/a"})).await;
    assert_eq!(again.status, StatusCode::CREATED);
    assert_ne!(again.body["id"], old.body["id"]);
}

crate::on_both_databases!(
    idempotency_records_are_purged_after_24_hours_by_the_maintenance_worker,
    a_cancel_refused_because_the_buyer_paid_meanwhile_is_replayed_and_refunds_nothing,
    a_refund_the_pg_declined_is_replayed_and_the_pg_is_not_asked_again,
    an_intent_whose_checkout_answer_was_lost_resumes_under_the_same_id,
    a_finalization_whose_answer_was_lost_resumes_by_asking_the_pg,
    a_capture_whose_answer_was_lost_resumes_and_captures_once,
    a_refund_whose_answer_was_lost_resumes_and_refunds_once,
);

mod fencing {
    use paybridge::{
        domain::MallId,
        store::{IdempotencyBegin, IdempotencyEnd, IdempotencyRequest},
    };

    use crate::helpers::*;

    const KEEP: i64 = 24 * 3600 * 1000;

    async fn a_request_slower_than_its_lease_does_not_overwrite_the_answer_of_the_one_that_resumed(db: Db) {
        let app = spawn_app(db).await;
        let store = &app.state.store;
        let mall = MallId::parse("demomall").unwrap();
        let request =
            IdempotencyRequest { mall_id: &mall, key: "slow", method: "POST", path: "/api/v2/x", body_hash: "h" };
        let IdempotencyBegin::Fresh { lease: slow } = store.idempotency_begin(&request, 60_000, KEEP).await.unwrap()
        else {
            panic!("a new key is fresh")
        };
        // The first request is still at work when its lease runs out: another resumes.
        sqlx::query("UPDATE idempotency_keys SET locked_until = 1 WHERE idem_key = 'slow'")
            .execute(store.pool())
            .await
            .unwrap();
        let IdempotencyBegin::Resume { lease: resumer, .. } =
            store.idempotency_begin(&request, 60_000, KEEP).await.unwrap()
        else {
            panic!("a key past its lease is resumed")
        };
        assert!(!store.idempotency_recovery_point(&mall, "slow", &slow, "pay_x").await.unwrap(), "fenced");
        assert!(store.idempotency_recovery_point(&mall, "slow", &resumer, "pay_y").await.unwrap());
        let done = IdempotencyEnd::Done { status: 201, body: "{\"by\":\"resumer\"}".into() };
        assert!(store.idempotency_end(&mall, "slow", &resumer, &done).await.unwrap());
        // Then the slow one ends: it no longer holds the key, and records nothing.
        let slow_answer = IdempotencyEnd::Done { status: 502, body: "{\"by\":\"slow\"}".into() };
        assert!(!store.idempotency_end(&mall, "slow", &slow, &slow_answer).await.unwrap());
        assert!(!store.idempotency_end(&mall, "slow", &slow, &IdempotencyEnd::Resumable).await.unwrap());
        assert!(!store.idempotency_end(&mall, "slow", &slow, &IdempotencyEnd::Forget).await.unwrap());
        assert_eq!(
            store.idempotency_begin(&request, 60_000, KEEP).await.unwrap(),
            IdempotencyBegin::Replay { status: 201, body: "{\"by\":\"resumer\"}".into() }
        );
    }

    crate::on_both_databases!(a_request_slower_than_its_lease_does_not_overwrite_the_answer_of_the_one_that_resumed,);
}
