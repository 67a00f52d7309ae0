//! Store API v2 throughput: intent creation and capture at a fixed number of concurrent
//! clients, beside — in the same run, against the same database kind and the same sandbox
//! PG — a bare axum handler doing the same work (the PG call, then the same rows written
//! in one transaction). Also the time the Idempotency-Key layer adds to each POST: its two
//! database steps (take the key, record the answer), timed at the same concurrency.
//!
//! `cargo bench -p paybridge-server --bench store_api_throughput`
//! Environment: `BENCH_DB` = `sqlite` (default) or `postgres` (uses `TEST_POSTGRES_URL`),
//! `BENCH_CLIENTS` (default 16), `BENCH_COUNT` requests per measurement (default 800).

mod common;

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    http::StatusCode,
    routing::post,
    Json, Router,
};
use common::{
    bare::{bare_intent, Bare, TABLES},
    bare_setup, closed_loop, database_url, env_or, figures, ms, percentile, print_pair, start_paybridge,
};
use paybridge::{
    domain::MallId,
    store::{new_id, now_ms, IdempotencyBegin, IdempotencyEnd, IdempotencyRequest, Store},
};
use serde_json::{json, Value};

const KEY: &str = "sk_test_paybridge_demomall";

/// A capture without paybridge's layers: the PG captures, then the status, a history row
/// and an idempotency record in one transaction.
async fn bare_capture(State(b): State<Bare>, Path(tid): Path<String>) -> Json<Value> {
    let order = b.pg_post(&format!("/v1/orders/{tid}/capture"), &json!({})).await;
    let now = now_ms();
    let mut tx = b.store.pool().begin().await.unwrap();
    sqlx::query("INSERT INTO bare_payments (id, order_id, amount, currency, status, tid, url, created_at) VALUES ($1, $1, 0, 'PHP', 2, $2, '', $3)")
        .bind(new_id("pay")).bind(&tid).bind(now)
        .execute(&mut *tx).await.unwrap();
    sqlx::query("INSERT INTO bare_events (id, payment_id, kind, created_at) VALUES ($1, $2, 'payment.captured', $3)")
        .bind(new_id("evt"))
        .bind(&tid)
        .bind(now)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("INSERT INTO bare_idempotency (id, body, created_at) VALUES ($1, $2, $3)")
        .bind(new_id("idem"))
        .bind(order.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    Json(order)
}

/// `n` manual-capture intents, each authorized by the buyer at the sandbox PG; returns
/// (payment id, the PG's order code).
async fn authorized(client: &reqwest::Client, base: &str, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let intent: Value = client
            .post(format!("{base}/api/v2/payment-intents"))
            .bearer_auth(KEY)
            .header("Idempotency-Key", format!("prep-{i}"))
            .json(&json!({"amount": 15000, "currency": "PHP", "orderId": format!("C-{i}"), "orderName": "bench",
                          "successUrl": format!("{base}/demo-mall/"), "failUrl": format!("{base}/demo-mall/"),
                          "captureMethod": "manual"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let checkout = intent["pgResponse"]["checkoutUrl"].as_str().unwrap();
        let back = client.post(format!("{checkout}/approve")).send().await.unwrap();
        let callback = back.headers()["location"].to_str().unwrap().to_owned();
        client.get(callback).send().await.unwrap();
        let tid = intent["pgResponse"]["checkoutCode"].as_str().unwrap().to_owned();
        out.push((intent["id"].as_str().unwrap().to_owned(), tid));
    }
    out
}

#[tokio::main]
async fn main() {
    let kind = std::env::var("BENCH_DB").unwrap_or_else(|_| "sqlite".into());
    let clients: usize = env_or("BENCH_CLIENTS", 16);
    let count: usize = env_or("BENCH_COUNT", 800);
    let (base, store) = start_paybridge(&kind).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();

    let bare_store = Store::connect(&database_url(&kind, "bare").await).await.unwrap();
    let (listener, bare_base) = bare_setup(&bare_store, &TABLES).await;
    let bare = Bare {
        store: bare_store,
        http: reqwest::Client::new(),
        pg: format!("{base}/sandbox-pg"),
        base: bare_base.clone(),
    };
    let router = Router::new()
        .route("/bare/intents", post(bare_intent))
        .route("/bare/capture/{tid}", post(bare_capture))
        .with_state(bare);
    tokio::spawn(async move { axum::serve(listener, router).await });

    // Warm both paths (connections, the currency cache, prepared statements).
    let intent = |prefix: &'static str| {
        move |i: usize| {
            json!({"amount": 15000, "currency": "PHP", "orderId": format!("{prefix}-{i}"),
                                "orderName": "2 items", "customerId": "c-77", "metadata": {"cart": "7"},
                                "successUrl": "http://127.0.0.1/ok", "failUrl": "http://127.0.0.1/fail"})
        }
    };
    for i in 0..clients {
        let body = intent("W")(i);
        client
            .post(format!("{base}/api/v2/payment-intents"))
            .bearer_auth(KEY)
            .header("Idempotency-Key", format!("w-{i}"))
            .json(&body)
            .send()
            .await
            .unwrap();
        client.post(format!("{bare_base}/bare/intents")).json(&intent("BW")(i)).send().await.unwrap();
    }

    let ours = {
        let (client, base, body) = (client.clone(), base.clone(), intent("I"));
        closed_loop(count, clients, move |i| {
            let (client, base, body) = (client.clone(), base.clone(), body(i));
            async move {
                let r = client
                    .post(format!("{base}/api/v2/payment-intents"))
                    .bearer_auth(KEY)
                    .header("Idempotency-Key", format!("i-{i}"))
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
            }
        })
        .await
    };
    let bare_run = {
        let (client, bare_base, body) = (client.clone(), bare_base.clone(), intent("B"));
        closed_loop(count, clients, move |i| {
            let (client, bare_base, body) = (client.clone(), bare_base.clone(), body(i));
            async move {
                let r = client.post(format!("{bare_base}/bare/intents")).json(&body).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
            }
        })
        .await
    };
    let intents = (figures(&ours.0, ours.1), figures(&bare_run.0, bare_run.1));

    // Captures: authorizations made beforehand (not timed), half captured by each side.
    let capture_count = count / 2;
    let prepared = Arc::new(authorized(&client, &base, 2 * capture_count).await);
    let ours = {
        let (client, base, prepared) = (client.clone(), base.clone(), prepared.clone());
        closed_loop(capture_count, clients, move |i| {
            let (client, base, id) = (client.clone(), base.clone(), prepared[i].0.clone());
            async move {
                let r = client
                    .post(format!("{base}/api/v2/payments/{id}/capture"))
                    .bearer_auth(KEY)
                    .header("Idempotency-Key", format!("c-{i}"))
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::OK);
            }
        })
        .await
    };
    let bare_run = {
        let (client, bare_base, prepared) = (client.clone(), bare_base.clone(), prepared.clone());
        closed_loop(capture_count, clients, move |i| {
            let (client, bare_base, tid) = (client.clone(), bare_base.clone(), prepared[capture_count + i].1.clone());
            async move {
                let r = client.post(format!("{bare_base}/bare/capture/{tid}")).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
            }
        })
        .await
    };
    let captures = (figures(&ours.0, ours.1), figures(&bare_run.0, bare_run.1));

    // The Idempotency-Key layer's own work per POST: take the key, record the answer.
    let mall = MallId::parse("demomall").unwrap();
    let layer = {
        let store = store.clone();
        closed_loop(count, clients, move |i| {
            let (store, mall) = (store.clone(), mall.clone());
            async move {
                let key = format!("layer-{i}");
                let request = IdempotencyRequest {
                    mall_id: &mall,
                    key: &key,
                    method: "POST",
                    path: "/api/v2/payment-intents",
                    body_hash: "0",
                };
                let IdempotencyBegin::Fresh { lease } =
                    store.idempotency_begin(&request, 60_000, 86_400_000).await.unwrap()
                else {
                    panic!("a fresh key")
                };
                let end = IdempotencyEnd::Done { status: 201, body: "{\"id\":\"pay_x\"}".into() };
                assert!(store.idempotency_end(&mall, &key, &lease, &end).await.unwrap());
            }
        })
        .await
    };

    println!("Store API v2 on {kind}, {clients} concurrent clients, loopback, sandbox PG in process");
    print_pair(&format!("POST /api/v2/payment-intents ({count} requests)"), &intents.0, &intents.1);
    print_pair(&format!("POST /api/v2/payments/{{id}}/capture ({capture_count} requests)"), &captures.0, &captures.1);
    println!(
        "  Idempotency-Key layer (take + record, {count} keys): p50 {:.2} ms   p99 {:.2} ms",
        ms(percentile(&layer.0, 0.5)),
        ms(percentile(&layer.0, 0.99))
    );
}
