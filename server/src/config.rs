//! Configuration from the environment (SPEC §2). Every variable is optional in
//! development; bad values stop the start with a message naming the variable.

pub mod limits;

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use url::Url;

use crate::{
    hosts::HostPattern,
    observability::{LogFormat, Settings as ObservabilitySettings},
    secrets::KeyRing,
};
pub use limits::{ConnectionLimits, RateLimits};

/// The development credentials used when `CAFE24_*` are not set. They are public
/// knowledge (printed at start) and refused in production.
pub const DEV_CLIENT_ID: &str = "paybridge-dev-client-id";
pub const DEV_CLIENT_SECRET: &str = "paybridge-dev-client-secret";
pub const DEV_SERVICE_KEY: &str = "paybridge-dev-service-key";
pub const DEV_WEBHOOK_KEY: &str = "paybridge-dev-webhook-key";

const DEFAULT_DATABASE_URL: &str = "sqlite://data/paybridge.db";
const DEFAULT_SITE_ADDR: &str = "127.0.0.1:3000";
pub const DEFAULT_API_BASE: &str = "https://{mall_id}.cafe24api.com";
const DEFAULT_ALLOWED_HOSTS: &str = "*.cafe24.com,*.cafe24shop.com,*.cafe24api.com";
const DEFAULT_RETRY_DELAYS: &str = "30s,5m,30m";
pub const DEFAULT_SANDBOX_API_KEY: &str = "sk_test_paybridge_demomall";

#[derive(Debug, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

fn bad(variable: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError { variable, message: message.into() }
}

#[derive(Clone, Debug)]
pub struct Cafe24Credentials {
    pub client_id: String,
    pub client_secret: String,
    pub service_key: String,
    /// `CAFE24_WEBHOOK_KEY`: the API key Cafe24 sends in `x-api-key` with its webhooks (the
    /// app-deleted event). Optional in production: without it every Cafe24 webhook is refused.
    pub webhook_key: Option<String>,
    /// The `CAFE24_*` variables left unset, with the (public) development value in use.
    pub dev_defaults: Vec<(&'static str, &'static str)>,
}

#[derive(Clone, Debug)]
pub enum EncryptionKeySource {
    Configured(KeyRing),
    /// Development only: a key kept in `<data dir>/encryption.key`, created when missing.
    DataDir(PathBuf),
}

/// The Stripe test account the sandbox's second demo mall is linked to.
#[derive(Clone)]
pub struct DemoStripe {
    pub secret_key: String,
    pub webhook_secret: Option<String>,
}

