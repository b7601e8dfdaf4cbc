//! `test_card`: a built-in card gateway for development, demos and tests, with the shape of a
//! real one.
//!
//! Checkout validates the card number (digits, length, Luhn), keeps its last four digits and
//! emits `payment.requested` in its transaction. The outbox consumer `payment_gateway` then
//! plays the processor: it authorises (a card ending in 0002 is declined, like the processors'
//! test cards) and calls the shop back on `POST /v1/store/payments/test_card/webhook` with a
//! signed event (`Test-Card-Signature: t=…,v1=…` under the shop's payment secret). The event id
//! is derived from the payment, so a retried call-back is a duplicate the shop ignores.

use async_trait::async_trait;
use poem::http::HeaderMap;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{
    AcceptedPayment, CallbackError, CallbackEvent, NewPayment, PaymentInput, PaymentProvider,
    shop_secret,
};
use crate::error::{AppError, AppResult};
use crate::events::{self, Consumer, EventKind, OutboxRow, Subscription};
use crate::signature;
use crate::tenancy::{DbPool, ShopId, Tenant, TenantTx};

pub const SIGNATURE_HEADER: &str = "Test-Card-Signature";
/// Name of the gateway's outbox consumer.
const CONSUMER: &str = "payment_gateway";
/// Card numbers ending in these digits are declined.
pub const DECLINED_SUFFIX: &str = "0002";

pub struct TestCard;

/// Luhn checksum of a digit string.
fn luhn_valid(digits: &str) -> bool {
    let sum: u32 = digits
        .chars()
        .rev()
        .filter_map(|c| c.to_digit(10))
        .enumerate()
        .map(|(i, d)| if i % 2 == 1 { if d * 2 > 9 { d * 2 - 9 } else { d * 2 } } else { d })
        .sum();
    sum % 10 == 0
}

#[async_trait]
impl PaymentProvider for TestCard {
    fn name(&self) -> &'static str {
        "test_card"
    }

    fn accept(&self, input: &PaymentInput) -> AppResult<AcceptedPayment> {
        let raw = input.card_number.as_deref().ok_or_else(|| {
            AppError::validation("payment.card_number", "is required for test_card")
        })?;
        let digits: String = raw.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if !(12..=19).contains(&digits.len())
            || !digits.chars().all(|c| c.is_ascii_digit())
            || !luhn_valid(&digits)
        {
            return Err(AppError::validation("payment.card_number", "is not a valid card number"));
        }
        Ok(AcceptedPayment { card_last4: Some(digits[digits.len() - 4..].to_owned()) })
    }

    async fn after_checkout(
        &self,
        conn: &mut PgConnection,
        shop: ShopId,
        payment: &NewPayment,
    ) -> AppResult<Option<String>> {
        let payload = json!({
            "payment_id": payment.id,
            "order_id": payment.order_id,
            "amount": payment.amount,
            "currency": payment.currency,
            "card_last4": payment.card_last4,
        });
        events::emit(conn, shop, EventKind::PaymentRequested, payload).await?;
        Ok(None)
    }

    fn verify_callback(
        &self,
        secret: &[u8],
        headers: &HeaderMap,
        body: &[u8],
        now: i64,
    ) -> Result<CallbackEvent, CallbackError> {
        let header = headers
            .get(SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .ok_or(CallbackError::Signature(signature::SignatureError::Malformed))?;
        signature::verify(secret, header, body, now)?;
        serde_json::from_slice(body).map_err(|err| CallbackError::Body(err.to_string()))
    }
}

/// The gateway's decision for a card.
pub fn authorise(payment_id: Uuid, amount: i64, card_last4: &str) -> CallbackEvent {
    let declined = card_last4 == DECLINED_SUFFIX;
    CallbackEvent {
        id: format!("evt_{}", payment_id.simple()),
        kind: if declined { "payment.failed" } else { "payment.succeeded" }.to_owned(),
        payment_id,
        amount,
        reason: declined.then(|| "card_declined".to_owned()),
    }
}

/// `payment.requested` reaches the gateway.
pub struct GatewayRequests;

