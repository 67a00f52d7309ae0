//! The application's metrics, in its own registry (prometheus-client): nothing here is
//! process-global, so every [`Metrics`] counts only what its own application did.

use std::{
    collections::HashMap,
    sync::{atomic::AtomicU64, Arc, Mutex},
    time::Duration,
};

use prometheus_client::{
    encoding::{prometheus_text, EncodeLabelSet},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

use crate::{
    domain::{Channel, PaymentStatus},
    gateway::GatewayError,
    store::{now_ms, Store},
};

/// Seconds: 5 ms to 30 s.
const LATENCY_BUCKETS: [f64; 13] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

type Timings<L> = Family<L, Histogram, fn() -> Histogram>;
type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransitionLabels {
    channel: &'static str,
    from: &'static str,
    to: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GatewayLabels {
    connector: &'static str,
    operation: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    connector: &'static str,
    operation: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AttemptLabels {
    kind: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MessageLabels {
    kind: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WorkerLabels {
    worker: &'static str,
}

/// The background loops whose passes are watched (worker lag, `/readyz`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Worker {
    Outbox,
    Maintenance,
}

impl Worker {
    pub fn as_str(self) -> &'static str {
        match self {
            Worker::Outbox => "outbox",
            Worker::Maintenance => "maintenance",
        }
    }
}

/// How a call to a PG ended, for its label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GatewayOutcome {
    Ok,
    Rejected,
    /// The PG has no such record (a refund it never made).
    NotFound,
    Unavailable,
    ProtocolError,
}

impl GatewayOutcome {
    pub fn of<T>(result: &Result<T, GatewayError>) -> Self {
        match result {
            Ok(_) => GatewayOutcome::Ok,
            Err(GatewayError::Rejected(_)) => GatewayOutcome::Rejected,
            Err(GatewayError::NotFound(_)) => GatewayOutcome::NotFound,
            Err(GatewayError::Unavailable(_)) => GatewayOutcome::Unavailable,
            Err(GatewayError::Protocol(_)) => GatewayOutcome::ProtocolError,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            GatewayOutcome::Ok => "ok",
            GatewayOutcome::Rejected => "rejected",
            GatewayOutcome::NotFound => "not_found",
            GatewayOutcome::Unavailable => "unavailable",
            GatewayOutcome::ProtocolError => "protocol_error",
        }
    }
}

/// A payment status as a label: `request`, `complete`, …, `partial_cancel`.
pub fn status_label(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Request => "request",
        PaymentStatus::Complete => "complete",
        PaymentStatus::Cancel => "cancel",
        PaymentStatus::Fail => "fail",
        PaymentStatus::Pending => "pending",
        PaymentStatus::PendingCancel => "pending_cancel",
        PaymentStatus::PartialCancel => "partial_cancel",
        PaymentStatus::Register => "register",
    }
}

fn method_label(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::HEAD => "HEAD",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::PATCH => "PATCH",
        http::Method::DELETE => "DELETE",
        http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

struct Inner {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    http_duration: Timings<RouteLabels>,
    transitions: Family<TransitionLabels, Counter>,
    gateway_calls: Family<GatewayLabels, Counter>,
    gateway_duration: Timings<OperationLabels>,
    outbox_attempts: Family<AttemptLabels, Counter>,
    outbox_gave_up: Family<KindLabels, Counter>,
    outbox_messages: Family<MessageLabels, Gauge>,
    outbox_due: Gauge,
    outbox_oldest_due: FloatGauge,
    db_up: Gauge,
    db_connections: Family<StateLabels, Gauge>,
    db_max_connections: Gauge,
    worker_passes: Family<WorkerLabels, Counter>,
    worker_lag: Family<WorkerLabels, FloatGauge>,
    /// When each worker last made progress (unix ms).
    heartbeats: Mutex<HashMap<Worker, i64>>,
}

/// One application's metrics. Cheap to clone (shared).
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    /// A registry nobody reads (a core built without an application around it).
    fn default() -> Self {
        Metrics::build(None)
    }
}

impl Metrics {
    /// The metrics of an application on `store` (its pool and write waits are reported).
    pub fn new(store: &Store) -> Self {
        Metrics::build(Some(store.write_waits()))
    }

    fn build(write_waits: Option<Histogram>) -> Self {
        let mut registry = Registry::default();
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "paybridge_http_requests",
            "HTTP requests answered, by route template (\"unmatched\" for none), method and status",
            http_requests.clone(),
        );
        let http_duration: Timings<RouteLabels> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "paybridge_http_request_duration_seconds",
            "Time to answer an HTTP request (to its headers), by route template and method",
            http_duration.clone(),
        );
        let transitions = Family::<TransitionLabels, Counter>::default();
        registry.register(
            "paybridge_payment_transitions",
            "Payment status changes committed, by channel and from and to status",
            transitions.clone(),
        );
        let gateway_calls = Family::<GatewayLabels, Counter>::default();
        registry.register(
            "paybridge_pg_calls",
            "Calls to payment companies, by connector, operation and outcome (ok, rejected, unavailable, protocol_error)",
            gateway_calls.clone(),
        );
        let gateway_duration: Timings<OperationLabels> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "paybridge_pg_call_duration_seconds",
            "Time of a call to a payment company, by connector and operation",
            gateway_duration.clone(),
        );
        let outbox_attempts = Family::<AttemptLabels, Counter>::default();
        registry.register(
            "paybridge_outbox_attempts",
            "Notification delivery attempts by this instance, by message kind and outcome (delivered, failed)",
            outbox_attempts.clone(),
        );
        let outbox_gave_up = Family::<KindLabels, Counter>::default();
        registry.register(
            "paybridge_outbox_gave_up",
            "Notifications marked failed for good after their last retry, by message kind",
            outbox_gave_up.clone(),
        );
        let outbox_messages = Family::<MessageLabels, Gauge>::default();
        registry.register(
            "paybridge_outbox_messages",
            "Notifications not delivered, in the database (all instances), by kind and status (pending, failed)",
            outbox_messages.clone(),
        );
        let outbox_due = Gauge::default();
        registry.register(
            "paybridge_outbox_due",
            "Notifications due now that no worker holds (all instances)",
            outbox_due.clone(),
        );
        let outbox_oldest_due = FloatGauge::default();
        registry.register(
            "paybridge_outbox_oldest_due_age_seconds",
            "How long the oldest notification due now has waited for a worker (0 when none)",
            outbox_oldest_due.clone(),
        );
        let db_up = Gauge::default();
        registry.register("paybridge_db_up", "1 when the database answered this scrape's queries", db_up.clone());
        let db_connections = Family::<StateLabels, Gauge>::default();
        registry.register(
            "paybridge_db_connections",
            "This instance's database pool, by state (in_use, idle)",
            db_connections.clone(),
        );
        let db_max_connections = Gauge::default();
        registry.register(
            "paybridge_db_max_connections",
            "The size limit of this instance's database pool",
            db_max_connections.clone(),
        );
        if let Some(write_waits) = write_waits {
            registry.register(
                "paybridge_db_write_begin_seconds",
                "Time to start a write transaction: the wait for a pooled connection and, on SQLite, for the write lock",
                write_waits,
            );
        }
        let worker_passes = Family::<WorkerLabels, Counter>::default();
        registry.register("paybridge_worker_passes", "Passes made by this instance's workers", worker_passes.clone());
        let worker_lag = Family::<WorkerLabels, FloatGauge>::default();
        registry.register(
            "paybridge_worker_last_pass_age_seconds",
            "Time since each of this instance's workers last made progress",
            worker_lag.clone(),
        );
        Metrics(Arc::new(Inner {
            registry,
            http_requests,
            http_duration,
            transitions,
            gateway_calls,
            gateway_duration,
            outbox_attempts,
            outbox_gave_up,
            outbox_messages,
            outbox_due,
            outbox_oldest_due,
            db_up,
            db_connections,
            db_max_connections,
            worker_passes,
            worker_lag,
            heartbeats: Mutex::default(),
        }))
    }

    /// An HTTP request answered; `route` is the route template, never the path.
    pub fn http_request(&self, route: &str, method: &http::Method, status: u16, took: Duration) {
        let method = method_label(method);
        self.0.http_requests.get_or_create(&HttpLabels { route: route.to_owned(), method, status }).inc();
        self.0
            .http_duration
            .get_or_create(&RouteLabels { route: route.to_owned(), method })
            .observe(took.as_secs_f64());
    }

    /// A status change that committed.
    pub fn transition(&self, channel: Channel, from: PaymentStatus, to: PaymentStatus) {
        let labels = TransitionLabels { channel: channel.as_str(), from: status_label(from), to: status_label(to) };
        self.0.transitions.get_or_create(&labels).inc();
    }

    pub fn gateway_call(
        &self,
        connector: &'static str,
        operation: &'static str,
        outcome: GatewayOutcome,
        took: Duration,
    ) {
        let labels = GatewayLabels { connector, operation, outcome: outcome.as_str() };
        self.0.gateway_calls.get_or_create(&labels).inc();
        self.0.gateway_duration.get_or_create(&OperationLabels { connector, operation }).observe(took.as_secs_f64());
    }

    /// A delivery attempt of a message of `kind` (a fixed name such as `noty.payment`).
    pub fn outbox_attempt(&self, kind: &str, delivered: bool) {
        let outcome = if delivered { "delivered" } else { "failed" };
        self.0.outbox_attempts.get_or_create(&AttemptLabels { kind: kind.to_owned(), outcome }).inc();
    }

    pub fn outbox_gave_up(&self, kind: &str) {
        self.0.outbox_gave_up.get_or_create(&KindLabels { kind: kind.to_owned() }).inc();
    }

    /// `worker` is alive and making progress (a pass began or ended, or it finished an item).
    pub fn heartbeat(&self, worker: Worker) {
        if let Ok(mut beats) = self.0.heartbeats.lock() {
            beats.insert(worker, now_ms());
        }
        // Read again at each scrape; set here too, so that a scrape never shows a worker's
        // passes without its age (the pass may end while the scrape reads the database).
        self.0.worker_lag.get_or_create(&WorkerLabels { worker: worker.as_str() }).set(0.0);
    }

    /// A pass of `worker` ended.
    pub fn pass_done(&self, worker: Worker) {
        self.heartbeat(worker);
        self.0.worker_passes.get_or_create(&WorkerLabels { worker: worker.as_str() }).inc();
    }

    /// How long ago `worker` last made progress; `None` when it never has.
    pub fn worker_lag(&self, worker: Worker) -> Option<Duration> {
        let last = *self.0.heartbeats.lock().ok()?.get(&worker)?;
        Some(Duration::from_millis(now_ms().saturating_sub(last).max(0) as u64))
    }

    /// Samples what is read at scrape time (the pool, the outbox, worker lag) and encodes
    /// everything in the Prometheus text format (0.0.4).
    pub async fn render(&self, store: &Store) -> String {
        self.sample(store).await;
        let mut text = String::new();
        if let Err(e) = prometheus_text::encode(&mut text, &self.0.registry) {
            tracing::error!(error = %e, "metrics could not be encoded");
        }
        text
    }

    pub const CONTENT_TYPE: &'static str = prometheus_text::CONTENT_TYPE;

    async fn sample(&self, store: &Store) {
        let pool = store.pool();
        let (size, idle) = (i64::from(pool.size()), pool.num_idle() as i64);
        self.0.db_connections.get_or_create(&StateLabels { state: "in_use" }).set((size - idle).max(0));
        self.0.db_connections.get_or_create(&StateLabels { state: "idle" }).set(idle);
        self.0.db_max_connections.set(i64::from(pool.options().get_max_connections()));
        let now = now_ms();
        for (worker, gauge) in [Worker::Outbox, Worker::Maintenance].map(|w| (w, self.worker_lag(w))) {
            if let Some(lag) = gauge {
                self.0.worker_lag.get_or_create(&WorkerLabels { worker: worker.as_str() }).set(lag.as_secs_f64());
            }
        }
        let (counts, due) = match (store.outbox_counts().await, store.outbox_due(now).await) {
            (Ok(counts), Ok(due)) => (counts, due),
            (Err(e), _) | (_, Err(e)) => {
                self.0.db_up.set(0);
                tracing::warn!(error = %e, "metrics: the outbox could not be read");
                return;
            }
        };
        self.0.db_up.set(1);
        self.0.outbox_messages.clear();
        for (kind, status, n) in counts {
            self.0.outbox_messages.get_or_create(&MessageLabels { kind, status }).set(n);
        }
        self.0.outbox_due.set(due.count);
        self.0.outbox_oldest_due.set(due.oldest_age(now).as_secs_f64());
    }
}
