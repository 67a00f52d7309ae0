//! Saved cards (SPEC §8.3): registrations (payments that end in 9 with a card), the cards
//! the PG keeps (`tok_…`: the PG's reference sealed, the display data in clear), and
//! which payments were made with which card.

use sqlx::FromRow;

use super::{
    now_ms,
    payments::{ChannelData, EventSource, Inserted, NewPayment, OpenedCheckout},
    pins::verification_token_hash,
    Store, StoreError, Tx,
};
use crate::{
    domain::{CardDisplay, CardRegistration, CardToken, CardUsage, Initiator, MallId, PaymentId, TokenId},
    secrets::KeyRing,
};

/// What a new payment brings with it beyond its channel's data, written in its
/// transaction.
pub(crate) enum AlsoWrite<'a> {
    Nothing,
    /// The payment registers a card.
    Registration(&'a CardRegistration),
    /// The payment charges a saved card; with the customer's PIN verification token to use
    /// up (then the payment exists only if the token was theirs, fresh and unused).
    TokenCharge {
        charge: &'a TokenCharge,
        customer_id: &'a str,
        pin_verification: Option<&'a str>,
    },
}

/// The payment a saved card was charged in: which card, and who started it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenCharge {
    pub token_id: TokenId,
    pub initiator: Initiator,
}

pub(crate) fn card_reference_context(token_id: &str) -> String {
    format!("card_tokens:{token_id}")
}

#[derive(FromRow)]
struct CardTokenRow {
    id: String,
    mall_id: String,
    customer_id: String,
    usage: String,
    gateway: String,
    brand: String,
    last4: String,
    exp_month: i64,
    exp_year: i64,
    registration_id: String,
    created_at: i64,
    deleted_at: Option<i64>,
}

const TOKEN_COLUMNS: &str = "id, mall_id, customer_id, usage, gateway, brand, last4, exp_month, exp_year, \
     registration_id, created_at, deleted_at";

impl TryFrom<CardTokenRow> for CardToken {
    type Error = StoreError;
    fn try_from(r: CardTokenRow) -> Result<Self, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("card token {}: {what}", r.id));
        Ok(CardToken {
            id: TokenId::parse(&r.id).map_err(|_| corrupt("id"))?,
            mall_id: MallId::parse(&r.mall_id).map_err(|_| corrupt("mall_id"))?,
            customer_id: r.customer_id,
            usage: CardUsage::parse(&r.usage).ok_or_else(|| corrupt("usage"))?,
            gateway: r.gateway,
            card: CardDisplay {
                brand: r.brand,
                last4: r.last4,
                exp_month: u32::try_from(r.exp_month).map_err(|_| corrupt("exp_month"))?,
                exp_year: u32::try_from(r.exp_year).map_err(|_| corrupt("exp_year"))?,
            },
            registration_id: PaymentId::parse(&r.registration_id).map_err(|_| corrupt("registration_id"))?,
            created_at: r.created_at,
            deleted_at: r.deleted_at,
        })
    }
}

impl Store {
    /// Creates a registration: a payment in status Request (amount 0) with the page the
    /// PG opened for the buyer, its channel's data, and for whom and what the card is.
    pub async fn create_registration_payment(
        &self,
        new: &NewPayment,
        page: &OpenedCheckout,
        channel: &ChannelData,
        registration: &CardRegistration,
        source: &EventSource,
    ) -> Result<Inserted, StoreError> {
        let also = AlsoWrite::Registration(registration);
        self.insert_payment(new, Some((page, "registration.created")), channel, &also, source)
            .await?
            .ok_or_else(|| StoreError::Corrupt("a registration refused without a condition".into()))
    }

    /// Creates a payment with a saved card, in status Request, before the PG is asked
    /// (so that a lost answer leaves a payment to finish, never money without a record).
    /// A PIN verification token given is used up in the same transaction: of any number
    /// of payments racing with one token, exactly one is stored. `None` when the token was
    /// not the customer's, was used or has expired (nothing is stored).
    pub async fn create_token_payment(
        &self,
        new: &NewPayment,
        channel: &ChannelData,
        charge: &TokenCharge,
        customer_id: &str,
        pin_verification: Option<&str>,
        source: &EventSource,
    ) -> Result<Option<Inserted>, StoreError> {
        let also = AlsoWrite::TokenCharge { charge, customer_id, pin_verification };
        self.insert_payment(new, None, channel, &also, source).await
    }

