//! Our types ⇄ Stripe's: the form parameters we send, the JSON objects we read, and
//! every Stripe status mapped to ours explicitly. A status Stripe may add later is
//! "open": ask again later, never paid (docs/connectors.md, the default-pending rule).
//!
//! The objects below read only what the mapping needs; `FIELDS` in the tests lists every
//! field they read, and the contract tests check each against Stripe's own SDK.

use std::collections::HashMap;

use serde::Deserialize;

use crate::{
    domain::{CaptureMethod, Currency, Money},
    gateway::{
        CheckoutRequest, GatewayError, GatewayOrder, GatewayRefundRecord, OrderStatus, RefundRequest, RefundStatus,
        RegistrationRequest, RegistrationStatus, SavedCard, TokenCharge,
    },
};

/// Metadata keys we put on Stripe's objects, so that a webhook about them names ours.
pub const META_PAYMENT: &str = "paybridge_payment";
pub const META_REFUND: &str = "paybridge_refund";
pub const META_REGISTRATION: &str = "paybridge_registration";
pub const META_CUSTOMER: &str = "paybridge_customer";

/// Form parameters, in Stripe's bracket notation (`line_items[0][quantity]`).
pub type Params = Vec<(String, String)>;

fn param(params: &mut Params, key: &str, value: impl Into<String>) {
    params.push((key.to_owned(), value.into()));
}

/// Stripe's `amount` for our money. Stripe counts in the currency's smallest unit with
/// the same exponents as ours for every currency we have (JPY, KRW, VND without
/// decimals; the others with two), so the minor units go across unchanged.
pub fn stripe_amount(money: Money) -> i64 {
    money.minor
}

/// Stripe writes currencies in lower case.
pub fn stripe_currency(currency: Currency) -> String {
    currency.code().to_ascii_lowercase()
}

pub fn parse_currency(code: &str) -> Result<Currency, GatewayError> {
    code.to_ascii_uppercase().parse().map_err(|_| GatewayError::Protocol(format!("currency {code:?}")))
}

/// Where Stripe sends the buyer back: our callback, naming our payment the way every
/// connector does (`reference_no`); nothing in it is believed, the callback asks Stripe.
pub fn return_url(request_callback: &url::Url, reference: &str) -> String {
    let mut url = request_callback.clone();
    url.query_pairs_mut().append_pair("reference_no", reference);
    url.to_string()
}

/// `POST /v1/checkout/sessions` in `payment` mode: one line item for the whole amount.
pub fn checkout_session_params(request: &CheckoutRequest) -> Params {
    let mut p = Params::new();
    let back = return_url(&request.callback_url, &request.reference);
    let name = request.description.clone().filter(|d| !d.trim().is_empty()).unwrap_or_else(|| "Order".to_owned());
    param(&mut p, "mode", "payment");
    param(&mut p, "client_reference_id", &request.reference);
    param(&mut p, "success_url", &back);
    param(&mut p, "cancel_url", &back);
    param(&mut p, "line_items[0][quantity]", "1");
    param(&mut p, "line_items[0][price_data][currency]", stripe_currency(request.amount.currency));
    param(&mut p, "line_items[0][price_data][unit_amount]", stripe_amount(request.amount).to_string());
    param(&mut p, "line_items[0][price_data][product_data][name]", truncate(&name, 250));
    param(&mut p, "metadata[paybridge_payment]", &request.reference);
    param(&mut p, "payment_intent_data[metadata][paybridge_payment]", &request.reference);
    if request.capture == CaptureMethod::Manual {
        param(&mut p, "payment_intent_data[capture_method]", "manual");
    }
    p
}

/// `POST /v1/customers`: the buyer whose card a registration keeps.
pub fn customer_params(request: &RegistrationRequest) -> Params {
    let mut p = Params::new();
    param(&mut p, "metadata[paybridge_customer]", truncate(&request.customer, 500));
    param(&mut p, "metadata[paybridge_registration]", &request.reference);
    p
}

/// `POST /v1/checkout/sessions` in `setup` mode: the buyer enters a card to keep.
pub fn setup_session_params(request: &RegistrationRequest, customer: &str) -> Params {
    let mut p = Params::new();
    let back = return_url(&request.callback_url, &request.reference);
    param(&mut p, "mode", "setup");
    param(&mut p, "customer", customer);
    param(&mut p, "client_reference_id", &request.reference);
    param(&mut p, "success_url", &back);
    param(&mut p, "cancel_url", &back);
    // Cards only: in setup mode Stripe otherwise needs a currency to pick methods by.
    param(&mut p, "allowed_payment_method_types[0]", "card");
    param(&mut p, "metadata[paybridge_registration]", &request.reference);
    param(&mut p, "setup_intent_data[metadata][paybridge_registration]", &request.reference);
    p
}

