//! `GET /pay/{id}`

use leptos::prelude::*;
use leptos_meta::Title;

use super::types::*;

/// The page's data, loaded before rendering (see `serve.rs`) and provided by context.
#[derive(Clone)]
pub struct Preloaded(pub PayLoad);

/// On the server: what was loaded. In the browser while hydrating, the `SharedValue`
/// reads the server's value from the page instead of calling this.
fn preloaded() -> PayLoad {
    use_context::<Preloaded>().map(|p| p.0).unwrap_or(PayLoad::Unavailable)
}

#[component]
pub fn PayPage() -> impl IntoView {
    let loaded = SharedValue::new(preloaded).into_inner();
    let hydrated = crate::pages::hydrated();
    let (title, body) = match loaded {
        PayLoad::Found(view) => (format!("Pay {}", view.merchant), view! { <Pay view=*view/> }.into_any()),
        missing => {
            let (heading, message) = match missing {
                PayLoad::NotFound => {
                    ("No such payment", "There is no payment at this address. Go back to the shop and start again.")
                }
                _ => ("Payment", "Something went wrong on our side. Reload the page in a moment."),
            };
            let body = view! {
                <h1>{heading}</h1>
                <p class="error" data-testid="pay-error">{message}</p>
            };
            (heading.to_owned(), body.into_any())
        }
    };
    view! {
        <Title text=title/>
        <section class="card pay">
            <span class="badge" data-testid="hydration">
                {move || if hydrated.get() { "interactive" } else { "loading" }}
            </span>
            {body}
        </section>
    }
}

#[component]
fn Pay(view: PayView) -> impl IntoView {
    let status = RwSignal::new(view.status.clone());
    // Decided while the page was open: the buyer is on the way back to the shop.
    let leaving = RwSignal::new(false);
    #[cfg(feature = "hydrate")]
    if view.status.outcome.is_open() {
        live::follow(view.payment_id.clone(), status, leaving);
    }
    let checkout_url = view.checkout_url.clone();
    // Both links leave the app (`rel="external"`: not the router's to follow), even when
    // the PG or the store is served from our own host, as in the sandbox.
    let next_step = move || {
        let now = status.get();
        match (now.outcome, checkout_url.clone(), now.redirect_url) {
            (PayOutcome::Open, Some(checkout), _) => view! {
                <p>
                    <a class="button primary" data-testid="pay-continue" href=checkout rel="external">"Continue to payment"</a>
                </p>
            }
            .into_any(),
            (outcome, _, redirect) => {
                let class = if outcome == PayOutcome::Paid { "ok" } else { "error" };
                view! {
                    <p class=class data-testid="pay-outcome">{outcome.message()}</p>
                    {redirect.map(|to| view! {
                        <p>
                            {move || leaving.get().then_some("Taking you back to the shop… ")}
                            <a data-testid="pay-return" href=to rel="external">"Back to the shop"</a>
                        </p>
                    })}
                }
                .into_any()
            }
        }
    };

    view! {
        <p class="muted" data-testid="pay-merchant">{view.merchant.clone()}</p>
        <h1 data-testid="pay-order-name">{view.order_name.clone()}</h1>
        <div class="block">
            <p class="amount" data-testid="pay-amount">{format!("{} {}", view.amount, view.currency)}</p>
            <p class="muted">"Order " <span data-testid="pay-order">{view.order_id.clone()}</span></p>
            <p>"Status: " <strong data-testid="pay-status">{move || status.get().status}</strong></p>
        </div>
        {next_step}
    }
}

/// Live status: the page asks `/pay/{id}/status` every few seconds while the payment is
/// open; when it is decided elsewhere the page shows it, then sends the buyer on.
#[cfg(feature = "hydrate")]
mod live {
    use std::time::Duration;

    use leptos::prelude::*;

    use super::super::types::{PayOutcome, PayStatus};

    const POLL_EVERY: Duration = Duration::from_secs(2);
    /// Long enough to read what happened, short enough not to wait for nothing.
    const LEAVE_AFTER: Duration = Duration::from_millis(2500);

    pub fn follow(payment_id: String, status: RwSignal<PayStatus>, leaving: RwSignal<bool>) {
        let url = format!("/pay/{payment_id}/status");
        let asking = StoredValue::new(false);
        let timer = StoredValue::new(None::<IntervalHandle>);
        let stop = move || {
            if let Some(handle) = timer.get_value() {
                handle.clear();
            }
        };
        let tick = move || {
            if asking.get_value() {
                return;
            }
            asking.set_value(true);
            let url = url.clone();
            leptos::task::spawn_local(async move {
                // A failed poll (the network, a restart) is simply asked again next time.
                if let Ok(now) = ask(&url).await {
                    if now.outcome != PayOutcome::Open {
                        stop();
                        if let Some(to) = now.redirect_url.clone() {
                            leaving.set(true);
                            set_timeout(
                                move || {
                                    let _ = window().location().set_href(&to);
                                },
                                LEAVE_AFTER,
                            );
                        }
                    }
                    if now != status.get_untracked() {
                        status.set(now);
                    }
                }
                asking.set_value(false);
            });
        };
        if let Ok(handle) = set_interval_with_handle(tick, POLL_EVERY) {
            timer.set_value(Some(handle));
        }
        on_cleanup(stop);
    }

    async fn ask(url: &str) -> Result<PayStatus, gloo_net::Error> {
        let response = gloo_net::http::Request::get(url).send().await?;
        if !response.ok() {
            return Err(gloo_net::Error::GlooError(format!("the status answered {}", response.status())));
        }
        response.json().await
    }
}
