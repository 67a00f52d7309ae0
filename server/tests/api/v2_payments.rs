//! The Store API v2's payment calls (SPEC §8.3), each happy path on both databases: an
//! intent paid through the PG's page, a manual capture, finalization by API, cancel in
//! each state, confirmation and delivery, one payment and the list.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{helpers::*, receiver::Receiver, v2_helpers::*};

const SECONDS: Duration = Duration::from_secs(10);

fn id_of(payment: &Value) -> String {
    payment["id"].as_str().unwrap().to_owned()
}

async fn an_intent_paid_at_the_pg_sends_the_buyer_to_the_store_and_tells_its_webhook(db: Db) {
    let app = spawn_app(db).await;
    let store = Receiver::start().await;
    let (endpoint, secret) = app.webhook_endpoint(&store.url("/hooks")).await;
    let intent = app.intent(json!({})).await;
    let id = id_of(&intent);
    assert_eq!((intent["status"].as_str(), intent["statusCode"].as_i64()), (Some("REQUEST"), Some(1)));
    assert_eq!(intent["paymentUrl"], app.url(&format!("/pay/{id}")).as_str());
    assert_eq!(intent["pgResponse"]["gateway"], "sandbox");
    assert_eq!(intent["pgResponse"]["publicKey"], "demo-app-public-key");
    assert!(intent["pgResponse"]["checkoutCode"].as_str().unwrap().starts_with("sbx_ord_"));
    assert_eq!((intent["amount"].as_i64(), intent["balanceAmount"].as_i64()), (Some(15000), Some(0)));
    assert_eq!(
        (intent["captureMethod"].as_str(), intent["finalization"].as_str()),
        (Some("automatic"), Some("webhook"))
    );
    assert_eq!(intent["metadata"], json!({"cart": "7"}));
    assert_eq!(intent["version"], 1);

    let back = app.buyer_pays(&intent, "approve").await;
    assert_eq!(back.path(), "/store/success");
    let params = query_map(&back);
    assert_eq!(
        (params["paymentId"].as_str(), params["orderId"].as_str()),
        (id.as_str(), intent["orderId"].as_str().unwrap())
    );
    let paid = app.v2_payment(&id).await;
    assert_eq!(
        (paid["status"].as_str(), paid["capturedAmount"].as_i64(), paid["balanceAmount"].as_i64()),
        (Some("COMPLETE"), Some(15000), Some(15000))
    );
    let kinds: Vec<_> = paid["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["payment.requested", "checkout.created", "payment.completed"]);

    // The store hears it once, signed with its endpoint's secret.
    store.wait_for("/hooks", 1, SECONDS).await;
    app.settled().await;
    let got = store.received("/hooks");
    assert_eq!(webhook_events(&got), [("payment.completed".to_owned(), id.clone(), paid["version"].as_i64().unwrap())]);
    let hook = &got[0];
    let event: Value = serde_json::from_str(&hook.body).unwrap();
    assert_eq!(hook.headers["webhook-id"], event["id"].as_str().unwrap());
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(event["data"]["status"], "COMPLETE");
    let timestamp = hook.headers["webhook-timestamp"].to_str().unwrap();
    let signature = hook.headers["webhook-signature"].to_str().unwrap();
    assert!(python_verifies(&secret, event["id"].as_str().unwrap(), timestamp, &hook.body, signature));
    assert!(!python_verifies(
        &secret,
        event["id"].as_str().unwrap(),
        timestamp,
        &hook.body.replace("15000", "1"),
        signature
    ));
    assert!(endpoint.starts_with("whe_"));
}

async fn a_manual_capture_takes_part_and_the_rest_is_released(db: Db) {
    let app = spawn_app(db).await;
    let intent = app.intent(json!({"captureMethod": "manual", "amount": 20000})).await;
    let id = id_of(&intent);
    app.buyer_pays(&intent, "approve").await;
    let authorized = app.v2_payment(&id).await;
    assert_eq!(
        (authorized["status"].as_str(), authorized["pendingReason"].as_str()),
        (Some("PENDING"), Some("capture"))
    );
    assert!(authorized["captureBefore"].as_str().is_some(), "the capture window is shown");

    let captured = app.v2_post(&format!("/api/v2/payments/{id}/capture"), &json!({"amount": 12000})).await;
    assert_eq!(captured.status, StatusCode::OK, "{}", captured.body);
    assert_eq!(
        (
            captured.body["status"].as_str(),
            captured.body["capturedAmount"].as_i64(),
            captured.body["balanceAmount"].as_i64()
        ),
        (Some("COMPLETE"), Some(12000), Some(12000))
    );
    // What was captured is what can be refunded.
    let refund = app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"amount": 12001, "reason": "r"})).await;
    assert_eq!(
        (refund.status, refund.body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("amount_too_large"))
    );
    let refund =
        app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"amount": 2000, "reason": "one item"})).await;
    assert_eq!(refund.status, StatusCode::OK, "{}", refund.body);
    app.settled().await;
    let after = app.v2_payment(&id).await;
    assert_eq!(
        (after["status"].as_str(), after["canceledAmount"].as_i64(), after["balanceAmount"].as_i64()),
        (Some("PARTIAL_CANCEL"), Some(2000), Some(10000))
    );
    assert_eq!(after["refunds"][0]["status"], "succeeded");
    let refund_id = after["refunds"][0]["id"].as_str().unwrap();
    assert!(refund_id.starts_with("ref_") && refund_id.len() == 36, "SPEC §8.1's prefix: {refund_id}");
    // A cancel without an amount refunds the whole balance.
    let rest = app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"reason": "all of it"})).await;
    assert_eq!(rest.status, StatusCode::OK, "{}", rest.body);
    app.settled().await;
    let done = app.v2_payment(&id).await;
    assert_eq!((done["status"].as_str(), done["balanceAmount"].as_i64()), (Some("CANCEL"), Some(0)));
}

