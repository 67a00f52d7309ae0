//! Asynchronous checkout (SPEC §4.2, §4.4): callback, PG webhook, and the payment noty
//! delivered through the outbox — once in effect, whatever arrives twice or at once.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::{helpers::*, receiver::Receiver};

/// Where the sandbox PG sends its webhooks (SPEC: PG webhooks by connector).
const WEBHOOK: &str = "/pg/sandbox/webhook";
const SECONDS: Duration = Duration::from_secs(10);

/// The webhook the sandbox PG would send for this payment.
fn order_webhook(payment: &paybridge::domain::Payment, status: &str, amount: i64, event_id: &str) -> Value {
    json!({
        "event_id": event_id,
        "type": "order",
        "reference": payment.id.as_str(),
        "order_code": payment.tid,
        "status": status,
        "amount": amount,
        "currency": "PHP",
    })
}

/// Makes every outbox insert fail inside its transaction (a database fault after the
/// payment's UPDATE); [`heal_outbox`] removes it.
async fn break_outbox(app: &TestApp, db: Db) {
    let statements: &[&str] = match db {
        Db::Sqlite => {
            &["CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'injected fault'); END"]
        }
        Db::Postgres => &[
            "CREATE OR REPLACE FUNCTION fail_outbox() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected fault'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER fail_outbox BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION fail_outbox()",
        ],
    };
    for sql in statements {
        sqlx::query(sql).execute(app.state.store.pool()).await.unwrap();
    }
}

async fn heal_outbox(app: &TestApp, db: Db) {
    let sql = match db {
        Db::Sqlite => "DROP TRIGGER fail_outbox",
        Db::Postgres => "DROP TRIGGER fail_outbox ON outbox",
    };
    sqlx::query(sql).execute(app.state.store.pool()).await.unwrap();
}

fn completed_events(events: &[paybridge::store::PaymentEventRow]) -> usize {
    events.iter().filter(|e| e.kind == "payment.completed").count()
}

async fn an_async_checkout_sends_one_payment_noty(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let order_id = unique_order_id();
    let payment_url = app.request_async_payment(&order_id, "3065.00", &cafe24.url("/noty")).await;

    let callback = app.press(&payment_url, "approve").await;
    let response = app.client.get(callback).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let back = query_map(&location(&response));
    assert_eq!(back["result_code"], "0000");
    assert!(!back.contains_key("key"), "the asynchronous return carries no key");

    let notys = cafe24.wait_for("/noty", 1, SECONDS).await;
    let noty = &notys[0].fields;
    let payment = app.payment(&order_id).await;
    let tid = payment.tid.clone().unwrap();
    assert_eq!(noty["request_type"], "payment");
    assert_eq!(noty["payed_tf"], "T");
    assert_eq!(noty["result_code"], "0000");
    assert_eq!(noty["amount"], "3065.00");
    assert_eq!(noty["order_id"], order_id);
    assert_eq!(noty["tid"], tid);
    assert_eq!(noty["partner_id"], PARTNER_ID);
    assert_eq!(noty["hash_data"], sign(&["3065.00", "PHP", &order_id, PARTNER_ID, &tid]));
    assert_eq!(serde_json::from_str::<Value>(&noty["extra_data"]).unwrap()["orderId"], order_id.as_str());

    // The sandbox's webhook and our callback both reported it: still one of each.
    app.settled().await;
    assert_eq!(cafe24.received("/noty").len(), 1);
    let events = app.state.store.payment_events(&payment.id).await.unwrap();
    assert_eq!(completed_events(&events), 1);
    let outbox = app.state.store.outbox_messages(&payment.id).await.unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!((outbox[0].status.as_str(), outbox[0].attempts), ("delivered", 1));
}

