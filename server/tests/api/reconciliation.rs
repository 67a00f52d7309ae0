//! The reconciliation worker (issue 14): a refund, a capture, a void and a checkout whose
//! PG answers were lost (the sandbox PG's `lose_answer` fault: it does the work, sends no
//! webhook and drops the connection) are asked of the PG and finished through the core,
//! with their event and the channel's notification — a Cafe24 noty, a store webhook, or
//! for a Cafe24 synchronous cancel an admin alert; once, however many instances race, and
//! a pass that dies half-way leaves the payment to the next.
//!
//! The servers here run no workers of their own (`NOTIFY_WORKER=false`): the test runs
//! every maintenance and outbox pass, so "stuck" stays stuck until it does.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{helpers::*, receiver::Receiver, v2_helpers::*};

const SECONDS: Duration = Duration::from_secs(15);
/// Short, so a test waits for it; long enough that a pass right after the lost answer
/// finds nothing due yet.
const RECONCILE_AFTER: &str = "2s";
const ASYNC_CANCEL: &str = "/api/asynchronous-cancellation/cancel";
const SYNC_CANCEL: &str = "/api/synchronous-cancellation/cancel";

async fn app_without_workers(db: Db) -> TestApp {
    spawn_app_with(db, &[("NOTIFY_WORKER", "false"), ("RECONCILE_AFTER", RECONCILE_AFTER)]).await
}

/// `POST /sandbox-pg/faults` with `{"operation": …, "fault": "lose_answer", "times": n}`.
async fn lose_answers(app: &TestApp, operation: &str, times: i64) {
    let response = app
        .client
        .post(app.url("/sandbox-pg/faults"))
        .json(&json!({"operation": operation, "fault": "lose_answer", "times": times}))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"operation": operation, "fault": "lose_answer", "times": times}));
}

