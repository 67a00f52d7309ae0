//! Memory under a steady mixed load: paybridge as `.dev/run` starts it (sandbox PG and demo
//! mall in process), then a bare axum + sqlx server doing the same work (`common::bare`),
//! each in a process of its own, driven at a fixed rate by this one and sampled for its
//! resident set (`VmRSS` in `/proc/<pid>/status`) twice a second.
//!
//! The mix, per ten requests: one Cafe24 synchronous payment request (a write and a PG
//! call), one Store API payment intent (with an Idempotency-Key), eight Store API reads of a
//! payment (`GET /api/v2/payments/{id}`); the bare server's equivalents.
//!
//! `cargo bench -p paybridge-server --bench rss_mixed`
//! Environment: `BENCH_DB` = `sqlite` (default) or `postgres` (uses `TEST_POSTGRES_URL`),
//! `BENCH_RATE` requests per second (default 1000), `BENCH_SECONDS` of load (default 30).

mod common;

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use axum::{
    routing::{get, post},
    Router,
};
use common::{
    bare::{bare_checkout, bare_intent, bare_read, payment_request, Bare, TABLES},
    bare_setup, database_url, env_or, ms, percentile, start_paybridge,
};
use paybridge::store::Store;
use serde_json::{json, Value};

const KEY: &str = "sk_test_paybridge_demomall";
/// Payments each server holds before the load, for the reads.
const PREPARED: usize = 200;
/// At most this many requests in flight; a request due while they are is counted as
/// not sent (the server fell behind the rate).
const IN_FLIGHT: usize = 256;

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    match std::env::var("BENCH_ROLE").as_deref() {
        Ok("paybridge") => runtime.block_on(serve_paybridge()),
        Ok("bare") => runtime.block_on(serve_bare()),
        _ => runtime.block_on(drive()),
    }
}

fn kind() -> String {
    std::env::var("BENCH_DB").unwrap_or_else(|_| "sqlite".into())
}

/// The child's part: paybridge serving; says where on stdout, then serves until killed.
async fn serve_paybridge() {
    let (base, _store) = start_paybridge(&kind()).await;
    println!("READY {base}");
    std::future::pending::<()>().await;
}

/// The child's part: the bare server, calling paybridge's sandbox PG (`BENCH_PG`).
async fn serve_bare() {
    let store = Store::connect(&database_url(&kind(), "bare").await).await.unwrap();
    let (listener, base) = bare_setup(&store, &TABLES).await;
    let bare = Bare { store, http: reqwest::Client::new(), pg: std::env::var("BENCH_PG").unwrap(), base: base.clone() };
    let router = Router::new()
        .route("/bare/checkout", post(bare_checkout))
        .route("/bare/intents", post(bare_intent))
        .route("/bare/payments/{id}", get(bare_read))
        .with_state(bare);
    println!("READY {base}");
    axum::serve(listener, router).await.unwrap();
}

/// A child process of this bench in `role`, and its base URL once it serves.
fn spawn(role: &str, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("BENCH_ROLE", role)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base =
        line.trim().strip_prefix("READY ").unwrap_or_else(|| panic!("{role} did not start: {line:?}")).to_owned();
    (child, base)
}

/// The resident set of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The three kinds of request of the mix, for one server.
#[derive(Clone)]
struct Target {
    checkout: String,
    intent: String,
    /// A payment's read, but for its id.
    read: String,
    /// paybridge's Store API wants its key; the bare server none.
    bearer: bool,
    /// The base URL the Cafe24 request names as its return URL.
    base: String,
    ids: Arc<Vec<String>>,
}

impl Target {
    /// `server`'s routes for a Cafe24 payment request, an intent and a read (the id after it).
    fn new(server: &str, [checkout, intent, read]: [&str; 3], bearer: bool, return_base: &str) -> Target {
        Target {
            checkout: format!("{server}{checkout}"),
            intent: format!("{server}{intent}"),
            read: format!("{server}{read}"),
            bearer,
            base: return_base.to_owned(),
            ids: Arc::new(Vec::new()),
        }
    }

    /// paybridge's Store API key on `request`, when the target wants it.
    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        if self.bearer {
            request.bearer_auth(KEY)
        } else {
            request
        }
    }

    /// A new intent for order `order`, its Idempotency-Key the same text.
    fn new_intent(&self, client: &reqwest::Client, order: &str) -> reqwest::RequestBuilder {
        let request = client.post(&self.intent).header("Idempotency-Key", order);
        self.authorized(request).json(&intent_body(order))
    }
}

/// Prepares `t`'s payments to read, then loads it.
async fn measure(pid: u32, mut t: Target, run: &str, rate: usize, seconds: u64) -> Run {
    t.ids = Arc::new(prepare(&t, run).await);
    load(&t, pid, run, rate, seconds).await
}

fn intent_body(order: &str) -> Value {
    json!({"amount": 15000, "currency": "PHP", "orderId": order, "orderName": "2 items", "customerId": "c-77",
           "metadata": {"cart": "7"}, "successUrl": "http://127.0.0.1/ok", "failUrl": "http://127.0.0.1/fail"})
}

/// Request `i` of the mix; whether it was answered as expected.
async fn call(client: &reqwest::Client, t: &Target, run: &str, i: usize) -> bool {
    let request = match i % 10 {
        0 => client.post(&t.checkout).json(&payment_request(&t.base, &format!("{run}-{i:08}"))),
        5 => t.new_intent(client, &format!("{run}-{i}")),
        _ => t.authorized(client.get(format!("{}{}", t.read, t.ids[i % t.ids.len()]))),
    };
    match request.send().await {
        Ok(answer) => answer.status().is_success() && answer.bytes().await.is_ok(),
        Err(_) => false,
    }
}

