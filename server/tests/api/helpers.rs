//! A real server on a random port, its own database (SQLite file or PostgreSQL
//! database), the sandbox PG, and a client that plays Cafe24: it signs requests with
//! the service key like Cafe24 does.

use std::{
    collections::HashMap,
    process::{Child, Command, Stdio},
    time::Duration,
};

use paybridge::{
    cafe24::signature,
    config::Config,
    domain::{MallId, OrderId},
    gateway::sandbox,
    startup::{AppState, Application},
    store::now_ms,
};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use url::Url;

pub const SERVICE_KEY: &str = "test-service-key";
pub const CLIENT_ID: &str = "test-client-id";
pub const CLIENT_SECRET: &str = "test-client-secret";
pub const PARTNER_ID: &str = "demomall:0:demo-app-public-key";
pub const PG_SECRET: &str = "demo-app-secret-key";
/// How long [`TestApp::settled`] waits at most.
const SETTLE: Duration = Duration::from_secs(20);
pub const RETURN_URL: &str = "https://demomall.cafe24shop.com/Pay/Recv/openpg/PayReceiveRtnPage.php";

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Runs each listed scenario once on SQLite and once on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::helpers::Db::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::helpers::Db::Postgres).await
                }
            )*
        }
    };
}

pub enum DbGuard {
    /// Owned by another instance.
    Shared,
    Sqlite(std::path::PathBuf),
    Postgres {
        admin_url: String,
        name: String,
    },
}

