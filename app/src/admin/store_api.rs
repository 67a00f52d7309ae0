//! The admin page's Store API sections (SPEC §8.1, §8.4): the mall's API keys and its
//! webhook endpoints. A key or a signing secret is on screen only from the answer that
//! made it; the lists never have one, so a reload shows only a key's prefix and last 4.

use leptos::{prelude::*, server_fn::ServerFn};

use super::{api::*, time::utc_minute, types::*, Lang};

/// The Store API's actions and the URL being typed live as long as the page, not as one
/// rendering of the overview: the overview is read again after every change, and the
/// one-time key or secret of an answer must stay on screen meanwhile.
#[derive(Clone, Copy)]
pub struct StoreApiActions {
    create_key: ServerAction<CreateApiKey>,
    revoke_key: ServerAction<RevokeApiKey>,
    add_endpoint: ServerAction<CreateWebhookEndpoint>,
    delete_endpoint: ServerAction<DeleteWebhookEndpoint>,
    rotate_secret: ServerAction<RotateWebhookSecret>,
    endpoint_url: RwSignal<String>,
}

impl StoreApiActions {
    /// The actions; `refresh` reads the overview again after each one that succeeded.
    pub fn new(refresh: impl Fn() + Copy + Send + Sync + 'static) -> Self {
        let actions = StoreApiActions {
            create_key: ServerAction::new(),
            revoke_key: ServerAction::new(),
            add_endpoint: ServerAction::new(),
            delete_endpoint: ServerAction::new(),
            rotate_secret: ServerAction::new(),
            endpoint_url: RwSignal::new(String::new()),
        };
        // One effect per action: another action's answer must not read the overview again
        // (that would redraw the page under what the merchant is typing).
        refresh_after(actions.create_key.value(), refresh);
        refresh_after(actions.revoke_key.value(), refresh);
        refresh_after(actions.add_endpoint.value(), move || {
            actions.endpoint_url.set(String::new());
            refresh();
        });
        refresh_after(actions.delete_endpoint.value(), refresh);
        refresh_after(actions.rotate_secret.value(), refresh);
        actions
    }
}

fn refresh_after<T: Send + Sync + 'static>(
    answer: MappedSignal<Option<Result<T, AdminError>>>,
    refresh: impl Fn() + Send + Sync + 'static,
) {
    Effect::new(move |_| {
        if answer.with(|a| matches!(a, Some(Ok(_)))) {
            refresh();
        }
    });
}

/// The message of a refused answer whose error names `field` (`None`: names no field).
fn refusal<T>(answer: &Option<Result<T, AdminError>>, field: Option<&str>) -> Option<String> {
    match answer {
        Some(Err(e)) if e.field.as_deref() == field => Some(e.message.clone()),
        _ => None,
    }
}

/// Any refusal of the answer: for a control that is the only cause of its action's errors.
fn any_refusal<T>(answer: &Option<Result<T, AdminError>>) -> Option<String> {
    match answer {
        Some(Err(e)) => Some(e.message.clone()),
        _ => None,
    }
}

/// A key or secret shown once, with what to do about it.
#[component]
fn OneTimeSecret(
    note: &'static str,
    secret: String,
    testid: &'static str,
    hide_label: &'static str,
    hide: impl Fn() + Send + Sync + 'static,
) -> impl IntoView {
    view! {
        <div class="once" data-testid=format!("{testid}-notice")>
            <p><strong>{note}</strong></p>
            <code class="secret" data-testid=testid>{secret}</code>
            " "
            <button type="button" on:click=move |_| hide()>{hide_label}</button>
        </div>
    }
}

/// The key or secret in an action's answer, on screen until the merchant dismisses it.
fn shown_once<S>(
    action: ServerAction<S>,
    note: &'static str,
    testid: &'static str,
    lang: Lang,
    secret: fn(S::Output) -> String,
) -> impl Fn() -> Option<AnyView> + Copy + Send + Sync + 'static
where
    S: ServerFn<Error = AdminError> + Clone + Send + Sync + 'static,
    S::Output: Clone + Send + Sync + 'static,
{
    move || match action.value().get() {
        Some(Ok(answer)) => Some(
            view! {
                <OneTimeSecret
                    note=lang.t(note)
                    secret=secret(answer)
                    testid
                    hide_label=lang.t("copied")
                    hide=move || action.value().set(None)
                />
            }
            .into_any(),
        ),
        _ => None,
    }
}

