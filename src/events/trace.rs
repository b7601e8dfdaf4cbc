//! The spans of outbox handling, and how they join the traces of the changes that wrote the
//! rows.
//!
//! Each row stores the W3C traceparent of the transaction that wrote it (`trace_context`, see
//! tenant migration 0014). A consumer's batch mixes rows of many requests, so its span
//! (`outbox.batch`) cannot have them all as parent: it is a child of the worker's pass over the
//! shop (`outbox.process`) and *links* to each distinct stored context. The handling of one row
//! (`outbox.event`: by [`super::Consumer::handle`], or a webhook delivery) has the stored context
//! as its *parent*, so it appears in the causing request's trace, after the commit; a row
//! without a stored context (traces off when it was written) is a child of its batch.

use tracing::Span;

use super::OutboxRow;
use crate::telemetry::context;
use crate::tenancy::Tenant;

/// `outbox.batch`: one consumer's rows of one pass, linked to the traces that wrote them.
pub fn batch_span(tenant: &Tenant, consumer: &str, rows: &[&OutboxRow]) -> Span {
    let span = tracing::info_span!(
        "outbox.batch",
        shop = %tenant.slug,
        shop_id = %tenant.id,
        consumer = %consumer,
        rows = rows.len(),
    );
    let mut linked: Vec<&str> = Vec::new();
    for traceparent in rows.iter().filter_map(|row| row.trace_context.as_deref()) {
        if !linked.contains(&traceparent) {
            context::link(&span, traceparent);
            linked.push(traceparent);
        }
    }
    span
}

/// `outbox.event`: the handling of one row, continuing the trace that wrote it.
pub fn row_span(tenant: &Tenant, row: &OutboxRow) -> Span {
    let span = tracing::info_span!(
        "outbox.event",
        shop = %tenant.slug,
        shop_id = %tenant.id,
        consumer = %row.consumer,
        kind = %row.kind,
        event_id = %row.event_id,
        attempt = row.attempts,
    );
    context::continue_trace(&span, row.trace_context.as_deref(), None);
    span
}
