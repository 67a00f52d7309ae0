//! A valid access token for a mall's Admin API calls: refreshed shortly before it
//! expires and again when Cafe24 answers 401, by one instance at a time.

use std::{future::Future, time::Duration};

use app::admin::{AdminError, AdminErrorKind};

use crate::{
    cafe24::api::{Cafe24ApiError, TokenSet},
    startup::AppState,
    store::now_ms,
};

/// Refresh when less than this is left.
const REFRESH_MARGIN: Duration = Duration::from_secs(300);
const REFRESH_LEASE: Duration = Duration::from_secs(30);

fn not_connected() -> AdminError {
    AdminError::new(
        AdminErrorKind::SignIn,
        "paybridge is not connected to this mall's Cafe24 admin; open it again from the Cafe24 admin",
    )
}

pub fn upstream(e: Cafe24ApiError) -> AdminError {
    match e {
        Cafe24ApiError::Unauthorized => not_connected(),
        other => AdminError::new(AdminErrorKind::Upstream, other.to_string()),
    }
}

fn internal(e: impl std::fmt::Display) -> AdminError {
    tracing::error!(error = %e, "admin storage failed");
    AdminError::new(AdminErrorKind::Internal, "something went wrong on our side; nothing was changed")
}

async fn refresh(app: &AppState, mall_id: &str, stale: &TokenSet) -> Result<TokenSet, AdminError> {
    for _ in 0..50 {
        if app.store.claim_token_refresh(mall_id, REFRESH_LEASE).await.map_err(internal)? {
            let current = app.store.tokens(&app.keys, mall_id).await.map_err(internal)?.ok_or_else(not_connected)?;
            if current.access_token != stale.access_token {
                // Another instance refreshed meanwhile.
                app.store.release_token_refresh(mall_id).await.map_err(internal)?;
                return Ok(current);
            }
            return match app.cafe24_api.refresh(mall_id, &current.refresh_token).await {
                Ok(fresh) => {
                    app.store.save_tokens(&app.keys, mall_id, &fresh).await.map_err(internal)?;
                    Ok(fresh)
                }
                Err(e) => {
                    app.store.release_token_refresh(mall_id).await.map_err(internal)?;
                    tracing::warn!(mall_id, error = %e, "token refresh failed");
                    Err(match e {
                        Cafe24ApiError::Rejected { .. } | Cafe24ApiError::Unauthorized => not_connected(),
                        other => upstream(other),
                    })
                }
            };
        }
        // Another instance is refreshing: wait for its tokens.
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Some(current) = app.store.tokens(&app.keys, mall_id).await.map_err(internal)? {
            if current.access_token != stale.access_token {
                return Ok(current);
            }
        }
    }
    Err(AdminError::new(AdminErrorKind::Upstream, "refreshing the Cafe24 access token took too long"))
}

/// Runs `call` with the mall's access token; on a 401 refreshes once and runs it again.
pub async fn with_token<T, F, Fut>(app: &AppState, mall_id: &str, call: F) -> Result<T, AdminError>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Result<T, Cafe24ApiError>>,
{
    let mut tokens = app.store.tokens(&app.keys, mall_id).await.map_err(internal)?.ok_or_else(not_connected)?;
    if tokens.expires_at - now_ms() < REFRESH_MARGIN.as_millis() as i64 {
        tokens = refresh(app, mall_id, &tokens).await?;
    }
    match call(tokens.access_token.clone()).await {
        Err(Cafe24ApiError::Unauthorized) => {
            let fresh = refresh(app, mall_id, &tokens).await?;
            call(fresh.access_token).await.map_err(upstream)
        }
        other => other.map_err(upstream),
    }
}

/// Revokes both of the mall's tokens at Cafe24 where it still accepts that. A failure is
/// logged, never fatal: the caller forgets the tokens either way.
pub async fn revoke(app: &AppState, mall_id: &str, tokens: &TokenSet) {
    for token in [&tokens.access_token, &tokens.refresh_token] {
        if let Err(e) = app.cafe24_api.revoke(mall_id, token).await {
            tracing::warn!(mall_id, error = %e, "token revocation failed; forgetting the token anyway");
        }
    }
}
