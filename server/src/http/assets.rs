//! The browser bundle under `/pkg`, and the cache headers of every answer.
//!
//! `.dev/build` (like cargo-leptos with `hash-files = true` in the workspace metadata) names the bundle's files
//! by their content — `paybridge.<hash>.js`, `.wasm`, `.css`, the hash 22 characters of
//! base64url MD5 — and lists the hashes in `hash.txt` beside the binary, where Leptos's
//! `HydrationScripts` and `HashedStylesheet` read them. The release build
//! (`.dev/build-release`: `.dev/build --release --precompress`) writes `.br` and
//! `.gz` beside each file: those are sent as they are to a client that accepts them.

use std::path::{Path, PathBuf};

use leptos::config::LeptosOptions;

use axum::{
    extract::Request,
    http::{header, HeaderValue, StatusCode},
    middleware::{self, Next},
    response::Response,
    Router,
};
use tower_http::{services::ServeDir, set_header::SetResponseHeaderLayer};

/// A file whose name holds its content's hash never changes: kept a year, never asked again.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Any other static file: kept, but asked again (`If-Modified-Since`) before each use.
pub const REVALIDATE: &str = "no-cache";
/// Everything else this server answers: pages, API answers, redirects.
pub const NO_STORE: &str = "no-store";

/// `GET /{pkg_dir}/…`: the bundle, precompressed variants first.
pub fn bundle<S>(site_root: &Path, pkg_dir: &str) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let files = ServeDir::new(site_root.join(pkg_dir)).precompressed_br().precompressed_gzip();
    Router::new().nest_service(&format!("/{pkg_dir}"), files).layer(middleware::from_fn(bundle_headers))
}

async fn bundle_headers(request: Request, next: Next) -> Response {
    let hashed = is_hashed(request.uri().path());
    let mut response = next.run(request).await;
    if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(if hashed { IMMUTABLE } else { REVALIDATE }));
        // The same URL is sent as br, gzip or identity: a shared cache must tell them apart
        // (ServeDir does not say so itself).
        headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// `paybridge.<22 characters of base64url>.wasm` (or cargo-leptos's `__wasm_split.<hash>.js`):
/// a name that changes with the content. The `snippets/` cargo-leptos leaves unhashed are not.
pub fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let parts: Vec<&str> = name.split('.').collect();
    parts.len() >= 3
        && parts[1..parts.len() - 1]
            .iter()
            .any(|part| part.len() == 22 && part.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// Static files answered by the fallback (the site root's other files): asked again
/// before each use. Its other answers (the 404 page) keep the default `no-store`.
pub async fn public_file_headers(mut response: Response) -> Response {
    let status = response.status();
    if (status.is_success() || status == StatusCode::NOT_MODIFIED)
        && response.headers().contains_key(header::LAST_MODIFIED)
        && !response.headers().contains_key(header::CACHE_CONTROL)
    {
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(REVALIDATE));
    }
    response
}

/// `Cache-Control: no-store` on every answer that does not say otherwise: pages and API
/// answers carry payment data, keys or a session's state, and no browser or proxy may keep
/// them. Static files, the storefront script and the PIN public key set their own.
pub fn no_store_unless_set() -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static(NO_STORE))
}

/// Where Leptos looks for the hash file: `name` in the directory of the running binary
/// (an absolute `name` as it is).
pub fn hash_file(name: &Path) -> PathBuf {
    std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)).unwrap_or_default().join(name)
}

/// Whether pages name the hashed bundle: when the hash file is there. Leptos reads it on
/// every page and panics if it is gone while hashing is on, so it is on only then. Says so
/// at start when the site root and the hash file do not belong to the same build (the
/// pages would name files that are not there, and render without their script).
pub fn hashed_bundle(hash_file: &Path, site_root: &Path, pkg_dir: &str, output_name: &str) -> bool {
    let pkg = site_root.join(pkg_dir);
    match std::fs::read_to_string(hash_file) {
        Ok(hashes) => {
            report_missing(hash_file, site_root, &missing_files(&hashes, &pkg, output_name));
            true
        }
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::error!(hash_file = %hash_file.display(), error = %e, "cannot read the bundle's hash file");
            } else if pkg.is_dir() && !pkg.join(format!("{output_name}.js")).is_file() {
                tracing::error!(
                    hash_file = %hash_file.display(),
                    site_root = %site_root.display(),
                    "the bundle in the site root has hashed names but there is no hash file beside the binary: \
                     deploy the hash.txt of the same build (or set LEPTOS_HASH_FILE_NAME)"
                );
            }
            false
        }
    }
}

