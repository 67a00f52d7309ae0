use super::types::*;

/// What the review page needs from the server.
#[async_trait::async_trait]
pub trait ReviewPort: Send + Sync {
    async fn review(&self, mall_id: &str, order_id: &str, key: Option<&str>) -> Result<ReviewView, ReviewError>;
    /// Asks the PG to take the final total; returns its payment page.
    async fn pay(&self, action: OrderAction) -> Result<NextStep, ReviewError>;
    /// The buyer gives up: the mall's failure page.
    async fn cancel(&self, action: OrderAction) -> Result<NextStep, ReviewError>;
}