/// Runs maintenance passes until the reconciliation jobs have finished `n` things in
/// all (they are due `RECONCILE_AFTER` after the lost answer); the total.
async fn reconcile(app: &TestApp, n: usize) -> usize {
    let deadline = Instant::now() + SECONDS;
    let mut done = 0;
    loop {
        done += app.maintain().await.reconciled;
        if done >= n {
            return done;
        }
        assert!(Instant::now() < deadline, "reconciled {done} of {n} within {SECONDS:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn events_of(app: &TestApp, payment_id: &str, kind: &str) -> Vec<Option<String>> {
    let rows: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT detail FROM payment_events WHERE payment_id = $1 AND kind = $2 ORDER BY seq")
            .bind(payment_id)
            .bind(kind)
            .fetch_all(app.state.store.pool())
            .await
            .unwrap();
    rows.into_iter().map(|(d,)| d).collect()
}

async fn refund_statuses(app: &TestApp, payment_id: &str) -> Vec<String> {
    let rows: Vec<(String,)> = sqlx::query_as("SELECT status FROM refunds WHERE payment_id = $1 ORDER BY created_at")
        .bind(payment_id)
        .fetch_all(app.state.store.pool())
        .await
        .unwrap();
    rows.into_iter().map(|(s,)| s).collect()
}

async fn pg_order(app: &TestApp, tid: &str) -> (String, i64) {
    sqlx::query_as("SELECT status, refunded_minor FROM sandbox_pg_orders WHERE code = $1")
        .bind(tid)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap()
}

/// A paid Cafe24 asynchronous payment (its payment noty delivered).
async fn paid_async(app: &TestApp, cafe24: &Receiver) -> (String, String, String) {
    let order_id = unique_order_id();
    let payment_url = app.request_async_payment(&order_id, "3065.00", &cafe24.url("/noty")).await;
    app.press(&payment_url, "approve").await;
    app.pg_settled().await;
    app.deliver_until("kind = 'cafe24.payment_noty' AND status = 'delivered'", 1, SECONDS).await;
    let payment = app.payment(&order_id).await;
    (order_id, payment.tid.unwrap(), payment.id.to_string())
}

/// A Store API payment that the buyer approved (an authorization for a manual capture),
/// its webhooks delivered to `store`.
async fn approved_intent(app: &TestApp, store: &Receiver, extra: Value) -> (String, String) {
    let intent = app.intent(extra).await;
    app.buyer_pays(&intent, "approve").await;
    app.pg_settled().await;
    app.deliver_until("status = 'delivered'", 1, SECONDS).await;
    assert_eq!(store.received("/hooks").len(), 1);
    let tid = intent["pgResponse"]["checkoutCode"].as_str().unwrap().to_owned();
    (intent["id"].as_str().unwrap().to_owned(), tid)
}

fn hooks_of_type(store: &Receiver, kind: &str) -> usize {
    webhook_events(&store.received("/hooks")).iter().filter(|(t, _, _)| t == kind).count()
}

async fn a_cafe24_async_cancel_whose_answer_was_lost_is_finished_and_told_by_its_cancelnoty(db: Db) {
    let app = app_without_workers(db).await;
    let cafe24 = Receiver::start().await;
    let (order_id, tid, id) = paid_async(&app, &cafe24).await;
    lose_answers(&app, "refund", 1).await;
    let mut cancel = cancel_request(&order_id, &tid, "3065.00", Some("0"));
    cancel["cancel_noty_url"] = json!(cafe24.url("/cancel-noty"));
    let (status, body) = app.post_json(ASYNC_CANCEL, &cancel).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    app.pg_settled().await;

    // Stuck: refunded at the PG, unknown here, nothing told.
    assert_eq!(pg_order(&app, &tid).await.1, 306500, "the PG did it");
    assert_eq!(refund_statuses(&app, &id).await, ["unknown"]);
    assert_eq!(app.maintain().await.reconciled, 0, "not before RECONCILE_AFTER");
    assert_eq!(app.payment(&order_id).await.status.code(), 2);

    assert_eq!(reconcile(&app, 1).await, 1);
    assert_eq!(refund_statuses(&app, &id).await, ["succeeded"]);
    let payment = app.payment(&order_id).await;
    assert_eq!((payment.status.code(), payment.cancelled_minor), (3, 306500));
    assert_eq!(events_of(&app, &id, "payment.refunded").await.len(), 1);
    assert_eq!(events_of(&app, &id, "reconciled").await.len(), 1);
    assert!(events_of(&app, &id, "admin.alert").await.is_empty(), "the channel hears it: no alert");
    app.deliver_until("kind = 'cafe24.cancel_noty' AND status = 'delivered'", 1, SECONDS).await;
    let noty = cafe24.received("/cancel-noty");
    assert_eq!(noty.len(), 1, "one cancelnoty");
    assert!(noty[0].body.contains("request_type=cancelnoty") && noty[0].body.contains("status=P"), "{}", noty[0].body);

    // Nothing left: later passes do nothing more.
    assert_eq!(app.maintain().await.reconciled, 0);
    assert_eq!(app.count_where("outbox", "kind = 'cafe24.cancel_noty'").await, 1);
}

async fn a_cafe24_sync_cancel_whose_answer_was_lost_ends_with_an_admin_alert_and_a_reconciled_event(db: Db) {
    let app = app_without_workers(db).await;
    let paid = app.paid_payment("3065.00").await;
    let id = app.payment(&paid.order_id).await.id.to_string();
    lose_answers(&app, "refund", 1).await;
    let (status, body) = app.post_json(SYNC_CANCEL, &cancel_request(&paid.order_id, &paid.tid, "1000.00", None)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(pg_order(&app, &paid.tid).await.1, 100000, "the PG did it");
    assert_eq!(refund_statuses(&app, &id).await, ["unknown"]);

    assert_eq!(reconcile(&app, 1).await, 1);
    let payment = app.payment(&paid.order_id).await;
    assert_eq!((payment.status.code(), payment.cancelled_minor), (7, 100000));
    assert_eq!(refund_statuses(&app, &id).await, ["succeeded"]);
    let reconciled = events_of(&app, &id, "reconciled").await;
    assert_eq!(reconciled.len(), 1, "{reconciled:?}");
    let alerts = events_of(&app, &id, "admin.alert").await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].as_deref().unwrap().contains("tell the shop"), "{alerts:?}");
    assert_eq!(app.count_where("outbox", &format!("payment_id = '{id}'")).await, 0, "no noty for a sync cancel");

    // The merchant sees it on the payment in the admin.
    let merchant = app.sign_in("demomall", "en_US").await;
    let page = app.admin_page("demomall", &merchant.cookie).await;
    assert!(page.contains("data-testid=\"payment-alert\""), "the admin shows the alert");
    assert!(page.contains("reconciliation worker finished it"), "with what happened");
}

async fn a_refund_the_pg_never_made_is_failed_and_its_amount_freed(db: Db) {
    let app = app_without_workers(db).await;
    let paid = app.paid_payment("3065.00").await;
    let id = app.payment(&paid.order_id).await.id.to_string();
    // The PG answers 503 and does nothing.
    app.sandbox_pg("/faults", &[("path", &format!("/v1/orders/{}/refunds", paid.tid)), ("times", "1")]).await;
    let (status, _) = app.post_json(SYNC_CANCEL, &cancel_request(&paid.order_id, &paid.tid, "3065.00", None)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(refund_statuses(&app, &id).await, ["unknown"]);

    assert_eq!(reconcile(&app, 1).await, 1);
    assert_eq!(refund_statuses(&app, &id).await, ["failed"]);
    let (message,): (Option<String>,) = sqlx::query_as("SELECT failure_message FROM refunds WHERE payment_id = $1")
        .bind(&id)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(message.as_deref(), Some(paybridge::payments::REFUND_NEVER_MADE));
    let payment = app.payment(&paid.order_id).await;
    assert_eq!((payment.status.code(), payment.cancelled_minor), (2, 0), "nothing refunded");
    assert_eq!(pg_order(&app, &paid.tid).await.1, 0, "and nothing asked again");
    assert_eq!(events_of(&app, &id, "refund.refused").await.len(), 1);
    assert_eq!(events_of(&app, &id, "admin.alert").await.len(), 1, "the sync cancel cannot be told");

    // The amount is free again: the same cancel now refunds it.
    let (status, body) = app.post_json(SYNC_CANCEL, &cancel_request(&paid.order_id, &paid.tid, "3065.00", None)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(pg_order(&app, &paid.tid).await.1, 306500);
}

async fn a_store_api_capture_whose_answer_was_lost_is_finished_and_told_by_webhook(db: Db) {
    let app = app_without_workers(db).await;
    let store = Receiver::start().await;
    app.webhook_endpoint(&store.url("/hooks")).await;
    let (id, tid) = approved_intent(&app, &store, json!({"captureMethod": "manual"})).await;
    lose_answers(&app, "capture", 1).await;
    let capture = app.v2_post(&format!("/api/v2/payments/{id}/capture"), &json!({})).await;
    assert_eq!(capture.status, StatusCode::BAD_GATEWAY, "{}", capture.body);
    assert_eq!(pg_order(&app, &tid).await.0, "paid", "captured at the PG");
    assert_eq!(app.v2_payment(&id).await["statusCode"], 5, "still an authorization here");
    assert_eq!(app.maintain().await.reconciled, 0, "not before RECONCILE_AFTER");

    assert_eq!(reconcile(&app, 1).await, 1);
    let payment = app.v2_payment(&id).await;
    assert_eq!(payment["statusCode"], 2, "{payment}");
    assert_eq!(events_of(&app, &id, "payment.captured").await.len(), 1);
    assert_eq!(events_of(&app, &id, "reconciled").await.len(), 1);
    app.deliver_until("kind = 'webhook.payment.completed' AND status = 'delivered'", 1, SECONDS).await;
    assert_eq!(hooks_of_type(&store, "payment.completed"), 1, "told once");
    assert_eq!(app.maintain().await.reconciled, 0, "nothing left");
}

async fn a_store_api_void_whose_answer_was_lost_is_finished_and_told_by_webhook(db: Db) {
    let app = app_without_workers(db).await;
    let store = Receiver::start().await;
    app.webhook_endpoint(&store.url("/hooks")).await;
    let (id, tid) = approved_intent(&app, &store, json!({"captureMethod": "manual"})).await;
    lose_answers(&app, "void", 1).await;
    let cancel = app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"reason": "out of stock"})).await;
    assert_eq!(cancel.status, StatusCode::BAD_GATEWAY, "{}", cancel.body);
    assert_eq!(pg_order(&app, &tid).await.0, "voided", "voided at the PG");
    assert_eq!(app.v2_payment(&id).await["statusCode"], 5);

    assert_eq!(reconcile(&app, 1).await, 1);
    assert_eq!(app.v2_payment(&id).await["statusCode"], 6);
    assert_eq!(events_of(&app, &id, "payment.voided").await.len(), 1);
    assert_eq!(events_of(&app, &id, "reconciled").await.len(), 1);
    app.deliver_until("kind = 'webhook.payment.canceled' AND status = 'delivered'", 1, SECONDS).await;
    assert_eq!(hooks_of_type(&store, "payment.canceled"), 1);
}