async fn an_api_finalized_payment_waits_for_the_store_to_redeem_the_auth_data(db: Db) {
    let app = spawn_app(db).await;
    let intent = app.intent(json!({"finalization": "api"})).await;
    let id = id_of(&intent);
    let back = app.buyer_pays(&intent, "approve").await;
    let params = query_map(&back);
    assert_eq!((back.path(), params["paymentId"].as_str()), ("/store/success", id.as_str()));
    let auth_data = params["authData"].clone();
    assert_eq!(app.v2_payment(&id).await["status"], "REQUEST", "the PG only authenticated the buyer");

    let before = app.snapshot().await;
    let wrong = app.v2_post("/api/v2/payments", &json!({"paymentId": id, "authData": "sbx_auth_wrong"})).await;
    assert_eq!(
        (wrong.status, wrong.body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_auth_data"))
    );
    assert_eq!(app.snapshot().await, before, "a bad authData changes nothing");
    let done = app.v2_post("/api/v2/payments", &json!({"paymentId": id, "authData": auth_data})).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["status"], "COMPLETE");
    let again = app.v2_post("/api/v2/payments", &json!({"paymentId": id, "authData": auth_data})).await;
    assert_eq!((again.status, again.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("payment_finalized")));
    assert_eq!(again.body["error"]["status"], "COMPLETE", "the current status is said");

    // A decline is a payment in 4, not an error.
    let intent = app.intent(json!({"finalization": "api"})).await;
    let auth_data = query_map(&app.buyer_pays(&intent, "approve").await)["authData"].clone();
    let tid = intent["pgResponse"]["checkoutCode"].as_str().unwrap();
    app.sandbox_pg(&format!("/orders/{tid}/approve-outcome"), &[("outcome", "decline")]).await;
    let declined = app.v2_post("/api/v2/payments", &json!({"paymentId": id_of(&intent), "authData": auth_data})).await;
    assert_eq!(declined.status, StatusCode::OK, "{}", declined.body);
    assert_eq!(
        (declined.body["status"].as_str(), declined.body["failure"]["code"].as_str()),
        (Some("FAIL"), Some("declined"))
    );

    // A webhook-method payment is not finalized by API.
    let webhook_method = app.intent(json!({})).await;
    let mismatch =
        app.v2_post("/api/v2/payments", &json!({"paymentId": id_of(&webhook_method), "authData": "x"})).await;
    assert_eq!(
        (mismatch.status, mismatch.body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("finalization_mismatch"))
    );
}

