//! The outbox and its worker (SPEC §5): retries, giving up, shutdown, a killed process,
//! and several instances sharing one PostgreSQL.

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use paybridge::store::{now_ms, Store};

use crate::{
    helpers::*,
    receiver::{Plan, Received, Receiver},
};

const SECONDS: Duration = Duration::from_secs(10);
const QUICK_RETRIES: (&str, &str) = ("NOTIFY_RETRY_DELAYS", "100ms,100ms,100ms");

async fn paid_async(app: &TestApp, noty_url: &str) -> String {
    let order_id = unique_order_id();
    let payment_url = app.request_async_payment(&order_id, "77.00", noty_url).await;
    app.press(&payment_url, "approve").await;
    order_id
}

async fn with_the_worker_off_nothing_is_sent_until_a_pass_runs(db: Db) {
    let app = spawn_app_with(db, &[("NOTIFY_WORKER", "off")]).await;
    let cafe24 = Receiver::start().await;
    let order_id = paid_async(&app, &cafe24.url("/noty")).await;
    app.pg_settled().await;
    let payment = app.payment(&order_id).await;
    assert_eq!(payment.status.code(), 2, "the PG's webhook was kept");
    let queued = app.state.store.outbox_messages(&payment.id).await.unwrap();
    assert_eq!((queued.len(), queued[0].status.as_str()), (1, "pending"));
    assert!(cafe24.received("/noty").is_empty(), "no worker, no delivery");

    assert_eq!(app.deliver_due().await, 1, "one pass takes the one due noty");
    assert_eq!(cafe24.received("/noty").len(), 1);
    assert_eq!(app.state.store.outbox_messages(&payment.id).await.unwrap()[0].status, "delivered");
    assert_eq!(app.deliver_due().await, 0, "and nothing more");
    assert_eq!(cafe24.received("/noty").len(), 1);
}

async fn a_noty_failing_twice_is_delivered_on_the_third_attempt(db: Db) {
    let app = spawn_app_with(db, &[QUICK_RETRIES]).await;
    let cafe24 = Receiver::start().await;
    cafe24.plan("/noty", Plan::FailTimes(2));
    let order_id = paid_async(&app, &cafe24.url("/noty")).await;
    let got = cafe24.wait_for("/noty", 3, SECONDS).await;
    assert!(got.iter().all(|r| r.body == got[0].body), "the same content on every attempt");
    let payment = app.payment(&order_id).await;
    app.wait_rows("outbox", "status = 'delivered'", 1, SECONDS).await;
    let message = &app.state.store.outbox_messages(&payment.id).await.unwrap()[0];
    assert_eq!((message.status.as_str(), message.attempts), ("delivered", 3));
    let outcomes: Vec<String> =
        app.state.store.outbox_attempts().await.unwrap().into_iter().map(|a| a.outcome).collect();
    assert_eq!(outcomes, ["failed", "failed", "delivered"]);
    app.settled().await;
    assert_eq!(cafe24.received("/noty").len(), 3);
}

async fn one_payments_notys_arrive_in_the_order_they_were_caused(db: Db) {
    let app = spawn_app_with(db, &[("NOTIFY_RETRY_DELAYS", "700ms,100ms,100ms")]).await;
    let cafe24 = Receiver::start().await;
    cafe24.plan("/noty", Plan::FailTimes(1));
    let order_id = unique_order_id();
    let payment_url = app.request_async_payment(&order_id, "500.00", &cafe24.url("/noty")).await;
    app.press(&payment_url, "deposit").await;
    cafe24.wait_for("/noty", 1, SECONDS).await;
    // The pending noty failed and waits for its retry; the money arrives meanwhile.
    let tid = app.payment(&order_id).await.tid.unwrap();
    app.client.post(app.url(&format!("/sandbox-pg/orders/{tid}/deposit"))).send().await.unwrap();
    let got = cafe24.wait_for("/noty", 3, SECONDS).await;
    let kinds: Vec<(&str, &str)> =
        got.iter().map(|r| (r.fields["request_type"].as_str(), r.fields["payed_tf"].as_str())).collect();
    assert_eq!(kinds, [("payment", "F"), ("payment", "F"), ("notification", "T")]);
}

