//! What the sandbox's pages and its simulated Cafe24 need of the app.

use std::sync::Arc;

use url::Url;

use crate::{config::Cafe24Credentials, secrets::KeyRing, store::Store, web::PublicUrl};

#[derive(Clone)]
pub struct SandboxContext {
    pub store: Store,
    pub keys: Arc<KeyRing>,
    /// The app's Cafe24 credentials: the demo mall plays Cafe24 and signs with them.
    pub cafe24: Arc<Cafe24Credentials>,
    pub public_url: PublicUrl,
    /// For the demo mall's own calls to paybridge (timeouts, no redirects).
    pub http: reqwest::Client,
    /// The demo mall's Store API key (`SANDBOX_API_KEY`), for its store pages' calls.
    pub store_api_key: String,
}

impl SandboxContext {
    pub fn url(&self, path: &str) -> Url {
        self.public_url.url(path)
    }
}
