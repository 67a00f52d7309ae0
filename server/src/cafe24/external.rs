//! External checkout (SPEC §4.6): the storefront button's endpoints, the review page's
//! implementation, and the PG's callback that sends the buyer back to the mall.

use app::checkout::{
    NextStep, OrderAction, ReviewAddress, ReviewError, ReviewItem, ReviewPort, ReviewTotals, ReviewView,
};
use axum::{
    body::Bytes,
    extract::{Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Value};
use subtle::ConstantTimeEq;
use url::Url;

use super::{
    checkout::{callback_path, callback_payment, new_status_key, open_error, verify_with_gateway},
    request, signature, Cafe24Context, Cafe24Error,
};
use crate::{
    cafe24::api::CalculationItem,
    domain::{CaptureMethod, Channel, Currency, MallId, Money, OrderId, Payment, PaymentStatus},
    gateway::{CheckoutMode, Finalization},
    payments::{OpenCheckout, Opened, PaymentError},
    store::{now_ms, Cafe24Payment, ChannelData, Flow, StoreError},
};

/// Cafe24 reservations older than this are refused.
const RESERVATION_FRESHNESS_SECS: i64 = 3600;
const HMAC_REQUEST_FRESHNESS_SECS: i64 = 300;

fn refused(status: StatusCode, message: impl Into<String>) -> Response {
    Cafe24Error::new(status, message).for_storefront().into_response()
}

fn internal(operation: &str, e: impl std::fmt::Display) -> Response {
    Cafe24Error::internal(operation, e).for_storefront().into_response()
}

#[derive(Deserialize)]
pub struct DataQuery {
    mall_id: Option<String>,
    shop_no: Option<String>,
}

/// The enabled shop of a mall, with what the button may know about it.
struct ButtonShop {
    shop_no: i64,
    shop_name: String,
    currency: Currency,
    partner_id: String,
    public_key: String,
}

async fn enabled_shop(app: &Cafe24Context, mall_id: &str, shop_no: i64) -> Result<Option<ButtonShop>, StoreError> {
    let shop = app.store.admin_shops(mall_id).await?.into_iter().find(|s| s.shop_no == shop_no && s.enabled != 0);
    let Some(shop) = shop else { return Ok(None) };
    let Some(linked) = app.store.linked_credentials(mall_id).await? else { return Ok(None) };
    let (Some(partner_id), Ok(currency)) = (shop.partner_id, shop.currency.parse::<Currency>()) else {
        return Ok(None);
    };
    Ok(Some(ButtonShop { shop_no, shop_name: shop.shop_name, currency, partner_id, public_key: linked.public_key }))
}

/// `GET /api/external-checkout/script/data?mall_id&shop_no`: never a secret.
pub async fn script_data(State(app): State<Cafe24Context>, Query(q): Query<DataQuery>) -> Response {
    let (Some(mall_id), Some(shop_no)) = (q.mall_id.filter(|m| !m.is_empty()), q.shop_no) else {
        return refused(StatusCode::BAD_REQUEST, "mall_id and shop_no are required");
    };
    let Ok(shop_no) = shop_no.trim().parse::<i64>() else {
        return refused(StatusCode::BAD_REQUEST, "shop_no must be a number");
    };
    match enabled_shop(&app, &mall_id, shop_no).await {
        Ok(Some(shop)) => Json(json!({"bResult": true, "mData": {
            "public_key": shop.public_key,
            "shop_name": shop.shop_name,
            "shop_currency": shop.currency.code(),
            "client_id": app.cafe24.client_id,
        }}))
        .into_response(),
        Ok(None) => refused(StatusCode::NOT_FOUND, "paybridge is not enabled for this shop"),
        Err(e) => internal("reading the shop for the button", e),
    }
}

#[derive(Deserialize)]
pub struct HmacQuery {
    mall_id: Option<String>,
    request_time: Option<String>,
    client_key: Option<String>,
    member_id: Option<String>,
}

/// `GET /api/external-checkout/script/hmac`: the HMAC the button gives
/// `CAFE24API.precreateOrder` — for an enabled mall, our own client id, and a fresh
/// `request_time`.
pub async fn script_hmac(State(app): State<Cafe24Context>, Query(q): Query<HmacQuery>) -> Response {
    let (Some(mall_id), Some(request_time), Some(client_key)) = (q.mall_id, q.request_time, q.client_key) else {
        return refused(StatusCode::BAD_REQUEST, "mall_id, request_time and client_key are required");
    };
    let member_id = q.member_id.unwrap_or_default();
    if !bool::from(client_key.as_bytes().ct_eq(app.cafe24.client_id.as_bytes())) {
        return refused(StatusCode::FORBIDDEN, "client_key is not this app's client id");
    }
    let fresh = request_time
        .parse::<i64>()
        .is_ok_and(|t| (now_ms() / 1000).abs_diff(t) <= HMAC_REQUEST_FRESHNESS_SECS.unsigned_abs());
    if !fresh {
        return refused(StatusCode::UNAUTHORIZED, "request_time is not within 5 minutes of now");
    }
    match app.store.admin_shops(&mall_id).await {
        Ok(shops) if shops.iter().any(|s| s.enabled != 0) => {}
        Ok(_) => return refused(StatusCode::FORBIDDEN, "paybridge is not enabled in this mall"),
        Err(e) => return internal("reading the mall's shops", e),
    }
    let hmac = signature::sign(&app.cafe24.service_key, &[&mall_id, &request_time, &client_key, &member_id]);
    Json(json!({"hmac_key": hmac})).into_response()
}

/// PHP's `(int)` of a price string: the integer part, sign kept ("-200.50" → -200).
pub fn php_int(price: &str) -> Option<i64> {
    let (negative, digits) = match price.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, price),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (whole.is_empty() && fraction.is_empty()) || !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    let value: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    Some(if negative { -value } else { value })
}