async fn a_deposit_sends_a_pending_noty_then_a_paid_one(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let order_id = unique_order_id();
    let payment_url = app.request_async_payment(&order_id, "500.00", &cafe24.url("/noty")).await;
    let callback = app.press(&payment_url, "deposit").await;
    let response = app.client.get(callback).send().await.unwrap();
    assert_eq!(query_map(&location(&response))["result_code"], "0000", "pending is 0000 in the async flow");

    let first = cafe24.wait_for("/noty", 1, SECONDS).await;
    assert_eq!(first[0].fields["request_type"], "payment");
    assert_eq!(first[0].fields["payed_tf"], "F");
    assert_eq!(app.payment(&order_id).await.status.code(), 5);

    let tid = app.payment(&order_id).await.tid.unwrap();
    let response = app.client.post(app.url(&format!("/sandbox-pg/orders/{tid}/deposit"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let both = cafe24.wait_for("/noty", 2, SECONDS).await;
    assert_eq!(both[1].fields["request_type"], "notification");
    assert_eq!(both[1].fields["payed_tf"], "T");
    assert_eq!(both[1].fields["result_code"], "0000");
    assert_eq!(app.payment(&order_id).await.status.code(), 2);

    // A second deposit is refused by the sandbox and changes nothing here.
    let response = app.client.post(app.url(&format!("/sandbox-pg/orders/{tid}/deposit"))).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::CONFLICT);
    app.settled().await;
    assert_eq!(cafe24.received("/noty").len(), 2);
}

async fn declined_and_abandoned_payments_are_notified_as_such(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    for (button, code) in [("decline", "0001"), ("cancel", "9999")] {
        let order_id = unique_order_id();
        let path = format!("/noty-{button}");
        let payment_url = app.request_async_payment(&order_id, "100.00", &cafe24.url(&path)).await;
        let callback = app.press(&payment_url, button).await;
        let response = app.client.get(callback).send().await.unwrap();
        assert_eq!(query_map(&location(&response))["result_code"], code, "{button}");
        let notys = cafe24.wait_for(&path, 1, SECONDS).await;
        assert_eq!((notys[0].fields["payed_tf"].as_str(), notys[0].fields["result_code"].as_str()), ("F", code));
        assert_eq!(app.payment(&order_id).await.status.code(), 4);
    }
}

async fn fifty_duplicate_webhooks_at_once_make_one_transition_and_one_noty(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let order_id = unique_order_id();
    app.request_async_payment(&order_id, "3065.00", &cafe24.url("/noty")).await;
    let payment = app.payment(&order_id).await;
    let webhook = order_webhook(&payment, "paid", 306500, "evt-duplicated");
    let answers = futures::future::join_all((0..50).map(|_| app.post_webhook(WEBHOOK, &webhook, PG_SECRET))).await;
    for (status, body) in answers {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    cafe24.wait_for("/noty", 1, SECONDS).await;
    app.settled().await;
    assert_eq!(cafe24.received("/noty").len(), 1);
    let events = app.state.store.payment_events(&payment.id).await.unwrap();
    assert_eq!(completed_events(&events), 1);
    assert_eq!(app.state.store.outbox_messages(&payment.id).await.unwrap().len(), 1);

    // The sandbox PG's own redelivery switch, after a real approval, changes nothing either.
    let other = unique_order_id();
    let payment_url = app.request_async_payment(&other, "10.00", &cafe24.url("/other")).await;
    app.press(&payment_url, "approve").await;
    cafe24.wait_for("/other", 1, SECONDS).await;
    let tid = app.payment(&other).await.tid.unwrap();
    let response =
        app.client.post(app.url(&format!("/sandbox-pg/orders/{tid}/webhooks/resend?times=50"))).send().await.unwrap();
    let report: Value = response.json().await.unwrap();
    assert_eq!(report["statuses"].as_array().unwrap().len(), 50);
    assert!(report["statuses"].as_array().unwrap().iter().all(|s| s == 200), "{report}");
    app.settled().await;
    assert_eq!(cafe24.received("/other").len(), 1);
}

async fn callback_and_webhook_at_the_same_moment_for_200_payments(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let noty_url = cafe24.url("/noty");
    let mut orders = Vec::new();
    for _ in 0..200 {
        let order_id = unique_order_id();
        let payment_url = app.request_async_payment(&order_id, "12.34", &noty_url).await;
        orders.push((order_id, payment_url));
    }
    // Approving makes the sandbox send its webhook at once; the buyer's callback races it.
    let races = orders.iter().map(|(_, payment_url)| async {
        let callback = app.press(payment_url, "approve").await;
        let response = app.client.get(callback).send().await.unwrap();
        assert_eq!(query_map(&location(&response))["result_code"], "0000");
    });
    futures::future::join_all(races).await;

    let notys = cafe24.wait_for("/noty", 200, Duration::from_secs(60)).await;
    app.settled().await;
    assert_eq!(cafe24.received("/noty").len(), 200, "no duplicate noty");
    let mut seen: Vec<&str> = notys.iter().map(|n| n.fields["order_id"].as_str()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 200);
    assert_eq!(app.count_where("payment_events", "kind = 'payment.completed'").await, 200);
    assert_eq!(app.count("outbox").await, 200);
    assert_eq!(cafe24.overlaps(), 0);
}

async fn pg_webhooks_are_routed_by_connector_and_the_old_paths_stay_as_aliases(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let order_id = unique_order_id();
    app.request_async_payment(&order_id, "3065.00", &cafe24.url("/noty")).await;
    let payment = app.payment(&order_id).await;
    let tid = payment.tid.clone().unwrap();
    // The checkout told the PG where its webhooks go.
    let (webhook_url,): (Option<String>,) = sqlx::query_as("SELECT webhook_url FROM sandbox_pg_orders WHERE code = $1")
        .bind(&tid)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(webhook_url.as_deref(), Some(app.url(WEBHOOK).as_str()));

    let before = app.snapshot().await;
    let paid = order_webhook(&payment, "paid", 306500, "evt-route-1");
    let (status, body) = app.post_webhook("/pg/no-such-pg/webhook", &paid, PG_SECRET).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(app.snapshot().await, before, "an unknown connector changes nothing");

    // The Cafe24-era paths still take the sandbox PG's webhooks, of either kind.
    for path in [
        "/api/asynchronous-checkout/checkout/webhook",
        "/api/asynchronous-cancellation/cancel/webhook",
        "/api/asynchronous-refund/cancel/webhook",
    ] {
        let (status, body) = app.post_webhook(path, &paid, PG_SECRET).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(body["message"], "kept");
    }
    assert_eq!(app.payment(&order_id).await.status.code(), 2);
    assert_eq!(completed_events(&app.state.store.payment_events(&payment.id).await.unwrap()), 1, "applied once");
    cafe24.wait_for("/noty", 1, SECONDS).await;
}

async fn bad_webhooks_change_nothing_and_send_nothing(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let order_id = unique_order_id();
    app.request_async_payment(&order_id, "3065.00", &cafe24.url("/noty")).await;
    let payment = app.payment(&order_id).await;
    let good = order_webhook(&payment, "paid", 306500, "evt-1");
    let before = app.snapshot().await;

    let (status, _) = app.post_webhook(WEBHOOK, &good, "not-the-merchant-secret").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "bad signature");

    // Without a signature the body is only a notice; the PG, asked, says the order is open.
    let (status, body) = app.post_unsigned_webhook(WEBHOOK, &good).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["message"], "nothing to do yet", "unsigned: the PG's answer, not the body");

    // Signed, then the amount changed on the way.
    let signed_body = good.to_string();
    let signature =
        paybridge::gateway::sandbox::sign_webhook(PG_SECRET, paybridge::store::now_ms() / 1000, signed_body.as_bytes());
    let tampered = signed_body.replace("306500", "1");
    let response = app
        .client
        .post(app.url(WEBHOOK))
        .header("content-type", "application/json")
        .header(paybridge::gateway::sandbox::SIGNATURE_HEADER, signature)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "tampered after signing");

    let mut unknown = good.clone();
    unknown["reference"] = json!("pay_unknown");
    let (status, _) = app.post_webhook(WEBHOOK, &unknown, PG_SECRET).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "unknown payment");

    let mut other_tid = good.clone();
    other_tid["order_code"] = json!("sbx_ord_someone_else");
    let (status, _) = app.post_webhook(WEBHOOK, &other_tid, PG_SECRET).await;
    assert_eq!(status, StatusCode::CONFLICT, "another transaction");

    let (status, _) = app.post_raw(WEBHOOK, "application/json", b"{not json".to_vec()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "unreadable");

    assert_eq!(app.snapshot().await, before, "nothing changed");

    // Validly signed by the PG, but for another amount: refused by the payment itself.
    // The refusal is logged in the payment's history (SPEC §3: "refused and logged, never
    // applied"); nothing else moves.
    let (status, body) = app.post_webhook(WEBHOOK, &order_webhook(&payment, "paid", 100, "evt-2"), PG_SECRET).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let after = app.payment(&order_id).await;
    assert_eq!((after.status.code(), after.amount.minor, after.cancelled_minor), (1, 306500, 0));
    assert_eq!((app.cafe24_amount_text(&order_id).await.as_str(), after.updated_at), ("3065.00", payment.updated_at));
    let mut one_more_event = before;
    one_more_event[1] += 1;
    assert_eq!(app.snapshot().await, one_more_event, "only the refusal was recorded");
    // An authorization of another amount is refused the same way.
    let (status, body) =
        app.post_webhook(WEBHOOK, &order_webhook(&payment, "authorized", 100, "evt-3"), PG_SECRET).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(app.payment(&order_id).await.status.code(), 1, "not authorized");
    one_more_event[1] += 1;
    assert_eq!(app.snapshot().await, one_more_event, "only the refusal was recorded");
    let events = app.state.store.payment_events(&payment.id).await.unwrap();
    assert_eq!(
        events.last().unwrap().detail.as_deref(),
        Some("payment.authorized: the payment company reports 1.00 PHP, but the payment is for 3065.00 PHP")
    );
    let refusal = &events[events.len() - 2];
    assert_eq!(refusal.kind, "transition.refused");
    assert_eq!((refusal.from_status, refusal.to_status, refusal.amount_minor), (Some(1), None, None));
    assert_eq!(refusal.source, "gateway");
    assert_eq!(
        refusal.detail.as_deref(),
        Some("payment.completed: the payment company reports 1.00 PHP, but the payment is for 3065.00 PHP")
    );
    assert!(app.state.store.outbox_messages(&payment.id).await.unwrap().is_empty(), "no noty queued");

    app.settled().await;
    assert!(cafe24.received("/noty").is_empty(), "nothing sent");
}