/// Cafe24's notys of one payment keep their order though they go to different URLs (the
/// payment noty to `return_noty_url`, the `cancelnoty` to `cancel_noty_url`): Cafe24 is one
/// receiver.
async fn a_cancelnoty_waits_behind_its_payments_noty_sent_to_another_url(db: Db) {
    let app = spawn_app_with(db, &[("NOTIFY_RETRY_DELAYS", "1h,1h,1h")]).await;
    let cafe24 = Receiver::start().await;
    cafe24.plan("/noty", Plan::FailTimes(1));
    let order_id = unique_order_id();
    let payment_url = app.request_async_payment(&order_id, "500.00", &cafe24.url("/noty")).await;
    app.press(&payment_url, "approve").await;
    cafe24.wait_for("/noty", 1, SECONDS).await;
    let tid = app.payment(&order_id).await.tid.unwrap();
    let mut cancel = cancel_request(&order_id, &tid, "500.00", None);
    cancel["amount"] = serde_json::json!("500.00");
    cancel["cancel_noty_url"] = serde_json::json!(cafe24.url("/cancel-noty"));
    let (status, body) = app.post_json("/api/asynchronous-cancellation/cancel", &cancel).await;
    assert_eq!((status, &body["result_code"]), (reqwest::StatusCode::OK, &serde_json::json!("0000")), "{body}");
    app.wait_rows("outbox", "kind LIKE '%cancel%'", 1, SECONDS).await;
    app.settled().await;
    assert_eq!(cafe24.received("/cancel-noty").len(), 0, "the cancelnoty waits for the payment noty's retry");
    assert_eq!(app.count_where("outbox", "status = 'pending'").await, 2);
}

async fn a_noty_that_never_succeeds_is_tried_four_times_then_reported(db: Db) {
    let app = spawn_app_with(db, &[QUICK_RETRIES]).await;
    let cafe24 = Receiver::start().await;
    cafe24.plan("/down", Plan::AlwaysFail);
    cafe24.plan("/wrong", Plan::WrongAnswer);
    let down = paid_async(&app, &cafe24.url("/down")).await;
    let wrong = paid_async(&app, &cafe24.url("/wrong")).await;
    app.wait_rows("outbox", "status = 'failed'", 2, SECONDS).await;
    app.settled().await;
    assert_eq!(cafe24.received("/down").len(), 4, "one attempt and three retries");
    assert_eq!(cafe24.received("/wrong").len(), 4, "a 200 without {{\"result\":\"OK\"}} is not taken");
    for order_id in [down, wrong] {
        let payment = app.payment(&order_id).await;
        let message = &app.state.store.outbox_messages(&payment.id).await.unwrap()[0];
        assert_eq!((message.status.as_str(), message.attempts), ("failed", 4));
        assert!(message.last_error.is_some());
        let events = app.state.store.payment_events(&payment.id).await.unwrap();
        let failed: Vec<_> = events.iter().filter(|e| e.kind == "notification.failed").collect();
        assert_eq!(failed.len(), 1, "reported once");
        assert!(failed[0].detail.as_deref().unwrap().contains("4 attempts"));
    }
}

/// One recorded delivery attempt: HTTP status, outcome, error, and how long it took.
#[derive(Debug, sqlx::FromRow)]
struct Attempt {
    http_status: Option<i64>,
    outcome: String,
    error: Option<String>,
    millis: i64,
}

async fn attempts(app: &TestApp) -> Vec<Attempt> {
    sqlx::query_as(
        "SELECT http_status, outcome, error, finished_at - started_at AS millis FROM outbox_attempts \
         ORDER BY started_at, attempt",
    )
    .fetch_all(app.state.store.pool())
    .await
    .unwrap()
}

