//! The soak test: paybridge as `.dev/run` configures it (the sandbox PG and the demo mall
//! in process), in a process of its own — on PostgreSQL two of them sharing the database —
//! under a steady mixed load for a bounded time, then a reconciliation of the books.
//!
//! The load is paced at `SOAK_RATE` requests a second, every request counted: the
//! payments' lives, as Cafe24, buyers, the PG and a store drive them, spread over the
//! instances (a payment begun on one is read and cancelled on the other):
//! - Cafe24 synchronous checkouts: payment request, the buyer at the sandbox PG's page
//!   (approve, or decline), our callback, the status read with the key, a partial cancel,
//!   then the rest, or two cancels of the rest at once (one must be refused);
//! - Cafe24 asynchronous checkouts: payment request, approve, callback, the PG's webhook
//!   sent again twice at once (duplicates), a full or a partial asynchronous cancel;
//! - Store API payments: an intent with an Idempotency-Key and its retry (replayed), the
//!   buyer approves (or declines), the payment read, a partial cancel and its retry, the
//!   rest cancelled, or two cancels racing, a purchase confirmation, a cancel after it.
//!
//! Notifications go where the demo mall and the demo store receive them (they check the
//! hash and the Standard Webhooks signature and keep what they got). When the load ends,
//! the test waits until nothing is in flight, then reconciles from the database:
//! every payment the PG holds as paid is paid here and told exactly once (one success noty
//! for Cafe24's asynchronous flow, one `payment.completed` webhook for the Store API; the
//! synchronous flow has no noty, and its status read said paid), no other payment is told
//! paid; Σ refunds ≤ captured for every payment and equal to what the PG refunded; every
//! status and every recorded transition is one the table allows; the outbox is empty or
//! only failed-and-reported. It prints latency percentiles by request kind, the answers by
//! status (explained: what the contract says, such as a replay or a refused race loser;
//! unexplained: anything else), each instance's resident set over time and the outbox's
//! oldest undelivered message over time; it exits non-zero on any unexplained error or
//! reconciliation failure.
//!
//! `cargo bench -p paybridge-server --bench soak`
//! Environment: `SOAK_DB` = `sqlite`, `postgres` (two instances, `TEST_POSTGRES_URL`) or
//! `both` (default); `SOAK_RATE` requests per second (default 200); `SOAK_SECONDS` of load
//! (default 600); `SOAK_CLIENTS` payments in progress at once (default 64).

