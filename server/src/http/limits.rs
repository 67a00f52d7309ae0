//! Abuse limits (`RATE_LIMITS`): the unauthenticated endpoints that cost work are limited
//! per client address, the Store API per API key. A request over its limit is answered
//! 429 with `Retry-After`, in the shape of the channel it was sent to, before any of its
//! work is done.
//!
//! The limiter is `governor`'s (GCRA, a keyed state per class), driven from one
//! middleware on the whole router rather than through `tower_governor`: a class is chosen
//! by path and query (the launch and the home page share `/`), some clients are exempt
//! (loopback in development) and bypass the limiter, and each class answers in its
//! channel's shape — none of which tower_governor's per-route layers and key extractors
//! express.
//!
//! The client address is the connection's peer; `X-Forwarded-For` is read only when the
//! peer is one of `TRUSTED_PROXIES` (the right-most address in it that is not a trusted
//! proxy). IPv6 clients are limited per /64, which one client usually holds whole. An API
//! key is limited by a SHA-256 prefix of the key as sent (neither kept nor logged);
//! a call without `Authorization` is refused 401 by the Store API without any work.

use std::{
    net::{IpAddr, Ipv6Addr, SocketAddr},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    middleware::Next,
    response::{Html, IntoResponse, Response},
    Json,
};
use governor::{clock::Clock, DefaultKeyedRateLimiter, RateLimiter};
use ipnet::IpNet;
use serde_json::json;
use sha2::{Digest, Sha256};

pub use crate::config::limits::{Class, Rate, RateLimits};

impl Class {
    /// The class a request falls in, if any.
    pub fn of(path: &str, query: Option<&str>, headers: &HeaderMap) -> Option<Class> {
        const CALLBACKS: [&str; 5] = [
            "/api/synchronous-checkout/checkout/callback",
            "/api/asynchronous-checkout/checkout/callback",
            "/api/external-checkout/order/callback",
            "/api/v2/checkout/callback",
            "/api/v2/tokens/registrations/callback",
        ];
        match path {
            "/api/asynchronous-checkout/checkout/webhook"
            | "/api/asynchronous-cancellation/cancel/webhook"
            | "/api/asynchronous-refund/cancel/webhook" => Some(Class::Webhooks),
            p if p.starts_with("/pg/") && p.ends_with("/webhook") => Some(Class::Webhooks),
            "/api/external-checkout/script/hmac"
            | "/api/external-checkout/script/data"
            | "/api/external-checkout/payload"
            | "/api/external-checkout/order/pay" => Some(Class::Storefront),
            "/" => {
                let query = query.unwrap_or_default();
                let launch = url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "hmac" || k == "mall_id");
                launch.then_some(Class::Launch)
            }
            "/auth/token" => Some(Class::Launch),
            "/api/external-checkout/order/review" => Some(Class::Pages),
            p if p.starts_with("/pay/") || CALLBACKS.contains(&p) => Some(Class::Pages),
            p if p == "/api/v2" || p.starts_with("/api/v2/") => {
                headers.contains_key(header::AUTHORIZATION).then_some(Class::StoreApi)
            }
            _ => None,
        }
    }
}

/// What a request is counted under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Address(IpAddr),
    ApiKey([u8; 16]),
}

/// The limiters, one per limited class.
#[derive(Clone)]
pub struct Limiter {
    inner: Arc<Inner>,
}

struct Inner {
    limiters: Vec<(Class, DefaultKeyedRateLimiter<Key>)>,
    exempt: Vec<IpNet>,
    trusted_proxies: Vec<IpNet>,
    /// Requests seen, to forget idle clients now and then.
    seen: AtomicU64,
}

impl Limiter {
    pub fn new(config: &RateLimits) -> Self {
        let limiters = config
            .rates
            .iter()
            .filter_map(|(class, rate)| Some((*class, RateLimiter::keyed(rate.as_ref()?.quota()?))))
            .collect();
        Limiter {
            inner: Arc::new(Inner {
                limiters,
                exempt: config.exempt.clone(),
                trusted_proxies: config.trusted_proxies.clone(),
                seen: AtomicU64::new(0),
            }),
        }
    }

    /// Whether any class is limited (no middleware is needed otherwise).
    pub fn is_on(&self) -> bool {
        !self.inner.limiters.is_empty()
    }

