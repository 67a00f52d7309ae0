//! The app launch from the Cafe24 admin (`GET /?mall_id&…&hmac`), the OAuth callback
//! (`GET /auth/token`), and sign-out.

use axum::{
    body::Body,
    extract::{Query, Request, State},
    http::{header, HeaderMap, StatusCode},
    response::{Html, IntoResponse, Redirect, Response},
};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{cookies, AdminContext};
use crate::{
    cafe24::signature,
    store::{now_ms, random_token},
    web::{html_escape, page},
};

/// A launch link is good for this long after its `timestamp`.
const LAUNCH_FRESHNESS_SECS: i64 = 300;

fn refused(status: StatusCode, message: &str) -> Response {
    let body = format!(
        "<h1>paybridge</h1><p class=\"bad\" data-testid=\"error\">{}</p>\
         <p>Open paybridge again from your Cafe24 admin.</p>",
        html_escape(message)
    );
    (status, Html(page("paybridge", &body))).into_response()
}

/// Our fault during a sign-in: logged once with the operation, hidden from the merchant.
fn failed(operation: &str, cause: impl std::fmt::Display) -> Response {
    tracing::error!(operation, error = %cause, "admin sign-in: internal error");
    refused(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side.")
}

/// `GET /`: the app launch when the query says so, else the home page.
pub async fn root(State(app): State<AdminContext>, request: Request) -> Response {
    let query = request.uri().query().unwrap_or_default().to_owned();
    let is_launch = url::form_urlencoded::parse(query.as_bytes()).any(|(k, _)| k == "hmac" || k == "mall_id");
    if is_launch {
        return launch(&app, &query).await;
    }
    let options = app.leptos_options.clone();
    let render = leptos_axum::render_app_to_stream(move || app::shell(options.clone()));
    render(request.map(Body::new)).await.into_response()
}

/// A launch link's merchant, checked.
#[derive(Debug, PartialEq, Eq)]
pub struct Launch {
    pub mall_id: String,
    pub user_id: String,
    pub lang: String,
}

/// Why a launch link was refused: the status and the message the merchant sees.
pub type LaunchRefusal = (StatusCode, &'static str);

/// Checks a launch query, as received: `hmac` = base64(HMAC-SHA256(client secret, the
/// query without `hmac`, as received)), a `timestamp` within 5 minutes of `now_secs`,
/// `user_type` P or A, a mall id and a user id (SPEC §4.7). Pure: a refusal changes
/// nothing.
pub fn check_launch(secret: &str, query: &str, now_secs: i64) -> Result<Launch, LaunchRefusal> {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    let get = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let signed: Vec<&str> = query.split('&').filter(|part| !part.starts_with("hmac=")).collect();
    let message = signed.join("&");
    // base64 in a query may arrive with '+' decoded to a space.
    let provided = get("hmac").unwrap_or_default().replace(' ', "+");
    if provided.is_empty() || !signature::verify(secret, &[&message], &provided) {
        return Err((StatusCode::UNAUTHORIZED, "This link does not come from Cafe24 (its hmac does not match)."));
    }
    let fresh = get("timestamp")
        .and_then(|t| t.parse::<i64>().ok())
        .is_some_and(|t| now_secs.abs_diff(t) <= LAUNCH_FRESHNESS_SECS.unsigned_abs());
    if !fresh {
        return Err((StatusCode::UNAUTHORIZED, "This link has expired."));
    }
    if !matches!(get("user_type"), Some("P" | "A")) {
        return Err((StatusCode::FORBIDDEN, "Only the mall's owner or its administrators can open paybridge."));
    }
    let (Some(mall_id), Some(user_id)) = (get("mall_id"), get("user_id")) else {
        return Err((StatusCode::BAD_REQUEST, "The link names no mall or user."));
    };
    if mall_id.is_empty() || mall_id.len() > 50 || !mall_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err((StatusCode::BAD_REQUEST, "The mall id is not valid."));
    }
    let lang = get("lang").unwrap_or("en");
    Ok(Launch { mall_id: mall_id.into(), user_id: user_id.into(), lang: lang.into() })
}

/// A checked launch starts a new session and sends the merchant to Cafe24 to grant
/// access.
async fn launch(app: &AdminContext, query: &str) -> Response {
    let Launch { mall_id, user_id, lang } = match check_launch(&app.cafe24.client_secret, query, now_ms() / 1000) {
        Ok(launch) => launch,
        Err((status, message)) => return refused(status, message),
    };
    let state = random_token();
    let session = match app.store.create_session(&mall_id, &user_id, &lang, &state).await {
        Ok(id) => id,
        Err(e) => return failed("cannot start a session", e),
    };
    let mut response = Redirect::to(app.cafe24_api.authorize_url(&mall_id, &state).as_str()).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookies::set_session(&session, app.secure_cookies()));
    response
}

