//! What the Store API adds to every maintenance pass: idempotency records are kept 24 h
//! (SPEC §8.1), then purged — in batches, by whichever instances run the pass; and PIN
//! verification tokens past their 5 minutes and PIN keys past their overlap.

use crate::{payments::Chore, store::Store};

/// Rows removed per batch, and batches per pass at most (the next pass goes on).
const BATCH: i64 = 1000;
const BATCHES: usize = 10;

pub struct PurgeIdempotencyKeys {
    pub store: Store,
}

#[async_trait::async_trait]
impl Chore for PurgeIdempotencyKeys {
    fn name(&self) -> &'static str {
        "purging idempotency records past their 24 h"
    }

    async fn run(&self) -> Result<u64, String> {
        let mut removed = 0;
        for _ in 0..BATCHES {
            let batch = self.store.purge_idempotency_keys(BATCH).await.map_err(|e| e.to_string())?;
            removed += batch;
            if batch < BATCH as u64 {
                break;
            }
        }
        Ok(removed)
    }
}

pub struct PurgePinLeftovers {
    pub store: Store,
}

#[async_trait::async_trait]
impl Chore for PurgePinLeftovers {
    fn name(&self) -> &'static str {
        "purging expired PIN verification tokens and PIN keys"
    }

    async fn run(&self) -> Result<u64, String> {
        let mut removed = self.store.purge_pin_keys().await.map_err(|e| e.to_string())?;
        for _ in 0..BATCHES {
            let batch = self.store.purge_pin_verifications(BATCH).await.map_err(|e| e.to_string())?;
            removed += batch;
            if batch < BATCH as u64 {
                break;
            }
        }
        Ok(removed)
    }
}