impl std::fmt::Debug for DemoStripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DemoStripe { <redacted> }")
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub production: bool,
    pub database_url: String,
    pub listen_addr: SocketAddr,
    /// `APP_URL`; when unset the URL is derived from the address actually bound.
    pub app_url: Option<Url>,
    pub cafe24: Cafe24Credentials,
    /// `CAFE24_API_BASE` with `{mall_id}` to substitute. Unset with the sandbox on, the
    /// demo mall's simulated Cafe24 (`{APP_URL}/demo-cafe24/{mall_id}`) stands in.
    pub cafe24_api_base: Option<String>,
    /// `CAFE24_API_TIMEOUT`: the limit on each Cafe24 OAuth or Admin API call.
    pub cafe24_api_timeout: Duration,
    pub allowed_hosts: Vec<HostPattern>,
    pub encryption_key: EncryptionKeySource,
    pub notify_retry_delays: Vec<Duration>,
    /// `NOTIFY_LEASE`: how long a worker holds a message it is delivering. Deliveries
    /// time out at half of it, so no two attempts of one message ever overlap.
    pub notify_lease: Duration,
    /// `NOTIFY_POLL` (default 250ms): how often an idle outbox worker looks for due
    /// messages nothing woke it for (retries falling due; on SQLite, another process's).
    /// A commit in this process wakes it at once, and on PostgreSQL so does one in
    /// another instance (`LISTEN`/`NOTIFY`).
    pub notify_poll: Duration,
    /// `INTENT_EXPIRY`, `CAPTURE_WINDOW`, `AUTO_CONFIRM_AFTER` (SPEC §8.3): Store API intents
    /// not finalized in time fail, authorizations not captured in time are voided,
    /// delivered payments are confirmed.
    pub intent_expiry: Duration,
    pub capture_window: Duration,
    pub auto_confirm_after: Duration,
    /// `RECONCILE_AFTER` (default 10m): how long a PG call (a checkout, a refund, a
    /// capture or void) may go unanswered before the reconciliation worker asks the PG.
    pub reconcile_after: Duration,
    /// `SANDBOX_API_KEY`: the demo mall's Store API key (sandbox only).
    pub sandbox_api_key: String,
    /// `NOTIFY_WORKER`: whether this instance delivers notifications (on by default; an
    /// instance with it off only serves, and others deliver what it enqueues).
    pub notify_worker: bool,
    pub sandbox: bool,
    /// `SANDBOX_PG_URL`; defaults to `{APP_URL}/sandbox-pg`.
    pub sandbox_pg_url: Option<Url>,
    /// `STRIPE_API_BASE`: where the Stripe connector calls (tests point it at a fake).
    pub stripe_api_base: Url,
    /// `STRIPE_API_TIMEOUT`: the limit on each call to Stripe.
    pub stripe_api_timeout: Duration,
    /// `DEMO_STRIPE_SECRET_KEY` (with `DEMO_STRIPE_WEBHOOK_SECRET`): with the sandbox on,
    /// the demo mall `demostripe` is linked to Stripe with them.
    pub demo_stripe: Option<DemoStripe>,
    pub site_root: PathBuf,
    /// `LEPTOS_HASH_FILE_NAME`: the bundle's hash file (cargo-leptos's `hash.txt`), in the
    /// binary's directory unless absolute.
    pub hash_file_name: PathBuf,
    pub data_dir: PathBuf,
    /// `METRICS_ADDR`, `LOG_FORMAT`, `READY_OUTBOX_MAX_AGE`, `READY_WORKER_MAX_LAG`.
    pub observability: ObservabilitySettings,
    /// `RATE_LIMITS`, `RATE_LIMIT_EXEMPT`, `TRUSTED_PROXIES` (see `http::limits`).
    pub rate_limits: RateLimits,
    /// `HTTP_HEADER_TIMEOUT`, `HTTP_IDLE_TIMEOUT`, `HTTP_MAX_CONNECTIONS` (see `http::serve`).
    pub connections: ConnectionLimits,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());

        let production = match get("APP_ENV").as_deref() {
            None | Some("development") | Some("dev") | Some("test") => false,
            Some("production") | Some("prod") => true,
            Some(other) => {
                return Err(bad("APP_ENV", format!("unknown environment {other:?}; use development or production")))
            }
        };

        let database_url = get("DATABASE_URL").unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        if !(database_url.starts_with("sqlite:")
            || database_url.starts_with("postgres://")
            || database_url.starts_with("postgresql://"))
        {
            return Err(bad("DATABASE_URL", "must start with sqlite:, postgres:// or postgresql://"));
        }

        let listen_addr = get("LEPTOS_SITE_ADDR")
            .unwrap_or_else(|| DEFAULT_SITE_ADDR.to_owned())
            .parse::<SocketAddr>()
            .map_err(|e| bad("LEPTOS_SITE_ADDR", format!("not an address like 127.0.0.1:3000 ({e})")))?;

        let app_url = get("APP_URL").map(|raw| parse_base_url("APP_URL", &raw)).transpose()?;
        if production {
            if let Some(url) = &app_url {
                if url.scheme() != "https" {
                    return Err(bad("APP_URL", "must be https in production"));
                }
            } else {
                return Err(bad("APP_URL", "is required in production"));
            }
        }

        let cafe24 = cafe24_credentials(&get, production)?;

        let cafe24_api_base = get("CAFE24_API_BASE");
        if let Some(base) = &cafe24_api_base {
            parse_base_url("CAFE24_API_BASE", &base.replace("{mall_id}", "mall"))?;
        }
        let cafe24_api_timeout = match parse_delays(&get("CAFE24_API_TIMEOUT").unwrap_or_else(|| "10s".to_owned())) {
            Ok(one) if one.len() == 1 && one[0] >= Duration::from_millis(100) => one[0],
            Ok(_) => return Err(bad("CAFE24_API_TIMEOUT", "must be one duration of at least 100ms, like 10s")),
            Err(e) => return Err(bad("CAFE24_API_TIMEOUT", e)),
        };

        let allowed_hosts = get("NOTY_ALLOWED_HOSTS")
            .unwrap_or_else(|| DEFAULT_ALLOWED_HOSTS.to_owned())
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| HostPattern::parse(p).map_err(|e| bad("NOTY_ALLOWED_HOSTS", e)))
            .collect::<Result<Vec<_>, _>>()?;

        let data_dir = PathBuf::from(get("PAYBRIDGE_DATA_DIR").unwrap_or_else(|| "data".to_owned()));
        let encryption_key = match get("ENCRYPTION_KEY") {
            Some(list) => {
                EncryptionKeySource::Configured(KeyRing::parse_list(&list).map_err(|e| bad("ENCRYPTION_KEY", e))?)
            }
            None if production => {
                return Err(bad(
                    "ENCRYPTION_KEY",
                    "is required in production (base64 of 32 random bytes; a comma-separated list rotates keys)",
                ))
            }
            None => EncryptionKeySource::DataDir(data_dir.clone()),
        };

        let notify_retry_delays =
            parse_delays(&get("NOTIFY_RETRY_DELAYS").unwrap_or_else(|| DEFAULT_RETRY_DELAYS.to_owned()))
                .map_err(|e| bad("NOTIFY_RETRY_DELAYS", e))?;

        let notify_lease = match parse_delays(&get("NOTIFY_LEASE").unwrap_or_else(|| "60s".to_owned())) {
            Ok(one) if one.len() == 1 && one[0] >= Duration::from_secs(1) => one[0],
            Ok(_) => return Err(bad("NOTIFY_LEASE", "must be one duration of at least 1s, like 60s")),
            Err(e) => return Err(bad("NOTIFY_LEASE", e)),
        };

        let one_duration = |name: &'static str, default: &str| -> Result<Duration, ConfigError> {
            match parse_delays(&get(name).unwrap_or_else(|| default.to_owned())) {
                Ok(one) if one.len() == 1 && !one[0].is_zero() => Ok(one[0]),
                Ok(_) => Err(bad(name, "must be one positive duration, like 30m")),
                Err(e) => Err(bad(name, e)),
            }
        };
        let intent_expiry = one_duration("INTENT_EXPIRY", "30m")?;
        let capture_window = one_duration("CAPTURE_WINDOW", "7d")?;
        let auto_confirm_after = one_duration("AUTO_CONFIRM_AFTER", "7d")?;
        let reconcile_after = one_duration("RECONCILE_AFTER", "10m")?;
        let notify_poll = one_duration("NOTIFY_POLL", "250ms")?;
        let sandbox_api_key = get("SANDBOX_API_KEY").unwrap_or_else(|| DEFAULT_SANDBOX_API_KEY.to_owned());
        if !sandbox_api_key.starts_with("sk_test_") || sandbox_api_key.len() < 16 {
            return Err(bad("SANDBOX_API_KEY", "must start with sk_test_ and be at least 16 characters"));
        }

        let notify_worker = match get("NOTIFY_WORKER") {
            None => true,
            Some(v) => parse_bool(&v).ok_or_else(|| bad("NOTIFY_WORKER", "use true/false, on/off or 1/0"))?,
        };

        let sandbox = match get("SANDBOX") {
            None => !production,
            Some(v) => parse_bool(&v).ok_or_else(|| bad("SANDBOX", "use true/false, on/off or 1/0"))?,
        };

        let sandbox_pg_url = get("SANDBOX_PG_URL").map(|raw| parse_base_url("SANDBOX_PG_URL", &raw)).transpose()?;

        let stripe_api_base = parse_base_url(
            "STRIPE_API_BASE",
            &get("STRIPE_API_BASE").unwrap_or_else(|| crate::gateway::stripe::DEFAULT_API_BASE.to_owned()),
        )?;
        let stripe_api_timeout = match parse_delays(&get("STRIPE_API_TIMEOUT").unwrap_or_else(|| "30s".to_owned())) {
            Ok(one) if one.len() == 1 && one[0] >= Duration::from_millis(100) => one[0],
            Ok(_) => return Err(bad("STRIPE_API_TIMEOUT", "must be one duration of at least 100ms, like 30s")),
            Err(e) => return Err(bad("STRIPE_API_TIMEOUT", e)),
        };
        let demo_stripe = match (get("DEMO_STRIPE_SECRET_KEY"), get("DEMO_STRIPE_WEBHOOK_SECRET")) {
            (None, None) => None,
            (None, Some(_)) => return Err(bad("DEMO_STRIPE_WEBHOOK_SECRET", "needs DEMO_STRIPE_SECRET_KEY beside it")),
            (Some(key), _) if !key.starts_with("sk_test_") => {
                return Err(bad("DEMO_STRIPE_SECRET_KEY", "must be a Stripe test key (sk_test_…)"))
            }
            (Some(_), Some(secret)) if !secret.starts_with("whsec_") => {
                return Err(bad("DEMO_STRIPE_WEBHOOK_SECRET", "must be a Stripe webhook signing secret (whsec_…)"))
            }
            (Some(secret_key), webhook_secret) => Some(DemoStripe { secret_key, webhook_secret }),
        };

        let site_root = PathBuf::from(get("LEPTOS_SITE_ROOT").unwrap_or_else(|| "target/site".to_owned()));
        let hash_file_name = PathBuf::from(get("LEPTOS_HASH_FILE_NAME").unwrap_or_else(|| "hash.txt".to_owned()));
        let observability = observability(&get)?;

        let (rate_limits, connections) = limits(&get, production)?;

        Ok(Config {
            production,
            database_url,
            listen_addr,
            app_url,
            cafe24,
            cafe24_api_base,
            cafe24_api_timeout,
            allowed_hosts,
            encryption_key,
            notify_retry_delays,
            notify_lease,
            notify_poll,
            notify_worker,
            intent_expiry,
            capture_window,
            auto_confirm_after,
            reconcile_after,
            sandbox_api_key,
            sandbox,
            sandbox_pg_url,
            stripe_api_base,
            stripe_api_timeout,
            demo_stripe,
            site_root,
            hash_file_name,
            data_dir,
            observability,
            rate_limits,
            connections,
        })
    }
}