/// An exact signed price in minor units.
fn signed_money(price: &str, currency: Currency) -> Option<i64> {
    match price.strip_prefix('-') {
        Some(rest) => Money::parse(rest, currency).ok().map(|m| -m.minor),
        None => Money::parse(price, currency).ok().map(|m| m.minor),
    }
}

fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The reservation HMAC of `CAFE24API.precreateOrder` (SPEC §4.6): key = client id +
/// order id; message = the JSON string literal (slashes and unicode unescaped) of
/// total + order_id + response_time + return_notification_url.
pub fn reservation_hmac(client_id: &str, order_id: &str, total: i64, response_time: &str, noty_url: &str) -> String {
    let joined = format!("{total}{order_id}{response_time}{noty_url}");
    // A JSON string literal with `/` and non-ASCII left as they are (PHP's
    // JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE), which serde_json writes.
    let literal = serde_json::Value::String(joined).to_string();
    let key = format!("{client_id}{order_id}");
    signature::sign(&key, &[&literal])
}

/// One reserved product, checked.
struct Line {
    item: Value,
    /// (product_price + option_price) × quantity, exact.
    total_minor: i64,
    /// PHP's integer arithmetic, as the reservation HMAC uses it.
    total_int: i64,
}

/// The basket is beyond what PHP's integers (and ours) hold: Cafe24's HMAC would be over a
/// float, and the amount would wrap. Refused rather than computed wrongly.
const TOO_LARGE: &str = "the basket's total is too large";

