//! What an operator sees: `/metrics` (Prometheus text, per application, labels without
//! ids), the request id in answers and in the JSON log, and `/healthz` / `/readyz`.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use paybridge::{
    cafe24::noty::PAYMENT_NOTY,
    observability::{Metrics, Readiness},
    store::now_ms,
};
use reqwest::{header, StatusCode};
use serde_json::Value;

use crate::{
    helpers::*,
    receiver::{Plan, Receiver},
};

const SECONDS: Duration = Duration::from_secs(10);

/// One sample of the exposition.
#[derive(Debug)]
pub(crate) struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses the Prometheus text format (0.0.4) strictly: every line is a `# HELP`, a
/// `# TYPE` or a sample `name{label="value",…} number`; anything else fails the test.
fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        if let Some(rest) = line.strip_prefix("# HELP ").or_else(|| line.strip_prefix("# TYPE ")) {
            let name = rest.split(' ').next().unwrap();
            assert!(is_metric_name(name), "bad name in {line:?}");
            if line.starts_with("# TYPE ") {
                let kind = rest.split(' ').nth(1).unwrap_or_default();
                assert!(["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind), "{line:?}");
            }
            continue;
        }
        assert!(!line.starts_with('#'), "an unknown comment: {line:?}");
        let name_end = line.find(['{', ' ']).unwrap_or_else(|| panic!("no value in {line:?}"));
        let name = &line[..name_end];
        assert!(is_metric_name(name), "bad name in {line:?}");
        let mut labels = BTreeMap::new();
        let mut rest = &line[name_end..];
        if let Some(inner) = rest.strip_prefix('{') {
            let mut chars = inner.char_indices().peekable();
            loop {
                let (start, c) = chars.next().unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
                if c == '}' {
                    rest = &inner[start + 1..];
                    break;
                }
                if c == ',' {
                    continue;
                }
                let eq = inner[start..].find("=\"").unwrap_or_else(|| panic!("bad label in {line:?}")) + start;
                let key = &inner[start..eq];
                assert!(is_metric_name(key), "bad label name {key:?} in {line:?}");
                while chars.peek().is_some_and(|(i, _)| *i <= eq + 1) {
                    chars.next();
                }
                let mut value = String::new();
                loop {
                    match chars.next().unwrap_or_else(|| panic!("unclosed value in {line:?}")).1 {
                        '\\' => match chars.next().unwrap().1 {
                            'n' => value.push('\n'),
                            c @ ('\\' | '"') => value.push(c),
                            other => panic!("bad escape \\{other} in {line:?}"),
                        },
                        '"' => break,
                        c => value.push(c),
                    }
                }
                labels.insert(key.to_owned(), value);
            }
        }
        let mut fields = rest.trim_start().split(' ');
        let raw = fields.next().unwrap();
        let value = match raw {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            other => other.parse::<f64>().unwrap_or_else(|_| panic!("bad value {raw:?} in {line:?}")),
        };
        if let Some(timestamp) = fields.next() {
            timestamp.parse::<i64>().unwrap_or_else(|_| panic!("bad timestamp in {line:?}"));
        }
        assert!(fields.next().is_none(), "trailing fields in {line:?}");
        samples.push(Sample { name: name.to_owned(), labels, value });
    }
    samples
}

/// The sum of the samples of `name` that have all of `labels`.
pub(crate) fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == name && labels.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
        .map(|s| s.value)
        .sum()
}

async fn scrape_at(app: &TestApp, url: url::Url) -> (String, Vec<Sample>) {
    let response = app.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()[header::CONTENT_TYPE].to_str().unwrap().to_owned();
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    let text = response.text().await.unwrap();
    let samples = parse_exposition(&text);
    (text, samples)
}

pub(crate) async fn scrape(app: &TestApp) -> (String, Vec<Sample>) {
    scrape_at(app, app.url("/metrics")).await
}

