//! The demo mall's "saved cards" page (SPEC §8.3, §8.5): a store that uses paybridge's
//! Store API the way any shop system would — over HTTP, from its server side, with its key
//! (`SANDBOX_API_KEY`). The buyer saves a card on the sandbox PG's page and comes back,
//! sees and deletes their cards, lets the shop charge an `off_session` card, sets a PIN and
//! pays with a saved card after entering the PIN. The PIN never leaves the browser in
//! clear: the page encrypts it with WebCrypto to paybridge's published key as a JWE
//! (`ECDH-ES`, Concat KDF, `A256GCM`, `kid` in the protected header), and the shop only
//! forwards what it cannot read.

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Json, Router,
};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{html_escape, page, SandboxContext as AppState};

/// The shop's signed-in customer on this page.
const CUSTOMER: &str = "demobuyer";
/// What the page charges, PHP minor units.
const AMOUNT: i64 = 15_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/demo-mall/store/cards", get(cards_page))
        .route("/demo-mall/store/cards/register", post(register))
        .route("/demo-mall/store/cards/delete", post(delete))
        .route("/demo-mall/store/cards/charge", post(charge))
        .route("/demo-mall/store/cards/pin-key", get(pin_key))
        .route("/demo-mall/store/cards/pin", post(set_pin))
        .route("/demo-mall/store/cards/pay-with-pin", post(pay_with_pin))
}

/// A Store API answer: its status and JSON body.
struct Answer {
    status: StatusCode,
    body: Value,
}

impl Answer {
    fn ok(&self) -> bool {
        self.status.is_success()
    }

    /// The error's message and code, or the status.
    fn problem(&self) -> String {
        match (self.body["error"]["message"].as_str(), self.body["error"]["code"].as_str()) {
            (Some(message), Some(code)) => format!("{message} ({code})"),
            _ => format!("HTTP {}", self.status),
        }
    }
}

