//! Wiring: configuration → database → connectors → router → listener.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use app::admin::AdminPort;
use axum::{
    extract::{FromRef, State},
    http::{header, HeaderValue, StatusCode},
    response::IntoResponse,
    routing::get,
    Json, Router,
};
use leptos::prelude::provide_context;
use leptos::prelude::LeptosOptions;
use leptos_axum::{generate_route_list_with_exclusions, LeptosRoutes};
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::{set_header::SetResponseHeaderLayer, trace::TraceLayer};
use url::Url;

use crate::{
    admin::{self, service::AdminService},
    cafe24::{self, api::Cafe24Api},
    config::{Cafe24Credentials, Config, EncryptionKeySource},
    gateway::{sandbox::SandboxGateway, Gateways},
    hosts::{HostPattern, HostPolicy},
    notify::{delivery_timeout, GuardedResolver, OutboxWorker},
    sandbox,
    secrets::KeyRing,
    store::{Store, StoreError},
};

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub keys: Arc<KeyRing>,
    pub gateways: Gateways,
    pub hosts: Arc<HostPolicy>,
    pub cafe24: Arc<Cafe24Credentials>,
    /// Where Cafe24, PGs and browsers reach us (`APP_URL`).
    pub public_url: Url,
    /// For outgoing calls: timeouts on every call, redirects never followed (SPEC §7).
    pub http: reqwest::Client,
    /// Cafe24's OAuth and Admin API.
    pub cafe24_api: Arc<Cafe24Api>,
    pub leptos_options: LeptosOptions,
}

impl AppState {
    /// What a committed change tells Cafe24 (the outbox delivers it).
    pub fn notifications(&self) -> crate::cafe24::noty::Cafe24Notifications<'_> {
        crate::cafe24::noty::Cafe24Notifications { service_key: &self.cafe24.service_key, gateways: &self.gateways }
    }

    /// Cookies are `Secure` when we are served over https.
    pub fn secure_cookies(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    pub fn url(&self, path: &str) -> Url {
        let mut url = self.public_url.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}{path}"));
        url
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos_options.clone()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("ENCRYPTION_KEY: {0}")]
    Key(std::io::Error),
    #[error("cannot build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// How long shutdown waits for deliveries in flight (longer than their HTTP timeout).
const WORKER_GRACE: Duration = Duration::from_secs(20);

/// For notifications: like [`http_client`], and names resolving to private addresses
/// are refused unless the allow-list names them exactly.
fn notification_client(hosts: &HostPolicy, timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .dns_resolver(Arc::new(GuardedResolver::new(hosts.exact_names())))
        .user_agent(concat!("paybridge/", env!("CARGO_PKG_VERSION")))
        .build()
}

pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("paybridge/", env!("CARGO_PKG_VERSION")))
        .build()
}

