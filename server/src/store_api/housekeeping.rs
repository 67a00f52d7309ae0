//! What the Store API adds to every maintenance pass: idempotency records are kept 24 h
//! (SPEC §8.1), then purged — in batches, by whichever instances run the pass.

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
