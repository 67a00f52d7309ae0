//! The boundary to payment companies. A connector translates between our types and one
//! PG's API and keeps no state: the core persists everything. A PG's status is
//! "open" (undecided) unless it explicitly says paid, declined or abandoned.

pub mod sandbox;
pub mod stripe;

use std::{collections::HashMap, sync::Arc};

use url::Url;

use crate::domain::{CaptureMethod, Currency, MerchantCredentials, Money};

#[derive(Clone, Debug)]
pub struct MerchantProfile {
    pub currencies: Vec<Currency>,
}

/// What the PG supports (Cafe24's read-payment answer reports the first three, SPEC §4.3);
/// the core refuses what a connector declares it cannot do.
#[derive(Clone, Copy, Debug)]
pub struct Capabilities {
    pub all_cancel: bool,
    pub partial_cancel: bool,
    pub escrow: bool,
    /// Authorizations captured later ([`PaymentGateway::capture`], [`PaymentGateway::void`]).
    pub manual_capture: bool,
    /// The PG only authenticates the buyer and the merchant approves ([`Finalization::Api`]).
    pub api_finalization: bool,
    /// The buyer sees our review page before the PG takes the final amount ([`CheckoutMode::Review`]).
    pub review_checkout: bool,
    /// Cards kept at the PG and charged later by token ([`PaymentGateway::create_registration`],
    /// [`PaymentGateway::charge_token`]).
    pub saved_cards: bool,
}

/// Who finalizes a payment the buyer approved (SPEC §8.3 `finalization`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Finalization {
    /// The PG does, and reports it (webhook, or when asked after the buyer's return).
    #[default]
    Webhook,
    /// The PG only authenticates the buyer and hands back one-time `authData`; the
    /// merchant redeems it ([`PaymentGateway::approve`]).
    Api,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckoutMode {
    /// The buyer goes to the PG's own payment page.
    Redirect,
    /// The buyer sees our review page first and we ask the PG to pay (external checkout).
    Review,
}

#[derive(Clone, Debug)]
pub struct CheckoutRequest {
    /// Our id for the payment; the PG creates at most one checkout per reference.
    pub reference: String,
    pub amount: Money,
    pub description: Option<String>,
    /// The name the buyer knows the merchant by (the shop's), for the PG's payment page.
    pub merchant_name: Option<String>,
    pub callback_url: Url,
    pub webhook_url: Option<Url>,
    pub mode: CheckoutMode,
    /// Offer bank transfer (the payment stays pending until the money arrives).
    pub allow_deposit: bool,
    pub capture: CaptureMethod,
    pub finalization: Finalization,
}

