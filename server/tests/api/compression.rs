//! Compression and caching (README "Compression and caching"): answers compressed as the
//! client accepts, decoding to the very bytes sent uncompressed; the admin never
//! compressed; payment data never stored by a cache; the hashed bundle immutable.

use std::{
    io::{Read, Write},
    path::{Path, PathBuf},
};

use reqwest::{header, StatusCode};
use serde_json::json;

use crate::{helpers::*, receiver::Receiver};

const JS_HASH: &str = "Jq3tX0b1GQ4xk8mZ2pVwYA";
const WASM_HASH: &str = "W9sFh2Lq0cE_7nRt-3uKbg";
const CSS_HASH: &str = "C4dRk9Tz1yQ2mN8vXo5pHw";
const ADMIN_JS_HASH: &str = "Ad3tX0b1GQ4xk8mZ2pVwYA";
const ADMIN_WASM_HASH: &str = "AdsFh2Lq0cE_7nRt-3uKbg";

/// A site root as `.dev/build-release` leaves it (hashed names, `.br` and `.gz` beside),
/// its hash file, and one file without precompressed variants (as a debug build has).
struct Site {
    dir: PathBuf,
    wasm: Vec<u8>,
}

impl Site {
    fn new() -> Site {
        let dir = std::env::temp_dir().join(format!("paybridge-site-{}", uuid::Uuid::new_v4().simple()));
        let pkg = dir.join("pkg");
        std::fs::create_dir_all(pkg.join("snippets")).unwrap();
        // Compressible, and not a run of one byte: a made-up module's worth of text.
        let wasm: Vec<u8> = (0..40_000u32).flat_map(|i| format!("f{};", i % 997).into_bytes()).collect();
        let write_with_variants = |name: &str, bytes: &[u8]| {
            std::fs::write(pkg.join(name), bytes).unwrap();
            std::fs::write(pkg.join(format!("{name}.br")), brotli(bytes)).unwrap();
            std::fs::write(pkg.join(format!("{name}.gz")), gzip(bytes)).unwrap();
        };
        write_with_variants(&format!("paybridge.{WASM_HASH}.wasm"), &wasm);
        write_with_variants(&format!("paybridge.{JS_HASH}.js"), b"export default function init() {}\n");
        write_with_variants(&format!("paybridge.{CSS_HASH}.css"), b"body { margin: 0 }\n");
        std::fs::write(pkg.join("snippets").join("glue.js"), "export const glue = 1;\n".repeat(200)).unwrap();
        std::fs::write(dir.join("hash.txt"), format!("js: {JS_HASH}\nwasm: {WASM_HASH}\ncss: {CSS_HASH}\n")).unwrap();
        Site { dir, wasm }
    }

    /// The admin's own bundle beside, as `.dev/build` makes it (`cargo leptos build` does not).
    fn with_admin_bundle(self) -> Site {
        let pkg = self.dir.join("pkg");
        std::fs::write(pkg.join(format!("paybridge-admin.{ADMIN_WASM_HASH}.wasm")), &self.wasm).unwrap();
        std::fs::write(pkg.join(format!("paybridge-admin.{ADMIN_JS_HASH}.js")), b"export default function init() {}\n")
            .unwrap();
        std::fs::write(self.dir.join("hash-admin.txt"), format!("js: {ADMIN_JS_HASH}\nwasm: {ADMIN_WASM_HASH}\n"))
            .unwrap();
        self
    }

    fn overrides(&self) -> [(&'static str, String); 2] {
        [
            ("LEPTOS_SITE_ROOT", self.dir.display().to_string()),
            ("LEPTOS_HASH_FILE_NAME", self.dir.join("hash.txt").display().to_string()),
        ]
    }

    fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.dir.join("pkg").join(name)).unwrap()
    }
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn spawn_with_site(db: Db, site: &Site) -> TestApp {
    let overrides = site.overrides();
    let overrides: Vec<(&str, &str)> = overrides.iter().map(|(k, v)| (*k, v.as_str())).collect();
    spawn_app_with(db, &overrides).await
}

