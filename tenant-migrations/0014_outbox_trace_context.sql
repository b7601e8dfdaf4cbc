-- The trace an outbox row continues: the W3C traceparent of the transaction that wrote it, so the
-- worker's handling of the row (a webhook delivery, an indexing job) joins the trace of the
-- request that caused it. `TenantTx` sets `shopfleet.traceparent` transaction-locally when traces
-- are exported, and every row inserted in that transaction takes it from this default; `emit`
-- never names the column, so it runs unchanged on shops before and after this migration.
-- Null when traces are off, and for rows written before it.
alter table outbox add column trace_context text;
alter table outbox alter column trace_context
    set default nullif(current_setting('shopfleet.traceparent', true), '');