/// The bundle files a hash file names that the site root does not hold.
fn missing_files(hashes: &str, pkg: &Path, output_name: &str) -> Vec<String> {
    hashes
        .lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(kind, _)| matches!(kind.trim(), "js" | "wasm" | "css"))
        .map(|(kind, hash)| format!("{output_name}.{}.{}", hash.trim(), kind.trim()))
        .filter(|file| !pkg.join(file).is_file())
        .collect()
}

fn report_missing(hash_file: &Path, site_root: &Path, missing: &[String]) {
    if !missing.is_empty() {
        tracing::error!(
            hash_file = %hash_file.display(),
            site_root = %site_root.display(),
            missing = %missing.join(", "),
            "the hash file names bundle files that are not in the site root: deploy the binary's hash files \
             with the site root of the same build"
        );
    }
}

/// The admin page's bundle: `<output name>-admin`, its hashes in `<hash file>-admin`
/// (`hash-admin.txt` beside `hash.txt`), which `.dev/build` makes beside the buyer pages'
/// bundle. A site built with one bundle for every page (`cargo leptos build`) has none:
/// the admin then loads `site`'s bundle, which holds it.
pub fn admin_bundle(site: &LeptosOptions) -> LeptosOptions {
    let mut admin = site.clone();
    admin.output_name = format!("{}-admin", site.output_name).into();
    let site_root = Path::new(&*site.site_root);
    let pkg = site_root.join(&*site.site_pkg_dir);
    let present = if site.hash_files {
        let hash_file = admin_hash_file(Path::new(&*site.hash_file));
        let present = match std::fs::read_to_string(&hash_file) {
            Ok(hashes) => {
                let missing = missing_files(&hashes, &pkg, &admin.output_name);
                report_missing(&hash_file, site_root, &missing);
                missing.is_empty()
            }
            Err(_) => false,
        };
        admin.hash_file = hash_file.to_string_lossy().as_ref().into();
        present
    } else {
        pkg.join(format!("{}.js", admin.output_name)).is_file()
    };
    if present {
        admin
    } else {
        tracing::info!(
            "the site root has no admin bundle of its own (a one-bundle build, as `cargo leptos build` makes): \
             the admin page loads the site's bundle"
        );
        site.clone()
    }
}

/// `hash.txt` → `hash-admin.txt`, in the same directory.
fn admin_hash_file(hash_file: &Path) -> PathBuf {
    let stem = hash_file.file_stem().unwrap_or_default().to_string_lossy();
    let name = match hash_file.extension() {
        Some(ext) => format!("{stem}-admin.{}", ext.to_string_lossy()),
        None => format!("{stem}-admin"),
    };
    hash_file.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_content_hashed_names_are_immutable() {
        for path in [
            "/pkg/paybridge.Zq1VxL4m0xH9lKa-8_3bQw.wasm",
            "/pkg/paybridge.Zq1VxL4m0xH9lKa-8_3bQw.js",
            "/pkg/paybridge.Zq1VxL4m0xH9lKa-8_3bQw.css",
            "/pkg/__wasm_split.Zq1VxL4m0xH9lKa-8_3bQw.js",
        ] {
            assert!(is_hashed(path), "{path}");
        }
        for path in [
            "/pkg/paybridge.js",
            "/pkg/paybridge.wasm",
            "/pkg/paybridge_bg.wasm",
            "/pkg/snippets/leptos-abc/inline0.js",
            "/pkg/Zq1VxL4m0xH9lKa-8_3bQw.js",
            "/pkg/paybridge.Zq1VxL4m0xH9lKa-8_3bQ.wasm",
            "/pkg/paybridge.Zq1VxL4m0xH9lKa+8_3bQw.wasm",
        ] {
            assert!(!is_hashed(path), "{path}");
        }
    }

    #[test]
    fn hashing_is_on_only_with_a_hash_file() {
        let dir = std::env::temp_dir().join(format!("paybridge-assets-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(dir.join("pkg")).unwrap();
        let hash_file = dir.join("hash.txt");
        assert!(!hashed_bundle(&hash_file, &dir, "pkg", "paybridge"));
        std::fs::write(&hash_file, "js: AAAAAAAAAAAAAAAAAAAAAA\nwasm: BBBBBBBBBBBBBBBBBBBBBB\n").unwrap();
        assert!(hashed_bundle(&hash_file, &dir, "pkg", "paybridge"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
