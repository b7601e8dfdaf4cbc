-- Catalog of one shop: categories (a tree), products with options and variants.

create table categories (
    id uuid primary key,
    parent_id uuid references categories (id) on delete restrict,
    name text not null,
    slug text not null unique,
    description text not null default '',
    position integer not null default 0,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index categories_parent_idx on categories (parent_id);

create table products (
    id uuid primary key,
    name text not null,
    slug text not null unique,
    description text not null default '',
    status text not null default 'draft' check (status in ('draft', 'active', 'archived')),
    -- [{"name": "Size", "values": ["S", "M"]}, ...]; variants pick one value of each.
    options jsonb not null default '[]',
    -- Kept in step with the variants by the same transaction that writes them, so the storefront
    -- can filter and sort by price with an index instead of aggregating every request.
    price_min bigint not null default 0,
    price_max bigint not null default 0,
    total_stock bigint not null default 0,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index products_status_created_idx on products (status, created_at desc, id desc);
create index products_status_price_idx on products (status, price_min, id);
create index products_status_name_idx on products (status, lower(name), id);

create table variants (
    id uuid primary key,
    product_id uuid not null references products (id) on delete cascade,
    sku text,
    title text not null,
    price bigint not null check (price >= 0),
    compare_at_price bigint check (compare_at_price >= 0),
    stock integer not null default 0 check (stock >= 0),
    option_values text[] not null default '{}',
    position integer not null default 0,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    -- Deferred, so that a product update may swap option values between its variants.
    constraint variants_options_key unique (product_id, option_values) deferrable initially deferred
);
create index variants_product_idx on variants (product_id, position);
create unique index variants_sku_key on variants (lower(sku)) where sku is not null;

create table product_categories (
    product_id uuid not null references products (id) on delete cascade,
    category_id uuid not null references categories (id) on delete cascade,
    primary key (product_id, category_id)
);
create index product_categories_category_idx on product_categories (category_id, product_id);