fn lines(order: &[Value], currency: Currency) -> Result<Vec<Line>, String> {
    order
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let n = i + 1;
            let quantity = item["quantity"]
                .as_i64()
                .or_else(|| item["quantity"].as_str().and_then(|q| q.parse().ok()))
                .filter(|q| *q > 0)
                .ok_or_else(|| format!("product {n}: quantity must be a positive number"))?;
            let product =
                text_of(&item["product_price"]).ok_or_else(|| format!("product {n}: product_price is missing"))?;
            let option = text_of(&item["option_price"]).unwrap_or_else(|| "0".into());
            let (Some(p_minor), Some(o_minor), Some(p_int), Some(o_int)) = (
                signed_money(&product, currency),
                signed_money(&option, currency),
                php_int(&product),
                php_int(&option),
            ) else {
                return Err(format!("product {n}: its prices are not amounts in {currency}"));
            };
            let unit_minor = p_minor.checked_add(o_minor).ok_or(TOO_LARGE)?;
            if p_minor < 0 || unit_minor < 0 {
                return Err(format!("product {n}: its price is negative"));
            }
            let total_minor = unit_minor.checked_mul(quantity).ok_or(TOO_LARGE)?;
            let total_int = p_int.checked_add(o_int).and_then(|unit| unit.checked_mul(quantity)).ok_or(TOO_LARGE)?;
            Ok(Line { item: item.clone(), total_minor, total_int })
        })
        .collect()
}

/// What a reservation (`CAFE24API.precreateOrder`'s answer, posted by the button) says
/// about its basket, as received.
pub struct Reservation<'a> {
    pub order: &'a [Value],
    pub order_id: &'a str,
    pub response_time: &'a str,
    pub noty_url: &'a str,
    pub hmac: &'a str,
}

/// A reservation's basket, checked.
#[derive(Debug)]
pub struct Basket {
    /// The reserved products, as received.
    pub items: Vec<Value>,
    /// Σ (product_price + option_price) × quantity, exact: what the buyer pays.
    pub amount: Money,
    /// The total the HMAC signs (PHP's integer arithmetic).
    pub signed_total: i64,
}

impl Reservation<'_> {
    /// Checks the basket in the shop's `currency` and the reservation's HMAC (SPEC §4.6:
    /// [`reservation_hmac`] under our `client_id`) and freshness at `now_secs`: each
    /// product's prices and quantity, the totals (refused when they do not fit), a total
    /// above zero. Pure: a refusal changes nothing; the status and message to answer.
    pub fn check(&self, client_id: &str, currency: Currency, now_secs: i64) -> Result<Basket, (StatusCode, String)> {
        let unprocessable = |message: String| (StatusCode::UNPROCESSABLE_ENTITY, message);
        let lines = lines(self.order, currency).map_err(unprocessable)?;
        let sum = |part: fn(&Line) -> i64| lines.iter().try_fold(0i64, |sum, line| sum.checked_add(part(line)));
        let (Some(signed_total), Some(minor)) = (sum(|l| l.total_int), sum(|l| l.total_minor)) else {
            return Err(unprocessable(TOO_LARGE.into()));
        };
        let expected = reservation_hmac(client_id, self.order_id, signed_total, self.response_time, self.noty_url);
        if !signature::constant_time_eq(&expected, self.hmac) {
            return Err((StatusCode::UNAUTHORIZED, "the reservation's hmac does not match its order".into()));
        }
        let fresh = self
            .response_time
            .parse::<i64>()
            .is_ok_and(|t| now_secs.abs_diff(t) <= RESERVATION_FRESHNESS_SECS.unsigned_abs());
        if !fresh {
            return Err((StatusCode::UNAUTHORIZED, "the reservation has expired; reserve the order again".into()));
        }
        if minor <= 0 {
            return Err(unprocessable("the basket's total must be greater than zero".into()));
        }
        let items = lines.into_iter().map(|line| line.item).collect();
        Ok(Basket { items, amount: Money::new(minor, currency), signed_total })
    }
}

