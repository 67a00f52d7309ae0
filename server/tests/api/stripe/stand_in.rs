//! What the connector talks to in the tests (`STRIPE_API_BASE`): a recording server that
//! keeps every request the connector sends (to check against Stripe's SDK), answers
//! what localstripe lacks with bodies shaped like Stripe's documented objects — the
//! account, country specs and Checkout Sessions — and passes the rest to localstripe.
//! It also plays the buyer on the hosted pages (paying a session, registering a card),
//! against localstripe, and Stripe's faults (5xx, a hang, a revoked key).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    Router,
};
use serde_json::{json, Value};
use url::Url;

/// The key the stand-in answers 401 to, as Stripe does for a revoked key.
pub const REVOKED_KEY: &str = "sk_test_revoked_key_000";
/// Any other `sk_test_…` key works (localstripe takes any).
pub const KEY: &str = "sk_test_paybridge_contract";

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: String,
    pub idempotency_key: Option<String>,
    pub stripe_version: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Clone, Debug)]
pub enum Fault {
    /// Answers this status with Stripe's error object.
    Status(u16),
    /// Answers nothing for a minute (longer than the connector waits).
    Hang,
}

#[derive(Default)]
struct Inner {
    recorded: Vec<Recorded>,
    sessions: HashMap<String, Value>,
    /// Per session: what its PaymentIntent or SetupIntent is made with.
    intent_data: HashMap<String, Vec<(String, String)>>,
    faults: Vec<(Method, String, Fault)>,
    currencies: Vec<String>,
}

#[derive(Clone)]
pub struct StandIn {
    pub base: Url,
    localstripe: Url,
    inner: Arc<Mutex<Inner>>,
    http: reqwest::Client,
}

fn stripe_error(status: StatusCode, kind: &str, code: Option<&str>, message: &str) -> Response {
    let mut error = json!({"type": kind, "message": message});
    if let Some(code) = code {
        error["code"] = json!(code);
    }
    (status, axum::Json(json!({ "error": error }))).into_response()
}

fn form(body: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body.as_bytes()).into_owned().collect()
}

fn get<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}{}", &uuid::Uuid::new_v4().simple().to_string()[..24])
}

impl StandIn {
    pub async fn start() -> StandIn {
        let localstripe = super::tools::localstripe();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
        let inner = Inner {
            currencies: ["usd", "eur", "gbp", "jpy", "php", "aud", "cad", "sgd", "hkd"].map(String::from).to_vec(),
            ..Inner::default()
        };
        let stand_in = StandIn {
            base,
            localstripe,
            inner: Arc::new(Mutex::new(inner)),
            http: reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap(),
        };
        let app = Router::new().fallback(handle).with_state(stand_in.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        stand_in
    }

    /// Everything the connector sent so far.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.inner.lock().unwrap().recorded.clone()
    }

    /// The next `method` request whose path starts with `path` meets `fault`.
    pub fn fail_next(&self, method: Method, path: &str, fault: Fault) {
        self.inner.lock().unwrap().faults.push((method, path.to_owned(), fault));
    }

    pub fn session(&self, id: &str) -> Value {
        self.inner.lock().unwrap().sessions.get(id).cloned().unwrap_or_else(|| panic!("no session {id}"))
    }

    async fn localstripe_post(&self, path: &str, params: &[(String, String)]) -> Value {
        let response =
            self.http.post(self.localstripe.join(path).unwrap()).bearer_auth(KEY).form(params).send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert!(status.is_success(), "localstripe {path}: {status} {body}");
        body
    }

