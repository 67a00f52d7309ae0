//! The webhooks the sandbox PG sends: signed with the merchant's secret, retried while
//! the merchant does not answer 2xx. The last one of each order is kept so a test can
//! send it again (`POST /sandbox-pg/orders/{code}/webhooks/resend?times=N`).
//! `POST /sandbox-pg/orders/{code}/webhook-signing` with `signing=off` sends the order's
//! webhooks without a signature, as a PG without webhook signatures does. A card
//! registration's webhook only says that it changed (no card in it).

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::{Path, RawQuery, State},
    http::StatusCode,
    Json,
};
use serde_json::json;

use super::{field, form_fields, webhook_secret, ApiError, OrderRow, SandboxPg};
use crate::{
    gateway::sandbox::{sign_webhook, WebhookBody, SIGNATURE_HEADER},
    store::{new_id, now_ms},
};

/// Waits before each retry of a webhook the merchant did not take.
const RETRY_DELAYS: [Duration; 6] = [
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
];

pub(super) fn order_event(order: &OrderRow) -> WebhookBody {
    WebhookBody {
        event_id: new_id("sbx_evt"),
        kind: "order".into(),
        reference: order.reference.clone(),
        order_code: order.code.clone(),
        status: order.status.clone(),
        amount: order.amount_minor,
        currency: order.currency.clone(),
        captured_amount: (order.status == "paid").then_some(order.captured_minor),
        refund_code: None,
        message: None,
    }
}

pub(super) struct RefundEvent<'a> {
    pub refund_code: &'a str,
    pub reference: &'a str,
    pub amount_minor: i64,
    pub status: &'a str,
    pub message: Option<String>,
}

pub(super) fn refund_event(order: &OrderRow, refund: RefundEvent<'_>) -> WebhookBody {
    WebhookBody {
        event_id: new_id("sbx_evt"),
        kind: "refund".into(),
        reference: refund.reference.to_owned(),
        order_code: order.code.clone(),
        status: refund.status.to_owned(),
        amount: refund.amount_minor,
        currency: order.currency.clone(),
        captured_amount: None,
        refund_code: Some(refund.refund_code.to_owned()),
        message: refund.message,
    }
}

/// Signs with `secret`, or sends unsigned when there is none.
async fn deliver_once(http: &reqwest::Client, url: &str, secret: Option<&str>, body: &str) -> Result<u16, String> {
    let mut request = http.post(url).header(reqwest::header::CONTENT_TYPE, "application/json").body(body.to_owned());
    if let Some(secret) = secret {
        request = request.header(SIGNATURE_HEADER, sign_webhook(secret, now_ms() / 1000, body.as_bytes()));
    }
    let response = request.send().await.map_err(|e| e.without_url().to_string())?;
    Ok(response.status().as_u16())
}

/// The secret the order's webhooks are signed with; none when they go out unsigned.
fn signing_secret(order: &OrderRow) -> Option<&'static str> {
    (order.unsigned_webhooks == 0).then(|| webhook_secret(&order.merchant))
}

impl SandboxPg {
    /// Keeps `body` as the order's last webhook and sends it until the merchant takes it.
    pub(super) async fn send_webhook(&self, order: &OrderRow, url: &str, body: WebhookBody) -> Result<(), ApiError> {
        let body = serde_json::to_string(&body).expect("webhook bodies serialise");
        let last = json!({"url": url, "body": body}).to_string();
        sqlx::query("UPDATE sandbox_pg_orders SET last_webhook = $1 WHERE code = $2")
            .bind(last)
            .bind(&order.code)
            .execute(self.store.pool())
            .await?;
        self.deliver_in_background(Sender::Order, &order.code, url, signing_secret(order), body).await
    }

    /// Sends a webhook about a registration until the merchant takes it.
    pub(super) async fn send_registration_webhook(
        &self,
        code: &str,
        merchant: &str,
        url: &str,
        body: WebhookBody,
    ) -> Result<(), ApiError> {
        let body = serde_json::to_string(&body).expect("webhook bodies serialise");
        self.deliver_in_background(Sender::Registration, code, url, Some(webhook_secret(merchant)), body).await
    }

