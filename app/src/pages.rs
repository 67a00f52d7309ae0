#[cfg(feature = "pages")]
mod home;

#[cfg(feature = "pages")]
pub use home::Home;

use leptos::prelude::*;

#[component]
pub fn NotFound() -> impl IntoView {
    view! {
        <section class="card">
            <h1>"Not found"</h1>
            <p>"There is no page at this address. " <a href="/">"Back to the start"</a></p>
        </section>
    }
}

/// `true` once the page runs in the browser: effects never run during server rendering,
/// so this tells a hydrated page from a server-rendered one.
#[cfg(any(feature = "admin", feature = "pages"))]
pub(crate) fn hydrated() -> ReadSignal<bool> {
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    hydrated
}
