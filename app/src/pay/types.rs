use serde::{Deserialize, Serialize};

/// A Store API payment as its buyer may see it on `/pay/{id}` (SPEC §8.3): nothing the
/// store sent beyond what the page shows, no secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PayView {
    pub payment_id: String,
    /// The merchant's shop, as the buyer knows it.
    pub merchant: String,
    pub order_id: String,
    pub order_name: String,
    /// Major units with the currency's decimals ("150.00").
    pub amount: String,
    pub currency: String,
    /// The PG's payment page, while the buyer may still pay there.
    pub checkout_url: Option<String>,
    pub status: PayStatus,
}

/// `GET /pay/{id}/status`, what the hydrated page polls: the payment's status, and where
/// the buyer goes once it is decided (the store's `successUrl` or `failUrl`, with the
/// parameters the buyer's return from the PG would carry).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayStatus {
    /// The §8.2 name: `REQUEST`, `COMPLETE`, `FAIL`, …
    pub status: String,
    pub status_code: i64,
    pub outcome: PayOutcome,
    /// `None` while the buyer may still pay.
    pub redirect_url: Option<String>,
}

/// What the status means for the buyer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayOutcome {
    /// Still to be paid: the page offers the way on to the PG.
    Open,
    /// Paid, authorized or awaiting a deposit (finalized, for the buyer).
    Paid,
    /// Not paid within `INTENT_EXPIRY`.
    Expired,
    /// The store canceled the intent (or voided its authorization).
    Canceled,
    /// Declined by the PG, or abandoned by the buyer.
    Failed,
}

impl PayOutcome {
    pub fn is_open(self) -> bool {
        self == PayOutcome::Open
    }

    /// The page's HTTP status: a `paymentUrl` that no longer works is 410 Gone (SPEC §8.3);
    /// a paid order still shows, 200.
    pub fn http_status(self) -> u16 {
        match self {
            PayOutcome::Open | PayOutcome::Paid => 200,
            PayOutcome::Expired | PayOutcome::Canceled | PayOutcome::Failed => 410,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            PayOutcome::Open => "Waiting for your payment.",
            PayOutcome::Paid => "This order is paid.",
            PayOutcome::Expired => "This payment has expired: it was not paid in time.",
            PayOutcome::Canceled => "The shop canceled this payment.",
            PayOutcome::Failed => "This payment did not go through.",
        }
    }
}

/// What the page was rendered from (loaded through [`PayPort`](super::PayPort) before
/// rendering, sent to the browser with the page).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PayLoad {
    Found(Box<PayView>),
    NotFound,
    /// A fault on our side (logged by the server).
    Unavailable,
}

impl PayLoad {
    pub fn http_status(&self) -> u16 {
        match self {
            PayLoad::Found(view) => view.status.outcome.http_status(),
            PayLoad::NotFound => 404,
            PayLoad::Unavailable => 500,
        }
    }
}

/// A fault while reading a payment for its buyer; the cause is logged by the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PayError;

impl std::fmt::Display for PayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the payment could not be read")
    }
}

impl std::error::Error for PayError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_url_that_no_longer_works_is_gone_and_a_paid_one_still_shows() {
        assert_eq!(PayOutcome::Open.http_status(), 200);
        assert_eq!(PayOutcome::Paid.http_status(), 200);
        for gone in [PayOutcome::Expired, PayOutcome::Canceled, PayOutcome::Failed] {
            assert_eq!(gone.http_status(), 410, "{gone:?}");
        }
        assert_eq!(PayLoad::NotFound.http_status(), 404);
        assert_eq!(PayLoad::Unavailable.http_status(), 500);
    }

    #[test]
    fn the_status_json_is_camel_case_with_a_snake_case_outcome() {
        let status = PayStatus {
            status: "COMPLETE".into(),
            status_code: 2,
            outcome: PayOutcome::Paid,
            redirect_url: Some("https://shop.example/ok?paymentId=pay_1".into()),
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"status": "COMPLETE", "statusCode": 2, "outcome": "paid",
                               "redirectUrl": "https://shop.example/ok?paymentId=pay_1"})
        );
    }
}
