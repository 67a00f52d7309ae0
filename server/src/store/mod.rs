//! Persistence with sqlx on SQLite or PostgreSQL, chosen by `DATABASE_URL`. The SQL is
//! shared; the one place the two differ — how a writer locks a payment — sits behind
//! [`Store::begin_write`] and [`Store::lock_clause`]. One module per table group; the
//! store knows the domain's types and nothing of the channels or the core above it.

mod admin;
mod cafe24;
mod malls;
mod outbox;
mod payments;
mod pins;
mod refunds;
mod rekey;
mod saved_cards;
mod sessions;
mod store_api;
mod tokens;

pub use admin::{AdminShop, DeliveryRow, LinkedRow, RecentPayment, ShopListing, ShopRegistration, StaleScripttag};
pub use cafe24::{Cafe24Payment, Cafe24Refund, Flow, NewCafe24Payment};
pub use malls::{EnabledShop, ShopRoute};
pub use outbox::{
    Acceptance, AfterAttempt, AttemptRow, Delivery, DeliveryPolicy, NewMessage, OutboxDue, OutboxMessage, OutboxPass,
    OutboxRow, Signing,
};
pub use payments::{
    ChannelData, EventRecord, EventSource, Inserted, MaintenanceJob, NewPayment, OpenedCheckout, PaymentEventRow,
    StatusChange,
};
pub use pins::{
    pin_key_context, server_secret_context, verification_token_hash, CountedFailure, CustomerPin, LockOut, PinKey,
};
pub use refunds::{RefundChannelData, RefundUpdate};
pub use rekey::Resealed;
pub use saved_cards::TokenCharge;
pub use sessions::{random_token, AdminSession, SESSION_LIFETIME};
pub use store_api::{
    idempotency_answer_context, is_sealed_answer, ApiKeyRow, IdempotencyBegin, IdempotencyEnd, IdempotencyLease,
    IdempotencyRequest, PaymentFilter, StoreApiPayment, WebhookEndpointRow,
};
pub use tokens::TokenSet;

use std::{str::FromStr, time::Duration};

use sqlx::{
    any::{AnyConnectOptions, AnyPoolOptions},
    Any, AnyPool, Executor, Transaction,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// The embedded migrations up to a version.
#[derive(Debug)]
struct MigrationsThrough(i64);

impl sqlx::migrate::MigrationSource<'static> for MigrationsThrough {
    fn resolve(
        self,
    ) -> futures::future::BoxFuture<'static, Result<Vec<sqlx::migrate::Migration>, sqlx::error::BoxDynError>> {
        Box::pin(async move { Ok(MIGRATOR.iter().filter(|m| m.version <= self.0).cloned().collect()) })
    }
}

/// A writer holding the lock longer than this is presumed dead (crashed mid-request).
pub const IN_FLIGHT_LEASE: Duration = Duration::from_secs(60);

/// A transaction that writes (see [`Store::begin_write`]).
pub type Tx = Transaction<'static, Any>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Rung after a commit that enqueued notifications, so this process's worker
    /// delivers them at once instead of at its next poll.
    outbox_wake: std::sync::Arc<tokio::sync::Notify>,
    /// The outbox worker running in this process, if any: a message enqueued while it
    /// runs is leased to it in the enqueuing transaction (see [`Store::enqueue`]).
    local_worker: std::sync::Arc<std::sync::RwLock<Option<outbox::LocalWorker>>>,
    /// Where PostgreSQL's `LISTEN` connection goes (none on SQLite).
    listen_url: Option<outbox::ListenUrl>,
    /// How long starting a write transaction waited (reported as a metric).
    write_waits: prometheus_client::metrics::histogram::Histogram,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("could not prepare the database file: {0}")]
    Io(#[from] std::io::Error),
}

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|e| e.is_unique_violation())
}

/// An INSERT that may lose a race: `true` when the row went in, `false` when a row with
/// the same key was there first.
fn inserted_first(result: Result<sqlx::any::AnyQueryResult, sqlx::Error>) -> Result<bool, StoreError> {
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}

/// SHA-256 of `text`, lower-case hex: how secrets we hand out (session ids, API keys,
/// verification tokens) are kept and looked up, never the secret itself.
pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

impl Store {
    pub async fn connect(database_url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let (url, backend) = if database_url.starts_with("sqlite:") {
            (prepare_sqlite_url(database_url)?, Backend::Sqlite)
        } else {
            (database_url.to_owned(), Backend::Postgres)
        };
        let options = AnyConnectOptions::from_str(&url)?;
        if backend == Backend::Sqlite {
            // WAL lets readers work beside the one writer. It is a property of the file,
            // so one connection sets it before the pool opens more.
            let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect_with(&options).await?;
            conn.execute("PRAGMA journal_mode = WAL").await?;
            sqlx::Connection::close(conn).await?;
        }
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Writers queue behind each other instead of failing with SQLITE_BUSY.
                        conn.execute("PRAGMA busy_timeout = 30000").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let write_waits = prometheus_client::metrics::histogram::Histogram::new([
            0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ]);
        let listen_url = (backend == Backend::Postgres).then(|| outbox::ListenUrl(url.clone()));
        Ok(Store {
            pool,
            backend,
            outbox_wake: Default::default(),
            local_worker: Default::default(),
            listen_url,
            write_waits,
        })
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Applies the migrations up to and including `version` only (tests of a migration:
    /// rows written in the schema before it must come through it).
    #[doc(hidden)]
    pub async fn migrate_through(&self, version: i64) -> Result<(), StoreError> {
        sqlx::migrate::Migrator::new(MigrationsThrough(version)).await?.run(&self.pool).await?;
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// A transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`), so it waits for other writers instead of failing midway;
    /// on PostgreSQL rows are locked with [`Store::lock_clause`].
    pub async fn begin_write(&self) -> Result<Tx, StoreError> {
        let started = std::time::Instant::now();
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        };
        self.write_waits.observe(started.elapsed().as_secs_f64());
        Ok(tx)
    }

    /// The histogram of [`Store::begin_write`]'s waits (the metrics register it).
    pub fn write_waits(&self) -> prometheus_client::metrics::histogram::Histogram {
        self.write_waits.clone()
    }

    /// The embedded migrations this database has not applied successfully (by version);
    /// empty when it is up to date.
    pub async fn migrations_pending(&self) -> Result<Vec<i64>, StoreError> {
        let applied: Vec<(i64,)> =
            sqlx::query_as("SELECT version FROM _sqlx_migrations WHERE success = TRUE").fetch_all(&self.pool).await?;
        let applied: std::collections::HashSet<i64> = applied.into_iter().map(|(v,)| v).collect();
        Ok(MIGRATOR
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| m.version)
            .filter(|v| !applied.contains(v))
            .collect())
    }

    /// Appended to a `SELECT` of the row a writer is about to change.
    pub fn lock_clause(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// `sqlite://data/paybridge.db` → the directory exists and the file is created on
/// first use (`mode=rwc`), unless the URL says otherwise.
fn prepare_sqlite_url(url: &str) -> Result<String, StoreError> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = rest.split('?').next().unwrap_or_default();
    if !path.is_empty() && path != ":memory:" {
        if let Some(dir) = std::path::Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
    }
    Ok(if url.contains("mode=") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    })
}
