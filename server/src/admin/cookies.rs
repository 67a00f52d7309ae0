//! The admin session cookie: `HttpOnly`, `SameSite=Lax`, `Secure` under https.

use axum::http::{header, HeaderMap, HeaderValue};

use crate::store::SESSION_LIFETIME;

pub const SESSION_COOKIE: &str = "pb_session";

pub fn session_id(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|v| !v.is_empty())
}

pub fn set_session(id: &str, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    let max_age = SESSION_LIFETIME.as_secs();
    HeaderValue::from_str(&format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"))
        .expect("session ids are URL-safe")
}

pub fn clear_session(secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"))
        .expect("static cookie")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others_and_set_safely() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; pb_session=abc_DEF-1; b=2"));
        assert_eq!(session_id(&headers).as_deref(), Some("abc_DEF-1"));
        let cookie = set_session("abc", true).to_str().unwrap().to_owned();
        for part in ["HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
            assert!(cookie.contains(part), "{cookie}");
        }
        assert!(!set_session("abc", false).to_str().unwrap().contains("Secure"));
        assert_eq!(session_id(&HeaderMap::new()), None);
    }
}
