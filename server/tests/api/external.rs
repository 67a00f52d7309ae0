//! External checkout (SPEC §4.6): the storefront button's endpoints, the review page,
//! pay and the callback, with a simulated Cafe24 reservation.

use std::time::Duration;

use paybridge::cafe24::{external::reservation_hmac, script};
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use paybridge::domain::{MallId, OrderId};

use crate::{helpers::*, receiver::Receiver};

const SECONDS: Duration = Duration::from_secs(10);
const MALL_BASE: &str = "https://demomall.cafe24shop.com";

pub(crate) fn basket() -> Vec<Value> {
    vec![
        json!({"shop_no": 1, "product_no": 22, "variant_code": "P000000W000C", "option_id": "000C", "quantity": 1,
               "product_price": "1000.00", "option_price": "100.00", "product_name": "Basic Product", "option_text": "Size=S"}),
        json!({"shop_no": 1, "product_no": 22, "variant_code": "P000000W000A", "option_id": "000A", "quantity": 2,
               "product_price": "1000.00", "option_price": "-200.00", "product_name": "Basic Product", "option_text": "Color=Black"}),
    ]
}

/// The button's payload for Cafe24's reservation of `order`, signed as Cafe24 signs it.
pub(crate) fn payload(order_id: &str, order: &[Value], noty_url: &str, total: i64, response_time: i64) -> Value {
    let response_time = response_time.to_string();
    json!({
        "order": order,
        "mall_id": "demomall",
        "member_id": "mockbuyer",
        "currency": "PHP",
        "order_id": order_id,
        "return_notification_url": noty_url,
        "return_url_base": MALL_BASE,
        "bGuest": 0,
        "response_time": response_time,
        "hmac": reservation_hmac(CLIENT_ID, order_id, total, &response_time, noty_url),
    })
}

pub(crate) fn now_secs() -> i64 {
    paybridge::store::now_ms() / 1000
}

async fn the_storefront_script_is_one_stable_file_any_shop_may_load(db: Db) {
    let app = spawn_app(db).await;
    let fetch = || app.client.get(app.url("/api/external-checkout/script")).header("origin", MALL_BASE).send();
    let first = fetch().await.unwrap();
    assert_eq!(first.status(), StatusCode::OK);
    assert!(first.headers()[header::CONTENT_TYPE].to_str().unwrap().starts_with("application/javascript"));
    assert_eq!(first.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
    assert!(first.headers()[header::CACHE_CONTROL].to_str().unwrap().contains("max-age"));
    let bytes = first.bytes().await.unwrap();
    assert_eq!(bytes, fetch().await.unwrap().bytes().await.unwrap(), "byte-stable");
    assert_eq!(script::integrity(&bytes), script::current_integrity());
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains("window.top !== window.self"), "does nothing inside an iframe");
    // The module inlined, one character per byte: its header `\0asm` and version 1.
    assert!(text.contains("\"\u{0}asm\u{1}\u{0}\u{0}\u{0}"), "the WASM is inlined");
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/external-checkout/payload"))
        .header("origin", MALL_BASE)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    assert_eq!(preflight.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
}

async fn script_data_describes_enabled_shops_and_never_a_secret(db: Db) {
    let app = spawn_app(db).await;
    let get =
        |query: &'static str| app.client.get(app.url(&format!("/api/external-checkout/script/data{query}"))).send();
    let response = get("?mall_id=demomall&shop_no=1").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["bResult"], true);
    assert_eq!(body["mData"]["public_key"], "demo-app-public-key");
    assert_eq!(body["mData"]["shop_currency"], "PHP");
    assert_eq!(body["mData"]["client_id"], CLIENT_ID);
    assert!(!body.to_string().contains("secret"));
    for (query, status) in [
        ("?mall_id=nomall&shop_no=1", StatusCode::NOT_FOUND),
        ("?mall_id=demomall&shop_no=2", StatusCode::NOT_FOUND),
        ("?mall_id=demomall", StatusCode::BAD_REQUEST),
        ("?mall_id=demomall&shop_no=x", StatusCode::BAD_REQUEST),
    ] {
        let response = get(query).await.unwrap();
        assert_eq!(response.status(), status, "{query}");
        assert_eq!(response.json::<Value>().await.unwrap()["bResult"], false);
    }
}