#[derive(Clone, Debug)]
pub struct Checkout {
    pub tid: String,
    pub payment_url: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderStatus {
    /// Undecided: ask again later, never paid.
    Open,
    /// The buyer authenticated; the merchant's approval with the one-time `authData` decides.
    Authenticated,
    Paid,
    /// Authorized for a later capture.
    Authorized,
    AwaitingDeposit,
    Declined,
    Abandoned,
    /// The authorization was released without a capture.
    Voided,
    /// The authorization lapsed before it was captured.
    AuthorizationExpired,
}

#[derive(Clone, Debug)]
pub struct GatewayOrder {
    pub tid: String,
    pub reference: String,
    pub status: OrderStatus,
    /// What was asked (and, for an authorization, what is authorized).
    pub amount: Money,
    /// What the PG took, once paid (at most `amount` after a capture).
    pub captured: Option<Money>,
    /// Where the buyer wants the goods, when the PG knows it (review-page checkouts).
    pub shipping_address: Option<ShippingAddress>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ShippingAddress {
    pub name: String,
    pub lines: Vec<String>,
    pub city: String,
    pub state: String,
    pub postal_code: String,
    pub country_code: String,
    pub phone: String,
}

#[derive(Clone, Debug)]
pub struct RefundRequest {
    /// Our refund id; the PG refunds at most once per reference.
    pub reference: String,
    pub amount: Money,
    /// Where the PG reports a refund it decides later; without it the PG answers now.
    pub webhook_url: Option<Url>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefundStatus {
    Refunded,
    Pending,
    Refused(String),
}

#[derive(Clone, Debug)]
pub struct GatewayRefund {
    pub id: String,
    pub status: RefundStatus,
}

/// A refund as the PG reports it when asked (see [`PaymentGateway::get_refund`]).
#[derive(Clone, Debug)]
pub struct GatewayRefundRecord {
    pub id: String,
    /// Our refund id, the reference the refund was requested under.
    pub reference: String,
    pub tid: String,
    pub status: RefundStatus,
    pub amount: Money,
}

/// Whether a saved card may be charged without the buyer present (SPEC §8.3 `usage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenUsage {
    /// Only while the buyer is there (customer-initiated payments).
    OnSession,
    /// Also merchant-initiated payments, without the buyer.
    OffSession,
}

/// A hosted page at the PG where the buyer enters a card to keep (SPEC §8.3, registration).
#[derive(Clone, Debug)]
pub struct RegistrationRequest {
    /// Our id for the registration (a payment in 1, amount 0); the PG opens at most one
    /// registration per reference.
    pub reference: String,
    /// Who the card belongs to, as the merchant knows them (scoped to the merchant).
    pub customer: String,
    pub usage: TokenUsage,
    /// Where the PG sends the buyer back (the PG adds nothing we believe: we ask it).
    pub callback_url: Url,
    pub webhook_url: Option<Url>,
}

#[derive(Clone, Debug)]
pub struct Registration {
    pub tid: String,
    pub registration_url: String,
}

/// A card the PG keeps. `token` is the PG's reference to it: a secret of ours, kept
/// sealed at rest, never shown; the rest is what the buyer may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedCard {
    pub token: String,
    pub brand: String,
    pub last4: String,
    pub exp_month: u32,
    pub exp_year: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RegistrationStatus {
    /// Undecided: ask again later.
    Open,
    Registered(SavedCard),
    /// The PG refused the card or the buyer gave up.
    Failed(String),
}

#[derive(Clone, Debug)]
pub struct GatewayRegistration {
    pub tid: String,
    pub reference: String,
    pub status: RegistrationStatus,
}

/// A payment with a saved card, taken at once (SPEC §8.3 token payments).
#[derive(Clone, Debug)]
pub struct TokenCharge {
    /// Our payment id; the PG charges at most once per reference.
    pub reference: String,
    pub amount: Money,
    pub capture: CaptureMethod,
    /// Without the buyer present (needs a card registered for [`TokenUsage::OffSession`]).
    pub merchant_initiated: bool,
    pub description: Option<String>,
}

fn unsupported<T>(what: &str) -> Result<T, GatewayError> {
    Err(GatewayError::Rejected(format!("this payment company does not support {what}")))
}

/// What a webhook is about, read before anything is verified: it only says whose
/// credentials verify it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebhookSubject {
    /// Our payment id.
    Payment(String),
    /// Our refund id.
    Refund(String),
    /// Nothing of ours: an object another integration of the merchant's account made
    /// (what it is, for the answer). Acknowledged so that the PG stops sending it, and
    /// nothing is changed.
    Unrelated(String),
}

/// What a PG's webhook reports, once its signature is verified.
#[derive(Clone, Debug)]
pub struct WebhookEvent {
    /// The PG's id for this event: a redelivery carries the same id.
    pub event_id: String,
    pub tid: String,
    pub kind: WebhookKind,
}

/// What a verified webhook reports. A `Registration` (our payment id `reference`) is only
/// a notice that a card registration changed: the card's token never travels in a webhook,
/// the merchant asks the PG ([`PaymentGateway::get_registration`]).
#[derive(Clone, Debug)]
pub enum WebhookKind {
    Order { reference: String, status: OrderStatus, amount: Money, captured: Option<Money> },
    Refund { reference: String, gateway_refund_id: String, status: RefundStatus, amount: Money },
    Registration { reference: String },
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("the webhook signature is missing or wrong")]
    BadSignature,
    #[error("the webhook cannot be read: {0}")]
    Malformed(String),
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The PG answered and said no (bad credentials, unsupported currency, …).
    #[error("the payment company refused: {0}")]
    Rejected(String),
    /// The PG answered that it has no such record (a refund it never made, …): a
    /// refusal everywhere, and for the reconciliation worker proof that nothing was done.
    #[error("the payment company has no such record: {0}")]
    NotFound(String),
    /// No usable answer: timeout, connection failure, 5xx.
    #[error("the payment company is unavailable: {0}")]
    Unavailable(String),
    /// An answer we cannot read.
    #[error("the payment company answered something unexpected: {0}")]
    Protocol(String),
}

#[async_trait::async_trait]
pub trait PaymentGateway: Send + Sync {
    fn capabilities(&self) -> Capabilities;

    async fn verify_credentials(&self, creds: &MerchantCredentials) -> Result<MerchantProfile, GatewayError>;

    async fn create_checkout(
        &self,
        creds: &MerchantCredentials,
        request: &CheckoutRequest,
    ) -> Result<Checkout, GatewayError>;

    async fn get_order(&self, creds: &MerchantCredentials, tid: &str) -> Result<GatewayOrder, GatewayError>;

