//! Entry point of the hydrate bundle that `.dev/build` (or cargo-leptos) builds into `pkg/paybridge.wasm`.
// The admin page's view types are deep; a cold build needs more than the default 128.
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
