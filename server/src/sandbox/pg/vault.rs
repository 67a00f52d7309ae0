//! The sandbox PG's card vault (SPEC §8.5). A merchant opens a registration
//! (`POST /v1/registrations`); the buyer enters a card on the hosted page
//! `/sandbox-pg/registrations/{code}` and is sent back to the merchant's callback (who asks
//! `GET /v1/registrations/{code}`); the merchant charges the card by its token
//! (`POST /v1/tokens/{token}/charges`, at most once per reference: a charge is an order, so
//! capture, void and refunds work on it as on any order) and deletes it
//! (`DELETE /v1/tokens/{token}`).
//!
//! Test cards: `4242424242424242` registers and pays; `4000000000000002` is refused at
//! registration; `4000000000000341` registers, but every charge is declined. Any other
//! number that passes the Luhn check registers and pays.
//!
//! The vault keeps neither the card number nor the token: the brand, last 4 digits and
//! expiry, and the token's SHA-256. The token is derived from the registration's code with
//! the vault's own key, so the vault can answer it again without keeping it.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
    Form, Json,
};
use serde::Deserialize;
use serde_json::json;
use url::Url;

use super::{authenticate, ApiError, Merchant, SandboxPg, CURRENCIES, DEMO_SECRET_KEY};
use crate::{
    domain::Currency,
    gateway::sandbox::WebhookBody,
    sandbox::{html_escape, page},
    store::{is_unique_violation, new_id, now_ms, sha256_hex},
};

/// Refused at registration.
const REFUSED_CARD: &str = "4000000000000002";
/// Registers, but every charge is declined.
const DECLINING_CARD: &str = "4000000000000341";

/// The token of the card a registration made: HMAC-SHA256 of its code under the vault's
/// key (the merchant's secret is the sandbox's only secret).
fn token_of(code: &str) -> String {
    use hmac::Mac;
    let key = format!("{DEMO_SECRET_KEY}:card-vault");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(code.as_bytes());
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sbx_tok_{hex}")
}

#[derive(sqlx::FromRow)]
struct RegistrationRow {
    code: String,
    merchant: String,
    reference: String,
    customer: String,
    usage: String,
    callback_url: String,
    webhook_url: Option<String>,
    status: String,
    failure_message: Option<String>,
    brand: Option<String>,
    last4: Option<String>,
    exp_month: Option<i64>,
    exp_year: Option<i64>,
    charge_outcome: Option<String>,
}

const REGISTRATION_COLUMNS: &str = "code, merchant, reference, customer, usage, callback_url, webhook_url, status, \
     failure_message, brand, last4, exp_month, exp_year, charge_outcome";

impl SandboxPg {
    fn registration_url(&self, code: &str) -> String {
        format!("{}/registrations/{code}", self.base_url.as_str().trim_end_matches('/'))
    }

    async fn registration_where(&self, clause: &str, args: &[&str]) -> Result<Option<RegistrationRow>, ApiError> {
        let sql = format!("SELECT {REGISTRATION_COLUMNS} FROM sandbox_pg_registrations WHERE {clause}");
        let mut query = sqlx::query_as::<_, RegistrationRow>(&sql);
        for arg in args {
            query = query.bind(arg.to_string());
        }
        Ok(query.fetch_optional(self.store.pool()).await?)
    }

    async fn registration(&self, code: &str) -> Result<RegistrationRow, ApiError> {
        self.registration_where("code = $1", &[code])
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no registration {code}")))
    }

    /// The card a merchant's token names (registered, not deleted). The token itself is
    /// never echoed in an answer.
    async fn card(&self, merchant: &Merchant, token: &str) -> Result<RegistrationRow, ApiError> {
        self.registration_where(
            "token_hash = $1 AND merchant = $2 AND status = 'registered' AND deleted_at IS NULL",
            &[&sha256_hex(token), &merchant.0],
        )
        .await?
        .ok_or_else(|| ApiError::not_found("no such card".into()))
    }

