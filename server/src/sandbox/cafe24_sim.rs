//! The demo mall's simulated Cafe24 (SPEC §6): OAuth (authorize, token, revoke) and the
//! Admin API calls paybridge makes (shops, payment gateway, scripttags), with its state
//! in the `demo_cafe24_*` tables and fault switches for tests:
//! `POST /demo-cafe24/faults {"operation": "scripttags.create", "fault": "error"}`.
//! Operations: `token`, `shops`, `paymentgateway.create`, `paymentgateway.delete`,
//! `scripttags.create`, `scripttags.update`, `scripttags.delete`, `orders.calculation`. Faults: `error` (500),
//! `refuse` (422), `timeout` (answers after 30 s), `unauthorized` (401),
//! `unauthorized_once`, `short` (tokens live one minute), `none`.
//! `POST /demo-cafe24/{mall_id}/app/delete` plays the merchant deleting the app: the
//! mall's tokens are revoked, our registrations removed, and the app-deleted webhook sent.

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::{Path, Query, RawQuery, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{delete, get, post, put},
    Json, Router,
};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::{
    sandbox::SandboxContext as AppState,
    store::{new_id, now_ms, random_token},
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/demo-cafe24/faults", post(set_fault))
        .route("/demo-cafe24/{mall_id}/api/v2/oauth/authorize", get(authorize))
        .route("/demo-cafe24/{mall_id}/api/v2/oauth/token", post(token))
        .route("/demo-cafe24/{mall_id}/api/v2/oauth/revoke", post(revoke))
        .route("/demo-cafe24/{mall_id}/api/v2/admin/shops", get(shops))
        .route("/demo-cafe24/{mall_id}/api/v2/admin/paymentgateway", post(create_gateway).get(list_gateways))
        .route("/demo-cafe24/{mall_id}/api/v2/admin/paymentgateway/{client_id}", delete(delete_gateway))
        .route("/demo-cafe24/{mall_id}/api/v2/admin/scripttags", post(create_scripttag).get(list_scripttags))
        .route("/demo-cafe24/{mall_id}/api/v2/admin/orders/calculation", post(calculate))
        .route("/demo-cafe24/{mall_id}/front/precreate-order", post(precreate_order))
        .route("/demo-cafe24/{mall_id}/app/delete", post(delete_app))
        .route(
            "/demo-cafe24/{mall_id}/api/v2/admin/scripttags/{script_no}",
            put(update_scripttag).delete(delete_scripttag),
        )
}

/// Like a real issuer, the simulator keeps only digests of the codes and tokens it hands
/// out; the database never holds a usable token.
fn digest(token: &str) -> String {
    crate::store::sha256_hex(token)
}

fn cafe24_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": {"code": status.as_u16(), "message": message}}))).into_response()
}

fn db_error(e: sqlx::Error) -> Response {
    tracing::error!(error = %e, "simulated Cafe24 storage failed");
    cafe24_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
}

#[derive(Deserialize)]
struct Fault {
    operation: String,
    fault: String,
}

async fn set_fault(State(app): State<AppState>, Json(fault): Json<Fault>) -> Response {
    let result = if fault.fault == "none" {
        sqlx::query("DELETE FROM demo_cafe24_faults WHERE operation = $1")
            .bind(&fault.operation)
            .execute(app.store.pool())
            .await
    } else {
        sqlx::query(
            "INSERT INTO demo_cafe24_faults (operation, fault) VALUES ($1, $2) \
             ON CONFLICT (operation) DO UPDATE SET fault = excluded.fault",
        )
        .bind(&fault.operation)
        .bind(&fault.fault)
        .execute(app.store.pool())
        .await
    };
    match result {
        Ok(_) => Json(json!({"operation": fault.operation, "fault": fault.fault})).into_response(),
        Err(e) => db_error(e),
    }
}

async fn fault_for(app: &AppState, operation: &str) -> Option<String> {
    let fault: Option<(String,)> = sqlx::query_as("SELECT fault FROM demo_cafe24_faults WHERE operation = $1")
        .bind(operation)
        .fetch_optional(app.store.pool())
        .await
        .ok()
        .flatten();
    let fault = fault.map(|(f,)| f)?;
    if fault == "unauthorized_once" {
        let _ = sqlx::query("DELETE FROM demo_cafe24_faults WHERE operation = $1")
            .bind(operation)
            .execute(app.store.pool())
            .await;
    }
    Some(fault)
}

