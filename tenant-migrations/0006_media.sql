-- Product images of one shop. The bytes live in object storage under `shops/<shop id>/`;
-- these rows hold their keys. Deleting a product cascades to its rows, and the same
-- transaction emits `media.deleted` with the keys so the outbox deletes the objects.
create table media (
    id uuid primary key,
    product_id uuid not null references products (id) on delete cascade,
    -- Full object key, `shops/<shop id>/products/<product id>/<media id>.<ext>`.
    object_key text not null unique,
    -- Detected from the content (magic bytes), not taken from the client.
    content_type text not null,
    size_bytes bigint not null check (size_bytes > 0),
    alt text not null default '',
    position integer not null default 0,
    is_primary boolean not null default false,
    filename text not null default '',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create index media_product_idx on media (product_id, position, id);
-- At most one primary image per product; listings read it with one index scan per page.
create unique index media_primary_key on media (product_id) where is_primary;

-- Direct uploads handed a presigned URL and not yet completed. Completing one turns it into a
-- `media` row with the same id (`media_id`) and key.
create table media_uploads (
    id uuid primary key,
    product_id uuid not null references products (id) on delete cascade,
    media_id uuid not null unique,
    object_key text not null unique,
    filename text not null default '',
    content_type text not null,
    size_bytes bigint not null check (size_bytes > 0),
    alt text not null default '',
    make_primary boolean not null default false,
    expires_at timestamptz not null,
    created_at timestamptz not null default now()
);
create index media_uploads_product_idx on media_uploads (product_id);
create index media_uploads_expires_idx on media_uploads (expires_at);
