//! Payments through a provider trait ([`PaymentProvider`]) with two providers:
//! - `manual`: cash on delivery or bank transfer. The order waits in `pending_payment` until
//!   staff mark it paid.
//! - `test_card`: a built-in gateway that behaves like a card processor ([`test_card`]). At
//!   checkout it only takes the card's last four digits; the authorisation runs after commit
//!   through the outbox, and the gateway reports the result by calling the shop back on
//!   `POST /v1/store/payments/test_card/webhook`, signed `t=<unix>,v1=<hmac>` with the shop's
//!   payment secret ([`crate::signature`]). A card ending in 0002 is declined.
//!
//! Callbacks (`orders::PaymentCallbacksApi`) are verified over the exact body (5-minute tolerance, constant-time
//! comparison); a bad signature is 400 `invalid_signature` and a platform audit entry. Each
//! callback event id is recorded, so duplicates and replays change nothing; a payment that is no
//! longer pending is not changed again either.
//!
//! Refunds are recorded on the order (`POST /v1/admin/orders/{id}/refunds`): with `manual` the
//! shop pays back by its own means; the `test_card` gateway is simulated and needs no call. A
//! real gateway's refund call would go through the outbox like its authorisation.
//!
//! Rule: no provider does network work inside a request's transaction; it emits an event.

pub mod test_card;

use async_trait::async_trait;
use poem::http::HeaderMap;
use poem_openapi::Object;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::error::{AppError, AppResult};
use crate::signature::SignatureError;
use crate::tenancy::ShopId;

/// Where a payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, poem_openapi::Enum, Serialize, Deserialize)]
#[oai(rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    /// Waiting for the provider (or, for `manual`, for staff to mark the order paid).
    Pending,
    Succeeded,
    Failed,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    pub fn parse(value: &str) -> Option<Self> {
        match value {
            "pending" => Some(Self::Pending),
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

crate::values::text_enum!(PaymentStatus);

/// How the buyer pays, as sent to checkout.
#[derive(Debug, Clone, Object, Serialize, Deserialize)]
pub struct PaymentInput {
    /// `manual` or `test_card`.
    pub method: String,
    /// `test_card` only: the card number (only its last four digits are kept).
    #[oai(nullable)]
    pub card_number: Option<String>,
}

/// What checkout keeps of the payment input.
#[derive(Debug, Clone)]
pub struct AcceptedPayment {
    pub card_last4: Option<String>,
}

/// A payment as checkout created it.
#[derive(Debug, Clone)]
pub struct NewPayment {
    pub id: Uuid,
    pub order_id: Uuid,
    pub amount: i64,
    pub currency: String,
    pub card_last4: Option<String>,
}

/// A verified callback from a provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CallbackEvent {
    /// The provider's event id: applied at most once.
    pub id: String,
    /// `payment.succeeded` or `payment.failed`.
    #[serde(rename = "type")]
    pub kind: String,
    pub payment_id: Uuid,
    pub amount: i64,
    /// Why a payment failed (`card_declined`).
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum CallbackError {
    #[error("this provider does not send callbacks")]
    NotSupported,
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("the callback body is not a payment event: {0}")]
    Body(String),
}

#[async_trait]
pub trait PaymentProvider: Send + Sync {
    fn name(&self) -> &'static str;

    /// Checks the buyer's payment input at checkout (422 on bad input).
    fn accept(&self, input: &PaymentInput) -> AppResult<AcceptedPayment>;

    /// Runs in the checkout transaction once the order and its pending payment exist. Returns
    /// instructions for the buyer, if any.
    async fn after_checkout(
        &self,
        conn: &mut PgConnection,
        shop: ShopId,
        payment: &NewPayment,
    ) -> AppResult<Option<String>>;

    /// Verifies a callback's signature over `body` with the shop's `secret` at `now`, and
    /// parses it.
    fn verify_callback(
        &self,
        secret: &[u8],
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<CallbackEvent, CallbackError>;
}

pub struct Manual;

#[async_trait]
impl PaymentProvider for Manual {
    fn name(&self) -> &'static str {
        "manual"
    }

    fn accept(&self, input: &PaymentInput) -> AppResult<AcceptedPayment> {
        if input.card_number.is_some() {
            return Err(AppError::validation(
                "payment.card_number",
                "manual payments take no card",
            ));
        }
        Ok(AcceptedPayment { card_last4: None })
    }

    async fn after_checkout(
        &self,
        _conn: &mut PgConnection,
        _shop: ShopId,
        _payment: &NewPayment,
    ) -> AppResult<Option<String>> {
        Ok(Some("Pay on delivery or by bank transfer; the shop confirms your payment.".to_owned()))
    }

    fn verify_callback(
        &self,
        _secret: &[u8],
        _headers: &HeaderMap,
        _body: &[u8],
        _now: i64,
    ) -> Result<CallbackEvent, CallbackError> {
        Err(CallbackError::NotSupported)
    }
}

static MANUAL: Manual = Manual;
static TEST_CARD: test_card::TestCard = test_card::TestCard;

/// The provider of this name.
pub fn provider(name: &str) -> Option<&'static dyn PaymentProvider> {
    match name {
        "manual" => Some(&MANUAL),
        "test_card" => Some(&TEST_CARD),
        _ => None,
    }
}

/// The provider of a checkout's payment method, or 422.
pub fn provider_for_checkout(name: &str) -> AppResult<&'static dyn PaymentProvider> {
    provider(name)
        .ok_or_else(|| AppError::validation("payment.method", "must be manual or test_card"))
}

/// The shop's callback signing secret, in the caller's shop transaction.
pub async fn shop_secret(conn: &mut PgConnection) -> AppResult<String> {
    Ok(sqlx::query_scalar("select payment_secret from checkout_settings").fetch_one(conn).await?)
}
