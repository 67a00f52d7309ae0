//! What an operator sees of a running instance: Prometheus metrics (`GET /metrics`), the
//! request id every log line of a request carries, and the health routes a load balancer
//! asks (`/healthz`, `/readyz`). Each [`Metrics`] has its own registry, so several
//! applications in one process (the tests run hundreds) never count into each other.
//! Labels are fixed vocabularies only — route templates, methods, statuses, connector and
//! operation names, message kinds — never an id, a key or a query string.

mod health;
mod http;
mod logging;
mod metrics;

use std::{net::SocketAddr, time::Duration};

pub use health::{readiness, Readiness};
pub use http::{http_span, keep_usable_request_id, metrics_router, routes, track_requests, METRICS_PATH, REQUEST_ID};
pub use logging::{default_filter, init_logging, json_subscriber, note_payment, LogFormat};
pub use metrics::{status_label, GatewayOutcome, Metrics, Worker};

use crate::config::{parse_delays, ConfigError};

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

    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let bad = |variable: &'static str, message: String| ConfigError { variable, message };
        let metrics_addr = get("METRICS_ADDR")
            .map(|raw| raw.parse::<SocketAddr>())
            .transpose()
            .map_err(|e| bad("METRICS_ADDR", format!("not an address like 127.0.0.1:9100 ({e})")))?;
        let log_format = match get("LOG_FORMAT") {
            None => LogFormat::Text,
            Some(raw) => LogFormat::parse(&raw).ok_or_else(|| bad("LOG_FORMAT", "use text or json".into()))?,
        };
        let duration = |name: &'static str, raw: &str| match parse_delays(raw) {
            Ok(one) if one.len() == 1 && !one[0].is_zero() => Ok(one[0]),
            Ok(_) => Err(bad(name, "must be one positive duration, like 5m".into())),
            Err(e) => Err(bad(name, e)),
        };
        let outbox_max_age = match get("READY_OUTBOX_MAX_AGE") {
            Some(raw) if raw.eq_ignore_ascii_case("off") => None,
            raw => Some(duration("READY_OUTBOX_MAX_AGE", raw.as_deref().unwrap_or(Self::DEFAULT_OUTBOX_MAX_AGE))?),
        };
        let worker_max_lag = duration(
            "READY_WORKER_MAX_LAG",
            get("READY_WORKER_MAX_LAG").as_deref().unwrap_or(Self::DEFAULT_WORKER_MAX_LAG),
        )?;
        Ok(Settings { metrics_addr, log_format, outbox_max_age, worker_max_lag })
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::from_lookup(&|_| None).expect("the defaults parse")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(&|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_and_bad_values() {
        let s = settings(&[]).unwrap();
        assert!(s.metrics_addr.is_none());
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.outbox_max_age, Some(Duration::from_secs(300)));
        assert_eq!(s.worker_max_lag, Duration::from_secs(120));
        let s = settings(&[("LOG_FORMAT", "JSON"), ("READY_OUTBOX_MAX_AGE", "off"), ("METRICS_ADDR", "0.0.0.0:9100")])
            .unwrap();
        assert_eq!((s.log_format, s.outbox_max_age), (LogFormat::Json, None));
        assert_eq!(s.metrics_addr.unwrap().port(), 9100);
        for (var, value) in [
            ("LOG_FORMAT", "yaml"),
            ("METRICS_ADDR", "localhost"),
            ("READY_OUTBOX_MAX_AGE", "soon"),
            ("READY_WORKER_MAX_LAG", "0s"),
        ] {
            assert_eq!(settings(&[(var, value)]).unwrap_err().variable, var, "{value}");
        }
    }
}
