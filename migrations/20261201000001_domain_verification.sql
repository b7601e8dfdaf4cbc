-- Custom domains prove control by DNS before they route (README, "Custom domains"): a claim is
-- unverified until `_shopfleet.<hostname>` has the TXT record `shopfleet-verify=<token>`.
-- Several shops may claim one hostname; only one may hold it verified.
alter table platform.domains
    add column verification_token text,
    add column verified_at timestamptz,
    add column is_primary boolean not null default false,
    -- The background re-check (shop::verification): when it last ran, what it found wrong,
    -- and the current run of checks that found the record missing.
    add column last_checked_at timestamptz,
    add column last_check_error text,
    add column check_failures integer not null default 0,
    add column failing_since timestamptz;

-- Domains attached before verification existed routed at once: they stay verified, with a
-- token of their own, and are re-checked like any other (so they stop routing when their
-- record is still missing after the re-check's grace period).
update platform.domains
    set verification_token = replace(gen_random_uuid()::text, '-', ''), verified_at = created_at;
alter table platform.domains alter column verification_token set not null;

-- One verified holder per hostname: two verifications racing cannot both commit.
alter table platform.domains drop constraint domains_hostname_key;
create unique index domains_verified_hostname_key on platform.domains (hostname)
    where verified_at is not null;
create unique index domains_shop_hostname_key on platform.domains (shop_id, hostname);
create index domains_hostname_idx on platform.domains (hostname);

-- At most one primary domain per shop, and only a verified one.
create unique index domains_primary_key on platform.domains (shop_id) where is_primary;
alter table platform.domains add constraint domains_primary_verified
    check (not is_primary or verified_at is not null);

-- The re-check's queue: verified domains by the time of their last check.
create index domains_recheck_idx on platform.domains ((coalesce(last_checked_at, verified_at)))
    where verified_at is not null;

-- The tenant cache cares about which shop a hostname routes to and its primary domain, not about
-- check bookkeeping: an update notifies only when one of those changes, so that the re-check of
-- thousands of domains does not empty every instance's cache thousands of times.
drop trigger domains_notify on platform.domains;
create trigger domains_notify after insert or delete on platform.domains
    for each row execute function platform.notify_domain_change();
create trigger domains_notify_routing after update on platform.domains
    for each row
    when ((old.shop_id, old.hostname, old.verified_at is null, old.is_primary)
          is distinct from (new.shop_id, new.hostname, new.verified_at is null, new.is_primary))
    execute function platform.notify_domain_change();
