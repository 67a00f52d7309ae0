//! The buyer's return from the PG (SPEC §8.3), whose parameters are never believed: the
//! PG is asked and the buyer sent on to the store's `successUrl` or `failUrl`. (Our hosted
//! page `/pay/{id}`, where the buyer comes from, is the Leptos page of `hosted.rs`.)

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use url::Url;

use super::StoreApiContext;
use crate::{
    domain::{Channel, Payment, PaymentStatus},
    store::StoreApiPayment,
    web::{html_escape, page},
};

fn buyer_page(status: StatusCode, title: &str, body: &str) -> Response {
    (status, Html(page(title, body))).into_response()
}

pub(super) fn sorry(status: StatusCode, message: &str) -> Response {
    let body = format!("<h1>This payment cannot go on</h1><p data-testid=\"pay-error\">{}</p>", html_escape(message));
    buyer_page(status, "Payment", &body)
}

async fn store_api_payment(ctx: &StoreApiContext, reference: &str) -> Result<(Payment, StoreApiPayment), Response> {
    let internal = |e: &dyn std::fmt::Display| {
        tracing::error!(operation = "reading a payment for the buyer", error = %e, "store api: internal error");
        sorry(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.")
    };
    let payment = match ctx.payments.payment_by_reference(reference).await {
        Ok(Some(p)) if p.channel == Channel::StoreApi => p,
        Ok(_) => return Err(sorry(StatusCode::NOT_FOUND, "There is no such payment.")),
        Err(e) => return Err(internal(&e)),
    };
    match ctx.store.store_api_payment(&payment.id).await {
        Ok(Some(data)) => Ok((payment, data)),
        Ok(None) => Err(sorry(StatusCode::NOT_FOUND, "There is no such payment.")),
        Err(e) => Err(internal(&e)),
    }
}

#[derive(Deserialize)]
pub struct ReturnParams {
    reference_no: Option<String>,
    #[serde(rename = "authData")]
    auth_data: Option<String>,
}

/// `successUrl?paymentId&orderId[&authData]` or `failUrl?paymentId&code`.
pub(super) fn store_url(base: &str, pairs: &[(&str, &str)]) -> Option<Url> {
    let mut url = Url::parse(base).ok()?;
    url.query_pairs_mut().extend_pairs(pairs);
    Some(url)
}

/// `GET /api/v2/checkout/callback?reference_no=…`: the buyer is back from the PG.
pub async fn buyer_returns(State(ctx): State<StoreApiContext>, Query(params): Query<ReturnParams>) -> Response {
    let Some(reference) = params.reference_no.filter(|r| !r.is_empty()) else {
        return sorry(StatusCode::BAD_REQUEST, "The payment company did not say which payment this is.");
    };
    let (payment, data) = match store_api_payment(&ctx, &reference).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    // The buyer's word is not the PG's: ask, and apply what it says (the webhook may have
    // come first; then nothing changes).
    let payment = match ctx.payments.sync_with_gateway(&payment).await {
        Ok(p) => p,
        Err(e) => {
            tracing::warn!(payment_id = %payment.id, error = %e, "could not confirm the buyer's return with the PG");
            payment
        }
    };
    let id = payment.id.to_string();
    let order = payment.order_id.to_string();
    let target = match (payment.status, data.finalization.as_str(), params.auth_data.as_deref()) {
        // The PG only authenticated the buyer: the store finalizes with the authData.
        (PaymentStatus::Request, "api", Some(auth_data)) => {
            store_url(&data.success_url, &[("paymentId", &id), ("orderId", &order), ("authData", auth_data)])
        }
        (status, _, _) if status.was_paid() || status == PaymentStatus::Pending => {
            store_url(&data.success_url, &[("paymentId", &id), ("orderId", &order)])
        }
        _ => {
            let code = payment.failure_reason.map(|r| r.as_str()).unwrap_or("not_completed");
            store_url(&data.fail_url, &[("paymentId", &id), ("code", code)])
        }
    };
    match target {
        Some(url) => Redirect::to(url.as_str()).into_response(),
        None => sorry(StatusCode::BAD_GATEWAY, "The shop's address is not valid."),
    }
}
