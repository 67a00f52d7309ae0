//! What our serde types read and what our status mappings cover, held against Stripe's
//! SDK; webhook signatures made by the SDK's own code; and the SDK check itself shown to
//! catch a misspelt field.

use paybridge::{
    domain::{CaptureMethod, Currency, Money},
    gateway::{
        stripe::{transformers::*, webhook, StripeGateway, STRIPE_VERSION},
        CheckoutMode, CheckoutRequest, Finalization, OrderStatus, PaymentGateway, WebhookError,
    },
};
use serde::de::{self, Visitor};
use serde_json::{json, Value};

use super::{
    connector::credentials,
    stand_in::KEY,
    tools::{sdk, sdk_signature},
    WEBHOOK_SECRET,
};

/// Reads the field names a `Deserialize` type asks for (serde hands them to the
/// deserializer), without any data.
struct FieldNames(Option<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for &mut FieldNames {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0 = Some(fields);
        Err(de::Error::custom("read"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
        unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

fn fields_of<T: de::DeserializeOwned>() -> Vec<&'static str> {
    let mut names = FieldNames(None);
    let _ = T::deserialize(&mut names);
    names.0.expect("a struct").to_vec()
}

/// Every JSON field the connector reads, by Stripe object. A rename shows here in review,
/// and each is checked against the SDK's class for that object.
fn fields_read() -> Vec<(&'static str, &'static str, Vec<&'static str>, &'static [&'static str])> {
    vec![
        ("Account", "stripe.Account", fields_of::<Account>(), &["id", "country", "default_currency"]),
        ("CountrySpec", "stripe.CountrySpec", fields_of::<CountrySpec>(), &["id", "supported_payment_currencies"]),
        (
            "CheckoutSession",
            "stripe.checkout.Session",
            fields_of::<CheckoutSession>(),
            &[
                "id",
                "mode",
                "status",
                "client_reference_id",
                "amount_total",
                "currency",
                "payment_intent",
                "setup_intent",
                "url",
            ],
        ),
        (
            "PaymentIntent",
            "stripe.PaymentIntent",
            fields_of::<PaymentIntent>(),
            &[
                "id",
                "status",
                "amount",
                "amount_received",
                "currency",
                "capture_method",
                "cancellation_reason",
                "last_payment_error",
                "metadata",
            ],
        ),
        (
            "LastPaymentError",
            "stripe.PaymentIntent.LastPaymentError",
            fields_of::<LastPaymentError>(),
            &["code", "message"],
        ),
        (
            "SetupIntent",
            "stripe.SetupIntent",
            fields_of::<SetupIntent>(),
            &["id", "status", "customer", "payment_method", "metadata"],
        ),
        ("PaymentMethod", "stripe.PaymentMethod", fields_of::<PaymentMethod>(), &["id", "customer", "card"]),
        ("Card", "stripe.PaymentMethod.Card", fields_of::<Card>(), &["brand", "last4", "exp_month", "exp_year"]),
        (
            "Refund",
            "stripe.Refund",
            fields_of::<Refund>(),
            &["id", "status", "amount", "currency", "payment_intent", "failure_reason", "metadata"],
        ),
        ("Customer", "stripe.Customer", fields_of::<Customer>(), &["id"]),
        ("Charge", "stripe.Charge", fields_of::<Charge>(), &["id", "payment_intent"]),
        ("List", "stripe.ListObject", fields_of::<List<Refund>>(), &["data", "has_more"]),
        (
            "ErrorObject",
            "stripe._error_object.ErrorObject",
            fields_of::<ErrorObject>(),
            &["type", "code", "decline_code", "message", "param", "payment_intent", "charge"],
        ),
        ("Event", "stripe.Event", fields_of::<Event>(), &["id", "type", "data"]),
        ("EventData", "stripe.Event.Data", fields_of::<EventData>(), &["object"]),
    ]
}

#[test]
fn every_field_our_types_read_is_listed_and_is_a_field_of_stripes_objects() {
    let read = fields_read();
    for (rust, _, actual, listed) in &read {
        assert_eq!(actual, listed, "the fields {rust} reads changed: update this list (and check the rename)");
    }
    let objects: Vec<Value> =
        read.iter().map(|(rust, sdk, fields, _)| json!({"rust": rust, "sdk": sdk, "fields": fields})).collect();
    let report = sdk("fields", &json!({ "objects": objects }));
    let wrong: Vec<&Value> = report.as_array().unwrap().iter().filter(|r| r["errors"] != json!([])).collect();
    assert!(wrong.is_empty(), "fields Stripe's objects do not have: {wrong:#?}");
    // The check catches a wrong name.
    let misspelt = sdk(
        "fields",
        &json!({"objects": [{"rust": "x", "sdk": "stripe.PaymentIntent", "fields": ["amount_recieved"]}]}),
    );
    assert_ne!(misspelt[0]["errors"], json!([]));
}

fn intent_with(status: &str, reason: Option<&str>) -> PaymentIntent {
    serde_json::from_value(json!({
        "id": "pi_1", "status": status, "amount": 1, "currency": "usd", "cancellation_reason": reason,
        "metadata": {"paybridge_payment": "pay_1"}
    }))
    .unwrap()
}

#[test]
fn every_status_stripes_sdk_lists_is_mapped_explicitly() {
    let statuses = sdk("statuses", &json!(null));
    let listed = |field: &str| -> Vec<String> {
        let mut v: Vec<String> = serde_json::from_value(statuses[field].clone()).unwrap();
        v.sort();
        v
    };
    use OrderStatus::*;
    let intents = [
        ("canceled", Voided),
        ("processing", Open),
        ("requires_action", Open),
        ("requires_capture", Authorized),
        ("requires_confirmation", Open),
        ("requires_payment_method", Open),
        ("succeeded", Paid),
    ];
    assert_eq!(listed("payment_intent.status"), intents.iter().map(|(s, _)| s.to_string()).collect::<Vec<_>>());
    for (status, ours) in intents {
        assert_eq!(intent_status(&intent_with(status, None), Attempts::Once), ours, "{status}");
    }
    let reasons = [
        ("abandoned", Voided),
        ("automatic", AuthorizationExpired),
        ("duplicate", Voided),
        ("expired", AuthorizationExpired),
        ("failed_invoice", Voided),
        ("fraudulent", Voided),
        ("requested_by_customer", Voided),
        ("void_invoice", Voided),
    ];
    assert_eq!(
        listed("payment_intent.cancellation_reason"),
        reasons.iter().map(|(s, _)| s.to_string()).collect::<Vec<_>>()
    );
    for (reason, ours) in reasons {
        assert_eq!(intent_status(&intent_with("canceled", Some(reason)), Attempts::Once), ours, "{reason}");
    }
    assert_eq!(listed("checkout.session.status"), ["complete", "expired", "open"]);
    assert_eq!(
        listed("setup_intent.status"),
        ["canceled", "processing", "requires_action", "requires_confirmation", "requires_payment_method", "succeeded"]
    );
}

#[test]
fn the_pinned_api_version_is_the_one_stripes_sdk_is_made_for() {
    assert_eq!(sdk("version", &json!(null))["version"], STRIPE_VERSION);
}

#[test]
fn the_sdk_check_refuses_a_misspelt_field_at_any_depth() {
    let request = CheckoutRequest {
        reference: "pay_1".into(),
        amount: Money::new(1000, Currency::Jpy),
        description: None,
        merchant_name: None,
        callback_url: "http://127.0.0.1:9/cb".parse().unwrap(),
        webhook_url: None,
        mode: CheckoutMode::Redirect,
        allow_deposit: false,
        capture: CaptureMethod::Manual,
        finalization: Finalization::Webhook,
    };
    let params = checkout_session_params(&request);
    let body = |params: &Params| url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    let check = |params: &Params| {
        let requests = json!({"requests": [{"method": "POST", "path": "/v1/checkout/sessions", "body": body(params)}]});
        sdk("requests", &requests)[0]["errors"].clone()
    };
    assert_eq!(check(&params), json!([]));
    for (from, to) in [
        ("payment_intent_data[capture_method]", "payment_intent_data[capture_methods]"),
        ("line_items[0][price_data][product_data][name]", "line_items[0][price_data][product_data][title]"),
        ("client_reference_id", "client_reference"),
        ("line_items[0][price_data][unit_amount]", "line_items[0][price_data][unit_amount_cents]"),
    ] {
        let misspelt: Params =
            params.iter().map(|(k, v)| (if k == from { to.to_owned() } else { k.clone() }, v.clone())).collect();
        assert_ne!(check(&misspelt), json!([]), "{to} passed");
    }
    let not_a_number: Params = params
        .iter()
        .map(|(k, v)| (k.clone(), if k.ends_with("[unit_amount]") { "10.5".into() } else { v.clone() }))
        .collect();
    assert_ne!(check(&not_a_number), json!([]));
}

#[tokio::test]
async fn webhook_signatures_made_by_stripes_sdk_are_accepted_and_changed_ones_refused() {
    let stripe = StripeGateway::new("http://127.0.0.1:9".parse().unwrap(), reqwest::Client::new());
    let creds = credentials(KEY);
    let body =
        super::stand_in::StandIn::event("payment_intent.succeeded", json!({"object": "payment_intent", "id": "pi_1"}));
    let now = paybridge::store::now_ms() / 1000;
    let verify = |header: &str, body: &str, secret: Option<&str>| {
        let mut headers = http::HeaderMap::new();
        headers.insert(webhook::SIGNATURE_HEADER, header.parse().unwrap());
        let creds =
            paybridge::domain::MerchantCredentials { webhook_secret: secret.map(str::to_owned), ..creds.clone() };
        stripe.verify_webhook(&creds, &headers, body.as_bytes())
    };
    let signed = sdk_signature(&body, WEBHOOK_SECRET, now);
    assert_eq!(signed, webhook::sign(WEBHOOK_SECRET, now, body.as_bytes()), "we sign as the SDK does");
    assert!(matches!(verify(&signed, &body, Some(WEBHOOK_SECRET)), Ok(None)), "accepted, and the body left to Stripe");

    let mut changed = body.clone().into_bytes();
    let at = changed.iter().position(|b| *b == b'1').unwrap();
    changed[at] = b'2';
    let changed = String::from_utf8(changed).unwrap();
    let old = sdk_signature(&body, WEBHOOK_SECRET, now - webhook::TOLERANCE_SECS - 5);
    let v0_only = signed.replace(",v1=", ",v0=");
    let other_secret = sdk_signature(&body, "whsec_someone_else", now);
    for (what, header, body, secret) in [
        ("a changed byte", signed.as_str(), changed.as_str(), Some(WEBHOOK_SECRET)),
        ("an old t", old.as_str(), body.as_str(), Some(WEBHOOK_SECRET)),
        ("a v0-only header", v0_only.as_str(), body.as_str(), Some(WEBHOOK_SECRET)),
        ("a wrong secret", other_secret.as_str(), body.as_str(), Some(WEBHOOK_SECRET)),
        ("no secret linked", signed.as_str(), body.as_str(), None),
    ] {
        assert!(matches!(verify(header, body, secret), Err(WebhookError::BadSignature)), "{what} passed");
    }
    let unsigned = stripe.verify_webhook(&creds, &http::HeaderMap::new(), body.as_bytes());
    assert!(matches!(unsigned, Err(WebhookError::BadSignature)), "Stripe always signs");
}
