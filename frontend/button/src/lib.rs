//! The storefront payment button (SPEC §4.6). Cafe24 loads our script on product and
//! basket pages; the script runs this module, which renders a button in
//! `#appPaymentButtonBox` and, on click, reserves the order with Cafe24's front SDK
//! (`CAFE24API.precreateOrder`) and hands it to paybridge, which sends the buyer on to
//! the payment company. Kept small: no serde, no gloo-net, no `format!`.

#[cfg(target_arch = "wasm32")]
mod alloc;
mod flow;
mod js;
pub mod paths;

use wasm_bindgen::prelude::*;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOCATOR: alloc::Bump = alloc::Bump::new();

/// Called by the script wrapper with the script's own URL (paybridge's address).
#[wasm_bindgen]
pub fn start(script_src: String) {
    let Some(window) = web_sys::window() else { return };
    // Nothing runs inside an iframe.
    let top = window.top().ok().flatten();
    if top.map(|t| !js_sys::Object::is(&t, &window)).unwrap_or(true) {
        return;
    }
    let Some(base) = paths::server_base(&script_src) else { return };
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = flow::mount(window, base).await {
            web_sys::console::warn_2(&JsValue::from_str("paybridge:"), &e);
        }
    });
}