    /// Sends `body` to `url`, retrying until a 2xx; counts it in flight on the sender's row
    /// meanwhile (tests wait until nothing is in flight), and each attempt.
    async fn deliver_in_background(
        &self,
        sender: Sender,
        code: &str,
        url: &str,
        secret: Option<&'static str>,
        body: String,
    ) -> Result<(), ApiError> {
        if super::faults::losing_answer() {
            // The fault switch loses this operation's answer, and its webhooks with it.
            tracing::info!(code, "sandbox PG: a webhook lost with its answer");
            return Ok(());
        }
        let table = sender.table();
        sqlx::query(&format!("UPDATE {table} SET webhooks_in_flight = webhooks_in_flight + 1 WHERE code = $1"))
            .bind(code)
            .execute(self.store.pool())
            .await?;
        let (http, url) = (self.http.clone(), url.to_owned());
        let (store, code) = (self.store.clone(), code.to_owned());
        tokio::spawn(async move {
            let mut taken = false;
            for delay in std::iter::once(Duration::ZERO).chain(RETRY_DELAYS) {
                tokio::time::sleep(delay).await;
                let answer = deliver_once(&http, &url, secret, &body).await;
                let counted =
                    sqlx::query(&format!("UPDATE {table} SET webhook_attempts = webhook_attempts + 1 WHERE code = $1"))
                        .bind(&code)
                        .execute(store.pool())
                        .await;
                if let Err(e) = counted {
                    tracing::warn!(error = %e, "sandbox PG could not count a webhook attempt");
                }
                match answer {
                    Ok(status) if (200..300).contains(&status) => {
                        taken = true;
                        break;
                    }
                    Ok(status) => tracing::info!(status, "sandbox PG webhook not taken; will retry"),
                    Err(error) => tracing::info!(%error, "sandbox PG webhook not delivered; will retry"),
                }
            }
            if !taken {
                tracing::warn!("sandbox PG gave up on a webhook");
            }
            let done =
                sqlx::query(&format!("UPDATE {table} SET webhooks_in_flight = webhooks_in_flight - 1 WHERE code = $1"))
                    .bind(&code)
                    .execute(store.pool())
                    .await;
            if let Err(e) = done {
                tracing::warn!(error = %e, "sandbox PG could not count a webhook as sent");
            }
        });
        Ok(())
    }
}

/// Whose row counts a webhook in flight.
#[derive(Clone, Copy)]
enum Sender {
    Order,
    Registration,
}

impl Sender {
    fn table(self) -> &'static str {
        match self {
            Sender::Order => "sandbox_pg_orders",
            Sender::Registration => "sandbox_pg_registrations",
        }
    }
}

/// Sends the order's last webhook again, `times` copies at once (duplicate deliveries).
pub(super) async fn resend(
    State(pg): State<SandboxPg>,
    Path(code): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let fields = form_fields(query, &body);
    let times: usize = match field(&fields, "times") {
        None => 1,
        Some(t) => t
            .parse()
            .ok()
            .filter(|n| (1..=500).contains(n))
            .ok_or_else(|| ApiError::invalid("times must be 1 to 500"))?,
    };
    let order = pg.existing_order(&code).await?;
    let (last,): (Option<String>,) = sqlx::query_as("SELECT last_webhook FROM sandbox_pg_orders WHERE code = $1")
        .bind(&code)
        .fetch_one(pg.store.pool())
        .await?;
    let last: serde_json::Value = last
        .and_then(|l| serde_json::from_str(&l).ok())
        .ok_or_else(|| ApiError(StatusCode::CONFLICT, "no_webhook", format!("order {code} has sent no webhook")))?;
    let (url, body) = (last["url"].as_str().unwrap_or_default(), last["body"].as_str().unwrap_or_default());
    let secret = signing_secret(&order);
    let sends = (0..times).map(|_| deliver_once(&pg.http, url, secret, body));
    let statuses: Vec<serde_json::Value> = futures::future::join_all(sends)
        .await
        .into_iter()
        .map(|r| match r {
            Ok(status) => json!(status),
            Err(error) => json!(error),
        })
        .collect();
    Ok(Json(json!({"sent": times, "signed": secret.is_some(), "statuses": statuses})))
}

/// `POST /sandbox-pg/orders/{code}/webhook-signing` with `signing=off` (send the order's
/// webhooks unsigned, like a PG without signatures) or `signing=on`.
pub(super) async fn set_signing(
    State(pg): State<SandboxPg>,
    Path(code): Path<String>,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let fields = form_fields(query, &body);
    let unsigned = match field(&fields, "signing") {
        Some("off") => true,
        Some("on") => false,
        _ => return Err(ApiError::invalid("signing must be on or off")),
    };
    pg.existing_order(&code).await?;
    sqlx::query("UPDATE sandbox_pg_orders SET unsigned_webhooks = $1 WHERE code = $2")
        .bind(i64::from(unsigned))
        .bind(&code)
        .execute(pg.store.pool())
        .await?;
    Ok(Json(json!({"order_code": code, "signing": if unsigned { "off" } else { "on" }})))
}
