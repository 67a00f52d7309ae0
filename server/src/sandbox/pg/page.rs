//! The sandbox PG's hosted payment page. Its buttons post the buyer's decision; the
//! buyer is then sent to the merchant's callback, which must ask the PG for the outcome.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
};
use url::Url;

use super::{ApiError, SandboxPg};
use crate::sandbox::{html_escape, page};

/// How the page names the merchant when the checkout did not say (its public key is an
/// identifier, not a name a buyer knows).
pub(super) const MERCHANT_ACCOUNT_NAME: &str = "the sandbox merchant";

pub(super) async fn hosted_page(State(pg): State<SandboxPg>, Path(code): Path<String>) -> Result<Response, ApiError> {
    let Some(order) = pg.order(&code).await? else {
        return Ok((StatusCode::NOT_FOUND, Html(page("Not found", "<h1>No such checkout</h1>"))).into_response());
    };
    let amount = order.money(order.amount_minor).map(|m| m.to_string()).unwrap_or_default();
    let description = order.description.as_deref().unwrap_or("Your order");
    let action = |name: &str, label: &str, class: &str| {
        format!(
            "<form class=\"inline\" method=\"post\" action=\"{base}/checkout/{code}/{name}\">\
             <button type=\"submit\" class=\"{class}\" data-testid=\"{name}\">{label}</button></form>",
            base = html_escape(pg.base_url.as_str().trim_end_matches('/')),
            code = html_escape(&order.code),
        )
    };
    let controls = if order.status == "open" {
        let mut buttons = action("approve", "Approve payment", "primary");
        if order.allow_deposit != 0 {
            buttons.push_str(&action("deposit", "Pay by bank transfer", ""));
        }
        buttons.push_str(&action("decline", "Decline (card refused)", ""));
        buttons.push_str(&action("cancel", "Cancel and return to the shop", ""));
        buttons
    } else {
        format!(
            "<p>This checkout is <strong data-testid=\"order-status\">{}</strong>.</p>{}",
            html_escape(&order.status),
            action("return", "Return to the shop", "primary")
        )
    };
    let body = format!(
        "<p class=\"muted\">Sandbox payment company — no real money moves.</p>\
         <h1>Pay {merchant}</h1><div class=\"box\"><p>{description}</p>\
         <p class=\"amount\" data-testid=\"amount\">{amount}</p><p class=\"muted\">Order reference {reference}</p></div>{controls}",
        merchant = html_escape(order.merchant_name.as_deref().unwrap_or(MERCHANT_ACCOUNT_NAME)),
        description = html_escape(description),
        amount = html_escape(&amount),
        reference = html_escape(&order.reference),
    );
    Ok(Html(page("Sandbox PG — checkout", &body)).into_response())
}

/// The buyer's decision. Only an open checkout changes (and the merchant hears of it by
/// webhook); then the buyer goes to the merchant's callback.
pub(super) async fn buyer_action(
    State(pg): State<SandboxPg>,
    Path((code, action)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let order = pg.existing_order(&code).await?;
    let approved = match (order.finalization.as_str(), order.capture_method.as_str()) {
        // The PG only authenticates; the merchant approves with the authData handed back.
        ("api", _) => "authenticated",
        (_, "manual") => "authorized",
        _ => "paid",
    };
    let next = match action.as_str() {
        "approve" => Some(approved),
        "decline" => Some("declined"),
        "cancel" => Some("cancelled"),
        "deposit" => Some("awaiting_deposit"),
        "return" => None,
        _ => return Err(ApiError::not_found(format!("no action {action}"))),
    };
    if let Some(next) = next {
        if next == "awaiting_deposit" && order.allow_deposit == 0 {
            return Err(ApiError(StatusCode::CONFLICT, "not_allowed", "bank transfer is not offered here".into()));
        }
        if next == "authenticated" {
            pg.authenticate_buyer(&code).await?;
        } else {
            pg.change_status(&code, "open", next).await?;
        }
    }
    let order = pg.existing_order(&code).await?;
    let mut callback = Url::parse(&order.callback_url)
        .map_err(|_| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", "bad callback".into()))?;
    callback
        .query_pairs_mut()
        .append_pair("order_code", &order.code)
        .append_pair("reference_no", &order.reference)
        .append_pair("status", &order.status);
    if let (Some(auth_data), 0) = (&order.auth_data, order.auth_data_used) {
        callback.query_pairs_mut().append_pair("authData", auth_data);
    }
    Ok(Redirect::to(callback.as_str()).into_response())
}