/// The response a fault switch asks for, if any.
async fn injected(app: &AppState, operation: &str) -> Option<Response> {
    match fault_for(app, operation).await.as_deref() {
        Some("error") => Some(cafe24_error(StatusCode::INTERNAL_SERVER_ERROR, "simulated Cafe24 failure")),
        Some("refuse") => Some(cafe24_error(StatusCode::UNPROCESSABLE_ENTITY, "simulated Cafe24 refusal")),
        Some("unauthorized" | "unauthorized_once") => Some(cafe24_error(StatusCode::UNAUTHORIZED, "invalid_token")),
        Some("timeout") => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Some(cafe24_error(StatusCode::GATEWAY_TIMEOUT, "too late"))
        }
        _ => None,
    }
}

#[derive(Deserialize)]
struct Authorize {
    client_id: String,
    state: String,
    redirect_uri: String,
}

/// The merchant is signed in to the simulated Cafe24 admin and grants access at once.
async fn authorize(State(app): State<AppState>, Path(mall_id): Path<String>, Query(q): Query<Authorize>) -> Response {
    if q.client_id != app.cafe24.client_id {
        return cafe24_error(StatusCode::BAD_REQUEST, "unknown client_id");
    }
    let Ok(mut target) = url::Url::parse(&q.redirect_uri) else {
        return cafe24_error(StatusCode::BAD_REQUEST, "redirect_uri is not a URL");
    };
    let code = random_token();
    let stored = sqlx::query(
        "INSERT INTO demo_cafe24_grants (code, mall_id, client_id, redirect_uri, used, created_at) VALUES ($1, $2, $3, $4, 0, $5)",
    )
    .bind(digest(&code))
    .bind(&mall_id)
    .bind(&q.client_id)
    .bind(&q.redirect_uri)
    .bind(now_ms())
    .execute(app.store.pool())
    .await;
    if let Err(e) = stored {
        return db_error(e);
    }
    target.query_pairs_mut().append_pair("code", &code).append_pair("state", &q.state);
    Redirect::to(target.as_str()).into_response()
}

fn basic_client(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(value).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

fn kst(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(time::macros::offset!(+9));
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]");
    t.format(format).unwrap_or_default()
}

/// How long the simulator's access and refresh tokens live, as Cafe24's do.
const ACCESS_LIFETIME_MS: i64 = 2 * 3600 * 1000;
const REFRESH_LIFETIME_MS: i64 = 14 * 24 * 3600 * 1000;

/// A new access and refresh token for the mall, recorded (as digests) so the simulated
/// Admin API accepts them.
async fn new_tokens(
    store: &crate::store::Store,
    mall_id: &str,
    access_lifetime_ms: i64,
) -> Result<crate::store::TokenSet, sqlx::Error> {
    let now = now_ms();
    let refresh_expires = now + REFRESH_LIFETIME_MS;
    let tokens = crate::store::TokenSet {
        access_token: random_token(),
        refresh_token: random_token(),
        expires_at: now + access_lifetime_ms,
        refresh_token_expires_at: Some(refresh_expires),
        scopes: crate::cafe24::api::SCOPES.split(',').map(str::to_owned).collect(),
    };
    for (token, kind, expires) in
        [(&tokens.access_token, "access", tokens.expires_at), (&tokens.refresh_token, "refresh", refresh_expires)]
    {
        sqlx::query(
            "INSERT INTO demo_cafe24_tokens (token, kind, mall_id, expires_at, revoked) VALUES ($1, $2, $3, $4, 0)",
        )
        .bind(digest(token))
        .bind(kind)
        .bind(mall_id)
        .bind(expires)
        .execute(store.pool())
        .await?;
    }
    Ok(tokens)
}

async fn issue_tokens(app: &AppState, mall_id: &str) -> Result<Value, sqlx::Error> {
    let short = fault_for(app, "token").await.as_deref() == Some("short");
    let now = now_ms();
    let tokens = new_tokens(&app.store, mall_id, if short { 60_000 } else { ACCESS_LIFETIME_MS }).await?;
    Ok(json!({
        "access_token": tokens.access_token,
        "expires_at": kst(tokens.expires_at),
        "refresh_token": tokens.refresh_token,
        "refresh_token_expires_at": kst(tokens.refresh_token_expires_at.unwrap_or_default()),
        "client_id": app.cafe24.client_id,
        "mall_id": mall_id,
        "user_id": "demo_admin",
        "scopes": tokens.scopes,
        "issued_at": kst(now),
    }))
}

