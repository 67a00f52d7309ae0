//! Saved cards of the Store API v2 (SPEC §8.3, §8.4, §8.5), each flow on both databases:
//! a registration on the sandbox PG's page (by the buyer's return or by the PG's webhook),
//! a refused card, listing and deleting cards, payments with a saved card started by the
//! merchant or by the customer with a PIN verification, and what capture, cancel and
//! confirm do to them.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::{helpers::*, receiver::Receiver, v2_helpers::*};

const SECONDS: Duration = Duration::from_secs(10);

fn event_types(received: &[crate::receiver::Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| serde_json::from_str::<Value>(&r.body).unwrap()["type"].as_str().unwrap().to_owned())
        .collect()
}

async fn a_card_saved_on_the_pg_page_becomes_a_token_and_the_store_hears_of_it(db: Db) {
    let app = spawn_app(db).await;
    let store = Receiver::start().await;
    let (_, secret) = app.webhook_endpoint(&store.url("/hooks")).await;
    let registration = app.open_registration("c-77", "off_session").await;
    let id = registration["id"].as_str().unwrap().to_owned();
    assert!(id.starts_with("pay_"), "{registration}");
    let page_url = registration["registrationUrl"].as_str().unwrap();
    assert!(page_url.starts_with(app.url("/sandbox-pg/registrations/sbx_reg_").as_str()), "{page_url}");
    let opened = app.v2_payment(&id).await;
    assert_eq!(
        (
            opened["status"].as_str(),
            opened["amount"].as_i64(),
            opened["method"].as_str(),
            opened["customerId"].as_str()
        ),
        (Some("REQUEST"), Some(0), Some("token_registration"), Some("c-77"))
    );
    let page = app.client.get(page_url).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("data-testid=\"card-number\""), "a card form");

    let back = app.buyer_saves_card(&registration, CARD_OK).await;
    assert_eq!(back.path(), "/store/cards/saved");
    let params = query_map(&back);
    assert_eq!(params["registrationId"], id);
    let token = params["tokenId"].clone();
    assert!(token.starts_with("tok_") && token.len() == 36, "{token}");

    let registered = app.v2_payment(&id).await;
    assert_eq!((registered["status"].as_str(), registered["statusCode"].as_i64()), (Some("REGISTER"), Some(9)));
    let kinds: Vec<_> = registered["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["payment.requested", "registration.created", "payment.registered"]);

    let list = app.v2_get("/api/v2/customers/c-77/tokens").await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let listed = &list.body["data"][0];
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1);
    assert_eq!(listed["id"], token.as_str());
    assert_eq!(listed["customerId"], "c-77");
    assert_eq!(listed["usage"], "off_session");
    assert_eq!(listed["card"], json!({"brand": "visa", "last4": "4242", "expMonth": 12, "expYear": 2031}));
    assert!(listed["createdAt"].as_str().unwrap().ends_with('Z'));
    assert_eq!(listed.as_object().unwrap().len(), 5, "only the token's fields: {listed}");

    // The PG's reference is kept sealed; the store gets token.registered, signed.
    let (sealed,): (String,) = sqlx::query_as("SELECT reference_enc FROM card_tokens WHERE id = $1")
        .bind(&token)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert!(sealed.starts_with("v1.") && !sealed.contains("sbx_tok_"), "{sealed}");
    store.wait_for("/hooks", 1, SECONDS).await;
    app.settled().await;
    let got = store.received("/hooks");
    assert_eq!(event_types(&got), ["token.registered"]);
    let event: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(event["data"], *listed, "the webhook's data is the token");
    let event_id = event["id"].as_str().unwrap();
    assert_eq!(registered["events"][2]["id"], event_id, "its id is the registration's history entry");
    let headers = &got[0].headers;
    assert!(python_verifies(
        &secret,
        event_id,
        headers["webhook-timestamp"].to_str().unwrap(),
        &got[0].body,
        headers["webhook-signature"].to_str().unwrap()
    ));
    assert!(!got[0].body.contains("sbx_tok_"), "the PG's reference never leaves");

    // The buyer coming back again changes nothing.
    let callback = app
        .client
        .get(app.url(&format!("/api/v2/tokens/registrations/callback?reference_no={id}")))
        .send()
        .await
        .unwrap();
    assert_eq!(query_map(&location(&callback))["tokenId"], token);
    assert_eq!(app.count("card_tokens").await, 1);
}