/// The shop's server calling paybridge's Store API with its key; every POST with a fresh
/// Idempotency-Key (a real shop would keep it to send the same request again).
async fn store_api(
    app: &AppState,
    method: reqwest::Method,
    path: &str,
    body: Option<&Value>,
) -> Result<Answer, String> {
    let mut request = app.http.request(method.clone(), app.url(path)).bearer_auth(&app.store_api_key);
    if method == reqwest::Method::POST {
        request = request.header("Idempotency-Key", uuid::Uuid::new_v4().to_string());
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.map_err(|e| format!("could not reach paybridge: {}", e.without_url()))?;
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Ok(Answer { status, body })
}

#[derive(Deserialize, Default)]
struct Shown {
    /// Back from a registration: `registrationId` with `tokenId` (saved) or `code` (not).
    #[serde(rename = "tokenId")]
    token_id: Option<String>,
    code: Option<String>,
    /// What the last action said.
    note: Option<String>,
    bad: Option<String>,
}

fn back_with(key: &str, message: &str) -> Response {
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair(key, message).finish();
    Redirect::to(&format!("/demo-mall/store/cards?{query}")).into_response()
}

async fn cards_page(State(app): State<AppState>, Query(shown): Query<Shown>) -> Response {
    let path = format!("/api/v2/customers/{CUSTOMER}/tokens");
    let cards = match store_api(&app, reqwest::Method::GET, &path, None).await {
        Ok(answer) if answer.ok() => answer.body["data"].as_array().cloned().unwrap_or_default(),
        // A customer the shop has not sent to paybridge yet has no cards.
        Ok(answer) if answer.status == StatusCode::NOT_FOUND => Vec::new(),
        Ok(answer) => return error_page(&answer.problem()),
        Err(message) => return error_page(&message),
    };
    let notice = match (&shown.token_id, &shown.code, &shown.note, &shown.bad) {
        (Some(_), _, _, _) => "<p class=\"ok\" data-testid=\"notice\">Your card is saved.</p>".to_owned(),
        (_, Some(code), _, _) => {
            format!("<p class=\"bad\" data-testid=\"notice\">The card was not saved ({}).</p>", html_escape(code))
        }
        (_, _, Some(note), _) => format!("<p class=\"ok\" data-testid=\"notice\">{}</p>", html_escape(note)),
        (_, _, _, Some(bad)) => format!("<p class=\"bad\" data-testid=\"notice\">{}</p>", html_escape(bad)),
        _ => String::new(),
    };
    let rows: String = cards
        .iter()
        .map(|card| {
            let id = html_escape(card["id"].as_str().unwrap_or_default());
            let usage = card["usage"].as_str().unwrap_or_default();
            let charge = if usage == "off_session" {
                format!(
                    "<form class=\"inline\" method=\"post\" action=\"/demo-mall/store/cards/charge\">\
                     <input type=\"hidden\" name=\"token_id\" value=\"{id}\">\
                     <button type=\"submit\" data-testid=\"charge\">Charge {amount} (the shop, without you)</button></form>",
                    amount = amount_text(),
                )
            } else {
                String::new()
            };
            format!(
                "<tr data-testid=\"card\" data-token=\"{id}\"><td data-testid=\"card-brand\">{brand}</td>\
                 <td data-testid=\"card-last4\">••••&nbsp;{last4}</td><td>{month:02}/{year}</td><td>{usage}</td><td>{charge}\
                 <form class=\"inline\" method=\"post\" action=\"/demo-mall/store/cards/delete\">\
                 <input type=\"hidden\" name=\"token_id\" value=\"{id}\">\
                 <button type=\"submit\" data-testid=\"delete\">Delete</button></form></td></tr>",
                brand = html_escape(card["card"]["brand"].as_str().unwrap_or_default()),
                last4 = html_escape(card["card"]["last4"].as_str().unwrap_or_default()),
                month = card["card"]["expMonth"].as_u64().unwrap_or_default(),
                year = card["card"]["expYear"].as_u64().unwrap_or_default(),
                usage = html_escape(usage),
            )
        })
        .collect();
    let options: String = cards
        .iter()
        .map(|card| {
            format!(
                "<option value=\"{}\">{} •••• {}</option>",
                html_escape(card["id"].as_str().unwrap_or_default()),
                html_escape(card["card"]["brand"].as_str().unwrap_or_default()),
                html_escape(card["card"]["last4"].as_str().unwrap_or_default()),
            )
        })
        .collect();
    let list = if cards.is_empty() {
        "<p class=\"muted\" data-testid=\"no-cards\">No saved cards yet.</p>".to_owned()
    } else {
        format!("<table data-testid=\"cards\"><tr><th>Card</th><th></th><th>Expires</th><th>Use</th><th></th></tr>{rows}</table>")
    };
    let body = format!(
        "<p class=\"muted\"><a href=\"/demo-mall/\">Tindahan</a> — a shop on paybridge's Store API (its server \
         calls <code>/api/v2/…</code> with its key)</p><h1>Saved cards</h1>\
         <p class=\"muted\">Signed in as <strong>{CUSTOMER}</strong>.</p>{notice}\
         <div class=\"box\"><h2>Your cards</h2>{list}\
         <form method=\"post\" action=\"/demo-mall/store/cards/register\">\
         <label><input type=\"checkbox\" name=\"off_session\" value=\"1\" data-testid=\"off-session\" checked> \
         The shop may charge this card later without me (off_session)</label>\
         <button type=\"submit\" class=\"primary\" data-testid=\"add-card\">Add a card</button></form></div>\
         <div class=\"box\"><h2>PIN</h2><p class=\"muted\">Six digits, not all the same and not a run such as 123456. \
         Your browser encrypts it for paybridge; this shop never sees it.</p>\
         <label>Current PIN (to change it) <input type=\"password\" inputmode=\"numeric\" maxlength=\"6\" \
         data-testid=\"pin-current\" id=\"pin-current\" autocomplete=\"off\"></label>\
         <label>New PIN <input type=\"password\" inputmode=\"numeric\" maxlength=\"6\" data-testid=\"pin-new\" \
         id=\"pin-new\" autocomplete=\"off\"></label>\
         <button type=\"button\" data-testid=\"set-pin\" id=\"set-pin\">Set PIN</button>\
         <p data-testid=\"pin-result\" id=\"pin-result\"></p></div>\
         <div class=\"box\"><h2>Pay {amount} with a saved card</h2>\
         <label>Card <select data-testid=\"pay-card\" id=\"pay-card\">{options}</select></label>\
         <label>PIN <input type=\"password\" inputmode=\"numeric\" maxlength=\"6\" data-testid=\"pay-pin\" \
         id=\"pay-pin\" autocomplete=\"off\"></label>\
         <button type=\"button\" class=\"primary\" data-testid=\"pay-with-pin\" id=\"pay-with-pin\">Pay</button>\
         <p data-testid=\"pay-result\" id=\"pay-result\"></p></div>\
         <script>{PIN_SCRIPT}</script>",
        amount = amount_text(),
    );
    Html(page("Demo mall — saved cards", &body)).into_response()
}

fn amount_text() -> String {
    crate::domain::Money::new(AMOUNT, super::provision::DEMO_CURRENCY).to_string()
}

fn error_page(message: &str) -> Response {
    let body = format!(
        "<h1>Saved cards</h1><p class=\"bad\" data-testid=\"error\">{}</p><p><a href=\"/demo-mall/\">Back to the shop</a></p>",
        html_escape(message)
    );
    (StatusCode::BAD_GATEWAY, Html(page("Demo mall — saved cards", &body))).into_response()
}

#[derive(Deserialize)]
struct RegisterForm {
    off_session: Option<String>,
}

/// Opens a registration and sends the buyer to the PG's page.
async fn register(State(app): State<AppState>, Form(form): Form<RegisterForm>) -> Response {
    let back = app.url("/demo-mall/store/cards").to_string();
    let usage = if form.off_session.is_some() { "off_session" } else { "on_session" };
    let body = json!({"customerId": CUSTOMER, "successUrl": back, "failUrl": back, "usage": usage});
    match store_api(&app, reqwest::Method::POST, "/api/v2/tokens/registrations", Some(&body)).await {
        Ok(answer) if answer.ok() => match answer.body["registrationUrl"].as_str() {
            Some(url) => Redirect::to(url).into_response(),
            None => back_with("bad", "paybridge sent no registration page"),
        },
        Ok(answer) => back_with("bad", &answer.problem()),
        Err(message) => back_with("bad", &message),
    }
}

#[derive(Deserialize)]
struct CardForm {
    token_id: String,
}

async fn delete(State(app): State<AppState>, Form(form): Form<CardForm>) -> Response {
    let Some(id) = Some(form.token_id.as_str()).filter(|id| id.starts_with("tok_") && id.len() <= 40) else {
        return back_with("bad", "no such card");
    };
    match store_api(&app, reqwest::Method::DELETE, &format!("/api/v2/tokens/{id}"), None).await {
        Ok(answer) if answer.ok() => back_with("note", "The card is deleted."),
        Ok(answer) => back_with("bad", &answer.problem()),
        Err(message) => back_with("bad", &message),
    }
}

fn order_id() -> String {
    format!("C-{}", &uuid::Uuid::new_v4().simple().to_string()[..12])
}

fn payment_note(payment: &Value) -> String {
    format!(
        "Payment {} is {} ({}).",
        payment["id"].as_str().unwrap_or_default(),
        payment["status"].as_str().unwrap_or_default(),
        payment["failure"]["code"].as_str().unwrap_or("paid")
    )
}

/// The shop charges an `off_session` card without the customer (merchant-initiated).
async fn charge(State(app): State<AppState>, Form(form): Form<CardForm>) -> Response {
    let body = json!({
        "tokenId": form.token_id, "amount": AMOUNT, "currency": super::provision::DEMO_CURRENCY.code(),
        "orderId": order_id(), "orderName": "Monthly coffee box", "initiator": "merchant",
    });
    match store_api(&app, reqwest::Method::POST, "/api/v2/token-payments", Some(&body)).await {
        Ok(answer) if answer.ok() => back_with("note", &payment_note(&answer.body)),
        Ok(answer) => back_with("bad", &answer.problem()),
        Err(message) => back_with("bad", &message),
    }
}

fn json_answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn json_problem(message: &str) -> Response {
    json_answer(StatusCode::BAD_GATEWAY, json!({"error": message}))
}

/// paybridge's PIN key (`GET /api/v2/pin/public-key`), for the page to encrypt to.
async fn pin_key(State(app): State<AppState>) -> Response {
    match store_api(&app, reqwest::Method::GET, "/api/v2/pin/public-key", None).await {
        Ok(answer) if answer.ok() => {
            json_answer(StatusCode::OK, json!({"kid": answer.body["kid"], "jwk": answer.body["jwk"]}))
        }
        Ok(answer) => json_problem(&answer.problem()),
        Err(message) => json_problem(&message),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SetPin {
    encrypted_pin: String,
    /// The current PIN, encrypted too, when one is being replaced.
    current_pin: Option<String>,
}

/// Sets the customer's PIN; a PIN being replaced is verified first (its verification
/// token authorizes the change).
async fn set_pin(State(app): State<AppState>, Json(request): Json<SetPin>) -> Response {
    let mut body = json!({"encryptedPin": request.encrypted_pin});
    if let Some(current) = request.current_pin {
        match verify_pin(&app, &current).await {
            Ok(token) => body["verificationToken"] = json!(token),
            Err(problem) => return problem,
        }
    }
    let path = format!("/api/v2/customers/{CUSTOMER}/pin");
    match store_api(&app, reqwest::Method::POST, &path, Some(&body)).await {
        Ok(answer) if answer.ok() => json_answer(StatusCode::OK, json!({"message": "Your PIN is set."})),
        Ok(answer) => json_answer(StatusCode::UNPROCESSABLE_ENTITY, json!({"error": answer.problem()})),
        Err(message) => json_problem(&message),
    }
}

/// The customer's PIN checked by paybridge: a single-use verification token.
async fn verify_pin(app: &AppState, encrypted_pin: &str) -> Result<String, Response> {
    let path = format!("/api/v2/customers/{CUSTOMER}/pin/verify");
    match store_api(app, reqwest::Method::POST, &path, Some(&json!({"encryptedPin": encrypted_pin}))).await {
        Ok(answer) if answer.ok() => answer.body["verificationToken"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| json_problem("paybridge sent no verification token")),
        Ok(answer) => Err(json_answer(StatusCode::UNPROCESSABLE_ENTITY, json!({"error": answer.problem()}))),
        Err(message) => Err(json_problem(&message)),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PayWithPin {
    token_id: String,
    encrypted_pin: String,
}

/// The customer pays with a saved card: their PIN verified, then the payment with its
/// verification token (customer-initiated).
async fn pay_with_pin(State(app): State<AppState>, Json(request): Json<PayWithPin>) -> Response {
    let verification = match verify_pin(&app, &request.encrypted_pin).await {
        Ok(token) => token,
        Err(problem) => return problem,
    };
    let body = json!({
        "tokenId": request.token_id, "amount": AMOUNT, "currency": super::provision::DEMO_CURRENCY.code(),
        "orderId": order_id(), "orderName": "Coffee beans", "initiator": "customer",
        "pinVerificationToken": verification,
    });
    match store_api(&app, reqwest::Method::POST, "/api/v2/token-payments", Some(&body)).await {
        Ok(answer) if answer.ok() => json_answer(
            StatusCode::OK,
            json!({"message": payment_note(&answer.body), "status": answer.body["status"], "paymentId": answer.body["id"]}),
        ),
        Ok(answer) => json_answer(StatusCode::UNPROCESSABLE_ENTITY, json!({"error": answer.problem()})),
        Err(message) => json_problem(&message),
    }
}

/// The page's PIN handling: the PIN is encrypted in the browser (WebCrypto) to paybridge's
/// key as a JWE compact serialization — `ECDH-ES` with an ephemeral P-256 key, the content
/// key from the Concat KDF of RFC 7518 §4.6.2 (SHA-256; AlgorithmID `A256GCM`, no PartyU/V
/// info, 256 bits), `A256GCM` over the six ASCII digits with the protected header as AAD.
/// `window.paybridgeDemo.encryptPin(pin, key)` is what the browser test checks.
const PIN_SCRIPT: &str = r#"
(function () {
  const utf8 = (s) => new TextEncoder().encode(s);
  const b64u = (bytes) => {
    let s = '';
    for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };
  const u32 = (n) => new Uint8Array([(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  async function encryptPin(pin, key) {
    const jwk = { kty: key.jwk.kty, crv: key.jwk.crv, x: key.jwk.x, y: key.jwk.y };
    const recipient = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDH', namedCurve: 'P-256' }, false, []);
    const ephemeral = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
    const z = new Uint8Array(await crypto.subtle.deriveBits({ name: 'ECDH', public: recipient }, ephemeral.privateKey, 256));
    const epk = await crypto.subtle.exportKey('jwk', ephemeral.publicKey);
    const header = { alg: 'ECDH-ES', enc: 'A256GCM', kid: key.kid, epk: { kty: 'EC', crv: 'P-256', x: epk.x, y: epk.y } };
    const algorithm = utf8('A256GCM');
    const otherInfo = concat(u32(algorithm.length), algorithm, u32(0), u32(0), u32(256));
    const cek = await crypto.subtle.digest('SHA-256', concat(u32(1), z, otherInfo));
    const aes = await crypto.subtle.importKey('raw', cek, 'AES-GCM', false, ['encrypt']);
    const protectedHeader = b64u(utf8(JSON.stringify(header)));
    const iv = crypto.getRandomValues(new Uint8Array(12));
    const sealed = new Uint8Array(await crypto.subtle.encrypt(
      { name: 'AES-GCM', iv, additionalData: utf8(protectedHeader), tagLength: 128 }, aes, utf8(pin)));
    const ciphertext = sealed.slice(0, sealed.length - 16);
    const tag = sealed.slice(sealed.length - 16);
    return [protectedHeader, '', b64u(iv), b64u(ciphertext), b64u(tag)].join('.');
  }
  async function pinKey() {
    const res = await fetch('/demo-mall/store/cards/pin-key');
    const body = await res.json();
    if (!res.ok) throw new Error(body.error || 'paybridge has no PIN key');
    return body;
  }
  async function post(path, body) {
    const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const answer = await res.json();
    if (!res.ok) throw new Error(answer.error || ('HTTP ' + res.status));
    return answer;
  }
  const sixDigits = (pin) => /^[0-9]{6}$/.test(pin);
  function show(id, text, ok) {
    const el = document.getElementById(id);
    el.textContent = text;
    el.className = ok ? 'ok' : 'bad';
  }
  window.paybridgeDemo = { encryptPin };
  const setButton = document.getElementById('set-pin');
  if (setButton) setButton.addEventListener('click', async () => {
    const pin = document.getElementById('pin-new').value;
    const current = document.getElementById('pin-current').value;
    if (!sixDigits(pin) || (current && !sixDigits(current))) return show('pin-result', 'A PIN is six digits.', false);
    try {
      const key = await pinKey();
      const body = { encryptedPin: await encryptPin(pin, key) };
      if (current) body.currentPin = await encryptPin(current, key);
      const answer = await post('/demo-mall/store/cards/pin', body);
      show('pin-result', answer.message, true);
    } catch (e) { show('pin-result', e.message, false); }
    document.getElementById('pin-new').value = '';
    document.getElementById('pin-current').value = '';
  });
  const payButton = document.getElementById('pay-with-pin');
  if (payButton) payButton.addEventListener('click', async () => {
    const tokenId = document.getElementById('pay-card').value;
    const pin = document.getElementById('pay-pin').value;
    if (!tokenId) return show('pay-result', 'Add a card first.', false);
    if (!sixDigits(pin)) return show('pay-result', 'A PIN is six digits.', false);
    try {
      const key = await pinKey();
      const answer = await post('/demo-mall/store/cards/pay-with-pin', { tokenId, encryptedPin: await encryptPin(pin, key) });
      show('pay-result', answer.message, answer.status === 'COMPLETE');
    } catch (e) { show('pay-result', e.message, false); }
    document.getElementById('pay-pin').value = '';
  });
})();
"#;