    async fn refund(
        &self,
        creds: &MerchantCredentials,
        tid: &str,
        request: &RefundRequest,
    ) -> Result<GatewayRefund, GatewayError>;

    /// The refund the PG made (or is deciding) for payment `tid` under our `reference`.
    async fn get_refund(
        &self,
        creds: &MerchantCredentials,
        tid: &str,
        reference: &str,
    ) -> Result<GatewayRefundRecord, GatewayError>;

    /// For a review-page checkout: asks the PG to take `amount` (the final total) and
    /// returns where the buyer approves it.
    async fn pay(&self, creds: &MerchantCredentials, tid: &str, amount: Money) -> Result<String, GatewayError>;

    /// Redeems the buyer's one-time `auth_data` ([`Finalization::Api`]): the PG pays (or
    /// authorizes, for a manual capture) or declines. Bad or used auth data is `Rejected`.
    async fn approve(
        &self,
        creds: &MerchantCredentials,
        tid: &str,
        auth_data: &str,
    ) -> Result<GatewayOrder, GatewayError>;

    /// Captures `amount` (at most what is authorized) of an authorization; the rest is
    /// released. The same capture again answers the captured order.
    async fn capture(
        &self,
        creds: &MerchantCredentials,
        tid: &str,
        amount: Money,
    ) -> Result<GatewayOrder, GatewayError>;

    /// Releases an authorization without capturing it. Again, it answers the voided order.
    async fn void(&self, creds: &MerchantCredentials, tid: &str) -> Result<GatewayOrder, GatewayError>;

    /// Closes a checkout nobody paid, so that its page takes no payment any more; it
    /// answers the order as it is then (paid meanwhile, the PG says so instead).
    async fn close_checkout(&self, creds: &MerchantCredentials, tid: &str) -> Result<GatewayOrder, GatewayError>;

    /// Opens the PG's hosted card registration page ([`Capabilities::saved_cards`]).
    async fn create_registration(
        &self,
        _creds: &MerchantCredentials,
        _request: &RegistrationRequest,
    ) -> Result<Registration, GatewayError> {
        unsupported("saved cards")
    }

    /// The registration as the PG has it now (a new card's token once registered).
    async fn get_registration(
        &self,
        _creds: &MerchantCredentials,
        _tid: &str,
    ) -> Result<GatewayRegistration, GatewayError> {
        unsupported("saved cards")
    }

    /// Charges a saved card at once; the answer is the order as after a checkout (paid,
    /// authorized for a manual capture, or declined). The same reference again answers
    /// the same charge.
    async fn charge_token(
        &self,
        _creds: &MerchantCredentials,
        _token: &str,
        _charge: &TokenCharge,
    ) -> Result<GatewayOrder, GatewayError> {
        unsupported("saved cards")
    }

    /// Forgets a saved card at the PG; one already gone counts as deleted.
    async fn delete_token(&self, _creds: &MerchantCredentials, _token: &str) -> Result<(), GatewayError> {
        unsupported("saved cards")
    }

    /// The payment or refund a webhook body names, before anything is verified.
    fn webhook_subject(&self, body: &[u8]) -> Option<WebhookSubject>;

    /// Verifies a webhook with the merchant's credentials and reads it. `Ok(None)` means
    /// the body is not to be believed: the webhook carries no signature to verify (a PG
    /// without signatures), or the connector takes a signed body only as a hint (Stripe).
    /// The caller must not read the body beyond [`Self::webhook_subject`] and asks the PG
    /// for the truth instead ([`Self::get_order`], [`Self::get_refund`]).
    fn verify_webhook(
        &self,
        creds: &MerchantCredentials,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Option<WebhookEvent>, WebhookError>;
}

/// The connectors this instance can speak, by the id stored with each mall's credentials.
#[derive(Clone, Default)]
pub struct Gateways {
    by_id: HashMap<&'static str, Arc<dyn PaymentGateway>>,
}

impl Gateways {
    pub fn with(mut self, id: &'static str, gateway: Arc<dyn PaymentGateway>) -> Self {
        self.by_id.insert(id, gateway);
        self
    }

    pub fn get(&self, id: &str) -> Option<&Arc<dyn PaymentGateway>> {
        self.by_id.get(id)
    }

    /// Every connector wrapped by `wrap` (given its id), e.g. to count its calls.
    pub fn wrap(self, wrap: impl Fn(&'static str, Arc<dyn PaymentGateway>) -> Arc<dyn PaymentGateway>) -> Self {
        let by_id = self.by_id.into_iter().map(|(connector, inner)| (connector, wrap(connector, inner))).collect();
        Gateways { by_id }
    }
}