/// Abuse limits and connection limits. Loopback is exempt from the rate limits by
/// default in development (the sandbox's own calls, the tests' bursts), nobody in
/// production.
fn limits(
    get: &impl Fn(&str) -> Option<String>,
    production: bool,
) -> Result<(RateLimits, ConnectionLimits), ConfigError> {
    let rates = RateLimits::parse(get("RATE_LIMITS").as_deref()).map_err(|e| bad("RATE_LIMITS", e))?;
    let exempt = get("RATE_LIMIT_EXEMPT").unwrap_or_else(|| if production { "none" } else { "loopback" }.to_owned());
    let exempt = RateLimits::parse_networks(&exempt).map_err(|e| bad("RATE_LIMIT_EXEMPT", e))?;
    let trusted_proxies = RateLimits::parse_networks(&get("TRUSTED_PROXIES").unwrap_or_default())
        .map_err(|e| bad("TRUSTED_PROXIES", e))?;

    let defaults = ConnectionLimits::default();
    let timeout = |name: &'static str, default: Duration| -> Result<Duration, ConfigError> {
        let Some(raw) = get(name) else { return Ok(default) };
        match parse_delays(&raw) {
            Ok(one) if one.len() == 1 && one[0] >= Duration::from_millis(100) => Ok(one[0]),
            Ok(_) => Err(bad(name, "must be one duration of at least 100ms, like 10s")),
            Err(e) => Err(bad(name, e)),
        }
    };
    let header_timeout = timeout("HTTP_HEADER_TIMEOUT", defaults.header_timeout)?;
    let idle_timeout = timeout("HTTP_IDLE_TIMEOUT", defaults.idle_timeout)?;
    let max_connections = match get("HTTP_MAX_CONNECTIONS") {
        None => defaults.max_connections,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1_000_000).contains(n))
            .ok_or_else(|| bad("HTTP_MAX_CONNECTIONS", "must be a number from 1 to 1000000"))?,
    };
    Ok((
        RateLimits { rates, exempt, trusted_proxies },
        ConnectionLimits { header_timeout, idle_timeout, max_connections },
    ))
}

