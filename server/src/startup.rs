//! Wiring: configuration → database → connectors → the payment core → channels →
//! listener.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use axum::{extract::FromRef, Router};
use leptos::prelude::LeptosOptions;
use tokio::net::TcpListener;
use url::Url;

pub use crate::http::AppState;

use crate::{
    admin::{self, AdminContext},
    cafe24::{api::Cafe24Api, noty::Cafe24Notifier, tokens::Cafe24Client},
    config::{Config, EncryptionKeySource},
    domain::Channel,
    gateway::{sandbox::SandboxGateway, stripe::StripeGateway, Gateways, PaymentGateway},
    hosts::{HostPattern, HostPolicy},
    http,
    observability::{Metrics, Observability, Readiness},
    outbox::{delivery_timeout, GuardedResolver, OutboxWorker},
    payments::{CoreSettings, Maintenance, MaintenanceSettings, Notifiers, PaymentService},
    sandbox,
    secrets::KeyRing,
    store::{Store, StoreError},
    store_api::{
        housekeeping::{PurgeIdempotencyKeys, PurgePinLeftovers},
        keys::KeyMode,
        webhooks::{EndpointKeys, StoreApiNotifier},
        StoreApiSettings,
    },
    web::PublicUrl,
};

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
    /// `METRICS_ADDR`: `/metrics` alone, apart from the main listener.
    metrics_listener: Option<TcpListener>,
    router: Router,
    state: AppState,
    worker: OutboxWorker,
    maintenance: Maintenance,
    /// Whether this instance runs the workers (`NOTIFY_WORKER`).
    run_worker: bool,
    /// `HTTP_HEADER_TIMEOUT`, `HTTP_IDLE_TIMEOUT`, `HTTP_MAX_CONNECTIONS`.
    connections: http::serve::ConnectionLimits,
}

impl Application {
    pub async fn build(config: Config) -> Result<Self, StartError> {
        Self::build_with_connectors(config, Vec::new()).await
    }

