//! Webhook → noty latency on loopback at a steady load, and — in the same run, at the
//! same load — the latency of a bare handler doing one insert and one loopback POST.
//!
//! `cargo bench -p paybridge-server --bench noty_latency`
//! Environment: `BENCH_DB` = `sqlite` (default) or `postgres` (uses `TEST_POSTGRES_URL`),
//! `BENCH_RATE` requests per second (default 50), `BENCH_COUNT` (default 500).

mod common;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{body::Bytes, extract::State, routing::post, Json, Router};
use common::{bare_setup, database_url, env_or, ms, percentile, start_paybridge, PARTNER_ID, SERVICE_KEY};
use paybridge::{
    cafe24::signature,
    domain::{MallId, OrderId},
    gateway::sandbox::{sign_webhook, SIGNATURE_HEADER},
    store::{now_ms, Store},
};
use serde_json::json;

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// Records when each notification (by its `order_id` field, or its whole body) arrives.
async fn start_receiver() -> (String, Arrivals) {
    let arrivals: Arrivals = Default::default();
    async fn receive(State(arrivals): State<Arrivals>, body: Bytes) -> Json<serde_json::Value> {
        let at = Instant::now();
        let fields: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
        let key = fields.get("order_id").cloned().unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        arrivals.lock().unwrap().entry(key).or_insert(at);
        Json(json!({"result": "OK"}))
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let router = Router::new().fallback(post(receive)).with_state(arrivals.clone());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, arrivals)
}

/// Sends `count` requests at `rate` per second; `send(i)` starts request `i` and returns
/// the key its notification will carry. Returns each key's send time.
async fn drive<F, Fut>(count: usize, rate: u64, send: F) -> HashMap<String, Instant>
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = String> + Send + 'static,
{
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        ticker.tick().await;
        let started = Instant::now();
        let request = send(i);
        tasks.push(tokio::spawn(async move { (request.await, started) }));
    }
    let mut sent = HashMap::new();
    for task in tasks {
        let (key, started) = task.await.unwrap();
        sent.insert(key, started);
    }
    sent
}

async fn latencies(sent: &HashMap<String, Instant>, arrivals: &Arrivals) -> Vec<Duration> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = sent.keys().filter(|k| arrivals.lock().unwrap().contains_key(*k)).count();
        if got == sent.len() {
            break;
        }
        assert!(Instant::now() < deadline, "only {got} of {} notifications arrived", sent.len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let arrivals = arrivals.lock().unwrap();
    let mut out: Vec<Duration> = sent.iter().map(|(k, t0)| arrivals[k].duration_since(*t0)).collect();
    out.sort();
    out
}

