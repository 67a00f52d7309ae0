//! Our hosted payment page `/pay/{id}` (SPEC §8.3), the intent's `paymentUrl`: the Leptos
//! page is in `app::pay`; this is what it reads — the payment as its buyer may see it,
//! and where the buyer goes once it is decided.

use app::pay::{PayError, PayOutcome, PayPort, PayStatus, PayView};

use super::{callback::store_url, model::status_name, StoreApiContext};
use crate::{
    domain::{Channel, FailureReason, Payment, PaymentStatus},
    store::{now_ms, StoreApiPayment},
};

pub struct HostedPayments {
    ctx: StoreApiContext,
}

impl HostedPayments {
    pub fn new(ctx: StoreApiContext) -> Self {
        HostedPayments { ctx }
    }

    async fn merchant_name(&self, payment: &Payment) -> String {
        // A Store API payment names no shop: the merchant's first shop stands for it.
        self.ctx
            .store
            .shop_name(payment.mall_id.as_str())
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(payment_id = %payment.id, error = %e, "could not read the merchant's shop name");
                None
            })
            .unwrap_or_else(|| payment.mall_id.to_string())
    }
}

fn internal(e: &dyn std::fmt::Display) -> PayError {
    tracing::error!(operation = "reading a payment for its buyer", error = %e, "store api: internal error");
    PayError
}

#[async_trait::async_trait]
impl PayPort for HostedPayments {
    async fn payment(&self, id: &str) -> Result<Option<PayView>, PayError> {
        let payment = match self.ctx.payments.payment_by_reference(id).await.map_err(|e| internal(&e))? {
            Some(p) if p.channel == Channel::StoreApi => p,
            _ => return Ok(None),
        };
        let Some(data) = self.ctx.store.store_api_payment(&payment.id).await.map_err(|e| internal(&e))? else {
            return Ok(None);
        };
        let merchant = self.merchant_name(&payment).await;
        Ok(Some(view_of(&payment, &data, merchant, now_ms())))
    }
}

/// What the status means for the buyer at `now` (unix ms). An intent past its expiry is
/// expired even before the worker has marked it.
fn outcome(payment: &Payment, now: i64) -> PayOutcome {
    match payment.status {
        PaymentStatus::Request if payment.expires_at.is_some_and(|at| at <= now) => PayOutcome::Expired,
        PaymentStatus::Request if payment.checkout_url.is_some() => PayOutcome::Open,
        PaymentStatus::Request => PayOutcome::Failed,
        PaymentStatus::Complete
        | PaymentStatus::PartialCancel
        | PaymentStatus::Cancel
        | PaymentStatus::Pending
        | PaymentStatus::Register => PayOutcome::Paid,
        PaymentStatus::Fail => match payment.failure_reason {
            Some(FailureReason::Expired) => PayOutcome::Expired,
            Some(FailureReason::Canceled) => PayOutcome::Canceled,
            _ => PayOutcome::Failed,
        },
        PaymentStatus::PendingCancel => PayOutcome::Canceled,
    }
}

/// Where the buyer goes once the payment is decided: the store's `successUrl` or
/// `failUrl`, with the parameters the buyer's return from the PG carries.
fn redirect_url(payment: &Payment, data: &StoreApiPayment, outcome: PayOutcome) -> Option<String> {
    let id = payment.id.to_string();
    let url = match outcome {
        PayOutcome::Open => return None,
        PayOutcome::Paid => store_url(&data.success_url, &[("paymentId", &id), ("orderId", payment.order_id.as_str())]),
        PayOutcome::Expired | PayOutcome::Canceled | PayOutcome::Failed => {
            let code = match (payment.failure_reason, outcome) {
                (Some(reason), _) => reason.as_str(),
                (None, PayOutcome::Expired) => FailureReason::Expired.as_str(),
                (None, _) => "not_completed",
            };
            store_url(&data.fail_url, &[("paymentId", &id), ("code", code)])
        }
    };
    url.map(String::from)
}

fn view_of(payment: &Payment, data: &StoreApiPayment, merchant: String, now: i64) -> PayView {
    let outcome = outcome(payment, now);
    PayView {
        payment_id: payment.id.to_string(),
        merchant,
        order_id: payment.order_id.to_string(),
        order_name: payment.description.clone().unwrap_or_else(|| "Your order".to_owned()),
        amount: payment.amount.to_major_string(),
        currency: payment.amount.currency.code().to_owned(),
        checkout_url: payment.checkout_url.clone().filter(|_| outcome.is_open()),
        status: PayStatus {
            status: status_name(payment.status).to_owned(),
            status_code: payment.status.code(),
            outcome,
            redirect_url: redirect_url(payment, data, outcome),
        },
    }
}