/// `POST /api/external-checkout/payload`: the button hands over Cafe24's reservation.
pub async fn payload(State(app): State<Cafe24Context>, body: Bytes) -> Response {
    let p = match request::strict_json(&body) {
        Ok(p) => p,
        Err(e) => return e.for_storefront().into_response(),
    };
    let field = |name: &str| text_of(&p[name]).filter(|v| !v.is_empty());
    let (Some(mall_text), Some(order_text), Some(response_time), Some(noty_url), Some(hmac), Some(return_url_base)) = (
        field("mall_id"),
        field("order_id"),
        field("response_time"),
        field("return_notification_url"),
        field("hmac"),
        field("return_url_base"),
    ) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "mall_id, order_id, response_time, return_notification_url, return_url_base and hmac are required",
        );
    };
    let (Ok(mall_id), Ok(order_id)) = (MallId::parse(&mall_text), OrderId::parse(&order_text)) else {
        return refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "mall_id and order_id must be visible ASCII of at most 100 and 64 characters",
        );
    };
    let order = p["order"].as_array().cloned().unwrap_or_default();
    let Some(first) = order.first() else {
        return refused(StatusCode::BAD_REQUEST, "the basket is empty");
    };
    let shop_no = first["shop_no"].as_i64().or_else(|| field("shop_no").and_then(|s| s.parse().ok())).unwrap_or(1);
    let shop = match enabled_shop(&app, mall_id.as_str(), shop_no).await {
        Ok(Some(shop)) => shop,
        Ok(None) => return refused(StatusCode::FORBIDDEN, "paybridge is not enabled for this shop"),
        Err(e) => return internal("reading the shop for a reservation", e),
    };
    if let Some(currency) = field("currency") {
        if currency != shop.currency.code() {
            return refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("currency {currency} is not this shop's currency ({})", shop.currency),
            );
        }
    }
    let reservation = Reservation {
        order: &order,
        order_id: order_id.as_str(),
        response_time: &response_time,
        noty_url: &noty_url,
        hmac: &hmac,
    };
    let basket = match reservation.check(&app.cafe24.client_id, shop.currency, now_ms() / 1000) {
        Ok(basket) => basket,
        Err((status, message)) => return refused(status, message),
    };
    let amount = basket.amount;
    let domains = match app.store.mall_domains(mall_id.as_str()).await {
        Ok(d) => d,
        Err(e) => return internal("reading the mall's domains", e),
    };
    for (name, raw) in [("return_notification_url", &noty_url), ("return_url_base", &return_url_base)] {
        if let Err(e) = app.hosts.check_with(name, raw, &domains) {
            return refused(StatusCode::UNPROCESSABLE_ENTITY, e.to_string());
        }
    }
    let goods_name = basket.items[0]["product_name"].as_str().map(|name| match basket.items.len() {
        1 => name.to_owned(),
        n => format!("{name} and {} more", n - 1),
    });
    let usable = |p: &Payment, c: Option<&Cafe24Payment>| {
        p.status == PaymentStatus::Request && c.is_some_and(|c| c.flow == Flow::External)
    };
    let conflict =
        |p: &Payment| refused(StatusCode::CONFLICT, format!("order {order_id} already has a payment ({})", p.status));
    let existing = match app.payments.payment_by_order(&mall_id, &order_id).await {
        Ok(existing) => existing,
        Err(e) => return storefront_error("finding the order's payment", e),
    };
    // The core asks the PG first and stores the payment with its checkout afterwards:
    // a PG refusing (or not answering) leaves nothing behind here, and the same
    // reservation posted again finds the stored payment and its checkout.
    let payment = match existing {
        Some(p) => p,
        None => {
            let request = OpenCheckout {
                id: None,
                mall_id: mall_id.clone(),
                channel: Channel::Cafe24,
                order_id: order_id.clone(),
                amount,
                description: goods_name,
                mode: CheckoutMode::Review,
                allow_deposit: false,
                capture: CaptureMethod::Automatic,
                finalization: Finalization::Webhook,
                expires_at: None,
                callback_url: app.url(callback_path(Flow::External)),
                pg_webhooks: true,
                channel_data: ChannelData::Cafe24(Cafe24Payment {
                    partner_id: shop.partner_id.clone(),
                    shop_no: shop.shop_no,
                    flow: Flow::External,
                    amount_text: None,
                    paymethod: "etc".into(),
                    status_key: new_status_key(),
                    return_url: return_url_base.trim_end_matches('/').to_owned(),
                    return_noty_url: Some(noty_url.clone()),
                    extra_data: Some(json!({"member_id": field("member_id"), "bGuest": p["bGuest"]}).to_string()),
                    external_order: Some(Value::Array(basket.items).to_string()),
                }),
                merchant_name: Some(shop.shop_name.clone()),
                source: "cafe24",
            };
            match app.payments.open_checkout(request).await {
                // The same reservation posted twice at once: the first one stored is used.
                Ok(Opened::Created(p) | Opened::Existing(p)) => p,
                Err(e @ PaymentError::GatewayRejected(_)) => return open_error(e).for_storefront().into_response(),
                Err(e @ (PaymentError::GatewayUnavailable(_) | PaymentError::GatewayProtocol(_))) => {
                    return refused(StatusCode::BAD_GATEWAY, format!("{e}; nothing was changed"))
                }
                Err(e) => return storefront_error("opening an external checkout", e),
            }
        }
    };
    let cafe24 = match app.store.cafe24_payment(&payment.id).await {
        Ok(c) => c,
        Err(e) => return internal("reading the order's Cafe24 data", e),
    };
    let Some(cafe24) = cafe24.filter(|c| usable(&payment, Some(c))) else {
        return conflict(&payment);
    };
    let mut review = app.url("/api/external-checkout/order/review");
    review
        .query_pairs_mut()
        .append_pair("mall_id", mall_id.as_str())
        .append_pair("order_id", order_id.as_str())
        .append_pair("key", &cafe24.status_key);
    Json(json!({"bResult": true, "mData": {
        "order_id": order_id.as_str(),
        "amount": payment.amount.to_major_string(),
        "currency": payment.amount.currency.code(),
        "public_key": shop.public_key,
        "redirect_url": review.as_str(),
    }}))
    .into_response()
}

