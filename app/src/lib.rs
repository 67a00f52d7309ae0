//! paybridge's Leptos UI. Pages render on the server (`ssr`) and hydrate in the browser
//! (`hydrate`). The payment core never depends on this crate.
#![recursion_limit = "256"]

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

// A bundle compiles only the pages it holds (see `bundle` below).
#[cfg(feature = "admin")]
pub mod admin;
#[cfg(feature = "pages")]
pub mod checkout;
mod pages;
#[cfg(feature = "pages")]
pub mod pay;

/// Runs a port's call so that a panic in it becomes `internal()`, logged here. A page's
/// resource runs its server function on a task of its own, where a panic would leave
/// the page waiting for it forever; the page shows the error instead.
#[cfg(feature = "ssr")]
pub(crate) async fn unwind_safe<T, E>(
    call: impl std::future::Future<Output = Result<T, E>>,
    internal: impl FnOnce() -> E,
) -> Result<T, E> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(call).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            tracing::error!(panic = %what, "a server function panicked; answered 500");
            Err(internal())
        }
    }
}

/// The HTML document around every Leptos page but the admin's: the site's stylesheet and
/// the buyer pages' bundle.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    document(options.clone(), options)
}

/// The document around the app's routes: the site's stylesheet (`options`) and the bundle
/// of the page asked for — on the admin page the admin's own (`admin_bundle`: its output
/// name and hash file; `options` again when the site was built with one bundle for every
/// page, as `cargo leptos build` does), elsewhere the buyer pages'.
pub fn page_shell(options: LeptosOptions, admin_bundle: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    let is_admin = use_context::<http::request::Parts>().is_some_and(|parts| parts.uri.path() == admin::PAGE_PATH);
    #[cfg(not(feature = "ssr"))]
    let is_admin = false;
    let bundle = if is_admin { admin_bundle } else { options.clone() };
    document(options, bundle)
}

fn document(options: LeptosOptions, bundle: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                // public/favicon.svg, served from the site root (without it, each page's
                // implicit /favicon.ico was a 404 in the console).
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                // The bundle's stylesheet by its hashed name (cargo-leptos `hash-files`).
                <HashedStylesheet options id="leptos"/>
                <HydrationScripts options=bundle/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Title text="paybridge"/>
        <Router>
            <main>
                <Routes fallback=pages::NotFound>
                    <Route path=path!("/") view=bundle::Home/>
                    // Async: the page's CSRF meta tag must be in <head> before it is sent.
                    <Route path=path!("/admin/display") view=bundle::AdminPage ssr=SsrMode::Async/>
                    <Route path=path!("/api/external-checkout/order/review") view=bundle::ReviewPage ssr=SsrMode::Async/>
                    // Served by `pay::routes`, which loads the payment before rendering.
                    <Route path=path!("/pay/:id") view=bundle::PayPage/>
                </Routes>
            </main>
        </Router>
    }
}

/// The pages a build holds. The server (`ssr`) renders them all. In the browser there are
/// two bundles (README "The browser bundles"): the admin's (feature `admin`) and the buyer
/// pages' (`pages`: the home page, the review page, `/pay/{id}`), so that a buyer's page
/// does not download the admin's code; `cargo leptos build` makes one bundle with both.
/// A page of the other bundle, reached by a link inside the app, is loaded anew from the
/// server, which sends it with its own bundle.
mod bundle {
    #[cfg(feature = "admin")]
    pub use crate::admin::AdminPage;
    #[cfg(not(feature = "admin"))]
    pub use FromServer as AdminPage;

    #[cfg(feature = "pages")]
    pub use crate::{checkout::ReviewPage, pages::Home, pay::PayPage};
    #[cfg(not(feature = "pages"))]
    pub use {FromServer as ReviewPage, FromServer as Home, FromServer as PayPage};

    #[cfg(not(all(feature = "admin", feature = "pages")))]
    use leptos::prelude::*;

    /// A page this bundle does not hold: the browser asks the server for it.
    #[cfg(not(all(feature = "admin", feature = "pages")))]
    #[leptos::component]
    pub fn FromServer() -> impl IntoView {
        #[cfg(feature = "hydrate")]
        {
            let _ = window().location().reload();
        }
    }
}