/// `METRICS_ADDR`, `LOG_FORMAT`, `READY_OUTBOX_MAX_AGE`, `READY_WORKER_MAX_LAG`.
fn observability(get: &impl Fn(&str) -> Option<String>) -> Result<ObservabilitySettings, ConfigError> {
    let metrics_addr = get("METRICS_ADDR")
        .map(|raw| raw.parse::<SocketAddr>())
        .transpose()
        .map_err(|e| bad("METRICS_ADDR", format!("not an address like 127.0.0.1:9100 ({e})")))?;
    let log_format = match get("LOG_FORMAT") {
        None => LogFormat::Text,
        Some(raw) => LogFormat::parse(&raw).ok_or_else(|| bad("LOG_FORMAT", "use text or json"))?,
    };
    let duration = |name: &'static str, raw: &str| match parse_delays(raw) {
        Ok(one) if one.len() == 1 && !one[0].is_zero() => Ok(one[0]),
        Ok(_) => Err(bad(name, "must be one positive duration, like 5m")),
        Err(e) => Err(bad(name, e)),
    };
    let outbox_max_age = match get("READY_OUTBOX_MAX_AGE") {
        Some(raw) if raw.eq_ignore_ascii_case("off") => None,
        raw => Some(duration(
            "READY_OUTBOX_MAX_AGE",
            raw.as_deref().unwrap_or(ObservabilitySettings::DEFAULT_OUTBOX_MAX_AGE),
        )?),
    };
    let worker_max_lag = duration(
        "READY_WORKER_MAX_LAG",
        get("READY_WORKER_MAX_LAG").as_deref().unwrap_or(ObservabilitySettings::DEFAULT_WORKER_MAX_LAG),
    )?;
    Ok(ObservabilitySettings { metrics_addr, log_format, outbox_max_age, worker_max_lag })
}

