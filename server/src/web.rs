//! Small things every module that answers browsers shares: the public base URL, and
//! self-contained HTML pages for what is not a Leptos page (the sandbox's stand-ins for
//! third parties, and error pages for buyers). Imports nothing else of the crate.

use url::Url;

/// Where Cafe24, PGs and browsers reach us (`APP_URL`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicUrl(Url);

impl PublicUrl {
    pub fn new(url: Url) -> Self {
        PublicUrl(url)
    }

    pub fn base(&self) -> &Url {
        &self.0
    }

    /// `path` under the base (which may itself have a path).
    pub fn url(&self, path: &str) -> Url {
        let mut url = self.0.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}{path}"));
        url
    }

    /// Cookies are `Secure` when we are served over https.
    pub fn is_https(&self) -> bool {
        self.0.scheme() == "https"
    }
}

/// A request path as it may be logged. A PG that names a saved card by its token in the
/// path (the sandbox PG's `/v1/tokens/{token}/…`, SPEC §8.5) puts a secret there: that
/// segment is left out.
pub fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    const TOKENS: &str = "/v1/tokens/";
    let Some(at) = path.find(TOKENS) else { return path.into() };
    let start = at + TOKENS.len();
    let end = path[start..].find('/').map_or(path.len(), |i| start + i);
    format!("{}…{}", &path[..start], &path[end..]).into()
}

pub fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A small self-contained HTML page.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">\
         <title>{title}</title><style>{CSS}</style></head><body>{body}</body></html>",
        title = html_escape(title),
    )
}

/// [`page`] that loads `to` (itself when `None`) again after `secs` seconds: for a page
/// that waits for something to arrive.
pub fn refreshing_page(title: &str, body: &str, secs: u32, to: Option<&str>) -> String {
    let target = to.map(|url| format!(";url={}", html_escape(url))).unwrap_or_default();
    page(title, body).replacen(
        "<title>",
        &format!("<meta http-equiv=\"refresh\" content=\"{secs}{target}\"><title>"),
        1,
    )
}

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1d2330}\
h1{font-size:1.4rem}.box{border:1px solid #d5d9e2;border-radius:8px;padding:1rem 1.25rem;margin:1rem 0}\
.amount{font-size:1.6rem;font-weight:600}button{font:inherit;padding:.5rem 1rem;margin:.25rem .25rem .25rem 0;border-radius:6px;border:1px solid #8a93a6;background:#fff;cursor:pointer}\
button.primary{background:#2457d6;color:#fff;border-color:#2457d6}.muted{color:#5d6678}.ok{color:#11733b}.bad{color:#b3261e}\
table{border-collapse:collapse}td,th{padding:.25rem .75rem .25rem 0;text-align:left}form.inline{display:inline}\
input,select{font:inherit;padding:.35rem}label{display:block;margin:.5rem 0}";

/// A panic in a handler answers 500 in the shape `answer` gives (the channel's error
/// shape) instead of dropping the connection; the panic is logged here.
pub fn catch_panics<F>(
    answer: F,
) -> tower_http::catch_panic::CatchPanicLayer<
    impl Fn(Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response + Clone,
>
where
    F: Fn() -> axum::response::Response + Clone + Send + Sync + 'static,
{
    tower_http::catch_panic::CatchPanicLayer::custom(move |panic: Box<dyn std::any::Any + Send + 'static>| {
        tracing::error!(panic = %panic_message(panic.as_ref()), "a handler panicked; answered 500");
        answer()
    })
}

/// What a caught panic said, for the log.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned())
}

/// What a panic answers where no channel gave its own shape (pages, the launch, the
/// sandbox): a page that says nothing of why.
pub fn panic_page() -> axum::response::Response {
    use axum::response::IntoResponse;
    let body = "<h1>Something went wrong on our side</h1><p>Nothing was changed. Please try again.</p>";
    (axum::http::StatusCode::INTERNAL_SERVER_ERROR, axum::response::Html(page("Error", body))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_card_token_in_a_path_is_left_out_of_the_log() {
        assert_eq!(loggable_path("/sandbox-pg/v1/tokens/sbx_tok_secret/charges"), "/sandbox-pg/v1/tokens/…/charges");
        assert_eq!(loggable_path("/sandbox-pg/v1/tokens/sbx_tok_secret"), "/sandbox-pg/v1/tokens/…");
        assert_eq!(loggable_path("/api/v2/tokens/tok_1"), "/api/v2/tokens/tok_1");
        assert_eq!(loggable_path("/healthz"), "/healthz");
    }
}
