//! The outbox worker. Each pass takes the messages handed to it as they were enqueued in
//! this process (leased to it in the enqueuing transaction) and claims the other due ones,
//! delivers them concurrently and records each attempt; between passes it sleeps until
//! woken by a local commit, another instance's `NOTIFY` (PostgreSQL) or the next poll. An
//! idle pass only reads. On shutdown it finishes the batch in hand and releases what it
//! still holds.
//! Each message says how it is delivered: its content type, its headers, and which
//! answer counts as taken.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;

use super::{signing::signature_header, SigningKeys};
use crate::{
    hosts::HostPolicy,
    observability::{Metrics, Worker},
    store::{now_ms, Acceptance, AfterAttempt, Delivery, OutboxMessage, Signing, Store},
};

const BATCH: i64 = 32;
/// Enough of an answer to read `{"result":"OK"}`.
const MAX_ANSWER: usize = 16 * 1024;

#[derive(Clone)]
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
    /// The keys that sign messages with a signing policy (store webhooks).
    pub signing_keys: Option<Arc<dyn SigningKeys>>,
    /// Attempts by kind and outcome; its passes (worker lag, `/readyz`).
    pub metrics: Metrics,
    /// How often an idle worker looks for due messages nothing woke it for (retries).
    pub poll: Duration,
    /// Passes of one worker never overlap (a copy's pass on demand waits for the
    /// running one), so a message handed to it is delivered by one pass.
    pub passes: Arc<tokio::sync::Mutex<()>>,
}

/// Deliveries time out well inside the lease.
pub fn delivery_timeout(lease: Duration) -> Duration {
    (lease / 2).min(Duration::from_secs(15))
}

impl OutboxWorker {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let wake = self.store.outbox_signal();
        self.store.attach_worker(&self.id, self.lease);
        tokio::spawn({
            let (store, wake, shutdown) = (self.store.clone(), wake.clone(), shutdown.clone());
            async move { store.listen_for_outbox(wake, shutdown).await }
        });
        tracing::info!(worker = %self.id, "outbox worker started");
        while !*shutdown.borrow() {
            let attempted = self.run_once().await;
            self.metrics.pass_done(Worker::Outbox);
            if attempted == 0 {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(self.poll) => {}
                    _ = shutdown.changed() => {}
                }
            }
        }
        // Nothing more is leased to this worker; what it holds goes back to every instance.
        self.store.detach_worker();
        match self.store.release_leases(&self.id).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(released = n, "outbox: released leases at shutdown"),
            Err(e) => tracing::warn!(error = %e, "outbox: could not release leases; they expire on their own"),
        }
        tracing::info!(worker = %self.id, "outbox worker stopped");
    }

    /// One pass: takes what was handed to this worker and claims what else is due now,
    /// delivers it and records the attempts. Returns how many messages it attempted
    /// (tests run passes on demand with it).
    pub async fn run_once(&self) -> usize {
        let _pass = self.passes.lock().await;
        let pass = match self.store.outbox_pass(&self.id, BATCH, delivery_timeout(self.lease)).await {
            Ok(pass) => pass,
            Err(e) => {
                tracing::error!(error = %e, "outbox: cannot read the queue");
                return 0;
            }
        };
        let mut batch = pass.handed;
        if pass.claimable && batch.len() < BATCH as usize {
            match self.store.claim_due(&self.id, BATCH - batch.len() as i64, self.lease).await {
                Ok(claimed) => batch.extend(claimed),
                Err(e) => tracing::error!(error = %e, "outbox: cannot claim messages"),
            }
        }
        futures::future::join_all(batch.iter().map(|m| self.deliver_and_record(m))).await;
        batch.len()
    }

    async fn deliver_and_record(&self, message: &OutboxMessage) {
        use tracing::Instrument;
        let span = tracing::info_span!(
            "outbox",
            message_id = %message.id,
            kind = %message.kind,
            payment_id = message.payment_id.as_deref().unwrap_or(""),
        );
        self.deliver_and_record_in_span(message).instrument(span).await;
        self.metrics.heartbeat(Worker::Outbox);
    }

    async fn deliver_and_record_in_span(&self, message: &OutboxMessage) {
        let started = now_ms();
        let delivery = self.deliver(message).await;
        self.metrics.outbox_attempt(&message.kind, matches!(delivery, Delivery::Delivered { .. }));
        match self.store.record_attempt(&self.id, message, started, &delivery, &self.retry_delays).await {
            Ok(AfterAttempt::Delivered) => tracing::debug!(id = %message.id, "delivered"),
            Ok(AfterAttempt::Retry(_)) => {
                tracing::info!(id = %message.id, kind = %message.kind, ?delivery, "delivery failed; will retry")
            }
            Ok(AfterAttempt::GaveUp) => {
                self.metrics.outbox_gave_up(&message.kind);
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
            Some(payment_id) => match self.store.payment_mall_domains(payment_id).await {
                Ok(domains) => domains,
                // The target is checked against the allow-list alone; a mall's own domain
                // may then be refused and retried.
                Err(e) => {
                    tracing::warn!(id = %message.id, error = %e, "outbox: cannot read the mall's domains");
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        let url = match self.hosts.check_with("target", &message.target_url, &mall_domains) {
            Ok(url) => url,
            Err(e) => return failed(None, e.to_string()),
        };
        let mut request = self.http.post(url).header(reqwest::header::CONTENT_TYPE, &message.policy.content_type);
        for (name, value) in &message.policy.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        if let Some(Signing::StandardWebhooks { key_ref }) = &message.policy.signing {
            let Some(source) = &self.signing_keys else {
                return failed(None, "no signing keys are configured for this message".into());
            };
            let keys = match source.keys(key_ref).await {
                Ok(Some(keys)) if !keys.is_empty() => keys,
                Ok(_) => return failed(None, format!("{key_ref} no longer signs (deleted)")),
                Err(e) => return failed(None, format!("the signing keys of {key_ref} cannot be read: {e}")),
            };
            let id = message.policy.headers.iter().find(|(n, _)| n == "webhook-id").map(|(_, v)| v.as_str());
            let id = id.unwrap_or(message.id.as_str());
            let timestamp = now_ms() / 1000;
            request = request
                .header("webhook-timestamp", timestamp.to_string())
                .header("webhook-signature", signature_header(&keys, id, timestamp, &message.body));
        }
        let response = match request.body(message.body.clone()).send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return failed(None, "timed out".into()),
            Err(e) => return failed(None, format!("could not connect: {}", e.without_url())),
        };
        let status = response.status().as_u16();
        if !response.status().is_success() {
            return failed(Some(status), format!("answered HTTP {status}"));
        }
        match message.policy.accept {
            Acceptance::Any2xx => {}
            Acceptance::ResultOk => {
                if !is_result_ok(&read_limited(response).await) {
                    return failed(Some(status), "did not answer {\"result\":\"OK\"}".into());
                }
            }
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

/// `{"result":"OK"}`: how Cafe24 says it took a notification (SPEC §5).
fn is_result_ok(answer: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(answer).is_ok_and(|v| v["result"] == "OK")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_result_ok_counts_as_taken_when_the_policy_asks_for_it() {
        assert!(is_result_ok(br#"{"result":"OK"}"#));
        assert!(is_result_ok(br#"{"result": "OK", "message": "fine"}"#));
        assert!(!is_result_ok(br#"{"result":"FAIL"}"#));
        assert!(!is_result_ok(b"OK"));
        assert!(!is_result_ok(b""));
    }
}
