-- Selling in one shop: checkout settings, customer addresses, shipping methods, discount codes,
-- carts, orders with their history, payments, refunds and idempotency keys.
-- Money is integer minor units of the shop's currency (platform.shops.currency); never floats.

-- One row: how the shop taxes and charges.
create table checkout_settings (
    singleton boolean primary key default true check (singleton),
    -- Tax rate in basis points: 2000 = 20 %.
    tax_rate_bp integer not null default 0 check (tax_rate_bp between 0 and 10000),
    -- true: prices (and shipping) already include tax, which is then extracted from the total;
    -- false: tax is added on top.
    prices_include_tax boolean not null default false,
    -- `inventory.low` is emitted when a variant's stock falls to this level or below.
    low_stock_threshold integer not null default 5 check (low_stock_threshold >= 0),
    -- HMAC key of the payment providers' callbacks (`test_card`): 244 random bits, hex.
    payment_secret text not null
        default replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''),
    updated_at timestamptz not null default now()
);
insert into checkout_settings default values;

create table customer_addresses (
    id uuid primary key,
    customer_id uuid not null references customers (id) on delete cascade,
    name text not null,
    line1 text not null,
    line2 text not null default '',
    city text not null,
    region text not null default '',
    postal_code text not null,
    -- ISO 3166-1 alpha-2, upper case.
    country text not null check (country ~ '^[A-Z]{2}$'),
    phone text not null default '',
    is_default boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index customer_addresses_customer_idx on customer_addresses (customer_id, created_at);
create unique index customer_addresses_one_default on customer_addresses (customer_id) where is_default;

create table shipping_methods (
    id uuid primary key,
    name text not null,
    -- Flat rate.
    price bigint not null check (price >= 0),
    -- Free when the cart's subtotal (after discounts) is at least this; null: never free.
    free_above bigint check (free_above >= 0),
    -- ISO 3166-1 alpha-2 codes it ships to; empty: everywhere.
    countries text[] not null default '{}',
    active boolean not null default true,
    position integer not null default 0,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create table discounts (
    id uuid primary key,
    -- Matched case-insensitively.
    code text not null,
    kind text not null check (kind in ('percentage', 'fixed_amount', 'free_shipping')),
    -- percentage: 1–100; fixed_amount: minor units; free_shipping: 0.
    value bigint not null default 0 check (value >= 0),
    -- The cart's subtotal must reach this for the code to apply.
    min_subtotal bigint not null default 0 check (min_subtotal >= 0),
    -- Only lines of products in this category (or its descendants) are discounted. No foreign
    -- key: a deleted category makes the code apply to nothing rather than to everything.
    category_id uuid,
    starts_at timestamptz,
    ends_at timestamptz,
    usage_limit integer check (usage_limit > 0),
    per_customer_limit integer check (per_customer_limit > 0),
    -- Incremented by checkout with a conditional update: never beyond usage_limit.
    used_count integer not null default 0 check (used_count >= 0),
    active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    check (usage_limit is null or used_count <= usage_limit),
    check (kind <> 'percentage' or value between 1 and 100),
    check (starts_at is null or ends_at is null or starts_at < ends_at)
);
create unique index discounts_code_key on discounts (lower(code));

create table carts (
    id uuid primary key,
    -- Guest carts: SHA-256 of the cart token (the token itself is only ever with the client).
    token_hash bytea unique,
    customer_id uuid references customers (id) on delete cascade,
    status text not null default 'active' check (status in ('active', 'merged', 'converted')),
    discount_code text,
    shipping_method_id uuid,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    check (token_hash is not null or customer_id is not null)
);
-- A customer has at most one active cart.
create unique index carts_customer_active_key on carts (customer_id) where status = 'active' and customer_id is not null;
create index carts_guest_updated_idx on carts (updated_at) where customer_id is null;

create table cart_items (
    id uuid primary key,
    cart_id uuid not null references carts (id) on delete cascade,
    -- No foreign key: a deleted variant stays in the cart as a line with a problem.
    variant_id uuid not null,
    quantity integer not null check (quantity between 1 and 10000),
    -- The unit price when the customer last saw it, to report a price change.
    seen_price bigint not null,
    created_at timestamptz not null default now(),
    unique (cart_id, variant_id)
);

-- Human order numbers, from 1001. A sequence never blocks concurrent checkouts; a checkout
-- that rolls back leaves a gap.
create sequence order_numbers start 1001;

create table orders (
    id uuid primary key,
    number bigint not null unique default nextval('order_numbers'),
    -- SHA-256 of the order token given to the buyer at checkout (guest access).
    token_hash bytea not null unique,
    customer_id uuid references customers (id) on delete set null,
    email text not null,
    status text not null check (status in
        ('pending_payment', 'paid', 'fulfilled', 'delivered', 'cancelled', 'refunded', 'partially_refunded')),
    currency text not null,
    subtotal bigint not null,
    discount_total bigint not null,
    shipping_total bigint not null,
    tax_total bigint not null,
    total bigint not null check (total >= 0),
    tax_rate_bp integer not null,
    prices_include_tax boolean not null,
    discount_id uuid,
    discount_code text,
    shipping_method_id uuid,
    shipping_method_name text not null,
    shipping_address jsonb not null,
    payment_method text not null,
    paid_total bigint not null default 0,
    refunded_total bigint not null default 0,
    carrier text,
    tracking_number text,
    cancel_reason text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    paid_at timestamptz,
    fulfilled_at timestamptz,
    delivered_at timestamptz,
    cancelled_at timestamptz,
    check (refunded_total >= 0 and refunded_total <= paid_total)
);
create index orders_created_idx on orders (created_at desc, id desc);
create index orders_status_idx on orders (status, id desc);
create index orders_customer_idx on orders (customer_id, id desc);
create index orders_email_idx on orders (lower(email), id desc);

-- What was bought, as it was at checkout.
create table order_items (
    id uuid primary key,
    order_id uuid not null references orders (id) on delete cascade,
    variant_id uuid,
    product_id uuid,
    product_name text not null,
    variant_title text not null,
    sku text,
    unit_price bigint not null,
    quantity integer not null check (quantity > 0),
    line_total bigint not null,
    -- Units put back into stock by a cancellation or refund.
    restocked_quantity integer not null default 0 check (restocked_quantity between 0 and quantity),
    position integer not null default 0
);
create index order_items_order_idx on order_items (order_id, position);

-- The order's history: every status change, payment, refund and note.
create table order_events (
    id uuid primary key,
    order_id uuid not null references orders (id) on delete cascade,
    at timestamptz not null default now(),
    kind text not null,
    from_status text,
    to_status text,
    -- 'customer', 'guest', 'staff', 'provider', 'system'
    actor_kind text not null,
    actor_id uuid,
    details jsonb not null default '{}'
);
create index order_events_order_idx on order_events (order_id, id);

create table discount_usages (
    discount_id uuid not null references discounts (id) on delete cascade,
    order_id uuid not null references orders (id) on delete cascade,
    customer_id uuid,
    email text not null,
    created_at timestamptz not null default now(),
    primary key (discount_id, order_id)
);
create index discount_usages_customer_idx on discount_usages (discount_id, customer_id);
create index discount_usages_email_idx on discount_usages (discount_id, lower(email));

create table payments (
    id uuid primary key,
    order_id uuid not null references orders (id) on delete cascade,
    provider text not null,
    status text not null check (status in ('pending', 'succeeded', 'failed')),
    amount bigint not null check (amount >= 0),
    card_last4 text,
    failure_reason text,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index payments_order_idx on payments (order_id);

-- Provider callbacks already applied: a duplicate or replayed callback changes nothing.
create table payment_callbacks (
    provider text not null,
    event_id text not null,
    payment_id uuid,
    received_at timestamptz not null default now(),
    primary key (provider, event_id)
);

create table refunds (
    id uuid primary key,
    order_id uuid not null references orders (id) on delete cascade,
    amount bigint not null check (amount > 0),
    -- [{"item_id": …, "quantity": n}] put back into stock.
    restocked jsonb not null default '[]',
    reason text not null default '',
    staff_id uuid,
    created_at timestamptz not null default now()
);
create index refunds_order_idx on refunds (order_id);

-- Idempotency-Key records (DESIGN.md §1): the response of the first request, replayed to a
-- retry with the same key and body. Written in the transaction of the operation itself, so a
-- rolled-back operation leaves no key. Kept 24 h.
create table idempotency_keys (
    -- What the key is for: 'checkout', 'refund:<order id>'.
    scope text not null,
    key text not null,
    request_hash bytea not null,
    response_status integer not null,
    response_body jsonb not null,
    created_at timestamptz not null default now(),
    primary key (scope, key)
);
create index idempotency_keys_created_idx on idempotency_keys (created_at);

-- Existing shops' managers run orders, discounts and shipping (new shops get this from
-- policies/manager.csv).
insert into casbin_rules (ptype, v0, v1, v2, v3)
select 'p', m.v0, m.v1, p.object, p.action
from (select distinct v0, v1 from casbin_rules where ptype = 'p' and v0 = 'role:manager') m
cross join (values ('orders', 'read'), ('orders', 'write'), ('discounts', 'read'), ('discounts', 'write'),
                   ('shipping', 'read'), ('shipping', 'write'), ('webhooks', 'read')) as p (object, action)
on conflict do nothing;