    /// Writes what else belongs to a new payment; `false` when a condition does not hold
    /// (the caller drops the transaction).
    pub(super) async fn insert_also(
        &self,
        tx: &mut Tx,
        payment_id: &PaymentId,
        mall_id: &MallId,
        also: &AlsoWrite<'_>,
    ) -> Result<bool, StoreError> {
        match also {
            AlsoWrite::Nothing => {}
            AlsoWrite::Registration(r) => {
                sqlx::query("INSERT INTO card_registrations (payment_id, customer_id, usage) VALUES ($1, $2, $3)")
                    .bind(payment_id.as_str())
                    .bind(&r.customer_id)
                    .bind(r.usage.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
            AlsoWrite::TokenCharge { charge, customer_id, pin_verification } => {
                if let Some(token) = pin_verification {
                    // The same single use as `use_pin_verification`, inside this transaction:
                    // one conditional UPDATE, which concurrent payments wait on and then fail.
                    let now = now_ms();
                    let used = sqlx::query(
                        "UPDATE pin_verifications SET used_at = $1 WHERE token_hash = $2 AND mall_id = $3 \
                         AND customer_id = $4 AND used_at IS NULL AND expires_at > $1",
                    )
                    .bind(now)
                    .bind(verification_token_hash(token))
                    .bind(mall_id.as_str())
                    .bind(*customer_id)
                    .execute(&mut **tx)
                    .await?;
                    if used.rows_affected() != 1 {
                        return Ok(false);
                    }
                }
                sqlx::query("INSERT INTO card_token_payments (payment_id, token_id, initiator) VALUES ($1, $2, $3)")
                    .bind(payment_id.as_str())
                    .bind(charge.token_id.as_str())
                    .bind(charge.initiator.as_str())
                    .execute(&mut **tx)
                    .await?;
            }
        }
        Ok(true)
    }

    /// Whether the merchant knows this customer: a Store API payment or registration of
    /// theirs, or a PIN. Another merchant's customer is unknown here.
    pub async fn customer_known(&self, mall_id: &MallId, customer_id: &str) -> Result<bool, StoreError> {
        let found: Option<(i64,)> = sqlx::query_as(
            "SELECT 1 FROM store_api_payments s JOIN payments p ON p.id = s.payment_id \
             WHERE p.mall_id = $1 AND s.customer_id = $2 \
             UNION ALL SELECT 1 FROM customer_pins WHERE mall_id = $1 AND customer_id = $2 LIMIT 1",
        )
        .bind(mall_id.as_str())
        .bind(customer_id)
        .fetch_optional(self.pool())
        .await?;
        Ok(found.is_some())
    }

    async fn registration_row(
        &self,
        executor: impl sqlx::Executor<'_, Database = sqlx::Any>,
        payment_id: &PaymentId,
    ) -> Result<Option<CardRegistration>, StoreError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT customer_id, usage FROM card_registrations WHERE payment_id = $1")
                .bind(payment_id.as_str())
                .fetch_optional(executor)
                .await?;
        row.map(|(customer_id, usage)| {
            let usage = CardUsage::parse(&usage)
                .ok_or_else(|| StoreError::Corrupt(format!("registration {payment_id}: usage {usage:?}")))?;
            Ok(CardRegistration { payment_id: payment_id.clone(), customer_id, usage })
        })
        .transpose()
    }

    /// The registration a payment is, if it is one.
    pub async fn registration(&self, payment_id: &PaymentId) -> Result<Option<CardRegistration>, StoreError> {
        self.registration_row(self.pool(), payment_id).await
    }

    pub async fn registration_in(
        &self,
        tx: &mut Tx,
        payment_id: &PaymentId,
    ) -> Result<Option<CardRegistration>, StoreError> {
        self.registration_row(&mut **tx, payment_id).await
    }

    /// Keeps a card the PG registered: its reference sealed under the key ring's current
    /// key (bound to the token's id), the rest in clear. Inside the registration's
    /// transaction, before its transition, so the transition's notifications can show it.
    pub async fn insert_card_token(
        &self,
        tx: &mut Tx,
        keys: &KeyRing,
        token: &CardToken,
        reference: &str,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO card_tokens (id, mall_id, customer_id, usage, gateway, reference_enc, brand, last4, \
             exp_month, exp_year, registration_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(token.id.as_str())
        .bind(token.mall_id.as_str())
        .bind(&token.customer_id)
        .bind(token.usage.as_str())
        .bind(&token.gateway)
        .bind(keys.seal(&card_reference_context(token.id.as_str()), reference))
        .bind(&token.card.brand)
        .bind(&token.card.last4)
        .bind(i64::from(token.card.exp_month))
        .bind(i64::from(token.card.exp_year))
        .bind(token.registration_id.as_str())
        .bind(token.created_at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    async fn fetch_token_where(
        &self,
        executor: impl sqlx::Executor<'_, Database = sqlx::Any>,
        clause: &str,
        arg: &str,
    ) -> Result<Option<CardToken>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM card_tokens WHERE {clause}");
        let row: Option<CardTokenRow> = sqlx::query_as(&sql).bind(arg).fetch_optional(executor).await?;
        row.map(CardToken::try_from).transpose()
    }

    /// The card, deleted or not.
    pub async fn card_token(&self, id: &TokenId) -> Result<Option<CardToken>, StoreError> {
        self.fetch_token_where(self.pool(), "id = $1", id.as_str()).await
    }

    /// The card a registration made, inside a transaction of the registration.
    pub async fn card_token_of_registration_in(
        &self,
        tx: &mut Tx,
        registration_id: &PaymentId,
    ) -> Result<Option<CardToken>, StoreError> {
        self.fetch_token_where(&mut **tx, "registration_id = $1", registration_id.as_str()).await
    }

    pub async fn card_token_of_registration(
        &self,
        registration_id: &PaymentId,
    ) -> Result<Option<CardToken>, StoreError> {
        self.fetch_token_where(self.pool(), "registration_id = $1", registration_id.as_str()).await
    }

    /// The PG's reference to the card, opened: only to hand it to the PG.
    pub async fn card_reference(&self, keys: &KeyRing, id: &TokenId) -> Result<String, StoreError> {
        let (sealed,): (String,) = sqlx::query_as("SELECT reference_enc FROM card_tokens WHERE id = $1")
            .bind(id.as_str())
            .fetch_optional(self.pool())
            .await?
            .ok_or_else(|| StoreError::Corrupt(format!("card token {id} vanished")))?;
        keys.open(&card_reference_context(id.as_str()), &sealed)
            .map_err(|e| StoreError::Corrupt(format!("card token {id}: {e}")))
    }

    /// A customer's cards that are not deleted, newest first.
    pub async fn card_tokens_of(&self, mall_id: &MallId, customer_id: &str) -> Result<Vec<CardToken>, StoreError> {
        let sql = format!(
            "SELECT {TOKEN_COLUMNS} FROM card_tokens WHERE mall_id = $1 AND customer_id = $2 AND deleted_at IS NULL \
             ORDER BY created_at DESC, id DESC"
        );
        let rows: Vec<CardTokenRow> =
            sqlx::query_as(&sql).bind(mall_id.as_str()).bind(customer_id).fetch_all(self.pool()).await?;
        rows.into_iter().map(CardToken::try_from).collect()
    }

    /// Marks the card deleted, inside the deletion's transaction; `false` when it already
    /// was (a concurrent deletion won).
    pub async fn mark_card_token_deleted(&self, tx: &mut Tx, id: &TokenId) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE card_tokens SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
            .bind(now_ms())
            .bind(id.as_str())
            .execute(&mut **tx)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The saved card a payment charges, if it is such a payment.
    pub async fn token_charge(&self, payment_id: &PaymentId) -> Result<Option<TokenCharge>, StoreError> {
        let row: Option<(String, String)> =
            sqlx::query_as("SELECT token_id, initiator FROM card_token_payments WHERE payment_id = $1")
                .bind(payment_id.as_str())
                .fetch_optional(self.pool())
                .await?;
        row.map(|(token_id, initiator)| {
            let corrupt = |what: &str| StoreError::Corrupt(format!("token payment {payment_id}: {what}"));
            Ok(TokenCharge {
                token_id: TokenId::parse(&token_id).map_err(|_| corrupt("token_id"))?,
                initiator: Initiator::parse(&initiator).ok_or_else(|| corrupt("initiator"))?,
            })
        })
        .transpose()
    }
}