async fn cancel_ends_an_intent_voids_an_authorization_and_refunds_a_payment(db: Db) {
    let app = spawn_app(db).await;
    // In 1: the intent is canceled, and its paymentUrl stops working.
    let intent = app.intent(json!({})).await;
    let id = id_of(&intent);
    let canceled = app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"reason": "changed mind"})).await;
    assert_eq!(canceled.status, StatusCode::OK, "{}", canceled.body);
    assert_eq!(
        (canceled.body["status"].as_str(), canceled.body["failure"]["code"].as_str()),
        (Some("FAIL"), Some("canceled"))
    );
    let page = app.client.get(app.url(&format!("/pay/{id}"))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::GONE);
    // The PG's checkout was closed too: the buyer can no longer pay there.
    let back = app.buyer_pays(&intent, "approve").await;
    assert_eq!((back.path(), query_map(&back)["code"].as_str()), ("/store/fail", "canceled"));
    assert_eq!(app.v2_payment(&id).await["status"], "FAIL");

    // Paid at the PG before the cancel (its word not yet here): the payment is paid, and
    // the cancel is refused.
    let intent = app.intent(json!({})).await;
    let id = id_of(&intent);
    let tid = intent["pgResponse"]["checkoutCode"].as_str().unwrap().to_owned();
    sqlx::query("UPDATE sandbox_pg_orders SET webhook_url = NULL WHERE code = $1")
        .bind(&tid)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    app.press(intent["pgResponse"]["checkoutUrl"].as_str().unwrap(), "approve").await;
    let late = app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"reason": "too late"})).await;
    assert_eq!(late.status, StatusCode::CONFLICT, "{}", late.body);
    assert_eq!(app.v2_payment(&id).await["status"], "COMPLETE", "what the PG did wins");

    // In 5: only the whole authorization is voided.
    let intent = app.intent(json!({"captureMethod": "manual"})).await;
    let id = id_of(&intent);
    app.buyer_pays(&intent, "approve").await;
    let partial = app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"amount": 100, "reason": "r"})).await;
    assert_eq!(
        (partial.status, partial.body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("partial_void_not_allowed"))
    );
    let voided = app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"reason": "out of stock"})).await;
    assert_eq!(voided.status, StatusCode::OK, "{}", voided.body);
    assert_eq!((voided.body["status"].as_str(), voided.body["statusCode"].as_i64()), (Some("PENDING_CANCEL"), Some(6)));
    let tid = intent["pgResponse"]["checkoutCode"].as_str().unwrap();
    let (at_pg,): (String,) = sqlx::query_as("SELECT status FROM sandbox_pg_orders WHERE code = $1")
        .bind(tid)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(at_pg, "voided", "released at the PG");
}