/// `GET /api/external-checkout/script/hmac`, as the button asks for it.
async fn ask_script_hmac(app: &TestApp, mall: &str, time: i64, client: &str, member: &str) -> reqwest::Response {
    let time = time.to_string();
    let query = [("mall_id", mall), ("request_time", &time), ("client_key", client), ("member_id", member)];
    app.client.get(app.url("/api/external-checkout/script/hmac")).query(&query).send().await.unwrap()
}

async fn script_hmac_signs_for_our_client_at_a_fresh_time_only(db: Db) {
    let app = spawn_app(db).await;
    let ask =
        |mall: &'static str, time: i64, client: &'static str| ask_script_hmac(&app, mall, time, client, "mockbuyer");
    let now = now_secs();
    let response = ask("demomall", now, CLIENT_ID).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let expected =
        paybridge::cafe24::signature::sign(SERVICE_KEY, &["demomall", &now.to_string(), CLIENT_ID, "mockbuyer"]);
    assert_eq!(body["hmac_key"], expected);
    assert_eq!(ask("demomall", now, "another-app").await.status(), StatusCode::FORBIDDEN);
    assert_eq!(ask("demomall", now - 600, CLIENT_ID).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(ask("othermall", now, CLIENT_ID).await.status(), StatusCode::FORBIDDEN);
}

async fn post_payload(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    app.post_json("/api/external-checkout/payload", body).await
}

async fn a_storefront_purchase_is_reviewed_paid_and_notified(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let order_id = unique_order_id();
    // (1000 + 100) × 1 + (1000 − 200) × 2 = 2700
    let body = payload(&order_id, &basket(), &cafe24.url("/noty"), 2700, now_secs());
    let (status, answer) = post_payload(&app, &body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["bResult"], true);
    assert_eq!(answer["mData"]["amount"], "2700.00");
    let review = url::Url::parse(answer["mData"]["redirect_url"].as_str().unwrap()).unwrap();
    assert_eq!(review.path(), "/api/external-checkout/order/review");
    let (again, same) = post_payload(&app, &body).await;
    assert_eq!((again, &same["mData"]["redirect_url"]), (StatusCode::OK, &answer["mData"]["redirect_url"]));

    let page = app.client.get(review.clone()).send().await.unwrap().text().await.unwrap();
    for text in ["Review your order", "Basic Product", "Size=S", "Juan dela Cruz", "2700.00", "0.00"] {
        assert!(page.contains(text), "{text} on the review page");
    }
    let mut without_key = review.clone();
    let pairs: Vec<(String, String)> = query_map(&review).into_iter().filter(|(k, _)| k != "key").collect();
    without_key.query_pairs_mut().clear().extend_pairs(pairs);
    let masked = app.client.get(without_key).send().await.unwrap().text().await.unwrap();
    assert!(!masked.contains("Juan dela Cruz") && masked.contains("J***"), "the address is masked without the key");

    let (status, paid) =
        app.post_json("/api/external-checkout/order/pay", &json!({"mall_id": "demomall", "order_id": order_id})).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    let pg_page = paid["mData"]["redirect_url"].as_str().unwrap();
    assert!(pg_page.contains("/sandbox-pg/checkout/"));
    let shown = app.client.get(pg_page).send().await.unwrap().text().await.unwrap();
    assert!(shown.contains("2700.00 PHP"), "the PG takes Cafe24's total");

    let callback = app.press(pg_page, "approve").await;
    assert_eq!(callback.path(), "/api/external-checkout/order/callback");
    let response = app.client.get(callback).send().await.unwrap();
    let back = location(&response);
    assert_eq!(back.as_str(), format!("{MALL_BASE}/api/shop/pgsuccess?order_id={order_id}&sync_type=async"));

    let notys = cafe24.wait_for("/noty", 1, SECONDS).await;
    let noty = &notys[0].fields;
    let tid = app.payment(&order_id).await.tid.unwrap();
    assert_eq!((noty["request_type"].as_str(), noty["payed_tf"].as_str()), ("payment", "T"));
    assert_eq!(noty["amount"], "2700.00");
    assert_eq!(noty["partner_id"], PARTNER_ID);
    assert_eq!(noty["hash_data"], sign(&["2700.00", "PHP", &order_id, PARTNER_ID, &tid]));

    // Paid: the same reservation cannot start another payment.
    let (status, _) = post_payload(&app, &body).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, refused) =
        app.post_json("/api/external-checkout/order/pay", &json!({"mall_id": "demomall", "order_id": order_id})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{refused}");
    let back = refused["mData"]["redirect_url"].as_str().unwrap();
    assert_eq!(back, format!("{MALL_BASE}/api/shop/pg_fail?order_id={order_id}&sync_type=async"));
}

async fn shipping_is_added_by_cafe24s_calculation(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let order_id = reserve_small_basket(&app, &cafe24).await;
    let (status, paid) =
        app.post_json("/api/external-checkout/order/pay", &json!({"mall_id": "demomall", "order_id": order_id})).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    let payment = app.payment(&order_id).await;
    assert_eq!((payment.amount.minor, app.cafe24_amount_text(&order_id).await.as_str()), (28050, "280.50"));
    let kinds: Vec<String> =
        app.state.store.payment_events(&payment.id).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&"amount.settled".to_owned()), "{kinds:?}");
}

