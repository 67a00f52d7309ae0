//! The routes of the hosted payment page. The page's data is loaded through the port
//! *before* rendering, and handed to the page by context: the page reads it at once (a
//! `SharedValue`, sent along for hydration) instead of awaiting a resource while the
//! response streams, and the HTTP status is known before the first byte.

use std::sync::Arc;

use axum::{
    extract::{Path, Request},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use leptos::prelude::*;

use super::{page::Preloaded, port::PayPort, types::*};

/// `/pay/{id}`, in axum's syntax (the route is served here, not by the generated list).
pub const PAGE_ROUTE: &str = "/pay/{id}";
pub const STATUS_ROUTE: &str = "/pay/{id}/status";

/// `GET /pay/{id}` (the page) and `GET /pay/{id}/status` (its JSON status).
pub fn routes<S>(port: Arc<dyn PayPort>, options: LeptosOptions) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let page_port = port.clone();
    Router::new()
        .route(
            PAGE_ROUTE,
            get(move |Path(id): Path<String>, request: Request| page(page_port.clone(), options.clone(), id, request)),
        )
        .route(STATUS_ROUTE, get(move |Path(id): Path<String>| status(port.clone(), id)))
}

async fn load(port: &dyn PayPort, id: &str) -> PayLoad {
    match port.payment(id).await {
        Ok(Some(view)) => PayLoad::Found(Box::new(view)),
        Ok(None) => PayLoad::NotFound,
        Err(PayError) => PayLoad::Unavailable,
    }
}

/// The page shows what is true now; neither it nor its status may be cached.
fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

async fn page(port: Arc<dyn PayPort>, options: LeptosOptions, id: String, request: Request) -> Response {
    let loaded = load(port.as_ref(), &id).await;
    let status = StatusCode::from_u16(loaded.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let render = leptos_axum::render_app_to_stream_with_context(
        move || provide_context(Preloaded(loaded.clone())),
        move || crate::shell(options.clone()),
    );
    let mut response = render(request).await.into_response();
    *response.status_mut() = status;
    no_store(response)
}

#[derive(serde::Serialize)]
struct Refused {
    error: &'static str,
}

async fn status(port: Arc<dyn PayPort>, id: String) -> Response {
    let answer = match load(port.as_ref(), &id).await {
        PayLoad::Found(view) => Json(view.status).into_response(),
        PayLoad::NotFound => {
            (StatusCode::NOT_FOUND, Json(Refused { error: "there is no such payment" })).into_response()
        }
        PayLoad::Unavailable => {
            (StatusCode::INTERNAL_SERVER_ERROR, Json(Refused { error: "the payment could not be read" }))
                .into_response()
        }
    };
    no_store(answer)
}
