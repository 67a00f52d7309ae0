//! `/readyz`: whether this instance should be sent traffic. Each check answers `ok` or
//! why not; one failing makes it 503.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{Metrics, Worker};
use crate::store::{now_ms, Store};

/// What `/readyz` checks beside the database and its migrations.
#[derive(Clone, Debug)]
pub struct Readiness {
    /// This instance runs the outbox and maintenance workers (`NOTIFY_WORKER`); without
    /// them it is ready as long as it can serve.
    pub workers: bool,
    /// `READY_OUTBOX_MAX_AGE`.
    pub outbox_max_age: Option<Duration>,
    /// `READY_WORKER_MAX_LAG`.
    pub worker_max_lag: Duration,
}

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

/// Runs every check: whether all passed, and the answer's body
/// (`{"status":"ready"|"not ready","checks":{…},"failed":[…]}`).
pub async fn readiness(store: &Store, metrics: &Metrics, settings: &Readiness) -> (bool, Value) {
    let mut checks = Map::new();
    let database = store.ping().await;
    let reachable = database.is_ok();
    checks.insert(
        "database".into(),
        match database {
            Ok(()) => "ok".into(),
            Err(e) => {
                tracing::warn!(error = %e, "readiness: the database does not answer");
                "unreachable".into()
            }
        },
    );
    let unknown = || Value::from("unknown: the database is unreachable");
    checks.insert(
        "migrations".into(),
        if !reachable {
            unknown()
        } else {
            match store.migrations_pending().await {
                Ok(pending) if pending.is_empty() => "ok".into(),
                Ok(pending) => {
                    let versions: Vec<String> = pending.iter().map(i64::to_string).collect();
                    format!("not applied: {}", versions.join(", ")).into()
                }
                Err(e) => {
                    tracing::warn!(error = %e, "readiness: the applied migrations cannot be read");
                    "cannot be read".into()
                }
            }
        },
    );
    checks.insert(
        "workers".into(),
        if !settings.workers {
            "ok (off on this instance)".into()
        } else {
            let late: Vec<String> = [Worker::Outbox, Worker::Maintenance]
                .into_iter()
                .filter_map(|worker| match metrics.worker_lag(worker) {
                    None => Some(format!("{} has made no pass yet", worker.as_str())),
                    Some(lag) if lag > settings.worker_max_lag => Some(format!(
                        "{} has made no progress for {} (limit {})",
                        worker.as_str(),
                        seconds(lag),
                        seconds(settings.worker_max_lag)
                    )),
                    Some(_) => None,
                })
                .collect();
            if late.is_empty() {
                "ok".into()
            } else {
                late.join("; ").into()
            }
        },
    );
    checks.insert(
        "outbox".into(),
        match settings.outbox_max_age {
            None => "ok (not checked: READY_OUTBOX_MAX_AGE=off)".into(),
            Some(_) if !reachable => unknown(),
            Some(limit) => {
                let now = now_ms();
                match store.outbox_due(now).await {
                    Ok(due) if due.oldest_age(now) <= limit => "ok".into(),
                    Ok(due) => format!(
                        "stuck: {} notifications due, the oldest waiting for {} (limit {})",
                        due.count,
                        seconds(due.oldest_age(now)),
                        seconds(limit)
                    )
                    .into(),
                    Err(e) => {
                        tracing::warn!(error = %e, "readiness: the outbox cannot be read");
                        "cannot be read".into()
                    }
                }
            }
        },
    );
    let failed: Vec<String> = checks
        .iter()
        .filter(|(_, v)| !v.as_str().is_some_and(|s| s == "ok" || s.starts_with("ok ")))
        .map(|(k, _)| k.clone())
        .collect();
    let ready = failed.is_empty();
    let status = if ready { "ready" } else { "not ready" };
    (ready, json!({"status": status, "checks": checks, "failed": failed}))
}
