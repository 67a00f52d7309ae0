//! The abuse limits' and the listener's settings (`RATE_LIMITS`, `RATE_LIMIT_EXEMPT`,
//! `TRUSTED_PROXIES`; `HTTP_HEADER_TIMEOUT`, `HTTP_IDLE_TIMEOUT`, `HTTP_MAX_CONNECTIONS`),
//! as parsed here; `http::limits` and `http::serve` enforce them.

use std::{net::IpAddr, num::NonZeroU32, time::Duration};

use governor::Quota;
use ipnet::IpNet;

/// What a limit applies to; each has its own quota and answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// `POST /pg/{gateway}/webhook` and its aliases: an unsigned notice costs a PG call.
    Webhooks,
    /// The storefront's calls: `script/hmac`, `script/data`, `payload`, `order/pay`.
    Storefront,
    /// The app launch (`/` with launch parameters) and the OAuth callback `/auth/token`.
    Launch,
    /// The buyer's pages: `/pay/{id}` (and its status), the review page, the returns
    /// from the PG (`…/callback`).
    Pages,
    /// `/api/v2/…` with an API key, per key.
    StoreApi,
}

impl Class {
    pub const ALL: [Class; 5] = [Class::Webhooks, Class::Storefront, Class::Launch, Class::Pages, Class::StoreApi];

    pub fn name(self) -> &'static str {
        match self {
            Class::Webhooks => "webhooks",
            Class::Storefront => "storefront",
            Class::Launch => "launch",
            Class::Pages => "pages",
            Class::StoreApi => "store_api",
        }
    }

    /// The production default.
    pub fn default_rate(self) -> Rate {
        let (count, per, burst) = match self {
            Class::Webhooks => (20, Duration::from_secs(1), 40),
            Class::Storefront => (10, Duration::from_secs(1), 60),
            Class::Launch => (30, Duration::from_secs(60), 10),
            Class::Pages => (10, Duration::from_secs(1), 60),
            Class::StoreApi => (50, Duration::from_secs(1), 100),
        };
        Rate { count, per, burst }
    }
}

/// `count` requests per `per`, up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub per: Duration,
    pub burst: u32,
}

impl Rate {
    pub fn quota(self) -> Option<Quota> {
        let period = self.per.checked_div(self.count)?;
        Some(Quota::with_period(period)?.allow_burst(NonZeroU32::new(self.burst)?))
    }

    /// `20/s`, `30/m:burst10`, `1000/h:burst100` (the burst defaults to the count).
    pub fn parse(raw: &str) -> Result<Rate, String> {
        let (rate, burst) = match raw.split_once(':') {
            Some((rate, burst)) => {
                let n = burst
                    .strip_prefix("burst")
                    .and_then(|n| n.parse::<u32>().ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{raw:?}: write the burst as burst<N>, N at least 1"))?;
                (rate, Some(n))
            }
            None => (raw, None),
        };
        let (count, unit) = rate.split_once('/').ok_or_else(|| format!("{raw:?} is not like 20/s or 30/m:burst10"))?;
        let count = count
            .parse::<u32>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{raw:?}: the count must be at least 1"))?;
        let per = match unit {
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return Err(format!("{raw:?}: the unit is s, m or h")),
        };
        let rate = Rate { count, per, burst: burst.unwrap_or(count) };
        rate.quota().ok_or_else(|| format!("{raw:?} is too fast to keep"))?;
        Ok(rate)
    }
}

/// `RATE_LIMITS`, `RATE_LIMIT_EXEMPT`, `TRUSTED_PROXIES`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RateLimits {
    /// Each class's rate; `None`: not limited.
    pub rates: Vec<(Class, Option<Rate>)>,
    /// Clients never limited.
    pub exempt: Vec<IpNet>,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
}

impl RateLimits {
    /// `off`, or `class=rate` pairs (`webhooks=20/s:burst40,pages=off`); a class not named
    /// keeps its default.
    pub fn parse(raw: Option<&str>) -> Result<Vec<(Class, Option<Rate>)>, String> {
        let mut rates: Vec<(Class, Option<Rate>)> = Class::ALL.iter().map(|c| (*c, Some(c.default_rate()))).collect();
        let Some(raw) = raw.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(rates) };
        if raw.eq_ignore_ascii_case("off") {
            return Ok(rates.into_iter().map(|(c, _)| (c, None)).collect());
        }
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) =
                part.split_once('=').ok_or_else(|| format!("{part:?} is not class=rate (like webhooks=20/s)"))?;
            let class = Class::ALL.into_iter().find(|c| c.name() == name.trim()).ok_or_else(|| {
                let names: Vec<_> = Class::ALL.iter().map(|c| c.name()).collect();
                format!("unknown class {name:?}; the classes are {}", names.join(", "))
            })?;
            let value = value.trim();
            let rate = if value.eq_ignore_ascii_case("off") { None } else { Some(Rate::parse(value)?) };
            if let Some(entry) = rates.iter_mut().find(|(c, _)| *c == class) {
                entry.1 = rate;
            }
        }
        Ok(rates)
    }

    /// A list of addresses and networks (`10.0.0.0/8, 192.168.1.7, ::1`), `loopback`
    /// (127.0.0.0/8 and ::1) or `none`.
    pub fn parse_networks(raw: &str) -> Result<Vec<IpNet>, String> {
        let mut nets = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "none" => {}
                "loopback" => {
                    for net in ["127.0.0.0/8", "::1/128"] {
                        nets.push(net.parse::<IpNet>().map_err(|e| e.to_string())?);
                    }
                }
                _ => nets.push(
                    part.parse::<IpNet>()
                        .or_else(|_| part.parse::<IpAddr>().map(IpNet::from))
                        .map_err(|_| format!("{part:?} is not an address or a network like 10.0.0.0/8"))?,
                ),
            }
        }
        Ok(nets)
    }
}

/// `HTTP_HEADER_TIMEOUT`, `HTTP_IDLE_TIMEOUT`, `HTTP_MAX_CONNECTIONS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 10_000,
        }
    }
}