    /// The client's address: the peer, or, when the peer is a trusted proxy, the
    /// right-most address of `X-Forwarded-For` that is not one.
    fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let trusted = |ip: &IpAddr| self.inner.trusted_proxies.iter().any(|n| n.contains(ip));
        if !trusted(&peer) {
            return peer;
        }
        let mut client = peer;
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in hops.into_iter().rev() {
            let Ok(ip) = hop.parse::<IpAddr>() else { break };
            client = ip;
            if !trusted(&ip) {
                break;
            }
        }
        client
    }

    /// `Ok` to go on, or how long the client is to wait.
    fn check(&self, class: Class, peer: Option<IpAddr>, headers: &HeaderMap) -> Result<(), Duration> {
        let Some(limiter) = self.inner.limiters.iter().find(|(c, _)| *c == class).map(|(_, l)| l) else {
            return Ok(());
        };
        // Without a peer (a router called in-process) there is nobody to limit.
        let Some(peer) = peer else { return Ok(()) };
        let client = self.client(peer, headers);
        if self.inner.exempt.iter().any(|n| n.contains(&client)) {
            return Ok(());
        }
        let key = match class {
            Class::StoreApi => {
                let Some(given) = headers.get(header::AUTHORIZATION) else { return Ok(()) };
                let digest = Sha256::digest(given.as_bytes());
                let mut prefix = [0u8; 16];
                prefix.copy_from_slice(&digest[..16]);
                Key::ApiKey(prefix)
            }
            _ => Key::Address(per_client(client)),
        };
        if self.inner.seen.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            for (_, l) in &self.inner.limiters {
                l.retain_recent();
                l.shrink_to_fit();
            }
        }
        limiter
            .check_key(&key)
            .map_err(|not_until| not_until.wait_time_from(governor::clock::DefaultClock::default().now()))
    }
}

/// IPv4 as it is; IPv6 by its /64 (one client usually holds a whole /64).
fn per_client(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
    }
}

/// The middleware: counts the request in its class and answers 429 when over.
pub async fn enforce(State(limiter): State<Limiter>, request: Request, next: Next) -> Response {
    if !limiter.is_on() {
        return next.run(request).await;
    }
    let Some(class) = Class::of(request.uri().path(), request.uri().query(), request.headers()) else {
        return next.run(request).await;
    };
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
    match limiter.check(class, peer, request.headers()) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            tracing::debug!(class = class.name(), "rate limit: answered 429");
            too_many(class, request.uri().path(), wait)
        }
    }
}

