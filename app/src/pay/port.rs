use super::types::*;

/// What the hosted payment page needs from the server.
#[async_trait::async_trait]
pub trait PayPort: Send + Sync {
    /// The Store API payment `id` as its buyer may see it; `Ok(None)` when there is no
    /// such payment (or it is not a Store API payment).
    async fn payment(&self, id: &str) -> Result<Option<PayView>, PayError>;
}
