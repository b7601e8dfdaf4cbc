-- When a shop's outbox next has work that is waiting for a retry time. Written by the worker
-- (as the application role), read once a second: the worker never polls every shop schema.
create table platform.outbox_schedule (
    shop_id uuid primary key references platform.shops (id) on delete cascade,
    next_at timestamptz not null
);
create index outbox_schedule_next_idx on platform.outbox_schedule (next_at);