#[tokio::main]
async fn main() {
    let kind = std::env::var("BENCH_DB").unwrap_or_else(|_| "sqlite".into());
    let rate: u64 = env_or("BENCH_RATE", 50);
    let count: usize = env_or("BENCH_COUNT", 500);
    let (receiver, arrivals) = start_receiver().await;

    // paybridge: a signed PG webhook in, a payment noty out through the outbox.
    let (base, store) = start_paybridge(&kind).await;
    let client = reqwest::Client::new();
    let mut payments = Vec::with_capacity(count);
    for i in 0..count {
        let order_id = format!("20261123-{i:07}");
        let amount = "100.00";
        let body = json!({
            "partner_id": PARTNER_ID, "shop_no": "1", "order_id": order_id, "amount": amount, "currency": "PHP",
            "return_url": format!("{base}/demo-mall/return"), "return_noty_url": format!("{receiver}/noty"),
            "hash_data": signature::sign(SERVICE_KEY, &[amount, "PHP", &order_id, PARTNER_ID]),
        });
        let answer: serde_json::Value = client
            .post(format!("{base}/api/asynchronous-checkout/checkout"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["result_code"], "0000", "{answer}");
        let (mall, order) = (MallId::parse("demomall").unwrap(), OrderId::parse(&order_id).unwrap());
        let payment = store.payment_by_order(&mall, &order).await.unwrap().unwrap();
        payments.push((order_id, payment.id.into_string(), payment.tid.unwrap()));
    }
    let payments = Arc::new(payments);
    let answered: Arc<Mutex<Vec<Duration>>> = Default::default();
    let sent = drive(count, rate, |i| {
        let (client, base, payments, answered) = (client.clone(), base.clone(), payments.clone(), answered.clone());
        async move {
            let started = Instant::now();
            let (order_id, payment_id, tid) = &payments[i];
            let body = json!({
                "event_id": format!("bench-{i}"), "type": "order", "reference": payment_id, "order_code": tid,
                "status": "paid", "amount": 10000, "currency": "PHP",
            })
            .to_string();
            let signature = sign_webhook("demo-app-secret-key", now_ms() / 1000, body.as_bytes());
            let response = client
                .post(format!("{base}/pg/sandbox/webhook"))
                .header("content-type", "application/json")
                .header(SIGNATURE_HEADER, signature)
                .body(body)
                .send()
                .await
                .unwrap();
            assert!(response.status().is_success());
            answered.lock().unwrap().push(started.elapsed());
            order_id.clone()
        }
    })
    .await;
    let ours = latencies(&sent, &arrivals).await;

    // The bare handler: one insert, one loopback POST, then the answer.
    let bare_store = Store::connect(&database_url(&kind, "bare").await).await.unwrap();
    let (listener, bare_base) =
        bare_setup(&bare_store, &["CREATE TABLE bare (id TEXT PRIMARY KEY, created_at BIGINT NOT NULL)"]).await;
    #[derive(Clone)]
    struct Bare {
        store: Store,
        http: reqwest::Client,
        target: String,
    }
    async fn bare(State(b): State<Bare>, body: Bytes) -> &'static str {
        let id = String::from_utf8_lossy(&body).into_owned();
        sqlx::query("INSERT INTO bare (id, created_at) VALUES ($1, $2)")
            .bind(&id)
            .bind(now_ms())
            .execute(b.store.pool())
            .await
            .unwrap();
        b.http.post(&b.target).body(id).send().await.unwrap();
        "ok"
    }
    let state = Bare { store: bare_store, http: reqwest::Client::new(), target: format!("{receiver}/bare") };
    tokio::spawn(
        async move { axum::serve(listener, Router::new().route("/bare", post(bare)).with_state(state)).await },
    );
    let sent = drive(count, rate, |i| {
        let (client, bare_base) = (client.clone(), bare_base.clone());
        async move {
            let key = format!("bare-{i}");
            client.post(format!("{bare_base}/bare")).body(key.clone()).send().await.unwrap();
            key
        }
    })
    .await;
    let baseline = latencies(&sent, &arrivals).await;

    println!("webhook → noty latency, {count} requests at {rate}/s on {kind}, loopback");
    for (name, l) in [("paybridge webhook → noty", &ours), ("bare insert + POST", &baseline)] {
        println!(
            "  {name:<26} p50 {:7.2} ms   p99 {:7.2} ms   max {:7.2} ms",
            ms(percentile(l, 0.5)),
            ms(percentile(l, 0.99)),
            ms(*l.last().unwrap())
        );
    }
    let mut answered = answered.lock().unwrap().clone();
    answered.sort();
    println!(
        "  (paybridge's webhook answered: p50 {:.2} ms, p99 {:.2} ms)",
        ms(percentile(&answered, 0.5)),
        ms(percentile(&answered, 0.99))
    );
    println!(
        "  ratio                      p50 {:6.1}×     p99 {:6.1}×",
        ms(percentile(&ours, 0.5)) / ms(percentile(&baseline, 0.5)),
        ms(percentile(&ours, 0.99)) / ms(percentile(&baseline, 0.99))
    );
}
