//! The demo mall: a storefront that plays Cafe24's part. It signs payment requests with
//! the service key, sends them to our API over HTTP exactly as Cafe24 would, receives
//! the buyer back on its `return_url`, reads the payment details with the key (sync) or
//! receives paybridge's notifications (async), and can cancel — so a newcomer can buy
//! something end to end in a browser.

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::StatusCode,
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
    Form, Json, Router,
};
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{html_escape, page, provision};
use crate::{
    cafe24::signature,
    domain::Money,
    sandbox::SandboxContext as AppState,
    store::{new_id, now_ms},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/demo-mall/", get(storefront))
        .route("/demo-mall/checkout", post(checkout))
        .route("/demo-mall/return", get(return_page))
        .route("/demo-mall/orders/{order_id}", get(order_page))
        .route("/demo-mall/cancel", post(cancel))
        .route("/demo-mall/admin-launch", get(admin_launch))
        .route("/demo-mall/products/{id}", get(product_page))
        .route("/demo-mall/basket", get(basket_page))
        .route("/demo-mall/cafe24-sdk.js", get(cafe24_sdk))
        // The mall's result pages, where Cafe24 sends the buyer after an external checkout.
        .route("/api/shop/pgsuccess", get(mall_result))
        .route("/api/shop/pg_fail", get(mall_result))
        .route("/demo-mall/noty", post(receive_noty))
        .route("/demo-mall/cancel-noty", post(receive_noty))
}

struct Product {
    id: &'static str,
    name: &'static str,
    /// PHP minor units.
    price: i64,
}

const PRODUCTS: [Product; 3] = [
    Product { id: "barako", name: "Barako coffee beans, 250 g", price: 45000 },
    Product { id: "ube", name: "Ube halaya jar", price: 18050 },
    Product { id: "banig", name: "Handwoven banig mat", price: 120000 },
];

fn php(minor: i64) -> Money {
    Money::new(minor, provision::DEMO_CURRENCY)
}

#[derive(Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Flow {
    Sync,
    Async,
}

impl Flow {
    fn checkout_path(self) -> &'static str {
        match self {
            Flow::Sync => "/api/synchronous-checkout/checkout",
            Flow::Async => "/api/asynchronous-checkout/checkout",
        }
    }

    fn cancel_path(self) -> &'static str {
        match self {
            Flow::Sync => "/api/synchronous-cancellation/cancel",
            Flow::Async => "/api/asynchronous-cancellation/cancel",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Flow::Sync => "sync",
            Flow::Async => "async",
        }
    }
}

async fn storefront() -> Html<String> {
    let items: String = PRODUCTS
        .iter()
        .map(|p| {
            format!(
                "<div class=\"box\"><h2>{name}</h2><p class=\"amount\">{price}</p>\
                 <form method=\"post\" action=\"/demo-mall/checkout\">\
                 <input type=\"hidden\" name=\"product\" value=\"{id}\">\
                 <label>Quantity <input type=\"number\" name=\"quantity\" value=\"1\" min=\"1\" max=\"20\"></label>\
                 <label>Payment flow <select name=\"flow\" data-testid=\"flow-{id}\">\
                 <option value=\"sync\">synchronous (read back with a key)</option>\
                 <option value=\"async\">asynchronous (webhook, then a notification)</option></select></label>\
                 <button class=\"primary\" type=\"submit\" data-testid=\"buy-{id}\">Buy now</button></form>\
                 <p><a href=\"/demo-mall/products/{id}\" data-testid=\"product-{id}\">Product page with the storefront button</a></p></div>",
                name = html_escape(p.name),
                price = php(p.price),
                id = p.id,
            )
        })
        .collect();
    Html(page(
        "Demo mall",
        &format!(
            "<p class=\"muted\">Demo mall <code>{mall}</code> — a simulated Cafe24 shop (shop 1, PHP).</p>\
             <h1>Tindahan</h1><p><a href=\"/demo-mall/basket\" data-testid=\"basket\">Basket (storefront button)</a> · \
             <a href=\"/demo-mall/store/\" data-testid=\"demo-store\">Demo store on the Store API v2</a></p>\
             <p><a href=\"/demo-mall/store/cards\" data-testid=\"saved-cards\">Saved cards (Store API: save a card, pay with it)</a></p><p>Merchant? Open paybridge as the Cafe24 admin would: \
             <a href=\"/demo-mall/admin-launch?lang=en_US\" data-testid=\"admin-launch\">settings</a> · \
             <a href=\"/demo-mall/admin-launch?lang=ko_KR\">설정</a> · \
             <a href=\"/demo-mall/admin-launch?lang=ja_JP\">設定</a></p>{items}",
            mall = provision::DEMO_MALL_ID
        ),
    ))
}

fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    let body = format!(
        "<h1>{}</h1><p class=\"bad\" data-testid=\"error\">{}</p><p><a href=\"/demo-mall/\">Back to the shop</a></p>",
        html_escape(title),
        html_escape(message)
    );
    (status, Html(page(title, &body))).into_response()
}

#[derive(Deserialize)]
struct LaunchParams {
    lang: Option<String>,
}

/// The Cafe24 admin opening the app: a launch URL signed with the client secret.
async fn admin_launch(State(app): State<AppState>, Query(params): Query<LaunchParams>) -> Response {
    let lang = params.lang.unwrap_or_else(|| "en_US".into());
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("mall_id", provision::DEMO_MALL_ID)
        .append_pair("user_id", "demo_admin")
        .append_pair("user_type", "P")
        .append_pair("nation", "PH")
        .append_pair("lang", &lang)
        .append_pair("timestamp", &(now_ms() / 1000).to_string())
        .finish();
    let hmac = signature::sign(&app.cafe24.client_secret, &[&query]);
    let hmac: String = url::form_urlencoded::byte_serialize(hmac.as_bytes()).collect();
    Redirect::to(&format!("/?{query}&hmac={hmac}")).into_response()
}

#[derive(Deserialize)]
struct CheckoutForm {
    product: String,
    quantity: i64,
    flow: Option<Flow>,
}

fn new_order_id() -> String {
    let today = time::OffsetDateTime::now_utc().date();
    let n: u32 = rand::rng().random_range(0..10_000_000);
    format!("{:04}{:02}{:02}-{n:07}", today.year(), u8::from(today.month()), today.day())
}

async fn post_json(app: &AppState, path: &str, body: &Value) -> Result<Value, String> {
    let response = app
        .http
        .post(app.url(path))
        .json(body)
        .send()
        .await
        .map_err(|e| format!("could not reach paybridge: {}", e.without_url()))?;
    response.json::<Value>().await.map_err(|e| format!("paybridge answered something unreadable: {}", e.without_url()))
}

/// Cafe24's payment request (the fields of the seed's Postman collection).
async fn checkout(State(app): State<AppState>, Form(form): Form<CheckoutForm>) -> Response {
    let Some(product) = PRODUCTS.iter().find(|p| p.id == form.product) else {
        return error_page(StatusCode::BAD_REQUEST, "Unknown product", "That product is not sold here.");
    };
    if !(1..=20).contains(&form.quantity) {
        return error_page(StatusCode::BAD_REQUEST, "Check the quantity", "Choose between 1 and 20.");
    }
    let flow = form.flow.unwrap_or(Flow::Sync);
    let order_id = new_order_id();
    let amount = php(product.price * form.quantity).to_major_string();
    let currency = provision::DEMO_CURRENCY.code();
    let partner_id = provision::DEMO_PARTNER_ID;
    let hash = signature::sign(&app.cafe24.service_key, &[&amount, currency, &order_id, partner_id]);
    let request = json!({
        "request_type": "request",
        "partner_id": partner_id,
        "shop_no": provision::DEMO_SHOP_NO.to_string(),
        "shop_name": "Tindahan",
        "order_id": order_id,
        "paymethod": "etc",
        "currency": currency,
        "amount": amount,
        "buyer_id": "demobuyer",
        "buyer_name": "Demo Buyer",
        "goods_name": format!("{} × {}", product.name, form.quantity),
        "return_url": app.url("/demo-mall/return").to_string(),
        "return_noty_url": app.url("/demo-mall/noty").to_string(),
        "hash_data": hash,
        "extra_data": json!({"pgName": "paybridge-demo", "orderId": order_id}).to_string(),
    });
    match post_json(&app, flow.checkout_path(), &request).await {
        Ok(answer) if answer["result_code"] == "0000" => match answer["payment_url"].as_str() {
            Some(url) => Redirect::to(url).into_response(),
            None => error_page(StatusCode::BAD_GATEWAY, "Payment failed", "paybridge sent no payment page"),
        },
        Ok(answer) => error_page(
            StatusCode::BAD_GATEWAY,
            "Payment request refused",
            answer["result_message"].as_str().unwrap_or("no reason given"),
        ),
        Err(message) => error_page(StatusCode::BAD_GATEWAY, "Payment failed", &message),
    }
}