    fn registration_json(&self, r: &RegistrationRow) -> serde_json::Value {
        let card = (r.status == "registered").then(|| {
            json!({
                "token": token_of(&r.code),
                "brand": r.brand,
                "last4": r.last4,
                "exp_month": r.exp_month,
                "exp_year": r.exp_year,
            })
        });
        json!({
            "registration_code": r.code,
            "reference": r.reference,
            "customer": r.customer,
            "usage": r.usage,
            "status": r.status,
            "registration_url": self.registration_url(&r.code),
            "card": card,
            "failure_message": r.failure_message,
        })
    }

    /// Moves an open registration to `registered` (with the card) or `failed`; `false` when
    /// it was no longer open. The merchant hears of it by webhook.
    async fn decide(&self, code: &str, decision: Decision) -> Result<bool, ApiError> {
        let now = now_ms();
        let done = match &decision {
            Decision::Registered(card) => {
                sqlx::query(
                    "UPDATE sandbox_pg_registrations SET status = 'registered', token_hash = $1, brand = $2, \
                     last4 = $3, exp_month = $4, exp_year = $5, charge_outcome = $6, updated_at = $7 \
                     WHERE code = $8 AND status = 'open'",
                )
                .bind(sha256_hex(&token_of(code)))
                .bind(card.brand)
                .bind(&card.last4)
                .bind(card.exp_month)
                .bind(card.exp_year)
                .bind(card.declines.then_some("decline"))
                .bind(now)
                .bind(code)
                .execute(self.store.pool())
                .await?
            }
            Decision::Failed(message) => {
                sqlx::query(
                    "UPDATE sandbox_pg_registrations SET status = 'failed', failure_message = $1, updated_at = $2 \
                     WHERE code = $3 AND status = 'open'",
                )
                .bind(*message)
                .bind(now)
                .bind(code)
                .execute(self.store.pool())
                .await?
            }
        };
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        let r = self.registration(code).await?;
        if let Some(url) = &r.webhook_url {
            let body = WebhookBody {
                event_id: new_id("sbx_evt"),
                kind: "registration".into(),
                reference: r.reference.clone(),
                order_code: r.code.clone(),
                status: r.status.clone(),
                amount: 0,
                currency: String::new(),
                captured_amount: None,
                refund_code: None,
                message: None,
            };
            self.send_registration_webhook(&r.code, &r.merchant, url, body).await?;
        }
        Ok(true)
    }
}

enum Decision {
    Registered(Card),
    Failed(&'static str),
}

/// A card as the vault keeps it: never its number.
struct Card {
    brand: &'static str,
    last4: String,
    exp_month: i64,
    exp_year: i64,
    declines: bool,
}

fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

fn brand_of(number: &str) -> &'static str {
    let prefix2: u32 = number.get(..2).and_then(|p| p.parse().ok()).unwrap_or_default();
    let prefix4: u32 = number.get(..4).and_then(|p| p.parse().ok()).unwrap_or_default();
    match () {
        _ if number.starts_with('4') => "visa",
        _ if (51..=55).contains(&prefix2) || (2221..=2720).contains(&prefix4) => "mastercard",
        _ if prefix2 == 34 || prefix2 == 37 => "amex",
        _ => "card",
    }
}