    async fn localstripe_get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let url = self.localstripe.join(path).unwrap();
        let response = self.http.get(url).bearer_auth(KEY).query(query).send().await.unwrap();
        response.json().await.unwrap()
    }

    /// A card at localstripe (`4242424242424242` pays; `4000000000000341` attaches but
    /// every charge is declined).
    pub async fn card(&self, number: &str) -> String {
        let params: Vec<(String, String)> = [
            ("type", "card"),
            ("card[number]", number),
            ("card[exp_month]", "12"),
            ("card[exp_year]", "2034"),
            ("card[cvc]", "123"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        self.localstripe_post("/v1/payment_methods", &params).await["id"].as_str().unwrap().to_owned()
    }

    /// The buyer pays a payment-mode session with `card` (for `amount`, when Stripe is to
    /// report another amount than the session's).
    pub async fn pay(&self, session_id: &str, card: &str, amount: Option<i64>) {
        let session = self.session(session_id);
        let pm = self.card(card).await;
        let mut params = self.inner.lock().unwrap().intent_data[session_id].clone();
        let amount = amount.unwrap_or_else(|| session["amount_total"].as_i64().unwrap());
        params.push(("amount".into(), amount.to_string()));
        params.push(("currency".into(), session["currency"].as_str().unwrap().to_owned()));
        params.push(("payment_method".into(), pm));
        params.push(("confirm".into(), "true".into()));
        let intent = self.localstripe_post("/v1/payment_intents", &params).await;
        let mut inner = self.inner.lock().unwrap();
        let session = inner.sessions.get_mut(session_id).unwrap();
        session["status"] = json!("complete");
        session["payment_status"] = json!(if intent["status"] == "succeeded" { "paid" } else { "unpaid" });
        session["payment_intent"] = intent["id"].clone();
    }

    /// The buyer registers `card` in a setup-mode session: Stripe confirms a SetupIntent
    /// and attaches the card to the session's customer.
    pub async fn register(&self, session_id: &str, card: &str) {
        let session = self.session(session_id);
        let customer = session["customer"].as_str().unwrap().to_owned();
        let pm = self.card(card).await;
        let mut params = self.inner.lock().unwrap().intent_data[session_id].clone();
        params.push(("customer".into(), customer.clone()));
        let setup = self.localstripe_post("/v1/setup_intents", &params).await;
        let id = setup["id"].as_str().unwrap().to_owned();
        self.localstripe_post(&format!("/v1/setup_intents/{id}/confirm"), &[("payment_method".into(), pm.clone())])
            .await;
        self.localstripe_post(&format!("/v1/payment_methods/{pm}/attach"), &[("customer".into(), customer)]).await;
        let mut inner = self.inner.lock().unwrap();
        let session = inner.sessions.get_mut(session_id).unwrap();
        session["status"] = json!("complete");
        session["setup_intent"] = json!(id);
    }

    /// A Stripe event about `object`, as Stripe sends it.
    pub fn event(kind: &str, object: Value) -> String {
        json!({
            "id": new_id("evt_"), "object": "event", "api_version": paybridge::gateway::stripe::STRIPE_VERSION,
            "created": paybridge::store::now_ms() / 1000, "livemode": false, "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null}, "type": kind, "data": {"object": object}
        })
        .to_string()
    }

    async fn checkout(&self, method: &Method, path: &str, query: &str, body: &str) -> Response {
        let rest = path.trim_start_matches("/v1/checkout/sessions");
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        match (method, segments.as_slice()) {
            (&Method::POST, []) => self.create_session(body),
            (&Method::GET, [id]) => match self.expanded_session(id, query).await {
                Some(session) => axum::Json(session).into_response(),
                None => missing(id),
            },
            (&Method::POST, [id, "expire"]) => {
                let mut inner = self.inner.lock().unwrap();
                let Some(session) = inner.sessions.get_mut(*id) else { return missing(id) };
                if session["status"] != "open" {
                    let message = format!("Only Checkout Sessions with a status in [\"open\"] can be expired. This Checkout Session has a status of \"{}\".", session["status"].as_str().unwrap_or_default());
                    return stripe_error(StatusCode::BAD_REQUEST, "invalid_request_error", None, &message);
                }
                session["status"] = json!("expired");
                axum::Json(session.clone()).into_response()
            }
            _ => missing(path),
        }
    }

    fn create_session(&self, body: &str) -> Response {
        let p = form(body);
        let id = new_id("cs_test_");
        let mode = get(&p, "mode").unwrap_or_default().to_owned();
        let mut session = json!({
            "id": id, "object": "checkout.session", "mode": mode, "status": "open", "payment_status": "unpaid",
            "client_reference_id": get(&p, "client_reference_id"), "customer": get(&p, "customer"),
            "success_url": get(&p, "success_url"), "cancel_url": get(&p, "cancel_url"),
            "url": format!("{}pay/{id}", self.base), "payment_intent": null, "setup_intent": null,
            "amount_total": null, "amount_subtotal": null, "currency": null, "livemode": false,
            "created": paybridge::store::now_ms() / 1000, "expires_at": paybridge::store::now_ms() / 1000 + 86400,
            "metadata": {}
        });
        let mut intent_data = Vec::new();
        for (key, value) in &p {
            if let Some(meta) = key.strip_prefix("metadata[").and_then(|k| k.strip_suffix(']')) {
                session["metadata"][meta] = json!(value);
            }
            for prefix in ["payment_intent_data[", "setup_intent_data["] {
                if let Some(inner) = key.strip_prefix(prefix) {
                    // payment_intent_data[metadata][k] → metadata[k]; [capture_method] → capture_method
                    let inner = inner.replacen(']', "", 1);
                    intent_data.push((inner, value.clone()));
                }
            }
        }
        if mode == "payment" {
            let unit: i64 = get(&p, "line_items[0][price_data][unit_amount]").and_then(|v| v.parse().ok()).unwrap_or(0);
            let quantity: i64 = get(&p, "line_items[0][quantity]").and_then(|v| v.parse().ok()).unwrap_or(1);
            session["amount_total"] = json!(unit * quantity);
            session["amount_subtotal"] = json!(unit * quantity);
            session["currency"] = json!(get(&p, "line_items[0][price_data][currency]"));
        }
        let mut inner = self.inner.lock().unwrap();
        inner.intent_data.insert(id.clone(), intent_data);
        inner.sessions.insert(id, session.clone());
        axum::Json(session).into_response()
    }

    async fn expanded_session(&self, id: &str, query: &str) -> Option<Value> {
        let mut session = self.inner.lock().unwrap().sessions.get(id).cloned()?;
        let expand: Vec<String> =
            form(query).into_iter().filter(|(k, _)| k.starts_with("expand")).map(|(_, v)| v).collect();
        if expand.iter().any(|e| e == "payment_intent") {
            if let Some(pi) = session["payment_intent"].as_str().map(str::to_owned) {
                session["payment_intent"] = self.localstripe_get(&format!("/v1/payment_intents/{pi}"), &[]).await;
            }
        }
        if expand.iter().any(|e| e.starts_with("setup_intent")) {
            if let Some(si) = session["setup_intent"].as_str().map(str::to_owned) {
                let nested = expand.iter().any(|e| e == "setup_intent.payment_method");
                let query: &[(&str, &str)] = if nested { &[("expand[]", "payment_method")] } else { &[] };
                session["setup_intent"] = self.localstripe_get(&format!("/v1/setup_intents/{si}"), query).await;
            }
        }
        Some(session)
    }

    async fn proxy(&self, method: Method, path: &str, query: &str, body: &str, headers: &HeaderMap) -> Response {
        let mut url = self.localstripe.join(path).unwrap();
        if !query.is_empty() {
            url.set_query(Some(query));
        }
        // localstripe does not implement these PaymentIntent parameters (they are checked
        // against Stripe's SDK with the rest of the request).
        let body: String = if path == "/v1/payment_intents" {
            let kept: Vec<(String, String)> = form(body)
                .into_iter()
                .filter(|(k, _)| !k.starts_with("automatic_payment_methods[") && k != "description")
                .collect();
            url::form_urlencoded::Serializer::new(String::new()).extend_pairs(kept).finish()
        } else {
            body.to_owned()
        };
        let mut request = self.http.request(method, url).body(body);
        for name in ["authorization", "content-type"] {
            if let Some(value) = headers.get(name) {
                request = request.header(name, value.clone());
            }
        }
        let response = request.send().await.unwrap();
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let bytes = response.bytes().await.unwrap();
        (status, [("content-type", "application/json")], bytes).into_response()
    }
}

fn missing(what: &str) -> Response {
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        Some("resource_missing"),
        &format!("No such object: '{what}'"),
    )
}