/// A paid payment whose noty target misbehaves (`plan`) for the first attempt, then
/// recovers: returns the order and what the target received once the noty is delivered.
async fn noty_to_a_target_failing_once(
    app: &TestApp,
    cafe24: &Receiver,
    path: &str,
    plan: Plan,
) -> (String, Vec<Received>) {
    cafe24.plan(path, plan);
    let order_id = paid_async(app, &cafe24.url(path)).await;
    cafe24.wait_for(path, 1, SECONDS).await;
    cafe24.recover(path);
    app.wait_rows("outbox", "status = 'delivered'", 1, SECONDS).await;
    (order_id, cafe24.received(path))
}

async fn a_noty_answered_with_a_redirect_is_not_followed_and_is_retried(db: Db) {
    let app = spawn_app_with(db, &[("NOTIFY_RETRY_DELAYS", "1s,100ms,100ms")]).await;
    let cafe24 = Receiver::start().await;
    let (order_id, got) = noty_to_a_target_failing_once(&app, &cafe24, "/moved", Plan::RedirectTo("/elsewhere")).await;
    assert_eq!(got.len(), 2, "the redirect counted as a failed attempt, and the retry went to the same URL");
    assert_eq!(got[0].body, got[1].body);
    app.settled().await;
    assert!(cafe24.received("/elsewhere").is_empty(), "the redirect was never followed");
    let log = attempts(&app).await;
    assert_eq!(
        log.iter().map(|a| (a.http_status, a.outcome.as_str(), a.error.as_deref())).collect::<Vec<_>>(),
        [(Some(307), "failed", Some("answered HTTP 307")), (Some(200), "delivered", None)]
    );
    let message = &app.state.store.outbox_messages(&app.payment(&order_id).await.id).await.unwrap()[0];
    assert_eq!((message.status.as_str(), message.attempts), ("delivered", 2));
}

async fn a_noty_target_that_hangs_is_timed_out_and_retried(db: Db) {
    // Deliveries time out at half the lease: 1 s here; the receiver would answer after 30 s.
    let app = spawn_app_with(db, &[("NOTIFY_LEASE", "2s"), QUICK_RETRIES]).await;
    let cafe24 = Receiver::start().await;
    let (order_id, got) =
        noty_to_a_target_failing_once(&app, &cafe24, "/slow", Plan::Hang(Duration::from_secs(30))).await;
    assert_eq!(got.len(), 2, "given up on, then tried again");
    assert_eq!(got[0].body, got[1].body);
    let gap = got[1].at - got[0].at;
    assert!(gap >= Duration::from_millis(1100), "the retry came after the timeout and the retry delay: {gap:?}");
    assert!(gap < Duration::from_secs(5), "the hanging attempt was not waited out: {gap:?}");
    let log = attempts(&app).await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(
        (log[0].http_status, log[0].outcome.as_str(), log[0].error.as_deref()),
        (None, "failed", Some("timed out"))
    );
    assert!((1000..3000).contains(&log[0].millis), "recorded as failed at the 1 s timeout: {log:?}");
    assert_eq!(log[1].outcome, "delivered");
    let message = &app.state.store.outbox_messages(&app.payment(&order_id).await.id).await.unwrap()[0];
    assert_eq!((message.status.as_str(), message.attempts), ("delivered", 2));
}

async fn shutdown_finishes_deliveries_in_flight_and_releases_the_rest(db: Db) {
    let mut app = spawn_app_with(db, &[QUICK_RETRIES]).await;
    let cafe24 = Receiver::start().await;
    cafe24.answer_after(Duration::from_millis(800));
    for _ in 0..5 {
        paid_async(&app, &cafe24.url("/noty")).await;
    }
    app.wait_rows("outbox", "1 = 1", 5, SECONDS).await;
    cafe24.wait_in_flight(1, SECONDS).await;
    app.stop().await;
    let store = app.connect_store().await;
    let count = |condition: &'static str| {
        let store = store.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM outbox WHERE {condition}"))
                .fetch_one(store.pool())
                .await
                .unwrap();
            n
        }
    };
    assert_eq!(count("lease_owner IS NOT NULL").await, 0, "no lease is left held");
    assert!(count("status = 'delivered'").await >= 1, "the deliveries in flight were finished");
    store.close().await;

    cafe24.answer_after(Duration::ZERO);
    let next = app.sibling(&[]).await;
    next.wait_rows("outbox", "status = 'delivered'", 5, SECONDS).await;
    let orders: HashSet<String> = cafe24.received("/noty").into_iter().map(|r| r.fields["order_id"].clone()).collect();
    assert_eq!(orders.len(), 5);
}

