//! The Store API v2 under concurrency and failure (SPEC §8.1, §8.3, §8.4): one key, one
//! execution; refunds racing never exceed what was captured; a finalization racing the
//! PG's webhook is one transition; several instances share the workers; webhooks retry,
//! fail, are resent, and are signed by both secrets during a rotation.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{
    helpers::*,
    receiver::{Plan, Receiver},
    v2_helpers::*,
};

const SECONDS: Duration = Duration::from_secs(10);
const QUICK_RETRIES: (&str, &str) = ("NOTIFY_RETRY_DELAYS", "100ms,100ms,100ms");

fn id_of(payment: &Value) -> String {
    payment["id"].as_str().unwrap().to_owned()
}

async fn twenty_identical_requests_with_one_key_make_one_payment(db: Db) {
    let app = spawn_app(db).await;
    let body = app.intent_body(json!({}));
    let answers = futures::future::join_all(
        (0..20).map(|_| app.v2(Method::POST, "/api/v2/payment-intents", Some(KEY), Some("same-key"), Some(&body))),
    )
    .await;
    let order = body["orderId"].as_str().unwrap();
    assert_eq!(app.count_where("payments", &format!("order_id = '{order}'")).await, 1, "one payment");
    assert_eq!(app.count("sandbox_pg_orders").await, 1, "one checkout at the PG");
    let created: Vec<&V2Answer> = answers.iter().filter(|a| a.status == StatusCode::CREATED).collect();
    assert!(!created.is_empty());
    assert!(created.iter().all(|a| a.body["id"] == created[0].body["id"]), "every answer is the same payment");
    for a in &answers {
        assert!(
            a.status == StatusCode::CREATED
                || (a.status == StatusCode::CONFLICT
                    && a.body["error"]["code"] == "idempotency_key_in_use"
                    && a.headers.contains_key("retry-after")),
            "{} {}",
            a.status,
            a.body
        );
    }
}

async fn twenty_partial_refunds_at_once_never_exceed_what_was_captured(db: Db) {
    let app = spawn_app(db).await;
    let intent = app.intent(json!({"amount": 15000})).await;
    let id = id_of(&intent);
    app.buyer_pays(&intent, "approve").await;
    let path = format!("/api/v2/payments/{id}/cancel");
    let one_item = json!({"amount": 1000, "reason": "one item"});
    let answers = futures::future::join_all((0..20).map(|_| app.v2_post(&path, &one_item))).await;
    let accepted = answers.iter().filter(|a| a.status == StatusCode::OK).count();
    assert_eq!(accepted, 15, "15 × 1000 fit in 15000");
    // Refused: more than remains, or (once the refunds have all come through) nothing remains.
    for refused in answers.iter().filter(|a| a.status != StatusCode::OK) {
        let code = refused.body["error"]["code"].as_str();
        assert!(matches!(code, Some("amount_too_large" | "payment_canceled")), "{} {}", refused.status, refused.body);
    }
    app.settled().await;
    let after = app.v2_payment(&id).await;
    assert_eq!(
        (after["status"].as_str(), after["canceledAmount"].as_i64(), after["balanceAmount"].as_i64()),
        (Some("CANCEL"), Some(15000), Some(0))
    );
    let tid = intent["pgResponse"]["checkoutCode"].as_str().unwrap();
    let (refunded,): (i64,) = sqlx::query_as("SELECT refunded_minor FROM sandbox_pg_orders WHERE code = $1")
        .bind(tid)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(refunded, 15000, "the PG refunded exactly what was captured");
}