async fn a_checkout_whose_answer_was_lost_is_finished_and_told_by_webhook(db: Db) {
    let app = app_without_workers(db).await;
    let store = Receiver::start().await;
    app.webhook_endpoint(&store.url("/hooks")).await;
    let intent = app.intent(json!({})).await;
    let id = intent["id"].as_str().unwrap().to_owned();
    lose_answers(&app, "checkout", 1).await;
    press_and_lose_the_answer(&app, intent["pgResponse"]["checkoutUrl"].as_str().unwrap(), "approve").await;
    let tid = intent["pgResponse"]["checkoutCode"].as_str().unwrap();
    assert_eq!(pg_order(&app, tid).await.0, "paid", "paid at the PG");
    app.pg_settled().await;
    assert_eq!(app.v2_payment(&id).await["statusCode"], 1, "no webhook, no return: still open here");
    assert_eq!(app.maintain().await.reconciled, 0, "not before RECONCILE_AFTER");

    assert_eq!(reconcile(&app, 1).await, 1);
    assert_eq!(app.v2_payment(&id).await["statusCode"], 2);
    assert_eq!(events_of(&app, &id, "payment.completed").await.len(), 1);
    assert_eq!(events_of(&app, &id, "reconciled").await.len(), 1);
    app.deliver_until("kind = 'webhook.payment.completed' AND status = 'delivered'", 1, SECONDS).await;
    assert_eq!(hooks_of_type(&store, "payment.completed"), 1);
}