#[component]
pub fn ApiKeys(
    keys: Vec<ApiKeyView>,
    lang: Lang,
    mall: StoredValue<String>,
    actions: StoreApiActions,
) -> impl IntoView {
    let (create, revoke) = (actions.create_key, actions.revoke_key);
    let new_key = shown_once(create, "new_key_once", "new-key", lang, |created| created.new_key.key);
    view! {
        <section class="block" data-testid="api-keys">
            <h2>{lang.t("api_keys")}</h2>
            <p class="muted">{lang.t("api_keys_help")}</p>
            <div class="row">
                <button data-testid="create-key" disabled=move || create.pending().get() on:click=move |_| {
                    create.dispatch(CreateApiKey { request: CreateApiKeyRequest { mall_id: mall.get_value() } });
                }>
                    {move || if create.pending().get() { lang.t("creating_key") } else { lang.t("create_key") }}
                </button>
                " "
                <span class="error" data-testid="create-key-error">{move || create.value().with(any_refusal)}</span>
            </div>
            {new_key}
            {if keys.is_empty() {
                view! { <p class="muted" data-testid="no-api-keys">{lang.t("no_api_keys")}</p> }.into_any()
            } else {
                view! {
                    <table data-testid="api-key-list">
                        <thead><tr>
                            <th>{lang.t("key")}</th><th>{lang.t("mode")}</th><th>{lang.t("created")}</th>
                            <th>{lang.t("last_used")}</th><th>{lang.t("status")}</th><th></th>
                        </tr></thead>
                        <tbody>
                            {keys.into_iter().map(|api_key| view! { <ApiKeyRow api_key=api_key lang=lang mall=mall revoke=revoke/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <span class="error">{move || revoke.value().with(|a| refusal(a, None))}</span>
        </section>
    }
}

#[component]
fn ApiKeyRow(
    api_key: ApiKeyView,
    lang: Lang,
    mall: StoredValue<String>,
    revoke: ServerAction<RevokeApiKey>,
) -> impl IntoView {
    let key = api_key;
    let id = StoredValue::new(key.id.clone());
    let field = format!("key:{}", key.id);
    let confirm = RwSignal::new(false);
    let busy = move || {
        revoke.pending().get()
            && revoke.input().with(|r| r.as_ref().is_some_and(|r| r.request.key_id == id.get_value()))
    };
    let mode = if key.mode == "live" { lang.t("mode_live") } else { lang.t("mode_test") };
    let active = key.revoked_at.is_none();
    let status = match key.revoked_at {
        None => lang.t("active").to_owned(),
        Some(at) => format!("{} ({})", lang.t("revoked"), utc_minute(at)),
    };
    view! {
        <tr data-testid=format!("api-key-{}", key.id)>
            <td><code class="nowrap" data-testid="api-key-label">{format!("{}…{}", key.prefix, key.last4)}</code></td>
            <td>{mode}</td>
            <td>{utc_minute(key.created_at)}</td>
            <td>{key.last_used_at.map(utc_minute).unwrap_or_else(|| lang.t("never").to_owned())}</td>
            <td data-testid="api-key-status" class=if active { "ok" } else { "muted" }>{status}</td>
            <td>
                <Show when=move || active>
                    <Show
                        when=move || confirm.get()
                        fallback=move || view! {
                            <button class="danger" data-testid="revoke-key" on:click=move |_| confirm.set(true)>{lang.t("revoke")}</button>
                        }
                    >
                        <button class="danger" data-testid="confirm-revoke-key" disabled=busy on:click=move |_| {
                            revoke.dispatch(RevokeApiKey {
                                request: RevokeApiKeyRequest { mall_id: mall.get_value(), key_id: id.get_value() },
                            });
                        }>
                            {move || if busy() { lang.t("revoking") } else { lang.t("revoke") }} " ✓"
                        </button>
                    </Show>
                </Show>
                <span class="error" data-testid="api-key-error">{move || revoke.value().with(|a| refusal(a, Some(&field)))}</span>
            </td>
        </tr>
    }
}

#[component]
pub fn WebhookEndpoints(
    endpoints: Vec<WebhookEndpointView>,
    lang: Lang,
    mall: StoredValue<String>,
    actions: StoreApiActions,
) -> impl IntoView {
    let (add, delete, rotate, url) =
        (actions.add_endpoint, actions.delete_endpoint, actions.rotate_secret, actions.endpoint_url);
    let new_secret = shown_once(add, "new_secret_once", "new-endpoint-secret", lang, |issued| issued.new_secret.secret);
    view! {
        <section class="block" data-testid="webhook-endpoints">
            <h2>{lang.t("webhook_endpoints")}</h2>
            <p class="muted">{lang.t("webhook_endpoints_help")}</p>
            <form class="row" on:submit=move |ev| {
                ev.prevent_default();
                add.dispatch(CreateWebhookEndpoint {
                    request: CreateWebhookEndpointRequest { mall_id: mall.get_value(), url: url.get_untracked() },
                });
            }>
                // Not type="url": the server's host policy decides, and says why.
                <label class="wide">{lang.t("endpoint_url")}
                    <input name="url" inputmode="url" data-testid="endpoint-url" placeholder="https://…" bind:value=url autocomplete="off"/>
                </label>
                <button type="submit" data-testid="add-endpoint" disabled=move || add.pending().get()>
                    {move || if add.pending().get() { lang.t("adding_endpoint") } else { lang.t("add_endpoint") }}
                </button>
                <span class="error" data-testid="endpoint-url-error">{move || add.value().with(any_refusal)}</span>
            </form>
            {new_secret}
            {if endpoints.is_empty() {
                view! { <p class="muted" data-testid="no-endpoints">{lang.t("no_endpoints")}</p> }.into_any()
            } else {
                view! {
                    <table data-testid="endpoint-list">
                        <thead><tr>
                            <th>{lang.t("endpoint")}</th><th>{lang.t("created")}</th>
                            <th>{lang.t("previous_signs_until")}</th><th></th>
                        </tr></thead>
                        <tbody>
                            {endpoints.into_iter().map(|endpoint| view! { <EndpointRow endpoint=endpoint lang=lang mall=mall delete=delete rotate=rotate/> }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
            <span class="error">
                {move || delete.value().with(|a| refusal(a, None)).or_else(|| rotate.value().with(|a| refusal(a, None)))}
            </span>
        </section>
    }
}

#[component]
fn EndpointRow(
    endpoint: WebhookEndpointView,
    lang: Lang,
    mall: StoredValue<String>,
    delete: ServerAction<DeleteWebhookEndpoint>,
    rotate: ServerAction<RotateWebhookSecret>,
) -> impl IntoView {
    let id = StoredValue::new(endpoint.id.clone());
    let field = StoredValue::new(format!("endpoint:{}", endpoint.id));
    let confirm = RwSignal::new(false);
    let deleting = move || {
        delete.pending().get()
            && delete.input().with(|d| d.as_ref().is_some_and(|d| d.request.endpoint_id == id.get_value()))
    };
    let rotating = move || {
        rotate.pending().get()
            && rotate.input().with(|r| r.as_ref().is_some_and(|r| r.request.endpoint_id == id.get_value()))
    };
    let rotated_secret = move || match rotate.value().get() {
        Some(Ok(issued)) if issued.new_secret.endpoint_id == id.get_value() => Some(view! {
            <tr class="once-row">
                <td colspan="4">
                    <OneTimeSecret
                        note=lang.t("rotated_secret_once")
                        secret=issued.new_secret.secret
                        testid="rotated-secret"
                        hide_label=lang.t("copied")
                        hide=move || rotate.value().set(None)
                    />
                </td>
            </tr>
        }),
        _ => None,
    };
    let error = move || {
        field.with_value(|field| {
            delete
                .value()
                .with(|a| refusal(a, Some(field)))
                .or_else(|| rotate.value().with(|a| refusal(a, Some(field))))
        })
    };
    view! {
        <tr data-testid=format!("endpoint-{}", endpoint.id)>
            <td class="url">
                <span data-testid="endpoint-url-listed">{endpoint.url}</span>
                <br/>
                <code class="muted">{endpoint.id.clone()}</code>
            </td>
            <td>{utc_minute(endpoint.created_at)}</td>
            <td data-testid="previous-until">{endpoint.previous_until.map(utc_minute).unwrap_or_else(|| "—".to_owned())}</td>
            <td>
                <button data-testid="rotate-secret" disabled=rotating on:click=move |_| {
                    rotate.dispatch(RotateWebhookSecret {
                        request: RotateWebhookSecretRequest { mall_id: mall.get_value(), endpoint_id: id.get_value() },
                    });
                }>
                    {move || if rotating() { lang.t("rotating") } else { lang.t("rotate_secret") }}
                </button>
                " "
                <Show
                    when=move || confirm.get()
                    fallback=move || view! {
                        <button class="danger" data-testid="delete-endpoint" on:click=move |_| confirm.set(true)>{lang.t("delete")}</button>
                    }
                >
                    <button class="danger" data-testid="confirm-delete-endpoint" disabled=deleting on:click=move |_| {
                        delete.dispatch(DeleteWebhookEndpoint {
                            request: DeleteWebhookEndpointRequest { mall_id: mall.get_value(), endpoint_id: id.get_value() },
                        });
                    }>
                        {move || if deleting() { lang.t("deleting") } else { lang.t("delete") }} " ✓"
                    </button>
                </Show>
                <span class="error" data-testid="endpoint-error">{error}</span>
            </td>
        </tr>
        // In place: right under the endpoint it belongs to.
        {rotated_secret}
    }
}
