-- Outgoing webhooks: the shop's endpoints, and the record of every delivery attempt.
--
-- A delivery is an outbox row with consumer 'webhook' and an `endpoint_id`: `emit` writes one
-- per active endpoint subscribed to the event's kind, in the transaction of the change, so each
-- endpoint retries on its own through the outbox's lease, backoff and dead letter. The row's
-- `attempts`, `available_at` (next retry), `processed_at` (delivered) and `dead_at` (given up)
-- are the delivery's state; `webhook_attempts` keeps what each attempt got back.

create table webhook_endpoints (
    id uuid primary key,
    url text not null check (char_length(url) between 1 and 2048),
    -- Event kinds delivered to it (`order.paid`, …), or `*` for every kind.
    events text[] not null check (cardinality(events) > 0),
    -- HMAC key of `Shopfleet-Signature`; shown to the shop once, when created or rotated.
    secret text not null,
    -- The secret before the last rotation: deliveries are signed with both until this time, so
    -- a receiver can switch keys without refusing anything.
    previous_secret text,
    previous_secret_until timestamptz,
    description text not null default '' check (char_length(description) <= 500),
    active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- Expand only: rows of the other consumers keep a null endpoint. Deleting an endpoint deletes
-- its deliveries (and their attempts), pending ones included.
alter table outbox add column endpoint_id uuid references webhook_endpoints (id) on delete cascade;
create index outbox_endpoint_idx on outbox (endpoint_id, id) where endpoint_id is not null;

create table webhook_attempts (
    id uuid primary key,
    -- The delivery (outbox row); attempts go when the worker's retention deletes it.
    outbox_id uuid not null references outbox (id) on delete cascade,
    endpoint_id uuid not null references webhook_endpoints (id) on delete cascade,
    -- 1-based, as counted by the outbox row.
    attempt integer not null,
    started_at timestamptz not null,
    duration_ms integer not null,
    -- The receiver's HTTP status, or null when there was none (timeout, refused, not allowed).
    status_code integer,
    -- Why the attempt failed; null for a 2xx.
    error text
);
create index webhook_attempts_outbox_idx on webhook_attempts (outbox_id, attempt);