impl Drop for DbGuard {
    fn drop(&mut self) {
        match self {
            DbGuard::Shared => {}
            DbGuard::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            DbGuard::Postgres { admin_url, name } => {
                let (admin_url, name) = (admin_url.clone(), name.clone());
                // Drop runs inside the test's runtime; use a thread with its own.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    rt.block_on(async {
                        use sqlx::Connection;
                        if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                                .execute(&mut conn)
                                .await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

pub struct TestApp {
    pub base: Url,
    /// A copy of the server's outbox worker, to run a pass on demand.
    worker: paybridge::outbox::OutboxWorker,
    /// And of its maintenance worker (expiry, auto-confirm).
    maintenance: paybridge::payments::Maintenance,
    /// The environment it was started with, for a second instance on the same database.
    vars: HashMap<String, String>,
    /// Follows no redirects: tests look at each hop.
    pub client: reqwest::Client,
    pub state: AppState,
    /// Dropped after the server, so a PostgreSQL database is dropped last.
    _db: DbGuard,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

fn admin_postgres_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

async fn prepare_database(db: Db) -> (String, DbGuard) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    match db {
        Db::Sqlite => {
            let dir = std::env::temp_dir().join(format!("paybridge-test-{id}"));
            std::fs::create_dir_all(&dir).unwrap();
            let url = format!("sqlite://{}", dir.join("paybridge.db").display());
            (url, DbGuard::Sqlite(dir))
        }
        Db::Postgres => {
            use sqlx::Connection;
            let admin_url = admin_postgres_url();
            let name = format!("paybridge_test_{id}");
            let mut conn = sqlx::PgConnection::connect(&admin_url)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {admin_url} is required for these tests: {e}"));
            sqlx::query(&format!("CREATE DATABASE \"{name}\"")).execute(&mut conn).await.unwrap();
            let mut url = Url::parse(&admin_url).unwrap();
            url.set_path(&name);
            (url.to_string(), DbGuard::Postgres { admin_url, name })
        }
    }
}

pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, &[]).await
}

pub async fn spawn_app_with(db: Db, overrides: &[(&str, &str)]) -> TestApp {
    let (vars, guard) = environment(db, overrides).await;
    start(vars, guard).await
}

/// A fresh database and the environment of a test server using it, without a server.
pub async fn environment(db: Db, overrides: &[(&str, &str)]) -> (HashMap<String, String>, DbGuard) {
    let (database_url, guard) = prepare_database(db).await;
    let mut vars: HashMap<String, String> = HashMap::from([
        ("DATABASE_URL".into(), database_url),
        ("LEPTOS_SITE_ADDR".into(), "127.0.0.1:0".into()),
        ("CAFE24_SERVICE_KEY".into(), SERVICE_KEY.into()),
        ("CAFE24_CLIENT_ID".into(), CLIENT_ID.into()),
        ("CAFE24_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
        ("ENCRYPTION_KEY".into(), paybridge::secrets::KeyRing::generate_encoded()),
        ("SANDBOX".into(), "true".into()),
    ]);
    for (k, v) in overrides {
        vars.insert((*k).into(), (*v).into());
    }
    (vars, guard)
}

/// A server with this environment on the database `guard` holds.
pub async fn start(vars: HashMap<String, String>, guard: DbGuard) -> TestApp {
    start_with_connectors(vars, guard, Vec::new()).await
}

/// [`start`], with further PG connectors registered under their ids.
pub async fn start_with_connectors(
    vars: HashMap<String, String>,
    guard: DbGuard,
    connectors: Vec<(&'static str, std::sync::Arc<dyn paybridge::gateway::PaymentGateway>)>,
) -> TestApp {
    show_logs_when_asked();
    let config = Config::from_lookup(|name| vars.get(name).cloned()).expect("test configuration");
    let app = Application::build_with_connectors(config, connectors).await.expect("server starts");
    let worker = paybridge::outbox::OutboxWorker { id: now_ms().to_string() + "-test-pass", ..app.worker().clone() };
    let maintenance = app.maintenance().clone();
    let base = Url::parse(&format!("http://127.0.0.1:{}", app.port())).unwrap();
    let state = app.state().clone();
    let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    TestApp {
        base,
        worker,
        maintenance,
        vars,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        state,
        _db: guard,
        shutdown: Some(shutdown),
        server: Some(server),
    }
}

/// `TEST_LOG=1 cargo test …` shows the servers' logs (`RUST_LOG` filters them);
/// `TEST_LOG_JSON=<file>` writes them to the file as operators get them with
/// `LOG_FORMAT=json` (`.dev/test` does, then looks for secrets in it).
fn show_logs_when_asked() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if let Some(path) = std::env::var_os("TEST_LOG_JSON") {
        ONCE.call_once(|| {
            if let Some(dir) = std::path::Path::new(&path).parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            let file = std::fs::File::create(&path).expect("TEST_LOG_JSON names a file that can be written");
            let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("info,paybridge=debug,tower_http=debug,sqlx=warn")
            });
            let logger = paybridge::observability::json_subscriber(filter, std::sync::Mutex::new(file));
            let _ = tracing::subscriber::set_global_default(logger);
        });
    } else if std::env::var_os("TEST_LOG").is_some() {
        ONCE.call_once(|| {
            let filter = tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn"));
            let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
        });
    }
}

pub fn sign(parts: &[&str]) -> String {
    signature::sign(SERVICE_KEY, parts)
}

/// A payment request as Cafe24 sends it (fields of the seed's Postman collection).
pub fn payment_request(order_id: &str, amount: &str) -> Value {
    json!({
        "request_type": "request",
        "partner_id": PARTNER_ID,
        "end_user_ip": "14.128.146.89",
        "shop_name": "Tindahan",
        "shop_no": "1",
        "order_id": order_id,
        "paymethod": "etc",
        "currency": "PHP",
        "country_code": "EN",
        "buyer_id": "mockbuyer",
        "buyer_name": "mock buyer",
        "goods_name": "Basic Product",
        "amount": amount,
        "return_url": RETURN_URL,
        "return_noty_url": "https://demomall.cafe24shop.com/Pay/Recv/openpg/PayReceiveNoty.php",
        "hash_data": sign(&[amount, "PHP", order_id, PARTNER_ID]),
        "extra_data": {"pgName": "pg-demo-app", "orderId": order_id},
        "additional_payment_info": {"0": {"product_name": "Basic", "quantity": 3, "unit_amount": 1000}},
        "ship_zip": null
    })
}

pub fn cancel_request(order_id: &str, tid: &str, cancel_amount: &str, remain_amount: Option<&str>) -> Value {
    let mut body = json!({
        "request_type": "cancel",
        "partner_id": PARTNER_ID,
        "shop_no": "1",
        "paymethod": "etc",
        "tid": tid,
        "order_id": order_id,
        "escrow_tf": "F",
        "currency": "PHP",
        "amount": "3065.00",
        "cancel_amount": cancel_amount,
        "cancel_type": "C",
        "cancel_reason": "customer request",
        "cancel_noty_url": "https://demomall.cafe24shop.com/Pay/Recv/openpg/PayReceiveCancelNoty.php",
        "hash_data": sign(&[cancel_amount, "PHP", order_id, PARTNER_ID, tid]),
        "extra_data": "{\"pgName\":\"pg-demo-app\"}",
        "tax_free_tf": "F"
    });
    if let Some(remain) = remain_amount {
        body["remain_amount"] = json!(remain);
    }
    body
}

pub fn unique_order_id() -> String {
    format!("20261123-{}", &uuid::Uuid::new_v4().simple().to_string()[..7])
}

pub fn query_map(url: &Url) -> HashMap<String, String> {
    url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

/// A paid payment and what Cafe24 learned about it.
pub struct Paid {
    pub order_id: String,
    pub tid: String,
    pub key: String,
}

impl TestApp {
    /// Shuts the server down gracefully and waits until it has stopped.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }

    /// The environment it was started with.
    pub fn var(&self, name: &str) -> &str {
        &self.vars[name]
    }

    /// A second connection to its database (usable after [`TestApp::stop`]).
    pub async fn connect_store(&self) -> paybridge::store::Store {
        paybridge::store::Store::connect(&self.vars["DATABASE_URL"]).await.unwrap()
    }

    /// Another instance on the same database and keys, with some variables changed.
    pub async fn sibling(&self, overrides: &[(&str, &str)]) -> TestApp {
        let mut vars = self.vars.clone();
        for (k, v) in overrides {
            vars.insert((*k).into(), (*v).into());
        }
        start(vars, DbGuard::Shared).await
    }

    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let response = self.client.post(self.url(path)).json(body).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{path} answered non-JSON: {text}"));
        (status, body)
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (StatusCode, Value) {
        self.post_with_headers(path, &[(header::CONTENT_TYPE.as_str(), content_type)], body).await
    }

    async fn post_with_headers(&self, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (StatusCode, Value) {
        let mut request = self.client.post(self.url(path)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn request_payment(&self, order_id: &str, amount: &str) -> String {
        let (status, body) =
            self.post_json("/api/synchronous-checkout/checkout", &payment_request(order_id, amount)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["result_code"], "0000", "{body}");
        body["payment_url"].as_str().unwrap().to_owned()
    }

    /// Presses a button on the sandbox PG's hosted page and follows the buyer to our
    /// callback; returns where the callback sends the buyer (Cafe24's `return_url`).
    pub async fn buyer_presses(&self, payment_url: &str, button: &str) -> Url {
        let response = self.client.post(format!("{payment_url}/{button}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "sandbox {button}");
        let callback = location(&response);
        let response = self.client.get(callback.clone()).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "callback {callback}");
        location(&response)
    }

    pub async fn status(&self, key: &str) -> (StatusCode, Value) {
        self.post_json("/api/synchronous-checkout/checkout/status", &json!({ "key": key })).await
    }

    pub async fn paid_payment(&self, amount: &str) -> Paid {
        let order_id = unique_order_id();
        let payment_url = self.request_payment(&order_id, amount).await;
        let back = self.buyer_presses(&payment_url, "approve").await;
        let params = query_map(&back);
        assert_eq!(params["result_code"], "0000");
        let key = params["key"].clone();
        let (_, details) = self.status(&key).await;
        Paid { order_id, tid: details["tid"].as_str().unwrap().to_owned(), key }
    }

    /// The demo mall's payment for `order_id`.
    pub async fn payment(&self, order_id: &str) -> paybridge::domain::Payment {
        let (mall, order) = (MallId::parse("demomall").unwrap(), OrderId::parse(order_id).unwrap());
        self.state
            .store
            .payment_by_order(&mall, &order)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no payment for {order_id}"))
    }

    /// What Cafe24 sent (or, for the external checkout, was told) about the demo mall's
    /// payment for `order_id`.
    pub async fn cafe24_data(&self, order_id: &str) -> paybridge::store::Cafe24Payment {
        let payment = self.payment(order_id).await;
        self.state.store.cafe24_payment(&payment.id).await.unwrap().expect("a Cafe24 payment")
    }

    /// The payment's amount as Cafe24 sees it in answers and notys (its hashes cover it).
    pub async fn cafe24_amount_text(&self, order_id: &str) -> String {
        let payment = self.payment(order_id).await;
        paybridge::cafe24::noty::amount_text(&payment, &self.cafe24_data(order_id).await)
    }

    /// An asynchronous payment request whose notifications go to `noty_url`.
    pub async fn request_async_payment(&self, order_id: &str, amount: &str, noty_url: &str) -> String {
        let mut body = payment_request(order_id, amount);
        body["return_noty_url"] = json!(noty_url);
        let (status, answer) = self.post_json("/api/asynchronous-checkout/checkout", &body).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer["payment_url"].as_str().unwrap().to_owned()
    }

    /// Presses a button on the sandbox PG's page; returns our callback URL it sends the
    /// buyer to (not followed).
    pub async fn press(&self, payment_url: &str, button: &str) -> Url {
        let response = self.client.post(format!("{payment_url}/{button}")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "sandbox {button}");
        location(&response)
    }

    /// Posts a webhook as the sandbox PG would, signed with `secret`.
    pub async fn post_webhook(&self, path: &str, body: &Value, secret: &str) -> (StatusCode, Value) {
        let body = body.to_string();
        let signature = sandbox::sign_webhook(secret, now_ms() / 1000, body.as_bytes());
        let headers = [("content-type", "application/json"), (sandbox::SIGNATURE_HEADER, signature.as_str())];
        self.post_with_headers(path, &headers, body.into_bytes()).await
    }

    /// Posts a webhook without a signature, as a PG without webhook signatures sends it.
    pub async fn post_unsigned_webhook(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.post_raw(path, "application/json", body.to_string().into_bytes()).await
    }

    /// Pulls a sandbox PG test switch (`path` under `/sandbox-pg`); it must take it.
    pub async fn sandbox_pg(&self, path: &str, form: &[(&str, &str)]) -> Value {
        let response = self.client.post(self.url(&format!("/sandbox-pg{path}"))).form(form).send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(status, StatusCode::OK, "sandbox PG {path}: {body}");
        body
    }

    pub async fn count_where(&self, table: &str, condition: &str) -> i64 {
        let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table} WHERE {condition}"))
            .fetch_one(self.state.store.pool())
            .await
            .unwrap();
        n
    }

    /// Waits until `condition` holds for `n` rows of `table`.
    pub async fn wait_rows(&self, table: &str, condition: &str, n: i64, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            let got = self.count_where(table, condition).await;
            if got >= n {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{table} where {condition}: {got} of {n} after {within:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Runs one pass of the outbox worker now (as the server's own worker would at its
    /// next wake-up); returns how many messages it attempted.
    pub async fn deliver_due(&self) -> usize {
        self.worker.run_once().await
    }

    /// Runs outbox passes (for a server whose own worker is off) until `condition` holds
    /// for `n` outbox rows; retries fall due as their delays pass.
    pub async fn deliver_until(&self, condition: &str, n: i64, within: Duration) {
        let deadline = std::time::Instant::now() + within;
        loop {
            self.deliver_due().await;
            let got = self.count_where("outbox", condition).await;
            if got >= n {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "outbox where {condition}: {got} of {n} after {within:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Runs one pass of the maintenance worker now (intent and authorization expiry,
    /// auto-confirm), as the server's own would at its next poll.
    pub async fn maintain(&self) -> paybridge::payments::MaintenanceReport {
        self.maintenance.run_once().await
    }

    /// Waits until the sandbox PG has sent every webhook it is sending (about orders and
    /// card registrations), and we answered.
    pub async fn pg_settled(&self) {
        for table in ["sandbox_pg_orders", "sandbox_pg_registrations"] {
            self.wait_rows(table, "webhooks_in_flight = 0", self.count(table).await, SETTLE).await;
        }
    }

    /// Waits until nothing is left to happen now: the sandbox PG has sent every webhook it
    /// is sending (and we answered), and the outbox has attempted every notification that
    /// is due. After this a receiver holds everything it will get before a retry falls due.
    pub async fn settled(&self) {
        self.pg_settled().await;
        let deadline = std::time::Instant::now() + SETTLE;
        loop {
            let work = self.state.store.outbox_work_now().await.unwrap();
            if work == 0 {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "{work} notifications still to send after {SETTLE:?}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn count(&self, table: &str) -> i64 {
        self.count_where(table, "1 = 1").await
    }

    /// Everything a bad request must leave untouched: payments, payment_events, refunds,
    /// outbox, sandbox_pg_orders, sandbox_pg_refunds, idempotency_keys, webhook_endpoints
    /// (row counts).
    pub async fn snapshot(&self) -> [i64; 8] {
        [
            self.count("payments").await,
            self.count("payment_events").await,
            self.count("refunds").await,
            self.count("outbox").await,
            self.count("sandbox_pg_orders").await,
            self.count("sandbox_pg_refunds").await,
            self.count("idempotency_keys").await,
            self.count("webhook_endpoints").await,
        ]
    }
}

pub fn location(response: &reqwest::Response) -> Url {
    let raw = response
        .headers()
        .get(header::LOCATION)
        .unwrap_or_else(|| panic!("no Location in {}", response.status()))
        .to_str()
        .unwrap();
    response.url().join(raw).unwrap()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A paybridge process, killed when dropped: a test that fails leaves none running.
pub struct Process(Child);

impl std::ops::Deref for Process {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Process {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// paybridge as its own process, as an operator runs it.
pub async fn start_process(vars: &HashMap<String, String>, output: Stdio) -> (Process, Url) {
    let port = free_port();
    let child = Process(
        Command::new(env!("CARGO_BIN_EXE_paybridge"))
            .envs(vars)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .stdout(output)
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    );
    let base = Url::parse(&format!("http://127.0.0.1:{port}")).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while reqwest::get(base.join("/healthz").unwrap()).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "paybridge did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, base)
}