async fn handle(State(s): State<StandIn>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or_default().to_owned();
    let body = String::from_utf8_lossy(&body).into_owned();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let authorization = header("authorization");
    let fault = {
        let mut inner = s.inner.lock().unwrap();
        inner.recorded.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            body: body.clone(),
            idempotency_key: header("idempotency-key"),
            stripe_version: header("stripe-version"),
            authorization: authorization.clone(),
        });
        let at = inner.faults.iter().position(|(m, p, _)| *m == method && path.starts_with(p.as_str()));
        at.map(|i| inner.faults.remove(i).2)
    };
    match fault {
        Some(Fault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap();
            return stripe_error(status, "api_error", None, "Something went wrong on Stripe's end.");
        }
        Some(Fault::Hang) => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            return StatusCode::GATEWAY_TIMEOUT.into_response();
        }
        None => {}
    }
    if authorization.as_deref() == Some(&format!("Bearer {REVOKED_KEY}")) {
        return stripe_error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            Some("api_key_expired"),
            "Expired API Key provided: sk_test_*****_000",
        );
    }
    match (&method, path.as_str()) {
        (&Method::GET, "/v1/account") => axum::Json(json!({
            "id": "acct_paybridge_contract", "object": "account", "country": "US", "default_currency": "usd",
            "charges_enabled": true, "payouts_enabled": true, "type": "standard"
        }))
        .into_response(),
        (&Method::GET, "/v1/country_specs/US") => {
            let currencies = s.inner.lock().unwrap().currencies.clone();
            axum::Json(json!({
                "id": "US", "object": "country_spec", "default_currency": "usd",
                "supported_payment_currencies": currencies, "supported_payment_methods": ["card"]
            }))
            .into_response()
        }
        (_, p) if p.starts_with("/v1/checkout/sessions") => s.checkout(&method, &path, &query, &body).await,
        _ => s.proxy(method, &path, &query, &body, &headers).await,
    }
}
