//! The HTTP side of the application: its state, the router that puts every module's
//! routes together, and the middleware around them.

pub mod gateway_webhooks;
mod state;

use std::sync::Arc;

use app::{admin::AdminPort, checkout::ReviewPort};
use axum::{
    extract::{FromRef, State},
    http::{header, HeaderValue, StatusCode},
    response::IntoResponse,
    routing::get,
    Json, Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list_with_exclusions, LeptosRoutes};
use serde_json::json;
use tower_http::{set_header::SetResponseHeaderLayer, trace::TraceLayer};

pub use state::AppState;

use crate::{
    admin::{self, service::AdminService, AdminContext},
    cafe24::{self, external::ReviewService, Cafe24Context},
    sandbox::{self, SandboxContext},
};

pub fn router(state: &AppState, sandbox_pg: Option<sandbox::pg::SandboxPg>) -> Router {
    // `/` is the app launch too; its handler renders the home page when it is not.
    let routes = generate_route_list_with_exclusions(app::App, Some(vec!["/".to_owned()]));
    let admin: Arc<dyn AdminPort> = Arc::new(AdminService::new(AdminContext::from_ref(state)));
    let review: Arc<dyn ReviewPort> = Arc::new(ReviewService::new(Cafe24Context::from_ref(state)));
    let mut router = Router::new()
        .route("/", get(admin::root))
        .route("/healthz", get(healthz))
        .merge(cafe24::router())
        .merge(gateway_webhooks::router())
        .merge(crate::store_api::router())
        .merge(admin::router())
        .leptos_routes_with_context(
            state,
            routes,
            move || {
                provide_context(admin.clone());
                provide_context(review.clone());
            },
            {
                let options = state.leptos_options.clone();
                move || app::shell(options.clone())
            },
        );
    if let Some(pg) = sandbox_pg {
        let context = SandboxContext::from_ref(state);
        router = router
            .merge(sandbox::demo_mall::router().with_state(context.clone()))
            .merge(sandbox::demo_cards::router().with_state(context.clone()))
            .merge(sandbox::cafe24_sim::router().with_state(context))
            .nest("/sandbox-pg", sandbox::pg::router(pg));
    }
    router
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(app::shell))
        .layer(
            // Paths only: query strings may carry keys and must not reach the logs (nor a
            // card's token in a PG's path).
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                tracing::info_span!("http", method = %req.method(), path = %crate::web::loggable_path(req.uri().path()))
            }),
        )
        // Innermost layers answer a panic in their channel's shape; this one catches the
        // rest (the launch, pages and their server functions, the sandbox).
        .layer(crate::web::catch_panics(crate::web::panic_page))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .with_state(state.clone())
}

async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok"}))),
        Err(e) => {
            tracing::error!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "database unavailable"})))
        }
    }
}