mod common;

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::{
        atomic::{AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use common::{database_url, env_or, ms, percentile, start_paybridge_on, PARTNER_ID, SERVICE_KEY};
use paybridge::{cafe24::signature, store::Store};
use reqwest::{header::HeaderMap, RequestBuilder, StatusCode};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use url::Url;

const KEY: &str = "sk_test_paybridge_demomall";
/// How long the end may take to settle (the PG's webhooks, the outbox) before it is a failure.
const SETTLE_WITHIN: Duration = Duration::from_secs(120);

fn main() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    if std::env::var("BENCH_ROLE").as_deref() == Ok("paybridge") {
        runtime.block_on(serve());
        return;
    }
    let which = std::env::var("SOAK_DB").unwrap_or_else(|_| "both".into());
    let kinds: Vec<&str> = match which.as_str() {
        "sqlite" => vec!["sqlite"],
        "postgres" => vec!["postgres"],
        "both" => vec!["sqlite", "postgres"],
        other => panic!("SOAK_DB={other}: sqlite, postgres or both"),
    };
    let mut passed = true;
    for kind in kinds {
        passed &= runtime.block_on(soak(kind));
    }
    if !passed {
        eprintln!("soak: FAILED (see above)");
        std::process::exit(1);
    }
}

/// The child's part: one paybridge instance on `SOAK_DATABASE_URL`; says where, then
/// serves until killed.
async fn serve() {
    let url = std::env::var("SOAK_DATABASE_URL").unwrap();
    let key = std::env::var("SOAK_ENCRYPTION_KEY").unwrap();
    let (base, _store) = start_paybridge_on(&url, &key).await;
    println!("READY {base}");
    std::future::pending::<()>().await;
}

struct Instance {
    child: Child,
    base: String,
}

/// An instance ends with the soak, however it ends (a panic too).
impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A paybridge process on `database_url`, once it serves.
fn spawn_instance(database_url: &str, encryption_key: &str) -> Instance {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .env("BENCH_ROLE", "paybridge")
        .env("SOAK_DATABASE_URL", database_url)
        .env("SOAK_ENCRYPTION_KEY", encryption_key)
        .env("RUST_LOG", std::env::var("SOAK_LOG").unwrap_or_else(|_| "warn".into()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base = line.trim().strip_prefix("READY ").unwrap_or_else(|| panic!("paybridge did not start: {line:?}"));
    Instance { base: base.to_owned(), child }
}

/// The resident set of `pid`, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap_or("VmRSS: 0 kB");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------
// The pace and what was seen

/// Hands out `rate` permits a second in ticks of 10 ms. A worker takes one per request;
/// permits nobody took within 100 ms are dropped and counted: the load fell behind.
#[derive(Clone)]
struct Pacer {
    permits: Arc<Semaphore>,
    dropped: Arc<AtomicU64>,
}

impl Pacer {
    fn start(rate: f64) -> (Pacer, tokio::task::JoinHandle<()>) {
        let pacer = Pacer { permits: Arc::new(Semaphore::new(0)), dropped: Default::default() };
        let cap = (rate / 10.0).ceil().max(1.0) as usize;
        let p = pacer.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut due = 0.0;
            loop {
                tick.tick().await;
                due += rate / 100.0;
                let whole = due.floor();
                due -= whole;
                let room = cap.saturating_sub(p.permits.available_permits());
                let add = (whole as usize).min(room);
                p.permits.add_permits(add);
                p.dropped.fetch_add((whole as usize - add) as u64, Ordering::Relaxed);
            }
        });
        (pacer, task)
    }

    async fn wait(&self) {
        self.permits.acquire().await.unwrap().forget();
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    text: String,
    url: Url,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }

    /// Where a redirect sends the client.
    fn location(&self) -> Option<Url> {
        let raw = self.headers.get(reqwest::header::LOCATION)?.to_str().ok()?;
        self.url.join(raw).ok()
    }

    fn query(&self, name: &str) -> Option<String> {
        self.location()?.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }

    fn redirect(&self) -> bool {
        self.status == StatusCode::SEE_OTHER || self.status == StatusCode::FOUND
    }

    fn cafe24_ok(&self) -> bool {
        self.status == StatusCode::OK && self.json()["result_code"] == "0000"
    }

    /// The saved answer to an Idempotency-Key sent again.
    fn replayed(&self) -> bool {
        self.headers.get("idempotent-replayed").is_some_and(|v| v == "true")
    }

    fn error_code(&self) -> Value {
        self.json()["error"]["code"].clone()
    }
}

#[derive(Default)]
struct Seen {
    /// (kind, latency) of every answered request.
    latencies: Vec<(&'static str, Duration)>,
    /// (kind, status, explained) → count; status 0: no answer.
    by_status: BTreeMap<(&'static str, u16, bool), usize>,
    /// The first unexplained answers, in full.
    unexplained: Vec<String>,
    /// What the lives found wrong beyond a request's answer (each one unexplained).
    findings: Vec<String>,
    /// Cafe24 synchronous orders whose status read said paid.
    sync_paid: HashSet<String>,
}

struct Soak {
    client: reqwest::Client,
    pacer: Pacer,
    instances: Vec<String>,
    seen: Mutex<Seen>,
    run: String,
}

impl Soak {
    /// Sends `request` when the pace allows; records its latency and status, and whether
    /// `check` explains the answer. None (the payment's life stops here) when it does not.
    async fn call(
        &self,
        kind: &'static str,
        request: RequestBuilder,
        check: impl Fn(&Answer) -> bool,
    ) -> Option<Answer> {
        self.pacer.wait().await;
        let started = Instant::now();
        let answer = match request.send().await {
            Ok(response) => {
                let (status, headers, url) = (response.status(), response.headers().clone(), response.url().clone());
                response.text().await.ok().map(|text| Answer { status, headers, text, url })
            }
            Err(_) => None,
        };
        let took = started.elapsed();
        let mut seen = self.seen.lock().unwrap();
        let Some(answer) = answer else {
            *seen.by_status.entry((kind, 0, false)).or_default() += 1;
            if seen.unexplained.len() < 20 {
                seen.unexplained.push(format!("{kind}: no answer"));
            }
            return None;
        };
        seen.latencies.push((kind, took));
        let explained = check(&answer);
        *seen.by_status.entry((kind, answer.status.as_u16(), explained)).or_default() += 1;
        if explained {
            Some(answer)
        } else {
            if seen.unexplained.len() < 20 {
                let text: String = answer.text.chars().take(300).collect();
                let location = answer.location().map(|l| l.to_string()).unwrap_or_default();
                seen.unexplained.push(format!("{kind}: {} {location} {text}", answer.status));
            }
            None
        }
    }

    fn finding(&self, what: String) {
        self.seen.lock().unwrap().findings.push(what);
    }

    fn instance(&self, i: usize) -> &str {
        &self.instances[i % self.instances.len()]
    }

    /// The buyer presses `button` on the PG's page at `page` and is sent to our callback,
    /// which sends them on; its answer.
    async fn buyer(&self, page: &str, button: &str) -> Option<Answer> {
        let pressed =
            self.call("pg page: press", self.client.post(format!("{page}/{button}")), |a| a.redirect()).await?;
        let callback = pressed.location()?;
        self.call("callback", self.client.get(callback), |a| a.redirect()).await
    }
}

// ---------------------------------------------------------------------------------------
// The payments' lives

/// One payment's life, the `i`th: its kind by `i`.
async fn life(soak: &Soak, i: usize) -> Option<()> {
    match i % 10 {
        0..=2 => cafe24_sync(soak, i).await,
        3..=5 => cafe24_async(soak, i).await,
        _ => store_api(soak, i).await,
    }
}

fn payment_request(base: &str, order_id: &str, amount: &str) -> Value {
    json!({
        "request_type": "request", "partner_id": PARTNER_ID, "shop_no": "1", "shop_name": "Tindahan",
        "order_id": order_id, "paymethod": "etc", "currency": "PHP", "amount": amount,
        "buyer_id": "soakbuyer", "buyer_name": "Soak Buyer", "goods_name": "Soak × 1",
        "return_url": format!("{base}/demo-mall/return"), "return_noty_url": format!("{base}/demo-mall/noty"),
        "hash_data": signature::sign(SERVICE_KEY, &[amount, "PHP", order_id, PARTNER_ID]),
        "extra_data": json!({"pgName": "soak", "orderId": order_id}).to_string(),
    })
}

fn cancel_request(base: &str, order_id: &str, tid: &str, cancel: &str, remain: &str) -> Value {
    json!({
        "request_type": "cancel", "partner_id": PARTNER_ID, "shop_no": "1", "paymethod": "etc", "tid": tid,
        "order_id": order_id, "escrow_tf": "F", "currency": "PHP", "amount": "150.00", "cancel_amount": cancel,
        "remain_amount": remain, "cancel_type": "C", "cancel_reason": "soak",
        "cancel_noty_url": format!("{base}/demo-mall/cancel-noty"), "tax_free_tf": "F",
        "hash_data": signature::sign(SERVICE_KEY, &[cancel, "PHP", order_id, PARTNER_ID, tid]),
    })
}

/// A refused Cafe24 request: a 4xx with result code 9999.
fn cafe24_refused(a: &Answer) -> bool {
    a.status.is_client_error() && a.json()["result_code"] == "9999"
}

/// A Cafe24 flow: its checkout path and the request's kind in the figures.
type Flow = (&'static str, &'static str);
const SYNC: Flow = ("/api/synchronous-checkout/checkout", "cafe24 sync: payment request");
const ASYNC: Flow = ("/api/asynchronous-checkout/checkout", "cafe24 async: payment request");

/// A Cafe24 payment request to `a`, the buyer pressing `button` at the PG's page, and our
/// callback sending them back with `result`: the PG's page and the callback's answer.
async fn cafe24_checkout(
    soak: &Soak,
    (path, kind): Flow,
    a: &str,
    order: &str,
    button: &str,
    result: &str,
) -> Option<(String, Answer)> {
    let request = soak.client.post(format!("{a}{path}")).json(&payment_request(a, order, "150.00"));
    let opened = soak.call(kind, request, Answer::cafe24_ok).await?;
    let page = opened.json()["payment_url"].as_str()?.to_owned();
    let back = soak.buyer(&page, button).await?;
    if back.query("result_code").as_deref() != Some(result) {
        soak.finding(format!("{kind} {order}: the callback sent the buyer to {:?}", back.location()));
        return None;
    }
    Some((page, back))
}

async fn cafe24_sync(soak: &Soak, i: usize) -> Option<()> {
    let (a, b) = (soak.instance(i), soak.instance(i + 1));
    let order = format!("S{}-{i:06}", soak.run);
    let declined = i % 10 == 2;
    let (button, result) = if declined { ("decline", "0001") } else { ("approve", "0000") };
    let (_, back) = cafe24_checkout(soak, SYNC, a, &order, button, result).await?;
    let key = back.query("key")?;
    let status = |a: &Answer| a.status == StatusCode::OK;
    let read = soak.client.post(format!("{b}/api/synchronous-checkout/checkout/status")).json(&json!({"key": key}));
    let read = soak.call("cafe24 sync: status read", read, status).await?.json();
    let paid = read["result_code"] == "0000" && read["payed_tf"] == "T";
    let unpaid = read["result_code"] == "1400" && read["payed_tf"] == "F";
    if (declined && !unpaid) || (!declined && !paid) {
        soak.finding(format!("status read of {order} (declined: {declined}): {read}"));
        return None;
    }
    if declined {
        return Some(());
    }
    soak.seen.lock().unwrap().sync_paid.insert(order.clone());
    let tid = read["tid"].as_str()?.to_owned();
    let cancel = |base: &str, amount: &str, remain: &str| {
        let request = soak.client.post(format!("{base}/api/synchronous-cancellation/cancel"));
        request.json(&cancel_request(base, &order, &tid, amount, remain))
    };
    soak.call("cafe24 sync: partial cancel", cancel(a, "50.00", "100.00"), Answer::cafe24_ok).await?;
    if i % 20 == 1 {
        // Two cancels of the rest at once, one on each instance: one is refunded, the
        // other refused, never both.
        let either = |a: &Answer| a.cafe24_ok() || cafe24_refused(a);
        let kind = "cafe24 sync: racing cancels";
        let (x, y) = tokio::join!(
            soak.call(kind, cancel(a, "100.00", "0.00"), either),
            soak.call(kind, cancel(b, "100.00", "0.00"), either)
        );
        let done = [x?, y?].iter().filter(|a| a.cafe24_ok()).count();
        if done != 1 {
            soak.finding(format!("{order}: {done} of two racing cancels done"));
        }
    } else if i % 10 == 0 {
        soak.call("cafe24 sync: cancel the rest", cancel(b, "100.00", "0.00"), Answer::cafe24_ok).await?;
    }
    Some(())
}

async fn cafe24_async(soak: &Soak, i: usize) -> Option<()> {
    let (a, b) = (soak.instance(i), soak.instance(i + 1));
    let order = format!("A{}-{i:06}", soak.run);
    let (page, _) = cafe24_checkout(soak, ASYNC, a, &order, "approve", "0000").await?;
    let code = page.rsplit('/').next()?.to_owned();
    // The PG sends its last webhook (paid) again, twice at once.
    let resend = soak.client.post(format!("{b}/sandbox-pg/orders/{code}/webhooks/resend?times=2"));
    soak.call("pg: webhook sent again ×2", resend, |a| a.status == StatusCode::OK).await?;
    let cancel = |amount: &str, remain: &str| {
        let request = soak.client.post(format!("{b}/api/asynchronous-cancellation/cancel"));
        request.json(&cancel_request(a, &order, &code, amount, remain))
    };
    match i % 10 {
        3 => soak.call("cafe24 async: full cancel", cancel("150.00", "0.00"), Answer::cafe24_ok).await?,
        4 => soak.call("cafe24 async: partial cancel", cancel("50.00", "100.00"), Answer::cafe24_ok).await?,
        _ => return Some(()),
    };
    Some(())
}

/// A Store API POST with `key` as its Idempotency-Key.
fn v2_post(soak: &Soak, base: &str, path: &str, key: &str, body: &Value) -> RequestBuilder {
    soak.client.post(format!("{base}{path}")).bearer_auth(KEY).header("Idempotency-Key", key).json(body)
}

async fn store_api(soak: &Soak, i: usize) -> Option<()> {
    let (a, b) = (soak.instance(i), soak.instance(i + 1));
    let order = format!("V{}-{i:06}", soak.run);
    let body = json!({
        "amount": 15000, "currency": "PHP", "orderId": order, "orderName": "Soak × 1", "customerId": "c-soak",
        "successUrl": format!("{a}/demo-mall/store/success"), "failUrl": format!("{a}/demo-mall/store/fail"),
        "metadata": {"run": soak.run},
    });
    let key = format!("{order}-intent");
    let created = |a: &Answer| a.status == StatusCode::CREATED;
    let intent =
        soak.call("store api: intent", v2_post(soak, a, "/api/v2/payment-intents", &key, &body), created).await?.json();
    // The store did not see the answer and sends the same request again (the other
    // instance): the same payment, replayed.
    let replayed = |a: &Answer| created(a) && a.replayed();
    let again = v2_post(soak, b, "/api/v2/payment-intents", &key, &body);
    let again = soak.call("store api: intent retried", again, replayed).await?.json();
    let id = intent["id"].as_str()?.to_owned();
    if again["id"] != intent["id"] {
        soak.finding(format!("{order}: the retry made {} beside {id}", again["id"]));
        return None;
    }
    let page = intent["pgResponse"]["checkoutUrl"].as_str()?.to_owned();
    let declined = i % 10 == 9;
    soak.buyer(&page, if declined { "decline" } else { "approve" }).await?;
    let read = |base: &str| soak.client.get(format!("{base}/api/v2/payments/{id}")).bearer_auth(KEY);
    let expected = if declined { "FAIL" } else { "COMPLETE" };
    let ok = |a: &Answer| a.status == StatusCode::OK && a.json()["status"] == expected;
    soak.call("store api: read", read(b), ok).await?;
    if declined {
        return Some(());
    }
    let path = format!("/api/v2/payments/{id}/cancel");
    let ok = |a: &Answer| a.status == StatusCode::OK;
    let confirm_path = format!("/api/v2/payments/{id}/confirm");
    let confirm = || {
        soak.call("store api: confirm", v2_post(soak, a, &confirm_path, &format!("{order}-confirm"), &json!({})), ok)
    };
    match i % 10 {
        6 => {
            let part = json!({"amount": 5000, "reason": "soak: one item"});
            let key = format!("{order}-cancel-1");
            soak.call("store api: partial cancel", v2_post(soak, a, &path, &key, &part), ok).await?;
            let replayed = |a: &Answer| ok(a) && a.replayed();
            let again = v2_post(soak, b, &path, &key, &part);
            soak.call("store api: partial cancel retried", again, replayed).await?;
            let rest = json!({"amount": 10000, "reason": "soak: the rest"});
            soak.call("store api: cancel the rest", v2_post(soak, b, &path, &format!("{order}-cancel-2"), &rest), ok)
                .await?;
        }
        7 => {
            // Two refunds of 10000 of 15000 at once, one on each instance: one is
            // refunded, the other refused as too large.
            let big = json!({"amount": 10000, "reason": "soak: racing"});
            let either = |a: &Answer| {
                ok(a) || (a.status == StatusCode::UNPROCESSABLE_ENTITY && a.error_code() == "amount_too_large")
            };
            let kind = "store api: racing cancels";
            let (x, y) = tokio::join!(
                soak.call(kind, v2_post(soak, a, &path, &format!("{order}-race-a"), &big), either),
                soak.call(kind, v2_post(soak, b, &path, &format!("{order}-race-b"), &big), either)
            );
            let done = [x?, y?].iter().filter(|a| a.status == StatusCode::OK).count();
            if done != 1 {
                soak.finding(format!("{order}: {done} of two racing refunds done"));
            }
            confirm().await?;
        }
        _ => {
            confirm().await?;
            // A confirmed payment is not cancelled.
            let refused = |a: &Answer| a.status == StatusCode::CONFLICT && a.error_code() == "payment_confirmed";
            let cancel = v2_post(soak, b, &path, &format!("{order}-late"), &json!({"reason": "soak: too late"}));
            soak.call("store api: cancel after confirm", cancel, refused).await?;
        }
    }
    soak.call("store api: read", read(a), |a| a.status == StatusCode::OK).await?;
    Some(())
}

// ---------------------------------------------------------------------------------------
// One soak

/// The database's view, sampled while the load runs.
struct Sample {
    at: f64,
    rss_kib: Vec<u64>,
    /// Undelivered notifications, and how long the oldest has waited (ms).
    outbox_pending: i64,
    outbox_oldest_ms: i64,
}

async fn sample(store: &Store, pids: &[u32], started: Instant) -> Sample {
    let now = paybridge::store::now_ms();
    let (pending, oldest): (i64, Option<i64>) =
        sqlx::query_as("SELECT COUNT(*), MIN(created_at) FROM outbox WHERE status = 'pending'")
            .fetch_one(store.pool())
            .await
            .unwrap_or((-1, None));
    Sample {
        at: started.elapsed().as_secs_f64(),
        rss_kib: pids.iter().map(|pid| rss_kib(*pid)).collect(),
        outbox_pending: pending,
        outbox_oldest_ms: oldest.map_or(0, |t| (now - t).max(0)),
    }
}

/// Runs one soak on `kind`; whether it passed.
async fn soak(kind: &str) -> bool {
    let rate: f64 = env_or("SOAK_RATE", 200.0);
    let seconds: u64 = env_or("SOAK_SECONDS", 600);
    let clients: usize = env_or("SOAK_CLIENTS", 64);
    let count = (rate * seconds as f64) as usize;
    let url = database_url(kind, "soak").await;
    let encryption_key = paybridge::secrets::KeyRing::generate_encoded();
    let n = if kind == "postgres" { 2 } else { 1 };
    // One at a time: the first migrates and provisions the demo, the next finds them.
    let instances: Vec<Instance> = (0..n).map(|_| spawn_instance(&url, &encryption_key)).collect();
    let pids: Vec<u32> = instances.iter().map(|i| i.child.id()).collect();
    let store = Store::connect(&url).await.unwrap();
    let bases: Vec<String> = instances.iter().map(|i| i.base.clone()).collect();
    println!(
        "soak on {kind}: {n} instance(s) {}, {rate} requests/s for {seconds} s, {clients} payments in progress at most",
        bases.join(" ")
    );

    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    // The demo store's webhook endpoint (its receiver, on the first instance).
    let endpoint = client
        .post(format!("{}/api/v2/webhook-endpoints", bases[0]))
        .bearer_auth(KEY)
        .header("Idempotency-Key", "soak-endpoint")
        .json(&json!({"url": format!("{}/demo-mall/store/webhooks", bases[0])}))
        .send()
        .await
        .unwrap();
    assert_eq!(endpoint.status(), StatusCode::CREATED, "{}", endpoint.text().await.unwrap_or_default());

    let (pacer, pace) = Pacer::start(rate);
    let run = format!("{}", std::process::id() % 100_000);
    let soak = Arc::new(Soak { client, pacer: pacer.clone(), instances: bases, seen: Default::default(), run });
    let started = Instant::now();
    let load_for = Duration::from_secs(seconds);
    let next = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..clients)
        .map(|_| {
            let (soak, next) = (soak.clone(), next.clone());
            tokio::spawn(async move {
                let mut lives = (0usize, 0usize);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if started.elapsed() >= load_for || i >= count {
                        return lives;
                    }
                    lives.0 += 1;
                    if life(&soak, i).await.is_some() {
                        lives.1 += 1;
                    }
                }
            })
        })
        .collect();
    let sampler = {
        let (store, pids) = (store.clone(), pids.clone());
        tokio::spawn(async move {
            let mut samples = Vec::new();
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            while started.elapsed() < load_for {
                tick.tick().await;
                samples.push(sample(&store, &pids, started).await);
            }
            samples
        })
    };
    let (mut lives, mut finished) = (0, 0);
    for worker in workers {
        let (l, f) = worker.await.unwrap();
        lives += l;
        finished += f;
    }
    let load_took = started.elapsed();
    pace.abort();
    let samples = sampler.await.unwrap();

    // Nothing in flight: the PG's webhooks and pending refunds, the outbox.
    let settle_started = Instant::now();
    let settled = loop {
        let (in_flight,): (i64,) = sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM sandbox_pg_orders WHERE webhooks_in_flight <> 0) \
             + (SELECT COUNT(*) FROM sandbox_pg_refunds WHERE status = 'pending') \
             + (SELECT COUNT(*) FROM outbox WHERE status = 'pending')",
        )
        .fetch_one(store.pool())
        .await
        .unwrap();
        if in_flight == 0 {
            break true;
        }
        if settle_started.elapsed() > SETTLE_WITHIN {
            println!(
                "  NOT SETTLED: {in_flight} webhooks, refunds or notifications still in flight after {SETTLE_WITHIN:?}"
            );
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let settle_took = settle_started.elapsed();

    let seen = std::mem::take(&mut *soak.seen.lock().unwrap());
    let sent =
        seen.latencies.len() + seen.by_status.iter().filter(|((_, s, _), _)| *s == 0).map(|(_, n)| n).sum::<usize>();
    println!(
        "  load: {sent} requests in {:.1} s = {:.1} requests/s; behind the pace: {} requests not sent on time; \
         {lives} payments begun, {finished} lived as planned; settled {:.1} s after",
        load_took.as_secs_f64(),
        sent as f64 / load_took.as_secs_f64(),
        pacer.dropped.load(Ordering::Relaxed),
        settle_took.as_secs_f64()
    );
    report_latencies(&seen);
    let unexplained = report_statuses(&seen);
    report_samples(&samples, n);
    let books = reconcile(&store, &seen).await;
    drop(instances);
    let passed = settled && unexplained == 0 && books && finished == lives;
    store.pool().close().await;
    if passed {
        drop_database(&url).await;
        println!("  soak on {kind}: PASSED");
    } else {
        println!("  soak on {kind}: FAILED; its database is kept: {url}");
    }
    passed
}

/// Removes the database at `url` (made by `database_url`).
async fn drop_database(url: &str) {
    if let Some(path) = url.strip_prefix("sqlite://") {
        if let Some(dir) = std::path::Path::new(path).parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
        return;
    }
    use sqlx::Connection;
    let name = Url::parse(url).unwrap().path().trim_start_matches('/').to_owned();
    let admin = std::env::var("TEST_POSTGRES_URL").unwrap_or("postgres://postgres@127.0.0.1:5432/postgres".into());
    if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut conn).await;
    }
}