    /// [`Self::build`], with further connectors beside the configured ones (a test's own
    /// PG, or a connector an embedding application brings), by the id malls are linked to.
    pub async fn build_with_connectors(
        config: Config,
        connectors: Vec<(&'static str, Arc<dyn PaymentGateway>)>,
    ) -> Result<Self, StartError> {
        let keys = load_keys(&config.encryption_key)?;
        let store = Store::connect(&config.database_url).await?;
        store.migrate().await?;
        let metrics = Metrics::new(&store);

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
        let stripe_http = reqwest::Client::builder()
            .connect_timeout(config.stripe_api_timeout.min(Duration::from_secs(5)))
            .timeout(config.stripe_api_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("paybridge/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let gateways = connectors.into_iter().fold(
            Gateways::default()
                .with(
                    crate::gateway::sandbox::GATEWAY_ID,
                    Arc::new(SandboxGateway::new(sandbox_pg_url.clone(), http.clone())),
                )
                .with(
                    crate::gateway::stripe::GATEWAY_ID,
                    Arc::new(StripeGateway::new(config.stripe_api_base.clone(), stripe_http)),
                ),
            |gateways, (id, connector)| gateways.with(id, connector),
        );
        let gateways = crate::observability::measured(gateways, &metrics);
        let keys = Arc::new(keys);

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

        let hash_file = http::assets::hash_file(&config.hash_file_name);
        let hashed = http::assets::hashed_bundle(&hash_file, &config.site_root, "pkg", "paybridge");
        let leptos_options = LeptosOptions::builder()
            .output_name("paybridge")
            .site_root(config.site_root.to_string_lossy().to_string())
            .site_pkg_dir("pkg")
            .hash_files(hashed)
            .hash_file(Arc::<str>::from(hash_file.to_string_lossy().as_ref()))
            .site_addr(local_addr)
            .env(if config.production { leptos::config::Env::PROD } else { leptos::config::Env::DEV })
            .build();
        let admin_bundle = http::assets::admin_bundle(&leptos_options);

        let cafe24_api = Arc::new(cafe24_api);
        let cafe24 = Arc::new(config.cafe24.clone());
        let site = PublicUrl::new(public_url.clone());
        let notifiers = Notifiers::default()
            .with(
                Channel::Cafe24,
                Arc::new(Cafe24Notifier {
                    store: store.clone(),
                    service_key: cafe24.service_key.as_str().into(),
                    gateways: gateways.clone(),
                }),
            )
            .with(Channel::StoreApi, Arc::new(StoreApiNotifier { store: store.clone(), public_url: site.clone() }));
        let settings = CoreSettings { capture_window: config.capture_window };
        let payments =
            PaymentService::new(store.clone(), keys.clone(), gateways.clone(), notifiers, public_url.clone(), settings)
                .with_metrics(metrics.clone());
        let state = AppState {
            store: store.clone(),
            keys: keys.clone(),
            gateways,
            hosts: Arc::new(hosts),
            cafe24,
            public_url: site,
            http: http.clone(),
            cafe24_client: Cafe24Client::new(cafe24_api.clone(), store.clone(), keys.clone()),
            cafe24_api,
            payments,
            store_api: StoreApiSettings {
                intent_expiry: config.intent_expiry,
                key_mode: if config.sandbox { KeyMode::Test } else { KeyMode::Live },
                ..StoreApiSettings::default()
            },
            currencies: Default::default(),
            sandbox_api_key: if config.sandbox { config.sandbox_api_key.clone() } else { String::new() },
            leptos_options,
            admin_bundle,
            observability: Observability {
                metrics: metrics.clone(),
                readiness: Readiness {
                    workers: config.notify_worker,
                    outbox_max_age: config.observability.outbox_max_age,
                    worker_max_lag: config.observability.worker_max_lag,
                },
                metrics_elsewhere: config.observability.metrics_addr.is_some(),
            },
        };

        if config.sandbox {
            sandbox::provision::provision_demo_mall(&store, &state.keys, &config.sandbox_api_key).await?;
            if let Some(demo) = &config.demo_stripe {
                sandbox::provision::provision_demo_stripe_mall(&store, &state.keys, demo).await?;
            }
        }
        let sandbox = config.sandbox.then(|| sandbox::Sandbox {
            pg: sandbox::pg::SandboxPg { store: store.clone(), base_url: sandbox_pg_url, http },
            api_key: config.sandbox_api_key.clone(),
        });
        let router = http::router(&state, sandbox, http::limits::Limiter::new(&config.rate_limits));
        let worker = OutboxWorker {
            store,
            http: notification_client(&state.hosts, delivery_timeout(config.notify_lease))?,
            hosts: state.hosts.clone(),
            retry_delays: config.notify_retry_delays.clone(),
            lease: config.notify_lease,
            id: crate::store::new_id("worker"),
            signing_keys: Some(Arc::new(EndpointKeys { store: state.store.clone(), keys: state.keys.clone() })),
            metrics,
            poll: config.notify_poll,
            passes: Default::default(),
        };
        let maintenance = Maintenance {
            payments: state.payments.clone(),
            settings: MaintenanceSettings {
                auto_confirm_after: config.auto_confirm_after,
                reconcile_after: config.reconcile_after,
                ..MaintenanceSettings::default()
            },
            chores: vec![
                Arc::new(PurgeIdempotencyKeys { store: state.store.clone() }),
                Arc::new(PurgePinLeftovers { store: state.store.clone() }),
            ],
        };
        let metrics_listener = match config.observability.metrics_addr {
            Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| StartError::Bind(addr, e))?),
            None => None,
        };
        Ok(Application {
            listener,
            metrics_listener,
            router,
            state,
            worker,
            maintenance,
            run_worker: config.notify_worker,
            connections: config.connections,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    /// The port `/metrics` has to itself (`METRICS_ADDR`), if any.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_listener.as_ref().and_then(|l| l.local_addr().ok()).map(|a| a.port())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// The outbox worker this instance runs (a copy passes on demand, e.g. in tests).
    pub fn worker(&self) -> &OutboxWorker {
        &self.worker
    }

    /// The maintenance worker (intent and authorization expiry, auto-confirm).
    pub fn maintenance(&self) -> &Maintenance {
        &self.maintenance
    }

    /// Serves until `shutdown` resolves, then finishes the requests in flight.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let (stop_worker, stopped) = tokio::sync::watch::channel(false);
        let worker = if self.run_worker {
            tokio::spawn(self.maintenance.run(stopped.clone()));
            tokio::spawn(self.worker.run(stopped))
        } else {
            tracing::info!("NOTIFY_WORKER is off: this instance delivers no notifications and runs no maintenance");
            tokio::spawn(async {})
        };
        if let Some(listener) = self.metrics_listener {
            let mut stopped = stop_worker.subscribe();
            let router = crate::http::observe::metrics_router(self.state.clone());
            tokio::spawn(async move {
                let stop = async move {
                    let _ = stopped.wait_for(|stop| *stop).await;
                };
                if let Err(e) = axum::serve(listener, router).with_graceful_shutdown(stop).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
        }
        let admin = AdminContext::from_ref(&self.state);
        tokio::spawn(async move { admin::service::update_stale_scripttags(&admin).await });
        // Not `axum::serve`: it has no header or idle timeout nor a connection limit.
        let served = http::serve::serve(self.listener, self.router, self.connections, shutdown).await;
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