#[derive(Deserialize)]
struct ReturnParams {
    result_code: Option<String>,
    result_message: Option<String>,
    key: Option<String>,
    extra_data: Option<String>,
}

/// Cafe24's return page. Synchronous: the result in the URL is only a hint; the details
/// come from paybridge's read-payment API with the key, and their hash is checked.
/// Asynchronous: the outcome arrives as a notification; the page shows what came.
async fn return_page(State(app): State<AppState>, Query(params): Query<ReturnParams>) -> Response {
    let code = params.result_code.unwrap_or_default();
    let message = params.result_message.unwrap_or_default();
    let Some(key) = params.key.filter(|k| !k.is_empty()) else {
        let order_id = params
            .extra_data
            .and_then(|e| serde_json::from_str::<Value>(&e).ok())
            .and_then(|e| e["orderId"].as_str().map(str::to_owned));
        return match order_id {
            Some(order_id) => render_order(&app, &order_id, Some((&code, &message)), 0).await,
            None => error_page(StatusCode::BAD_REQUEST, "No payment", "The return named no order."),
        };
    };
    let details = match post_json(&app, "/api/synchronous-checkout/checkout/status", &json!({"key": key})).await {
        Ok(d) => d,
        Err(message) => return error_page(StatusCode::BAD_GATEWAY, "Could not read the payment", &message),
    };
    let text = |name: &str| details[name].as_str().unwrap_or_default().to_owned();
    let hash_ok = signature::verify(
        &app.cafe24.service_key,
        &[&text("amount"), &text("currency"), &text("order_id"), &text("partner_id"), &text("tid")],
        &text("hash_data"),
    );
    let paid = text("payed_tf") == "T";
    let heading = outcome_heading(code == "0000" && paid, &message, "Thank you — payment complete");
    let body = format!(
        "{heading}<div class=\"box\"><table>\
         <tr><th>Result code</th><td data-testid=\"result-code\">{code}</td></tr>\
         <tr><th>Order</th><td data-testid=\"order-id\">{order}</td></tr>\
         <tr><th>Amount</th><td>{amount} {currency}</td></tr>\
         <tr><th>Paid (payed_tf)</th><td data-testid=\"payed-tf\">{payed}</td></tr>\
         <tr><th>Transaction (tid)</th><td>{tid}</td></tr>\
         <tr><th>hash_data</th><td data-testid=\"hash-check\">{hash}</td></tr></table></div>\
         {cancel}<p><a href=\"/demo-mall/\">Back to the shop</a></p>",
        code = html_escape(&code),
        order = html_escape(&text("order_id")),
        amount = html_escape(&text("amount")),
        currency = html_escape(&text("currency")),
        payed = html_escape(&text("payed_tf")),
        tid = html_escape(&text("tid")),
        hash = if hash_ok { "verified" } else { "MISMATCH" },
        cancel = if paid {
            cancel_form(Flow::Sync, &text("order_id"), &text("tid"), &text("amount"))
        } else {
            String::new()
        },
    );
    Html(page("Demo mall — payment result", &body)).into_response()
}

