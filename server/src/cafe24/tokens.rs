//! The Cafe24 Admin API with the mall's access token: refreshed shortly before it
//! expires and again when Cafe24 answers 401, by one instance at a time (a lease on the
//! token row).

use std::{future::Future, sync::Arc, time::Duration};

use super::api::{Cafe24Api, Cafe24ApiError};
use crate::{
    secrets::KeyRing,
    store::{now_ms, Store, StoreError, TokenSet},
};

/// Refresh when less than this is left.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
const REFRESH_LEASE: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// No tokens, or Cafe24 refused to refresh them: the merchant must open the app again.
    #[error("paybridge is not connected to this mall's Cafe24 admin; open it again from the Cafe24 admin")]
    NotConnected,
    #[error("refreshing the Cafe24 access token took too long")]
    RefreshBusy,
    #[error(transparent)]
    Api(Cafe24ApiError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<Cafe24ApiError> for TokenError {
    fn from(e: Cafe24ApiError) -> Self {
        match e {
            Cafe24ApiError::Unauthorized => TokenError::NotConnected,
            other => TokenError::Api(other),
        }
    }
}

/// The Admin API client and the tokens it calls with.
#[derive(Clone)]
pub struct Cafe24Client {
    pub api: Arc<Cafe24Api>,
    store: Store,
    keys: Arc<KeyRing>,
}

impl Cafe24Client {
    pub fn new(api: Arc<Cafe24Api>, store: Store, keys: Arc<KeyRing>) -> Self {
        Cafe24Client { api, store, keys }
    }

    async fn refresh(&self, mall_id: &str, stale: &TokenSet) -> Result<TokenSet, TokenError> {
        for _ in 0..50 {
            if self.store.claim_token_refresh(mall_id, REFRESH_LEASE).await? {
                let current = self.store.tokens(&self.keys, mall_id).await?.ok_or(TokenError::NotConnected)?;
                if current.access_token != stale.access_token {
                    // Another instance refreshed meanwhile.
                    self.store.release_token_refresh(mall_id).await?;
                    return Ok(current);
                }
                return match self.api.refresh(mall_id, &current.refresh_token).await {
                    Ok(fresh) => {
                        self.store.save_tokens(&self.keys, mall_id, &fresh).await?;
                        Ok(fresh)
                    }
                    Err(e) => {
                        self.store.release_token_refresh(mall_id).await?;
                        tracing::warn!(mall_id, error = %e, "token refresh failed");
                        Err(match e {
                            Cafe24ApiError::Rejected { .. } | Cafe24ApiError::Unauthorized => TokenError::NotConnected,
                            other => TokenError::Api(other),
                        })
                    }
                };
            }
            // Another instance is refreshing: wait for its tokens.
            tokio::time::sleep(Duration::from_millis(100)).await;
            if let Some(current) = self.store.tokens(&self.keys, mall_id).await? {
                if current.access_token != stale.access_token {
                    return Ok(current);
                }
            }
        }
        Err(TokenError::RefreshBusy)
    }

    /// Runs `call` with the mall's access token; on a 401 refreshes once and runs it again.
    pub async fn with_token<T, F, Fut>(&self, mall_id: &str, call: F) -> Result<T, TokenError>
    where
        F: Fn(String) -> Fut,
        Fut: Future<Output = Result<T, Cafe24ApiError>>,
    {
        let mut tokens = self.store.tokens(&self.keys, mall_id).await?.ok_or(TokenError::NotConnected)?;
        if tokens.expires_at - now_ms() < REFRESH_MARGIN.as_millis() as i64 {
            tokens = self.refresh(mall_id, &tokens).await?;
        }
        match call(tokens.access_token.clone()).await {
            Err(Cafe24ApiError::Unauthorized) => {
                let fresh = self.refresh(mall_id, &tokens).await?;
                Ok(call(fresh.access_token).await?)
            }
            other => Ok(other?),
        }
    }

    /// Revokes both of the mall's tokens at Cafe24 where it still accepts that. A failure
    /// is logged, never fatal: the caller forgets the tokens either way.
    pub async fn revoke(&self, mall_id: &str, tokens: &TokenSet) {
        for token in [&tokens.access_token, &tokens.refresh_token] {
            if let Err(e) = self.api.revoke(mall_id, token).await {
                tracing::warn!(mall_id, error = %e, "token revocation failed; forgetting the token anyway");
            }
        }
    }
}