#[derive(Deserialize)]
pub struct OAuthCallback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/token`: Cafe24 sends the merchant back with a code for the session's state.
pub async fn oauth_callback(
    State(app): State<AdminContext>,
    headers: HeaderMap,
    Query(params): Query<OAuthCallback>,
) -> Response {
    let Some(session_id) = cookies::session_id(&headers) else {
        return refused(StatusCode::UNAUTHORIZED, "There is no sign-in in progress in this browser.");
    };
    let session = match app.store.session(&session_id).await {
        Ok(Some(s)) => s,
        Ok(None) => return refused(StatusCode::UNAUTHORIZED, "The sign-in expired."),
        Err(e) => return failed("session lookup failed", e),
    };
    let expected = session.oauth_state.clone().unwrap_or_default();
    let given = params.state.unwrap_or_default();
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(given.as_bytes())) {
        return refused(StatusCode::FORBIDDEN, "The sign-in does not match this browser's (state).");
    }
    if let Some(error) = params.error {
        return refused(StatusCode::FORBIDDEN, &format!("Cafe24 did not grant access: {error}"));
    }
    let Some(code) = params.code.filter(|c| !c.is_empty()) else {
        return refused(StatusCode::BAD_REQUEST, "Cafe24 sent no authorization code.");
    };
    let tokens = match app.cafe24_api.exchange_code(&session.mall_id, &code).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(mall_id = %session.mall_id, error = %e, "OAuth code exchange failed");
            return refused(StatusCode::BAD_GATEWAY, &format!("Cafe24 refused the sign-in: {e}"));
        }
    };
    if let Err(e) = app.store.save_tokens(&app.keys, &session.mall_id, &tokens).await {
        return failed("keeping the tokens", e);
    }
    match app.cafe24_api.shops(&session.mall_id, &tokens.access_token).await {
        Ok(shops) => {
            if let Err(e) = app.store.upsert_shops(&session.mall_id, &shops).await {
                tracing::error!(error = %e, "cannot keep the shops");
            }
        }
        // The admin page still opens; it shows the shops we already know.
        Err(e) => tracing::warn!(mall_id = %session.mall_id, error = %e, "loading the shops failed"),
    }
    let new_id = match app.store.sign_in_session(&session_id).await {
        Ok(Some(id)) => id,
        Ok(None) => return refused(StatusCode::UNAUTHORIZED, "The sign-in expired."),
        Err(e) => return failed("cannot sign the session in", e),
    };
    let target = format!(
        "{}?mall_id={}",
        app::admin::PAGE_PATH,
        url::form_urlencoded::byte_serialize(session.mall_id.as_bytes()).collect::<String>()
    );
    let mut response = Redirect::to(&target).into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookies::set_session(&new_id, app.secure_cookies()));
    response
}

/// `POST /admin/logout`: ends this browser's session (CSRF-checked like every admin POST).
pub async fn logout(State(app): State<AdminContext>, headers: HeaderMap) -> Response {
    let service = super::service::AdminService::new(app.clone());
    if let Err(e) = service.session_for_change(&headers, None).await {
        return (StatusCode::from_u16(e.status()).unwrap_or(StatusCode::FORBIDDEN), e.message).into_response();
    }
    if let Some(id) = cookies::session_id(&headers) {
        if let Err(e) = app.store.end_session(&id).await {
            tracing::error!(error = %e, "cannot end a session");
        }
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, cookies::clear_session(app.secure_cookies()));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(query: &str) -> String {
        let hmac = signature::sign("secret", &[query]);
        format!("{query}&hmac={}", url::form_urlencoded::byte_serialize(hmac.as_bytes()).collect::<String>())
    }

    #[test]
    fn a_signed_fresh_link_names_its_merchant() {
        let query = signed("mall_id=mall_1&user_id=owner&user_type=P&lang=ko&timestamp=1000000");
        let launch = check_launch("secret", &query, 1_000_100).unwrap();
        assert_eq!(launch, Launch { mall_id: "mall_1".into(), user_id: "owner".into(), lang: "ko".into() });
        assert_eq!(check_launch("other", &query, 1_000_100).unwrap_err().0, StatusCode::UNAUTHORIZED);
        assert_eq!(check_launch("secret", &format!("{query}&x=1"), 1_000_100).unwrap_err().0, StatusCode::UNAUTHORIZED);
        assert_eq!(
            check_launch("secret", &query, 1_000_301).unwrap_err(),
            (StatusCode::UNAUTHORIZED, "This link has expired.")
        );
    }

    #[test]
    fn a_timestamp_at_the_ends_of_i64_is_expired_not_an_overflow() {
        for time in [i64::MIN, i64::MAX] {
            let query = signed(&format!("mall_id=m&user_id=u&user_type=P&timestamp={time}"));
            assert_eq!(
                check_launch("secret", &query, 1_000_000).unwrap_err(),
                (StatusCode::UNAUTHORIZED, "This link has expired.")
            );
        }
    }
}