fn outcome_heading(ok: bool, message: &str, ok_text: &str) -> String {
    if ok {
        format!("<h1 class=\"ok\" data-testid=\"outcome\">{}</h1>", html_escape(ok_text))
    } else {
        format!("<h1 class=\"bad\" data-testid=\"outcome\">Payment not completed</h1><p>{}</p>", html_escape(message))
    }
}

fn cancel_form(flow: Flow, order_id: &str, tid: &str, amount: &str) -> String {
    format!(
        "<h2>Cancel (as the merchant would in the Cafe24 admin)</h2>\
         <form method=\"post\" action=\"/demo-mall/cancel\">\
         <input type=\"hidden\" name=\"flow\" value=\"{flow}\">\
         <input type=\"hidden\" name=\"order_id\" value=\"{order}\"><input type=\"hidden\" name=\"tid\" value=\"{tid}\">\
         <input type=\"hidden\" name=\"amount\" value=\"{amount}\">\
         <label>Amount to cancel <input name=\"cancel_amount\" value=\"{amount}\"></label>\
         <button type=\"submit\" data-testid=\"cancel\">Cancel payment</button></form>",
        flow = flow.as_str(),
        order = html_escape(order_id),
        tid = html_escape(tid),
        amount = html_escape(amount),
    )
}

#[derive(Deserialize)]
struct OrderParams {
    /// How many times the page has reloaded itself waiting for a notification.
    waited: Option<u32>,
}

async fn order_page(
    State(app): State<AppState>,
    Path(order_id): Path<String>,
    Query(params): Query<OrderParams>,
) -> Response {
    render_order(&app, &order_id, None, params.waited.unwrap_or(0)).await
}

/// While a notification is awaited the order's page reloads itself every
/// [`WAIT_RELOAD_SECS`], [`WAIT_RELOADS`] times at most (two minutes).
const WAIT_RELOAD_SECS: u32 = 2;
const WAIT_RELOADS: u32 = 60;

/// An asynchronous order as the mall knows it: the notifications paybridge sent.
async fn render_order(app: &AppState, order_id: &str, returned: Option<(&str, &str)>, waited: u32) -> Response {
    let received: Vec<(String, String, i64)> = match sqlx::query_as(
        "SELECT endpoint, body, received_at FROM demo_mall_notifications WHERE order_id = $1 ORDER BY received_at, id",
    )
    .bind(order_id)
    .fetch_all(app.store.pool())
    .await
    {
        Ok(rows) => rows,
        Err(e) => return error_page(StatusCode::INTERNAL_SERVER_ERROR, "Demo mall", &e.to_string()),
    };
    let notys: Vec<Vec<(String, String)>> =
        received.iter().map(|(_, body, _)| serde_urlencoded::from_str(body).unwrap_or_default()).collect();
    let get = |noty: &[(String, String)], name: &str| {
        noty.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_default()
    };
    let paid = notys.iter().rfind(|n| get(n, "request_type") != "cancelnoty");
    let (heading, waiting) = match (returned, paid) {
        (Some((code, message)), _) if code != "0000" => (outcome_heading(false, message, ""), false),
        (_, Some(n)) if get(n, "payed_tf") == "T" => (outcome_heading(true, "", "Thank you — payment complete"), false),
        (_, Some(_)) => ("<h1 data-testid=\"outcome\">Waiting for your bank transfer</h1>".to_owned(), true),
        (_, None) => (
            "<h1 data-testid=\"outcome\">Payment received — waiting for paybridge's notification</h1>".to_owned(),
            true,
        ),
    };
    let reload = waiting && waited < WAIT_RELOADS;
    let waiting_note = match (waiting, reload) {
        (true, true) => "<p class=\"muted\" data-testid=\"waiting\">This page reloads itself until it arrives.</p>",
        (true, false) => {
            "<p class=\"muted\" data-testid=\"waiting\">Still nothing after two minutes: refresh by hand.</p>"
        }
        _ => "",
    };
    let rows: String = received
        .iter()
        .zip(&notys)
        .map(|((endpoint, _, _), n)| {
            format!(
                "<tr data-testid=\"noty\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                html_escape(endpoint),
                html_escape(&get(n, "request_type")),
                html_escape(&get(n, "payed_tf")),
                html_escape(&get(n, "status")),
                html_escape(&get(n, "result_message")),
            )
        })
        .collect();
    let cancel = match paid {
        Some(n) if get(n, "payed_tf") == "T" => cancel_form(Flow::Async, order_id, &get(n, "tid"), &get(n, "amount")),
        _ => String::new(),
    };
    let body = format!(
        "{heading}{waiting_note}<p>Order <strong data-testid=\"order-id\">{order}</strong> — \
         <a href=\"/demo-mall/orders/{order}\" data-testid=\"refresh\">refresh</a></p>\
         <div class=\"box\"><h2>Notifications received from paybridge</h2><table>\
         <tr><th>endpoint</th><th>request_type</th><th>payed_tf</th><th>status</th><th>message</th></tr>{rows}</table></div>\
         {cancel}<p><a href=\"/demo-mall/\">Back to the shop</a></p>",
        order = html_escape(order_id),
    );
    if reload {
        // To the order's own page: a return page's query has nothing more to say once the
        // buyer is back (a refusal is never waited on).
        let next = format!(
            "/demo-mall/orders/{}?waited={}",
            url::form_urlencoded::byte_serialize(order_id.as_bytes()).collect::<String>(),
            waited + 1
        );
        return Html(crate::web::refreshing_page("Demo mall — order", &body, WAIT_RELOAD_SECS, Some(&next)))
            .into_response();
    }
    Html(page("Demo mall — order", &body)).into_response()
}

