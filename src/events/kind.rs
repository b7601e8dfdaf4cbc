//! The kinds of event a change can emit: one enum, stored in `outbox.kind` as its dotted name.

use serde::{Deserialize, Serialize};

/// What happened. Stored as the dotted name (`product.updated`); webhook endpoints subscribe
/// to these names, and receivers see them as the `type` of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventKind {
    #[serde(rename = "shop.created")]
    ShopCreated,
    #[serde(rename = "product.created")]
    ProductCreated,
    #[serde(rename = "product.updated")]
    ProductUpdated,
    #[serde(rename = "product.deleted")]
    ProductDeleted,
    #[serde(rename = "search.synonyms_changed")]
    SynonymsChanged,
    /// Objects to delete from storage (`{"keys": [...], "reason": ...}`).
    #[serde(rename = "media.deleted")]
    MediaDeleted,
    /// A payment for the built-in `test_card` gateway to authorise.
    #[serde(rename = "payment.requested")]
    PaymentRequested,
    #[serde(rename = "order.created")]
    OrderCreated,
    #[serde(rename = "order.paid")]
    OrderPaid,
    #[serde(rename = "order.fulfilled")]
    OrderFulfilled,
    #[serde(rename = "order.delivered")]
    OrderDelivered,
    #[serde(rename = "order.cancelled")]
    OrderCancelled,
    #[serde(rename = "order.refunded")]
    OrderRefunded,
    #[serde(rename = "inventory.low")]
    InventoryLow,
    /// `POST /v1/admin/webhooks/{id}/test`: sent to that one endpoint.
    #[serde(rename = "webhook.test")]
    WebhookTest,
}

impl EventKind {
    pub const ALL: [EventKind; 15] = [
        Self::ShopCreated,
        Self::ProductCreated,
        Self::ProductUpdated,
        Self::ProductDeleted,
        Self::SynonymsChanged,
        Self::MediaDeleted,
        Self::PaymentRequested,
        Self::OrderCreated,
        Self::OrderPaid,
        Self::OrderFulfilled,
        Self::OrderDelivered,
        Self::OrderCancelled,
        Self::OrderRefunded,
        Self::InventoryLow,
        Self::WebhookTest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ShopCreated => "shop.created",
            Self::ProductCreated => "product.created",
            Self::ProductUpdated => "product.updated",
            Self::ProductDeleted => "product.deleted",
            Self::SynonymsChanged => "search.synonyms_changed",
            Self::MediaDeleted => "media.deleted",
            Self::PaymentRequested => "payment.requested",
            Self::OrderCreated => "order.created",
            Self::OrderPaid => "order.paid",
            Self::OrderFulfilled => "order.fulfilled",
            Self::OrderDelivered => "order.delivered",
            Self::OrderCancelled => "order.cancelled",
            Self::OrderRefunded => "order.refunded",
            Self::InventoryLow => "inventory.low",
            Self::WebhookTest => "webhook.test",
        }
    }

    /// The kind named `name`, or `None` for a name no kind has.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == name)
    }

    pub fn is_product(self) -> bool {
        matches!(self, Self::ProductCreated | Self::ProductUpdated | Self::ProductDeleted)
    }

    pub fn is_order(self) -> bool {
        matches!(
            self,
            Self::OrderCreated
                | Self::OrderPaid
                | Self::OrderFulfilled
                | Self::OrderDelivered
                | Self::OrderCancelled
                | Self::OrderRefunded
        )
    }
}

crate::values::text_enum!(EventKind);

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_parse_serde_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for kind in EventKind::ALL {
            assert!(seen.insert(kind.as_str()), "{kind} named twice");
            assert_eq!(EventKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(EventKind::parse("order.shipped"), None);
    }
}
