//! The merchant admin (SPEC §4.7) against the simulated Cafe24 OAuth server and Admin API.

use std::time::Duration;

use reqwest::{header, StatusCode};
use serde_json::{json, Value};

use crate::{
    admin_helpers::*,
    helpers::*,
    receiver::{Plan, Receiver},
};

async fn launching_signs_in_through_oauth_and_shows_the_admin(db: Db) {
    let app = spawn_app(db).await;
    let merchant = app.sign_in("demomall", "en_US").await;
    let page = app.admin_page("demomall", &merchant.cookie).await;
    for text in ["paybridge settings", "Tindahan", "Mise", "Gage", "JPY", "KRW", "demo-app-public-key"] {
        assert!(page.contains(text), "{text} on the page");
    }
    assert!(!page.contains("demo-app-secret-key"), "the secret is never shown");
    assert_eq!(app.count("oauth_tokens").await, 1);
    let korean = app.sign_in("demomall", "ko_KR").await;
    assert!(app.admin_page("demomall", &korean.cookie).await.contains("paybridge 설정"));
    let japanese = app.sign_in("demomall", "ja_JP").await;
    assert!(app.admin_page("demomall", &japanese.cookie).await.contains("paybridge 設定"));
}

async fn the_session_cookie_is_secure_under_https(db: Db) {
    // Served behind https (the port is closed: only the cookie matters here).
    let app = spawn_app_with(db, &[("APP_URL", "https://127.0.0.1:1")]).await;
    let launch = app.url(&format!("/?{}", launch_query("demomall", "en_US", now_secs(), "P")));
    let response = app.client.get(launch).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap().to_owned();
    for attribute in ["HttpOnly", "SameSite=Lax", "Secure"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(location(&response).as_str().starts_with("https://127.0.0.1:1/"), "https all the way");
}

async fn bad_launches_and_forged_oauth_are_refused(db: Db) {
    let app = spawn_app(db).await;
    let tokens_before = app.state.store.tokens(&app.state.keys, "demomall").await.unwrap();
    let good = launch_query("demomall", "en_US", now_secs(), "P");
    let cases: Vec<(String, StatusCode)> = vec![
        (good.split("&hmac=").next().unwrap().to_owned(), StatusCode::UNAUTHORIZED),
        (format!("{}&hmac=AAAA", good.split("&hmac=").next().unwrap()), StatusCode::UNAUTHORIZED),
        (good.replace("user_id=merchant", "user_id=intruder"), StatusCode::UNAUTHORIZED),
        (launch_query("demomall", "en_US", now_secs() - 3600, "P"), StatusCode::UNAUTHORIZED),
        (launch_query("demomall", "en_US", now_secs(), "S"), StatusCode::FORBIDDEN),
    ];
    for (query, status) in cases {
        let response = app.client.get(app.url(&format!("/?{query}"))).send().await.unwrap();
        assert_eq!(response.status(), status, "{query}");
        assert!(session_cookie(&response).is_none());
    }
    assert_eq!(app.count("admin_sessions").await, 0, "no session was started");

    // A real launch, then a callback with another state, or in another browser.
    let response = app.client.get(app.url(&format!("/?{good}"))).send().await.unwrap();
    let cookie = session_cookie(&response).unwrap();
    let response = app.client.get(location(&response)).send().await.unwrap();
    let mut forged = location(&response);
    let code = query_map(&forged)["code"].clone();
    forged.set_query(Some(&format!("code={code}&state=forged")));
    let response = app.client.get(forged.clone()).header(header::COOKIE, &cookie).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = app.client.get(forged).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "no session cookie");
    assert_eq!(app.state.store.tokens(&app.state.keys, "demomall").await.unwrap(), tokens_before, "no tokens taken");
}

