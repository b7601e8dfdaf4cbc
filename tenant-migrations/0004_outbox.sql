-- Transactional outbox of one shop: a change and the events describing it commit together.
-- One row per (event, consumer), so each consumer retries on its own; `event_id` is shared by
-- the rows of one event and is what receivers de-duplicate on.
create table outbox (
    id uuid primary key,
    event_id uuid not null,
    consumer text not null,
    kind text not null,
    payload jsonb not null,
    created_at timestamptz not null default now(),
    -- When the row may be (re)tried.
    available_at timestamptz not null default now(),
    -- A worker's lease: set when claimed, so no transaction stays open during delivery.
    locked_until timestamptz,
    attempts integer not null default 0,
    last_error text,
    processed_at timestamptz,
    -- Given up after the last attempt (dead letter); kept for inspection.
    dead_at timestamptz
);
create index outbox_due_idx on outbox (available_at, id) where processed_at is null and dead_at is null;
create index outbox_processed_idx on outbox (processed_at) where processed_at is not null;