#[derive(Deserialize)]
struct CancelForm {
    flow: Option<Flow>,
    order_id: String,
    tid: String,
    amount: String,
    cancel_amount: String,
}

async fn cancel(State(app): State<AppState>, Form(form): Form<CancelForm>) -> Response {
    let flow = form.flow.unwrap_or(Flow::Sync);
    let currency = provision::DEMO_CURRENCY.code();
    let partner_id = provision::DEMO_PARTNER_ID;
    let hash = signature::sign(
        &app.cafe24.service_key,
        &[&form.cancel_amount, currency, &form.order_id, partner_id, &form.tid],
    );
    let request = json!({
        "request_type": "cancel",
        "partner_id": partner_id,
        "shop_no": provision::DEMO_SHOP_NO.to_string(),
        "paymethod": "etc",
        "tid": form.tid,
        "order_id": form.order_id,
        "currency": currency,
        "amount": form.amount,
        "cancel_amount": form.cancel_amount,
        "cancel_type": "C",
        "cancel_reason": "demo mall cancel",
        "cancel_noty_url": app.url("/demo-mall/cancel-noty").to_string(),
        "hash_data": hash,
    });
    match post_json(&app, flow.cancel_path(), &request).await {
        Ok(answer) => {
            let ok = answer["result_code"] == "0000";
            let title = match (ok, flow) {
                (true, Flow::Sync) => "Cancelled",
                (true, Flow::Async) => "Cancellation requested",
                (false, _) => "Cancel refused",
            };
            let body = format!(
                "<h1 class=\"{class}\" data-testid=\"cancel-outcome\">{title}</h1><p>{message}</p>\
                 <p>Remaining: {remain}</p><p><a href=\"/demo-mall/orders/{order}\">The order</a> · \
                 <a href=\"/demo-mall/\">Back to the shop</a></p>",
                class = if ok { "ok" } else { "bad" },
                message = html_escape(answer["result_message"].as_str().unwrap_or_default()),
                remain = html_escape(answer["remain_amount"].as_str().unwrap_or("—")),
                order = html_escape(&form.order_id),
            );
            Html(page("Demo mall — cancel", &body)).into_response()
        }
        Err(message) => error_page(StatusCode::BAD_GATEWAY, "Cancel failed", &message),
    }
}

