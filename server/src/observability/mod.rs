//! What an operator sees of a running instance: Prometheus metrics (`GET /metrics`), the
//! JSON log, and the readiness a load balancer asks for (`/readyz`); their routes and the
//! request id every log line of a request carries are `http::observe`'s. Each [`Metrics`] has its own registry, so several
//! applications in one process (the tests run hundreds) never count into each other.
//! Labels are fixed vocabularies only — route templates, methods, statuses, connector and
//! operation names, message kinds — never an id, a key or a query string.

mod health;
mod logging;
mod measured;
mod metrics;

use std::{net::SocketAddr, time::Duration};

pub use health::{readiness, Readiness};
pub use logging::{default_filter, init_logging, json_subscriber, LogFormat};
pub use measured::measured;
pub use metrics::{status_label, GatewayOutcome, Metrics, Worker};

/// What the HTTP side needs of the observability of an application.
#[derive(Clone, Debug)]
pub struct Observability {
    pub metrics: Metrics,
    pub readiness: Readiness,
    /// `/metrics` is served on its own listener (`METRICS_ADDR`), not on the main one.
    pub metrics_elsewhere: bool,
}

/// `METRICS_ADDR`, `LOG_FORMAT`, `READY_OUTBOX_MAX_AGE`, `READY_WORKER_MAX_LAG`.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Where `/metrics` is served instead of the main listener.
    pub metrics_addr: Option<SocketAddr>,
    pub log_format: LogFormat,
    /// `/readyz` fails when a notification due longer than this has not been picked up
    /// (`None`: never, for `off`).
    pub outbox_max_age: Option<Duration>,
    /// `/readyz` fails when a worker of this instance has not made a pass for this long.
    pub worker_max_lag: Duration,
}

impl Settings {
    pub const DEFAULT_OUTBOX_MAX_AGE: &'static str = "5m";
    pub const DEFAULT_WORKER_MAX_LAG: &'static str = "2m";
}