/// The core's error, answered in the storefront's shape.
fn storefront_error(operation: &str, e: PaymentError) -> Response {
    Cafe24Error::from_core(operation, e).for_storefront().into_response()
}

fn review_error(status: u16, message: impl Into<String>) -> ReviewError {
    ReviewError { status, message: message.into(), redirect_url: None }
}

/// The channel's error, for the review page's port (the UI crate's error type).
impl From<Cafe24Error> for ReviewError {
    fn from(e: Cafe24Error) -> Self {
        ReviewError { status: e.status.as_u16(), message: e.message, redirect_url: None }
    }
}

fn core_error(operation: &str, e: PaymentError) -> ReviewError {
    Cafe24Error::from_core(operation, e).into()
}

fn store_error(e: StoreError) -> ReviewError {
    Cafe24Error::internal("review page storage", e).into()
}

/// `{return_url_base}/api/shop/pgsuccess|pg_fail?order_id=…&sync_type=async`
fn mall_result_url(payment: &Payment, cafe24: &Cafe24Payment, success: bool) -> String {
    let page = if success { "pgsuccess" } else { "pg_fail" };
    let order: String = url::form_urlencoded::byte_serialize(payment.order_id.as_str().as_bytes()).collect();
    format!("{}/api/shop/{page}?order_id={order}&sync_type=async", cafe24.return_url.trim_end_matches('/'))
}

pub struct ReviewService {
    app: Cafe24Context,
}

impl ReviewService {
    pub fn new(app: Cafe24Context) -> Self {
        ReviewService { app }
    }

    /// The external checkout's payment of the order, with its Cafe24 data.
    async fn payment(&self, mall_id: &str, order_id: &str) -> Result<(Payment, Cafe24Payment), ReviewError> {
        let none = || review_error(404, "there is no such order");
        let (Ok(mall_id), Ok(order_id)) = (MallId::parse(mall_id), OrderId::parse(order_id)) else {
            return Err(none());
        };
        let payment = self
            .app
            .payments
            .payment_by_order(&mall_id, &order_id)
            .await
            .map_err(|e| core_error("finding the order", e))?
            .ok_or_else(none)?;
        let cafe24 = self.app.store.cafe24_payment(&payment.id).await.map_err(store_error)?;
        match cafe24 {
            Some(c) if c.flow == Flow::External => Ok((payment, c)),
            _ => Err(none()),
        }
    }

