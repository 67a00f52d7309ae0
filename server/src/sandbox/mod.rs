//! The sandbox (SPEC §6): a payment company and a Cafe24 mall to run everything locally.
//! Served only when `SANDBOX` is on.

pub mod cafe24_sim;
pub mod demo_mall;
pub mod pg;
pub mod provision;

pub(crate) fn html_escape(text: &str) -> String {
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

/// A small self-contained HTML page (the sandbox pages stand in for third parties,
/// so they do not use the app's Leptos shell).
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><style>{CSS}</style></head><body>{body}</body></html>",
        title = html_escape(title),
    )
}

const CSS: &str = "body{font-family:system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#1d2330}\
h1{font-size:1.4rem}.box{border:1px solid #d5d9e2;border-radius:8px;padding:1rem 1.25rem;margin:1rem 0}\
.amount{font-size:1.6rem;font-weight:600}button{font:inherit;padding:.5rem 1rem;margin:.25rem .25rem .25rem 0;border-radius:6px;border:1px solid #8a93a6;background:#fff;cursor:pointer}\
button.primary{background:#2457d6;color:#fff;border-color:#2457d6}.muted{color:#5d6678}.ok{color:#11733b}.bad{color:#b3261e}\
table{border-collapse:collapse}td,th{padding:.25rem .75rem .25rem 0;text-align:left}form.inline{display:inline}\
input,select{font:inherit;padding:.35rem}label{display:block;margin:.5rem 0}";