async fn a_finalization_racing_the_pg_webhook_is_one_transition_and_one_store_webhook(db: Db) {
    let app = spawn_app(db).await;
    let store = Receiver::start().await;
    app.webhook_endpoint(&store.url("/hooks")).await;
    for _ in 0..5 {
        let intent = app.intent(json!({"finalization": "api"})).await;
        let id = id_of(&intent);
        let auth_data = query_map(&app.buyer_pays(&intent, "approve").await)["authData"].clone();
        let body = json!({"paymentId": id, "authData": auth_data});
        // The approval at the PG sends its webhook at once: it races our own answer.
        let (a, b) = tokio::join!(app.v2_post("/api/v2/payments", &body), app.v2_post("/api/v2/payments", &body));
        let ok = [&a, &b].iter().filter(|x| x.status == StatusCode::OK).count();
        assert!(ok >= 1, "{} {}", a.body, b.body);
        app.settled().await;
        let payment = app.v2_payment(&id).await;
        assert_eq!(payment["status"], "COMPLETE");
        let completed =
            payment["events"].as_array().unwrap().iter().filter(|e| e["type"] == "payment.completed").count();
        assert_eq!(completed, 1, "one transition");
        let hooks: Vec<_> =
            webhook_events(&store.received("/hooks")).into_iter().filter(|(_, p, _)| *p == id).collect();
        assert_eq!(hooks.len(), 1, "one store webhook: {hooks:?}");
    }
}

async fn two_instances_share_the_maintenance_and_each_payment_is_expired_once(db: Db) {
    let app = spawn_app(db).await;
    let second = app.sibling(&[]).await;
    let mut ids = Vec::new();
    for _ in 0..12 {
        ids.push(id_of(&app.intent(json!({})).await));
    }
    sqlx::query("UPDATE payments SET expires_at = 1 WHERE status = 1").execute(app.state.store.pool()).await.unwrap();
    let (a, b) = tokio::join!(app.maintain(), second.maintain());
    let (c, d) = tokio::join!(app.maintain(), second.maintain());
    assert_eq!(a.expired + b.expired + c.expired + d.expired, 12, "{a:?} {b:?} {c:?} {d:?}");
    for id in ids {
        let payment = app.v2_payment(&id).await;
        assert_eq!(payment["failure"]["code"], "expired");
        let failed = payment["events"].as_array().unwrap().iter().filter(|e| e["type"] == "payment.failed").count();
        assert_eq!(failed, 1, "expired once");
    }
}

async fn two_instances_racing_on_one_idempotency_key_execute_once(db: Db) {
    let app = spawn_app(db).await;
    let second = app.sibling(&[]).await;
    for round in 0..5 {
        let body = app.intent_body(json!({}));
        let key = format!("race-{round}");
        let (a, b) = tokio::join!(
            app.v2(Method::POST, "/api/v2/payment-intents", Some(KEY), Some(&key), Some(&body)),
            second.v2(Method::POST, "/api/v2/payment-intents", Some(KEY), Some(&key), Some(&body)),
        );
        let order = body["orderId"].as_str().unwrap();
        assert_eq!(app.count_where("payments", &format!("order_id = '{order}'")).await, 1);
        let statuses = [a.status, b.status];
        assert!(statuses.contains(&StatusCode::CREATED), "{statuses:?}");
        assert!(statuses.iter().all(|s| *s == StatusCode::CREATED || *s == StatusCode::CONFLICT), "{statuses:?}");
        if a.status == b.status {
            assert_eq!(a.body, b.body, "the second was a replay of the first");
        }
    }
}

async fn a_store_webhook_that_always_fails_is_tried_four_times_then_failed_and_resent(db: Db) {
    let app = spawn_app_with(db, &[QUICK_RETRIES]).await;
    let store = Receiver::start().await;
    store.plan("/hooks", Plan::AlwaysFail);
    app.webhook_endpoint(&store.url("/hooks")).await;
    let intent = app.intent(json!({})).await;
    let id = id_of(&intent);
    app.buyer_pays(&intent, "approve").await;
    app.wait_rows("outbox", "kind = 'webhook.payment.completed' AND status = 'failed'", 1, SECONDS).await;
    app.settled().await;
    let attempts = store.received("/hooks");
    assert_eq!(attempts.len(), 4, "one attempt and three retries");
    let ids: Vec<_> = attempts.iter().map(|a| a.headers["webhook-id"].to_str().unwrap().to_owned()).collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "the same webhook-id on every attempt");
    assert!(attempts.iter().all(|a| a.body == attempts[0].body), "the same body");
    let payment = app.v2_payment(&id).await;
    assert!(payment["events"].as_array().unwrap().iter().any(|e| e["type"] == "notification.failed"), "reported");

    store.recover("/hooks");
    let resent = app.v2_post(&format!("/api/v2/payments/{id}/webhooks/resend"), &json!({})).await;
    assert_eq!((resent.status, resent.body["resent"].as_u64()), (StatusCode::OK, Some(1)), "{}", resent.body);
    store.wait_for("/hooks", 5, SECONDS).await;
    app.settled().await;
    let got = store.received("/hooks");
    assert_eq!(got.len(), 5);
    assert_eq!((got[4].headers["webhook-id"].to_str().unwrap(), &got[4].body), (ids[0].as_str(), &attempts[0].body));
    assert_eq!(app.count_where("outbox", "kind = 'webhook.payment.completed' AND status = 'delivered'").await, 1);
    let nothing = app.v2_post(&format!("/api/v2/payments/{id}/webhooks/resend"), &json!({})).await;
    assert_eq!(nothing.body["resent"], 0);
}

