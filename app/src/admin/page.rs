//! `/admin/display?mall_id=…`: the merchant's settings page inside the Cafe24 admin.

use leptos::prelude::*;
use leptos_meta::Meta;
use leptos_router::hooks::use_query_map;

use super::{
    api::*,
    store_api::{ApiKeys, StoreApiActions, WebhookEndpoints},
    types::*,
    Lang,
};

#[component]
pub fn AdminPage() -> impl IntoView {
    let query = use_query_map();
    let mall_id = move || query.read().get("mall_id").unwrap_or_default();
    let overview = Resource::new(mall_id, load_admin);
    let hydrated = crate::pages::hydrated();
    let store_api = StoreApiActions::new(move || overview.refetch());

    view! {
        <section class="card admin">
            <span class="badge" data-testid="hydration">
                {move || if hydrated.get() { "interactive" } else { "loading" }}
            </span>
            <Transition fallback=|| view! { <p>{Lang::En.t("loading")}</p> }>
                {move || {
                    Suspend::new(async move {
                        match overview.await {
                            Ok(o) => view! { <Overview overview=o refresh=move || overview.refetch() store_api=store_api/> }.into_any(),
                            Err(e) => view! { <SignIn error=e/> }.into_any(),
                        }
                    })
                }}
            </Transition>
        </section>
    }
}

#[component]
fn SignIn(error: AdminError) -> impl IntoView {
    let text = if error.kind == AdminErrorKind::SignIn { Lang::En.t("sign_in").to_owned() } else { error.message };
    view! {
        <h1>"paybridge"</h1>
        <p class="error" data-testid="admin-error">{text}</p>
    }
}

/// A payment company's name as the merchant knows it.
fn gateway_name(id: &str) -> String {
    match id {
        "sandbox" => "Sandbox PG".to_owned(),
        "stripe" => "Stripe".to_owned(),
        other => other.to_owned(),
    }
}

fn field_error(value: Option<Result<AdminOverview, AdminError>>, field: &str) -> Option<String> {
    match value {
        Some(Err(e)) if e.field.as_deref() == Some(field) || (e.field.is_none() && field == "*") => Some(e.message),
        _ => None,
    }
}