async fn bad_payloads_are_refused_and_change_nothing(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let noty = cafe24.url("/noty");
    let order_id = unique_order_id();
    let good = payload(&order_id, &basket(), &noty, 2700, now_secs());
    let mut tampered_total = good.clone();
    tampered_total["order"][0]["product_price"] = json!("1.00");
    let mut other_hmac = good.clone();
    other_hmac["hmac"] =
        json!(reservation_hmac("another-app", &order_id, 2700, good["response_time"].as_str().unwrap(), &noty));
    let mut negative = payload(&order_id, &basket(), &noty, -300, now_secs());
    negative["order"][1]["option_price"] = json!("-1350.00");
    let mut bad_quantity = good.clone();
    bad_quantity["order"][0]["quantity"] = json!(0);
    let mut bad_price = good.clone();
    bad_price["order"][0]["product_price"] = json!("ten");
    let mut yen = good.clone();
    yen["currency"] = json!("JPY");
    let mut evil_base = good.clone();
    evil_base["return_url_base"] = json!("https://evil.example.com");
    let mut evil_noty = payload(&order_id, &basket(), "https://evil.example.com/noty", 2700, now_secs());
    evil_noty["return_url_base"] = json!(MALL_BASE);
    let mut other_mall = good.clone();
    other_mall["mall_id"] = json!("nomall");
    let cases: Vec<(&str, Value, StatusCode)> = vec![
        ("tampered price", tampered_total, StatusCode::UNAUTHORIZED),
        ("another app's hmac", other_hmac, StatusCode::UNAUTHORIZED),
        ("stale reservation", payload(&order_id, &basket(), &noty, 2700, now_secs() - 7200), StatusCode::UNAUTHORIZED),
        ("empty basket", payload(&order_id, &[], &noty, 0, now_secs()), StatusCode::BAD_REQUEST),
        ("negative line", negative, StatusCode::UNPROCESSABLE_ENTITY),
        ("zero quantity", bad_quantity, StatusCode::UNPROCESSABLE_ENTITY),
        ("unreadable price", bad_price, StatusCode::UNPROCESSABLE_ENTITY),
        ("another currency", yen, StatusCode::UNPROCESSABLE_ENTITY),
        ("return_url_base elsewhere", evil_base, StatusCode::UNPROCESSABLE_ENTITY),
        ("notification elsewhere", evil_noty, StatusCode::UNPROCESSABLE_ENTITY),
        ("unknown mall", other_mall, StatusCode::FORBIDDEN),
    ];
    let before = app.snapshot().await;
    for (name, body, status) in cases {
        let (got, answer) = post_payload(&app, &body).await;
        assert_eq!(got, status, "{name}: {answer}");
        assert_eq!(answer["bResult"], false, "{name}");
        assert!(!answer["mData"]["message"].as_str().unwrap().is_empty(), "{name}");
    }
    let response = app
        .client
        .post(app.url("/api/external-checkout/payload"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.snapshot().await, before);
}

async fn declines_cancels_and_unknown_orders_send_the_buyer_back(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    // Declined at the PG: the mall's failure page, and a noty saying so.
    let declined = unique_order_id();
    post_payload(&app, &payload(&declined, &basket(), &cafe24.url("/declined"), 2700, now_secs())).await;
    let (_, paid) =
        app.post_json("/api/external-checkout/order/pay", &json!({"mall_id": "demomall", "order_id": declined})).await;
    let callback = app.press(paid["mData"]["redirect_url"].as_str().unwrap(), "decline").await;
    let back = location(&app.client.get(callback).send().await.unwrap());
    assert_eq!(back.path(), "/api/shop/pg_fail");
    let notys = cafe24.wait_for("/declined", 1, SECONDS).await;
    assert_eq!((notys[0].fields["payed_tf"].as_str(), notys[0].fields["result_code"].as_str()), ("F", "0001"));

    // The buyer cancels on the review page (with the review link's key only).
    let cancelled = unique_order_id();
    let (_, answer) =
        post_payload(&app, &payload(&cancelled, &basket(), &cafe24.url("/cancelled"), 2700, now_secs())).await;
    let key = query_map(&url::Url::parse(answer["mData"]["redirect_url"].as_str().unwrap()).unwrap())["key"].clone();
    let cancel = |key: Option<&str>| {
        let mut form = vec![("action[mall_id]", "demomall".to_owned()), ("action[order_id]", cancelled.clone())];
        if let Some(key) = key {
            form.push(("action[key]", key.to_owned()));
        }
        app.client.post(app.url("/api/external-checkout/fn/cancel")).form(&form).send()
    };
    let status = cancel(None).await.unwrap().status();
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(app.payment(&cancelled).await.status.code(), 1);
    let response = cancel(Some(&key)).await.unwrap();
    let status = response.status();
    let next: Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::OK, "{next}");
    assert!(next["redirect_url"].as_str().unwrap().contains("/api/shop/pg_fail"));
    let notys = cafe24.wait_for("/cancelled", 1, SECONDS).await;
    assert_eq!(notys[0].fields["result_code"], "9999");

    for (path, status) in [
        ("/api/external-checkout/order/callback?reference_no=pay_unknown", StatusCode::NOT_FOUND),
        ("/api/external-checkout/order/callback", StatusCode::BAD_REQUEST),
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), status, "{path}");
    }
    let (status, _) =
        app.post_json("/api/external-checkout/order/pay", &json!({"mall_id": "demomall", "order_id": "nope"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let review = app
        .client
        .get(app.url("/api/external-checkout/order/review?mall_id=demomall&order_id=nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(review.status(), StatusCode::NOT_FOUND);
}

/// A basket below the simulated Cafe24's free-shipping threshold: Cafe24's total adds
/// 100.00 of shipping (180.50 → 280.50).
fn small_basket() -> Vec<Value> {
    vec![json!({"shop_no": 1, "product_no": 5, "variant_code": "P0000005000A", "quantity": 1,
                "product_price": "180.50", "option_price": "0.00", "product_name": "Ube jar"})]
}

/// The button's payload for [`small_basket`], accepted; returns the order id.
async fn reserve_small_basket(app: &TestApp, cafe24: &Receiver) -> String {
    let order_id = unique_order_id();
    let (status, answer) =
        post_payload(app, &payload(&order_id, &small_basket(), &cafe24.url("/noty"), 180, now_secs())).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    order_id
}

/// A reservation of [`small_basket`], accepted; returns the buyer's review page (its key
/// included).
pub(crate) async fn review_page_of_small_basket(app: &TestApp, cafe24: &Receiver) -> url::Url {
    let order_id = unique_order_id();
    let (status, answer) =
        post_payload(app, &payload(&order_id, &small_basket(), &cafe24.url("/noty"), 180, now_secs())).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    url::Url::parse(answer["mData"]["redirect_url"].as_str().unwrap()).unwrap()
}

async fn pg_order(app: &TestApp, tid: &str) -> (i64, String) {
    sqlx::query_as("SELECT amount_minor, status FROM sandbox_pg_orders WHERE code = $1")
        .bind(tid)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap()
}

async fn event_kinds(app: &TestApp, order_id: &str) -> Vec<String> {
    let payment = app.payment(order_id).await;
    app.state.store.payment_events(&payment.id).await.unwrap().into_iter().map(|e| e.kind).collect()
}

async fn the_pg_refusing_to_take_the_payment_leaves_its_amount_as_it_was(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let order_id = reserve_small_basket(&app, &cafe24).await;
    let tid = app.payment(&order_id).await.tid.unwrap();
    // As if the PG had closed the checkout on its side without telling us.
    sqlx::query("UPDATE sandbox_pg_orders SET status = 'expired' WHERE code = $1")
        .bind(&tid)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let [payments, events, refunds, outbox, pg_orders, pg_refunds, keys, endpoints] = app.snapshot().await;

    let (status, body) =
        app.post_json("/api/external-checkout/order/pay", &json!({"mall_id": "demomall", "order_id": order_id})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(body["bResult"], false);
    let message = body["mData"]["message"].as_str().unwrap();
    assert!(message.contains("refused to take 280.50 PHP") && message.contains("expired"), "{message}");
    let back = body["mData"]["redirect_url"].as_str().unwrap();
    assert_eq!(back, format!("{MALL_BASE}/api/shop/pg_fail?order_id={order_id}&sync_type=async"));

    // Cafe24's total with shipping was not left behind: the payment is as it was, and
    // its history says what happened.
    let payment = app.payment(&order_id).await;
    assert_eq!((payment.amount.minor, app.cafe24_amount_text(&order_id).await.as_str()), (18050, "180.50"));
    assert_eq!(payment.status.code(), 1, "still a request");
    assert_eq!(pg_order(&app, &tid).await, (18050, "expired".to_owned()), "the PG's order is untouched");
    let kinds = event_kinds(&app, &order_id).await;
    assert_eq!(kinds[kinds.len() - 2..], ["amount.settled", "amount.restored"], "{kinds:?}");
    assert_eq!(
        app.snapshot().await,
        [payments, events + 2, refunds, outbox, pg_orders, pg_refunds, keys, endpoints],
        "Cafe24 is told nothing"
    );

    // Asking again is refused the same way, and the amount stays as it was.
    let (status, _) =
        app.post_json("/api/external-checkout/order/pay", &json!({"mall_id": "demomall", "order_id": order_id})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(app.payment(&order_id).await.amount.minor, 18050);
}

async fn a_pg_that_does_not_answer_keeps_the_settled_amount_for_the_next_pay(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    let order_id = reserve_small_basket(&app, &cafe24).await;
    let tid = app.payment(&order_id).await.tid.unwrap();
    // A second instance on the same database that cannot reach the PG: the PG may or
    // may not have taken the new amount, so ours must stay what it was asked to take.
    let cut_off = app.sibling(&[("SANDBOX_PG_URL", "http://127.0.0.1:9/sandbox-pg")]).await;
    let (status, body) = cut_off
        .post_json("/api/external-checkout/order/pay", &json!({"mall_id": "demomall", "order_id": order_id}))
        .await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body["mData"]["redirect_url"].as_str().unwrap().contains("/api/shop/pg_fail"));
    assert_eq!(app.payment(&order_id).await.amount.minor, 28050);

    // The buyer presses Pay again: the same total, settled once, taken once.
    let (status, paid) =
        app.post_json("/api/external-checkout/order/pay", &json!({"mall_id": "demomall", "order_id": order_id})).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!(pg_order(&app, &tid).await, (28050, "open".to_owned()));
    let callback = app.press(paid["mData"]["redirect_url"].as_str().unwrap(), "approve").await;
    let back = location(&app.client.get(callback).send().await.unwrap());
    assert_eq!(back.path(), "/api/shop/pgsuccess");
    let notys = cafe24.wait_for("/noty", 1, SECONDS).await;
    assert_eq!((notys[0].fields["payed_tf"].as_str(), notys[0].fields["amount"].as_str()), ("T", "280.50"));
    let kinds = event_kinds(&app, &order_id).await;
    assert_eq!(kinds.iter().filter(|k| k.starts_with("amount.")).collect::<Vec<_>>(), ["amount.settled"]);
}

async fn the_pg_refusing_the_checkout_creates_nothing(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    // Shop 1 sells in KRW, which the sandbox PG does not take (as if the PG had stopped
    // taking the shop's currency after the shop was enabled).
    let set_currency = |currency: &'static str| {
        sqlx::query("UPDATE shops SET currency = $1 WHERE mall_id = 'demomall' AND shop_no = 1")
            .bind(currency)
            .execute(app.state.store.pool())
    };
    set_currency("KRW").await.unwrap();
    let order_id = unique_order_id();
    let won = vec![json!({"shop_no": 1, "product_no": 5, "variant_code": "P0000005000A", "quantity": 2,
                           "product_price": "9000", "option_price": "0", "product_name": "Ube jar"})];
    let mut in_won = payload(&order_id, &won, &cafe24.url("/noty"), 18000, now_secs());
    in_won["currency"] = json!("KRW");
    let before = app.snapshot().await;

    let (status, answer) = post_payload(&app, &in_won).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["bResult"], false);
    let message = answer["mData"]["message"].as_str().unwrap();
    assert!(message.contains("payment company refused the checkout") && message.contains("KRW"), "{message}");
    assert_eq!(app.snapshot().await, before, "nothing created");
    let (mall, order) = (MallId::parse("demomall").unwrap(), OrderId::parse(&order_id).unwrap());
    assert!(app.state.store.payment_by_order(&mall, &order).await.unwrap().is_none());

    // Nothing left behind blocks the order once the PG takes the shop's currency again.
    set_currency("PHP").await.unwrap();
    let (status, answer) =
        post_payload(&app, &payload(&order_id, &basket(), &cafe24.url("/noty"), 2700, now_secs())).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let [payments, events, refunds, outbox, pg_orders, pg_refunds, keys, endpoints] = before;
    assert_eq!(
        app.snapshot().await,
        [payments + 1, events + 2, refunds, outbox, pg_orders + 1, pg_refunds, keys, endpoints]
    );
    assert_eq!(event_kinds(&app, &order_id).await, ["payment.requested", "checkout.created"]);
}

async fn a_disabled_shop_gets_no_button_data_no_hmac_and_no_payment(db: Db) {
    let app = spawn_app(db).await;
    let cafe24 = Receiver::start().await;
    // The mall is known (its credentials are linked) but its only shop is switched off.
    assert!(app.state.store.set_shop_enabled("demomall", 1, false).await.unwrap());
    let before = app.snapshot().await;

    let response =
        app.client.get(app.url("/api/external-checkout/script/data?mall_id=demomall&shop_no=1")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (&body["bResult"], body["mData"]["message"].as_str()),
        (&json!(false), Some("paybridge is not enabled for this shop"))
    );

    let response = ask_script_hmac(&app, "demomall", now_secs(), CLIENT_ID, "mockbuyer").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["mData"]["message"], "paybridge is not enabled in this mall");
    assert!(body.get("hmac_key").is_none());

    let order_id = unique_order_id();
    let (status, answer) =
        post_payload(&app, &payload(&order_id, &basket(), &cafe24.url("/noty"), 2700, now_secs())).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert_eq!(answer["mData"]["message"], "paybridge is not enabled for this shop");
    assert_eq!(app.snapshot().await, before, "nothing changed");
}

/// The JSON a demo storefront page assigns to `window.{name}`.
fn page_value(page: &str, name: &str) -> Value {
    let marker = format!("window.{name} = ");
    let start = page.find(&marker).unwrap_or_else(|| panic!("no {name} on the page"));
    let rest = &page[start + marker.len()..];
    serde_json::Deserializer::from_str(rest).into_iter::<Value>().next().unwrap().unwrap()
}

async fn a_signed_out_buyer_reserves_as_a_guest_on_the_demo_storefront(db: Db) {
    let app = spawn_app(db).await;
    let app = &app;
    let get_page =
        |path: &'static str| async move { app.client.get(app.url(path)).send().await.unwrap().text().await.unwrap() };
    let member_page = get_page("/demo-mall/basket").await;
    assert_eq!(page_value(&member_page, "DEMO_CUSTOMER"), json!({"member_id": "demobuyer", "guest_id": null}));
    assert!(
        member_page.contains("Signed in as demobuyer") && member_page.contains("href=\"/demo-mall/basket?guest=1\"")
    );

    // Signed out: CAFE24API.getCustomerIDInfo answers a guest id and no member id.
    let page = get_page("/demo-mall/basket?guest=1").await;
    assert!(page.contains("Shopping as a guest"));
    let ids = page_value(&page, "DEMO_CUSTOMER");
    assert_eq!(ids["member_id"], Value::Null);
    let guest_id = ids["guest_id"].as_str().unwrap().to_owned();
    assert!(guest_id.starts_with("guest"), "{guest_id}");

    // What the button does with it: the guest id is signed and reserved in place of a
    // member id, and the payload says bGuest.
    let now = now_secs();
    let hmac: Value = ask_script_hmac(app, "demomall", now, CLIENT_ID, &guest_id).await.json().await.unwrap();
    let (status, mut reservation) = app
        .post_json(
            "/demo-cafe24/demomall/front/precreate-order",
            &json!({"request_time": now.to_string(), "client_id": CLIENT_ID, "member_id": guest_id,
                    "hmac": hmac["hmac_key"], "products": page_value(&page, "DEMO_BASKET")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reservation}");
    reservation["member_id"] = json!(guest_id);
    reservation["bGuest"] = json!(1);
    reservation["return_url_base"] = json!(app.base.as_str().trim_end_matches('/'));
    let (status, answer) = post_payload(app, &reservation).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let cafe24 = app.cafe24_data(reservation["order_id"].as_str().unwrap()).await;
    let extra: Value = serde_json::from_str(cafe24.extra_data.as_deref().unwrap()).unwrap();
    assert_eq!(extra, json!({"member_id": guest_id, "bGuest": 1}));
}

crate::on_both_databases!(
    the_storefront_script_is_one_stable_file_any_shop_may_load,
    script_data_describes_enabled_shops_and_never_a_secret,
    script_hmac_signs_for_our_client_at_a_fresh_time_only,
    a_storefront_purchase_is_reviewed_paid_and_notified,
    shipping_is_added_by_cafe24s_calculation,
    bad_payloads_are_refused_and_change_nothing,
    declines_cancels_and_unknown_orders_send_the_buyer_back,
    the_pg_refusing_to_take_the_payment_leaves_its_amount_as_it_was,
    a_pg_that_does_not_answer_keeps_the_settled_amount_for_the_next_pay,
    the_pg_refusing_the_checkout_creates_nothing,
    a_disabled_shop_gets_no_button_data_no_hmac_and_no_payment,
    a_signed_out_buyer_reserves_as_a_guest_on_the_demo_storefront,
);