/// What the buyer typed, read: the card, or what to correct. A refused test card is a
/// decision (the registration fails); a typing error is not.
fn read_card(form: &CardForm, this_year: i64) -> Result<Result<Card, &'static str>, String> {
    let number: String = form.card_number.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    if !(12..=19).contains(&number.len()) || !number.bytes().all(|b| b.is_ascii_digit()) {
        return Err("Enter the card number: 12 to 19 digits.".into());
    }
    if !luhn_valid(number.as_bytes()) {
        return Err("That card number is not valid; check it.".into());
    }
    let month: i64 = form.exp_month.trim().parse().map_err(|_| "Enter the expiry month (1–12).".to_owned())?;
    let year: i64 = form.exp_year.trim().parse().map_err(|_| "Enter the expiry year.".to_owned())?;
    let year = if year < 100 { 2000 + year } else { year };
    if !(1..=12).contains(&month) || !(this_year..=this_year + 20).contains(&year) {
        return Err("The expiry date is not valid.".into());
    }
    if number == REFUSED_CARD {
        return Ok(Err("the card was refused"));
    }
    Ok(Ok(Card {
        brand: brand_of(&number),
        last4: number[number.len() - 4..].to_owned(),
        exp_month: month,
        exp_year: year,
        declines: number == DECLINING_CARD,
    }))
}

#[derive(Deserialize)]
pub(super) struct RegistrationBody {
    reference: String,
    customer: String,
    usage: String,
    callback_url: String,
    webhook_url: Option<String>,
}