async fn a_confirmed_payment_cannot_be_canceled_and_delivery_leads_to_auto_confirmation(db: Db) {
    let app = spawn_app_with(db, &[("AUTO_CONFIRM_AFTER", "1s")]).await;
    let intent = app.intent(json!({})).await;
    let id = id_of(&intent);
    let early = app.v2_post(&format!("/api/v2/payments/{id}/confirm"), &json!({})).await;
    assert_eq!(early.status, StatusCode::CONFLICT, "unpaid: {}", early.body);
    app.buyer_pays(&intent, "approve").await;
    let confirmed = app.v2_post(&format!("/api/v2/payments/{id}/confirm"), &json!({})).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    let at = confirmed.body["confirmedAt"].clone();
    assert!(at.is_string());
    let again = app.v2_post(&format!("/api/v2/payments/{id}/confirm"), &json!({})).await;
    assert_eq!(
        (again.status, &again.body["confirmedAt"], &again.body["version"]),
        (StatusCode::OK, &at, &confirmed.body["version"]),
        "again: unchanged"
    );
    let cancel = app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"reason": "late"})).await;
    assert_eq!(
        (cancel.status, cancel.body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("payment_confirmed"))
    );

    // Delivered long enough ago: the maintenance worker confirms it.
    let intent = app.intent(json!({})).await;
    let id = id_of(&intent);
    app.buyer_pays(&intent, "approve").await;
    let delivered =
        app.v2_post(&format!("/api/v2/payments/{id}/delivery"), &json!({"deliveredAt": "2026-01-01T00:00:00Z"})).await;
    assert_eq!(delivered.status, StatusCode::OK, "{}", delivered.body);
    assert_eq!(delivered.body["deliveredAt"], "2026-01-01T00:00:00Z");
    assert!(delivered.body["confirmedAt"].is_null());
    let report = app.maintain().await;
    assert_eq!(report.confirmed, 1, "{report:?}");
    assert!(app.v2_payment(&id).await["confirmedAt"].is_string());
    assert_eq!(app.maintain().await.confirmed, 0, "once");
}