#[component]
fn Overview(
    overview: AdminOverview,
    refresh: impl Fn() + Copy + Send + Sync + 'static,
    store_api: StoreApiActions,
) -> impl IntoView {
    let lang = Lang::parse(&overview.lang);
    let mall_id = overview.mall_id.clone();
    let link = ServerAction::<LinkCredentials>::new();
    let unlink = ServerAction::<UnlinkCredentials>::new();
    let toggle = ServerAction::<ToggleShop>::new();
    let resend = ServerAction::<ResendDelivery>::new();
    // Every successful action changes what the page shows: read it again.
    Effect::new(move |_| {
        let done = [
            link.value().get().map(|r| r.is_ok()),
            unlink.value().get().map(|r| r.is_ok()),
            toggle.value().get().map(|r| r.is_ok()),
            resend.value().get().map(|r| r.is_ok()),
        ];
        if done.contains(&Some(true)) {
            refresh();
        }
    });

    let gateway = RwSignal::new("sandbox".to_owned());
    let public_key = RwSignal::new(String::new());
    let secret_key = RwSignal::new(String::new());
    let webhook_secret = RwSignal::new(String::new());
    let confirm_unlink = RwSignal::new(false);
    let linked = overview.credentials.clone();
    let mall = StoredValue::new(mall_id.clone());
    let is_linked = overview.credentials.is_some();

    view! {
        <Meta name="csrf-token" content=overview.csrf_token.clone()/>
        <header class="admin-header">
            <h1>{lang.t("title")}</h1>
            <span>{lang.t("mall")} ": " <strong data-testid="mall-id">{mall_id.clone()}</strong></span>
        </header>

        <section class="block" data-testid="credentials">
            <h2>{lang.t("credentials")}</h2>
            {match linked {
                Some(c) => view! {
                    <p data-testid="link-status">
                        <span class="ok">{lang.t("linked")}</span> " — " <span data-testid="linked-gateway">{gateway_name(&c.gateway)}</span>
                        " — " {lang.t("public_key")} ": " <code>{c.public_key}</code>
                    </p>
                }.into_any(),
                None => view! { <p data-testid="link-status" class="muted">{lang.t("not_linked")}</p> }.into_any(),
            }}
            <form class="row" on:submit=move |ev| {
                ev.prevent_default();
                link.dispatch(LinkCredentials {
                    request: LinkRequest {
                        mall_id: mall.get_value(),
                        gateway: Some(gateway.get_untracked()),
                        public_key: public_key.get_untracked(),
                        secret_key: secret_key.get_untracked(),
                        webhook_secret: Some(webhook_secret.get_untracked()).filter(|_| gateway.get_untracked() == "stripe"),
                    },
                });
            }>
                <label>{lang.t("gateway")}
                    <select name="gateway" data-testid="gateway" on:change=move |ev| gateway.set(event_target_value(&ev))>
                        <option value="sandbox" selected=move || gateway.get() == "sandbox">{gateway_name("sandbox")}</option>
                        <option value="stripe" selected=move || gateway.get() == "stripe">{gateway_name("stripe")}</option>
                    </select>
                </label>
                <span class="error">{move || field_error(link.value().get(), "gateway")}</span>
                <label>{lang.t("public_key")}
                    <input name="public_key" data-testid="public-key" bind:value=public_key autocomplete="off"/>
                </label>
                <span class="error">{move || field_error(link.value().get(), "public_key")}</span>
                <label>{lang.t("secret_key")}
                    <input name="secret_key" type="password" data-testid="secret-key" bind:value=secret_key autocomplete="off"/>
                </label>
                <Show when=move || gateway.get() == "stripe">
                    <label>{lang.t("webhook_secret")}
                        <input name="webhook_secret" type="password" data-testid="webhook-secret" bind:value=webhook_secret autocomplete="off"/>
                    </label>
                    <span class="error">{move || field_error(link.value().get(), "webhook_secret")}</span>
                </Show>
                <span class="error" data-testid="link-error">
                    {move || field_error(link.value().get(), "secret_key").or_else(|| field_error(link.value().get(), "*"))}
                </span>
                <button type="submit" data-testid="link" disabled=move || link.pending().get()>
                    {move || if link.pending().get() { lang.t("linking") } else { lang.t("link") }}
                </button>
            </form>
            <Show when=move || is_linked>
                <Show
                    when=move || confirm_unlink.get()
                    fallback=move || view! {
                        <button class="danger" on:click=move |_| confirm_unlink.set(true)>{lang.t("unlink")}</button>
                    }
                >
                    <button class="danger" data-testid="unlink" disabled=move || unlink.pending().get() on:click=move |_| {
                        unlink.dispatch(UnlinkCredentials { request: UnlinkRequest { mall_id: mall.get_value() } });
                    }>
                        {move || if unlink.pending().get() { lang.t("unlinking") } else { lang.t("unlink") }} " ✓"
                    </button>
                </Show>
            </Show>
            <span class="error">{move || field_error(unlink.value().get(), "*")}</span>
        </section>

        <section class="block">
            <h2>{lang.t("shops")}</h2>
            // Explicit <thead>/<tbody>: the browser adds a <tbody> to bare rows, and
            // hydration must find exactly what the server sent.
            <table data-testid="shops">
                <thead><tr><th>{lang.t("shop")}</th><th>{lang.t("currency")}</th><th>{lang.t("status")}</th><th></th></tr></thead>
                <tbody>
                {overview.shops.into_iter().map(|shop| {
                    let shop_no = shop.shop_no;
                    let field = format!("shop:{shop_no}");
                    let busy = move || toggle.pending().get()
                        && toggle.input().get().is_some_and(|t| t.request.shop_no == Some(shop_no));
                    let action = if shop.enabled { ToggleAction::Disable } else { ToggleAction::Enable };
                    view! {
                        <tr data-testid=format!("shop-{shop_no}")>
                            <td>{shop_no} ". " {shop.name}</td>
                            <td>{shop.currency}</td>
                            <td data-testid=format!("shop-{shop_no}-status") class=if shop.enabled { "ok" } else { "muted" }>
                                {if shop.enabled { lang.t("enabled") } else { lang.t("disabled") }}
                            </td>
                            <td>
                                <button data-testid=format!("toggle-{shop_no}") disabled=busy on:click=move |_| {
                                    toggle.dispatch(ToggleShop {
                                        request: ToggleRequest { mall_id: mall.get_value(), action, shop_no: Some(shop_no), shop_index: None },
                                    });
                                }>
                                    {move || if busy() { lang.t("registering") } else if action == ToggleAction::Enable { lang.t("enable") } else { lang.t("disable") }}
                                </button>
                                <span class="error" data-testid=format!("shop-{shop_no}-error")>
                                    {let field = field.clone(); move || field_error(toggle.value().get(), &field)}
                                </span>
                            </td>
                        </tr>
                    }
                }).collect_view()}
                </tbody>
            </table>
            <span class="error">{move || field_error(toggle.value().get(), "*")}</span>
        </section>

        <ApiKeys keys=overview.api_keys lang=lang mall=mall actions=store_api/>
        <WebhookEndpoints endpoints=overview.webhook_endpoints lang=lang mall=mall actions=store_api/>

        <section class="block">
            <h2>{lang.t("payments")}</h2>
            {if overview.payments.is_empty() {
                view! { <p class="muted">{lang.t("no_payments")}</p> }.into_any()
            } else {
                view! {
                    <table data-testid="payments">
                        <thead><tr><th>{lang.t("order")}</th><th>{lang.t("amount")}</th><th>{lang.t("status")}</th><th>{lang.t("history")}</th></tr></thead>
                        <tbody>
                        {overview.payments.into_iter().map(|p| view! {
                            <tr>
                                <td>{p.order_id} <span class="muted">" (" {p.flow} ")"</span></td>
                                <td>{p.amount} " " {p.currency}</td>
                                <td>{p.status} " (" {p.status_code} ")"
                                    {p.alerts.into_iter().map(|a| view! {
                                        <p class="error" role="alert" data-testid="payment-alert">"⚠ " {a}</p>
                                    }).collect_view()}
                                </td>
                                <td><details><summary>{p.events.len()}</summary><ol>
                                    {p.events.into_iter().map(|e| view! {
                                        <li><code>{e.kind}</code> {e.to_status.map(|s| format!(" → {s}"))} " " <span class="muted">{e.detail}</span></li>
                                    }).collect_view()}
                                </ol></details></td>
                            </tr>
                        }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>

        <section class="block">
            <h2>{lang.t("deliveries")}</h2>
            {if overview.deliveries.is_empty() {
                view! { <p class="muted">{lang.t("no_deliveries")}</p> }.into_any()
            } else {
                view! {
                    <table data-testid="deliveries">
                        <thead><tr><th>{lang.t("order")}</th><th></th><th>{lang.t("status")}</th><th>{lang.t("attempts")}</th><th></th></tr></thead>
                        <tbody>
                        {overview.deliveries.into_iter().map(|d| {
                            let failed = d.status == "failed";
                            let id = d.id.clone();
                            let field = format!("delivery:{}", d.id);
                            let id = StoredValue::new(id);
                            view! {
                                <tr data-testid=format!("delivery-{}", d.id)>
                                    <td>{d.order_id.unwrap_or_default()}</td>
                                    <td><code>{d.kind}</code> " → " {d.target_host}</td>
                                    <td class=if failed { "error" } else { "" }>{d.status} {d.last_error.map(|e| format!(" ({e})"))}</td>
                                    <td>{d.attempts}</td>
                                    <td>
                                        <Show when=move || failed>
                                            <button data-testid="resend" disabled=move || resend.pending().get() on:click=move |_| {
                                                resend.dispatch(ResendDelivery { request: ResendRequest { mall_id: mall.get_value(), delivery_id: id.get_value() } });
                                            }>
                                                {move || if resend.pending().get() { lang.t("resending") } else { lang.t("resend") }}
                                            </button>
                                        </Show>
                                        <span class="error">{let field = field.clone(); move || field_error(resend.value().get(), &field)}</span>
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}
