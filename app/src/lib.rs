//! paybridge's Leptos UI. Pages render on the server (`ssr`) and hydrate in the browser
//! (`hydrate`). The payment core never depends on this crate.
#![recursion_limit = "256"]

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, HashedStylesheet, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

pub mod admin;
pub mod checkout;
mod pages;
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

/// The HTML document around every Leptos page.
pub fn shell(options: LeptosOptions) -> impl IntoView {
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
                <HashedStylesheet options=options.clone() id="leptos"/>
                <HydrationScripts options/>
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
                    <Route path=path!("/") view=pages::Home/>
                    // Async: the page's CSRF meta tag must be in <head> before it is sent.
                    <Route path=path!("/admin/display") view=admin::AdminPage ssr=SsrMode::Async/>
                    <Route path=path!("/api/external-checkout/order/review") view=checkout::ReviewPage ssr=SsrMode::Async/>
                    // Served by `pay::routes`, which loads the payment before rendering.
                    <Route path=path!("/pay/:id") view=pay::PayPage/>
                </Routes>
            </main>
        </Router>
    }
}