async fn admin_actions_need_the_malls_session_and_the_csrf_token(db: Db) {
    let app = spawn_app(db).await;
    let merchant = app.sign_in("demomall", "en_US").await;
    let other = app.sign_in("othermall", "en_US").await;
    let link = json!({"mall_id": "demomall", "public_key": "demo-app-public-key", "secret_key": "demo-app-secret-key"});
    let before = app.count("pg_credentials").await;
    let cases = [
        (None, None, StatusCode::UNAUTHORIZED),
        (Some(merchant.cookie.as_str()), None, StatusCode::FORBIDDEN),
        (Some(merchant.cookie.as_str()), Some("wrong-token"), StatusCode::FORBIDDEN),
        (Some(other.cookie.as_str()), Some(other.csrf.as_str()), StatusCode::FORBIDDEN),
    ];
    let requests = [
        ("/admin/link", link.clone()),
        ("/admin/unlink", json!({"mall_id": "demomall"})),
        ("/admin/shop/toggle", json!({"mall_id": "demomall", "action": "enable", "shop_no": 2})),
        ("/admin/notifications/resend", json!({"mall_id": "demomall", "delivery_id": "msg_x"})),
    ];
    for (cookie, csrf, status) in cases {
        for (path, body) in &requests {
            let (got, answer) = app.admin_post(path, cookie, csrf, body).await;
            assert_eq!(got, status, "{path}: {answer}");
        }
    }
    // The page's server functions are guarded the same way.
    let response = app
        .client
        .post(app.url("/admin/fn/link"))
        .header(header::COOKIE, &merchant.cookie)
        .form(&[("request[mall_id]", "demomall"), ("request[public_key]", "x"), ("request[secret_key]", "y")])
        .send()
        .await
        .unwrap();
    assert!(!response.status().is_success());
    assert!(response.text().await.unwrap().contains("CSRF"));
    assert_eq!(app.count("pg_credentials").await, before);
    // Reading through a server function is a POST too: it needs the token (the page itself is a GET).
    let overview = |csrf: Option<&str>| {
        let mut request = app.client.post(app.url("/admin/fn/overview")).header(header::COOKIE, &merchant.cookie);
        if let Some(token) = csrf {
            request = request.header("X-CSRF-Token", token);
        }
        request.form(&[("mall_id", "demomall")]).send()
    };
    let response = overview(None).await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(!response.text().await.unwrap().contains(&merchant.csrf), "the token is not handed out");
    assert_eq!(overview(Some(&merchant.csrf)).await.unwrap().status(), StatusCode::OK);

    let (status, body) = merchant.post(&app, "/admin/link", link).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Signing out ends the session.
    let response = app
        .client
        .post(app.url("/admin/logout"))
        .header(header::COOKIE, &merchant.cookie)
        .header("X-CSRF-Token", &merchant.csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let (status, _) = merchant.toggle(&app, "enable", 2).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // An expired session is as good as none.
    let later = app.sign_in("demomall", "en_US").await;
    sqlx::query("UPDATE admin_sessions SET expires_at = 0").execute(app.state.store.pool()).await.unwrap();
    let (status, _) = later.toggle(&app, "enable", 2).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "expired");
    assert_eq!(app.count_where("shops", "mall_id = 'demomall' AND shop_no = 2 AND enabled = 1").await, 0);
}