/// `POST /v1/payment_intents`, confirmed at once with a saved card.
pub fn token_charge_params(charge: &TokenCharge, card: &TokenRef) -> Params {
    let mut p = Params::new();
    param(&mut p, "amount", stripe_amount(charge.amount).to_string());
    param(&mut p, "currency", stripe_currency(charge.amount.currency));
    param(&mut p, "customer", &card.customer);
    param(&mut p, "payment_method", &card.payment_method);
    param(&mut p, "confirm", "true");
    if charge.merchant_initiated {
        param(&mut p, "off_session", "true");
    }
    // No page to send the buyer to: a card that needs one is declined, not redirected.
    param(&mut p, "automatic_payment_methods[enabled]", "true");
    param(&mut p, "automatic_payment_methods[allow_redirects]", "never");
    if charge.capture == CaptureMethod::Manual {
        param(&mut p, "capture_method", "manual");
    }
    if let Some(description) = charge.description.as_deref().filter(|d| !d.trim().is_empty()) {
        param(&mut p, "description", truncate(description, 1000));
    }
    param(&mut p, "metadata[paybridge_payment]", &charge.reference);
    p
}

/// `POST /v1/refunds` for part or all of a PaymentIntent.
pub fn refund_params(payment_intent: &str, request: &RefundRequest) -> Params {
    let mut p = Params::new();
    param(&mut p, "payment_intent", payment_intent);
    param(&mut p, "amount", stripe_amount(request.amount).to_string());
    param(&mut p, "metadata[paybridge_refund]", &request.reference);
    p
}

/// `POST /v1/payment_intents/{id}/capture`; the rest of the authorization is released.
pub fn capture_params(amount: Money) -> Params {
    vec![("amount_to_capture".to_owned(), stripe_amount(amount).to_string())]
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

/// The saved card as we keep it: Stripe's customer and payment method, in one opaque
/// string (sealed at rest by whoever stores it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRef {
    pub customer: String,
    pub payment_method: String,
}

impl TokenRef {
    const SEPARATOR: char = '/';

    pub fn encode(&self) -> String {
        format!("{}{}{}", self.customer, Self::SEPARATOR, self.payment_method)
    }

    pub fn parse(token: &str) -> Result<TokenRef, GatewayError> {
        let bad = || GatewayError::Rejected("this saved card is not a Stripe card".into());
        let (customer, payment_method) = token.split_once(Self::SEPARATOR).ok_or_else(bad)?;
        let is_id = |s: &str, prefix: &str| {
            s.len() > prefix.len() && s.starts_with(prefix) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        };
        if !is_id(customer, "cus_") || !is_id(payment_method, "pm_") {
            return Err(bad());
        }
        Ok(TokenRef { customer: customer.to_owned(), payment_method: payment_method.to_owned() })
    }
}

// ---- What Stripe answers ----------------------------------------------------------

/// A field Stripe answers either as an id or, when asked to expand it, as the object.
#[derive(Deserialize, Debug, Clone)]
#[serde(untagged)]
pub enum Expandable<T> {
    Id(String),
    Object(Box<T>),
}

impl<T: HasId> Expandable<T> {
    pub fn id(&self) -> &str {
        match self {
            Expandable::Id(id) => id,
            Expandable::Object(object) => object.id(),
        }
    }
}

pub trait HasId {
    fn id(&self) -> &str;
}