/// The mall's noty receivers, as Cafe24 has them: check `hash_data`, keep the
/// notification, answer `{"result":"OK"}`.
async fn receive_noty(State(app): State<AppState>, uri: axum::http::Uri, body: Bytes) -> Response {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default();
    let amount = if get("request_type") == "cancelnoty" { get("cancel_amount") } else { get("amount") };
    let signed = [amount, get("currency"), get("order_id"), get("partner_id"), get("tid")];
    if !signature::verify(&app.cafe24.service_key, &signed, get("hash_data")) {
        return (StatusCode::BAD_REQUEST, Json(json!({"result": "FAIL", "message": "hash_data mismatch"})))
            .into_response();
    }
    let stored = sqlx::query(
        "INSERT INTO demo_mall_notifications (id, order_id, endpoint, body, received_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(new_id("dmn"))
    .bind(get("order_id"))
    .bind(uri.path())
    .bind(String::from_utf8_lossy(&body).into_owned())
    .bind(now_ms())
    .execute(app.store.pool())
    .await;
    match stored {
        Ok(_) => Json(json!({"result": "OK"})).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "demo mall could not keep a notification");
            (StatusCode::INTERNAL_SERVER_ERROR, Json(json!({"result": "FAIL"}))).into_response()
        }
    }
}

/// A basket line as Cafe24's `precreateOrder` returns it.
fn basket_line(product: &Product, quantity: i64, product_no: i64) -> Value {
    json!({
        "shop_no": provision::DEMO_SHOP_NO,
        "product_no": product_no,
        "variant_code": format!("P0000{product_no:03}000A"),
        "option_id": "000A",
        "quantity": quantity,
        "product_price": php(product.price).to_major_string(),
        "option_price": "0.00",
        "product_name": product.name,
        "option_text": "",
        "shipping_type": "A",
        "prefaid_shipping_fee": "P",
    })
}

/// The storefront's signed-in member; `?guest=1` shops as a guest instead.
const DEMO_MEMBER: &str = "demobuyer";

#[derive(Deserialize)]
struct Visitor {
    guest: Option<String>,
}

/// Who is shopping on a storefront page.
struct Customer {
    /// What `CAFE24API.getCustomerIDInfo` answers as `id`.
    ids: Value,
    /// The line that says so, with a link to switch.
    line: String,
}

impl Visitor {
    fn is_guest(&self) -> bool {
        self.guest.as_deref().is_some_and(|g| !g.is_empty() && g != "0")
    }

    fn customer(&self, path: &str) -> Customer {
        if self.is_guest() {
            // Cafe24 knows a visitor who is not signed in by a guest id.
            let guest_id = new_id("guest");
            let line = format!(
                r#"<p class="muted" data-testid="customer">Shopping as a guest · <a href="{path}" data-testid="sign-in">Sign in as {DEMO_MEMBER}</a></p>"#
            );
            Customer { ids: json!({"member_id": null, "guest_id": guest_id}), line }
        } else {
            let line = format!(
                r#"<p class="muted" data-testid="customer">Signed in as {DEMO_MEMBER} · <a href="{path}?guest=1" data-testid="sign-out">Sign out and shop as a guest</a></p>"#
            );
            Customer { ids: json!({"member_id": DEMO_MEMBER, "guest_id": null}), line }
        }
    }
}

