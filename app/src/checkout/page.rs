//! `GET /api/external-checkout/order/review?mall_id&order_id[&key]`

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::{api::*, types::*};

#[component]
pub fn ReviewPage() -> impl IntoView {
    let query = use_query_map();
    let params = move || {
        let q = query.read();
        (q.get("mall_id").unwrap_or_default(), q.get("order_id").unwrap_or_default(), q.get("key"))
    };
    let review = Resource::new(params, |(mall_id, order_id, key)| load_review(mall_id, order_id, key));
    let hydrated = crate::pages::hydrated();

    view! {
        <section class="card review">
            <span class="badge" data-testid="hydration">
                {move || if hydrated.get() { "interactive" } else { "loading" }}
            </span>
            // The resource is awaited inside `Suspend` rather than read with `.get()`: the
            // pattern Leptos recommends, which does not leave a streamed response waiting.
            <Suspense fallback=|| view! { <p>"Loading your order…"</p> }>
                {move || {
                    let key = params().2;
                    Suspend::new(async move {
                        match review.await {
                            Ok(view) => view! { <Review review=view key=key/> }.into_any(),
                            Err(e) => view! { <p class="error" data-testid="review-error">{e.message}</p> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </section>
    }
}

#[component]
fn Review(review: ReviewView, key: Option<String>) -> impl IntoView {
    let pay = ServerAction::<PayOrder>::new();
    let cancel = ServerAction::<CancelOrder>::new();
    let action =
        StoredValue::new(OrderAction { mall_id: review.mall_id.clone(), order_id: review.order_id.clone(), key });
    // Follow the server's next step: the PG's payment page, or the mall's failure page.
    Effect::new(move |_| {
        let next = match (pay.value().get(), cancel.value().get()) {
            (Some(Ok(next)), _) | (_, Some(Ok(next))) => Some(next.redirect_url),
            (Some(Err(e)), _) | (_, Some(Err(e))) => e.redirect_url,
            _ => None,
        };
        if let Some(url) = next {
            let _ = window().location().set_href(&url);
        }
    });
    let busy = move || pay.pending().get() || cancel.pending().get();
    let can_pay = review.payable && review.totals.is_ok();

    view! {
        <h1>"Review your order"</h1>
        <p class="muted">{review.shop_name.clone()} " · order " <span data-testid="review-order">{review.order_id.clone()}</span></p>
        <table data-testid="review-items">
            <thead><tr><th>"Product"</th><th>"Qty"</th><th>"Price"</th><th>"Total"</th></tr></thead>
            <tbody>
                {review.items.into_iter().map(|item| view! {
                    <tr>
                        <td>{item.name} {item.option.map(|o| view! { <span class="muted">" (" {o} ")"</span> })}</td>
                        <td>{item.quantity}</td>
                        <td>{item.unit_price}</td>
                        <td>{item.line_total}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table>
        <div class="block" data-testid="review-address">
            <h2>"Shipping to"</h2>
            {match review.address {
                Some(a) => view! {
                    <p>
                        <strong>{a.name}</strong><br/>
                        {a.lines.into_iter().map(|l| view! { {l}<br/> }).collect_view()}
                        {a.city} ", " {a.country_code}
                    </p>
                }.into_any(),
                None => view! { <p class="muted">"The payment company has no address for this order."</p> }.into_any(),
            }}
        </div>
        <div class="block" data-testid="review-totals">
            {match review.totals.clone() {
                Ok(t) => view! {
                    <table>
                        <tbody>
                            <tr><td>"Items"</td><td>{t.items} " " {review.currency.clone()}</td></tr>
                            <tr><td>"Discount"</td><td>{t.discount}</td></tr>
                            <tr><td>"Shipping"</td><td data-testid="review-shipping">{t.shipping}</td></tr>
                            <tr><th>"Total"</th><th data-testid="review-total">{t.total} " " {review.currency.clone()}</th></tr>
                        </tbody>
                    </table>
                }.into_any(),
                Err(why) => view! { <p class="error">{why}</p> }.into_any(),
            }}
        </div>
        <p class="muted">"Status: " {review.status}</p>
        <div class="row">
            <button class="primary" data-testid="review-pay" disabled=move || busy() || !can_pay
                on:click=move |_| { pay.dispatch(PayOrder { action: action.get_value() }); }>
                {move || if pay.pending().get() { "Opening the payment…" } else { "Pay" }}
            </button>
            <button data-testid="review-cancel" disabled=busy
                on:click=move |_| { cancel.dispatch(CancelOrder { action: action.get_value() }); }>
                "Cancel"
            </button>
        </div>
        <p class="error" data-testid="review-action-error">
            {move || match (pay.value().get(), cancel.value().get()) {
                (Some(Err(e)), _) | (_, Some(Err(e))) => Some(e.message),
                _ => None,
            }}
        </p>
    }
}