#[derive(Deserialize, Debug, Clone)]
pub struct Account {
    pub id: String,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub default_currency: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct CountrySpec {
    pub id: String,
    pub supported_payment_currencies: Vec<String>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct CheckoutSession {
    pub id: String,
    pub mode: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub client_reference_id: Option<String>,
    #[serde(default)]
    pub amount_total: Option<i64>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    #[serde(default)]
    pub setup_intent: Option<Expandable<SetupIntent>>,
    #[serde(default)]
    pub url: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct PaymentIntent {
    pub id: String,
    pub status: String,
    pub amount: i64,
    /// What was captured. (localstripe does not answer it: then the amount captured is
    /// not known from the object.)
    #[serde(default)]
    pub amount_received: Option<i64>,
    pub currency: String,
    #[serde(default)]
    pub capture_method: Option<String>,
    #[serde(default)]
    pub cancellation_reason: Option<String>,
    #[serde(default)]
    pub last_payment_error: Option<LastPaymentError>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
}

impl HasId for PaymentIntent {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Deserialize, Debug, Clone)]
pub struct LastPaymentError {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct SetupIntent {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub payment_method: Option<Expandable<PaymentMethod>>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
}

impl HasId for SetupIntent {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Deserialize, Debug, Clone)]
pub struct PaymentMethod {
    pub id: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub card: Option<Card>,
}

impl HasId for PaymentMethod {
    fn id(&self) -> &str {
        &self.id
    }
}

#[derive(Deserialize, Debug, Clone)]
pub struct Card {
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Refund {
    pub id: String,
    #[serde(default)]
    pub status: Option<String>,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub payment_intent: Option<String>,
    #[serde(default)]
    pub failure_reason: Option<String>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Customer {
    pub id: String,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Charge {
    pub id: String,
    #[serde(default)]
    pub payment_intent: Option<String>,
}

#[derive(Deserialize, Debug, Clone)]
pub struct List<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

/// Stripe's error answer: `{"error": {…}}`.
#[derive(Deserialize, Debug, Clone)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Deserialize, Debug, Clone, Default)]
pub struct ErrorObject {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub param: Option<String>,
    /// For a declined confirmation, the PaymentIntent as it is now.
    #[serde(default)]
    pub payment_intent: Option<PaymentIntent>,
    #[serde(default)]
    pub charge: Option<String>,
}

/// A webhook's event: only a hint of which object changed (docs/connectors.md).
#[derive(Deserialize, Debug, Clone)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: EventData,
}

#[derive(Deserialize, Debug, Clone)]
pub struct EventData {
    pub object: serde_json::Value,
}

// ---- Statuses ---------------------------------------------------------------------

/// Where a PaymentIntent was started, which decides what a failed attempt means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempts {
    /// On Stripe's hosted page: the buyer may try another card until the session ends.
    Retryable,
    /// Confirmed once by us with a saved card: a failed attempt is the answer.
    Once,
}

/// Every PaymentIntent status (Stripe's `PaymentIntent.status`), explicitly.
pub fn intent_status(intent: &PaymentIntent, attempts: Attempts) -> OrderStatus {
    match intent.status.as_str() {
        "succeeded" => OrderStatus::Paid,
        "requires_capture" => OrderStatus::Authorized,
        // Asynchronous methods still deciding; the buyer still acting; not confirmed yet.
        "processing" | "requires_action" | "requires_confirmation" => OrderStatus::Open,
        "requires_payment_method" => match (attempts, &intent.last_payment_error) {
            (Attempts::Once, Some(_)) => OrderStatus::Declined,
            _ => OrderStatus::Open,
        },
        "canceled" => match intent.cancellation_reason.as_deref() {
            // Stripe let an uncaptured authorization lapse.
            Some("automatic") | Some("expired") => OrderStatus::AuthorizationExpired,
            // Ours or the merchant's cancel at Stripe (`requested_by_customer`,
            // `abandoned`, `duplicate`, `fraudulent`, the invoice reasons, none).
            _ => OrderStatus::Voided,
        },
        _ => OrderStatus::Open,
    }
}

/// Every Checkout Session status (`open`, `complete`, `expired`), explicitly; a
/// complete session is as its PaymentIntent says.
pub fn session_status(session: &CheckoutSession, intent: Option<&PaymentIntent>) -> OrderStatus {
    match session.status.as_deref() {
        Some("open") => OrderStatus::Open,
        // The buyer left without paying, or we closed it.
        Some("expired") => OrderStatus::Abandoned,
        Some("complete") => intent.map(|i| intent_status(i, Attempts::Retryable)).unwrap_or(OrderStatus::Open),
        _ => OrderStatus::Open,
    }
}

/// The order a payment-mode session stands for. While the buyer has not paid, the
/// session's own amount; once there is a PaymentIntent, what it charges.
pub fn session_order(session: &CheckoutSession, intent: Option<&PaymentIntent>) -> Result<GatewayOrder, GatewayError> {
    if session.mode != "payment" {
        return Err(GatewayError::Protocol(format!("session {} is in {} mode", session.id, session.mode)));
    }
    let reference = session
        .client_reference_id
        .clone()
        .ok_or_else(|| GatewayError::Protocol(format!("session {} has no client_reference_id", session.id)))?;
    let status = session_status(session, intent);
    let (amount, captured) = match intent {
        Some(intent) => intent_amounts(intent, status)?,
        None => {
            let currency = parse_currency(session.currency.as_deref().unwrap_or_default())?;
            let minor = session
                .amount_total
                .ok_or_else(|| GatewayError::Protocol(format!("session {} has no amount_total", session.id)))?;
            (Money::new(minor, currency), None)
        }
    };
    Ok(GatewayOrder { tid: session.id.clone(), reference, status, amount, captured, shipping_address: None })
}

/// The order a PaymentIntent we created directly (a saved card's charge) stands for.
pub fn intent_order(intent: &PaymentIntent) -> Result<GatewayOrder, GatewayError> {
    let reference = intent
        .metadata
        .get(META_PAYMENT)
        .cloned()
        .ok_or_else(|| GatewayError::Protocol(format!("payment intent {} names no payment of ours", intent.id)))?;
    let status = intent_status(intent, Attempts::Once);
    let (amount, captured) = intent_amounts(intent, status)?;
    Ok(GatewayOrder { tid: intent.id.clone(), reference, status, amount, captured, shipping_address: None })
}

fn intent_amounts(intent: &PaymentIntent, status: OrderStatus) -> Result<(Money, Option<Money>), GatewayError> {
    let currency = parse_currency(&intent.currency)?;
    let captured = match status {
        OrderStatus::Paid => intent.amount_received.map(|m| Money::new(m, currency)),
        _ => None,
    };
    Ok((Money::new(intent.amount, currency), captured))
}

/// Every Refund status (`pending`, `requires_action`, `succeeded`, `failed`,
/// `canceled`), explicitly; anything else is still undecided.
pub fn refund_status(refund: &Refund) -> RefundStatus {
    match refund.status.as_deref() {
        Some("succeeded") => RefundStatus::Refunded,
        Some("pending") | Some("requires_action") => RefundStatus::Pending,
        Some("failed") => RefundStatus::Refused(format!(
            "Stripe could not refund ({})",
            refund.failure_reason.as_deref().unwrap_or("failed")
        )),
        Some("canceled") => RefundStatus::Refused("the refund was canceled at Stripe".into()),
        _ => RefundStatus::Pending,
    }
}

pub fn refund_record(refund: &Refund, tid: &str) -> Result<GatewayRefundRecord, GatewayError> {
    let reference = refund
        .metadata
        .get(META_REFUND)
        .cloned()
        .ok_or_else(|| GatewayError::Protocol(format!("refund {} names no refund of ours", refund.id)))?;
    Ok(GatewayRefundRecord {
        id: refund.id.clone(),
        reference,
        tid: tid.to_owned(),
        status: refund_status(refund),
        amount: Money::new(refund.amount, parse_currency(&refund.currency)?),
    })
}

/// Every SetupIntent status, explicitly, for a setup-mode session.
pub fn registration_status(session: &CheckoutSession, setup: Option<&SetupIntent>) -> RegistrationStatus {
    match session.status.as_deref() {
        Some("open") => RegistrationStatus::Open,
        Some("expired") => RegistrationStatus::Failed("the buyer did not register a card".into()),
        Some("complete") => match setup {
            Some(setup) => setup_status(setup),
            None => RegistrationStatus::Open,
        },
        _ => RegistrationStatus::Open,
    }
}

fn setup_status(setup: &SetupIntent) -> RegistrationStatus {
    match setup.status.as_str() {
        "succeeded" => match (&setup.customer, &setup.payment_method) {
            (Some(customer), Some(Expandable::Object(pm))) => match &pm.card {
                Some(card) => RegistrationStatus::Registered(SavedCard {
                    token: TokenRef { customer: customer.clone(), payment_method: pm.id.clone() }.encode(),
                    brand: card.brand.clone(),
                    last4: card.last4.clone(),
                    exp_month: card.exp_month,
                    exp_year: card.exp_year,
                }),
                None => RegistrationStatus::Failed("the payment method kept is not a card".into()),
            },
            // Succeeded, but we cannot say which card yet: ask again.
            _ => RegistrationStatus::Open,
        },
        "canceled" => RegistrationStatus::Failed("the card was not registered".into()),
        "processing" | "requires_action" | "requires_confirmation" | "requires_payment_method" => {
            RegistrationStatus::Open
        }
        _ => RegistrationStatus::Open,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intent(status: &str) -> PaymentIntent {
        serde_json::from_value(serde_json::json!({
            "id": "pi_1", "object": "payment_intent", "status": status, "amount": 1500, "amount_received": 0,
            "currency": "usd", "metadata": {"paybridge_payment": "pay_1"}
        }))
        .unwrap()
    }

    #[test]
    fn every_payment_intent_status_is_mapped_and_an_unknown_one_is_open() {
        use OrderStatus::*;
        for (status, attempts, expected) in [
            ("succeeded", Attempts::Once, Paid),
            ("requires_capture", Attempts::Once, Authorized),
            ("processing", Attempts::Once, Open),
            ("requires_action", Attempts::Once, Open),
            ("requires_confirmation", Attempts::Once, Open),
            ("requires_payment_method", Attempts::Once, Open),
            ("canceled", Attempts::Once, Voided),
            ("some_future_status", Attempts::Once, Open),
        ] {
            assert_eq!(intent_status(&intent(status), attempts), expected, "{status}");
        }
        let mut declined = intent("requires_payment_method");
        declined.last_payment_error = Some(LastPaymentError { code: Some("card_declined".into()), message: None });
        assert_eq!(intent_status(&declined, Attempts::Once), Declined);
        assert_eq!(intent_status(&declined, Attempts::Retryable), Open, "the buyer may try another card");
        let mut lapsed = intent("canceled");
        lapsed.cancellation_reason = Some("automatic".into());
        assert_eq!(intent_status(&lapsed, Attempts::Once), AuthorizationExpired);
    }

    #[test]
    fn a_session_is_open_abandoned_or_as_its_payment_intent_says() {
        let session = |status: &str| -> CheckoutSession {
            serde_json::from_value(serde_json::json!({
                "id": "cs_1", "object": "checkout.session", "mode": "payment", "status": status,
                "client_reference_id": "pay_1", "amount_total": 1500, "currency": "usd"
            }))
            .unwrap()
        };
        assert_eq!(session_status(&session("open"), None), OrderStatus::Open);
        assert_eq!(session_status(&session("expired"), None), OrderStatus::Abandoned);
        assert_eq!(session_status(&session("complete"), None), OrderStatus::Open);
        assert_eq!(session_status(&session("complete"), Some(&intent("succeeded"))), OrderStatus::Paid);
        assert_eq!(session_status(&session("later"), Some(&intent("succeeded"))), OrderStatus::Open);
        let order = session_order(&session("complete"), Some(&intent("requires_capture"))).unwrap();
        assert_eq!((order.reference.as_str(), order.amount), ("pay_1", Money::new(1500, Currency::Usd)));
    }

    #[test]
    fn every_refund_status_is_mapped_and_an_unknown_one_is_pending() {
        let refund = |status: &str| -> Refund {
            serde_json::from_value(serde_json::json!({"id": "re_1", "status": status, "amount": 1, "currency": "usd"}))
                .unwrap()
        };
        assert_eq!(refund_status(&refund("succeeded")), RefundStatus::Refunded);
        assert_eq!(refund_status(&refund("pending")), RefundStatus::Pending);
        assert_eq!(refund_status(&refund("requires_action")), RefundStatus::Pending);
        assert!(matches!(refund_status(&refund("failed")), RefundStatus::Refused(_)));
        assert!(matches!(refund_status(&refund("canceled")), RefundStatus::Refused(_)));
        assert_eq!(refund_status(&refund("new_one")), RefundStatus::Pending);
    }

    #[test]
    fn a_token_is_a_customer_and_a_payment_method_and_nothing_else() {
        let token = TokenRef { customer: "cus_A1".into(), payment_method: "pm_B2".into() };
        assert_eq!(TokenRef::parse(&token.encode()).unwrap(), token);
        for bad in ["", "cus_A1", "pm_B2/cus_A1", "cus_/pm_B2", "cus_A1/pm_B2/x", "cus_A1/pm_B 2", "sbx_tok_1"] {
            assert!(TokenRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn amounts_cross_in_minor_units_with_the_same_exponents() {
        // Stripe's zero-decimal currencies among ours: JPY, KRW, VND.
        for currency in [Currency::Jpy, Currency::Krw, Currency::Vnd] {
            assert_eq!(currency.exponent(), 0);
            assert_eq!(stripe_amount(Money::new(5000, currency)), 5000);
        }
        assert_eq!(stripe_amount(Money::new(1999, Currency::Usd)), 1999);
        assert_eq!(stripe_currency(Currency::Php), "php");
        assert_eq!(parse_currency("jpy").unwrap(), Currency::Jpy);
    }
}