impl Subscription for GatewayRequests {
    fn consumer(&self) -> &'static str {
        CONSUMER
    }

    fn wants(&self, kind: EventKind) -> bool {
        kind == EventKind::PaymentRequested
    }
}

/// The gateway: authorises each requested payment, then calls the shop back at `self_url`
/// (this server). An answer other than 2xx is an error, so the outbox retries.
pub struct Gateway {
    pub http: reqwest::Client,
    /// This server's own base URL, e.g. `http://127.0.0.1:8080`.
    pub self_url: String,
    pub pool: DbPool,
}

#[async_trait]
impl Consumer for Gateway {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    async fn handle(&self, tenant: &Tenant, row: &OutboxRow) -> anyhow::Result<()> {
        let payload = &row.payload;
        let payment_id: Uuid = payload["payment_id"]
            .as_str()
            .and_then(|id| id.parse().ok())
            .ok_or_else(|| anyhow::anyhow!("payment.requested without a payment id"))?;
        let amount = payload["amount"].as_i64().unwrap_or(0);
        let card_last4 = payload["card_last4"].as_str().unwrap_or_default();
        let event = authorise(payment_id, amount, card_last4);
        let body = serde_json::to_vec(&event)?;

        let mut tx = TenantTx::begin(&self.pool, tenant).await?;
        let secret = shop_secret(&mut tx).await.map_err(|err| anyhow::anyhow!("{err}"))?;
        tx.commit().await?;

        let header = signature::sign(secret.as_bytes(), signature::unix_now(), &body);
        let response = self
            .http
            .post(format!("{}/v1/store/payments/test_card/webhook", self.self_url))
            .header("X-Shop", &tenant.slug)
            .header("Content-Type", "application/json")
            .header(SIGNATURE_HEADER, header)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!("the shop answered the payment call-back with {status}");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(card: &str) -> PaymentInput {
        PaymentInput { method: "test_card".into(), card_number: Some(card.into()) }
    }

    #[test]
    fn card_numbers_are_checked_and_only_the_last_four_kept() {
        let accepted = TestCard.accept(&input("4242 4242 4242 4242")).unwrap();
        assert_eq!(accepted.card_last4.as_deref(), Some("4242"));
        assert!(TestCard.accept(&input("4242424242424241")).is_err(), "Luhn");
        assert!(TestCard.accept(&input("4242")).is_err(), "too short");
        assert!(TestCard.accept(&input("4242abcd42424242")).is_err());
        assert!(
            TestCard
                .accept(&PaymentInput { method: "test_card".into(), card_number: None })
                .is_err()
        );
    }

    #[test]
    fn a_card_ending_in_0002_is_declined() {
        let id = Uuid::now_v7();
        assert_eq!(
            TestCard.accept(&input("4000000000000002")).unwrap().card_last4.as_deref(),
            Some("0002")
        );
        let declined = authorise(id, 500, "0002");
        assert_eq!(
            (declined.kind.as_str(), declined.reason.as_deref()),
            ("payment.failed", Some("card_declined"))
        );
        let approved = authorise(id, 500, "4242");
        assert_eq!((approved.kind.as_str(), approved.reason), ("payment.succeeded", None));
        assert_eq!(
            approved.id, declined.id,
            "one event id per payment: a retried call-back is a duplicate"
        );
    }

    #[test]
    fn a_callback_verifies_only_with_the_shop_secret() {
        let event = authorise(Uuid::now_v7(), 100, "4242");
        let body = serde_json::to_vec(&event).unwrap();
        let now = 1_800_000_000;
        let mut headers = HeaderMap::new();
        headers
            .insert(SIGNATURE_HEADER, signature::sign(b"shop-secret", now, &body).parse().unwrap());
        assert_eq!(TestCard.verify_callback(b"shop-secret", &headers, &body, now).unwrap(), event);
        assert!(matches!(
            TestCard.verify_callback(b"other-secret", &headers, &body, now),
            Err(CallbackError::Signature(_))
        ));
        assert!(matches!(
            TestCard.verify_callback(b"shop-secret", &HeaderMap::new(), &body, now),
            Err(CallbackError::Signature(_))
        ));
    }
}
