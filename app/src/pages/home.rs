use leptos::prelude::*;

#[component]
pub fn Home() -> impl IntoView {
    view! {
        <section class="card">
            <h1>"paybridge"</h1>
            <p>"A payment-gateway app between Cafe24 and a payment company."</p>
            <ul class="links">
                <li><a href="/demo-mall/">"Demo mall"</a>" — buy something with the sandbox payment company"</li>
                <li><a href="/demo-mall/store/">"Demo store"</a>" — a store on the Store API v2: intent, hosted payment page, signed webhooks"</li>
                <li><a href="/demo-mall/admin-launch">"Merchant admin"</a>" — opened as the Cafe24 admin opens it (sandbox)"</li>
                <li><a href="/healthz">"Health check"</a></li>
            </ul>
        </section>
    }
}