async fn token(State(app): State<AppState>, Path(mall_id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    if basic_client(&headers) != Some((app.cafe24.client_id.clone(), app.cafe24.client_secret.clone())) {
        return cafe24_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if let Some(response) = injected(&app, "token").await {
        return response;
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let get = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_default();
    let granted = match get("grant_type") {
        "authorization_code" => sqlx::query(
            "UPDATE demo_cafe24_grants SET used = 1 WHERE code = $1 AND mall_id = $2 AND redirect_uri = $3 AND used = 0 \
             AND created_at > $4",
        )
        .bind(digest(get("code")))
        .bind(&mall_id)
        .bind(get("redirect_uri"))
        .bind(now_ms() - 600_000)
        .execute(app.store.pool())
        .await
        .map(|r| r.rows_affected() == 1),
        // Refresh tokens are single-use: a new pair replaces them.
        "refresh_token" => sqlx::query(
            "UPDATE demo_cafe24_tokens SET revoked = 1 WHERE token = $1 AND kind = 'refresh' AND mall_id = $2 \
             AND revoked = 0 AND expires_at > $3",
        )
        .bind(digest(get("refresh_token")))
        .bind(&mall_id)
        .bind(now_ms())
        .execute(app.store.pool())
        .await
        .map(|r| r.rows_affected() == 1),
        _ => return cafe24_error(StatusCode::BAD_REQUEST, "unsupported_grant_type"),
    };
    match granted {
        Ok(true) => match issue_tokens(&app, &mall_id).await {
            Ok(body) => Json(body).into_response(),
            Err(e) => db_error(e),
        },
        Ok(false) => cafe24_error(StatusCode::BAD_REQUEST, "invalid_grant"),
        Err(e) => db_error(e),
    }
}

async fn revoke(State(app): State<AppState>, Path(mall_id): Path<String>, body: Bytes) -> Response {
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let token = form.iter().find(|(k, _)| k == "token").map(|(_, v)| v.clone()).unwrap_or_default();
    match sqlx::query("UPDATE demo_cafe24_tokens SET revoked = 1 WHERE token = $1 AND mall_id = $2")
        .bind(digest(&token))
        .bind(&mall_id)
        .execute(app.store.pool())
        .await
    {
        Ok(_) => Json(json!({"result": "revoked"})).into_response(),
        Err(e) => db_error(e),
    }
}

/// Checks the Admin API call's token and version header, then any fault switch.
async fn admin_call(app: &AppState, mall_id: &str, headers: &HeaderMap, operation: &str) -> Option<Response> {
    if headers.get("x-cafe24-api-version").is_none() {
        return Some(cafe24_error(StatusCode::BAD_REQUEST, "X-Cafe24-Api-Version is required"));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let valid: Result<Option<(i64,)>, _> = sqlx::query_as(
        "SELECT expires_at FROM demo_cafe24_tokens WHERE token = $1 AND kind = 'access' AND mall_id = $2 AND revoked = 0",
    )
    .bind(digest(token))
    .bind(mall_id)
    .fetch_optional(app.store.pool())
    .await;
    match valid {
        Ok(Some((expires_at,))) if expires_at > now_ms() => injected(app, operation).await,
        Ok(_) => Some(cafe24_error(StatusCode::UNAUTHORIZED, "invalid_token")),
        Err(e) => Some(db_error(e)),
    }
}

async fn shops(State(app): State<AppState>, Path(mall_id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(refused) = admin_call(&app, &mall_id, &headers, "shops").await {
        return refused;
    }
    let domain = format!("{mall_id}.cafe24shop.com");
    let shops = if mall_id == super::provision::DEMO_MALL_ID {
        json!([
            {"shop_no": 1, "default": "T", "shop_name": "Tindahan", "currency_code": "PHP", "language_code": "en_US", "primary_domain": domain, "pc_skin_no": 1, "mobile_skin_no": 2},
            {"shop_no": 2, "default": "F", "shop_name": "Mise", "currency_code": "JPY", "language_code": "ja_JP", "primary_domain": format!("jp.{domain}"), "pc_skin_no": 7, "mobile_skin_no": 8},
            {"shop_no": 3, "default": "F", "shop_name": "Gage", "currency_code": "KRW", "language_code": "ko_KR", "primary_domain": format!("kr.{domain}"), "pc_skin_no": 11, "mobile_skin_no": 12},
        ])
    } else {
        json!([{"shop_no": 1, "default": "T", "shop_name": "Shop", "currency_code": "PHP", "language_code": "en_US", "primary_domain": domain, "pc_skin_no": 1, "mobile_skin_no": 2}])
    };
    Json(json!({"shops": shops})).into_response()
}

async fn registrations(app: &AppState, mall_id: &str, kind: &str) -> Result<Vec<Value>, sqlx::Error> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT id, body FROM demo_cafe24_registrations WHERE mall_id = $1 AND kind = $2 ORDER BY created_at, id",
    )
    .bind(mall_id)
    .bind(kind)
    .fetch_all(app.store.pool())
    .await?;
    Ok(rows.into_iter().filter_map(|(_, body)| serde_json::from_str(&body).ok()).collect())
}

async fn create_gateway(
    State(app): State<AppState>,
    Path(mall_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refused) = admin_call(&app, &mall_id, &headers, "paymentgateway.create").await {
        return refused;
    }
    let Some(shop_no) = body["shop_no"].as_i64() else {
        return cafe24_error(StatusCode::BAD_REQUEST, "shop_no is required");
    };
    let partner_id = body["request"]["partner_id"].as_str().unwrap_or_default();
    if partner_id.is_empty() || partner_id.len() > 50 {
        return cafe24_error(StatusCode::UNPROCESSABLE_ENTITY, "partner_id must be 1 to 50 characters");
    }
    let record = json!({"client_id": app.cafe24.client_id, "shop_no": shop_no, "partner_id": partner_id,
        "membership_fee_type": body["request"]["membership_fee_type"]});
    match register(&app, &mall_id, shop_no, "paymentgateway", &format!("pg:{shop_no}"), &record).await {
        Ok(()) => (StatusCode::CREATED, Json(json!({"paymentgateway": record}))).into_response(),
        Err(e) if crate::store::is_unique_violation(&e) => {
            cafe24_error(StatusCode::CONFLICT, "the app's payment gateway is already registered in this shop")
        }
        Err(e) => db_error(e),
    }
}

/// Keeps what an app registered in a shop.
async fn register(
    app: &AppState,
    mall_id: &str,
    shop_no: i64,
    kind: &str,
    id: &str,
    record: &Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO demo_cafe24_registrations (id, mall_id, shop_no, kind, body, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $6)",
    )
    .bind(format!("{mall_id}/{id}"))
    .bind(mall_id)
    .bind(shop_no)
    .bind(kind)
    .bind(record.to_string())
    .bind(now_ms())
    .execute(app.store.pool())
    .await?;
    Ok(())
}

async fn list_gateways(State(app): State<AppState>, Path(mall_id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(refused) = admin_call(&app, &mall_id, &headers, "paymentgateway.list").await {
        return refused;
    }
    match registrations(&app, &mall_id, "paymentgateway").await {
        Ok(list) => Json(json!({"paymentgateway": list})).into_response(),
        Err(e) => db_error(e),
    }
}

async fn delete_by(app: &AppState, mall_id: &str, id: &str, kind: &str) -> Response {
    match sqlx::query("DELETE FROM demo_cafe24_registrations WHERE id = $1 AND mall_id = $2 AND kind = $3")
        .bind(format!("{mall_id}/{id}"))
        .bind(mall_id)
        .bind(kind)
        .execute(app.store.pool())
        .await
    {
        Ok(done) if done.rows_affected() == 1 => Json(json!({"result": "deleted"})).into_response(),
        Ok(_) => cafe24_error(StatusCode::NOT_FOUND, "not registered"),
        Err(e) => db_error(e),
    }
}

fn shop_no_of(query: &Option<String>) -> i64 {
    query
        .as_deref()
        .and_then(|q| {
            url::form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == "shop_no").and_then(|(_, v)| v.parse().ok())
        })
        .unwrap_or(1)
}

async fn delete_gateway(
    State(app): State<AppState>,
    Path((mall_id, client_id)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = admin_call(&app, &mall_id, &headers, "paymentgateway.delete").await {
        return refused;
    }
    if client_id != app.cafe24.client_id {
        return cafe24_error(StatusCode::FORBIDDEN, "another app's payment gateway");
    }
    delete_by(&app, &mall_id, &format!("pg:{}", shop_no_of(&query)), "paymentgateway").await
}

async fn create_scripttag(
    State(app): State<AppState>,
    Path(mall_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refused) = admin_call(&app, &mall_id, &headers, "scripttags.create").await {
        return refused;
    }
    let Some(shop_no) = body["shop_no"].as_i64() else {
        return cafe24_error(StatusCode::BAD_REQUEST, "shop_no is required");
    };
    let request = &body["request"];
    if !request["integrity"].as_str().is_some_and(|i| i.starts_with("sha384-")) || request["src"].as_str().is_none() {
        return cafe24_error(StatusCode::UNPROCESSABLE_ENTITY, "src and a sha384 integrity are required");
    }
    let script_no = new_id("st");
    let record = json!({"shop_no": shop_no, "script_no": script_no, "src": request["src"],
        "display_location": request["display_location"], "skin_no": request["skin_no"], "integrity": request["integrity"]});
    match register(&app, &mall_id, shop_no, "scripttag", &script_no, &record).await {
        Ok(()) => (StatusCode::CREATED, Json(json!({"scripttag": record}))).into_response(),
        Err(e) => db_error(e),
    }
}

async fn list_scripttags(State(app): State<AppState>, Path(mall_id): Path<String>, headers: HeaderMap) -> Response {
    if let Some(refused) = admin_call(&app, &mall_id, &headers, "scripttags.list").await {
        return refused;
    }
    match registrations(&app, &mall_id, "scripttag").await {
        Ok(list) => Json(json!({"scripttags": list})).into_response(),
        Err(e) => db_error(e),
    }
}

async fn update_scripttag(
    State(app): State<AppState>,
    Path((mall_id, script_no)): Path<(String, String)>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refused) = admin_call(&app, &mall_id, &headers, "scripttags.update").await {
        return refused;
    }
    let row: Result<Option<(String,)>, _> =
        sqlx::query_as("SELECT body FROM demo_cafe24_registrations WHERE id = $1 AND kind = 'scripttag'")
            .bind(format!("{mall_id}/{script_no}"))
            .fetch_optional(app.store.pool())
            .await;
    let mut record: Value = match row {
        Ok(Some((b,))) => serde_json::from_str(&b).unwrap_or_default(),
        Ok(None) => return cafe24_error(StatusCode::NOT_FOUND, "no such scripttag"),
        Err(e) => return db_error(e),
    };
    for field in ["src", "integrity", "display_location", "skin_no"] {
        if !body["request"][field].is_null() {
            record[field] = body["request"][field].clone();
        }
    }
    match sqlx::query("UPDATE demo_cafe24_registrations SET body = $1, updated_at = $2 WHERE id = $3")
        .bind(record.to_string())
        .bind(now_ms())
        .bind(format!("{mall_id}/{script_no}"))
        .execute(app.store.pool())
        .await
    {
        Ok(_) => Json(json!({"scripttag": record})).into_response(),
        Err(e) => db_error(e),
    }
}

async fn delete_scripttag(
    State(app): State<AppState>,
    Path((mall_id, script_no)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    if let Some(refused) = admin_call(&app, &mall_id, &headers, "scripttags.delete").await {
        return refused;
    }
    delete_by(&app, &mall_id, &script_no, "scripttag").await
}

/// The demo mall's order calculation: the products' prices, and a flat 100.00 shipping
/// fee below 1,000.00 (free above), in the shop's two-decimal currency.
async fn calculate(
    State(app): State<AppState>,
    Path(mall_id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(refused) = admin_call(&app, &mall_id, &headers, "orders.calculation").await {
        return refused;
    }
    let mut total: i64 = 0;
    for item in body["request"]["items"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let price = |field: &str| {
            item[field]
                .as_str()
                .and_then(|p| crate::domain::Money::parse(p.trim_start_matches('-'), crate::domain::Currency::Php).ok())
                .map(|m| if item[field].as_str().is_some_and(|p| p.starts_with('-')) { -m.minor } else { m.minor })
        };
        let (Some(product), Some(quantity)) = (price("product_price"), item["quantity"].as_i64()) else {
            return cafe24_error(StatusCode::BAD_REQUEST, "each item needs product_price and quantity");
        };
        total += (product + price("option_price").unwrap_or(0)) * quantity;
    }
    let shipping = if total < 100_000 { 10_000 } else { 0 };
    let php = |minor: i64| crate::domain::Money::new(minor, crate::domain::Currency::Php).to_major_string();
    Json(json!({"calculation": {
        "shop_no": body["shop_no"],
        "order_price_amount": php(total),
        "total_discount_amount": "0.00",
        "shipping_fee": php(shipping),
        "total_amount_due": php(total + shipping),
    }}))
    .into_response()
}

/// What Cafe24 does when a merchant deletes the app: the app's tokens stop working, its
/// payment gateways and scripttags are gone, and the app hears of it by webhook. Answers
/// with the app's reply to that webhook.
async fn delete_app(State(app): State<AppState>, Path(mall_id): Path<String>) -> Response {
    let removed = async {
        sqlx::query("UPDATE demo_cafe24_tokens SET revoked = 1 WHERE mall_id = $1")
            .bind(&mall_id)
            .execute(app.store.pool())
            .await?;
        sqlx::query("DELETE FROM demo_cafe24_registrations WHERE mall_id = $1")
            .bind(&mall_id)
            .execute(app.store.pool())
            .await
    }
    .await;
    if let Err(e) = removed {
        return db_error(e);
    }
    let event = json!({
        "event_no": crate::admin::APP_DELETED_EVENT,
        "resource": {"mall_id": mall_id, "event_shop_no": 1, "client_id": app.cafe24.client_id},
    });
    let sent = app
        .http
        .post(app.url("/api/cafe24/webhook"))
        .header("x-api-key", app.cafe24.webhook_key.as_deref().unwrap_or_default())
        .json(&event)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            Json(json!({"webhook_status": status, "webhook_answer": body})).into_response()
        }
        Err(e) => cafe24_error(StatusCode::BAD_GATEWAY, &format!("the app did not take the webhook: {e}")),
    }
}

/// Tokens for a mall as if its merchant had installed the app (demo provisioning).
pub async fn issue_installed_tokens(
    store: &crate::store::Store,
    mall_id: &str,
) -> Result<crate::store::TokenSet, sqlx::Error> {
    new_tokens(store, mall_id, ACCESS_LIFETIME_MS).await
}

#[derive(Deserialize)]
struct Precreate {
    request_time: String,
    client_id: String,
    #[serde(default)]
    member_id: String,
    hmac: String,
    products: Vec<Value>,
}

/// Cafe24's front SDK `precreateOrder`: checks the app's HMAC (service key over
/// mall_id + request_time + client_id + member_id), reserves an order number, and
/// answers with its own HMAC over the reservation (SPEC §4.6).
async fn precreate_order(
    State(app): State<AppState>,
    Path(mall_id): Path<String>,
    Json(p): Json<Precreate>,
) -> Response {
    let expected = crate::cafe24::signature::sign(
        &app.cafe24.service_key,
        &[&mall_id, &p.request_time, &p.client_id, &p.member_id],
    );
    if !crate::cafe24::signature::constant_time_eq(&expected, &p.hmac) {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "hmac mismatch"}))).into_response();
    }
    if p.client_id != app.cafe24.client_id {
        return (StatusCode::FORBIDDEN, Json(json!({"error": "unknown client_id"}))).into_response();
    }
    if p.products.is_empty() {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "the basket is empty"}))).into_response();
    }
    let total: i64 = p
        .products
        .iter()
        .map(|i| {
            let int = |f: &str| i[f].as_str().and_then(crate::cafe24::external::php_int).unwrap_or(0);
            (int("product_price") + int("option_price")) * i["quantity"].as_i64().unwrap_or(1)
        })
        .sum();
    let today = time::OffsetDateTime::now_utc().date();
    let order_id = format!(
        "{:04}{:02}{:02}-{:07}",
        today.year(),
        u8::from(today.month()),
        today.day(),
        u32::from_str_radix(&new_id("")[1..7], 16).unwrap_or(0) % 10_000_000
    );
    let response_time = (now_ms() / 1000).to_string();
    let noty = app.url("/demo-mall/noty").to_string();
    let hmac =
        crate::cafe24::external::reservation_hmac(&app.cafe24.client_id, &order_id, total, &response_time, &noty);
    Json(json!({
        "mall_id": mall_id,
        "order_id": order_id,
        "currency": "PHP",
        "return_notification_url": noty,
        "response_time": response_time,
        "hmac": hmac,
        "order": p.products,
    }))
    .into_response()
}