async fn during_a_rotation_both_secrets_sign_and_a_deleted_endpoint_gets_nothing(db: Db) {
    let app = spawn_app(db).await;
    let store = Receiver::start().await;
    let (endpoint, old) = app.webhook_endpoint(&store.url("/hooks")).await;
    let rotated = app.v2_post(&format!("/api/v2/webhook-endpoints/{endpoint}/rotate-secret"), &json!({})).await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.body);
    let new = rotated.body["secret"].as_str().unwrap().to_owned();
    assert!(new.starts_with("whsec_") && new != old);

    let intent = app.intent(json!({})).await;
    app.buyer_pays(&intent, "approve").await;
    let hook = store.wait_for("/hooks", 1, SECONDS).await.remove(0);
    let (id, ts) = (hook.headers["webhook-id"].to_str().unwrap(), hook.headers["webhook-timestamp"].to_str().unwrap());
    let signature = hook.headers["webhook-signature"].to_str().unwrap();
    assert_eq!(signature.split(' ').count(), 2, "two signatures: {signature}");
    assert!(python_verifies(&new, id, ts, &hook.body, signature), "the new secret verifies");
    assert!(python_verifies(&old, id, ts, &hook.body, signature), "the old one too, for 24 h");

    let deleted = app.v2(Method::DELETE, &format!("/api/v2/webhook-endpoints/{endpoint}"), Some(KEY), None, None).await;
    assert_eq!((deleted.status, deleted.body["deleted"].as_bool()), (StatusCode::OK, Some(true)));
    let again = app.v2(Method::DELETE, &format!("/api/v2/webhook-endpoints/{endpoint}"), Some(KEY), None, None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let intent = app.intent(json!({})).await;
    app.buyer_pays(&intent, "approve").await;
    app.settled().await;
    assert_eq!(store.received("/hooks").len(), 1, "nothing more to a deleted endpoint");
    let bad = app.v2_post("/api/v2/webhook-endpoints", &json!({"url": "http://169.254.169.254/latest"})).await;
    assert_eq!(
        (bad.status, bad.body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("url_not_allowed"))
    );
}