/// Every label value is from a fixed vocabulary: no id, key, token or query string.
fn assert_no_id_in_labels(samples: &[Sample], text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(!text.contains(secret), "{secret:?} appears in /metrics");
    }
    for sample in samples {
        for (key, value) in &sample.labels {
            let ok = match key.as_str() {
                "route" => value == "unmatched" || (value.starts_with('/') && !value.contains('?')),
                "status" if sample.name.starts_with("paybridge_http_") => value.parse::<u16>().is_ok(),
                "le" => value == "+Inf" || value.parse::<f64>().is_ok(),
                _ => value.chars().all(|c| c.is_ascii_alphanumeric() || "_.".contains(c)),
            };
            let longest_digits = value.split(|c: char| !c.is_ascii_digit()).map(str::len).max().unwrap_or(0);
            assert!(longest_digits < 6 || key == "le", "{}: a number like an id in {key}={value:?}", sample.name);
            assert!(ok, "{}: label {key}={value:?}", sample.name);
            for prefix in ["pay_", "sbx_", "evt_", "msg_", "tok_", "sk_", "whsec_", "whe_"] {
                assert!(!value.contains(prefix), "{}: an id in {key}={value:?}", sample.name);
            }
        }
    }
}

async fn metrics_parse_and_a_payment_moves_them(db: Db) {
    let app = spawn_app(db).await;
    let (_, before) = scrape(&app).await;
    let paid = ("channel", "cafe24");
    let request_to_complete = [paid, ("from", "request"), ("to", "complete")];
    assert_eq!(value(&before, "paybridge_payment_transitions_total", &request_to_complete), 0.0, "its own registry");

    let payment = app.paid_payment("3065.00").await;
    // A path nobody routes, with an id and a key in it: counted, under a fixed label.
    let odd = app.client.get(app.url("/no-such/pay_0123456789abcdef?key=sk_test_secretvalue")).send().await.unwrap();
    assert_eq!(odd.status(), StatusCode::NOT_FOUND);

    // The PG failing: the call is counted as unavailable.
    app.sandbox_pg("/faults", &[("path", "/v1/checkouts"), ("times", "1"), ("when", "before")]).await;
    let failing = payment_request(&unique_order_id(), "10.00");
    let (_, answer) = app.post_json("/api/synchronous-checkout/checkout", &failing).await;
    assert_ne!(answer["result_code"], "0000", "{answer}");

    let (text, after) = scrape(&app).await;
    assert_eq!(value(&after, "paybridge_payment_transitions_total", &request_to_complete), 1.0);
    let unavailable = [("connector", "sandbox"), ("operation", "create_checkout"), ("outcome", "unavailable")];
    assert_eq!(value(&after, "paybridge_pg_calls_total", &unavailable), 1.0);
    let checkout = [("route", "/api/synchronous-checkout/checkout"), ("method", "POST"), ("status", "200")];
    assert_eq!(value(&after, "paybridge_http_requests_total", &checkout), 1.0);
    let checkout_timing = [("route", "/api/synchronous-checkout/checkout"), ("method", "POST")];
    assert_eq!(value(&after, "paybridge_http_requests_total", &checkout_timing), 2.0, "and the failed one");
    assert_eq!(value(&after, "paybridge_http_request_duration_seconds_count", &checkout_timing), 2.0);
    assert_eq!(
        value(&after, "paybridge_http_request_duration_seconds_bucket", &[checkout_timing[0], ("le", "+Inf")]),
        2.0
    );
    let unmatched = [("route", "unmatched"), ("method", "GET"), ("status", "404")];
    assert!(value(&after, "paybridge_http_requests_total", &unmatched) >= 1.0);
    let pg = [("connector", "sandbox"), ("operation", "create_checkout"), ("outcome", "ok")];
    assert_eq!(value(&after, "paybridge_pg_calls_total", &pg), 1.0);
    assert!(value(&after, "paybridge_pg_calls_total", &[("connector", "sandbox"), ("operation", "get_order")]) >= 1.0);
    assert_eq!(value(&after, "paybridge_pg_call_duration_seconds_count", &[pg[0], pg[1]]), 2.0);
    assert_eq!(value(&after, "paybridge_db_up", &[]), 1.0);
    assert!(value(&after, "paybridge_db_connections", &[("state", "idle")]) >= 0.0);
    assert!(after.iter().any(|s| s.name == "paybridge_db_connections" && s.labels["state"] == "in_use"));
    assert!(value(&after, "paybridge_db_max_connections", &[]) >= 1.0);
    assert!(value(&after, "paybridge_db_write_begin_seconds_count", &[]) >= 1.0, "writes were timed");
    assert!(after.iter().any(|s| s.name == "paybridge_outbox_oldest_due_age_seconds"));

    let stored = app.payment(&payment.order_id).await;
    let ids = [stored.id.as_str(), payment.order_id.as_str(), payment.tid.as_str(), payment.key.as_str()];
    let secrets = [&ids[..], &["pay_0123456789abcdef", "sk_test_secretvalue", SERVICE_KEY, PG_SECRET]].concat();
    assert_no_id_in_labels(&after, &text, &secrets);
}