    fn key_matches(cafe24: &Cafe24Payment, key: Option<&str>) -> bool {
        key.is_some_and(|k| bool::from(k.as_bytes().ct_eq(cafe24.status_key.as_bytes())))
    }

    fn items(cafe24: &Cafe24Payment) -> Vec<Value> {
        cafe24.external_order.as_deref().and_then(|o| serde_json::from_str(o).ok()).unwrap_or_default()
    }

    /// Cafe24's calculation of what the buyer pays, shipping included.
    async fn totals(
        &self,
        mall_id: &str,
        cafe24: &Cafe24Payment,
        country: Option<&str>,
    ) -> Result<ReviewTotals, String> {
        let items: Vec<CalculationItem> = Self::items(cafe24)
            .iter()
            .map(|i| CalculationItem {
                product_no: i["product_no"].as_i64().unwrap_or_default(),
                variant_code: i["variant_code"].as_str().unwrap_or_default().to_owned(),
                option_id: i["option_id"].as_str().map(str::to_owned),
                quantity: i["quantity"].as_i64().unwrap_or(1),
                product_price: text_of(&i["product_price"]).unwrap_or_default(),
                option_price: text_of(&i["option_price"]),
            })
            .collect();
        let api = &self.app.client.api;
        let shop_no = cafe24.shop_no;
        let calculation = self
            .app
            .client
            .with_token(mall_id, |token| {
                let items = items.clone();
                async move { api.calculate_order(mall_id, &token, shop_no, country, &items).await }
            })
            .await
            .map_err(|e| format!("Cafe24 could not calculate the total: {e}"))?;
        Ok(ReviewTotals {
            items: calculation.order_price_amount,
            discount: calculation.total_discount_amount.unwrap_or_else(|| "0".into()),
            shipping: calculation.shipping_fee,
            total: calculation.total_amount_due,
        })
    }
}