/// The PG's event ids of the payment's `payment.completed` events.
async fn completed_event_ids(app: &TestApp, payment_id: &str) -> Vec<Option<String>> {
    sqlx::query_as::<_, (Option<String>,)>(
        "SELECT source_event_id FROM payment_events WHERE payment_id = $1 AND kind = 'payment.completed'",
    )
    .bind(payment_id)
    .fetch_all(app.state.store.pool())
    .await
    .unwrap()
    .into_iter()
    .map(|(id,)| id)
    .collect()
}

async fn an_unsigned_webhook_is_checked_with_the_pg_and_its_body_ignored(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let order_id = unique_order_id();
    let payment_url = app.request_async_payment(&order_id, "3065.00", &cafe24.url("/noty")).await;
    let payment = app.payment(&order_id).await;
    let tid = payment.tid.clone().unwrap();
    // The sandbox PG plays a PG without webhook signatures for this order.
    app.sandbox_pg(&format!("/orders/{tid}/webhook-signing"), &[("signing", "off")]).await;
    let before = app.snapshot().await;

    // The body claims paid; asked, the PG says the order is still open.
    let lie = order_webhook(&payment, "paid", 306500, "evt-lie");
    let (status, body) = app.post_unsigned_webhook(WEBHOOK, &lie).await;
    assert_eq!((status, &body["message"]), (StatusCode::OK, &json!("nothing to do yet")), "{body}");
    assert_eq!(app.snapshot().await, before, "nothing changed");
    assert_eq!(app.payment(&order_id).await.status.code(), 1);

    // The buyer approves and never comes back: only the PG's unsigned webhook tells us.
    app.press(&payment_url, "approve").await;
    let notys = cafe24.wait_for("/noty", 1, SECONDS).await;
    assert_eq!((notys[0].fields["payed_tf"].as_str(), notys[0].fields["amount"].as_str()), ("T", "3065.00"));
    assert_eq!(app.payment(&order_id).await.status.code(), 2);
    assert_eq!(
        completed_event_ids(&app, payment.id.as_str()).await,
        [Some(format!("{tid}:Paid"))],
        "applied from the PG's answer (a signed webhook would carry the PG's event id)"
    );

    // The PG's redeliveries, and a notice that now lies the other way, change nothing.
    let report = app.sandbox_pg(&format!("/orders/{tid}/webhooks/resend"), &[("times", "20")]).await;
    assert_eq!(report["signed"], false, "the PG sends this order's webhooks unsigned");
    assert!(report["statuses"].as_array().unwrap().iter().all(|s| s == 200), "{report}");
    let (status, body) = app.post_unsigned_webhook(WEBHOOK, &order_webhook(&payment, "declined", 1, "evt-lie-2")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.settled().await;
    assert_eq!(cafe24.received("/noty").len(), 1, "one noty");
    assert_eq!(app.payment(&order_id).await.status.code(), 2);
    assert_eq!(completed_event_ids(&app, payment.id.as_str()).await.len(), 1, "one transition");
    assert_eq!(app.state.store.outbox_messages(&payment.id).await.unwrap().len(), 1);
}

async fn a_database_error_after_the_state_change_commits_nothing(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let order_id = unique_order_id();
    app.request_async_payment(&order_id, "3065.00", &cafe24.url("/noty")).await;
    let payment = app.payment(&order_id).await;
    break_outbox(&app, db).await;
    let before = app.snapshot().await;
    let webhook = order_webhook(&payment, "paid", 306500, "evt-fault");
    let (status, body) = app.post_webhook(WEBHOOK, &webhook, PG_SECRET).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}: the PG must retry");
    assert_eq!(app.snapshot().await, before);
    assert_eq!(app.payment(&order_id).await.status.code(), 1, "the state change was rolled back");
    assert_eq!(app.count("outbox").await, 0);

    heal_outbox(&app, db).await;
    let (status, body) = app.post_webhook(WEBHOOK, &webhook, PG_SECRET).await;
    assert_eq!(status, StatusCode::OK, "{body}: the PG's retry is kept");
    assert_eq!(app.payment(&order_id).await.status.code(), 2);
    cafe24.wait_for("/noty", 1, SECONDS).await;
}

