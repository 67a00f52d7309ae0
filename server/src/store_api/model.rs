//! The Store API's JSON (SPEC §8.2, §8.3): what stores send and what they get back,
//! camelCase, amounts in minor units, times RFC 3339 UTC. These types serve the calls and
//! describe them in the OpenAPI document.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    domain::{CaptureMethod, CardToken, Payment, PaymentStatus, PendingReason, Refund, RefundStatus},
    store::{PaymentEventRow, StoreApiPayment},
    web::PublicUrl,
};

/// `2026-12-02T10:00:00Z` from unix milliseconds.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.replace_millisecond(0).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_default()
}

/// Unix milliseconds from an RFC 3339 time.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// The status's name in SPEC §8.2.
pub fn status_name(status: PaymentStatus) -> &'static str {
    match status {
        PaymentStatus::Request => "REQUEST",
        PaymentStatus::Complete => "COMPLETE",
        PaymentStatus::Cancel => "CANCEL",
        PaymentStatus::Fail => "FAIL",
        PaymentStatus::Pending => "PENDING",
        PaymentStatus::PendingCancel => "PENDING_CANCEL",
        PaymentStatus::PartialCancel => "PARTIAL_CANCEL",
        PaymentStatus::Register => "REGISTER",
    }
}

/// Why a payment failed or its authorization ended.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Failure {
    /// `declined`, `abandoned`, `expired`, `canceled`, `authorization_expired`.
    pub code: String,
    pub message: String,
}

/// What the PG's own SDK needs to take the payment in the store's page.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PgResponse {
    pub gateway: String,
    pub checkout_code: String,
    pub checkout_url: String,
    pub public_key: String,
}

/// One entry of a payment's history, oldest first.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventObject {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub from_status: Option<i64>,
    pub to_status: Option<i64>,
    pub amount: Option<i64>,
    pub created_at: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundObject {
    pub id: String,
    pub amount: i64,
    /// `succeeded`, `pending` or `failed`.
    pub status: String,
    pub reason: Option<String>,
    pub created_at: String,
}

/// A payment (SPEC §8.2).
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentObject {
    pub id: String,
    /// Always `payment`.
    pub object: String,
    /// `REQUEST`, `COMPLETE`, `CANCEL`, `FAIL`, `PENDING`, `PENDING_CANCEL`, `PARTIAL_CANCEL`, `REGISTER`.
    pub status: String,
    pub status_code: i64,
    /// In status 5: `capture` or `deposit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending_reason: Option<String>,
    pub order_id: String,
    pub order_name: Option<String>,
    pub customer_id: Option<String>,
    /// `card`, `token` or `token_registration`.
    pub method: String,
    /// `automatic` or `manual`.
    pub capture_method: String,
    /// `webhook` or `api`.
    pub finalization: String,
    pub currency: String,
    pub amount: i64,
    pub captured_amount: i64,
    pub canceled_amount: i64,
    /// Captured less canceled: what can still be refunded.
    pub balance_amount: i64,
    /// Our hosted page that sends the buyer on to the PG.
    pub payment_url: String,
    /// Where the buyer goes back to (none for a payment with a saved card: no buyer goes anywhere).
    pub success_url: Option<String>,
    pub fail_url: Option<String>,
    pub failure: Option<Failure>,
    pub capture_before: Option<String>,
    pub confirmed_at: Option<String>,
    pub delivered_at: Option<String>,
    pub metadata: BTreeMap<String, String>,
    /// Grows by one with every change: a receiver drops a webhook older than what it has.
    pub version: i64,
    pub created_at: String,
    pub updated_at: String,
    /// Answering a new intent only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pg_response: Option<PgResponse>,
    /// `GET /api/v2/payments/{id}` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<EventObject>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refunds: Option<Vec<RefundObject>>,
}

fn failure_message(code: &str) -> &'static str {
    match code {
        "declined" => "the payment company declined the payment",
        "abandoned" => "the buyer left the payment page",
        "expired" => "the intent was not finalized in time",
        "canceled" => "the merchant canceled it",
        "authorization_expired" => "the authorization was not captured in time and was voided",
        _ => "the payment did not go through",
    }
}