fn mask(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => format!("{first}{}", "*".repeat(chars.count())),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[async_trait::async_trait]
impl ReviewPort for ReviewService {
    async fn review(&self, mall_id: &str, order_id: &str, key: Option<&str>) -> Result<ReviewView, ReviewError> {
        let (payment, cafe24) = self.payment(mall_id, order_id).await?;
        let full = Self::key_matches(&cafe24, key);
        let currency = payment.amount.currency;
        let shop_name = self
            .app
            .store
            .admin_shops(mall_id)
            .await
            .map_err(store_error)?
            .into_iter()
            .find(|s| s.shop_no == cafe24.shop_no)
            .map(|s| s.shop_name)
            .unwrap_or_default();
        let items = Self::items(&cafe24)
            .iter()
            .map(|i| {
                let quantity = i["quantity"].as_i64().unwrap_or(1);
                let unit = signed_money(&text_of(&i["product_price"]).unwrap_or_default(), currency).unwrap_or(0)
                    + signed_money(&text_of(&i["option_price"]).unwrap_or_else(|| "0".into()), currency).unwrap_or(0);
                ReviewItem {
                    name: i["product_name"].as_str().unwrap_or("Product").to_owned(),
                    option: i["option_text"].as_str().filter(|o| !o.is_empty()).map(str::to_owned),
                    quantity,
                    unit_price: Money::new(unit, currency).to_major_string(),
                    line_total: Money::new(unit * quantity, currency).to_major_string(),
                }
            })
            .collect();
        // The address the PG holds (its wallet); the page works without it.
        let address = self.app.payments.gateway_order(&payment).await.ok().and_then(|o| o.shipping_address);
        let country = address.as_ref().map(|a| a.country_code.clone());
        let totals = self.totals(mall_id, &cafe24, country.as_deref()).await;
        let address = address.map(|a| ReviewAddress {
            name: if full { a.name } else { mask(&a.name) },
            lines: if full { a.lines } else { vec![mask(&a.lines.join(", "))] },
            city: a.city,
            country_code: a.country_code,
            masked: !full,
        });
        Ok(ReviewView {
            mall_id: payment.mall_id.to_string(),
            order_id: payment.order_id.to_string(),
            shop_name,
            currency: currency.code().to_owned(),
            items,
            address,
            totals,
            payable: payment.status == PaymentStatus::Request,
            status: payment.status.name().to_owned(),
        })
    }

    async fn pay(&self, action: OrderAction) -> Result<NextStep, ReviewError> {
        let (payment, cafe24) = self.payment(&action.mall_id, &action.order_id).await?;
        if action.key.is_some() && !Self::key_matches(&cafe24, action.key.as_deref()) {
            return Err(review_error(403, "this link is not for this order"));
        }
        let back = Some(mall_result_url(&payment, &cafe24, false));
        let with_back = |status: u16, message: String| ReviewError { status, message, redirect_url: back.clone() };
        if payment.status != PaymentStatus::Request {
            return Err(with_back(409, format!("the order is already {}", payment.status)));
        }
        let country = self
            .app
            .payments
            .gateway_order(&payment)
            .await
            .ok()
            .and_then(|o| o.shipping_address)
            .map(|a| a.country_code);
        let totals = self
            .totals(payment.mall_id.as_str(), &cafe24, country.as_deref())
            .await
            .map_err(|m| review_error(502, m))?;
        let total = Money::parse(&totals.total, payment.amount.currency)
            .map_err(|e| review_error(502, format!("Cafe24's total cannot be read: {e}")))?;
        match self.app.payments.settle_and_pay(&payment, total, "cafe24").await {
            Ok(redirect_url) => Ok(NextStep { message: "continue at the payment company".into(), redirect_url }),
            Err(PaymentError::GatewayRejected(why)) => {
                Err(with_back(502, format!("the payment company refused to take {total}: {why}; nothing was changed")))
            }
            Err(e @ (PaymentError::GatewayUnavailable(_) | PaymentError::GatewayProtocol(_))) => {
                Err(with_back(502, e.to_string()))
            }
            Err(PaymentError::Conflict(why)) => Err(with_back(409, why)),
            Err(PaymentError::NotLinked) => {
                Err(review_error(409, "the shop is no longer linked to the payment company"))
            }
            Err(PaymentError::NotOpened) => Err(review_error(409, "the order was never opened at the payment company")),
            Err(e) => Err(core_error("paying an external checkout", e)),
        }
    }

    async fn cancel(&self, action: OrderAction) -> Result<NextStep, ReviewError> {
        let (payment, cafe24) = self.payment(&action.mall_id, &action.order_id).await?;
        if !Self::key_matches(&cafe24, action.key.as_deref()) {
            return Err(review_error(403, "only the buyer's own link can cancel the order"));
        }
        let payment = self.app.payments.abandon(&payment).await.map_err(|e| core_error("abandoning an order", e))?;
        let success = payment.status.was_paid();
        Ok(NextStep { message: "back to the shop".into(), redirect_url: mall_result_url(&payment, &cafe24, success) })
    }
}

/// `POST /api/external-checkout/order/pay {mall_id, order_id}`
pub async fn order_pay(State(app): State<Cafe24Context>, body: Bytes) -> Response {
    let action = match request::strict_json(&body) {
        Ok(body) => serde_json::from_value::<OrderAction>(body).ok(),
        Err(e) => return e.for_storefront().into_response(),
    };
    let Some(action) = action else {
        return refused(StatusCode::BAD_REQUEST, "send {\"mall_id\", \"order_id\"}");
    };
    match ReviewService::new(app).pay(action).await {
        Ok(next) => {
            Json(json!({"bResult": true, "mData": {"message": next.message, "redirect_url": next.redirect_url}}))
                .into_response()
        }
        Err(e) => Cafe24Error::new(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY), e.message)
            .with("redirect_url", e.redirect_url)
            .for_storefront()
            .into_response(),
    }
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    reference_no: Option<String>,
}

