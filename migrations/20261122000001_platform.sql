-- The platform catalog: shops, their hosts, plans, platform admins and the audit log.
-- Owned by the application's login role. Shop roles have no rights here.
create schema if not exists platform;

create table platform.plans (
    code text primary key,
    name text not null,
    max_products integer,
    max_staff integer,
    max_upload_bytes bigint not null,
    requests_per_minute integer not null
);

insert into platform.plans (code, name, max_products, max_staff, max_upload_bytes, requests_per_minute) values
    ('free', 'Free', 100, 2, 5242880, 600),
    ('basic', 'Basic', 5000, 10, 20971520, 3000),
    ('pro', 'Pro', null, null, 52428800, 12000);

create table platform.shops (
    id uuid primary key,
    slug text not null,
    name text not null,
    currency text not null,
    contact_email text,
    plan text not null default 'free' references platform.plans (code),
    status text not null default 'active'
        check (status in ('active', 'suspended', 'deleted', 'purged')),
    schema_name text not null,
    role_name text not null,
    schema_version bigint not null default 0,
    -- Which PostgreSQL cluster holds the shop's schema (DESIGN.md §4).
    cluster text not null default 'default',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    suspended_at timestamptz,
    deleted_at timestamptz
);

-- A purged shop keeps its catalog row for the audit trail, and frees its slug.
create unique index shops_slug_key on platform.shops (slug) where status <> 'purged';
create index shops_status_idx on platform.shops (status, created_at desc, id);
create index shops_pending_migration_idx on platform.shops (schema_version) where status <> 'purged';

create table platform.domains (
    id uuid primary key,
    shop_id uuid not null references platform.shops (id) on delete cascade,
    hostname text not null unique,
    created_at timestamptz not null default now()
);
create index domains_shop_idx on platform.domains (shop_id);

create table platform.admins (
    id uuid primary key,
    email text not null,
    password_hash text not null,
    created_at timestamptz not null default now()
);
create unique index admins_email_key on platform.admins (lower(email));

create table platform.audit_log (
    id uuid primary key,
    at timestamptz not null default now(),
    actor_kind text not null,
    actor_id uuid,
    actor_label text not null,
    action text not null,
    shop_id uuid,
    details jsonb not null default '{}'
);
create index audit_log_at_idx on platform.audit_log (at desc, id desc);
create index audit_log_shop_idx on platform.audit_log (shop_id, at desc);

-- Every instance caches tenant resolution; any change to a shop or a domain tells them all.
create function platform.notify_tenant_change() returns trigger language plpgsql as $$
begin
    perform pg_notify('shopfleet_tenants', coalesce(new.id, old.id)::text);
    return null;
end $$;

create trigger shops_notify after insert or update or delete on platform.shops
    for each row execute function platform.notify_tenant_change();

create function platform.notify_domain_change() returns trigger language plpgsql as $$
begin
    perform pg_notify('shopfleet_tenants', coalesce(new.shop_id, old.shop_id)::text);
    return null;
end $$;

create trigger domains_notify after insert or update or delete on platform.domains
    for each row execute function platform.notify_domain_change();