async fn a_killed_server_loses_no_notification(db: Db) {
    // Deliveries time out at half the lease; the receiver answers well inside that.
    let (vars, _db) =
        environment(db, &[("NOTIFY_LEASE", "8s"), ("NOTIFY_RETRY_DELAYS", "200ms,200ms,200ms"), ("RUST_LOG", "error")])
            .await;
    let cafe24 = Receiver::start().await;
    cafe24.answer_after(Duration::from_millis(2500));
    // The notifications are queued by an instance that delivers none, so how many are
    // delivered at the kill does not depend on how fast 40 payments are made.
    let mut queueing = vars.clone();
    queueing.insert("NOTIFY_WORKER".into(), "off".into());
    let (mut queuer, base) = start_process(&queueing, std::process::Stdio::null()).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    for _ in 0..40 {
        let order_id = unique_order_id();
        let mut body = payment_request(&order_id, "20.00");
        body["return_noty_url"] = serde_json::json!(cafe24.url("/noty"));
        let answer: serde_json::Value = client
            .post(base.join("/api/asynchronous-checkout/checkout").unwrap())
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let payment_url = answer["payment_url"].as_str().unwrap();
        let response = client.post(format!("{payment_url}/approve")).send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::SEE_OTHER);
    }
    let store = Store::connect(&vars["DATABASE_URL"]).await.unwrap();
    let deadline = Instant::now() + SECONDS;
    loop {
        let (queued,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox").fetch_one(store.pool()).await.unwrap();
        if queued == 40 {
            break;
        }
        assert!(Instant::now() < deadline, "only {queued} of 40 notifications queued");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    queuer.kill().unwrap();
    queuer.wait().unwrap();

    // The server that is killed: it takes a batch of deliveries, and dies while they
    // wait for their answers.
    let (mut first, _) = start_process(&vars, std::process::Stdio::null()).await;
    cafe24.wait_in_flight(10, SECONDS).await;
    let (undelivered,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE status <> 'delivered'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(undelivered >= 30, "{undelivered} notifications queued or in flight at the kill");
    first.kill().unwrap(); // SIGKILL
    first.wait().unwrap();

    cafe24.answer_after(Duration::from_millis(100));
    let (mut second, _) = start_process(&vars, std::process::Stdio::null()).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (delivered,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE status = 'delivered'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        if delivered == 40 {
            break;
        }
        assert!(Instant::now() < deadline, "only {delivered} of 40 delivered after the restart");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    second.kill().unwrap();
    second.wait().unwrap();

    let bodies: Vec<(String,)> = sqlx::query_as("SELECT body FROM outbox").fetch_all(store.pool()).await.unwrap();
    let queued: HashSet<String> = bodies.into_iter().map(|(b,)| b).collect();
    let received = cafe24.received("/noty");
    let arrived: HashSet<String> = received.iter().map(|r| r.body.clone()).collect();
    assert_eq!(arrived, queued, "every notification arrived, with exactly its queued content");
    assert!(received.len() >= 40);
    store.close().await;
}

/// A message as another channel would enqueue it: JSON, its own headers, any 2xx taken.
async fn insert_json_message(app: &TestApp, target: &str) {
    let now = now_ms();
    sqlx::query(
        "INSERT INTO outbox (id, payment_id, kind, target_url, body, content_type, headers, accept, status, \
         attempts, next_attempt_at, created_at, updated_at) VALUES ('msg_json', NULL, 'webhook.test', $1, $2, \
         'application/json', $3, '2xx', 'pending', 0, $4, $4, $4)",
    )
    .bind(target)
    .bind(r#"{"id":"evt_1","type":"payment.completed"}"#)
    .bind(r#"[["webhook-id","evt_1"],["webhook-timestamp","1700000000"]]"#)
    .bind(now)
    .execute(app.state.store.pool())
    .await
    .unwrap();
    app.state.store.wake_outbox();
}

async fn each_message_is_delivered_as_its_policy_says(db: Db) {
    let app = spawn_app_with(db, &[QUICK_RETRIES]).await;
    let store = Receiver::start().await;
    // Not Cafe24's {"result":"OK"}: a JSON webhook takes any 2xx.
    store.plan("/hooks", Plan::WrongAnswer);
    insert_json_message(&app, &store.url("/hooks")).await;
    let got = store.wait_for("/hooks", 1, SECONDS).await;
    app.wait_rows("outbox", "id = 'msg_json' AND status = 'delivered'", 1, SECONDS).await;
    assert_eq!(got[0].body, r#"{"id":"evt_1","type":"payment.completed"}"#);
    assert_eq!(got[0].headers["content-type"], "application/json");
    assert_eq!(got[0].headers["webhook-id"], "evt_1");
    assert_eq!(got[0].headers["webhook-timestamp"], "1700000000");
    let attempts = app.state.store.outbox_attempts().await.unwrap();
    assert_eq!(attempts.iter().map(|a| (a.attempt, a.outcome.as_str())).collect::<Vec<_>>(), [(1, "delivered")]);

    // A Cafe24 noty to the same kind of answer is not taken (form, {"result":"OK"} only).
    store.plan("/noty", Plan::WrongAnswer);
    let order_id = paid_async(&app, &store.url("/noty")).await;
    let payment = app.payment(&order_id).await;
    app.wait_rows("outbox", "status = 'failed'", 1, SECONDS).await;
    let noty = &store.received("/noty")[0];
    assert_eq!(noty.headers["content-type"], "application/x-www-form-urlencoded");
    let message = &app.state.store.outbox_messages(&payment.id).await.unwrap()[0];
    assert_eq!((message.status.as_str(), message.attempts), ("failed", 4));
}

async fn insert_messages(app: &TestApp, target: &str, n: usize) {
    let now = now_ms();
    for i in 0..n {
        sqlx::query(
            "INSERT INTO outbox (id, payment_id, kind, target_url, body, content_type, headers, accept, status, \
             attempts, next_attempt_at, created_at, updated_at) VALUES ($1, NULL, 'cafe24.payment_noty', $2, $3, \
             'application/x-www-form-urlencoded', '[]', 'result_ok', 'pending', 0, $4, $4, $4)",
        )
        .bind(format!("msg_test_{i:04}"))
        .bind(target)
        .bind(format!("n={i}"))
        .bind(now)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    }
}

/// SQLite: one instance delivers them. PostgreSQL: two instances share the work.
async fn five_hundred_notifications_are_each_delivered_once(db: Db) {
    let app = spawn_app(db).await;
    let second = match db {
        Db::Postgres => Some(app.sibling(&[]).await),
        Db::Sqlite => None,
    };
    let cafe24 = Receiver::start().await;
    cafe24.answer_after(Duration::from_millis(5));
    insert_messages(&app, &cafe24.url("/noty"), 500).await;
    cafe24.wait_for("/noty", 500, Duration::from_secs(60)).await;
    app.settled().await;

    let received = cafe24.received("/noty");
    assert_eq!(received.len(), 500, "none delivered twice");
    let distinct: HashSet<&str> = received.iter().map(|r| r.body.as_str()).collect();
    assert_eq!(distinct.len(), 500, "none lost");
    assert_eq!(cafe24.overlaps(), 0);
    let attempts = app.state.store.outbox_attempts().await.unwrap();
    assert_eq!(attempts.len(), 500, "one attempt each");
    let workers: HashSet<&str> = attempts.iter().map(|a| a.worker.as_str()).collect();
    if second.is_some() {
        assert_eq!(workers.len(), 2, "both instances delivered");
    }
    assert_eq!(app.count_where("outbox", "status = 'delivered'").await, 500);
}

/// How many passes this instance's outbox worker has made (its `/metrics`).
async fn outbox_passes(app: &TestApp) -> f64 {
    let (_, samples) = crate::observability::scrape(app).await;
    crate::observability::value(&samples, "paybridge_worker_passes_total", &[("worker", "outbox")])
}

async fn wait_for_passes(app: &TestApp, at_least: f64, why: &str) {
    let deadline = Instant::now() + SECONDS;
    loop {
        let passes = outbox_passes(app).await;
        if passes >= at_least {
            return;
        }
        assert!(Instant::now() < deadline, "{why}: {passes} outbox passes, not {at_least}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An instance that delivers nothing (`NOTIFY_WORKER=off`) wakes the one that does
/// through PostgreSQL (`LISTEN`/`NOTIFY`): the noty goes out though the delivering
/// instance's own poll is an hour away.
async fn a_noty_queued_by_an_instance_without_a_worker_wakes_another_instance() {
    let queuer = spawn_app_with(Db::Postgres, &[("NOTIFY_WORKER", "off")]).await;
    let deliverer = queuer.sibling(&[("NOTIFY_WORKER", "on"), ("NOTIFY_POLL", "1h")]).await;
    // Its first pass at start, and a second when its LISTEN connection is up.
    wait_for_passes(&deliverer, 2.0, "the delivering instance listens").await;
    let cafe24 = Receiver::start().await;
    let order_id = paid_async(&queuer, &cafe24.url("/noty")).await;
    let got = cafe24.wait_for("/noty", 1, SECONDS).await;
    assert_eq!(got[0].fields["order_id"], order_id);
    queuer.wait_rows("outbox", "status = 'delivered'", 1, SECONDS).await;
    let attempts = queuer.state.store.outbox_attempts().await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, "delivered");
}

/// On SQLite an idle worker's pass only reads: while another connection holds the one
/// write lock, it goes on making passes (a claim would wait for the lock).
async fn an_idle_worker_passes_without_the_write_lock() {
    let app = spawn_app_with(Db::Sqlite, &[("NOTIFY_POLL", "20ms")]).await;
    wait_for_passes(&app, 1.0, "the worker started").await;
    let store = app.connect_store().await;
    let holding = store.begin_write().await.unwrap();
    let before = outbox_passes(&app).await;
    wait_for_passes(&app, before + 3.0, "passes while the write lock is held").await;
    holding.rollback().await.unwrap();
    store.close().await;
}

mod one_database {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres_a_noty_queued_by_an_instance_without_a_worker_wakes_another_instance() {
        super::a_noty_queued_by_an_instance_without_a_worker_wakes_another_instance().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite_an_idle_worker_passes_without_the_write_lock() {
        super::an_idle_worker_passes_without_the_write_lock().await
    }
}

crate::on_both_databases!(
    a_cancelnoty_waits_behind_its_payments_noty_sent_to_another_url,
    with_the_worker_off_nothing_is_sent_until_a_pass_runs,
    a_noty_failing_twice_is_delivered_on_the_third_attempt,
    one_payments_notys_arrive_in_the_order_they_were_caused,
    a_noty_that_never_succeeds_is_tried_four_times_then_reported,
    a_noty_answered_with_a_redirect_is_not_followed_and_is_retried,
    a_noty_target_that_hangs_is_timed_out_and_retried,
    shutdown_finishes_deliveries_in_flight_and_releases_the_rest,
    a_killed_server_loses_no_notification,
    five_hundred_notifications_are_each_delivered_once,
    each_message_is_delivered_as_its_policy_says,
);