async fn the_sandbox_pg_sends_again_a_webhook_we_did_not_keep(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let order_id = unique_order_id();
    let payment_url = app.request_async_payment(&order_id, "3065.00", &cafe24.url("/noty")).await;
    break_outbox(&app, db).await;
    // The buyer approves but never comes back: only the webhook can tell us.
    app.press(&payment_url, "approve").await;
    let tid = app.payment(&order_id).await.tid.unwrap();
    app.wait_rows("sandbox_pg_orders", &format!("code = '{tid}' AND webhook_attempts >= 1"), 1, SECONDS).await;
    assert_eq!(app.payment(&order_id).await.status.code(), 1, "the first delivery was not kept");
    heal_outbox(&app, db).await;
    cafe24.wait_for("/noty", 1, SECONDS).await;
    assert_eq!(app.payment(&order_id).await.status.code(), 2, "a retry was kept");
}

crate::on_both_databases!(
    pg_webhooks_are_routed_by_connector_and_the_old_paths_stay_as_aliases,
    the_sandbox_pg_sends_again_a_webhook_we_did_not_keep,
    an_async_checkout_sends_one_payment_noty,
    a_deposit_sends_a_pending_noty_then_a_paid_one,
    declined_and_abandoned_payments_are_notified_as_such,
    fifty_duplicate_webhooks_at_once_make_one_transition_and_one_noty,
    callback_and_webhook_at_the_same_moment_for_200_payments,
    bad_webhooks_change_nothing_and_send_nothing,
    an_unsigned_webhook_is_checked_with_the_pg_and_its_body_ignored,
    a_database_error_after_the_state_change_commits_nothing,
);
