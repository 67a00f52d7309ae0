//! The Stripe connector (docs/connectors.md walks through it). Stateless: every answer
//! is read back from Stripe, and our ids travel with Stripe's objects (a Checkout
//! Session's `client_reference_id`, `metadata` on PaymentIntents, SetupIntents and
//! Refunds) so that Stripe's webhooks name our payments and refunds.
//!
//! A payment's `tid` is its Checkout Session (`cs_…`), or for a saved card's charge the
//! PaymentIntent (`pi_…`). A saved card's token is `cus_…/pm_…`.

mod client;
pub mod transformers;
pub mod webhook;

use url::Url;

pub use client::STRIPE_VERSION;
use client::{Client, Failure};
use transformers::*;

use super::{
    Capabilities, Checkout, CheckoutMode, CheckoutRequest, Finalization, GatewayError, GatewayOrder, GatewayRefund,
    GatewayRefundRecord, GatewayRegistration, MerchantProfile, OrderStatus, PaymentGateway, RefundRequest,
    Registration, RegistrationRequest, TokenCharge, WebhookError, WebhookEvent, WebhookSubject,
};
use crate::domain::{Currency, MerchantCredentials, Money};

pub const GATEWAY_ID: &str = "stripe";
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";

pub struct StripeGateway {
    client: Client,
}

/// A payment's PaymentIntent, and where it was found.
enum Located {
    /// Through the Checkout Session the buyer paid in.
    Session(Box<CheckoutSession>, PaymentIntent),
    /// A PaymentIntent we created directly (a saved card's charge).
    Direct(PaymentIntent),
}

impl Located {
    fn intent(&self) -> &PaymentIntent {
        match self {
            Located::Session(_, intent) | Located::Direct(intent) => intent,
        }
    }

    /// Our payment id, which keys every follow-up POST.
    fn reference(&self) -> Result<String, GatewayError> {
        let reference = match self {
            Located::Session(session, _) => session.client_reference_id.clone(),
            Located::Direct(intent) => intent.metadata.get(META_PAYMENT).cloned(),
        };
        reference.ok_or_else(|| GatewayError::Protocol("the Stripe object names no payment of ours".into()))
    }

    /// The order as it is with `intent`, the PaymentIntent as Stripe answered last.
    fn order(&self, intent: &PaymentIntent) -> Result<GatewayOrder, GatewayError> {
        match self {
            Located::Session(session, _) => session_order(session, Some(intent)),
            Located::Direct(_) => intent_order(intent),
        }
    }
}

/// A Stripe id safe to put in a path: its prefix, then letters, digits and `_`.
fn stripe_id<'a>(id: &'a str, prefixes: &[&str]) -> Result<&'a str, GatewayError> {
    let shaped = id.len() < 256 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if shaped && prefixes.iter().any(|p| id.len() > p.len() && id.starts_with(p)) {
        Ok(id)
    } else {
        Err(GatewayError::Rejected(format!("{id:?} is not a Stripe {} id", prefixes.join(" or "))))
    }
}

fn key(creds: &MerchantCredentials) -> Result<&str, GatewayError> {
    let key = creds.secret_key.as_str();
    let known = ["sk_test_", "sk_live_", "rk_test_", "rk_live_"];
    if known.iter().any(|p| key.starts_with(p)) && key.len() > 8 && key.bytes().all(|b| b.is_ascii_graphic()) {
        Ok(key)
    } else {
        Err(GatewayError::Rejected("this is not a Stripe secret key (sk_test_… or sk_live_…)".into()))
    }
}

fn unsupported<T>(what: &str) -> Result<T, GatewayError> {
    Err(GatewayError::Rejected(format!("Stripe (through paybridge) does not support {what}")))
}

fn expand(paths: &[&str]) -> Params {
    paths.iter().map(|p| ("expand[]".to_owned(), (*p).to_owned())).collect()
}