async fn workers_report_their_passes(db: Db) {
    let app = spawn_app(db).await;
    let deadline = Instant::now() + SECONDS;
    loop {
        let (_, samples) = scrape(&app).await;
        let passes = |worker| value(&samples, "paybridge_worker_passes_total", &[("worker", worker)]);
        let lag = |worker| {
            samples
                .iter()
                .find(|s| s.name == "paybridge_worker_last_pass_age_seconds" && s.labels["worker"] == worker)
                .map(|s| s.value)
        };
        if passes("outbox") >= 1.0 && passes("maintenance") >= 1.0 {
            assert!(lag("outbox").is_some_and(|s| s < 10.0), "{:?}", lag("outbox"));
            assert!(lag("maintenance").is_some_and(|s| s < 10.0));
            return;
        }
        assert!(Instant::now() < deadline, "no worker passes counted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn a_failed_noty_moves_the_failure_counters(db: Db) {
    // One retry: two attempts, then the noty is given up.
    let app = spawn_app_with(db, &[("NOTIFY_RETRY_DELAYS", "100ms")]).await;
    let cafe24 = Receiver::start().await;
    cafe24.plan("/noty", Plan::AlwaysFail);
    let order_id = unique_order_id();
    let payment_url = app.request_async_payment(&order_id, "77.00", &cafe24.url("/noty")).await;
    app.press(&payment_url, "approve").await;
    app.wait_rows("outbox", "status = 'failed'", 1, SECONDS).await;

    let (text, samples) = scrape(&app).await;
    let kind = ("kind", PAYMENT_NOTY);
    assert_eq!(value(&samples, "paybridge_outbox_attempts_total", &[kind, ("outcome", "failed")]), 2.0);
    assert_eq!(value(&samples, "paybridge_outbox_attempts_total", &[kind, ("outcome", "delivered")]), 0.0);
    assert_eq!(value(&samples, "paybridge_outbox_gave_up_total", &[kind]), 1.0);
    assert_eq!(value(&samples, "paybridge_outbox_messages", &[kind, ("status", "failed")]), 1.0);
    let transitions = [("channel", "cafe24"), ("from", "request"), ("to", "complete")];
    assert_eq!(value(&samples, "paybridge_payment_transitions_total", &transitions), 1.0);
    let payment = app.payment(&order_id).await;
    assert_no_id_in_labels(&samples, &text, &[payment.id.as_str(), order_id.as_str(), &cafe24.url("/noty")]);
}

async fn metrics_addr_serves_the_metrics_apart(db: Db) {
    let port = free_port();
    let app = spawn_app_with(db, &[("METRICS_ADDR", &format!("127.0.0.1:{port}"))]).await;
    let (_, samples) = scrape_at(&app, format!("http://127.0.0.1:{port}/metrics").parse().unwrap()).await;
    assert!(samples.iter().any(|s| s.name == "paybridge_db_up"));
    let main = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(main.status(), StatusCode::NOT_FOUND, "not on the main listener");
    let other = app.client.get(format!("http://127.0.0.1:{port}/healthz")).send().await.unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND, "the metrics listener serves /metrics only");
}

async fn a_request_id_is_taken_or_made_and_echoed(db: Db) {
    let app = spawn_app(db).await;
    let id_of = |r: &reqwest::Response| r.headers().get("x-request-id").map(|v| v.to_str().unwrap().to_owned());
    let given = app.client.get(app.url("/healthz")).header("x-request-id", "lb-7f3a.42").send().await.unwrap();
    assert_eq!(id_of(&given).as_deref(), Some("lb-7f3a.42"));
    let made = app.client.get(app.url("/healthz")).send().await.unwrap();
    let made = id_of(&made).expect("a request id is made");
    assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
    let other = id_of(&app.client.get(app.url("/healthz")).send().await.unwrap()).unwrap();
    assert_ne!(made, other, "one per request");
    // One that could break a log line or carry a payload is replaced.
    let odd = app.client.get(app.url("/healthz")).header("x-request-id", "a b\"c").send().await.unwrap();
    let replaced = id_of(&odd).unwrap();
    assert!(uuid::Uuid::parse_str(&replaced).is_ok(), "{replaced}");
    // Every answer carries one: errors, pages, the API.
    let missing = app.client.get(app.url("/no-such-page")).send().await.unwrap();
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(id_of(&missing).is_some());
    let refused = app
        .client
        .post(app.url("/api/synchronous-checkout/checkout"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_client_error());
    assert!(id_of(&refused).is_some());
}

async fn healthz_is_alive_and_readyz_reports_each_check(db: Db) {
    let app = spawn_app(db).await;
    let body = wait_ready(&app).await;
    for check in ["database", "migrations", "workers", "outbox"] {
        assert_eq!(body["checks"][check], "ok", "{body}");
    }
    assert_eq!(body["failed"], serde_json::json!([]));

    // Without its database: not ready, and says why; still alive.
    app.state.store.close().await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["status"], "not ready");
    assert_eq!(body["checks"]["database"], "unreachable");
    assert!(body["failed"].as_array().unwrap().contains(&"database".into()), "{body}");
    let alive = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), StatusCode::OK);
    assert_eq!(alive.json::<Value>().await.unwrap(), serde_json::json!({"status": "ok"}));
}

