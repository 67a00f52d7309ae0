//! Cafe24's synchronous payment request (`POST /api/synchronous-checkout/checkout`) at 16
//! and 64 concurrent clients, beside — in the same process and run, on the same database
//! kind, against the same in-process sandbox PG — a bare axum + sqlx handler doing the same
//! work: parse the JSON, check `hash_data` (one HMAC), open the checkout at the PG (one
//! loopback POST), then write the payment, its Cafe24 data and its two history rows in one
//! transaction, in the same database.
//!
//! `cargo bench -p paybridge-server --bench checkout_throughput`
//! Environment: `BENCH_DB` = `sqlite` (default) or `postgres` (uses `TEST_POSTGRES_URL`),
//! `BENCH_CLIENTS` (default `16,64`), `BENCH_COUNT` requests per measurement (default 1000).

mod common;

use axum::{extract::State, http::StatusCode, routing::post, Json, Router};
use common::{bare_setup, closed_loop, env_or, figures, print_pair, start_paybridge, Figures, PARTNER_ID, SERVICE_KEY};
use paybridge::{
    cafe24::signature,
    store::{new_id, now_ms, Store},
};
use serde_json::{json, Value};

const PG_USER: &str = "demo-app-public-key";
const PG_SECRET: &str = "demo-app-secret-key";

#[derive(Clone)]
struct Bare {
    store: Store,
    http: reqwest::Client,
    pg: String,
    base: String,
}

/// The payment request without paybridge's layers.
async fn bare_checkout(State(b): State<Bare>, Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
    let (amount, currency, order_id) = (field("amount"), field("currency"), field("order_id"));
    let expected = signature::sign(SERVICE_KEY, &[&amount, &currency, &order_id, PARTNER_ID]);
    if field("hash_data") != expected {
        return (StatusCode::BAD_REQUEST, Json(json!({"result_code": "1001"})));
    }
    let minor = (amount.parse::<f64>().unwrap() * 100.0).round() as i64;
    let id = new_id("pay");
    let checkout: Value = b
        .http
        .post(format!("{}/v1/checkouts", b.pg))
        .basic_auth(PG_USER, Some(PG_SECRET))
        .json(&json!({
            "reference": id, "amount": minor, "currency": currency, "description": body["goods_name"],
            "callback_url": format!("{}/bare/callback", b.base), "mode": "redirect", "allow_deposit": false,
            "capture_method": "automatic", "finalization": "webhook",
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now = now_ms();
    let mut tx = b.store.pool().begin().await.unwrap();
    sqlx::query("INSERT INTO bare_payments (id, order_id, amount, currency, status, tid, url, created_at) VALUES ($1, $2, $3, $4, 1, $5, $6, $7)")
        .bind(&id).bind(&order_id).bind(minor).bind(&currency)
        .bind(checkout["order_code"].as_str()).bind(checkout["checkout_url"].as_str()).bind(now)
        .execute(&mut *tx).await.unwrap();
    sqlx::query("INSERT INTO bare_cafe24 (payment_id, partner_id, shop_no, amount_text, return_url) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id).bind(field("partner_id")).bind(field("shop_no")).bind(&amount).bind(field("return_url"))
        .execute(&mut *tx).await.unwrap();
    for kind in ["payment.requested", "checkout.created"] {
        sqlx::query("INSERT INTO bare_events (id, payment_id, kind, created_at) VALUES ($1, $2, $3, $4)")
            .bind(new_id("evt"))
            .bind(&id)
            .bind(kind)
            .bind(now)
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let answer =
        json!({"result_code": "0000", "result_message": "checkout created", "payment_url": checkout["checkout_url"]});
    (StatusCode::OK, Json(answer))
}

fn payment_request(base: &str, order_id: &str) -> Value {
    let amount = "100.00";
    json!({
        "partner_id": PARTNER_ID, "shop_no": "1", "order_id": order_id, "amount": amount, "currency": "PHP",
        "goods_name": "2 items", "return_url": format!("{base}/demo-mall/return"),
        "hash_data": signature::sign(SERVICE_KEY, &[amount, "PHP", order_id, PARTNER_ID]),
    })
}

/// `count` payment requests from `clients` clients at `url`, each answered `0000`.
async fn run(
    client: &reqwest::Client,
    url: String,
    base: &str,
    prefix: String,
    count: usize,
    clients: usize,
) -> Figures {
    let (client, base) = (client.clone(), base.to_owned());
    let (latencies, elapsed) = closed_loop(count, clients, move |i| {
        let (client, url) = (client.clone(), url.clone());
        let body = payment_request(&base, &format!("{prefix}-{i:07}"));
        async move {
            let answer: Value = client.post(url).json(&body).send().await.unwrap().json().await.unwrap();
            assert_eq!(answer["result_code"], "0000", "{answer}");
        }
    })
    .await;
    figures(&latencies, elapsed)
}

#[tokio::main]
async fn main() {
    let kind = std::env::var("BENCH_DB").unwrap_or_else(|_| "sqlite".into());
    let count: usize = env_or("BENCH_COUNT", 1000);
    let clients: Vec<usize> = std::env::var("BENCH_CLIENTS")
        .unwrap_or_else(|_| "16,64".into())
        .split(',')
        .map(|n| n.trim().parse().expect("BENCH_CLIENTS: numbers separated by commas"))
        .collect();
    let (base, store) = start_paybridge(&kind).await;
    let client = reqwest::Client::new();

    // The bare handler's tables are in the same database as paybridge's, which the sandbox
    // PG writes too: both share its one writer (SQLite) and its fsyncs alike.
    let tables = [
        "CREATE TABLE bare_payments (id TEXT PRIMARY KEY, order_id TEXT UNIQUE, amount BIGINT, currency TEXT, status BIGINT, tid TEXT, url TEXT, created_at BIGINT)",
        "CREATE TABLE bare_cafe24 (payment_id TEXT PRIMARY KEY, partner_id TEXT, shop_no TEXT, amount_text TEXT, return_url TEXT)",
        "CREATE TABLE bare_events (id TEXT PRIMARY KEY, payment_id TEXT, kind TEXT, created_at BIGINT)",
    ];
    let (listener, bare_base) = bare_setup(&store, &tables).await;
    let bare = Bare { store, http: reqwest::Client::new(), pg: format!("{base}/sandbox-pg"), base: bare_base.clone() };
    let router = Router::new().route("/bare/checkout", post(bare_checkout)).with_state(bare);
    tokio::spawn(async move { axum::serve(listener, router).await });

    let ours_url = format!("{base}/api/synchronous-checkout/checkout");
    let bare_url = format!("{bare_base}/bare/checkout");
    // Warm both (connections, prepared statements, caches).
    let warm = clients.iter().copied().max().unwrap_or(16);
    run(&client, ours_url.clone(), &base, "W".into(), warm * 4, warm).await;
    run(&client, bare_url.clone(), &base, "BW".into(), warm * 4, warm).await;

    println!("Cafe24 synchronous payment request on {kind}, loopback, sandbox PG in process");
    for n in clients {
        let ours = run(&client, ours_url.clone(), &base, format!("P{n}"), count, n).await;
        let bare = run(&client, bare_url.clone(), &base, format!("B{n}"), count, n).await;
        print_pair(&format!("{n} concurrent clients, {count} requests each"), &ours, &bare);
    }
}
