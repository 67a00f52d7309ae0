//! The HTTP side of the application: its state, the router that puts every module's
//! routes together, and the middleware around them.

pub mod assets;
pub mod compression;
pub mod gateway_webhooks;
pub mod limits;
pub mod observe;
pub mod serve;
mod state;

use std::sync::{Arc, OnceLock};

use app::{admin::AdminPort, checkout::ReviewPort, pay::PayPort};
use axum::{
    extract::FromRef,
    http::{header, HeaderValue},
    routing::get,
    Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list_with_exclusions, AxumRouteListing, LeptosRoutes};
use tower_http::{
    request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer},
    set_header::SetResponseHeaderLayer,
    trace::{DefaultOnResponse, TraceLayer},
};

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

/// `limiter`: the abuse limits (`RATE_LIMITS`), inside the metrics and the request id (a
/// 429 is counted and carries its id) and before any route's work.
pub fn router(state: &AppState, sandbox: Option<sandbox::Sandbox>, limiter: limits::Limiter) -> Router {
    let routes = page_routes();
    let admin: Arc<dyn AdminPort> = Arc::new(AdminService::new(AdminContext::from_ref(state)));
    let review: Arc<dyn ReviewPort> = Arc::new(ReviewService::new(Cafe24Context::from_ref(state)));
    let pay: Arc<dyn PayPort> = Arc::new(HostedPayments::new(StoreApiContext::from_ref(state)));
    let mut router = Router::new()
        .route("/", get(admin::root))
        .merge(observe::routes(state))
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
                // The admin page names the admin's bundle; the other pages the buyer pages' one.
                let (options, admin_bundle) = (state.leptos_options.clone(), state.admin_bundle.clone());
                move || app::page_shell(options.clone(), admin_bundle.clone())
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
            // card's token in a PG's path). The span carries the request id.
            TraceLayer::new_for_http()
                .make_span_with(observe::http_span)
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        // Innermost layers answer a panic in their channel's shape; this one catches the
        // rest (the launch, pages and their server functions, the sandbox).
        .layer(crate::web::catch_panics(crate::web::panic_page))
        .layer(axum::middleware::from_fn_with_state(limiter, limits::enforce))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(assets::no_store_unless_set())
        // Outside the panic catcher, so a panic's 500 is counted; the request id is set
        // before the span is made and echoed in every answer.
        .layer(axum::middleware::from_fn_with_state(state.observability.metrics.clone(), observe::track_requests))
        .layer(PropagateRequestIdLayer::new(observe::REQUEST_ID))
        .layer(SetRequestIdLayer::new(observe::REQUEST_ID, MakeRequestUuid))
        .layer(axum::middleware::from_fn(observe::keep_usable_request_id))
        // Outermost: everything inside sees the plain body.
        .layer(axum::middleware::from_fn(compression::leave_admin_uncompressed))
        .layer(compression::layer())
        .with_state(state.clone())
}