/// `POST /v1/registrations`: a hosted page where the buyer enters a card; at most one per
/// reference.
pub(super) async fn create_registration(
    State(pg): State<SandboxPg>,
    headers: HeaderMap,
    body: Result<Json<RegistrationBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let merchant = authenticate(&headers)?;
    let Json(body) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    if body.reference.is_empty() || body.reference.len() > 100 {
        return Err(ApiError::invalid("reference must be 1 to 100 characters"));
    }
    if body.customer.is_empty() || body.customer.len() > 100 {
        return Err(ApiError::invalid("customer must be 1 to 100 characters"));
    }
    if !matches!(body.usage.as_str(), "on_session" | "off_session") {
        return Err(ApiError::invalid("usage must be on_session or off_session"));
    }
    for (field, value) in [("callback_url", Some(&body.callback_url)), ("webhook_url", body.webhook_url.as_ref())] {
        if let Some(value) = value {
            if !Url::parse(value).is_ok_and(|u| matches!(u.scheme(), "http" | "https")) {
                return Err(ApiError::invalid(format!("{field} must be an http(s) URL")));
            }
        }
    }
    let now = now_ms();
    let code = new_id("sbx_reg");
    let inserted = sqlx::query(
        "INSERT INTO sandbox_pg_registrations (code, merchant, reference, customer, usage, callback_url, webhook_url, \
         status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $8)",
    )
    .bind(&code)
    .bind(&merchant.0)
    .bind(&body.reference)
    .bind(&body.customer)
    .bind(&body.usage)
    .bind(&body.callback_url)
    .bind(body.webhook_url.clone())
    .bind(now)
    .execute(pg.store.pool())
    .await;
    match inserted {
        Ok(_) => Ok((StatusCode::CREATED, Json(pg.registration_json(&pg.registration(&code).await?)))),
        Err(e) if is_unique_violation(&e) => {
            let existing = pg
                .registration_where("merchant = $1 AND reference = $2", &[&merchant.0, &body.reference])
                .await?
                .ok_or_else(|| ApiError::not_found(format!("no registration {}", body.reference)))?;
            if existing.customer == body.customer && existing.usage == body.usage {
                Ok((StatusCode::OK, Json(pg.registration_json(&existing))))
            } else {
                Err(ApiError(
                    StatusCode::CONFLICT,
                    "reference_reused",
                    format!("reference {} already has another registration", body.reference),
                ))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /v1/registrations/{code}`: the registration, with the card's token once registered.
pub(super) async fn get_registration(
    State(pg): State<SandboxPg>,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let merchant = authenticate(&headers)?;
    let r = pg.registration(&code).await?;
    if r.merchant != merchant.0 {
        return Err(ApiError::not_found(format!("no registration {code}")));
    }
    Ok(Json(pg.registration_json(&r)))
}

#[derive(Deserialize)]
pub(super) struct ChargeBody {
    reference: String,
    amount: i64,
    currency: String,
    #[serde(default = "super::automatic")]
    capture_method: String,
    #[serde(default)]
    merchant_initiated: bool,
    description: Option<String>,
}

/// `POST /v1/tokens/{token}/charges`: charges the card at once — an order that is paid,
/// authorized (manual capture) or declined. The same reference again answers the same
/// order.
pub(super) async fn charge(
    State(pg): State<SandboxPg>,
    headers: HeaderMap,
    Path(token): Path<String>,
    body: Result<Json<ChargeBody>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let merchant = authenticate(&headers)?;
    let Json(body) = body.map_err(|e| ApiError(StatusCode::BAD_REQUEST, "invalid_request", e.body_text()))?;
    let card = pg.card(&merchant, &token).await?;
    let currency: Currency = body
        .currency
        .parse()
        .ok()
        .filter(|c| CURRENCIES.contains(c))
        .ok_or_else(|| ApiError::invalid(format!("currency {} is not supported", body.currency)))?;
    if body.amount <= 0 {
        return Err(ApiError::invalid("amount must be a positive integer of minor units"));
    }
    if body.reference.is_empty() || body.reference.len() > 100 {
        return Err(ApiError::invalid("reference must be 1 to 100 characters"));
    }
    if !matches!(body.capture_method.as_str(), "automatic" | "manual") {
        return Err(ApiError::invalid("capture_method must be automatic or manual"));
    }
    if body.merchant_initiated && card.usage != "off_session" {
        return Err(ApiError::invalid("this card was not registered for merchant-initiated payments"));
    }
    let status = match (card.charge_outcome.as_deref(), body.capture_method.as_str()) {
        (Some("decline"), _) => "declined",
        (_, "manual") => "authorized",
        _ => "paid",
    };
    let now = now_ms();
    let code = new_id("sbx_ord");
    let inserted = sqlx::query(
        "INSERT INTO sandbox_pg_orders (code, merchant, reference, amount_minor, currency, description, status, \
         mode, allow_deposit, callback_url, refunded_minor, capture_method, finalization, captured_minor, \
         created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'token', 0, '', 0, $8, 'webhook', $9, $10, $10)",
    )
    .bind(&code)
    .bind(&merchant.0)
    .bind(&body.reference)
    .bind(body.amount)
    .bind(currency.code())
    .bind(body.description.clone())
    .bind(status)
    .bind(&body.capture_method)
    .bind(if status == "paid" { body.amount } else { 0 })
    .bind(now)
    .execute(pg.store.pool())
    .await;
    match inserted {
        Ok(_) => Ok((StatusCode::CREATED, Json(pg.order_json(&pg.existing_order(&code).await?)))),
        Err(e) if is_unique_violation(&e) => {
            // Idempotent per reference: the same charge again, or a conflict.
            let sql = format!(
                "SELECT {} FROM sandbox_pg_orders WHERE merchant = $1 AND reference = $2",
                super::ORDER_COLUMNS
            );
            let existing: super::OrderRow =
                sqlx::query_as(&sql).bind(&merchant.0).bind(&body.reference).fetch_one(pg.store.pool()).await?;
            if existing.amount_minor == body.amount && existing.currency == currency.code() && existing.mode == "token"
            {
                Ok((StatusCode::OK, Json(pg.order_json(&existing))))
            } else {
                Err(ApiError(
                    StatusCode::CONFLICT,
                    "reference_reused",
                    format!("reference {} already has another order", body.reference),
                ))
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /v1/tokens/{token}`: the card is forgotten; charging it is refused from now on.
pub(super) async fn delete_card(
    State(pg): State<SandboxPg>,
    headers: HeaderMap,
    Path(token): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let merchant = authenticate(&headers)?;
    let done = sqlx::query(
        "UPDATE sandbox_pg_registrations SET deleted_at = $1, updated_at = $1 \
         WHERE token_hash = $2 AND merchant = $3 AND deleted_at IS NULL AND status = 'registered'",
    )
    .bind(now_ms())
    .bind(sha256_hex(&token))
    .bind(&merchant.0)
    .execute(pg.store.pool())
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::not_found("no such card".into()));
    }
    Ok(Json(json!({"deleted": true})))
}

fn registration_page(pg: &SandboxPg, r: &RegistrationRow, problem: Option<&str>) -> Response {
    let base = html_escape(pg.base_url.as_str().trim_end_matches('/'));
    let code = html_escape(&r.code);
    let status = if problem.is_some() { StatusCode::UNPROCESSABLE_ENTITY } else { StatusCode::OK };
    let problem = problem
        .map(|p| format!("<p class=\"bad\" data-testid=\"card-error\">{}</p>", html_escape(p)))
        .unwrap_or_default();
    let controls = if r.status == "open" {
        format!(
            "{problem}<form method=\"post\" action=\"{base}/registrations/{code}\">\
             <label>Card number <input name=\"card_number\" data-testid=\"card-number\" inputmode=\"numeric\" \
             autocomplete=\"cc-number\" size=\"22\" required></label>\
             <label>Expiry month <input name=\"exp_month\" data-testid=\"exp-month\" inputmode=\"numeric\" size=\"3\" \
             placeholder=\"MM\" required></label>\
             <label>Expiry year <input name=\"exp_year\" data-testid=\"exp-year\" inputmode=\"numeric\" size=\"5\" \
             placeholder=\"YYYY\" required></label>\
             <label>Security code <input name=\"cvc\" data-testid=\"cvc\" inputmode=\"numeric\" size=\"4\" \
             autocomplete=\"cc-csc\"></label>\
             <button type=\"submit\" class=\"primary\" data-testid=\"save-card\">Save card</button></form>\
             <form class=\"inline\" method=\"post\" action=\"{base}/registrations/{code}/cancel\">\
             <button type=\"submit\" data-testid=\"cancel-registration\">Cancel and return to the shop</button></form>\
             <p class=\"muted\">Test cards: 4242 4242 4242 4242 registers and pays; 4000 0000 0000 0002 is refused; \
             4000 0000 0000 0341 registers, but every charge is declined.</p>"
        )
    } else {
        format!(
            "<p>This registration is <strong data-testid=\"registration-status\">{}</strong>.</p>\
             <form class=\"inline\" method=\"post\" action=\"{base}/registrations/{code}/return\">\
             <button type=\"submit\" class=\"primary\" data-testid=\"return\">Return to the shop</button></form>",
            html_escape(&r.status)
        )
    };
    let body = format!(
        "<p class=\"muted\">Sandbox payment company — no real card is kept.</p>\
         <h1>Save a card with {merchant}</h1><div class=\"box\"><p>For customer {customer}</p>\
         <p class=\"muted\">{usage}</p></div>{controls}",
        merchant = super::page::MERCHANT_ACCOUNT_NAME,
        customer = html_escape(&r.customer),
        usage = if r.usage == "off_session" {
            "The shop may charge this card later without you."
        } else {
            "The shop charges this card only while you pay."
        },
    );
    (status, Html(page("Sandbox PG — save a card", &body))).into_response()
}

/// `GET /sandbox-pg/registrations/{code}`: the hosted page.
pub(super) async fn hosted_page(State(pg): State<SandboxPg>, Path(code): Path<String>) -> Result<Response, ApiError> {
    match pg.registration_where("code = $1", &[&code]).await? {
        Some(r) => Ok(registration_page(&pg, &r, None)),
        None => Ok((StatusCode::NOT_FOUND, Html(page("Not found", "<h1>No such registration</h1>"))).into_response()),
    }
}

#[derive(Deserialize)]
pub(super) struct CardForm {
    card_number: String,
    exp_month: String,
    exp_year: String,
    /// Asked as a real page would; never kept.
    #[serde(default)]
    #[allow(dead_code)]
    cvc: String,
}

/// The buyer's card, posted from the hosted page. A card the vault takes or refuses
/// decides the registration, and the buyer goes back to the merchant's callback; a typing
/// error shows the page again.
pub(super) async fn submit_card(
    State(pg): State<SandboxPg>,
    Path(code): Path<String>,
    Form(form): Form<CardForm>,
) -> Result<Response, ApiError> {
    let r = pg.registration(&code).await?;
    if r.status != "open" {
        return Ok(registration_page(&pg, &r, None));
    }
    let this_year = i64::from(time::OffsetDateTime::now_utc().year());
    let decision = match read_card(&form, this_year) {
        Err(problem) => return Ok(registration_page(&pg, &r, Some(&problem))),
        Ok(Ok(card)) => Decision::Registered(card),
        Ok(Err(refused)) => Decision::Failed(refused),
    };
    pg.decide(&code, decision).await?;
    back_to_merchant(&pg, &code).await
}

/// `POST /sandbox-pg/registrations/{code}/cancel`: the buyer gives up.
pub(super) async fn cancel(State(pg): State<SandboxPg>, Path(code): Path<String>) -> Result<Response, ApiError> {
    pg.registration(&code).await?;
    pg.decide(&code, Decision::Failed("the buyer canceled the registration")).await?;
    back_to_merchant(&pg, &code).await
}

/// `POST /sandbox-pg/registrations/{code}/return`: back to the shop, as it is.
pub(super) async fn return_to_merchant(
    State(pg): State<SandboxPg>,
    Path(code): Path<String>,
) -> Result<Response, ApiError> {
    back_to_merchant(&pg, &code).await
}

/// Sends the buyer to the merchant's callback, which must ask the vault what happened.
async fn back_to_merchant(pg: &SandboxPg, code: &str) -> Result<Response, ApiError> {
    let r = pg.registration(code).await?;
    let mut callback = Url::parse(&r.callback_url)
        .map_err(|_| ApiError(StatusCode::INTERNAL_SERVER_ERROR, "internal", "bad callback".into()))?;
    callback
        .query_pairs_mut()
        .append_pair("registration_code", &r.code)
        .append_pair("reference_no", &r.reference)
        .append_pair("status", &r.status);
    Ok(Redirect::to(callback.as_str()).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(number: &str, month: &str, year: &str) -> CardForm {
        CardForm { card_number: number.into(), exp_month: month.into(), exp_year: year.into(), cvc: String::new() }
    }

    #[test]
    fn the_test_cards_register_refuse_or_decline_and_typing_errors_are_shown() {
        let ok = read_card(&form("4242 4242 4242 4242", "12", "2030"), 2026).unwrap().unwrap();
        assert_eq!(
            (ok.brand, ok.last4.as_str(), ok.exp_month, ok.exp_year, ok.declines),
            ("visa", "4242", 12, 2030, false)
        );
        assert!(read_card(&form(REFUSED_CARD, "1", "30"), 2026).unwrap().is_err(), "refused at registration");
        let declining = read_card(&form(DECLINING_CARD, "1", "30"), 2026).unwrap().unwrap();
        assert!(declining.declines);
        assert_eq!(declining.exp_year, 2030);
        assert_eq!(read_card(&form("5555555555554444", "6", "2031"), 2026).unwrap().unwrap().brand, "mastercard");
        for bad in [
            form("4242424242424241", "12", "2030"),
            form("4242", "12", "2030"),
            form("4242424242424242", "13", "2030"),
            form("4242424242424242", "1", "2020"),
        ] {
            assert!(read_card(&bad, 2026).is_err());
        }
    }

    #[test]
    fn a_token_is_derived_from_its_registration_and_differs_between_them() {
        assert_eq!(token_of("sbx_reg_1"), token_of("sbx_reg_1"));
        assert_ne!(token_of("sbx_reg_1"), token_of("sbx_reg_2"));
        assert!(token_of("sbx_reg_1").starts_with("sbx_tok_"));
    }
}
