use leptos::prelude::*;

#[component]
pub fn Home() -> impl IntoView {
    view! {
        <section class="card">
            <h1>"paybridge"</h1>
            <p>"A payment-gateway app between Cafe24 and a payment company."</p>
            <ul class="links">
                <li><a href="/demo-mall/">"Demo mall"</a>" — buy something with the sandbox payment company"</li>
                <li><a href="/admin/display?mall_id=demomall">"Merchant admin"</a>" — the settings page merchants open from the Cafe24 admin"</li>
                <li><a href="/healthz">"Health check"</a></li>
            </ul>
        </section>
    }
}