async fn linking_checks_the_credentials_and_seals_the_secret(db: Db) {
    let app = spawn_app(db).await;
    let merchant = app.sign_in("othermall", "en_US").await;
    let (status, body) = merchant
        .post(
            &app,
            "/admin/link",
            json!({"mall_id": "othermall", "public_key": "demo-app-public-key", "secret_key": "wrong"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "secret_key");
    let (status, body) =
        merchant.post(&app, "/admin/link", json!({"mall_id": "othermall", "public_key": " ", "secret_key": "x"})).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("public_key")));
    assert_eq!(app.count_where("pg_credentials", "mall_id = 'othermall'").await, 0);

    let (status, body) = merchant
        .post(
            &app,
            "/admin/link",
            json!({"mall_id": "othermall", "public_key": "demo-app-public-key", "secret_key": "demo-app-secret-key"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["credentials"]["public_key"], "demo-app-public-key");
    assert!(!body.to_string().contains("demo-app-secret-key"));
    let (sealed,): (String,) = sqlx::query_as("SELECT secret_key_enc FROM pg_credentials WHERE mall_id = 'othermall'")
        .fetch_one(app.state.store.pool())
        .await
        .unwrap();
    assert!(sealed.starts_with("v1.") && !sealed.contains("demo-app-secret-key"));
}

async fn enabling_a_shop_registers_it_at_cafe24_and_takes_payments(db: Db) {
    let app = spawn_app(db).await;
    let merchant = app.sign_in("demomall", "en_US").await;
    let (status, body) = merchant.toggle(&app, "enable", 2).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(shop(&body, 2)["enabled"], true);
    let partner_id = shop(&body, 2)["partner_id"].as_str().unwrap().to_owned();
    assert!(partner_id.len() <= 50);

    let gateways = app.simulated_cafe24("demomall", "paymentgateway").await;
    assert_eq!(gateways.len(), 1);
    assert_eq!(
        (gateways[0]["shop_no"].as_i64(), gateways[0]["partner_id"].as_str()),
        (Some(2), Some(partner_id.as_str()))
    );
    let tags = app.simulated_cafe24("demomall", "scripttag").await;
    assert_eq!(tags.len(), 1);
    assert_eq!(tags[0]["integrity"], paybridge::cafe24::script::current_integrity());
    assert_eq!(tags[0]["skin_no"], json!([7, 8]), "the shop's PC and mobile skins, from Cafe24's shops list");
    assert_eq!(tags[0]["src"], app.url("/api/external-checkout/script").as_str());
    assert_eq!(tags[0]["display_location"], json!(["PRODUCT_DETAIL", "ORDER_BASKET"]));
    let script = app.client.get(app.url("/api/external-checkout/script")).send().await.unwrap();
    assert_eq!(script.headers()["access-control-allow-origin"], "*");
    assert!(script.headers()["content-type"].to_str().unwrap().starts_with("application/javascript"));
    assert_eq!(
        paybridge::cafe24::script::integrity(&script.bytes().await.unwrap()),
        tags[0]["integrity"].as_str().unwrap()
    );

    // Cafe24 now sends payment requests for the shop under its partner_id.
    let order_id = unique_order_id();
    let mut request = payment_request(&order_id, "1500");
    request["partner_id"] = json!(partner_id);
    request["shop_no"] = json!("2");
    request["currency"] = json!("JPY");
    request["hash_data"] = json!(sign(&["1500", "JPY", &order_id, &partner_id]));
    let (status, answer) = app.post_json("/api/synchronous-checkout/checkout", &request).await;
    assert_eq!(status, StatusCode::OK, "{answer}");

    // Enabling again changes nothing; disabling removes both registrations.
    let (status, _) = merchant.toggle(&app, "enable", 2).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.simulated_cafe24("demomall", "paymentgateway").await.len(), 1);
    let (status, body) = merchant.toggle(&app, "disable", 2).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(shop(&body, 2)["enabled"], false);
    assert!(app.simulated_cafe24("demomall", "paymentgateway").await.is_empty());
    assert!(app.simulated_cafe24("demomall", "scripttag").await.is_empty());
    request["order_id"] = json!(unique_order_id());
    request["hash_data"] = json!(sign(&["1500", "JPY", request["order_id"].as_str().unwrap(), &partner_id]));
    let (status, _) = app.post_json("/api/synchronous-checkout/checkout", &request).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a disabled shop takes no payments");

    // The seed's Postman collection names the shop by its index.
    let (status, body) = merchant
        .post(&app, "/admin/shop/toggle", json!({"mall_id": "demomall", "action": "enable", "shop_index": 1}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(shop(&body, 2)["enabled"], true);
    assert_eq!(shop(&body, 2)["partner_id"], partner_id.as_str(), "the partner_id is kept");
}

async fn a_currency_the_pg_lacks_is_refused_and_nothing_is_registered(db: Db) {
    let app = spawn_app(db).await;
    let merchant = app.sign_in("demomall", "en_US").await;
    let (status, body) = merchant.toggle(&app, "enable", 3).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "shop:3");
    assert!(error_message(&body).contains("KRW"));
    assert!(app.simulated_cafe24("demomall", "paymentgateway").await.is_empty());
    let (status, body) = merchant.toggle(&app, "enable", 9).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

async fn a_scripttag_failure_undoes_the_payment_gateway(db: Db) {
    let app = spawn_app_with(db, &[("CAFE24_API_TIMEOUT", "1s")]).await;
    let merchant = app.sign_in("demomall", "en_US").await;
    for fault in ["error", "refuse", "timeout"] {
        app.cafe24_fault("scripttags.create", fault).await;
        let (status, body) = merchant.toggle(&app, "enable", 2).await;
        assert!(
            status == StatusCode::BAD_GATEWAY || status == StatusCode::UNPROCESSABLE_ENTITY,
            "{fault}: {status} {body}"
        );
        let message = error_message(&body);
        assert!(message.contains("storefront script") && message.contains("removed again"), "{fault}: {message}");
        assert!(app.simulated_cafe24("demomall", "paymentgateway").await.is_empty(), "{fault}: undone at Cafe24");
        let shops = app.state.store.admin_shops("demomall").await.unwrap();
        let two = shops.iter().find(|s| s.shop_no == 2).unwrap();
        assert_eq!((two.enabled, two.pg_registered), (0, 0), "{fault}");
    }
    app.cafe24_fault("scripttags.create", "none").await;
    app.cafe24_fault("paymentgateway.create", "error").await;
    let (status, body) = merchant.toggle(&app, "enable", 2).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(error_message(&body).contains("payment method"));
    app.cafe24_fault("paymentgateway.create", "none").await;
    let (status, _) = merchant.toggle(&app, "enable", 2).await;
    assert_eq!(status, StatusCode::OK, "works once Cafe24 does");
}

async fn a_shop_changes_once_at_a_time_and_a_failed_removal_says_what_remains(db: Db) {
    let app = spawn_app_with(db, &[("CAFE24_API_TIMEOUT", "2s")]).await;
    let merchant = app.sign_in("demomall", "en_US").await;
    assert_eq!(merchant.toggle(&app, "enable", 2).await.0, StatusCode::OK);
    let scripttags = app.simulated_cafe24("demomall", "scripttag").await.len();
    let shop_two = || async {
        app.state.store.admin_shops("demomall").await.unwrap().into_iter().find(|s| s.shop_no == 2).unwrap()
    };

    // Cafe24 hangs while the script is removed; meanwhile another change of the shop waits its turn.
    app.cafe24_fault("scripttags.delete", "timeout").await;
    let meanwhile = async {
        // The disable holds the shop's lease and has stopped payments: it is at Cafe24 now.
        let busy = "mall_id = 'demomall' AND shop_no = 2 AND enabled = 0 AND toggle_lease_until IS NOT NULL";
        app.wait_rows("shops", busy, 1, Duration::from_secs(10)).await;
        merchant.toggle(&app, "enable", 2).await
    };
    let ((status, body), (other, other_body)) = tokio::join!(merchant.toggle(&app, "disable", 2), meanwhile);
    assert_eq!(other, StatusCode::CONFLICT, "{other_body}");
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(error_message(&body).contains("payments are off, but Cafe24 kept the storefront script"), "{body}");
    let two = shop_two().await;
    assert_eq!((two.enabled, two.pg_registered, two.scripttag_no.is_some()), (0, 1, true), "what remains is known");
    assert_eq!(app.simulated_cafe24("demomall", "scripttag").await.len(), scripttags);

    // The payment method cannot be removed: the script is gone, the rest is said.
    app.cafe24_fault("scripttags.delete", "none").await;
    app.cafe24_fault("paymentgateway.delete", "error").await;
    let (status, body) = merchant.toggle(&app, "disable", 2).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(error_message(&body).contains("kept the payment method"), "{body}");
    let two = shop_two().await;
    assert_eq!((two.enabled, two.pg_registered, two.scripttag_no.is_some()), (0, 1, false));

    // Unlinking stops at the same failure and keeps the link, so it can be tried again.
    let (status, body) = merchant.post(&app, "/admin/unlink", json!({"mall_id": "demomall"})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert_eq!(app.count_where("pg_credentials", "mall_id = 'demomall'").await, 1, "still linked");
    assert_eq!(app.count("oauth_tokens").await, 1, "still connected");
    app.cafe24_fault("paymentgateway.delete", "none").await;
    let (status, body) = merchant.post(&app, "/admin/unlink", json!({"mall_id": "demomall"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(app.simulated_cafe24("demomall", "paymentgateway").await.is_empty());
}

async fn cafe24_refusing_the_sign_in_keeps_nothing(db: Db) {
    let app = spawn_app(db).await;
    let tokens_before = app.count("oauth_tokens").await;
    app.cafe24_fault("token", "refuse").await;
    let launch = app.url(&format!("/?{}", launch_query("othermall", "en_US", now_secs(), "P")));
    let response = app.client.get(launch).send().await.unwrap();
    let cookie = session_cookie(&response).unwrap();
    let response = app.client.get(location(&response)).send().await.unwrap();
    let response = app.client.get(location(&response)).header(header::COOKIE, &cookie).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    assert!(response.text().await.unwrap().contains("Cafe24 refused the sign-in"));
    assert_eq!(app.count("oauth_tokens").await, tokens_before, "no tokens kept");
    let page = app.client.get(app.url("/admin/display?mall_id=othermall")).header(header::COOKIE, &cookie);
    assert!(!page.send().await.unwrap().status().is_success(), "not signed in");

    // Cafe24 failing to list the shops does not lock the merchant out: the known shops stay.
    app.cafe24_fault("token", "none").await;
    app.cafe24_fault("shops", "error").await;
    let merchant = app.sign_in("demomall", "en_US").await;
    let page = app.admin_page("demomall", &merchant.cookie).await;
    assert!(page.contains("Tindahan"), "the shops we already know");
}

async fn tokens_are_refreshed_before_they_expire_and_after_a_401(db: Db) {
    let app = spawn_app(db).await;
    app.cafe24_fault("token", "short").await;
    let merchant = app.sign_in("demomall", "en_US").await;
    app.cafe24_fault("token", "none").await;
    let first = app.state.store.tokens(&app.state.keys, "demomall").await.unwrap().unwrap();
    let (status, body) = merchant.toggle(&app, "enable", 2).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = app.state.store.tokens(&app.state.keys, "demomall").await.unwrap().unwrap();
    assert_ne!(first.access_token, second.access_token, "refreshed before expiry");
    assert!(second.expires_at > first.expires_at);

    app.cafe24_fault("scripttags.delete", "unauthorized_once").await;
    let (status, body) = merchant.toggle(&app, "disable", 2).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let third = app.state.store.tokens(&app.state.keys, "demomall").await.unwrap().unwrap();
    assert_ne!(second.access_token, third.access_token, "refreshed after a 401");

    // Cafe24 refusing the refresh token means signing in again.
    app.cafe24_fault("paymentgateway.create", "unauthorized").await;
    app.cafe24_fault("token", "refuse").await;
    let (status, body) = merchant.toggle(&app, "enable", 2).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(error_message(&body).contains("Cafe24 admin"));
}

async fn unlinking_disables_every_shop_and_disconnects(db: Db) {
    let app = spawn_app(db).await;
    let merchant = app.sign_in("demomall", "en_US").await;
    let (status, _) = merchant.toggle(&app, "enable", 2).await;
    assert_eq!(status, StatusCode::OK);
    let held = app.state.store.tokens(&app.state.keys, "demomall").await.unwrap().unwrap();
    let (status, body) = merchant.post(&app, "/admin/unlink", json!({"mall_id": "demomall"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["credentials"].is_null());
    assert!(body["shops"].as_array().unwrap().iter().all(|s| s["enabled"] == false));
    assert!(app.simulated_cafe24("demomall", "paymentgateway").await.is_empty());
    assert!(app.simulated_cafe24("demomall", "scripttag").await.is_empty());
    assert_eq!(app.count_where("pg_credentials", "mall_id = 'demomall'").await, 0);
    assert_eq!(app.count("oauth_tokens").await, 0);
    let revoked = app.state.cafe24_api.shops("demomall", &held.access_token).await;
    assert!(matches!(revoked, Err(paybridge::cafe24::api::Cafe24ApiError::Unauthorized)), "revoked at Cafe24");
    assert!(app.state.cafe24_api.refresh("demomall", &held.refresh_token).await.is_err(), "refresh token revoked");
    let (status, _) = merchant.toggle(&app, "enable", 1).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "signed out");
    // The demo shop's payments stop; its refunds would need credentials again.
    let order_id = unique_order_id();
    let (status, _) = app.post_json("/api/synchronous-checkout/checkout", &payment_request(&order_id, "10.00")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

async fn cafe24_webhook(app: &TestApp, api_key: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut request = app.client.post(app.url("/api/cafe24/webhook")).header(header::CONTENT_TYPE, "application/json");
    if let Some(key) = api_key {
        request = request.header("x-api-key", key);
    }
    let response = request.body(body.to_owned()).send().await.unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn deleting_the_app_turns_every_shop_off_and_forgets_the_mall(db: Db) {
    let app = spawn_app(db).await;
    let paid = app.paid_payment("25.00").await;
    let merchant = app.sign_in("demomall", "en_US").await;
    let (status, _) = merchant.toggle(&app, "enable", 2).await;
    assert_eq!(status, StatusCode::OK);
    let held = app.state.store.tokens(&app.state.keys, "demomall").await.unwrap().unwrap();
    let key = paybridge::config::DEV_WEBHOOK_KEY;
    let deleted = json!({"event_no": paybridge::admin::APP_DELETED_EVENT, "resource": {"mall_id": "demomall"}});

    // Not from Cafe24, not a webhook, or another event: refused or ignored, nothing changes.
    let cases = [
        (None, deleted.to_string(), StatusCode::FORBIDDEN),
        (Some("guessed-key"), deleted.to_string(), StatusCode::FORBIDDEN),
        (Some(key), "{\"event_no\": 90077}".to_owned(), StatusCode::BAD_REQUEST),
        (Some(key), json!({"event_no": 90077, "resource": {"mall_id": ""}}).to_string(), StatusCode::BAD_REQUEST),
        (Some(key), json!({"event_no": 90001, "resource": {"mall_id": "demomall"}}).to_string(), StatusCode::OK),
    ];
    for (api_key, body, expected) in cases {
        let (status, answer) = cafe24_webhook(&app, api_key, &body).await;
        assert_eq!(status, expected, "{body}: {answer}");
    }
    assert_eq!(app.count_where("shops", "mall_id = 'demomall' AND enabled = 1").await, 2);
    assert_eq!(app.count_where("pg_credentials", "mall_id = 'demomall'").await, 1);
    assert_eq!(app.count("oauth_tokens").await, 1);

    // The merchant deletes the app in the Cafe24 admin; Cafe24 tells us.
    let answer: Value =
        app.client.post(app.url("/demo-cafe24/demomall/app/delete")).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["webhook_status"], 200, "{answer}");
    assert_eq!(app.count_where("shops", "mall_id = 'demomall' AND (enabled = 1 OR pg_registered = 1)").await, 0);
    assert_eq!(app.count_where("shops", "mall_id = 'demomall' AND scripttag_no IS NOT NULL").await, 0);
    assert_eq!(app.count_where("pg_credentials", "mall_id = 'demomall'").await, 0);
    assert_eq!(app.count("oauth_tokens").await, 0);
    assert_eq!(app.count_where("admin_sessions", "mall_id = 'demomall'").await, 0);
    assert!(app.state.cafe24_api.refresh("demomall", &held.refresh_token).await.is_err(), "no token works");
    let (status, _) = merchant.toggle(&app, "enable", 1).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "signed out");
    let (status, _) =
        app.post_json("/api/synchronous-checkout/checkout", &payment_request(&unique_order_id(), "10.00")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no more payments");
    assert_eq!(app.count_where("payments", &format!("order_id = '{}'", paid.order_id)).await, 1, "history stays");

    // Cafe24 sending it again changes nothing; installing again starts from the beginning.
    let (status, _) = cafe24_webhook(&app, Some(key), &deleted.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    let again = app.sign_in("demomall", "en_US").await;
    let page = app.admin_page("demomall", &again.cookie).await;
    assert!(page.contains("Not linked"), "the credentials must be linked again");
    assert!(page.contains(&paid.order_id), "the mall's payments are still shown");
    assert_eq!(app.count("oauth_tokens").await, 1);
}

async fn a_failed_notification_is_resent_from_the_admin(db: Db) {
    let app = spawn_app_with(db, &[("NOTIFY_RETRY_DELAYS", "50ms,50ms,50ms")]).await;
    let cafe24 = Receiver::start().await;
    cafe24.plan("/noty", Plan::AlwaysFail);
    let order_id = unique_order_id();
    let payment_url = app.request_async_payment(&order_id, "99.00", &cafe24.url("/noty")).await;
    app.press(&payment_url, "approve").await;
    app.wait_rows("outbox", "status = 'failed'", 1, Duration::from_secs(10)).await;

    let merchant = app.sign_in("demomall", "en_US").await;
    let page = app.admin_page("demomall", &merchant.cookie).await;
    assert!(page.contains(&order_id) && page.contains("failed"), "the admin shows the failed delivery");
    let (id,): (String,) = sqlx::query_as("SELECT id FROM outbox").fetch_one(app.state.store.pool()).await.unwrap();
    let (status, body) = merchant
        .post(&app, "/admin/notifications/resend", json!({"mall_id": "demomall", "delivery_id": "msg_nonexistent"}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    cafe24.recover("/noty");
    let (status, body) =
        merchant.post(&app, "/admin/notifications/resend", json!({"mall_id": "demomall", "delivery_id": id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.wait_rows("outbox", "status = 'delivered'", 1, Duration::from_secs(10)).await;
    assert_eq!(cafe24.received("/noty").len(), 5, "four failed attempts, then the resend");
    let (status, _) =
        merchant.post(&app, "/admin/notifications/resend", json!({"mall_id": "demomall", "delivery_id": id})).await;
    assert_eq!(status, StatusCode::CONFLICT, "only failed deliveries are resent");
}

async fn registered_scripttags_follow_the_scripts_bytes(db: Db) {
    let app = spawn_app(db).await;
    let merchant = app.sign_in("demomall", "en_US").await;
    let (status, _) = merchant.toggle(&app, "enable", 2).await;
    assert_eq!(status, StatusCode::OK);
    // As if the scripttag had been registered by an older build with other bytes.
    let pool = app.state.store.pool();
    sqlx::query("UPDATE shops SET scripttag_integrity = 'sha384-old' WHERE mall_id = 'demomall' AND shop_no = 2")
        .execute(pool)
        .await
        .unwrap();
    let (body,): (String,) = sqlx::query_as("SELECT body FROM demo_cafe24_registrations WHERE kind = 'scripttag'")
        .fetch_one(pool)
        .await
        .unwrap();
    let old = body.replace(&paybridge::cafe24::script::current_integrity(), "sha384-old");
    sqlx::query("UPDATE demo_cafe24_registrations SET body = $1 WHERE kind = 'scripttag'")
        .bind(old)
        .execute(pool)
        .await
        .unwrap();

    let _restarted = app.sibling(&[]).await;
    app.wait_rows("shops", "scripttag_integrity <> 'sha384-old'", 1, Duration::from_secs(10)).await;
    let tags = app.simulated_cafe24("demomall", "scripttag").await;
    assert_eq!(tags[0]["integrity"], paybridge::cafe24::script::current_integrity());
}

async fn cafe24_calculates_what_an_order_will_cost(db: Db) {
    use paybridge::cafe24::api::{Cafe24ApiError, CalculationItem};
    let app = spawn_app(db).await;
    app.sign_in("demomall", "en_US").await;
    let tokens = app.state.store.tokens(&app.state.keys, "demomall").await.unwrap().unwrap();
    let item = |variant: &str, option_price: &str| CalculationItem {
        product_no: 22,
        variant_code: variant.to_owned(),
        option_id: None,
        quantity: 1,
        product_price: "1000.00".to_owned(),
        option_price: Some(option_price.to_owned()),
    };
    let items = [item("P000000W000C", "100.00"), item("P000000W000A", "-200.00")];
    let calculation =
        app.state.cafe24_api.calculate_order("demomall", &tokens.access_token, 1, Some("PH"), &items).await.unwrap();
    assert_eq!(calculation.order_price_amount, "1900.00");
    assert_eq!(calculation.shipping_fee, "0.00");
    assert_eq!(calculation.total_amount_due, "1900.00");
    let refused = app.state.cafe24_api.calculate_order("demomall", "not-a-token", 1, None, &items).await;
    assert!(matches!(refused, Err(Cafe24ApiError::Unauthorized)));
}

crate::on_both_databases!(
    cafe24_calculates_what_an_order_will_cost,
    launching_signs_in_through_oauth_and_shows_the_admin,
    bad_launches_and_forged_oauth_are_refused,
    the_session_cookie_is_secure_under_https,
    admin_actions_need_the_malls_session_and_the_csrf_token,
    linking_checks_the_credentials_and_seals_the_secret,
    enabling_a_shop_registers_it_at_cafe24_and_takes_payments,
    a_currency_the_pg_lacks_is_refused_and_nothing_is_registered,
    a_scripttag_failure_undoes_the_payment_gateway,
    a_shop_changes_once_at_a_time_and_a_failed_removal_says_what_remains,
    cafe24_refusing_the_sign_in_keeps_nothing,
    tokens_are_refreshed_before_they_expire_and_after_a_401,
    unlinking_disables_every_shop_and_disconnects,
    deleting_the_app_turns_every_shop_off_and_forgets_the_mall,
    a_failed_notification_is_resent_from_the_admin,
    registered_scripttags_follow_the_scripts_bytes,
);
