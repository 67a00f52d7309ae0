//! The outbox worker. It claims a batch of due messages, delivers them concurrently and
//! records each attempt; between batches it sleeps until woken by a local commit or the
//! next poll. On shutdown it finishes the batch in hand and releases what it still holds.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;

use crate::{
    hosts::HostPolicy,
    store::{now_ms, AfterAttempt, Delivery, OutboxMessage, Store},
};

const POLL: Duration = Duration::from_millis(250);
const BATCH: i64 = 32;
/// Enough of an answer to read `{"result":"OK"}`.
const MAX_ANSWER: usize = 16 * 1024;

pub struct OutboxWorker {
    pub store: Store,
    /// Timeouts on, redirects off, private addresses refused ([`super::GuardedResolver`]).
    pub http: reqwest::Client,
    pub hosts: Arc<HostPolicy>,
    pub retry_delays: Vec<Duration>,
    /// Longer than any delivery can take (see [`delivery_timeout`]), so a live worker
    /// never loses its lease mid-attempt and no two attempts of one message overlap.
    pub lease: Duration,
    pub id: String,
}

/// Deliveries time out well inside the lease.
pub fn delivery_timeout(lease: Duration) -> Duration {
    (lease / 2).min(Duration::from_secs(15))
}

impl OutboxWorker {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let wake = self.store.outbox_signal();
        tracing::info!(worker = %self.id, "outbox worker started");
        while !*shutdown.borrow() {
            let batch = match self.store.claim_due(&self.id, BATCH, self.lease).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::error!(error = %e, "outbox: cannot claim messages");
                    Vec::new()
                }
            };
            if batch.is_empty() {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(POLL) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            futures::future::join_all(batch.iter().map(|m| self.deliver_and_record(m))).await;
        }
        match self.store.release_leases(&self.id).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "outbox: released leases at shutdown"),
            Err(e) => tracing::warn!(error = %e, "outbox: could not release leases; they expire on their own"),
        }
        tracing::info!(worker = %self.id, "outbox worker stopped");
    }

    async fn deliver_and_record(&self, message: &OutboxMessage) {
        let started = now_ms();
        let delivery = self.deliver(message).await;
        match self.store.record_attempt(&self.id, message, started, &delivery, &self.retry_delays).await {
            Ok(AfterAttempt::Delivered) => tracing::debug!(id = %message.id, "delivered"),
            Ok(AfterAttempt::Retry(_)) => {
                tracing::info!(id = %message.id, kind = %message.kind, ?delivery, "delivery failed; will retry")
            }
            Ok(AfterAttempt::GaveUp) => {
                tracing::warn!(id = %message.id, kind = %message.kind, ?delivery, "delivery failed for good")
            }
            Ok(AfterAttempt::LeaseLost) => tracing::warn!(id = %message.id, "lease lost during delivery"),
            // The lease expires and the message is tried again: at least once.
            Err(e) => tracing::error!(id = %message.id, error = %e, "could not record a delivery attempt"),
        }
    }

    async fn deliver(&self, message: &OutboxMessage) -> Delivery {
        let failed = |http_status: Option<u16>, error: String| Delivery::Failed { http_status, error };
        let mall_domains = match &message.payment_id {
            Some(payment_id) => self.store.payment_mall_domains(payment_id).await.unwrap_or_default(),
            None => Vec::new(),
        };
        let url = match self.hosts.check_with("target", &message.target_url, &mall_domains) {
            Ok(url) => url,
            Err(e) => return failed(None, e.to_string()),
        };
        let response = match self
            .http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(message.body.clone())
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return failed(None, "timed out".into()),
            Err(e) => return failed(None, format!("could not connect: {}", e.without_url())),
        };
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return failed(Some(status), format!("answered HTTP {status}"));
        }
        let answer = read_limited(response).await;
        if message.kind.starts_with("cafe24.") && !is_cafe24_ok(&answer) {
            return failed(Some(status), "did not answer {\"result\":\"OK\"}".into());
        }
        Delivery::Delivered { http_status: status }
    }
}

async fn read_limited(mut response: reqwest::Response) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = response.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() > MAX_ANSWER {
            break;
        }
    }
    body
}

/// Cafe24 takes a notification when it answers `{"result":"OK"}` (SPEC §5).
fn is_cafe24_ok(answer: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(answer).is_ok_and(|v| v["result"] == "OK")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_result_ok_counts_as_taken_by_cafe24() {
        assert!(is_cafe24_ok(br#"{"result":"OK"}"#));
        assert!(is_cafe24_ok(br#"{"result": "OK", "message": "fine"}"#));
        assert!(!is_cafe24_ok(br#"{"result":"FAIL"}"#));
        assert!(!is_cafe24_ok(b"OK"));
        assert!(!is_cafe24_ok(b""));
    }
}