async fn the_admin_lists_a_store_api_payment_with_its_history_and_resends_its_failed_webhook(db: Db) {
    // The test runs the outbox passes: a running worker would deliver the resent webhook
    // while the admin's answer is being made, and the answer could not show it pending.
    let app = spawn_app_with(db, &[QUICK_RETRIES, ("NOTIFY_WORKER", "off")]).await;
    let store = Receiver::start().await;
    store.plan("/hooks", Plan::AlwaysFail);
    app.webhook_endpoint(&store.url("/hooks")).await;
    let intent = app.intent(json!({})).await;
    let order = intent["orderId"].as_str().unwrap().to_owned();
    app.buyer_pays(&intent, "approve").await;
    app.deliver_until("kind = 'webhook.payment.completed' AND status = 'failed'", 1, SECONDS).await;
    app.settled().await;

    let merchant = app.sign_in("demomall", "en_US").await;
    let page = app.admin_page("demomall", &merchant.cookie).await;
    assert!(page.contains(&order), "the v2 payment is in the admin's list");
    let (id,): (String,) = sqlx::query_as("SELECT id FROM outbox WHERE status = 'failed'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    store.recover("/hooks");
    let (status, overview) =
        merchant.post(&app, "/admin/notifications/resend", json!({"mall_id": "demomall", "delivery_id": id})).await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    let listed = overview["payments"].as_array().unwrap().iter().find(|p| p["order_id"] == order.as_str()).unwrap();
    assert_eq!((listed["flow"].as_str(), listed["status_code"].as_i64()), (Some("store_api"), Some(2)), "{listed}");
    let kinds: Vec<&str> = listed["events"].as_array().unwrap().iter().filter_map(|e| e["kind"].as_str()).collect();
    assert!(kinds.contains(&"notification.failed"), "its history shows the failure: {kinds:?}");
    let delivery = overview["deliveries"].as_array().unwrap().iter().find(|d| d["id"] == id.as_str()).unwrap();
    assert_eq!(delivery["status"], "pending", "{delivery}");

    assert_eq!(app.deliver_due().await, 1, "the resent webhook is due at once");
    store.wait_for("/hooks", 5, SECONDS).await;
    app.settled().await;
    let got = store.received("/hooks");
    assert_eq!(got[4].headers["webhook-id"], got[0].headers["webhook-id"], "the resend is the same message");
    let store_view = app.v2_payment(&id_of(&intent)).await;
    assert_eq!(store_view["status"], "COMPLETE");
}

async fn an_endpoint_that_always_fails_does_not_hold_up_another_endpoints_webhooks(db: Db) {
    // The failing endpoint's first retry is an hour away.
    let app = spawn_app_with(db, &[("NOTIFY_RETRY_DELAYS", "1h,1h,1h")]).await;
    let (failing, working) = (Receiver::start().await, Receiver::start().await);
    failing.plan("/hooks", Plan::AlwaysFail);
    app.webhook_endpoint(&failing.url("/hooks")).await;
    app.webhook_endpoint(&working.url("/hooks")).await;
    let intent = app.intent(json!({"captureMethod": "manual"})).await;
    let id = id_of(&intent);
    app.buyer_pays(&intent, "approve").await;
    failing.wait_for("/hooks", 1, SECONDS).await;
    for (call, body) in
        [("capture", json!({})), ("cancel", json!({"amount": 100, "reason": "r"})), ("confirm", json!({}))]
    {
        let answer = app.v2_post(&format!("/api/v2/payments/{id}/{call}"), &body).await;
        assert_eq!(answer.status, StatusCode::OK, "{call}: {}", answer.body);
        app.settled().await;
    }
    // The working endpoint has every event, in the order they happened…
    let got = working.wait_for("/hooks", 4, SECONDS).await;
    let kinds: Vec<String> = webhook_events(&got).into_iter().map(|(kind, _, _)| kind).collect();
    assert_eq!(kinds, ["payment.pending", "payment.completed", "payment.partially_canceled", "payment.confirmed"]);
    let versions: Vec<i64> = webhook_events(&got).into_iter().map(|(_, _, v)| v).collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    // …while the failing one tried its first and keeps the rest behind it, in order.
    assert_eq!(failing.received("/hooks").len(), 1);
    let waiting = app.count_where("outbox", "status = 'pending' AND attempts = 0").await;
    assert_eq!(waiting, 3, "queued behind the failing endpoint's first");
}

crate::on_both_databases!(
    an_endpoint_that_always_fails_does_not_hold_up_another_endpoints_webhooks,
    twenty_identical_requests_with_one_key_make_one_payment,
    twenty_partial_refunds_at_once_never_exceed_what_was_captured,
    a_finalization_racing_the_pg_webhook_is_one_transition_and_one_store_webhook,
    a_store_webhook_that_always_fails_is_tried_four_times_then_failed_and_resent,
    during_a_rotation_both_secrets_sign_and_a_deleted_endpoint_gets_nothing,
    the_admin_lists_a_store_api_payment_with_its_history_and_resends_its_failed_webhook,
);

/// Several instances share one database on PostgreSQL only (SQLite: one instance).
mod postgres_instances {
    use crate::helpers::Db;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_instances_share_the_maintenance_and_each_payment_is_expired_once() {
        super::two_instances_share_the_maintenance_and_each_payment_is_expired_once(Db::Postgres).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn two_instances_racing_on_one_idempotency_key_execute_once() {
        super::two_instances_racing_on_one_idempotency_key_execute_once(Db::Postgres).await
    }
}
