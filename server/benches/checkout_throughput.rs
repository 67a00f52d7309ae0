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

use axum::{routing::post, Router};
use common::{
    bare::{bare_checkout, payment_request, Bare, TABLES},
    bare_setup, closed_loop, env_or, figures, print_pair, start_paybridge, Figures,
};
use serde_json::Value;

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
    let (listener, bare_base) = bare_setup(&store, &TABLES).await;
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
