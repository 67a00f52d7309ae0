//! Entry point of the hydrate bundle that cargo-leptos builds into `pkg/paybridge.wasm`.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