struct Run {
    sent: usize,
    not_sent: usize,
    failed: usize,
    latencies: Vec<Duration>,
    elapsed: Duration,
    /// (seconds since the load started, KiB)
    rss: Vec<(f64, u64)>,
    idle_kib: u64,
}

/// `rate` requests a second for `seconds` against `t`, sampling `pid`'s resident set.
async fn load(t: &Target, pid: u32, run: &str, rate: usize, seconds: u64) -> Run {
    let client = reqwest::Client::new();
    let idle_kib = rss_kib(pid);
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(rate * seconds as usize)));
    let failed = Arc::new(AtomicUsize::new(0));
    let permits = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let started = Instant::now();
    let sampler = tokio::spawn(async move {
        let mut samples = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        loop {
            tick.tick().await;
            samples.push((started.elapsed().as_secs_f64(), rss_kib(pid)));
            if started.elapsed() >= Duration::from_secs(seconds) {
                return samples;
            }
        }
    });
    // Ticks of 10 ms, each sending its share of the rate.
    let per_tick = rate as f64 / 100.0;
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let (mut due, mut sent, mut not_sent) = (0.0, 0usize, 0usize);
    let mut tasks = tokio::task::JoinSet::new();
    while started.elapsed() < Duration::from_secs(seconds) {
        tick.tick().await;
        due += per_tick;
        while due >= 1.0 {
            due -= 1.0;
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                not_sent += 1;
                continue;
            };
            let (client, t, run, i) = (client.clone(), t.clone(), run.to_owned(), sent);
            let (latencies, failed) = (latencies.clone(), failed.clone());
            sent += 1;
            tasks.spawn(async move {
                let t0 = Instant::now();
                if !call(&client, &t, &run, i).await {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
                latencies.lock().unwrap().push(t0.elapsed());
                drop(permit);
            });
        }
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let elapsed = started.elapsed();
    let rss = sampler.await.unwrap();
    let mut latencies = std::mem::take(&mut *latencies.lock().unwrap());
    latencies.sort();
    Run { sent, not_sent, failed: failed.load(Ordering::Relaxed), latencies, elapsed, rss, idle_kib }
}

/// Ids of `PREPARED` payments made through `t`'s intent route, for the reads.
async fn prepare(t: &Target, run: &str) -> Vec<String> {
    let client = reqwest::Client::new();
    let mut ids = Vec::with_capacity(PREPARED);
    for i in 0..PREPARED {
        let answer: Value =
            t.new_intent(&client, &format!("{run}-prep-{i}")).send().await.unwrap().json().await.unwrap();
        ids.push(answer["id"].as_str().unwrap_or_else(|| panic!("no id: {answer}")).to_owned());
    }
    ids
}

fn report(name: &str, r: &Run) -> u64 {
    let half = r.rss.len() / 2;
    let mut steady: Vec<u64> = r.rss[half..].iter().map(|(_, kib)| *kib).collect();
    steady.sort();
    let steady_kib = steady[steady.len() / 2];
    let peak_kib = r.rss.iter().map(|(_, kib)| *kib).max().unwrap_or(0);
    println!(
        "  {name:<18} {:7.0} req/s sent ({} sent, {} not sent, {} failed)   p50 {:6.2} ms   p99 {:7.2} ms",
        r.sent as f64 / r.elapsed.as_secs_f64(),
        r.sent,
        r.not_sent,
        r.failed,
        ms(percentile(&r.latencies, 0.5)),
        ms(percentile(&r.latencies, 0.99)),
    );
    println!(
        "  {:<18} RSS idle {:6.1} MiB   steady (median of the second half) {:6.1} MiB   peak {:6.1} MiB",
        "",
        r.idle_kib as f64 / 1024.0,
        steady_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0
    );
    let over_time: Vec<String> =
        r.rss.iter().step_by(4).map(|(s, kib)| format!("{s:.0}s {:.0}", *kib as f64 / 1024.0)).collect();
    println!("  {:<18} RSS over time (MiB): {}", "", over_time.join(", "));
    steady_kib
}

async fn drive() {
    let kind = kind();
    let rate: usize = env_or("BENCH_RATE", 1000);
    let seconds: u64 = env_or("BENCH_SECONDS", 30);
    let run_id = format!("{}", std::process::id());

    let (mut ours, base) = spawn("paybridge", &[]);
    let paths = ["/api/synchronous-checkout/checkout", "/api/v2/payment-intents", "/api/v2/payments/"];
    let ours_run =
        measure(ours.id(), Target::new(&base, paths, true, &base), &format!("P{run_id}"), rate, seconds).await;

    let pg = format!("{base}/sandbox-pg");
    let (mut bare, bare_base) = spawn("bare", &[("BENCH_PG", &pg)]);
    let paths = ["/bare/checkout", "/bare/intents", "/bare/payments/"];
    let bare_target = Target::new(&bare_base, paths, false, &base);
    let bare_run = measure(bare.id(), bare_target, &format!("B{run_id}"), rate, seconds).await;

    println!(
        "Mixed load on {kind}, {rate} req/s for {seconds} s (per 10: 1 Cafe24 payment request, 1 Store API intent, \
         8 payment reads), each server in its own process"
    );
    let ours_kib = report("paybridge", &ours_run);
    let bare_kib = report("bare axum + sqlx", &bare_run);
    println!("  steady RSS ratio    {:.2}×", ours_kib as f64 / bare_kib as f64);
    for child in [&mut ours, &mut bare] {
        let _ = child.kill();
        let _ = child.wait();
    }
}
