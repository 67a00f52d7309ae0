use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

/// The merchant admin's frame. Linking credentials and enabling shops arrive with the
/// merchant-admin work; until then this page says so plainly.
#[component]
pub fn AdminShell() -> impl IntoView {
    let query = use_query_map();
    let mall_id = move || query.read().get("mall_id").unwrap_or_default();
    let hydrated = super::hydrated();
    let (details_open, set_details_open) = signal(false);

    view! {
        <section class="card admin">
            <header class="admin-header">
                <h1>"paybridge admin"</h1>
                <span class="badge" data-testid="hydration">
                    {move || if hydrated.get() { "interactive" } else { "loading" }}
                </span>
            </header>
            <p>"Mall: " <strong data-testid="mall-id">{mall_id}</strong></p>
            <p class="notice">
                "Linking payment-company credentials and enabling shops are not available here yet. "
                "In the sandbox the demo mall is provisioned at start: shop 1 (PHP) is enabled."
            </p>
            <button
                data-testid="toggle-endpoints"
                on:click=move |_| set_details_open.update(|open| *open = !*open)
            >
                {move || if details_open.get() { "Hide the Cafe24 endpoints" } else { "Show the Cafe24 endpoints" }}
            </button>
            <Show when=move || details_open.get()>
                <ul class="endpoints" data-testid="endpoints">
                    <li><code>"POST /api/synchronous-checkout/checkout"</code></li>
                    <li><code>"GET /api/synchronous-checkout/checkout/callback"</code></li>
                    <li><code>"POST /api/synchronous-checkout/checkout/status"</code></li>
                    <li><code>"POST /api/synchronous-cancellation/cancel"</code></li>
                </ul>
            </Show>
        </section>
    }
}
