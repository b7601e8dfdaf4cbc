-- Accounts and access of one shop: staff, customers, refresh tokens, RBAC rules.
-- Runs with search_path = the shop's schema and role = the shop's role: never name a schema.

create table staff (
    id uuid primary key,
    email text not null,
    name text not null default '',
    password_hash text not null,
    is_owner boolean not null default false,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create unique index staff_email_key on staff (lower(email));
-- Exactly one owner per shop.
create unique index staff_one_owner on staff (is_owner) where is_owner;

create table customers (
    id uuid primary key,
    email text not null,
    password_hash text not null,
    first_name text not null default '',
    last_name text not null default '',
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);
create unique index customers_email_key on customers (lower(email));

create table refresh_tokens (
    id uuid primary key,
    family_id uuid not null,
    subject_kind text not null check (subject_kind in ('staff', 'customer')),
    subject_id uuid not null,
    token_hash bytea not null unique,
    expires_at timestamptz not null,
    used_at timestamptz,
    revoked_at timestamptz,
    created_at timestamptz not null default now()
);
create index refresh_tokens_family_idx on refresh_tokens (family_id);

-- Roles are named sets of permissions; their rules live in casbin_rules.
create table roles (
    name text primary key,
    description text not null default '',
    builtin boolean not null default false,
    created_at timestamptz not null default now()
);

-- casbin policy lines of this shop: p = (role, shop id, object, action), g = (staff id, role, shop id).
create table casbin_rules (
    id bigserial primary key,
    ptype text not null,
    v0 text not null,
    v1 text not null,
    v2 text not null,
    v3 text not null default '',
    unique (ptype, v0, v1, v2, v3)
);