fn report_latencies(seen: &Seen) {
    let mut by_kind: BTreeMap<&str, Vec<Duration>> = BTreeMap::new();
    let mut all: Vec<Duration> = Vec::with_capacity(seen.latencies.len());
    for (kind, took) in &seen.latencies {
        by_kind.entry(kind).or_default().push(*took);
        all.push(*took);
    }
    println!("  latency (ms)                          count      p50      p99      max");
    let line = |name: &str, l: &mut Vec<Duration>| {
        l.sort();
        if let Some(max) = l.last() {
            println!(
                "    {name:<34} {:>7} {:>8.2} {:>8.2} {:>8.2}",
                l.len(),
                ms(percentile(l, 0.5)),
                ms(percentile(l, 0.99)),
                ms(*max)
            );
        }
    };
    line("all", &mut all);
    for (kind, l) in &mut by_kind {
        line(kind, l);
    }
}

/// Prints the answers by status; returns how many were unexplained, with the findings.
fn report_statuses(seen: &Seen) -> usize {
    println!("  answers by status (explained: what the contract says for that request)");
    let mut unexplained = seen.findings.len();
    for ((kind, status, explained), n) in &seen.by_status {
        let status = if *status == 0 { "no answer".to_owned() } else { status.to_string() };
        println!("    {kind:<34} {status:>9} {n:>7} {}", if *explained { "" } else { "UNEXPLAINED" });
        if !explained {
            unexplained += n;
        }
    }
    println!("  unexplained: {unexplained}");
    for u in seen.unexplained.iter().chain(&seen.findings).take(30) {
        println!("    {u}");
    }
    unexplained
}

