/// A merchant's credentials at a payment company. The secrets never appear in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct MerchantCredentials {
    /// Which connector speaks for this payment company (`sandbox`, `stripe`, …).
    pub gateway: String,
    /// What identifies the merchant there and may be shown (the sandbox's public key;
    /// for Stripe, the account id).
    pub public_key: String,
    pub secret_key: String,
    /// The secret the PG signs its webhooks with, when it is not the secret key
    /// (Stripe's `whsec_…`).
    pub webhook_secret: Option<String>,
}

impl std::fmt::Debug for MerchantCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerchantCredentials")
            .field("gateway", &self.gateway)
            .field("public_key", &self.public_key)
            .field("secret_key", &"<redacted>")
            .field("webhook_secret", &self.webhook_secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}
