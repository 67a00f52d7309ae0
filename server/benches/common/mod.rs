//! What the benchmarks share: settings from the environment, a fresh database of either
//! kind, a closed-loop load, and percentiles.
// Each bench compiles this module on its own and uses a part of it.
#![allow(dead_code)]

pub mod bare;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A new, empty database of `kind` (`sqlite`, or `postgres` at `TEST_POSTGRES_URL`).
pub async fn database_url(kind: &str, name: &str) -> String {
    if kind == "postgres" {
        use sqlx::Connection;
        let admin = std::env::var("TEST_POSTGRES_URL").unwrap_or("postgres://postgres@127.0.0.1:5432/postgres".into());
        let mut conn = sqlx::PgConnection::connect(&admin).await.unwrap();
        let db = format!("paybridge_bench_{name}_{}", std::process::id());
        sqlx::query(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)")).execute(&mut conn).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE \"{db}\"")).execute(&mut conn).await.unwrap();
        let mut url = url::Url::parse(&admin).unwrap();
        url.set_path(&db);
        url.to_string()
    } else {
        let dir = std::env::temp_dir().join(format!("paybridge-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        format!("sqlite://{}", dir.join("bench.db").display())
    }
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Runs `count` calls of `call(i)` from `clients` concurrent clients; returns each
/// call's latency (sorted) and the whole run's duration.
pub async fn closed_loop<F, Fut>(count: usize, clients: usize, call: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (next, call) = (next.clone(), call.clone());
            tokio::spawn(async move {
                let mut took = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count {
                        return took;
                    }
                    let t0 = Instant::now();
                    call(i).await;
                    took.push(t0.elapsed());
                }
            })
        })
        .collect();
    let mut all = Vec::with_capacity(count);
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let elapsed = started.elapsed();
    all.sort();
    (all, elapsed)
}

pub struct Figures {
    pub rps: f64,
    pub p50: Duration,
    pub p99: Duration,
}

pub fn figures(latencies: &[Duration], elapsed: Duration) -> Figures {
    Figures {
        rps: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(latencies, 0.5),
        p99: percentile(latencies, 0.99),
    }
}

pub fn print_pair(what: &str, ours: &Figures, bare: &Figures) {
    println!("  {what}");
    for (name, f) in [("paybridge", ours), ("bare axum + sqlx", bare)] {
        println!("    {name:<18} {:8.1} req/s   p50 {:7.2} ms   p99 {:7.2} ms", f.rps, ms(f.p50), ms(f.p99));
    }
    println!(
        "    ratio              {:7.0} %        p50 {:6.2}×     p99 {:6.2}×",
        100.0 * ours.rps / bare.rps,
        ms(ours.p50) / ms(bare.p50),
        ms(ours.p99) / ms(bare.p99)
    );
}

/// The Cafe24 service key the benches' paybridge is configured with.
pub const SERVICE_KEY: &str = "bench-service-key";
/// The demo mall's Cafe24 partner id.
pub const PARTNER_ID: &str = "demomall:0:demo-app-public-key";

/// paybridge as `.dev/run` starts it (the sandbox PG and the demo mall in process) on a
/// fresh database of `kind`, serving on a loopback port: its base URL and its store.
pub async fn start_paybridge(kind: &str) -> (String, paybridge::store::Store) {
    let key = paybridge::secrets::KeyRing::generate_encoded();
    start_paybridge_on(&database_url(kind, "app").await, &key).await
}

/// paybridge as `.dev/run` starts it, on the database at `database_url` with the
/// `ENCRYPTION_KEY` `encryption_key` (instances sharing a database share the key).
pub async fn start_paybridge_on(database_url: &str, encryption_key: &str) -> (String, paybridge::store::Store) {
    let vars: std::collections::HashMap<&str, String> = std::collections::HashMap::from([
        ("DATABASE_URL", database_url.to_owned()),
        ("LEPTOS_SITE_ADDR", "127.0.0.1:0".into()),
        ("CAFE24_SERVICE_KEY", SERVICE_KEY.into()),
        ("ENCRYPTION_KEY", encryption_key.to_owned()),
        ("SANDBOX", "true".into()),
    ]);
    let config = paybridge::config::Config::from_lookup(|name| vars.get(name).cloned()).unwrap();
    let app = paybridge::startup::Application::build(config).await.unwrap();
    let base = format!("http://127.0.0.1:{}", app.port());
    let store = app.state().store.clone();
    tokio::spawn(app.run_until(std::future::pending()));
    (base, store)
}

/// The bare handler's tables, and a loopback listener for it with its base URL.
pub async fn bare_setup(store: &paybridge::store::Store, tables: &[&str]) -> (tokio::net::TcpListener, String) {
    for ddl in tables {
        sqlx::query(ddl).execute(store.pool()).await.unwrap();
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (listener, base)
}