fn brotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut writer = ::brotli::CompressorWriter::new(&mut out, 4096, 11, 22);
    writer.write_all(bytes).unwrap();
    drop(writer);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

fn decode(encoding: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "br" => ::brotli::Decompressor::new(bytes, 4096).read_to_end(&mut out).unwrap(),
        "gzip" => flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).unwrap(),
        other => panic!("unexpected encoding {other}"),
    };
    out
}

/// One GET with this `Accept-Encoding` (reqwest here decodes nothing itself).
struct Fetched {
    status: StatusCode,
    headers: header::HeaderMap,
    body: Vec<u8>,
}

impl Fetched {
    fn header(&self, name: header::HeaderName) -> &str {
        self.headers.get(&name).and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    fn encoding(&self) -> &str {
        self.header(header::CONTENT_ENCODING)
    }

    fn varies_by_encoding(&self) -> bool {
        self.headers
            .get_all(header::VARY)
            .iter()
            .any(|v| v.to_str().unwrap_or_default().to_ascii_lowercase().contains("accept-encoding"))
    }
}

async fn fetch(app: &TestApp, path: &str, accept_encoding: &str) -> Fetched {
    let mut request = app.client.get(app.url(path));
    if !accept_encoding.is_empty() {
        request = request.header(header::ACCEPT_ENCODING, accept_encoding);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.unwrap().to_vec();
    Fetched { status, headers, body }
}

/// A page's bytes without its nonce, which is new in every answer (`<script nonce=…>`).
fn without_nonce(bytes: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let Some(nonce) = text.split("nonce=\"").nth(1).and_then(|rest| rest.split('"').next()) else {
        return bytes.to_vec();
    };
    text.replace(nonce, "NONCE").into_bytes()
}

/// `path` sent plain, as brotli and as gzip: each decodes to the plain bytes, and is smaller.
async fn same_bytes_every_way(app: &TestApp, path: &str) -> Vec<u8> {
    let plain = fetch(app, path, "").await;
    assert_eq!(plain.status, StatusCode::OK, "{path}");
    assert_eq!(plain.encoding(), "", "{path}: nothing accepted, nothing encoded");
    assert!(plain.body.len() > paybridge::http::compression::MIN_SIZE.into(), "{path} is worth compressing");
    for (accept, expected) in [("br", "br"), ("gzip", "gzip"), ("gzip, deflate, br", "br"), ("br;q=0, gzip", "gzip")] {
        let encoded = fetch(app, path, accept).await;
        assert_eq!(encoded.status, StatusCode::OK, "{path} ({accept})");
        assert_eq!(encoded.encoding(), expected, "{path} ({accept})");
        assert!(encoded.varies_by_encoding(), "{path} ({accept}): Vary: Accept-Encoding");
        assert!(encoded.body.len() < plain.body.len(), "{path} ({accept}) is smaller");
        let decoded = decode(expected, &encoded.body);
        assert!(
            without_nonce(&decoded) == without_nonce(&plain.body),
            "{path} ({accept}) decodes to the same bytes: {} bytes, plain {}",
            decoded.len(),
            plain.body.len()
        );
        assert_eq!(
            encoded.header(header::CONTENT_TYPE),
            plain.header(header::CONTENT_TYPE),
            "{path} ({accept}): the same type"
        );
    }
    plain.body
}

async fn compressed_answers_decode_to_the_same_bytes(db: Db) {
    let site = Site::new();
    let app = spawn_with_site(db, &site).await;

    // A page, Store API answers, the storefront script (compressed as they are sent).
    let home = same_bytes_every_way(&app, "/").await;
    assert!(String::from_utf8_lossy(&home).contains("<html"), "a page");
    let intent = app.intent(json!({})).await;
    let id = intent["id"].as_str().unwrap();
    same_bytes_every_way(&app, "/api/v2/openapi.json").await;
    let payment = fetch(&app, &format!("/api/v2/payments/{id}"), "br").await;
    assert_eq!(payment.status, StatusCode::UNAUTHORIZED, "without its key");
    let paid = app
        .client
        .get(app.url(&format!("/api/v2/payments/{id}")))
        .bearer_auth(crate::v2_helpers::KEY)
        .header(header::ACCEPT_ENCODING, "gzip")
        .send()
        .await
        .unwrap();
    let encoding = paid.headers().get(header::CONTENT_ENCODING).map(|v| v.to_str().unwrap().to_owned());
    let body = paid.bytes().await.unwrap();
    let json: serde_json::Value = match encoding.as_deref() {
        Some(encoding) => serde_json::from_slice(&decode(encoding, &body)).unwrap(),
        None => {
            assert!(body.len() < paybridge::http::compression::MIN_SIZE.into(), "only a small answer goes plain");
            serde_json::from_slice(&body).unwrap()
        }
    };
    assert_eq!(json["id"], id, "a Store API answer reads the same");
    let script = same_bytes_every_way(&app, "/api/external-checkout/script").await;
    assert_eq!(script, paybridge::cafe24::script::SCRIPT.as_bytes());

    // The hosted payment page (its data is the payment's): compressed, and it is the page.
    let page_path = url::Url::parse(intent["paymentUrl"].as_str().unwrap()).unwrap().path().to_owned();
    let page = fetch(&app, &page_path, "br").await;
    assert_eq!((page.status, page.encoding()), (StatusCode::OK, "br"));
    assert!(String::from_utf8_lossy(&decode("br", &page.body)).contains(id), "the payment's page");

    // The bundle: its precompressed variants exactly as built, the file itself otherwise.
    let wasm = format!("/pkg/paybridge.{WASM_HASH}.wasm");
    assert_eq!(same_bytes_every_way(&app, &wasm).await, site.wasm);
    let name = format!("paybridge.{WASM_HASH}.wasm");
    assert_eq!(fetch(&app, &wasm, "br").await.body, site.file(&format!("{name}.br")), "the .br as built");
    assert_eq!(fetch(&app, &wasm, "gzip").await.body, site.file(&format!("{name}.gz")), "the .gz as built");
    assert_eq!(fetch(&app, &wasm, "br").await.header(header::CONTENT_TYPE), "application/wasm");
    // A file without variants (a debug build's) is compressed as it is sent.
    same_bytes_every_way(&app, "/pkg/snippets/glue.js").await;

    // Small answers go as they are.
    let health = fetch(&app, "/healthz", "br, gzip").await;
    assert_eq!((health.status, health.encoding()), (StatusCode::OK, ""));
}

/// BREACH: the admin's answers carry the page's CSRF token (and new keys and secrets) and
/// are fetched with the session cookie: never compressed, whatever the browser accepts.
async fn the_admin_is_never_compressed(db: Db) {
    let app = spawn_app(db).await;
    let merchant = app.sign_in("demomall", "en_US").await;
    let page = app
        .client
        .get(app.url("/admin/display?mall_id=demomall"))
        .header(header::COOKIE, &merchant.cookie)
        .header(header::ACCEPT_ENCODING, "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers().get(header::CONTENT_ENCODING).is_none(), "the admin page goes uncompressed");
    assert_eq!(page.headers()[header::CACHE_CONTROL], "no-store");
    let text = page.text().await.unwrap();
    assert!(text.contains(&merchant.csrf), "the page with its CSRF token");
    assert!(text.len() > paybridge::http::compression::MIN_SIZE.into(), "large enough to be compressed otherwise");

    let created = app
        .client
        .post(app.url("/admin/api-keys"))
        .header(header::COOKIE, &merchant.cookie)
        .header("X-CSRF-Token", &merchant.csrf)
        .header(header::ACCEPT_ENCODING, "br, gzip")
        .json(&json!({"mall_id": "demomall"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::OK);
    assert!(created.headers().get(header::CONTENT_ENCODING).is_none(), "a new key's answer goes uncompressed");
    let body: serde_json::Value = created.json().await.unwrap();
    assert!(body["new_key"]["key"].as_str().unwrap().starts_with("sk_test_"), "{body}");
}

async fn payment_answers_are_never_stored_and_the_bundle_is_immutable(db: Db) {
    let site = Site::new();
    let app = spawn_with_site(db, &site).await;
    let no_store = |what: &str, headers: &header::HeaderMap| {
        assert_eq!(
            headers.get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()),
            Some("no-store"),
            "{what}: Cache-Control"
        );
    };

    // Store API: an intent's answer, the payment read back.
    let created = app.v2_post("/api/v2/payment-intents", &app.intent_body(json!({}))).await;
    assert_eq!(created.status, StatusCode::CREATED);
    no_store("POST /api/v2/payment-intents", &created.headers);
    let id = created.body["id"].as_str().unwrap();
    no_store("GET /api/v2/payments/{id}", &app.v2_get(&format!("/api/v2/payments/{id}")).await.headers);
    let refused = app.v2(reqwest::Method::GET, &format!("/api/v2/payments/{id}"), None, None, None).await;
    no_store("a refused Store API call", &refused.headers);

    // The hosted payment page and its status.
    let page_path = url::Url::parse(created.body["paymentUrl"].as_str().unwrap()).unwrap().path().to_owned();
    no_store("/pay/{id}", &fetch(&app, &page_path, "").await.headers);
    no_store("/pay/{id}/status", &fetch(&app, &format!("{page_path}/status"), "").await.headers);

    // Cafe24: a checkout's answer, and the buyer's review page.
    let response = app
        .client
        .post(app.url("/api/synchronous-checkout/checkout"))
        .json(&payment_request(&unique_order_id(), "3065.00"));
    let response = response.send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    no_store("Cafe24 checkout", response.headers());
    let cafe24 = Receiver::start().await;
    let review = crate::external::review_page_of_small_basket(&app, &cafe24).await;
    let response = app.client.get(review).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    no_store("the review page", response.headers());

    // The pages name the hashed bundle, which is kept a year and never asked for again.
    let home = String::from_utf8(fetch(&app, "/", "").await.body).unwrap();
    // A site of one bundle (`cargo leptos build`: no admin bundle) gives the admin that one.
    let admin = String::from_utf8(fetch(&app, "/admin/display?mall_id=demomall", "").await.body).unwrap();
    assert!(admin.contains(&format!("/pkg/paybridge.{WASM_HASH}.wasm")), "{admin}");
    assert!(!admin.contains("paybridge-admin"), "{admin}");
    for name in
        [format!("paybridge.{JS_HASH}.js"), format!("paybridge.{WASM_HASH}.wasm"), format!("paybridge.{CSS_HASH}.css")]
    {
        assert!(home.contains(&format!("/pkg/{name}")), "the page names /pkg/{name}: {home}");
        for accept in ["", "br", "gzip"] {
            let file = fetch(&app, &format!("/pkg/{name}"), accept).await;
            assert_eq!(file.status, StatusCode::OK, "{name}");
            assert_eq!(file.header(header::CACHE_CONTROL), "public, max-age=31536000, immutable", "{name}");
            assert!(file.varies_by_encoding(), "{name} ({accept}): Vary: Accept-Encoding");
        }
    }
    // What is not named by its content is asked for again before each use.
    let snippet = fetch(&app, "/pkg/snippets/glue.js", "br").await;
    assert_eq!(snippet.header(header::CACHE_CONTROL), "no-cache");
    let modified = snippet.header(header::LAST_MODIFIED).to_owned();
    let again = app
        .client
        .get(app.url("/pkg/snippets/glue.js"))
        .header(header::IF_MODIFIED_SINCE, modified)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(fetch(&app, "/pkg/paybridge.nothere.js", "").await.status, StatusCode::NOT_FOUND);

    // The storefront script: its URL is registered with Cafe24, so 5 minutes, then its tag.
    let script = fetch(&app, "/api/external-checkout/script", "br").await;
    assert_eq!(script.header(header::CACHE_CONTROL), "public, max-age=300");
    let etag = script.header(header::ETAG).to_owned();
    assert!(etag.starts_with("W/\"sha384-"), "{etag}");
    let again = app
        .client
        .get(app.url("/api/external-checkout/script"))
        .header(header::IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(again.headers()[header::ETAG], etag.as_str());
    assert!(again.bytes().await.unwrap().is_empty());
    let other = app
        .client
        .get(app.url("/api/external-checkout/script"))
        .header(header::IF_NONE_MATCH, "W/\"sha384-another-build\"")
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::OK, "another build's tag gets the script");
}

/// The admin page names the admin's own bundle and the site's stylesheet; the buyer pages
/// the buyer pages' bundle and never the admin's (README "The browser bundles").
async fn the_admin_page_names_its_own_bundle_and_the_buyer_pages_theirs(db: Db) {
    let site = Site::new().with_admin_bundle();
    let app = spawn_with_site(db, &site).await;
    let admin = String::from_utf8(fetch(&app, "/admin/display?mall_id=demomall", "").await.body).unwrap();
    let home = String::from_utf8(fetch(&app, "/", "").await.body).unwrap();
    for name in [format!("paybridge-admin.{ADMIN_JS_HASH}.js"), format!("paybridge-admin.{ADMIN_WASM_HASH}.wasm")] {
        assert!(admin.contains(&format!("/pkg/{name}")), "the admin names /pkg/{name}: {admin}");
        assert!(!home.contains(&name), "the home page does not name {name}: {home}");
    }
    assert!(admin.contains(&format!("/pkg/paybridge.{CSS_HASH}.css")), "{admin}");
    for name in [format!("paybridge.{JS_HASH}.js"), format!("paybridge.{WASM_HASH}.wasm")] {
        assert!(home.contains(&format!("/pkg/{name}")), "the home page names /pkg/{name}: {home}");
        assert!(!admin.contains(&name), "the admin does not name {name}: {admin}");
    }
    let file = fetch(&app, &format!("/pkg/paybridge-admin.{ADMIN_WASM_HASH}.wasm"), "").await;
    assert_eq!(file.status, StatusCode::OK);
    assert_eq!(file.header(header::CACHE_CONTROL), "public, max-age=31536000, immutable");
}

/// Without a hash file the pages name the unhashed bundle (a build without `hash-files`).
async fn without_a_hash_file_the_pages_name_plain_files(db: Db) {
    let site = Site::new();
    let missing = site.dir.join("no-such-hash.txt");
    let app = spawn_app_with(
        db,
        &[
            ("LEPTOS_SITE_ROOT", &site.dir.display().to_string()),
            ("LEPTOS_HASH_FILE_NAME", &missing.display().to_string()),
        ],
    )
    .await;
    let home = String::from_utf8(fetch(&app, "/", "").await.body).unwrap();
    assert!(home.contains("/pkg/paybridge.css"), "{home}");
    assert!(!home.contains(JS_HASH), "{home}");
    assert!(Path::new(&site.dir).exists());
}

crate::on_both_databases!(
    compressed_answers_decode_to_the_same_bytes,
    the_admin_is_never_compressed,
    payment_answers_are_never_stored_and_the_bundle_is_immutable,
    without_a_hash_file_the_pages_name_plain_files,
    the_admin_page_names_its_own_bundle_and_the_buyer_pages_theirs,
);
