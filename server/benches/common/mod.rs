//! What the benchmarks share: settings from the environment, a fresh database of either
//! kind, and percentiles.

use std::time::Duration;

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
