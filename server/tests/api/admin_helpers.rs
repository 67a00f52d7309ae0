//! Playing the merchant: the Cafe24 admin's signed launch, the OAuth round trip through
//! the simulated Cafe24, and admin requests with the session cookie and CSRF token.

use crate::helpers::*;
use reqwest::{header, StatusCode};
use serde_json::{json, Value};

/// A launch URL as the Cafe24 admin builds it, signed with the client secret.
pub fn launch_query(mall_id: &str, lang: &str, timestamp: i64, user_type: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("mall_id", mall_id)
        .append_pair("user_id", "merchant")
        .append_pair("user_type", user_type)
        .append_pair("nation", "PH")
        .append_pair("lang", lang)
        .append_pair("timestamp", &timestamp.to_string())
        .finish();
    let hmac = paybridge::cafe24::signature::sign(CLIENT_SECRET, &[&query]);
    format!("{query}&hmac={}", url::form_urlencoded::byte_serialize(hmac.as_bytes()).collect::<String>())
}

pub fn now_secs() -> i64 {
    paybridge::store::now_ms() / 1000
}

pub fn session_cookie(response: &reqwest::Response) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("pb_session="))
        .map(|v| v.split(';').next().unwrap().to_owned())
}

pub struct Merchant {
    pub mall_id: String,
    /// `pb_session=…`
    pub cookie: String,
    pub csrf: String,
}

/// Opens paybridge from the Cafe24 admin and signs in through OAuth, at any server.
pub async fn sign_in_at(client: &reqwest::Client, base: &url::Url, mall_id: &str, lang: &str) -> Merchant {
    let launch = base.join(&format!("/?{}", launch_query(mall_id, lang, now_secs(), "P"))).unwrap();
    let response = client.get(launch).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "launch");
    let cookie = session_cookie(&response).expect("a session cookie");
    let authorize = location(&response);
    assert_eq!(authorize.path(), format!("/demo-cafe24/{mall_id}/api/v2/oauth/authorize"));
    let response = client.get(authorize).send().await.unwrap();
    let callback = location(&response);
    assert_eq!(callback.path(), "/auth/token");
    let response = client.get(callback).header(header::COOKIE, &cookie).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER, "OAuth callback");
    assert_eq!(location(&response).path(), "/admin/display");
    let signed_in = session_cookie(&response).expect("a new session id at sign-in");
    assert_ne!(signed_in, cookie);
    let page = admin_page_at(client, base, mall_id, &signed_in).await;
    let csrf = page
        .split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page carries the CSRF token")
        .to_owned();
    Merchant { mall_id: mall_id.to_owned(), cookie: signed_in, csrf }
}

pub async fn admin_page_at(client: &reqwest::Client, base: &url::Url, mall_id: &str, cookie: &str) -> String {
    let response = client
        .get(base.join(&format!("/admin/display?mall_id={mall_id}")).unwrap())
        .header(header::COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.text().await.unwrap()
}

impl TestApp {
    pub async fn sign_in(&self, mall_id: &str, lang: &str) -> Merchant {
        sign_in_at(&self.client, &self.base, mall_id, lang).await
    }

    pub async fn admin_page(&self, mall_id: &str, cookie: &str) -> String {
        admin_page_at(&self.client, &self.base, mall_id, cookie).await
    }

    /// An admin POST with the session cookie and, when given, the CSRF token.
    pub async fn admin_post(
        &self,
        path: &str,
        cookie: Option<&str>,
        csrf: Option<&str>,
        body: &Value,
    ) -> (StatusCode, Value) {
        let mut request = self.client.post(self.url(path)).json(body);
        if let Some(cookie) = cookie {
            request = request.header(header::COOKIE, cookie);
        }
        if let Some(csrf) = csrf {
            request = request.header("X-CSRF-Token", csrf);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn simulated_cafe24(&self, mall_id: &str, kind: &str) -> Vec<Value> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT body FROM demo_cafe24_registrations WHERE mall_id = $1 AND kind = $2 ORDER BY shop_no",
        )
        .bind(mall_id)
        .bind(kind)
        .fetch_all(self.state.store.pool())
        .await
        .unwrap();
        rows.into_iter().map(|(b,)| serde_json::from_str(&b).unwrap()).collect()
    }

    pub async fn cafe24_fault(&self, operation: &str, fault: &str) {
        let response = self
            .client
            .post(self.url("/demo-cafe24/faults"))
            .json(&json!({"operation": operation, "fault": fault}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
}

impl Merchant {
    pub async fn post(&self, app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
        app.admin_post(path, Some(&self.cookie), Some(&self.csrf), &body).await
    }

    pub async fn toggle(&self, app: &TestApp, action: &str, shop_no: i64) -> (StatusCode, Value) {
        self.post(app, "/admin/shop/toggle", json!({"mall_id": self.mall_id, "action": action, "shop_no": shop_no}))
            .await
    }
}

pub fn error_message(body: &Value) -> String {
    body["error"]["message"].as_str().unwrap_or_default().to_owned()
}

pub fn shop(overview: &Value, shop_no: i64) -> &Value {
    overview["shops"].as_array().unwrap().iter().find(|s| s["shop_no"] == shop_no).unwrap()
}