pub fn load_keys(source: &EncryptionKeySource) -> Result<KeyRing, StartError> {
    match source {
        EncryptionKeySource::Configured(ring) => Ok(ring.clone()),
        EncryptionKeySource::DataDir(dir) => {
            let (ring, created) = KeyRing::load_or_create_in(dir).map_err(StartError::Key)?;
            if created {
                tracing::warn!(
                    path = %dir.join("encryption.key").display(),
                    "ENCRYPTION_KEY is not set: generated a development key; set ENCRYPTION_KEY in production"
                );
            }
            Ok(ring)
        }
    }
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    state: AppState,
    worker: OutboxWorker,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        let keys = load_keys(&config.encryption_key)?;
        let store = Store::connect(&config.database_url).await?;
        store.migrate().await?;

        let listener =
            TcpListener::bind(config.listen_addr).await.map_err(|e| StartError::Bind(config.listen_addr, e))?;
        let local_addr = listener.local_addr().map_err(|e| StartError::Bind(config.listen_addr, e))?;
        let public_url = config.app_url.clone().unwrap_or_else(|| {
            // Listening on every interface still leaves the app reachable on loopback.
            let mut reachable = local_addr;
            if reachable.ip().is_unspecified() {
                reachable.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            Url::parse(&format!("http://{reachable}")).expect("valid URL")
        });

        let mut hosts = HostPolicy::new(config.allowed_hosts.clone(), config.production);
        if config.sandbox {
            // The demo mall lives on our own host, so its return pages must be reachable.
            if let Some(host) = public_url.host_str() {
                if let Ok(pattern) = HostPattern::parse(host) {
                    hosts.allow(pattern);
                }
            }
        }

        let http = http_client()?;
        let sandbox_pg_url = config.sandbox_pg_url.clone().unwrap_or_else(|| {
            let mut url = public_url.clone();
            let base = url.path().trim_end_matches('/').to_owned();
            url.set_path(&format!("{base}/sandbox-pg"));
            url
        });
        let gateways = Gateways::default().with(
            crate::gateway::sandbox::GATEWAY_ID,
            Arc::new(SandboxGateway::new(sandbox_pg_url.clone(), http.clone())),
        );

        let public_base = public_url.as_str().trim_end_matches('/').to_owned();
        let cafe24_api_base = config.cafe24_api_base.clone().unwrap_or_else(|| {
            if config.sandbox {
                format!("{public_base}/demo-cafe24/{{mall_id}}")
            } else {
                crate::config::DEFAULT_API_BASE.to_owned()
            }
        });
        let cafe24_api = Cafe24Api::new(
            cafe24_api_base,
            config.cafe24.client_id.clone(),
            config.cafe24.client_secret.clone(),
            format!("{public_base}/auth/token"),
            config.cafe24_api_timeout,
        )?;

        let leptos_options = LeptosOptions::builder()
            .output_name("paybridge")
            .site_root(config.site_root.to_string_lossy().to_string())
            .site_pkg_dir("pkg")
            .site_addr(local_addr)
            .env(if config.production { leptos::config::Env::PROD } else { leptos::config::Env::DEV })
            .build();

        let state = AppState {
            store: store.clone(),
            keys: Arc::new(keys),
            gateways,
            hosts: Arc::new(hosts),
            cafe24: Arc::new(config.cafe24.clone()),
            public_url,
            http,
            cafe24_api: Arc::new(cafe24_api),
            leptos_options,
        };

        if config.sandbox {
            sandbox::provision::provision_demo_mall(&store, &state.keys).await?;
        }
        let router = router(&state, config.sandbox.then_some(sandbox_pg_url));
        let worker = OutboxWorker {
            store,
            http: notification_client(&state.hosts, delivery_timeout(config.notify_lease))?,
            hosts: state.hosts.clone(),
            retry_delays: config.notify_retry_delays.clone(),
            lease: config.notify_lease,
            id: crate::store::new_id("worker"),
        };
        Ok(Application { listener, router, state, worker })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let (stop_worker, stopped) = tokio::sync::watch::channel(false);
        let worker = tokio::spawn(self.worker.run(stopped));
        let state = self.state.clone();
        tokio::spawn(async move { admin::service::update_stale_scripttags(&state).await });
        let served = axum::serve(self.listener, self.router.into_make_service()).with_graceful_shutdown(shutdown).await;
        // Requests are finished; the worker finishes the deliveries in hand and
        // releases the rest for any instance to pick up.
        let _ = stop_worker.send(true);
        if tokio::time::timeout(WORKER_GRACE, worker).await.is_err() {
            tracing::warn!("outbox worker did not stop in time; its leases expire on their own");
        }
        self.state.store.close().await;
        served
    }
}

fn router(state: &AppState, sandbox_pg_url: Option<Url>) -> Router {
    // `/` is the app launch too; its handler renders the home page when it is not.
    let routes = generate_route_list_with_exclusions(app::App, Some(vec!["/".to_owned()]));
    let admin: Arc<dyn AdminPort> = Arc::new(AdminService::new(state.clone()));
    let review: Arc<dyn app::checkout::ReviewPort> = Arc::new(cafe24::external::ReviewService::new(state.clone()));
    let mut router = Router::new()
        .route("/", get(admin::root))
        .route("/healthz", get(healthz))
        .merge(cafe24::router())
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
    if let Some(base_url) = sandbox_pg_url {
        router = router.merge(sandbox::demo_mall::router()).merge(sandbox::cafe24_sim::router()).nest(
            "/sandbox-pg",
            sandbox::pg::router(sandbox::pg::SandboxPg {
                store: state.store.clone(),
                base_url,
                http: state.http.clone(),
            }),
        );
    }
    router
        .fallback(leptos_axum::file_and_error_handler::<AppState, _>(app::shell))
        .layer(
            // Paths only: query strings may carry keys and must not reach the logs.
            TraceLayer::new_for_http().make_span_with(|req: &axum::http::Request<_>| {
                tracing::info_span!("http", method = %req.method(), path = %req.uri().path())
            }),
        )
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

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}