impl StripeGateway {
    /// `base` is Stripe's API root (`STRIPE_API_BASE`, default [`DEFAULT_API_BASE`]);
    /// `http` carries the timeouts.
    pub fn new(base: Url, http: reqwest::Client) -> Self {
        StripeGateway { client: Client::new(base, http) }
    }

    async fn session(&self, key: &str, id: &str, expanded: &[&str]) -> Result<CheckoutSession, Failure> {
        self.client.get(key, &format!("/v1/checkout/sessions/{id}"), &expand(expanded)).await
    }

    async fn intent(&self, key: &str, id: &str) -> Result<PaymentIntent, GatewayError> {
        let id = stripe_id(id, &["pi_"])?;
        Ok(self.client.get(key, &format!("/v1/payment_intents/{id}"), &Params::new()).await?)
    }

    /// The PaymentIntent behind `tid`; refused while the buyer has not paid a session.
    async fn locate(&self, key: &str, tid: &str) -> Result<Located, GatewayError> {
        let tid = stripe_id(tid, &["cs_", "pi_"])?;
        if tid.starts_with("pi_") {
            return Ok(Located::Direct(self.intent(key, tid).await?));
        }
        let session = self.session(key, tid, &["payment_intent"]).await?;
        let intent = match &session.payment_intent {
            Some(Expandable::Object(intent)) => (**intent).clone(),
            Some(Expandable::Id(id)) => self.intent(key, id).await?,
            None => return Err(GatewayError::Rejected("the buyer has not paid this checkout yet".into())),
        };
        Ok(Located::Session(Box::new(session), intent))
    }

    /// A POST that changes a PaymentIntent (capture, cancel) towards `done`. Stripe
    /// refuses one the intent's state no longer allows: when it is `done` already (our
    /// earlier call went through, its answer lost past the idempotency key's 24 hours),
    /// the order is answered as it is; decided otherwise, the refusal stands.
    async fn change_intent(
        &self,
        key: &str,
        tid: &str,
        action: &str,
        params: &Params,
        key_suffix: &str,
        done: OrderStatus,
    ) -> Result<GatewayOrder, GatewayError> {
        let located = self.locate(key, tid).await?;
        let intent_id = stripe_id(&located.intent().id, &["pi_"])?.to_owned();
        let idempotency_key = format!("{}:{key_suffix}", located.reference()?);
        let path = format!("/v1/payment_intents/{intent_id}/{action}");
        match self.client.post::<PaymentIntent>(key, &path, &idempotency_key, params).await {
            Ok(intent) => located.order(&intent),
            Err(f) if matches!(f.error, GatewayError::Rejected(_)) => {
                let now = located.order(&self.intent(key, &intent_id).await?)?;
                if now.status == done {
                    Ok(now)
                } else {
                    Err(f.into())
                }
            }
            Err(f) => Err(f.into()),
        }
    }

    /// The order after a declined confirmation: Stripe's error carries the
    /// PaymentIntent, or at least its charge, which names it.
    async fn declined(&self, key: &str, failure: Failure) -> Result<GatewayOrder, GatewayError> {
        let Some(error) = failure.stripe.clone() else { return Err(failure.into()) };
        if let Some(intent) = error.payment_intent {
            return intent_order(&intent);
        }
        let Some(charge) = error.charge.as_deref() else { return Err(failure.into()) };
        let charge = stripe_id(charge, &["ch_", "py_"])?;
        let charge: Charge = self.client.get(key, &format!("/v1/charges/{charge}"), &Params::new()).await?;
        let intent_id = charge.payment_intent.ok_or_else(|| GatewayError::from(failure))?;
        intent_order(&self.intent(key, &intent_id).await?)
    }
}