impl PaymentObject {
    pub fn of(payment: &Payment, data: &StoreApiPayment, public_url: &PublicUrl) -> Self {
        let metadata: BTreeMap<String, String> = serde_json::from_str(&data.metadata).unwrap_or_default();
        let failure = match payment.status {
            PaymentStatus::Fail | PaymentStatus::PendingCancel => payment
                .failure_reason
                .map(|r| Failure { code: r.as_str().to_owned(), message: failure_message(r.as_str()).to_owned() }),
            _ => None,
        };
        let pending_reason = (payment.status == PaymentStatus::Pending).then_some(payment.pending_reason).flatten();
        PaymentObject {
            id: payment.id.to_string(),
            object: "payment".into(),
            status: status_name(payment.status).into(),
            status_code: payment.status.code(),
            pending_reason: pending_reason.map(|r| match r {
                PendingReason::Capture => "capture".into(),
                PendingReason::Deposit => "deposit".into(),
            }),
            order_id: payment.order_id.to_string(),
            order_name: payment.description.clone(),
            customer_id: data.customer_id.clone(),
            method: data.method.clone(),
            capture_method: payment.capture_method.as_str().into(),
            finalization: data.finalization.clone(),
            currency: payment.amount.currency.code().into(),
            amount: payment.amount.minor,
            captured_amount: payment.captured_minor,
            canceled_amount: payment.cancelled_minor,
            balance_amount: payment.captured_minor - payment.cancelled_minor,
            payment_url: public_url.url(&format!("/pay/{}", payment.id)).to_string(),
            success_url: Some(data.success_url.clone()).filter(|u| !u.is_empty()),
            fail_url: Some(data.fail_url.clone()).filter(|u| !u.is_empty()),
            failure,
            capture_before: (payment.capture_method == CaptureMethod::Manual)
                .then_some(payment.capture_before)
                .flatten()
                .map(rfc3339),
            confirmed_at: payment.confirmed_at.map(rfc3339),
            delivered_at: payment.delivered_at.map(rfc3339),
            metadata,
            version: payment.version,
            created_at: rfc3339(payment.created_at),
            updated_at: rfc3339(payment.updated_at),
            pg_response: None,
            events: None,
            refunds: None,
        }
    }

    pub fn with_history(mut self, events: &[PaymentEventRow], refunds: &[Refund]) -> Self {
        self.events = Some(
            events
                .iter()
                .map(|e| EventObject {
                    id: e.id.clone(),
                    kind: e.kind.clone(),
                    from_status: e.from_status,
                    to_status: e.to_status,
                    amount: e.amount_minor,
                    created_at: rfc3339(e.created_at),
                })
                .collect(),
        );
        self.refunds = Some(
            refunds
                .iter()
                .map(|r| RefundObject {
                    id: r.id.to_string(),
                    amount: r.amount.minor,
                    status: match r.status {
                        RefundStatus::Succeeded => "succeeded",
                        RefundStatus::Failed => "failed",
                        RefundStatus::Requested | RefundStatus::Unknown | RefundStatus::Pending => "pending",
                    }
                    .into(),
                    reason: r.reason.clone(),
                    created_at: rfc3339(r.created_at),
                })
                .collect(),
        );
        self
    }
}

/// `POST /api/v2/payment-intents`
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateIntent {
    /// Minor units of `currency`, > 0.
    pub amount: i64,
    /// ISO 4217; the merchant's PG must take it.
    pub currency: String,
    /// The store's order id (1–64 visible ASCII), one payment per order.
    pub order_id: String,
    pub order_name: String,
    pub customer_id: Option<String>,
    pub success_url: String,
    pub fail_url: String,
    /// `automatic` (default) or `manual`.
    pub capture_method: Option<String>,
    /// `webhook` (default) or `api`.
    pub finalization: Option<String>,
    /// At most 20 string pairs.
    pub metadata: Option<BTreeMap<String, String>>,
}

/// `POST /api/v2/payments`: finalizes an `api`-finalization payment.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FinalizePayment {
    pub payment_id: String,
    /// What the buyer came back to `successUrl` with.
    pub auth_data: String,
}

