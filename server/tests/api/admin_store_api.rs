//! The merchant admin manages the Store API's keys and webhook endpoints (SPEC §8.1,
//! §8.4): a key or a signing secret is in the answer of the call that made it and nowhere
//! else; the mall's session and the page's CSRF token guard every change.

use paybridge::store::now_ms;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{admin_helpers::*, helpers::*};

const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const HOOK_URL: &str = "https://demomall.cafe24shop.com/hooks/paybridge";

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

fn last4(key: &str) -> &str {
    &key[key.len() - 4..]
}

fn listed<'a>(overview: &'a Value, list: &str, id: &str) -> Option<&'a Value> {
    overview[list].as_array().unwrap_or_else(|| panic!("{list} in {overview}")).iter().find(|item| item["id"] == id)
}

/// The answer without its one-time field: what any later overview could show.
fn lists_of(answer: &Value) -> String {
    let mut lists = answer.clone();
    let object = lists.as_object_mut().unwrap();
    object.remove("new_key");
    object.remove("new_secret");
    lists.to_string()
}

async fn create_key(app: &TestApp, merchant: &Merchant) -> (String, String, Value) {
    let (status, body) = merchant.post(app, "/admin/api-keys", json!({"mall_id": merchant.mall_id})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let key = body["new_key"]["key"].as_str().unwrap().to_owned();
    let key_id = body["new_key"]["key_id"].as_str().unwrap().to_owned();
    (key_id, key, body)
}

async fn add_endpoint(app: &TestApp, merchant: &Merchant, url: &str) -> (String, String, Value) {
    let (status, body) =
        merchant.post(app, "/admin/webhook-endpoints", json!({"mall_id": merchant.mall_id, "url": url})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let endpoint_id = body["new_secret"]["endpoint_id"].as_str().unwrap().to_owned();
    let secret = body["new_secret"]["secret"].as_str().unwrap().to_owned();
    (endpoint_id, secret, body)
}

/// The overview as the page's server function reads it.
async fn overview_text(app: &TestApp, merchant: &Merchant) -> String {
    let response = app
        .client
        .post(app.url("/admin/fn/overview"))
        .header(header::COOKIE, &merchant.cookie)
        .header("X-CSRF-Token", &merchant.csrf)
        .form(&[("mall_id", merchant.mall_id.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct KeyRow {
    id: String,
    mall_id: String,
    key_hash: String,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

#[derive(Debug, PartialEq, sqlx::FromRow)]
struct EndpointRow {
    id: String,
    mall_id: String,
    url: String,
    secret_enc: String,
    previous_secret_enc: Option<String>,
    previous_until: Option<i64>,
    deleted_at: Option<i64>,
}

/// Every row of the Store API's keys and endpoints, with what a change would touch.
async fn store_api_rows(app: &TestApp) -> (Vec<KeyRow>, Vec<EndpointRow>) {
    let pool = app.state.store.pool();
    let keys = sqlx::query_as("SELECT id, mall_id, key_hash, last_used_at, revoked_at FROM api_keys ORDER BY id")
        .fetch_all(pool)
        .await
        .unwrap();
    let endpoints = sqlx::query_as(
        "SELECT id, mall_id, url, secret_enc, previous_secret_enc, previous_until, deleted_at \
         FROM webhook_endpoints ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    (keys, endpoints)
}

/// A signed-in merchant without the simulated Cafe24 (the sandbox is off).
async fn signed_in_directly(app: &TestApp, mall_id: &str) -> Merchant {
    let store = &app.state.store;
    let started = store.create_session(mall_id, "merchant", "en_US", "state").await.unwrap();
    let id = store.sign_in_session(&started).await.unwrap().unwrap();
    let csrf = store.session(&id).await.unwrap().unwrap().csrf_token;
    Merchant { mall_id: mall_id.to_owned(), cookie: format!("pb_session={id}"), csrf }
}

async fn a_new_key_is_shown_once_and_only_its_hash_is_kept(db: Db) {
    let app = spawn_app(db).await;
    let merchant = app.sign_in("demomall", "en_US").await;
    let (key_id, key, answer) = create_key(&app, &merchant).await;
    let secret_part = &key["sk_test_".len()..];
    assert!(key.starts_with("sk_test_") && secret_part.len() >= 22, "at least 128 random bits: {key}");

    let shown = listed(&answer, "api_keys", &key_id).expect("the new key is listed");
    assert_eq!(shown["prefix"], "sk_test_");
    assert_eq!(shown["last4"], last4(&key));
    assert_eq!(shown["mode"], "test");
    assert!(shown["revoked_at"].is_null() && shown["last_used_at"].is_null(), "{shown}");
    assert!(!lists_of(&answer).contains(secret_part), "only new_key carries the key");

    // Only its SHA-256 is kept: no column holds the key.
    let row: (String, String, String, String, String, String) =
        sqlx::query_as("SELECT id, mall_id, mode, key_hash, prefix, last4 FROM api_keys WHERE id = $1")
            .bind(&key_id)
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
    assert_eq!(row.3, sha256_hex(&key));
    for column in [&row.0, &row.1, &row.2, &row.3, &row.4, &row.5] {
        assert!(!column.contains(secret_part), "{column} holds the key");
    }
    let used = app.state.store.use_api_key(&sha256_hex(&key)).await.unwrap();
    assert_eq!(used.map(|k| k.mall_id).as_deref(), Some("demomall"), "the Store API finds it by its hash");

    // Read again, the key is prefix…last4 only, now with its last use.
    let page = app.admin_page("demomall", &merchant.cookie).await;
    assert!(page.contains(&format!("sk_test_…{}", last4(&key))), "listed by prefix and last 4");
    assert!(!page.contains(secret_part), "never the key itself");
    let overview = overview_text(&app, &merchant).await;
    assert!(!overview.contains(secret_part));
    let overview: Value = serde_json::from_str(&overview).unwrap();
    assert!(listed(&overview, "api_keys", &key_id).unwrap()["last_used_at"].is_i64(), "{overview}");

    // The answer that carries it is kept by no cache.
    let response = app
        .client
        .post(app.url("/admin/api-keys"))
        .header(header::COOKIE, &merchant.cookie)
        .header("X-CSRF-Token", &merchant.csrf)
        .json(&json!({"mall_id": "demomall"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let second: Value = response.json().await.unwrap();
    assert_ne!(second["new_key"]["key"], key.as_str(), "every key is new");
    let before = answer["api_keys"].as_array().unwrap().len();
    assert_eq!(second["api_keys"].as_array().unwrap().len(), before + 1, "one more key listed");

    // In the merchant's language.
    for (lang, label) in [("ko_KR", "키 만들기"), ("ja_JP", "キーを作成")] {
        let merchant = app.sign_in("demomall", lang).await;
        assert!(app.admin_page("demomall", &merchant.cookie).await.contains(label), "{lang}");
    }
}

async fn without_the_sandbox_keys_are_live(db: Db) {
    let app = spawn_app_with(db, &[("SANDBOX", "false")]).await;
    let merchant = signed_in_directly(&app, "livemall").await;
    let (key_id, key, answer) = create_key(&app, &merchant).await;
    assert!(key.starts_with("sk_live_"), "{key}");
    let shown = listed(&answer, "api_keys", &key_id).unwrap();
    assert_eq!((shown["prefix"].as_str(), shown["mode"].as_str()), (Some("sk_live_"), Some("live")));
}

async fn a_revoked_key_is_listed_as_revoked_and_cannot_be_revoked_again(db: Db) {
    let app = spawn_app(db).await;
    let merchant = app.sign_in("demomall", "en_US").await;
    let (kept_id, _, _) = create_key(&app, &merchant).await;
    let (key_id, key, _) = create_key(&app, &merchant).await;

    let revoke = |key_id: &str| json!({"mall_id": "demomall", "key_id": key_id});
    let (status, body) = merchant.post(&app, "/admin/api-keys/revoke", revoke(&key_id)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(listed(&body, "api_keys", &key_id).unwrap()["revoked_at"].is_i64(), "listed as revoked: {body}");
    assert!(listed(&body, "api_keys", &kept_id).unwrap()["revoked_at"].is_null(), "the other key is untouched");
    assert!(app.state.store.use_api_key(&sha256_hex(&key)).await.unwrap().is_none(), "a revoked key opens nothing");
    let page = app.admin_page("demomall", &merchant.cookie).await;
    assert!(page.contains("Revoked"), "the page says so");

    let rows = store_api_rows(&app).await;
    let (status, body) = merchant.post(&app, "/admin/api-keys/revoke", revoke(&key_id)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["field"], format!("key:{key_id}"));
    let (status, body) = merchant.post(&app, "/admin/api-keys/revoke", revoke("key_nonexistent")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["field"], "key:key_nonexistent");
    assert_eq!(store_api_rows(&app).await, rows, "refusals change nothing");
}

async fn store_api_changes_need_the_malls_session_and_the_csrf_token(db: Db) {
    let app = spawn_app(db).await;
    let merchant = app.sign_in("demomall", "en_US").await;
    let other = app.sign_in("othermall", "en_US").await;
    let (key_id, _, _) = create_key(&app, &merchant).await;
    let (endpoint_id, secret, _) = add_endpoint(&app, &merchant, HOOK_URL).await;
    let before = store_api_rows(&app).await;

    let cases = [
        (None, None, StatusCode::UNAUTHORIZED),
        (Some(merchant.cookie.as_str()), None, StatusCode::FORBIDDEN),
        (Some(merchant.cookie.as_str()), Some("wrong-token"), StatusCode::FORBIDDEN),
        (Some(other.cookie.as_str()), Some(other.csrf.as_str()), StatusCode::FORBIDDEN),
    ];
    let requests = [
        ("/admin/api-keys", json!({"mall_id": "demomall"})),
        ("/admin/api-keys/revoke", json!({"mall_id": "demomall", "key_id": key_id})),
        ("/admin/webhook-endpoints", json!({"mall_id": "demomall", "url": HOOK_URL})),
        ("/admin/webhook-endpoints/delete", json!({"mall_id": "demomall", "endpoint_id": endpoint_id})),
        ("/admin/webhook-endpoints/rotate", json!({"mall_id": "demomall", "endpoint_id": endpoint_id})),
    ];
    for (cookie, csrf, status) in cases {
        for (path, body) in &requests {
            let (got, answer) = app.admin_post(path, cookie, csrf, body).await;
            assert_eq!(got, status, "{path}: {answer}");
            assert!(answer.get("new_key").is_none() && answer.get("new_secret").is_none(), "{path}: {answer}");
        }
    }

    // Another mall's ids, under that mall's own session: not found.
    let foreign = [
        ("/admin/api-keys/revoke", json!({"mall_id": "othermall", "key_id": key_id}), format!("key:{key_id}")),
        (
            "/admin/webhook-endpoints/delete",
            json!({"mall_id": "othermall", "endpoint_id": endpoint_id}),
            format!("endpoint:{endpoint_id}"),
        ),
        (
            "/admin/webhook-endpoints/rotate",
            json!({"mall_id": "othermall", "endpoint_id": endpoint_id}),
            format!("endpoint:{endpoint_id}"),
        ),
    ];
    for (path, body, field) in foreign {
        let (status, answer) = other.post(&app, path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
        assert_eq!(answer["error"]["field"], field.as_str());
    }

    // The page's server functions are guarded the same way.
    let server_fn = |path: &str, csrf: Option<&str>, form: Vec<(&'static str, String)>| {
        let mut request = app.client.post(app.url(path)).header(header::COOKIE, &merchant.cookie);
        if let Some(token) = csrf {
            request = request.header("X-CSRF-Token", token.to_owned());
        }
        request.form(&form).send()
    };
    let mall = || ("request[mall_id]", "demomall".to_owned());
    for (path, form) in [
        ("/admin/fn/create-api-key", vec![mall()]),
        ("/admin/fn/revoke-api-key", vec![mall(), ("request[key_id]", key_id.clone())]),
        ("/admin/fn/create-webhook-endpoint", vec![mall(), ("request[url]", HOOK_URL.to_owned())]),
        ("/admin/fn/delete-webhook-endpoint", vec![mall(), ("request[endpoint_id]", endpoint_id.clone())]),
        ("/admin/fn/rotate-webhook-secret", vec![mall(), ("request[endpoint_id]", endpoint_id.clone())]),
    ] {
        let response = server_fn(path, None, form).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(response.text().await.unwrap().contains("CSRF"), "{path}");
    }
    assert_eq!(store_api_rows(&app).await, before, "nothing changed");
    assert_eq!(app.state.store.webhook_secrets(&app.state.keys, &endpoint_id).await.unwrap(), Some(vec![secret]));

    // With the token, the page creates a key through its server function.
    let response = server_fn("/admin/fn/create-api-key", Some(&merchant.csrf), vec![mall()]).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
    let created: Value = response.json().await.unwrap();
    assert!(created["new_key"]["key"].as_str().unwrap().starts_with("sk_test_"), "{created}");

    // Each mall sees only its own.
    let (_, _, theirs) = create_key(&app, &other).await;
    assert_eq!(theirs["api_keys"].as_array().unwrap().len(), 1, "{theirs}");
    assert!(theirs["webhook_endpoints"].as_array().unwrap().is_empty(), "{theirs}");
}

async fn a_webhook_url_outside_the_host_policy_is_refused_with_the_field_named(db: Db) {
    let app = spawn_app(db).await;
    let merchant = app.sign_in("demomall", "en_US").await;
    let too_long = format!("https://demomall.cafe24shop.com/{}", "a".repeat(3000));
    for url in [
        "https://evil.example.com/hooks",
        "https://cafe24shop.com.evil.example/hooks",
        "ftp://demomall.cafe24shop.com/hooks",
        "not a url",
        "/hooks",
        "http://10.0.0.1/hooks",
        "http://169.254.169.254/latest/meta-data",
        "https://user:pw@demomall.cafe24shop.com/hooks",
        "https://shop.example.ph/hooks",
        "  ",
        too_long.as_str(),
    ] {
        let (status, body) =
            merchant.post(&app, "/admin/webhook-endpoints", json!({"mall_id": "demomall", "url": url})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert_eq!(body["error"]["field"], "url", "{url}: {body}");
        assert!(!error_message(&body).is_empty());
        assert!(body.get("new_secret").is_none());
    }
    assert_eq!(app.count("webhook_endpoints").await, 0, "nothing kept");

    // Like Cafe24's notification URLs, the mall's own domains pass.
    sqlx::query("UPDATE shops SET primary_domain = 'shop.example.ph' WHERE mall_id = 'demomall' AND shop_no = 1")
        .execute(app.state.store.pool())
        .await
        .unwrap();
    let (endpoint_id, _, answer) = add_endpoint(&app, &merchant, "https://shop.example.ph/hooks").await;
    assert_eq!(listed(&answer, "webhook_endpoints", &endpoint_id).unwrap()["url"], "https://shop.example.ph/hooks");
}

async fn webhook_endpoints_are_added_rotated_and_deleted(db: Db) {
    let app = spawn_app(db).await;
    let merchant = app.sign_in("demomall", "en_US").await;
    let store = &app.state.store;
    let keys = &app.state.keys;
    let (kept_id, _, _) = add_endpoint(&app, &merchant, "https://jp.demomall.cafe24shop.com/hooks").await;
    let (endpoint_id, secret, answer) = add_endpoint(&app, &merchant, HOOK_URL).await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(paybridge::store_api::keys::webhook_signing_key(&secret).map(|k| k.len()), Some(32));
    let shown = listed(&answer, "webhook_endpoints", &endpoint_id).unwrap();
    assert_eq!(shown["url"], HOOK_URL);
    assert!(shown["created_at"].is_i64() && shown["previous_until"].is_null(), "{shown}");
    let signing_part = &secret["whsec_".len()..];
    assert!(!lists_of(&answer).contains(signing_part), "only new_secret carries it");
    let (sealed,): (String,) = sqlx::query_as("SELECT secret_enc FROM webhook_endpoints WHERE id = $1")
        .bind(&endpoint_id)
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert!(!sealed.contains(signing_part), "sealed at rest");
    assert_eq!(store.webhook_secrets(keys, &endpoint_id).await.unwrap(), Some(vec![secret.clone()]));

    // Rotating: a new secret, and the old one keeps signing for 24 hours.
    let rotate = json!({"mall_id": "demomall", "endpoint_id": endpoint_id});
    let asked = now_ms();
    let (status, rotated) = merchant.post(&app, "/admin/webhook-endpoints/rotate", rotate.clone()).await;
    let answered = now_ms();
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(rotated["new_secret"]["endpoint_id"], endpoint_id.as_str());
    let new_secret = rotated["new_secret"]["secret"].as_str().unwrap().to_owned();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);
    let until = listed(&rotated, "webhook_endpoints", &endpoint_id).unwrap()["previous_until"].as_i64().unwrap();
    assert!((asked + DAY_MS..=answered + DAY_MS).contains(&until), "previous_until {until} is 24 h ahead");
    assert!(!lists_of(&rotated).contains(&new_secret["whsec_".len()..]) && !lists_of(&rotated).contains(signing_part));
    assert_eq!(store.webhook_secrets(keys, &endpoint_id).await.unwrap(), Some(vec![new_secret, secret.clone()]));
    assert!(listed(&rotated, "webhook_endpoints", &kept_id).unwrap()["previous_until"].is_null(), "others untouched");
    let overview = overview_text(&app, &merchant).await;
    assert!(!overview.contains(signing_part), "a later read shows no secret");

    // Deleted: gone from the list and from signing; a second delete finds nothing.
    let delete = json!({"mall_id": "demomall", "endpoint_id": endpoint_id});
    let (status, body) = merchant.post(&app, "/admin/webhook-endpoints/delete", delete.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(listed(&body, "webhook_endpoints", &endpoint_id).is_none(), "{body}");
    assert!(listed(&body, "webhook_endpoints", &kept_id).is_some(), "the other endpoint stays");
    assert_eq!(store.webhook_secrets(keys, &endpoint_id).await.unwrap(), None);
    for (path, body) in [("/admin/webhook-endpoints/delete", delete), ("/admin/webhook-endpoints/rotate", rotate)] {
        let (status, answer) = merchant.post(&app, path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
        assert_eq!(answer["error"]["field"], format!("endpoint:{endpoint_id}"));
    }
}

crate::on_both_databases!(
    a_new_key_is_shown_once_and_only_its_hash_is_kept,
    without_the_sandbox_keys_are_live,
    a_revoked_key_is_listed_as_revoked_and_cannot_be_revoked_again,
    store_api_changes_need_the_malls_session_and_the_csrf_token,
    a_webhook_url_outside_the_host_policy_is_refused_with_the_field_named,
    webhook_endpoints_are_added_rotated_and_deleted,
);