#[async_trait::async_trait]
impl PaymentGateway for StripeGateway {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            all_cancel: true,
            partial_cancel: true,
            escrow: false,
            manual_capture: true,
            // Stripe's own browser SDK would be needed for these.
            api_finalization: false,
            review_checkout: false,
            saved_cards: true,
        }
    }

    /// `GET /v1/account` (the key works, and where the account is), then the country's
    /// `supported_payment_currencies`, of which the ones paybridge knows.
    async fn verify_credentials(&self, creds: &MerchantCredentials) -> Result<MerchantProfile, GatewayError> {
        let key = key(creds)?;
        let account: Account = self.client.get(key, "/v1/account", &Params::new()).await?;
        let mut codes = Vec::new();
        if let Some(country) = account.country.as_deref() {
            if country.len() != 2 || !country.bytes().all(|b| b.is_ascii_alphabetic()) {
                return Err(GatewayError::Protocol(format!("the account's country {country:?}")));
            }
            let spec: CountrySpec =
                self.client.get(key, &format!("/v1/country_specs/{country}"), &Params::new()).await?;
            codes.extend(spec.supported_payment_currencies);
        }
        codes.extend(account.default_currency);
        let mut currencies: Vec<Currency> = codes.iter().filter_map(|c| parse_currency(c).ok()).collect();
        currencies.sort_by_key(|c| c.code());
        currencies.dedup();
        Ok(MerchantProfile { currencies })
    }

    async fn create_checkout(
        &self,
        creds: &MerchantCredentials,
        request: &CheckoutRequest,
    ) -> Result<Checkout, GatewayError> {
        if request.mode == CheckoutMode::Review {
            return unsupported("the review-page checkout");
        }
        if request.finalization == Finalization::Api {
            return unsupported("finalization by API");
        }
        let key = key(creds)?;
        let params = checkout_session_params(request);
        let session: CheckoutSession =
            self.client.post(key, "/v1/checkout/sessions", &request.reference, &params).await?;
        let url = session.url.ok_or_else(|| GatewayError::Protocol("the Checkout Session has no url".into()))?;
        Ok(Checkout { tid: session.id, payment_url: url })
    }

    async fn get_order(&self, creds: &MerchantCredentials, tid: &str) -> Result<GatewayOrder, GatewayError> {
        let key = key(creds)?;
        let tid = stripe_id(tid, &["cs_", "pi_"])?;
        if tid.starts_with("pi_") {
            return intent_order(&self.intent(key, tid).await?);
        }
        let session = self.session(key, tid, &["payment_intent"]).await?;
        let intent = match &session.payment_intent {
            Some(Expandable::Object(intent)) => Some((**intent).clone()),
            Some(Expandable::Id(id)) => Some(self.intent(key, id).await?),
            None => None,
        };
        session_order(&session, intent.as_ref())
    }

    async fn refund(
        &self,
        creds: &MerchantCredentials,
        tid: &str,
        request: &RefundRequest,
    ) -> Result<GatewayRefund, GatewayError> {
        let key = key(creds)?;
        let located = self.locate(key, tid).await?;
        let params = refund_params(&located.intent().id, request);
        let refund: Refund = self.client.post(key, "/v1/refunds", &request.reference, &params).await?;
        Ok(GatewayRefund { status: refund_status(&refund), id: refund.id })
    }

    async fn get_refund(
        &self,
        creds: &MerchantCredentials,
        tid: &str,
        reference: &str,
    ) -> Result<GatewayRefundRecord, GatewayError> {
        let key = key(creds)?;
        let located = self.locate(key, tid).await?;
        let query =
            vec![("payment_intent".to_owned(), located.intent().id.clone()), ("limit".to_owned(), "100".to_owned())];
        let refunds: List<Refund> = self.client.get(key, "/v1/refunds", &query).await?;
        let refund =
            refunds
                .data
                .iter()
                .find(|r| r.metadata.get(META_REFUND).map(String::as_str) == Some(reference))
                .ok_or_else(|| GatewayError::NotFound(format!("Stripe has no refund {reference} for this payment")))?;
        refund_record(refund, tid)
    }

    async fn pay(&self, _: &MerchantCredentials, _: &str, _: Money) -> Result<String, GatewayError> {
        unsupported("the review-page checkout")
    }

    async fn approve(&self, _: &MerchantCredentials, _: &str, _: &str) -> Result<GatewayOrder, GatewayError> {
        unsupported("finalization by API")
    }

    async fn capture(
        &self,
        creds: &MerchantCredentials,
        tid: &str,
        amount: Money,
    ) -> Result<GatewayOrder, GatewayError> {
        let key = key(creds)?;
        let suffix = format!("capture:{}", amount.minor);
        let mut order =
            self.change_intent(key, tid, "capture", &capture_params(amount), &suffix, OrderStatus::Paid).await?;
        // Stripe says what it captured (`amount_received`); where an answer lacks it, the
        // capture it accepted was for what we asked.
        if order.status == OrderStatus::Paid && order.captured.is_none() {
            order.captured = Some(amount);
        }
        Ok(order)
    }

    async fn void(&self, creds: &MerchantCredentials, tid: &str) -> Result<GatewayOrder, GatewayError> {
        let key = key(creds)?;
        self.change_intent(key, tid, "cancel", &Params::new(), "void", OrderStatus::Voided).await
    }

    /// Expires an open Checkout Session; one that is no longer open is answered as it is
    /// (paid meanwhile, Stripe says so).
    async fn close_checkout(&self, creds: &MerchantCredentials, tid: &str) -> Result<GatewayOrder, GatewayError> {
        let key = key(creds)?;
        let tid = stripe_id(tid, &["cs_", "pi_"])?;
        if tid.starts_with("pi_") {
            return self.get_order(creds, tid).await;
        }
        let session = self.session(key, tid, &[]).await?;
        if session.status.as_deref() != Some("open") {
            return self.get_order(creds, tid).await;
        }
        let reference = session.client_reference_id.clone().unwrap_or_else(|| tid.to_owned());
        let path = format!("/v1/checkout/sessions/{tid}/expire");
        match self.client.post::<CheckoutSession>(key, &path, &format!("{reference}:expire"), &Params::new()).await {
            // Expired by us, it is closed, not abandoned by the buyer: nothing to apply
            // (the caller ends the payment with its own reason), as the trait says.
            Ok(_) => Ok(closed(self.get_order(creds, tid).await?)),
            // Completed in between: Stripe refuses to expire it, and says how it ended.
            Err(f) if f.error_is_rejected() => self.get_order(creds, tid).await,
            Err(f) => Err(f.into()),
        }
    }

    /// A Customer for the buyer, then a Checkout Session in `setup` mode.
    async fn create_registration(
        &self,
        creds: &MerchantCredentials,
        request: &RegistrationRequest,
    ) -> Result<Registration, GatewayError> {
        let key = key(creds)?;
        let customer: Customer = self
            .client
            .post(key, "/v1/customers", &format!("{}:customer", request.reference), &customer_params(request))
            .await?;
        let customer = stripe_id(&customer.id, &["cus_"])?;
        let params = setup_session_params(request, customer);
        let session: CheckoutSession =
            self.client.post(key, "/v1/checkout/sessions", &request.reference, &params).await?;
        let url = session.url.ok_or_else(|| GatewayError::Protocol("the Checkout Session has no url".into()))?;
        Ok(Registration { tid: session.id, registration_url: url })
    }

    async fn get_registration(
        &self,
        creds: &MerchantCredentials,
        tid: &str,
    ) -> Result<GatewayRegistration, GatewayError> {
        let key = key(creds)?;
        let tid = stripe_id(tid, &["cs_"])?;
        let session = self.session(key, tid, &["setup_intent.payment_method"]).await?;
        if session.mode != "setup" {
            return Err(GatewayError::Protocol(format!("session {tid} is in {} mode", session.mode)));
        }
        let reference = session
            .client_reference_id
            .clone()
            .ok_or_else(|| GatewayError::Protocol(format!("session {tid} has no client_reference_id")))?;
        let setup = match &session.setup_intent {
            Some(Expandable::Object(setup)) => Some((**setup).clone()),
            Some(Expandable::Id(id)) => {
                let id = stripe_id(id, &["seti_"])?;
                let query = expand(&["payment_method"]);
                Some(self.client.get::<SetupIntent>(key, &format!("/v1/setup_intents/{id}"), &query).await?)
            }
            None => None,
        };
        let setup = match setup {
            // Expanded only as an id: read the card itself.
            Some(mut s) if matches!(s.payment_method, Some(Expandable::Id(_))) => {
                if let Some(Expandable::Id(pm)) = &s.payment_method {
                    let pm = stripe_id(pm, &["pm_"])?;
                    let method: PaymentMethod =
                        self.client.get(key, &format!("/v1/payment_methods/{pm}"), &Params::new()).await?;
                    s.payment_method = Some(Expandable::Object(Box::new(method)));
                }
                Some(s)
            }
            other => other,
        };
        Ok(GatewayRegistration {
            tid: session.id.clone(),
            reference,
            status: registration_status(&session, setup.as_ref()),
        })
    }

    /// A PaymentIntent confirmed at once with the saved card (`off_session` when the
    /// merchant charges without the buyer). A decline is an order, not an error.
    async fn charge_token(
        &self,
        creds: &MerchantCredentials,
        token: &str,
        charge: &TokenCharge,
    ) -> Result<GatewayOrder, GatewayError> {
        let key = key(creds)?;
        let card = TokenRef::parse(token)?;
        let params = token_charge_params(charge, &card);
        match self.client.post::<PaymentIntent>(key, "/v1/payment_intents", &charge.reference, &params).await {
            Ok(intent) => intent_order(&intent),
            Err(f) if f.is_card_error() => self.declined(key, f).await,
            Err(f) => Err(f.into()),
        }
    }

    /// Detaches the card from its customer; one already gone counts as deleted.
    async fn delete_token(&self, creds: &MerchantCredentials, token: &str) -> Result<(), GatewayError> {
        let key = key(creds)?;
        let card = TokenRef::parse(token)?;
        let path = format!("/v1/payment_methods/{}/detach", card.payment_method);
        let idempotency_key = format!("{}:detach", card.payment_method);
        match self.client.post::<PaymentMethod>(key, &path, &idempotency_key, &Params::new()).await {
            Ok(_) => Ok(()),
            Err(f) if matches!(f.code(), Some("resource_missing") | Some("payment_method_unexpected_state")) => Ok(()),
            Err(f) => Err(f.into()),
        }
    }

    fn webhook_subject(&self, body: &[u8]) -> Option<WebhookSubject> {
        webhook::subject(body)
    }

    /// Checks `Stripe-Signature` with the mall's webhook secret, then leaves the body
    /// aside: the core asks Stripe for the object (`Ok(None)`), so a webhook is a hint
    /// and never the truth.
    fn verify_webhook(
        &self,
        creds: &MerchantCredentials,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Option<WebhookEvent>, WebhookError> {
        let secret = creds.webhook_secret.as_deref().ok_or(WebhookError::BadSignature)?;
        let header =
            headers.get(webhook::SIGNATURE_HEADER).and_then(|h| h.to_str().ok()).ok_or(WebhookError::BadSignature)?;
        if !webhook::verify(secret, header, body, unix_now()) {
            return Err(WebhookError::BadSignature);
        }
        Ok(None)
    }
}

impl Failure {
    fn error_is_rejected(&self) -> bool {
        matches!(self.error, GatewayError::Rejected(_))
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

/// A checkout we just expired: unless Stripe says it was paid or authorized meanwhile,
/// it is open (nothing happened that the payment should take in), not "abandoned".
fn closed(mut order: GatewayOrder) -> GatewayOrder {
    if order.status == OrderStatus::Abandoned {
        order.status = OrderStatus::Open;
    }
    order
}