async fn readyz_fails_while_a_migration_is_not_applied(db: Db) {
    let app = spawn_app(db).await;
    wait_ready(&app).await;
    let (latest,): (i64,) =
        sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(app.state.store.pool()).await.unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1")
        .bind(latest)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["failed"], serde_json::json!(["migrations"]));
    assert_eq!(body["checks"]["migrations"], format!("not applied: {latest}"));
}

/// A message due for long that no worker takes: the outbox is stuck.
async fn readyz_fails_while_the_outbox_is_stuck(db: Db) {
    let app = spawn_app_with(db, &[("NOTIFY_WORKER", "off"), ("READY_OUTBOX_MAX_AGE", "1m")]).await;
    let store_hooks = Receiver::start().await;
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["checks"]["workers"], "ok (off on this instance)");

    let due = now_ms() - 5 * 60_000;
    sqlx::query(
        "INSERT INTO outbox (id, payment_id, kind, target_url, body, content_type, headers, accept, status, \
         attempts, next_attempt_at, created_at, updated_at) VALUES ('msg_stuck', NULL, 'webhook.test', $1, '{}', \
         'application/json', '[]', '2xx', 'pending', 0, $2, $2, $2)",
    )
    .bind(store_hooks.url("/hooks"))
    .bind(due)
    .execute(app.state.store.pool())
    .await
    .unwrap();
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["failed"], serde_json::json!(["outbox"]));
    let said = body["checks"]["outbox"].as_str().unwrap();
    assert!(
        said.starts_with("stuck: 1 notifications due, the oldest waiting for 30") && said.ends_with("(limit 60s)"),
        "{said}"
    );
    let (_, samples) = scrape(&app).await;
    assert_eq!(value(&samples, "paybridge_outbox_due", &[]), 1.0);
    assert!(value(&samples, "paybridge_outbox_oldest_due_age_seconds", &[]) >= 300.0);

    // A worker takes it: ready again.
    assert_eq!(app.deliver_due().await, 1);
    let (status, body) = readyz(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// An instance that runs workers is not ready before they have made a pass (checked
/// on the real database, with metrics no worker has reported to).
async fn readiness_wants_the_workers_passes(db: Db) {
    let app = spawn_app(db).await;
    let settings = Readiness { workers: true, outbox_max_age: None, worker_max_lag: Duration::from_secs(60) };
    let metrics = Metrics::default();
    let (ready, body) = paybridge::observability::readiness(&app.state.store, &metrics, &settings).await;
    assert!(!ready);
    assert_eq!(body["failed"], serde_json::json!(["workers"]));
    assert_eq!(body["checks"]["workers"], "outbox has made no pass yet; maintenance has made no pass yet");
    metrics.pass_done(paybridge::observability::Worker::Outbox);
    metrics.pass_done(paybridge::observability::Worker::Maintenance);
    let (ready, body) = paybridge::observability::readiness(&app.state.store, &metrics, &settings).await;
    assert!(ready, "{body}");
    assert_eq!(body["checks"]["outbox"], "ok (not checked: READY_OUTBOX_MAX_AGE=off)");
}

async fn readyz(app: &TestApp) -> (StatusCode, Value) {
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// Waits until `/readyz` answers 200 (the workers' first passes); its body.
async fn wait_ready(app: &TestApp) -> Value {
    let deadline = Instant::now() + SECONDS;
    loop {
        let (status, body) = readyz(app).await;
        if status == StatusCode::OK {
            return body;
        }
        assert!(Instant::now() < deadline, "not ready after {SECONDS:?}: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

crate::on_both_databases!(
    metrics_parse_and_a_payment_moves_them,
    workers_report_their_passes,
    a_failed_noty_moves_the_failure_counters,
    metrics_addr_serves_the_metrics_apart,
    a_request_id_is_taken_or_made_and_echoed,
    healthz_is_alive_and_readyz_reports_each_check,
    readyz_fails_while_a_migration_is_not_applied,
    readyz_fails_while_the_outbox_is_stuck,
    readiness_wants_the_workers_passes,
    the_request_id_is_on_the_requests_json_log_lines,
);

/// The whole lines of a JSON log (one still being written is left for the next read).
fn json_lines(text: &str) -> Vec<Value> {
    let written = &text[..text.rfind('\n').map_or(0, |i| i + 1)];
    written.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}"))).collect()
}

/// The lines written in the request with this id (its `http` span in their span list).
fn lines_of(lines: &[Value], request_id: &str) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| {
            l["spans"]
                .as_array()
                .is_some_and(|spans| spans.iter().any(|s| s["name"] == "http" && s["request_id"] == request_id))
        })
        .cloned()
        .collect()
}

/// The binary as operators run it with `LOG_FORMAT=json`, its standard output read as the
/// log. A process of its own: no other test's server writes into it, and nothing of the
/// test runner's logging is in the way.
async fn the_request_id_is_on_the_requests_json_log_lines(db: Db) {
    let (vars, _db) = environment(db, &[("LOG_FORMAT", "json"), ("RUST_LOG", "info,sqlx=warn,tower_http=info")]).await;
    let log_path = std::env::temp_dir().join(format!("paybridge-json-log-{}.txt", uuid::Uuid::new_v4().simple()));
    let (mut server, base) =
        start_process(&vars, std::process::Stdio::from(std::fs::File::create(&log_path).unwrap())).await;
    let client = reqwest::Client::new();

    let order_id = unique_order_id();
    let request = payment_request(&order_id, "3065.00");
    let hash_data = request["hash_data"].as_str().unwrap().to_owned();
    let response = client
        .post(base.join("/api/synchronous-checkout/checkout").unwrap())
        .header("x-request-id", "obs-test-given-1")
        .json(&request)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-request-id"], "obs-test-given-1");
    let store = paybridge::store::Store::connect(&vars["DATABASE_URL"]).await.unwrap();
    let (mall, order) =
        (paybridge::domain::MallId::parse("demomall").unwrap(), paybridge::domain::OrderId::parse(&order_id).unwrap());
    let payment = store.payment_by_order(&mall, &order).await.unwrap().expect("the payment was made");

    let made = client.get(base.join("/no-such-page").unwrap()).send().await.unwrap();
    let made_id = made.headers()["x-request-id"].to_str().unwrap().to_owned();

    // The closing line of each request is written as its answer leaves: wait for both.
    let closing = |lines: &[Value], id: &str| {
        lines_of(lines, id).into_iter().find(|l| l["message"] == "finished processing request")
    };
    let deadline = Instant::now() + SECONDS;
    let (text, lines) = loop {
        let text = std::fs::read_to_string(&log_path).unwrap();
        let lines = json_lines(&text);
        if closing(&lines, "obs-test-given-1").is_some() && closing(&lines, &made_id).is_some() {
            break (text, lines);
        }
        assert!(Instant::now() < deadline, "the requests' closing lines were not logged: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = std::fs::remove_file(&log_path);

    let finished = closing(&lines, "obs-test-given-1").unwrap();
    assert_eq!(finished["level"], "INFO");
    assert_eq!(finished["status"], 200);
    let span = &finished["span"];
    assert_eq!(span["request_id"], "obs-test-given-1");
    assert_eq!(span["route"], "/api/synchronous-checkout/checkout");
    assert_eq!(span["method"], "POST");
    assert_eq!(span["payment_id"], payment.id.as_str(), "the span carries the payment it acted on");
    assert_eq!(span["channel"], "cafe24");

    for secret in [SERVICE_KEY, PG_SECRET, CLIENT_SECRET, hash_data.as_str()] {
        assert!(!text.contains(secret), "{secret:?} is in the log");
    }
}
