//! Name resolution for outgoing notifications: a host name that resolves to a private,
//! loopback or link-local address is refused unless the allow-list names that host
//! exactly (SPEC §7). Checking the address we actually connect to, not an earlier
//! lookup, closes the DNS-rebinding gap.

use std::{collections::HashSet, net::SocketAddr, sync::Arc};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::hosts::is_public;

#[derive(Clone, Debug)]
pub struct GuardedResolver {
    /// Host names the allow-list names exactly; they may resolve anywhere.
    trusted: Arc<HashSet<String>>,
}

impl GuardedResolver {
    pub fn new(trusted: impl IntoIterator<Item = String>) -> Self {
        GuardedResolver { trusted: Arc::new(trusted.into_iter().collect()) }
    }

    fn keep(&self, host: &str, addrs: impl Iterator<Item = SocketAddr>) -> Vec<SocketAddr> {
        let trusted = self.trusted.contains(&host.to_ascii_lowercase());
        addrs.filter(|a| trusted || is_public(&a.ip())).collect()
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let kept = this.keep(&host, found);
            if kept.is_empty() {
                return Err(format!("{host} resolves only to addresses notifications may not reach").into());
            }
            Ok(Box::new(kept.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_answers_are_dropped_unless_the_host_is_listed_exactly() {
        let resolver = GuardedResolver::new(["localhost".to_owned()]);
        let addrs =
            || ["127.0.0.1:0", "10.0.0.1:0", "93.184.216.34:0"].into_iter().map(|a| a.parse::<SocketAddr>().unwrap());
        assert_eq!(resolver.keep("evil.example", addrs()), vec!["93.184.216.34:0".parse().unwrap()]);
        assert_eq!(resolver.keep("localhost", addrs()).len(), 3);
        assert!(resolver.keep("evil.example", ["127.0.0.1:0".parse().unwrap()].into_iter()).is_empty());
    }
}