/// A storefront page as Cafe24 renders it: the `path_role` meta tag, the button's box,
/// Cafe24's front SDK (simulated) and our scripttag with its SRI hash.
fn storefront_page(
    app: &AppState,
    role: &str,
    title: &str,
    lines: &[Value],
    intro: &str,
    customer: Customer,
) -> Response {
    let script = app.url("/api/external-checkout/script");
    let rows: String = lines
        .iter()
        .map(|l| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{} PHP</td></tr>",
                html_escape(l["product_name"].as_str().unwrap_or_default()),
                l["quantity"],
                html_escape(l["product_price"].as_str().unwrap_or_default())
            )
        })
        .collect();
    let body = format!(
        "<p class=\"muted\"><a href=\"/demo-mall/\">Tindahan</a> — a simulated Cafe24 storefront</p>{who}\
         <h1>{title}</h1>{intro}<div class=\"box\"><table><tr><th>Product</th><th>Qty</th><th>Price</th></tr>{rows}</table></div>\
         <div id=\"appPaymentButtonBox\"></div>\
         <script>window.DEMO_BASKET = {basket}; window.DEMO_CUSTOMER = {customer};</script>\
         <script src=\"/demo-mall/cafe24-sdk.js\"></script>\
         <script src=\"{script}\" integrity=\"{integrity}\" crossorigin=\"anonymous\"></script>",
        title = html_escape(title),
        basket = Value::Array(lines.to_vec()),
        who = customer.line,
        customer = customer.ids,
        script = html_escape(script.as_str()),
        integrity = crate::cafe24::script::current_integrity(),
    );
    let head = format!("<meta name=\"path_role\" content=\"{role}\">");
    Html(page(title, &body).replacen("<title>", &format!("{head}<title>"), 1)).into_response()
}

async fn product_page(State(app): State<AppState>, Path(id): Path<String>, Query(visitor): Query<Visitor>) -> Response {
    let Some((index, product)) = PRODUCTS.iter().enumerate().find(|(_, p)| p.id == id) else {
        return error_page(StatusCode::NOT_FOUND, "No such product", "That product is not sold here.");
    };
    let line = basket_line(product, 1, 20 + index as i64);
    let intro = format!("<p class=\"amount\">{}</p>", php(product.price));
    let customer = visitor.customer(&format!("/demo-mall/products/{}", product.id));
    storefront_page(&app, "PRODUCT_DETAIL", product.name, &[line], &intro, customer)
}

async fn basket_page(State(app): State<AppState>, Query(visitor): Query<Visitor>) -> Response {
    let lines = [basket_line(&PRODUCTS[0], 2, 20), basket_line(&PRODUCTS[1], 1, 21)];
    storefront_page(&app, "ORDER_BASKET", "Your basket", &lines, "", visitor.customer("/demo-mall/basket"))
}

/// The part of Cafe24's front SDK the button uses, backed by the simulated Cafe24. The
/// page says who is shopping (`window.DEMO_CUSTOMER`: a member, or a guest).
async fn cafe24_sdk() -> Response {
    const SDK: &str = r#"(function () {
  var mall = "demomall";
  window.CAFE24API = {
    MALL_ID: mall,
    SHOP_NO: 1,
    getCustomerIDInfo: function (callback) {
      callback(null, { id: window.DEMO_CUSTOMER || { member_id: "demobuyer", guest_id: null } });
    },
    precreateOrder: function (mallId, requestTime, clientId, memberId, hmac, callback) {
      fetch("/demo-cafe24/" + mallId + "/front/precreate-order", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ request_time: String(requestTime), client_id: clientId, member_id: memberId,
                               hmac: hmac, products: window.DEMO_BASKET || [] })
      }).then(function (r) { return r.json().then(function (b) { return [r.ok, b]; }); })
        .then(function (res) { res[0] ? callback(null, res[1]) : callback(res[1].error || "refused"); })
        .catch(function (e) { callback(String(e)); });
    }
  };
})();
"#;
    ([(axum::http::header::CONTENT_TYPE, "application/javascript; charset=utf-8")], SDK).into_response()
}

#[derive(Deserialize)]
struct ResultParams {
    order_id: Option<String>,
}

/// `/api/shop/pgsuccess` and `/api/shop/pg_fail`, as Cafe24 serves them to the buyer.
async fn mall_result(
    State(app): State<AppState>,
    uri: axum::http::Uri,
    Query(params): Query<ResultParams>,
) -> Response {
    let Some(order_id) = params.order_id else {
        return error_page(StatusCode::BAD_REQUEST, "No order", "The page names no order.");
    };
    let success = uri.path().ends_with("pgsuccess");
    let code = if success { "0000" } else { "9999" };
    let message = if success { "" } else { "The payment did not go through." };
    render_order(&app, &order_id, Some((code, message)), 0).await
}