/// 429 in the class's shape, with `Retry-After` in whole seconds (at least 1).
fn too_many(class: Class, path: &str, wait: Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let seconds = seconds.max(1);
    let message = format!("too many requests; try again in {seconds} s");
    let mut response = match class {
        Class::StoreApi => {
            let mut e = crate::store_api::ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "rate_limited",
                format!("too many requests with this API key; try again in {seconds} s"),
            );
            e.retry_after = u32::try_from(seconds).ok();
            e.into_response()
        }
        Class::Webhooks => {
            (StatusCode::TOO_MANY_REQUESTS, Json(json!({"result": "error", "message": message}))).into_response()
        }
        Class::Storefront => {
            crate::cafe24::Cafe24Error::new(StatusCode::TOO_MANY_REQUESTS, message).for_storefront().into_response()
        }
        Class::Pages if path.starts_with("/pay/") && path.ends_with("/status") => {
            (StatusCode::TOO_MANY_REQUESTS, Json(json!({"error": message}))).into_response()
        }
        Class::Launch | Class::Pages => {
            let body = format!(
                "<h1>Too many requests</h1><p data-testid=\"error\">{}</p><p>Please wait a moment and try again.</p>",
                crate::web::html_escape(&message)
            );
            (StatusCode::TOO_MANY_REQUESTS, Html(crate::web::page("Too many requests", &body))).into_response()
        }
    };
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_refuse_with_a_reason() {
        assert_eq!(Rate::parse("20/s").unwrap(), Rate { count: 20, per: Duration::from_secs(1), burst: 20 });
        assert_eq!(Rate::parse("30/m:burst10").unwrap(), Rate { count: 30, per: Duration::from_secs(60), burst: 10 });
        for bad in ["20", "0/s", "20/d", "20/s:40", "20/s:burst0", "x/s"] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
        let rates = RateLimits::parse(Some("webhooks=5/s:burst7, pages=off")).unwrap();
        assert!(rates.contains(&(Class::Webhooks, Some(Rate { count: 5, per: Duration::from_secs(1), burst: 7 }))));
        assert!(rates.contains(&(Class::Pages, None)));
        assert!(rates.contains(&(Class::StoreApi, Some(Class::StoreApi.default_rate()))));
        assert!(RateLimits::parse(Some("off")).unwrap().iter().all(|(_, r)| r.is_none()));
        assert!(RateLimits::parse(Some("hooks=1/s")).unwrap_err().contains("webhooks"));
    }

    #[test]
    fn requests_fall_in_their_class() {
        let none = HeaderMap::new();
        let mut keyed = HeaderMap::new();
        keyed.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer sk_test_x"));
        assert_eq!(Class::of("/pg/sandbox/webhook", None, &none), Some(Class::Webhooks));
        assert_eq!(Class::of("/api/asynchronous-refund/cancel/webhook", None, &none), Some(Class::Webhooks));
        assert_eq!(Class::of("/api/external-checkout/script/hmac", Some("mall_id=x"), &none), Some(Class::Storefront));
        assert_eq!(Class::of("/", Some("mall_id=x&hmac=y"), &none), Some(Class::Launch));
        assert_eq!(Class::of("/", None, &none), None);
        assert_eq!(Class::of("/pay/pay_1", None, &none), Some(Class::Pages));
        assert_eq!(Class::of("/api/v2/checkout/callback", Some("a=b"), &keyed), Some(Class::Pages));
        assert_eq!(Class::of("/api/v2/payments", None, &keyed), Some(Class::StoreApi));
        assert_eq!(Class::of("/api/v2/payments", None, &none), None);
        assert_eq!(Class::of("/api/synchronous-checkout/checkout", None, &none), None, "signed by Cafe24");
        assert_eq!(Class::of("/pkg/paybridge.js", None, &none), None);
    }

    fn limiter(trusted: &str, exempt: &str) -> Limiter {
        Limiter::new(&RateLimits {
            rates: vec![(Class::Webhooks, Some(Rate { count: 1, per: Duration::from_secs(60), burst: 2 }))],
            exempt: RateLimits::parse_networks(exempt).unwrap(),
            trusted_proxies: RateLimits::parse_networks(trusted).unwrap(),
        })
    }

    #[test]
    fn a_burst_past_the_limit_waits_and_others_and_exempt_clients_do_not() {
        let l = limiter("", "loopback, 10.9.0.0/16");
        let none = HeaderMap::new();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(l.check(Class::Webhooks, Some(a), &none).is_ok());
        assert!(l.check(Class::Webhooks, Some(a), &none).is_ok());
        let wait = l.check(Class::Webhooks, Some(a), &none).unwrap_err();
        assert!(wait > Duration::from_secs(25) && wait <= Duration::from_secs(60), "{wait:?}");
        assert!(l.check(Class::Webhooks, Some("192.0.2.2".parse().unwrap()), &none).is_ok(), "another address");
        assert!(l.check(Class::Pages, Some(a), &none).is_ok(), "another class (unlimited here)");
        for _ in 0..5 {
            assert!(l.check(Class::Webhooks, Some("127.0.0.1".parse().unwrap()), &none).is_ok());
            assert!(l.check(Class::Webhooks, Some("10.9.3.4".parse().unwrap()), &none).is_ok());
        }
        // One IPv6 client is its /64.
        let v6 = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert!(l.check(Class::Webhooks, v6("2001:db8::1"), &none).is_ok());
        assert!(l.check(Class::Webhooks, v6("2001:db8::2"), &none).is_ok());
        assert!(l.check(Class::Webhooks, v6("2001:db8::3"), &none).is_err());
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
        let l = limiter("10.0.0.0/8", "none");
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.1, 203.0.113.9, 10.0.0.2"));
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(l.client(proxy, &headers), "203.0.113.9".parse::<IpAddr>().unwrap(), "the right-most untrusted hop");
        let stranger: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(l.client(stranger, &headers), stranger, "not from a trusted proxy: the peer");
        assert_eq!(l.client(proxy, &HeaderMap::new()), proxy);
    }
}