fn report_samples(samples: &[Sample], instances: usize) {
    let mib = |kib: u64| kib as f64 / 1024.0;
    for i in 0..instances {
        let rss: Vec<u64> = samples.iter().map(|s| s.rss_kib[i]).collect();
        let (min, max) = (rss.iter().min().copied().unwrap_or(0), rss.iter().max().copied().unwrap_or(0));
        let over: Vec<String> = samples
            .iter()
            .step_by((samples.len() / 10).max(1))
            .map(|s| format!("{:.0}s {:.1}", s.at, mib(s.rss_kib[i])))
            .collect();
        println!(
            "  RSS of instance {} (MiB): min {:.1}, max {:.1}, last {:.1}; over time: {}",
            i + 1,
            mib(min),
            mib(max),
            mib(rss.last().copied().unwrap_or(0)),
            over.join(", ")
        );
    }
    let oldest = samples.iter().map(|s| s.outbox_oldest_ms).max().unwrap_or(0);
    let pending = samples.iter().map(|s| s.outbox_pending).max().unwrap_or(0);
    let over: Vec<String> = samples
        .iter()
        .step_by((samples.len() / 10).max(1))
        .map(|s| format!("{:.0}s {}/{}ms", s.at, s.outbox_pending, s.outbox_oldest_ms))
        .collect();
    println!(
        "  outbox undelivered: at most {pending} at once, the oldest waited at most {oldest} ms; over time (count/oldest): {}",
        over.join(", ")
    );
}