/// `GET /api/external-checkout/order/callback?reference_no=…`: the PG sends the buyer
/// back; the PG is asked for the outcome, the payment noty is queued, and the buyer
/// goes to the mall's success or failure page.
pub async fn order_callback(State(app): State<Cafe24Context>, Query(q): Query<CallbackQuery>) -> Response {
    let (payment, cafe24) = match callback_payment(&app, Flow::External, q.reference_no).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    match verify_with_gateway(&app, &payment).await {
        Ok(payment) => {
            let target = mall_result_url(&payment, &cafe24, payment.status.was_paid());
            match Url::parse(&target) {
                Ok(url) => Redirect::to(url.as_str()).into_response(),
                Err(_) => super::checkout::buyer_error(StatusCode::BAD_GATEWAY, "The shop's address is not valid."),
            }
        }
        // Could not confirm: back to the mall's failure page, nothing changed.
        Err(message) => {
            tracing::warn!(payment_id = %payment.id, %message, "external callback not confirmed");
            Redirect::to(&mall_result_url(&payment, &cafe24, false)).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_cut_to_integers_as_php_does() {
        assert_eq!(php_int("1000.00"), Some(1000));
        assert_eq!(php_int("-200.50"), Some(-200));
        assert_eq!(php_int("1000.99"), Some(1000));
        assert_eq!(php_int("7"), Some(7));
        assert_eq!(php_int(".5"), Some(0));
        for bad in ["", "-", "1e3", "ten", "1.2.3", "."] {
            assert_eq!(php_int(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_reservation_hmac_signs_a_json_string_literal() {
        // PHP: base64_encode(hash_hmac('sha256', json_encode("1900" . "20220513-0000079" .
        // "1652409113" . "http://x.example/a/b", JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES),
        // "client" . "20220513-0000079", true))
        let hmac = reservation_hmac("client", "20220513-0000079", 1900, "1652409113", "http://x.example/a/b");
        let literal = "\"190020220513-00000791652409113http://x.example/a/b\"";
        assert_eq!(hmac, signature::sign("client20220513-0000079", &[literal]));
    }

    fn reserve(order: &[Value], response_time: &str, hmac: &str) -> Result<Basket, (StatusCode, String)> {
        let reservation =
            Reservation { order, order_id: "20220513-0000079", response_time, noty_url: "https://m.example/n", hmac };
        reservation.check("client", Currency::Krw, 1_652_409_113)
    }

    #[test]
    fn a_signed_fresh_basket_is_taken_at_its_exact_amount() {
        let order = [
            json!({"product_price": "1000.00", "option_price": "500", "quantity": 2}),
            json!({"product_price": "300", "quantity": "1"}),
        ];
        let hmac = reservation_hmac("client", "20220513-0000079", 3300, "1652409000", "https://m.example/n");
        let basket = reserve(&order, "1652409000", &hmac).unwrap();
        assert_eq!(
            (basket.amount, basket.signed_total, basket.items.len()),
            (Money::new(3300, Currency::Krw), 3300, 2)
        );
        assert_eq!(reserve(&order, "1652409000", "x").unwrap_err().0, StatusCode::UNAUTHORIZED);
    }

    #[test]
    fn a_basket_whose_total_does_not_fit_is_refused_not_wrapped() {
        // Each line fits in 64 bits, their sum does not: it overflowed (a panic in a debug
        // build, a wrapped amount in a release build) before the HMAC was looked at.
        let line = json!({"product_price": "999999999999999", "quantity": 9000});
        let refused = reserve(&[line.clone(), line], "1652409000", "any").unwrap_err();
        assert_eq!(refused, (StatusCode::UNPROCESSABLE_ENTITY, TOO_LARGE.to_owned()));
    }

    #[test]
    fn a_response_time_at_the_ends_of_i64_is_expired_not_an_overflow() {
        let order = [json!({"product_price": "1000", "quantity": 1})];
        for time in [i64::MIN, i64::MAX].map(|t| t.to_string()) {
            let hmac = reservation_hmac("client", "20220513-0000079", 1000, &time, "https://m.example/n");
            assert_eq!(reserve(&order, &time, &hmac).unwrap_err().0, StatusCode::UNAUTHORIZED, "{time}");
        }
    }
}