/// `POST /api/v2/payments/{id}/capture`
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapturePayment {
    /// Default: all that is authorized; 1 ≤ amount ≤ authorized.
    pub amount: Option<i64>,
}

/// `POST /api/v2/payments/{id}/cancel`
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CancelPayment {
    /// Default: the whole balance (paid) or the whole authorization (status 5).
    pub amount: Option<i64>,
    pub reason: String,
}

/// `POST /api/v2/payments/{id}/delivery`
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordDelivery {
    /// RFC 3339; now by default.
    pub delivered_at: Option<String>,
}

/// `GET /api/v2/payments`
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentList {
    pub data: Vec<PaymentObject>,
    pub has_more: bool,
}

/// `POST /api/v2/webhook-endpoints`
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEndpoint {
    /// Where the store's webhooks go (the host policy of SPEC §7).
    pub url: String,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct EndpointObject {
    pub id: String,
    pub url: String,
    /// `whsec_…`: shown when the endpoint is created and when its secret is rotated, never again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
}

/// `POST /api/v2/payments/{id}/webhooks/resend`
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Resent {
    /// How many failed webhooks were sent again.
    pub resent: u64,
}

/// A saved card's display data (SPEC §8.3): what the buyer may see of it.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CardObject {
    /// `visa`, `mastercard`, `amex`, …
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
}

/// A saved card (SPEC §8.3). The card stays at the PG; its reference there is never shown.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenObject {
    /// `tok_…`
    pub id: String,
    pub customer_id: String,
    /// `on_session` or `off_session` (the merchant may charge it without the customer).
    pub usage: String,
    pub card: CardObject,
    pub created_at: String,
}

impl TokenObject {
    pub fn of(token: &CardToken) -> Self {
        TokenObject {
            id: token.id.to_string(),
            customer_id: token.customer_id.clone(),
            usage: token.usage.as_str().into(),
            card: CardObject {
                brand: token.card.brand.clone(),
                last4: token.card.last4.clone(),
                exp_month: token.card.exp_month,
                exp_year: token.card.exp_year,
            },
            created_at: rfc3339(token.created_at),
        }
    }
}

/// `GET /api/v2/customers/{customerId}/tokens`
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub data: Vec<TokenObject>,
}

/// `POST /api/v2/tokens/registrations`
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateRegistration {
    /// The store's customer (1–64 visible ASCII) the card is for.
    pub customer_id: String,
    /// Where the buyer lands after saving the card: `?registrationId=…&tokenId=…`.
    pub success_url: String,
    /// Where the buyer lands when the card was refused or they gave up: `?registrationId=…&code=…`.
    pub fail_url: String,
    /// `on_session`, or `off_session` to allow merchant-initiated payments later.
    pub usage: String,
}

/// A registration opened: send the buyer to `registrationUrl`.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationObject {
    /// The registration: a payment (`pay_…`) in 1, amount 0, method `token_registration`.
    pub id: String,
    /// The PG's hosted page where the buyer enters the card.
    pub registration_url: String,
}

/// `POST /api/v2/token-payments`
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTokenPayment {
    /// `tok_…`
    pub token_id: String,
    /// Minor units of `currency`, > 0.
    pub amount: i64,
    /// ISO 4217; the merchant's PG must take it.
    pub currency: String,
    /// The store's order id (1–64 visible ASCII), one payment per order.
    pub order_id: String,
    pub order_name: String,
    /// `customer` (present; a PIN when they have one) or `merchant` (without them: only an
    /// `off_session` card, no PIN).
    pub initiator: String,
    /// `pv_…` from verifying the customer's PIN: required for `customer` when the customer
    /// has a PIN, used up by this payment; not taken with `merchant`.
    pub pin_verification_token: Option<String>,
    /// `automatic` (default) or `manual`.
    pub capture_method: Option<String>,
}

/// The error object (SPEC §8.1).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ErrorObject {
    /// `invalid_request_error`, `authentication_error`, `permission_error`, `idempotency_error`,
    /// `state_error`, `pin_error`, `gateway_error`, `rate_limit_error`, `api_error`.
    #[serde(rename = "type")]
    pub kind: String,
    pub code: String,
    pub message: String,
    pub param: Option<String>,
}
