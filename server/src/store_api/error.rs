//! The Store API's one error (SPEC §8.1): `{"error":{"type","code","message","param"?}}`
//! with the status its type says. A refused request changes nothing; a fault of ours is
//! logged once with the operation that failed and answered `api_error` without details.

use axum::{
    http::{header, HeaderValue, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    Json,
};
use serde_json::{json, Map, Value};

use crate::{
    domain::{RefundRefusal, Refusal},
    gateway::WebhookError,
    payments::PaymentError,
    store::StoreError,
};

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
    /// Further members of the error object, in order (a list, not a map: small, whatever
    /// map serde_json is built with).
    pub extra: Vec<(String, Value)>,
    /// `Retry-After` seconds (409 `idempotency_key_in_use`, 429).
    pub retry_after: Option<u32>,
    /// Whether something was done before the request was refused (the PG acted, a refund
    /// was recorded, …). Such an answer is final for its Idempotency-Key and replayed;
    /// a refusal before anything was done leaves the key as if never used (SPEC §8.1).
    pub after_change: bool,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind,
            code,
            message: message.into(),
            param: None,
            extra: Vec::new(),
            retry_after: None,
            after_change: false,
        }
    }

    /// 400 / 404 / 413 / 415 / 422 `invalid_request_error`.
    pub fn invalid(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self::new(status, "invalid_request_error", code, message)
    }

    /// 422 about one field.
    pub fn field(code: &'static str, param: &str, message: impl Into<String>) -> Self {
        Self::invalid(StatusCode::UNPROCESSABLE_ENTITY, code, message).at(param)
    }

    pub fn not_found(what: &str) -> Self {
        Self::invalid(StatusCode::NOT_FOUND, "resource_missing", format!("no such {what}"))
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "authentication_error", "invalid_api_key", message)
    }

    /// 409 `state_error`: the payment's state does not allow it.
    pub fn state(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "state_error", code, message)
    }

    /// Ours: logged here once with what failed, hidden from the store.
    pub fn internal(operation: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(operation, error = %cause, "store api: internal error");
        Self::hidden()
    }

    pub fn hidden() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "internal_error",
            "internal error; nothing was changed",
        )
    }

    pub fn at(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    pub fn with(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.extra.retain(|(n, _)| n != name);
        self.extra.push((name.to_owned(), value.into()));
        self
    }

    /// Marks the error as coming after something was done (see [`ApiError::after_change`]).
    pub fn after_change(mut self) -> Self {
        self.after_change = true;
        self
    }

    /// Whether the request may be tried again as it is (a fault of ours or of the PG):
    /// its idempotency key stays usable, to resume.
    pub fn is_resumable(&self) -> bool {
        self.status.is_server_error()
    }

    /// The core's error, in the Store API's terms; `operation` names what failed.
    pub fn from_core(operation: &str, e: PaymentError) -> Self {
        match e {
            PaymentError::NotFound(_) => Self::not_found("payment"),
            PaymentError::NotLinked => Self::new(
                StatusCode::CONFLICT,
                "state_error",
                "not_linked",
                "the merchant has no payment-company credentials linked",
            ),
            PaymentError::NotOpened => Self::state("not_opened", "the payment was never opened at the payment company"),
            PaymentError::Refused(r @ Refusal::ExceedsAuthorized { .. }) => {
                Self::field("amount_too_large", "amount", r.to_string())
            }
            PaymentError::Refused(r @ Refusal::NotPositive) => Self::field("invalid_amount", "amount", r.to_string()),
            PaymentError::Refused(r) => Self::state("invalid_transition", r.to_string()),
            PaymentError::RefundRefused(r) => match r {
                RefundRefusal::ExceedsRemaining { .. } => Self::field("amount_too_large", "amount", r.to_string()),
                RefundRefusal::NotPositive
                | RefundRefusal::WrongCurrency { .. }
                | RefundRefusal::RemainMismatch { .. } => Self::field("invalid_amount", "amount", r.to_string()),
                RefundRefusal::AlreadyCancelled => Self::state("payment_canceled", r.to_string()),
                RefundRefusal::NotPaid(_) => Self::state("payment_not_paid", r.to_string()),
            },
            PaymentError::Confirmed => {
                Self::state("payment_confirmed", "the payment is confirmed and cannot be canceled")
            }
            PaymentError::AuthorizationExpired => {
                Self::state("authorization_expired", "the authorization has expired and can no longer be captured")
            }
            PaymentError::NotCapturable(m) => Self::state("not_capturable", m),
            PaymentError::Conflict(m) => Self::state("invalid_state", m),
            PaymentError::Invalid(m) => {
                Self::invalid(StatusCode::UNPROCESSABLE_ENTITY, "invalid_amount", m).at("amount")
            }
            PaymentError::Unsupported(m) => Self::invalid(StatusCode::UNPROCESSABLE_ENTITY, "not_supported", m),
            PaymentError::GatewayRejected(m) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request_error",
                "gateway_declined",
                format!("the payment company refused: {m}"),
            ),
            e @ PaymentError::GatewayUnavailable(_) => {
                let timeout = e.to_string().contains("timed out");
                let status = if timeout { StatusCode::GATEWAY_TIMEOUT } else { StatusCode::BAD_GATEWAY };
                Self::new(status, "gateway_error", "gateway_unavailable", e.to_string())
            }
            e @ PaymentError::GatewayProtocol(_) => {
                Self::new(StatusCode::BAD_GATEWAY, "gateway_error", "gateway_unavailable", e.to_string())
            }
            PaymentError::Webhook(WebhookError::BadSignature | WebhookError::Malformed(_)) => {
                Self::internal(operation, "a webhook error in a Store API call")
            }
            e @ PaymentError::NoConnector(_) => Self::internal(operation, e),
            PaymentError::Store(e) => Self::internal(operation, e),
            PaymentError::AfterChange(e) => Self::from_core(operation, *e).after_change(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        Self::internal("storage", e)
    }
}

impl ApiError {
    /// The JSON error object, as it is answered (and saved for an idempotent replay).
    pub fn body(&self) -> Value {
        let mut error = Map::new();
        error.insert("type".into(), json!(self.kind));
        error.insert("code".into(), json!(self.code));
        error.insert("message".into(), json!(self.message));
        if let Some(param) = &self.param {
            error.insert("param".into(), json!(param));
        }
        error.extend(self.extra.iter().cloned());
        json!({ "error": error })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body())).into_response();
        if let Some(seconds) = self.retry_after {
            if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// 404 for a path under `/api/v2/` that is no call.
pub async fn route_not_found(method: Method, uri: Uri) -> Response {
    let message = format!("no call {method} {}; see /api/v2/docs", uri.path());
    ApiError::invalid(StatusCode::NOT_FOUND, "route_not_found", message).into_response()
}

/// 405 for a call asked with another method (axum adds `Allow`).
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    let message = format!("{} is not called with {method}; see /api/v2/docs", uri.path());
    ApiError::invalid(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", message).into_response()
}

/// A panic in a Store API handler answers `api_error` 500.
pub fn panic_answer() -> Response {
    ApiError::hidden().into_response()
}