async fn a_refused_card_fails_the_registration_and_the_buyer_goes_to_fail_url(db: Db) {
    let app = spawn_app(db).await;
    let store = Receiver::start().await;
    app.webhook_endpoint(&store.url("/hooks")).await;
    let registration = app.open_registration("c-78", "on_session").await;
    let id = registration["id"].as_str().unwrap();
    let back = app.buyer_saves_card(&registration, CARD_REFUSED).await;
    assert_eq!(back.path(), "/store/cards/failed");
    let params = query_map(&back);
    assert_eq!((params["registrationId"].as_str(), params["code"].as_str()), (id, "declined"));
    let failed = app.v2_payment(id).await;
    assert_eq!((failed["status"].as_str(), failed["failure"]["code"].as_str()), (Some("FAIL"), Some("declined")));
    assert_eq!(app.count("card_tokens").await, 0);
    let list = app.v2_get("/api/v2/customers/c-78/tokens").await;
    assert_eq!((list.status, &list.body), (StatusCode::OK, &json!({"data": []})));
    store.wait_for("/hooks", 1, SECONDS).await;
    app.settled().await;
    let got = store.received("/hooks");
    assert_eq!(event_types(&got), ["token.registration_failed"]);
    let event: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!((event["data"]["id"].as_str(), event["data"]["status"].as_str()), (Some(id), Some("FAIL")));

    // A typing error is shown on the page and decides nothing.
    let other = app.open_registration("c-78", "on_session").await;
    let typo = app
        .client
        .post(other["registrationUrl"].as_str().unwrap())
        .form(&[("card_number", "4242424242424241"), ("exp_month", "12"), ("exp_year", "2031")])
        .send()
        .await
        .unwrap();
    assert_eq!(typo.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(typo.text().await.unwrap().contains("data-testid=\"card-error\""));
    assert_eq!(app.v2_payment(other["id"].as_str().unwrap()).await["status"], "REQUEST");
}

async fn the_pgs_webhook_finishes_a_registration_the_buyer_never_came_back_from(db: Db) {
    let app = spawn_app(db).await;
    let registration = app.open_registration("c-79", "on_session").await;
    let id = registration["id"].as_str().unwrap();
    // The buyer saves the card and closes the window: our callback is never reached.
    app.buyer_enters_card(registration["registrationUrl"].as_str().unwrap(), CARD_OK).await;
    app.pg_settled().await;
    let registered = app.v2_payment(id).await;
    assert_eq!(registered["status"], "REGISTER");
    let sources: Vec<_> =
        registered["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(sources.last(), Some(&"payment.registered"));
    let list = app.v2_get("/api/v2/customers/c-79/tokens").await;
    assert_eq!(list.body["data"].as_array().unwrap().len(), 1, "{}", list.body);

    // A registration left open expires; a card saved on its page afterwards is deleted
    // at the PG again (nobody here could use it).
    let late = app.open_registration("c-79", "on_session").await;
    let late_id = late["id"].as_str().unwrap();
    sqlx::query("UPDATE payments SET expires_at = 1 WHERE id = $1")
        .bind(late_id)
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let report = app.maintain().await;
    assert_eq!(report.expired, 1, "{report:?}");
    let expired = app.v2_payment(late_id).await;
    assert_eq!((expired["status"].as_str(), expired["failure"]["code"].as_str()), (Some("FAIL"), Some("expired")));
    let back = app.buyer_saves_card(&late, CARD_OK).await;
    assert_eq!((back.path(), query_map(&back)["code"].as_str()), ("/store/cards/failed", "expired"));
    app.pg_settled().await;
    assert_eq!(
        app.count_where("sandbox_pg_registrations", &format!("reference = '{late_id}' AND deleted_at IS NOT NULL"))
            .await,
        1,
        "the late card is deleted at the PG"
    );
    assert_eq!(app.v2_get("/api/v2/customers/c-79/tokens").await.body["data"].as_array().unwrap().len(), 1);
}

async fn a_deleted_card_is_gone_at_the_pg_first_then_here(db: Db) {
    let app = spawn_app(db).await;
    let store = Receiver::start().await;
    app.webhook_endpoint(&store.url("/hooks")).await;
    let first = app.saved_card("c-80", "off_session", CARD_OK).await;
    let second = app.saved_card("c-80", "on_session", "5555555555554444").await;
    let list = app.v2_get("/api/v2/customers/c-80/tokens").await;
    let ids: Vec<_> = list.body["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [second.as_str(), first.as_str()], "newest first");
    assert_eq!(list.body["data"][0]["card"]["brand"], "mastercard");

    // The PG does not answer: nothing is deleted here.
    app.sandbox_pg("/faults", &[("path", "/v1/tokens/"), ("times", "1")]).await;
    let down = app.v2(Method::DELETE, &format!("/api/v2/tokens/{first}"), Some(KEY), None, None).await;
    assert_eq!(
        (down.status, down.body["error"]["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("gateway_unavailable"))
    );
    assert_eq!(app.count_where("card_tokens", "deleted_at IS NULL").await, 2);

    let deleted = app.v2(Method::DELETE, &format!("/api/v2/tokens/{first}"), Some(KEY), None, None).await;
    assert_eq!((deleted.status, &deleted.body), (StatusCode::OK, &json!({"id": first, "deleted": true})));
    assert_eq!(app.count_where("sandbox_pg_registrations", "deleted_at IS NOT NULL").await, 1, "gone at the PG");
    let again = app.v2(Method::DELETE, &format!("/api/v2/tokens/{first}"), Some(KEY), None, None).await;
    assert_eq!((again.status, again.body["error"]["code"].as_str()), (StatusCode::NOT_FOUND, Some("resource_missing")));
    let list = app.v2_get("/api/v2/customers/c-80/tokens").await;
    let ids: Vec<_> = list.body["data"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [second.as_str()]);
    let pay = app.v2_post("/api/v2/token-payments", &app.token_payment_body(&first, json!({}))).await;
    assert_eq!((pay.status, pay.body["error"]["param"].as_str()), (StatusCode::NOT_FOUND, Some("tokenId")));

    store.wait_for("/hooks", 3, SECONDS).await;
    app.settled().await;
    let got = store.received("/hooks");
    assert_eq!(event_types(&got), ["token.registered", "token.registered", "token.deleted"]);
    let event: Value = serde_json::from_str(&got[2].body).unwrap();
    assert_eq!(event["data"]["id"], first.as_str());
    assert_eq!(event["data"]["card"]["last4"], "4242");
}

async fn a_merchant_charges_an_off_session_card_and_the_payment_is_like_any_other(db: Db) {
    let app = spawn_app(db).await;
    let store = Receiver::start().await;
    app.webhook_endpoint(&store.url("/hooks")).await;
    let token = app.saved_card("c-81", "off_session", CARD_OK).await;
    let paid = app.v2_post("/api/v2/token-payments", &app.token_payment_body(&token, json!({}))).await;
    assert_eq!(paid.status, StatusCode::OK, "{}", paid.body);
    let id = paid.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        (paid.body["status"].as_str(), paid.body["method"].as_str(), paid.body["customerId"].as_str()),
        (Some("COMPLETE"), Some("token"), Some("c-81"))
    );
    assert_eq!((paid.body["capturedAmount"].as_i64(), paid.body["balanceAmount"].as_i64()), (Some(15000), Some(15000)));
    assert_eq!(paid.body["successUrl"], Value::Null, "no buyer goes anywhere");
    let cancel =
        app.v2_post(&format!("/api/v2/payments/{id}/cancel"), &json!({"amount": 5000, "reason": "one box back"})).await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.body);
    let confirm = app.v2_post(&format!("/api/v2/payments/{id}/confirm"), &json!({})).await;
    assert_eq!(confirm.status, StatusCode::OK, "{}", confirm.body);
    app.settled().await;
    let after = app.v2_payment(&id).await;
    assert_eq!(
        (after["status"].as_str(), after["balanceAmount"].as_i64(), after["confirmedAt"].is_string()),
        (Some("PARTIAL_CANCEL"), Some(10000), true)
    );

    // Manual capture: authorized, then captured.
    let manual = app
        .v2_post("/api/v2/token-payments", &app.token_payment_body(&token, json!({"captureMethod": "manual"})))
        .await;
    assert_eq!(
        (manual.status, manual.body["status"].as_str(), manual.body["pendingReason"].as_str()),
        (StatusCode::OK, Some("PENDING"), Some("capture"))
    );
    let manual_id = manual.body["id"].as_str().unwrap();
    let captured = app.v2_post(&format!("/api/v2/payments/{manual_id}/capture"), &json!({"amount": 9000})).await;
    assert_eq!(
        (captured.status, captured.body["status"].as_str(), captured.body["capturedAmount"].as_i64()),
        (StatusCode::OK, Some("COMPLETE"), Some(9000))
    );

    // A card whose charges are declined: a payment in 4, not an error.
    let declining = app.saved_card("c-81", "off_session", CARD_DECLINES).await;
    let declined = app.v2_post("/api/v2/token-payments", &app.token_payment_body(&declining, json!({}))).await;
    assert_eq!(
        (declined.status, declined.body["status"].as_str(), declined.body["failure"]["code"].as_str()),
        (StatusCode::OK, Some("FAIL"), Some("declined"))
    );

    store.wait_for("/hooks", 8, SECONDS).await;
    app.settled().await;
    let types = event_types(&store.received("/hooks"));
    for expected in
        ["payment.completed", "payment.partially_canceled", "payment.confirmed", "payment.pending", "payment.failed"]
    {
        assert!(types.iter().any(|t| t == expected), "{expected} in {types:?}");
    }
}

async fn a_customer_with_a_pin_pays_once_per_fresh_verification(db: Db) {
    let app = spawn_app(db).await;
    let token = app.saved_card("c-82", "on_session", CARD_OK).await;
    // Without a PIN the customer pays without one.
    let plain =
        app.v2_post("/api/v2/token-payments", &app.token_payment_body(&token, json!({"initiator": "customer"}))).await;
    assert_eq!((plain.status, plain.body["status"].as_str()), (StatusCode::OK, Some("COMPLETE")), "{}", plain.body);

    let verification = app.pin_verification("c-82", 300_000).await;
    let before = app.snapshot().await;
    let without =
        app.v2_post("/api/v2/token-payments", &app.token_payment_body(&token, json!({"initiator": "customer"}))).await;
    assert_eq!(
        (without.status, without.body["error"]["type"].as_str(), without.body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("pin_error"), Some("pin_verification_required"))
    );
    assert_eq!(app.snapshot().await, before, "refused: nothing changed");

    let body = app.token_payment_body(&token, json!({"initiator": "customer", "pinVerificationToken": verification}));
    let paid = app.v2_post("/api/v2/token-payments", &body).await;
    assert_eq!((paid.status, paid.body["status"].as_str()), (StatusCode::OK, Some("COMPLETE")), "{}", paid.body);
    assert_eq!(app.count_where("pin_verifications", "used_at IS NOT NULL").await, 1, "used up");

    let before = app.snapshot().await;
    let reused = app
        .v2_post(
            "/api/v2/token-payments",
            &app.token_payment_body(&token, json!({"initiator": "customer", "pinVerificationToken": verification})),
        )
        .await;
    assert_eq!(
        (reused.status, reused.body["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("pin_verification_required"))
    );
    assert_eq!(app.snapshot().await, before, "refused: nothing changed");
}

async fn a_lost_pg_answer_is_finished_by_the_same_request_and_charged_once(db: Db) {
    let app = spawn_app(db).await;
    let token = app.saved_card("c-83", "off_session", CARD_OK).await;
    let body = app.token_payment_body(&token, json!({}));
    app.sandbox_pg("/faults", &[("path", "/v1/tokens/"), ("times", "1"), ("when", "after")]).await;
    let lost = app.v2(Method::POST, "/api/v2/token-payments", Some(KEY), Some("pay-once"), Some(&body)).await;
    assert_eq!(
        (lost.status, lost.body["error"]["code"].as_str()),
        (StatusCode::BAD_GATEWAY, Some("gateway_unavailable"))
    );
    let order = body["orderId"].as_str().unwrap();
    assert_eq!(app.count_where("sandbox_pg_orders", "mode = 'token'").await, 1, "the PG charged");
    let waiting = app.count_where("payments", &format!("order_id = '{order}' AND status = 1 AND tid IS NULL")).await;
    assert_eq!(waiting, 1, "the payment waits in 1 for the PG's answer");
    // A cancel cannot tell what happened: refused, nothing changes.
    let id: (String,) = sqlx::query_as("SELECT id FROM payments WHERE order_id = $1")
        .bind(order)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    let cancel = app.v2_post(&format!("/api/v2/payments/{}/cancel", id.0), &json!({"reason": "x"})).await;
    assert_eq!((cancel.status, cancel.body["error"]["code"].as_str()), (StatusCode::CONFLICT, Some("invalid_state")));

    let finished = app.v2(Method::POST, "/api/v2/token-payments", Some(KEY), Some("pay-once"), Some(&body)).await;
    assert_eq!(
        (finished.status, finished.body["status"].as_str()),
        (StatusCode::OK, Some("COMPLETE")),
        "{}",
        finished.body
    );
    assert_eq!(finished.body["id"], id.0.as_str());
    let replayed = app.v2(Method::POST, "/api/v2/token-payments", Some(KEY), Some("pay-once"), Some(&body)).await;
    assert_eq!(replayed.headers["idempotent-replayed"], "true");
    assert_eq!(app.count_where("sandbox_pg_orders", "mode = 'token'").await, 1, "charged once");
    assert_eq!(app.count_where("payments", &format!("order_id = '{order}'")).await, 1);

    // Never sent again: the maintenance worker asks the PG when the payment expires.
    app.sandbox_pg("/faults", &[("path", "/v1/tokens/"), ("times", "1"), ("when", "after")]).await;
    let other = app.token_payment_body(&token, json!({}));
    let lost = app.v2_post("/api/v2/token-payments", &other).await;
    assert_eq!(lost.status, StatusCode::BAD_GATEWAY);
    sqlx::query("UPDATE payments SET expires_at = 1 WHERE order_id = $1")
        .bind(other["orderId"].as_str().unwrap())
        .execute(app.state.store.pool())
        .await
        .unwrap();
    app.maintain().await;
    let (status,): (i64,) = sqlx::query_as("SELECT status FROM payments WHERE order_id = $1")
        .bind(other["orderId"].as_str().unwrap())
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(status, 2, "the PG charged it: the payment is complete, not expired");
    assert_eq!(app.count_where("sandbox_pg_orders", "mode = 'token'").await, 2, "still charged once");
}

async fn ten_payments_racing_with_one_verification_make_one_payment(db: Db) {
    let app = spawn_app(db).await;
    let token = app.saved_card("c-84", "on_session", CARD_OK).await;
    let verification = app.pin_verification("c-84", 300_000).await;
    let bodies: Vec<Value> = (0..10)
        .map(|_| app.token_payment_body(&token, json!({"initiator": "customer", "pinVerificationToken": verification})))
        .collect();
    let answers = futures::future::join_all(bodies.iter().map(|b| app.v2_post("/api/v2/token-payments", b))).await;
    let paid: Vec<&V2Answer> = answers.iter().filter(|a| a.status == StatusCode::OK).collect();
    assert_eq!(paid.len(), 1, "{:?}", answers.iter().map(|a| (a.status, a.body.clone())).collect::<Vec<_>>());
    for refused in answers.iter().filter(|a| a.status != StatusCode::OK) {
        assert_eq!(
            (refused.status, refused.body["error"]["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("pin_verification_required")),
            "{}",
            refused.body
        );
    }
    assert_eq!(app.count_where("payments", "amount_minor = 15000").await, 1, "one payment");
    assert_eq!(app.count_where("sandbox_pg_orders", "mode = 'token'").await, 1, "one charge");
}

async fn rotating_keys_reseals_the_card_references(db: Db) {
    let app = spawn_app(db).await;
    let token = app.saved_card("c-96", "off_session", CARD_OK).await;
    let old_key = app.var("ENCRYPTION_KEY").to_owned();
    let new_key = paybridge::secrets::KeyRing::generate_encoded();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_paybridge"))
        .arg("rotate-keys")
        .env("DATABASE_URL", app.var("DATABASE_URL"))
        .env("ENCRYPTION_KEY", format!("{new_key},{old_key}"))
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    // The PG credentials, the Cafe24 tokens and the card's reference.
    assert!(String::from_utf8_lossy(&output.stdout).contains("re-encrypted 3 rows"), "{output:?}");
    let new_id = paybridge::secrets::KeyRing::parse_list(&new_key).unwrap().current_key_id().to_owned();
    let (sealed,): (String,) = sqlx::query_as("SELECT reference_enc FROM card_tokens WHERE id = $1")
        .bind(&token)
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert_eq!(sealed.split('.').nth(1), Some(new_id.as_str()), "{sealed}");
    // An instance with only the new key charges the card.
    let next = app.sibling(&[("ENCRYPTION_KEY", new_key.as_str())]).await;
    let paid = next.v2_post("/api/v2/token-payments", &next.token_payment_body(&token, json!({}))).await;
    assert_eq!((paid.status, paid.body["status"].as_str()), (StatusCode::OK, Some("COMPLETE")), "{}", paid.body);
}

async fn no_card_number_or_card_reference_is_stored_or_logged_in_clear(db: Db) {
    use std::process::Stdio;

    use crate::secrets::{contains, database_bytes};

    let (vars, _db) = environment(db, &[("RUST_LOG", "debug")]).await;
    let log_path = std::env::temp_dir().join(format!("paybridge-log-{}.txt", uuid::Uuid::new_v4().simple()));
    let log = std::fs::File::create(&log_path).unwrap();
    let (mut server, base) = start_process(&vars, Stdio::from(log)).await;
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let post = |path: &str, body: Value| {
        client
            .post(base.join(path).unwrap())
            .bearer_auth(KEY)
            .header("Idempotency-Key", uuid::Uuid::new_v4().to_string())
            .json(&body)
            .send()
    };
    let mut tokens = Vec::new();
    for card in [CARD_OK, CARD_DECLINES] {
        let body = json!({"customerId": "c-95", "usage": "off_session",
            "successUrl": base.join("/store/ok").unwrap().to_string(), "failUrl": base.join("/store/no").unwrap().to_string()});
        let registration: Value = post("/api/v2/tokens/registrations", body).await.unwrap().json().await.unwrap();
        let form = [("card_number", card), ("exp_month", "12"), ("exp_year", "2031"), ("cvc", "123")];
        let page = registration["registrationUrl"].as_str().unwrap();
        let callback = location(&client.post(page).form(&form).send().await.unwrap());
        let back = location(&client.get(callback).send().await.unwrap());
        tokens.push(query_map(&back)["tokenId"].clone());
    }
    for token in &tokens {
        let body = json!({"tokenId": token, "amount": 1000, "currency": "PHP", "orderId": format!("S-{}", &token[4..14]),
            "orderName": "x", "initiator": "merchant"});
        let paid = post("/api/v2/token-payments", body).await.unwrap();
        assert_eq!(paid.status(), StatusCode::OK);
    }
    let store = paybridge::store::Store::connect(&vars["DATABASE_URL"]).await.unwrap();
    let keys = paybridge::secrets::KeyRing::parse_list(&vars["ENCRYPTION_KEY"]).unwrap();
    let mut references = Vec::new();
    for token in &tokens {
        let id = paybridge::domain::TokenId::parse(token).unwrap();
        references.push(store.card_reference(&keys, &id).await.unwrap());
    }
    let deleted = client
        .delete(base.join(&format!("/api/v2/tokens/{}", tokens[0])).unwrap())
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::OK);
    server.kill().unwrap();
    server.wait().unwrap();

    let database = database_bytes(db, &vars["DATABASE_URL"], &store).await;
    let logs = std::fs::read(&log_path).unwrap();
    let text = String::from_utf8_lossy(&logs);
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("tokens")).take(8).collect();
    assert!(
        contains(&logs, "/sandbox-pg/v1/tokens/…/charges"),
        "the charges were logged, without their token: {lines:#?}"
    );
    for reference in &references {
        assert!(reference.starts_with("sbx_tok_"), "{reference}");
        assert!(!contains(&database, reference), "a card reference is in the database in clear");
        assert!(!contains(&logs, reference), "a card reference is in the logs");
    }
    for number in [CARD_OK, CARD_DECLINES] {
        if let Some(at) = database.windows(number.len()).position(|w| w == number.as_bytes()) {
            let around =
                String::from_utf8_lossy(&database[at.saturating_sub(300)..(at + 100).min(database.len())]).into_owned();
            panic!("card number {number} is in the database: {around:?}");
        }
        assert!(!contains(&logs, number), "a card number is in the logs");
    }
    store.close().await;
    let _ = std::fs::remove_file(log_path);
}

crate::on_both_databases!(
    a_card_saved_on_the_pg_page_becomes_a_token_and_the_store_hears_of_it,
    a_refused_card_fails_the_registration_and_the_buyer_goes_to_fail_url,
    the_pgs_webhook_finishes_a_registration_the_buyer_never_came_back_from,
    a_deleted_card_is_gone_at_the_pg_first_then_here,
    a_merchant_charges_an_off_session_card_and_the_payment_is_like_any_other,
    a_customer_with_a_pin_pays_once_per_fresh_verification,
    a_lost_pg_answer_is_finished_by_the_same_request_and_charged_once,
    ten_payments_racing_with_one_verification_make_one_payment,
    no_card_number_or_card_reference_is_stored_or_logged_in_clear,
    rotating_keys_reseals_the_card_references,
);