async fn unfinalized_intents_expire_and_lapsed_authorizations_are_voided(db: Db) {
    let app = spawn_app(db).await;
    let intent = app.intent(json!({})).await;
    let open = id_of(&intent);
    let authorization = app.intent(json!({"captureMethod": "manual"})).await;
    let authorized = id_of(&authorization);
    app.buyer_pays(&authorization, "approve").await;
    // Their time has come (set in the past rather than waited for).
    sqlx::query("UPDATE payments SET expires_at = 1 WHERE id = $1")
        .bind(&open)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE payments SET capture_before = 1 WHERE id = $1")
        .bind(&authorized)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let late = app.v2_post(&format!("/api/v2/payments/{authorized}/capture"), &json!({})).await;
    assert_eq!(
        (late.status, late.body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("authorization_expired"))
    );

    let report = app.maintain().await;
    assert_eq!((report.expired, report.voided), (1, 1), "{report:?}");
    let expired = app.v2_payment(&open).await;
    assert_eq!((expired["status"].as_str(), expired["failure"]["code"].as_str()), (Some("FAIL"), Some("expired")));
    let voided = app.v2_payment(&authorized).await;
    assert_eq!(
        (voided["status"].as_str(), voided["failure"]["code"].as_str()),
        (Some("PENDING_CANCEL"), Some("authorization_expired"))
    );
    let page = app.client.get(app.url(&format!("/pay/{open}"))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::GONE, "an expired intent's paymentUrl stops working");
    let again = app.maintain().await;
    assert_eq!((again.expired, again.voided), (0, 0), "each once");

    // The PG's own expiry of an authorization: a capture is refused.
    let authorization = app.intent(json!({"captureMethod": "manual"})).await;
    app.buyer_pays(&authorization, "approve").await;
    let tid = authorization["pgResponse"]["checkoutCode"].as_str().unwrap();
    app.sandbox_pg(&format!("/orders/{tid}/expire-authorization"), &[]).await;
    app.pg_settled().await;
    let id = id_of(&authorization);
    let refused = app.v2_post(&format!("/api/v2/payments/{id}/capture"), &json!({})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
}

async fn a_maintenance_worker_killed_half_way_leaves_the_payment_to_the_next_pass(db: Db) {
    let app = spawn_app(db).await;
    let intent = app.intent(json!({})).await;
    let open = id_of(&intent);
    let authorization = app.intent(json!({"captureMethod": "manual"})).await;
    let authorized = id_of(&authorization);
    app.buyer_pays(&authorization, "approve").await;
    sqlx::query("UPDATE payments SET expires_at = 1 WHERE id = $1")
        .bind(&open)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE payments SET capture_before = 1 WHERE id = $1")
        .bind(&authorized)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    // A worker took both and died: their leases hold them from the others…
    let store = &app.state.store;
    let taken = store.claim_for_maintenance(paybridge::store::MaintenanceJob::ExpireIntents, 10, 60_000).await.unwrap();
    assert_eq!(taken.len(), 1);
    store.claim_for_maintenance(paybridge::store::MaintenanceJob::ExpireAuthorizations, 10, 60_000).await.unwrap();
    // …after it voided the authorization at the PG but before it recorded that.
    let tid = authorization["pgResponse"]["checkoutCode"].as_str().unwrap();
    let pg = paybridge::gateway::sandbox::SandboxGateway::new(app.url("/sandbox-pg"), reqwest::Client::new());
    let credentials = paybridge::domain::MerchantCredentials {
        gateway: "sandbox".into(),
        public_key: "demo-app-public-key".into(),
        secret_key: PG_SECRET.into(),
        webhook_secret: None,
    };
    use paybridge::gateway::PaymentGateway;
    pg.void(&credentials, tid).await.unwrap();
    app.pg_settled().await;
    assert_eq!(app.maintain().await, Default::default(), "held by the dead worker's leases");

    // The leases run out: the next pass finishes both, once.
    sqlx::query("UPDATE payments SET worker_lease_until = 1").execute(store.pool()).await.unwrap();
    app.maintain().await;
    let expired = app.v2_payment(&open).await;
    assert_eq!((expired["status"].as_str(), expired["failure"]["code"].as_str()), (Some("FAIL"), Some("expired")));
    let voided = app.v2_payment(&authorized).await;
    assert_eq!(voided["status"], "PENDING_CANCEL");
    let count = |p: &Value, kind: &str| p["events"].as_array().unwrap().iter().filter(|e| e["type"] == kind).count();
    assert_eq!((count(&expired, "payment.failed"), count(&voided, "payment.voided")), (1, 1));
    assert_eq!(app.maintain().await, Default::default(), "nothing left");
}

async fn one_payment_has_its_history_and_the_list_pages_newest_first(db: Db) {
    let app = spawn_app(db).await;
    let mut ids = Vec::new();
    for customer in ["c-1", "c-2", "c-1"] {
        ids.push(id_of(&app.intent(json!({"customerId": customer})).await));
    }
    let page = app.v2_get("/api/v2/payments?limit=2").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let first: Vec<_> = page.body["data"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(
        (first.as_slice(), page.body["hasMore"].as_bool()),
        ([ids[2].clone(), ids[1].clone()].as_slice(), Some(true))
    );
    let next = app.v2_get(&format!("/api/v2/payments?limit=2&startingAfter={}", first[1])).await;
    let rest: Vec<_> = next.body["data"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!((rest, next.body["hasMore"].as_bool()), (vec![ids[0].clone()], Some(false)));
    let by_customer = app.v2_get("/api/v2/payments?customerId=c-1").await;
    assert_eq!(by_customer.body["data"].as_array().unwrap().len(), 2);
    let by_status = app.v2_get("/api/v2/payments?status=COMPLETE").await;
    assert!(by_status.body["data"].as_array().unwrap().is_empty());
    let bad = app.v2_get("/api/v2/payments?limit=101").await;
    assert_eq!((bad.status, bad.body["error"]["param"].as_str()), (StatusCode::BAD_REQUEST, Some("limit")));
}

async fn each_webhook_carries_the_id_of_the_payment_event_that_caused_it(db: Db) {
    let app = spawn_app(db).await;
    let (one, two) = (Receiver::start().await, Receiver::start().await);
    app.webhook_endpoint(&one.url("/hooks")).await;
    app.webhook_endpoint(&two.url("/hooks")).await;
    let intent = app.intent(json!({"captureMethod": "manual"})).await;
    let id = id_of(&intent);
    app.buyer_pays(&intent, "approve").await;
    let captured = app.v2_post(&format!("/api/v2/payments/{id}/capture"), &json!({})).await;
    assert_eq!(captured.status, StatusCode::OK, "{}", captured.body);
    // A refund the PG declines: its webhook is caused by the history's refund.refused.
    sqlx::query("UPDATE sandbox_pg_orders SET refunded_minor = captured_minor")
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let declined = app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"amount": 100, "reason": "r"})).await;
    assert_eq!(declined.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", declined.body);
    let confirmed = app.v2_post(&format!("/api/v2/payments/{id}/confirm"), &json!({})).await;
    assert_eq!(confirmed.status, StatusCode::OK, "{}", confirmed.body);
    one.wait_for("/hooks", 4, SECONDS).await;
    two.wait_for("/hooks", 4, SECONDS).await;
    app.settled().await;

    let history = app.v2_payment(&id).await["events"].clone();
    let event_id = |kind: &str| {
        let found: Vec<&str> = history
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["type"] == kind)
            .map(|e| e["id"].as_str().unwrap())
            .collect();
        assert_eq!(found.len(), 1, "one {kind} in {history}");
        found[0].to_owned()
    };
    let expected: Vec<(String, String)> = [
        ("payment.pending", "payment.authorized"),
        ("payment.completed", "payment.captured"),
        ("refund.failed", "refund.refused"),
        ("payment.confirmed", "payment.confirmed"),
    ]
    .iter()
    .map(|(webhook, event)| (webhook.to_string(), event_id(event)))
    .collect();
    for receiver in [&one, &two] {
        let got: Vec<(String, String)> = receiver
            .received("/hooks")
            .iter()
            .map(|hook| {
                let body: Value = serde_json::from_str(&hook.body).unwrap();
                let id = body["id"].as_str().unwrap().to_owned();
                assert_eq!(hook.headers["webhook-id"], id.as_str(), "the header is the body's id");
                (body["type"].as_str().unwrap().to_owned(), id)
            })
            .collect();
        assert_eq!(got, expected, "each webhook is the payment event that caused it, for every endpoint");
    }
}

