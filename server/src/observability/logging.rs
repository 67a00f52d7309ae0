//! Logs: text for a person (the default), or one JSON object per line (`LOG_FORMAT=json`)
//! with the fields of the spans it was written in — the request's id, route and path,
//! and the payment and channel it acts on.

use tracing_subscriber::{fmt::MakeWriter, EnvFilter};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_lowercase().as_str() {
            "text" => Some(LogFormat::Text),
            "json" => Some(LogFormat::Json),
            _ => None,
        }
    }
}

/// `RUST_LOG`, or what an operator wants to see by default.
pub fn default_filter() -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"))
}

/// The JSON log: one object per line with `timestamp`, `level`, `target`, the event's
/// fields (`message`, …) at the top, and `span` / `spans` with the fields of the spans it
/// is in (`request_id`, `route`, `payment_id`, `channel`, …).
pub fn json_subscriber<W>(filter: EnvFilter, writer: W) -> impl tracing::Subscriber + Send + Sync + 'static
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(true)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish()
}

/// Installs the process's logger (once, at start).
pub fn init_logging(format: LogFormat) {
    match format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(default_filter()).init(),
        LogFormat::Json => {
            if let Err(e) = tracing::subscriber::set_global_default(json_subscriber(default_filter(), std::io::stdout))
            {
                eprintln!("paybridge: the logger could not be installed: {e}");
            }
        }
    }
}
