use leptos::prelude::*;

use super::types::*;

#[cfg(feature = "ssr")]
fn port() -> Result<std::sync::Arc<dyn super::ReviewPort>, ReviewError> {
    use_context::<std::sync::Arc<dyn super::ReviewPort>>().ok_or_else(|| ReviewError {
        status: 500,
        message: "the review page is not configured".into(),
        redirect_url: None,
    })
}

/// The port's answer (a panic in it is a 500), its status on the HTTP response.
#[cfg(feature = "ssr")]
async fn answer<T>(call: impl std::future::Future<Output = Result<T, ReviewError>>) -> Result<T, ReviewError> {
    let internal =
        || ReviewError { status: 500, message: "something went wrong on our side".into(), redirect_url: None };
    with_status(crate::unwind_safe(call, internal).await)
}

#[cfg(feature = "ssr")]
fn with_status<T>(result: Result<T, ReviewError>) -> Result<T, ReviewError> {
    if let Err(e) = &result {
        if let (Some(options), Ok(status)) =
            (use_context::<leptos_axum::ResponseOptions>(), http::StatusCode::from_u16(e.status))
        {
            options.set_status(status);
        }
    }
    result
}

#[server(prefix = "/api/external-checkout/fn", endpoint = "review")]
pub async fn load_review(mall_id: String, order_id: String, key: Option<String>) -> Result<ReviewView, ReviewError> {
    answer(with_status(port())?.review(&mall_id, &order_id, key.as_deref())).await
}

#[server(prefix = "/api/external-checkout/fn", endpoint = "pay")]
pub async fn pay_order(action: OrderAction) -> Result<NextStep, ReviewError> {
    answer(with_status(port())?.pay(action)).await
}

#[server(prefix = "/api/external-checkout/fn", endpoint = "cancel")]
pub async fn cancel_order(action: OrderAction) -> Result<NextStep, ReviewError> {
    answer(with_status(port())?.cancel(action)).await
}
