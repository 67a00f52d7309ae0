//! The HTTP side of the application: its state, the router that puts every module's
//! routes together, and the middleware around them.

pub mod assets;
pub mod compression;
pub mod gateway_webhooks;
mod state;

use std::sync::{Arc, OnceLock};

use app::{admin::AdminPort, checkout::ReviewPort, pay::PayPort};
use axum::{
    extract::{FromRef, State},
    http::{header, HeaderValue, StatusCode},
    response::IntoResponse,
    routing::get,
    Json, Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list_with_exclusions, AxumRouteListing, LeptosRoutes};
use serde_json::json;
use tower_http::{set_header::SetResponseHeaderLayer, trace::TraceLayer};

pub use state::AppState;

use crate::{
    admin::{self, service::AdminService, AdminContext},
    cafe24::{self, external::ReviewService, Cafe24Context},
    sandbox::{self, SandboxContext},
    store_api::{hosted::HostedPayments, StoreApiContext},
};

/// The Leptos pages' routes, generated once per process.
///
/// Generating them renders the app with resource loading suppressed by a flag that
/// Leptos keeps for the whole process (`SuppressResourceLoad`): a page whose `Resource`
/// starts loading meanwhile, on any thread, waits forever and its request never gets an
/// answer (leptos#4773). Generated once, before any router exists, no page can be
/// rendering then, however many servers the process builds (the integration tests build
/// hundreds, while other servers serve).
fn page_routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    // `/` is the app launch too; its handler renders the home page when it is not.
    // `/pay/{id}` loads its payment before rendering (`app::pay::routes`).
    ROUTES
        .get_or_init(|| {
            let excluded = vec!["/".to_owned(), app::pay::PAGE_ROUTE.to_owned()];
            generate_route_list_with_exclusions(app::App, Some(excluded))
        })
        .clone()
}

pub fn router(state: &AppState, sandbox: Option<sandbox::Sandbox>) -> Router {
    let routes = page_routes();
    let admin: Arc<dyn AdminPort> = Arc::new(AdminService::new(AdminContext::from_ref(state)));
    let review: Arc<dyn ReviewPort> = Arc::new(ReviewService::new(Cafe24Context::from_ref(state)));
    let pay: Arc<dyn PayPort> = Arc::new(HostedPayments::new(StoreApiContext::from_ref(state)));
    let mut router = Router::new()
        .route("/", get(admin::root))
        .route("/healthz", get(healthz))
        .merge(cafe24::router())
        .merge(gateway_webhooks::router())
        .merge(crate::store_api::router())
        .merge(app::pay::routes(pay, state.leptos_options.clone()))
        .merge(admin::router())
        .merge(assets::bundle(
            std::path::Path::new(&*state.leptos_options.site_root),
            &state.leptos_options.site_pkg_dir,
        ))
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
    if let Some(sandbox) = sandbox {
        let context = SandboxContext::from_ref(state);
        let demo_store = sandbox::demo_store::DemoStore::new(context.clone(), &sandbox.api_key);
        router = router
            .merge(sandbox::demo_mall::router().with_state(context.clone()))
            .merge(sandbox::demo_store::router(demo_store))
            .merge(sandbox::demo_cards::router().with_state(context.clone()))
            .merge(sandbox::cafe24_sim::router().with_state(context))
            .nest("/sandbox-pg", sandbox::pg::router(sandbox.pg));
    }
    router
        .fallback(axum::handler::Handler::layer(
            leptos_axum::file_and_error_handler::<AppState, _>(app::shell),
            axum::middleware::map_response(assets::public_file_headers),
        ))
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
        .layer(assets::no_store_unless_set())
        .layer(axum::middleware::from_fn(compression::leave_admin_uncompressed))
        .layer(compression::layer())
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