fn cafe24_credentials(
    get: &impl Fn(&str) -> Option<String>,
    production: bool,
) -> Result<Cafe24Credentials, ConfigError> {
    let mut dev_defaults = Vec::new();
    let mut pick = |name: &'static str, default: &'static str| -> Result<String, ConfigError> {
        match get(name) {
            Some(v) => Ok(v),
            None if production => Err(bad(name, "is required in production")),
            None => {
                dev_defaults.push((name, default));
                Ok(default.to_owned())
            }
        }
    };
    let client_id = pick("CAFE24_CLIENT_ID", DEV_CLIENT_ID)?;
    let client_secret = pick("CAFE24_CLIENT_SECRET", DEV_CLIENT_SECRET)?;
    let service_key = pick("CAFE24_SERVICE_KEY", DEV_SERVICE_KEY)?;
    let webhook_key = match get("CAFE24_WEBHOOK_KEY") {
        Some(key) => Some(key),
        None if production => None,
        None => {
            dev_defaults.push(("CAFE24_WEBHOOK_KEY", DEV_WEBHOOK_KEY));
            Some(DEV_WEBHOOK_KEY.to_owned())
        }
    };
    Ok(Cafe24Credentials { client_id, client_secret, service_key, webhook_key, dev_defaults })
}

fn parse_base_url(variable: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url = Url::parse(raw.trim_end_matches('/')).map_err(|e| bad(variable, format!("not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad(variable, "must be an http(s) URL with a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad(variable, "must not have a query or fragment"));
    }
    Ok(url)
}

fn parse_bool(raw: &str) -> Option<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Some(true),
        "0" | "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// `30s,5m,30m` → three retry delays. Units: ms, s, m, h.
pub fn parse_delays(raw: &str) -> Result<Vec<Duration>, String> {
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|part| {
            let split = part
                .find(|c: char| !c.is_ascii_digit())
                .ok_or_else(|| format!("{part:?} has no unit (ms, s, m, h or d)"))?;
            let (digits, unit) = part.split_at(split);
            let n: u64 = digits.parse().map_err(|_| format!("{part:?} does not start with a number"))?;
            match unit {
                "ms" => Ok(Duration::from_millis(n)),
                "s" => Ok(Duration::from_secs(n)),
                "m" => Ok(Duration::from_secs(n * 60)),
                "h" => Ok(Duration::from_secs(n * 3600)),
                "d" => Ok(Duration::from_secs(n * 86400)),
                _ => Err(format!("{part:?} has an unknown unit (use ms, s, m, h or d)")),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_are_a_runnable_development_setup() {
        let c = config(&[]).unwrap();
        assert!(!c.production);
        assert!(c.sandbox);
        assert_eq!(c.database_url, "sqlite://data/paybridge.db");
        assert_eq!(c.listen_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(c.cafe24.dev_defaults.len(), 4);
        assert_eq!(
            c.notify_retry_delays,
            vec![Duration::from_secs(30), Duration::from_secs(300), Duration::from_secs(1800)]
        );
        assert_eq!(c.allowed_hosts.len(), 3);
        assert_eq!(c.reconcile_after, Duration::from_secs(600));
        assert_eq!(config(&[("RECONCILE_AFTER", "90s")]).unwrap().reconcile_after, Duration::from_secs(90));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("DATABASE_URL", "mysql://x"),
            ("LEPTOS_SITE_ADDR", "localhost"),
            ("APP_URL", "ftp://x"),
            ("NOTY_ALLOWED_HOSTS", "exa mple.com"),
            ("ENCRYPTION_KEY", "c2hvcnQ="),
            ("NOTIFY_RETRY_DELAYS", "30x"),
            ("NOTIFY_LEASE", "500ms"),
            ("SANDBOX", "maybe"),
            ("APP_ENV", "staging"),
            ("CAFE24_API_BASE", "not a url"),
            ("RATE_LIMITS", "webhooks=fast"),
            ("RATE_LIMIT_EXEMPT", "localhost"),
            ("TRUSTED_PROXIES", "10.0.0.0/33"),
            ("HTTP_HEADER_TIMEOUT", "50ms"),
            ("HTTP_IDLE_TIMEOUT", "soon"),
            ("HTTP_MAX_CONNECTIONS", "0"),
            ("RECONCILE_AFTER", "0s"),
            ("NOTIFY_POLL", "0s"),
            ("NOTIFY_POLL", "soon"),
        ] {
            let err = config(&[(var, value)]).unwrap_err();
            assert_eq!(err.variable, var, "{value}");
            assert!(err.to_string().starts_with(var));
        }
    }

    #[test]
    fn observability_defaults_and_bad_values() {
        let s = config(&[]).unwrap().observability;
        assert!(s.metrics_addr.is_none());
        assert_eq!(s.log_format, LogFormat::Text);
        assert_eq!(s.outbox_max_age, Some(Duration::from_secs(300)));
        assert_eq!(s.worker_max_lag, Duration::from_secs(120));
        let s = config(&[("LOG_FORMAT", "JSON"), ("READY_OUTBOX_MAX_AGE", "off"), ("METRICS_ADDR", "0.0.0.0:9100")])
            .unwrap()
            .observability;
        assert_eq!((s.log_format, s.outbox_max_age), (LogFormat::Json, None));
        assert_eq!(s.metrics_addr.unwrap().port(), 9100);
        for (var, value) in [
            ("LOG_FORMAT", "yaml"),
            ("METRICS_ADDR", "localhost"),
            ("READY_OUTBOX_MAX_AGE", "soon"),
            ("READY_WORKER_MAX_LAG", "0s"),
        ] {
            assert_eq!(config(&[(var, value)]).unwrap_err().variable, var, "{value}");
        }
    }

    #[test]
    fn limits_default_to_production_values_with_loopback_exempt_only_in_development() {
        use crate::config::limits::Class;
        let dev = config(&[]).unwrap();
        assert!(dev.rate_limits.rates.iter().all(|(class, rate)| *rate == Some(class.default_rate())));
        assert!(dev.rate_limits.exempt.iter().any(|n| n.contains(&"127.0.0.1".parse::<std::net::IpAddr>().unwrap())));
        assert!(dev.rate_limits.trusted_proxies.is_empty());
        assert_eq!(dev.connections, ConnectionLimits::default());
        let set = config(&[
            ("RATE_LIMITS", "pages=off,webhooks=5/s"),
            ("RATE_LIMIT_EXEMPT", "none"),
            ("TRUSTED_PROXIES", "10.0.0.0/8"),
            ("HTTP_HEADER_TIMEOUT", "1s"),
            ("HTTP_IDLE_TIMEOUT", "2m"),
            ("HTTP_MAX_CONNECTIONS", "50"),
        ])
        .unwrap();
        assert!(set.rate_limits.rates.contains(&(Class::Pages, None)));
        assert!(set.rate_limits.exempt.is_empty());
        assert_eq!(set.rate_limits.trusted_proxies.len(), 1);
        assert_eq!(
            set.connections,
            ConnectionLimits {
                header_timeout: Duration::from_secs(1),
                idle_timeout: Duration::from_secs(120),
                max_connections: 50
            }
        );
    }

    #[test]
    fn production_requires_real_secrets_and_turns_the_sandbox_off() {
        let err = config(&[("APP_ENV", "production")]).unwrap_err();
        assert_eq!(err.variable, "APP_URL");
        let full = [
            ("APP_ENV", "production"),
            ("APP_URL", "https://pay.example.com"),
            ("CAFE24_CLIENT_ID", "id"),
            ("CAFE24_CLIENT_SECRET", "secret"),
            ("CAFE24_SERVICE_KEY", "service"),
            ("ENCRYPTION_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ];
        let c = config(&full).unwrap();
        assert!(c.production && !c.sandbox && c.cafe24.dev_defaults.is_empty());
        assert!(c.rate_limits.exempt.is_empty(), "nobody is exempt from the limits in production");
        assert_eq!(c.cafe24.webhook_key, None, "no development webhook key in production");
        let without_key: Vec<_> = full.iter().copied().filter(|(k, _)| *k != "ENCRYPTION_KEY").collect();
        assert_eq!(config(&without_key).unwrap_err().variable, "ENCRYPTION_KEY");
        let http: Vec<_> =
            full.iter().map(|&(k, v)| if k == "APP_URL" { (k, "http://pay.example.com") } else { (k, v) }).collect();
        assert_eq!(config(&http).unwrap_err().variable, "APP_URL");
    }
}
