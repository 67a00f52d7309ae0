/// A merchant's credentials at a payment company. The secret never appears in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct MerchantCredentials {
    /// Which connector speaks for this payment company (`sandbox`, …).
    pub gateway: String,
    pub public_key: String,
    pub secret_key: String,
}

impl std::fmt::Debug for MerchantCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MerchantCredentials")
            .field("gateway", &self.gateway)
            .field("public_key", &self.public_key)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}