/// The buyer presses a button on the sandbox PG's page and gets no answer at all: not
/// even a status line, the connection is closed.
async fn press_and_lose_the_answer(app: &TestApp, checkout_url: &str, button: &str) {
    match app.client.post(format!("{checkout_url}/{button}")).send().await {
        Err(e) => assert!(e.is_request() && !e.is_timeout(), "{e:?}"),
        Ok(response) => panic!("the buyer got an answer: {}", response.status()),
    }
}

async fn a_cafe24_async_checkout_whose_answer_was_lost_is_finished_and_told_by_its_noty(db: Db) {
    let app = app_without_workers(db).await;
    let cafe24 = Receiver::start().await;
    let order_id = unique_order_id();
    let payment_url = app.request_async_payment(&order_id, "3065.00", &cafe24.url("/noty")).await;
    lose_answers(&app, "checkout", 1).await;
    press_and_lose_the_answer(&app, &payment_url, "approve").await;
    let payment = app.payment(&order_id).await;
    let (id, tid) = (payment.id.to_string(), payment.tid.clone().unwrap());
    assert_eq!(pg_order(&app, &tid).await.0, "paid", "paid at the PG");
    app.pg_settled().await;
    assert_eq!(app.payment(&order_id).await.status.code(), 1, "no webhook, no return: still open here");
    assert_eq!(app.count("outbox").await, 0);

    assert_eq!(reconcile(&app, 1).await, 1);
    assert_eq!(app.payment(&order_id).await.status.code(), 2);
    assert_eq!(events_of(&app, &id, "payment.completed").await.len(), 1);
    assert_eq!(events_of(&app, &id, "reconciled").await.len(), 1);
    assert!(events_of(&app, &id, "admin.alert").await.is_empty());
    app.deliver_until("kind = 'cafe24.payment_noty' AND status = 'delivered'", 1, SECONDS).await;
    let noty = cafe24.received("/noty");
    assert_eq!(noty.len(), 1, "one payment noty");
    assert!(noty[0].body.contains("payed_tf=T") && noty[0].body.contains("result_code=0000"), "{}", noty[0].body);
}