// ---------------------------------------------------------------------------------------
// The books

/// The status table (SPEC §3): (from, to); from None is a payment's creation.
const ALLOWED: [(Option<i64>, i64); 11] = [
    (None, 1),
    (Some(1), 2),
    (Some(1), 4),
    (Some(1), 5),
    (Some(1), 9),
    (Some(5), 2),
    (Some(5), 6),
    (Some(2), 3),
    (Some(2), 7),
    (Some(7), 7),
    (Some(7), 3),
];

fn form(body: &str) -> HashMap<String, String> {
    serde_urlencoded::from_str(body).unwrap_or_default()
}

type PaymentRow =
    (String, String, String, i64, i64, i64, i64, Option<String>, Option<String>, Option<i64>, Option<i64>);

/// Reconciles the books; prints what it checked and each failure; whether all held.
async fn reconcile(store: &Store, seen: &Seen) -> bool {
    let pool = store.pool();
    let payments: Vec<PaymentRow> = sqlx::query_as(
        "SELECT p.id, p.channel, p.order_id, p.status, p.amount_minor, p.captured_minor, p.cancelled_minor, c.flow, \
         o.status, o.captured_minor, o.refunded_minor FROM payments p \
         LEFT JOIN cafe24_payments c ON c.payment_id = p.id LEFT JOIN sandbox_pg_orders o ON o.code = p.tid",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let refunds: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT payment_id, status, amount_minor FROM refunds").fetch_all(pool).await.unwrap();
    let notys: Vec<(String, String, String)> =
        sqlx::query_as("SELECT order_id, endpoint, body FROM demo_mall_notifications").fetch_all(pool).await.unwrap();
    let webhooks: Vec<(String, String)> =
        sqlx::query_as("SELECT payment_id, event_type FROM demo_store_webhooks").fetch_all(pool).await.unwrap();
    let transitions: Vec<(Option<i64>, Option<i64>, i64)> = sqlx::query_as(
        "SELECT from_status, to_status, COUNT(*) FROM payment_events WHERE to_status IS NOT NULL \
         GROUP BY from_status, to_status",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let outbox: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetch_all(pool).await.unwrap();
    let (retried,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM outbox WHERE attempts > 1").fetch_one(pool).await.unwrap();
    let (failed_unreported,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM outbox o WHERE o.status = 'failed' AND NOT EXISTS (SELECT 1 FROM payment_events e \
         WHERE e.payment_id = o.payment_id AND e.kind = 'notification.failed')",
    )
    .fetch_one(pool)
    .await
    .unwrap();

    let mut refunded: HashMap<&str, i64> = HashMap::new();
    let mut refunds_done: HashMap<&str, usize> = HashMap::new();
    let mut unsettled_refunds = 0;
    for (payment, status, amount) in &refunds {
        match status.as_str() {
            "succeeded" => {
                *refunded.entry(payment).or_default() += amount;
                *refunds_done.entry(payment).or_default() += 1;
            }
            "failed" => {}
            _ => unsettled_refunds += 1,
        }
    }
    let (mut success_notys, mut cancel_notys): (HashMap<&str, usize>, HashMap<&str, usize>) = Default::default();
    for (order, endpoint, body) in &notys {
        let f = form(body);
        let field = |name: &str| f.get(name).map(String::as_str).unwrap_or_default();
        if endpoint.ends_with("/noty") && field("request_type") == "payment" && field("payed_tf") == "T" {
            *success_notys.entry(order).or_default() += 1;
        }
        if endpoint.ends_with("/cancel-noty") && field("request_type") == "cancelnoty" && field("status") == "P" {
            *cancel_notys.entry(order).or_default() += 1;
        }
    }
    let mut completed: HashMap<&str, usize> = HashMap::new();
    for (payment, event) in &webhooks {
        if event == "payment.completed" {
            *completed.entry(payment).or_default() += 1;
        }
    }

    let mut failures: Vec<String> = Vec::new();
    let mut fail = |what: String| {
        if failures.len() < 30 {
            println!("    FAILED: {what}");
        }
        failures.push(what);
    };
    let (mut pg_paid, mut paid_minor, mut refunded_minor, mut by_status) =
        (0, 0i64, 0i64, BTreeMap::<i64, usize>::new());
    for (id, channel, order, status, amount, captured, cancelled, flow, pg_status, pg_captured, pg_refunded) in
        &payments
    {
        *by_status.entry(*status).or_default() += 1;
        let paid_at_pg = pg_status.as_deref() == Some("paid");
        let paid_here = matches!(status, 2 | 3 | 7);
        if paid_at_pg != paid_here {
            fail(format!("{order}: the PG holds it as {pg_status:?}, paybridge in status {status}"));
        }
        if !matches!(status, 2 | 3 | 4 | 7) {
            fail(format!("{order}: left in status {status}"));
        }
        let ours = refunded.get(id.as_str()).copied().unwrap_or(0);
        if *cancelled != ours || ours > *captured || *captured > *amount {
            fail(format!("{order}: cancelled {cancelled}, refunds {ours}, captured {captured} of {amount}"));
        }
        if paid_at_pg && (pg_captured != &Some(*captured) || pg_refunded != &Some(ours)) {
            fail(format!("{order}: the PG captured {pg_captured:?} and refunded {pg_refunded:?}, paybridge {captured} and {ours}"));
        }
        let consistent = match status {
            2 => ours == 0,
            7 => ours > 0 && ours < *captured,
            3 => ours == *captured,
            _ => ours == 0,
        };
        if !consistent {
            fail(format!("{order}: status {status} with {ours} of {captured} refunded"));
        }
        let told = match (channel.as_str(), flow.as_deref()) {
            ("cafe24", Some("async")) => success_notys.get(order.as_str()).copied().unwrap_or(0),
            ("cafe24", Some("sync")) => usize::from(seen.sync_paid.contains(order)),
            ("store_api", _) => completed.get(id.as_str()).copied().unwrap_or(0),
            other => {
                fail(format!("{order}: a payment of {other:?}"));
                0
            }
        };
        if told != usize::from(paid_here) {
            fail(format!("{order} ({channel} {flow:?}, status {status}): told paid {told} times"));
        }
        if flow.as_deref() == Some("async") {
            let notys = cancel_notys.get(order.as_str()).copied().unwrap_or(0);
            let done = refunds_done.get(id.as_str()).copied().unwrap_or(0);
            if notys != done {
                fail(format!("{order}: {done} refunds done, {notys} cancel notys"));
            }
        }
        if paid_here {
            pg_paid += 1;
            paid_minor += captured;
            refunded_minor += ours;
        }
    }
    if unsettled_refunds > 0 {
        fail(format!("{unsettled_refunds} refunds not settled"));
    }
    for (from, to, n) in &transitions {
        if !ALLOWED.contains(&(*from, to.unwrap_or(-1))) {
            fail(format!("{n} transitions {from:?} → {to:?}, which the table forbids"));
        }
    }
    let pending = outbox.iter().filter(|(s, _)| s == "pending").map(|(_, n)| n).sum::<i64>();
    if pending > 0 {
        fail(format!("{pending} notifications still pending"));
    }
    if failed_unreported > 0 {
        fail(format!("{failed_unreported} failed notifications not reported on their payment"));
    }
    println!(
        "  books: {} payments (by status: {by_status:?}); {pg_paid} paid at the PG and here, {:.2} PHP paid, {:.2} PHP refunded",
        payments.len(),
        paid_minor as f64 / 100.0,
        refunded_minor as f64 / 100.0
    );
    println!(
        "  told: {} success notys, {} cancel notys, {} payment.completed webhooks; outbox {outbox:?} \
         ({retried} needed more than one attempt); transitions {:?}",
        success_notys.values().sum::<usize>(),
        cancel_notys.values().sum::<usize>(),
        completed.values().sum::<usize>(),
        transitions.iter().map(|(f, t, n)| format!("{f:?}→{}:{n}", t.unwrap_or(-1))).collect::<Vec<_>>()
    );
    println!(
        "  reconciliation: {}",
        if failures.is_empty() { "every check held".to_owned() } else { format!("{} failures", failures.len()) }
    );
    failures.is_empty()
}