/// After the mall is linked to another PG, a payment taken by the old one is refused
/// clearly (409), and its transaction is never sent to the new PG.
async fn a_payment_of_the_pg_a_mall_left_is_not_sent_to_its_new_pg(db: Db) {
    let (vars, guard) = environment(db, &[("STRIPE_API_BASE", "http://127.0.0.1:9")]).await;
    let app = start(vars, guard).await;
    let intent = app.intent(json!({})).await;
    let id = id_of(&intent);
    app.buyer_pays(&intent, "approve").await;
    assert_eq!(app.v2_payment(&id).await["status"], "COMPLETE");
    sqlx::query("UPDATE pg_credentials SET gateway = 'stripe' WHERE mall_id = 'demomall'")
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let before = app.snapshot().await;
    let refused = app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"reason": "r"})).await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "not 502 from asking the new PG: {}", refused.body);
    let message = refused.body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("taken by the payment company sandbox"), "{message}");
    assert_eq!(app.snapshot().await, before, "nothing was changed");
    assert_eq!(app.v2_payment(&id).await["status"], "COMPLETE");
}

crate::on_both_databases!(
    a_payment_of_the_pg_a_mall_left_is_not_sent_to_its_new_pg,
    each_webhook_carries_the_id_of_the_payment_event_that_caused_it,
    an_intent_paid_at_the_pg_sends_the_buyer_to_the_store_and_tells_its_webhook,
    a_manual_capture_takes_part_and_the_rest_is_released,
    an_api_finalized_payment_waits_for_the_store_to_redeem_the_auth_data,
    cancel_ends_an_intent_voids_an_authorization_and_refunds_a_payment,
    a_confirmed_payment_cannot_be_canceled_and_delivery_leads_to_auto_confirmation,
    unfinalized_intents_expire_and_lapsed_authorizations_are_voided,
    one_payment_has_its_history_and_the_list_pages_newest_first,
    a_maintenance_worker_killed_half_way_leaves_the_payment_to_the_next_pass,
);