async fn an_open_checkout_is_asked_again_only_as_its_age_doubles(db: Db) {
    let app = app_without_workers(db).await;
    let intent = app.intent(json!({})).await;
    let id = intent["id"].as_str().unwrap().to_owned();
    let pool = app.state.store.pool();
    // Opened an hour ago, never paid: asked once, then not again at once.
    sqlx::query("UPDATE payments SET created_at = created_at - 3600000 WHERE id = $1")
        .bind(&id)
        .execute(pool)
        .await
        .unwrap();
    let asked = |app: &TestApp| {
        let id = id.clone();
        let pool = app.state.store.pool().clone();
        async move {
            let (at,): (Option<i64>,) = sqlx::query_as("SELECT reconciled_at FROM payments WHERE id = $1")
                .bind(&id)
                .fetch_one(&pool)
                .await
                .unwrap();
            at
        }
    };
    assert_eq!(app.maintain().await.reconciled, 0);
    let first = asked(&app).await.expect("asked the PG");
    app.maintain().await;
    assert_eq!(asked(&app).await, Some(first), "not asked again on the next pass");
    assert_eq!(app.v2_payment(&id).await["statusCode"], 1);
}

async fn two_instances_reconciling_at_once_finish_each_payment_once(db: Db) {
    let app = app_without_workers(db).await;
    let second = app.sibling(&[]).await;
    let store = Receiver::start().await;
    app.webhook_endpoint(&store.url("/hooks")).await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        let intent = app.intent(json!({})).await;
        app.buyer_pays(&intent, "approve").await;
        ids.push(intent["id"].as_str().unwrap().to_owned());
    }
    app.pg_settled().await;
    lose_answers(&app, "refund", 6).await;
    for id in &ids {
        let refund = app
            .v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"amount": 5000, "reason": "one item back"}))
            .await;
        assert_eq!(refund.status, StatusCode::BAD_GATEWAY, "{}", refund.body);
    }
    let deadline = Instant::now() + SECONDS;
    let mut total = 0;
    while total < ids.len() {
        let (a, b) = tokio::join!(app.maintain(), second.maintain());
        total += a.reconciled + b.reconciled;
        assert!(Instant::now() < deadline, "reconciled {total} of {}", ids.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (a, b) = tokio::join!(app.maintain(), second.maintain());
    assert_eq!(total + a.reconciled + b.reconciled, ids.len(), "each once");
    for id in &ids {
        assert_eq!(refund_statuses(&app, id).await, ["succeeded"]);
        assert_eq!(events_of(&app, id, "payment.refunded").await.len(), 1, "{id}");
        assert_eq!(events_of(&app, id, "reconciled").await.len(), 1, "{id}");
        let told = format!("payment_id = '{id}' AND kind = 'webhook.payment.partially_canceled'");
        assert_eq!(app.count_where("outbox", &told).await, 1, "one webhook for {id}");
    }
}

async fn a_reconciliation_pass_that_dies_half_way_leaves_the_payment_to_the_next(db: Db) {
    let app = app_without_workers(db).await;
    let paid = app.paid_payment("3065.00").await;
    let id = app.payment(&paid.order_id).await.id;
    lose_answers(&app, "refund", 1).await;
    let (status, _) = app.post_json(SYNC_CANCEL, &cancel_request(&paid.order_id, &paid.tid, "3065.00", None)).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    // Due now (as if RECONCILE_AFTER had passed).
    let pool = app.state.store.pool();
    sqlx::query("UPDATE refunds SET updated_at = updated_at - 60000 WHERE payment_id = $1")
        .bind(id.as_str())
        .execute(pool)
        .await
        .unwrap();
    // A worker took it and died before finishing: its lease holds it from the others…
    let job = paybridge::store::MaintenanceJob::ReconcileRefunds { after_ms: 2000 };
    let taken = app.state.store.claim_for_maintenance(job, 10, 60_000).await.unwrap();
    assert_eq!(taken, vec![id.clone()]);
    assert_eq!(app.maintain().await.reconciled, 0, "held by the dead worker's lease");
    assert_eq!(refund_statuses(&app, id.as_str()).await, ["unknown"]);
    assert!(events_of(&app, id.as_str(), "reconciled").await.is_empty());

    // Its lease runs out: the next pass finishes it, once.
    sqlx::query("UPDATE payments SET worker_lease_until = 1 WHERE id = $1")
        .bind(id.as_str())
        .execute(pool)
        .await
        .unwrap();
    assert_eq!(app.maintain().await.reconciled, 1);
    assert_eq!(refund_statuses(&app, id.as_str()).await, ["succeeded"]);
    assert_eq!(app.payment(&paid.order_id).await.status.code(), 3);
    assert_eq!(app.maintain().await.reconciled, 0);
    assert_eq!(events_of(&app, id.as_str(), "reconciled").await.len(), 1, "finished once");
    assert_eq!(events_of(&app, id.as_str(), "payment.refunded").await.len(), 1);
}

async fn the_fault_switch_refuses_an_unknown_operation_or_fault(db: Db) {
    let app = spawn_app(db).await;
    for body in [
        json!({"operation": "teleport", "fault": "lose_answer"}),
        json!({"operation": "refund", "fault": "explode"}),
        json!({"operation": "refund", "fault": "lose_answer", "times": 1000}),
    ] {
        let response = app.client.post(app.url("/sandbox-pg/faults")).json(&body).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    assert_eq!(app.count("sandbox_pg_faults").await, 0);
    // And `times: 0` clears one.
    lose_answers(&app, "capture", 2).await;
    lose_answers(&app, "capture", 0).await;
    assert_eq!(app.count("sandbox_pg_faults").await, 0);
}

crate::on_both_databases!(
    a_cafe24_async_cancel_whose_answer_was_lost_is_finished_and_told_by_its_cancelnoty,
    a_cafe24_sync_cancel_whose_answer_was_lost_ends_with_an_admin_alert_and_a_reconciled_event,
    a_refund_the_pg_never_made_is_failed_and_its_amount_freed,
    a_store_api_capture_whose_answer_was_lost_is_finished_and_told_by_webhook,
    a_store_api_void_whose_answer_was_lost_is_finished_and_told_by_webhook,
    a_checkout_whose_answer_was_lost_is_finished_and_told_by_webhook,
    a_cafe24_async_checkout_whose_answer_was_lost_is_finished_and_told_by_its_noty,
    an_open_checkout_is_asked_again_only_as_its_age_doubles,
    two_instances_reconciling_at_once_finish_each_payment_once,
    a_reconciliation_pass_that_dies_half_way_leaves_the_payment_to_the_next,
    the_fault_switch_refuses_an_unknown_operation_or_fault,
);
