use clap::{Parser, Subcommand};
use paybridge::{
    config::Config,
    startup::{self, Application},
    store::Store,
};

/// paybridge — the payment-gateway app between Cafe24 and a payment company.
/// Configuration comes from the environment (see the README).
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the app (the default).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print a new random ENCRYPTION_KEY.
    GenerateKey,
    /// Re-encrypt every stored secret under the first key of ENCRYPTION_KEY; afterwards
    /// the other keys can be removed from the list.
    RotateKeys,
    /// Make a new key for encrypting PINs (GET /api/v2/pin/public-key); the previous one
    /// still decrypts for 24 hours.
    RotatePinKey,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(Command::GenerateKey) = cli.command {
        println!("{}", paybridge::secrets::KeyRing::generate_encoded());
        return std::process::ExitCode::SUCCESS;
    }
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("paybridge: bad configuration: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    // `LOG_FORMAT`: text by default, `json` for one object per line.
    paybridge::observability::init_logging(config.observability.log_format);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(config).await,
        Command::RotateKeys => rotate_keys(config).await,
        Command::RotatePinKey => rotate_pin_key(config).await,
        Command::GenerateKey => unreachable!("handled above"),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("paybridge: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn migrate(config: Config) -> Result<(), String> {
    let store = Store::connect(&config.database_url).await.map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    println!("migrations applied");
    Ok(())
}

async fn rotate_keys(config: Config) -> Result<(), String> {
    let keys = startup::load_keys(&config.encryption_key).map_err(|e| e.to_string())?;
    let store = Store::connect(&config.database_url).await.map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let report = store.reseal_secrets(&keys).await.map_err(|e| e.to_string())?;
    println!(
        "re-encrypted {} rows under key {}; {} were already under it",
        report.resealed,
        keys.current_key_id(),
        report.already_current
    );
    Ok(())
}

async fn rotate_pin_key(config: Config) -> Result<(), String> {
    let keys = startup::load_keys(&config.encryption_key).map_err(|e| e.to_string())?;
    let store = Store::connect(&config.database_url).await.map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    let (key, retired) = paybridge::store_api::pin::keys::rotate(&store, &keys).await.map_err(|e| e.to_string())?;
    match retired {
        Some(old) => println!("the PIN key is now {}; {old} still decrypts for 24 hours", key.kid),
        None => println!("the PIN key is now {}", key.kid),
    }
    Ok(())
}

async fn serve(config: Config) -> Result<(), String> {
    // The development values are public; configured secrets are never printed.
    for (variable, value) in &config.cafe24.dev_defaults {
        tracing::warn!("{variable} is not set: using the development value {value:?}");
    }
    if config.cafe24.webhook_key.is_none() {
        tracing::warn!("CAFE24_WEBHOOK_KEY is not set: Cafe24's webhooks (the app-deleted event) are refused");
    }
    let sandbox = config.sandbox;
    let sandbox_api_key = shown_sandbox_key(&config.sandbox_api_key);
    let app = Application::build(config).await.map_err(|e| e.to_string())?;
    let url = app.state().public_url.base().clone();
    tracing::info!(%url, sandbox, "paybridge is listening");
    if let Some(port) = app.metrics_port() {
        tracing::info!(port, "/metrics is served on its own listener (METRICS_ADDR)");
    }
    if sandbox {
        tracing::info!("demo mall: {}", app.state().url("/demo-mall/"));
        tracing::info!("the demo mall's Store API key (SANDBOX_API_KEY): {sandbox_api_key}");
    }
    app.run_until(startup::shutdown_signal()).await.map_err(|e| e.to_string())
}

/// The demo mall's Store API key as printed at start (SPEC §8.1): the public development
/// default in full; a configured one, like every configured secret, only by its prefix
/// and last 4 characters.
fn shown_sandbox_key(key: &str) -> String {
    if key == paybridge::config::DEFAULT_SANDBOX_API_KEY {
        return key.to_owned();
    }
    let last4: String = key.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
    format!("sk_test_…{last4} (as configured)")
}
