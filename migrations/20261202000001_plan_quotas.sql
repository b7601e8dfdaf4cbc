-- Plan quotas (README, "Plans and quotas"; `src/quotas.rs`): besides products and staff, a plan
-- limits webhook endpoints, custom domains (claims included) and the bytes of stored product
-- images. A null limit is unlimited. Limits are checked where things are created; a shop moved
-- to a plan below its current usage keeps what it has but cannot create more.
alter table platform.plans
    add column max_webhook_endpoints integer check (max_webhook_endpoints >= 0),
    add column max_custom_domains integer check (max_custom_domains >= 0),
    add column max_storage_bytes bigint check (max_storage_bytes >= 0);

-- Webhook endpoints stay bounded on every plan (20 was the fixed limit before plans had one):
-- each event reads the subscribed endpoints inside the change's transaction. Custom domains
-- likewise (10 was the fixed limit).
update platform.plans set max_webhook_endpoints = 2, max_custom_domains = 1,
    max_storage_bytes = 104857600 where code = 'free';            -- 100 MiB
update platform.plans set max_webhook_endpoints = 10, max_custom_domains = 3,
    max_storage_bytes = 10737418240 where code = 'basic';         -- 10 GiB
update platform.plans set max_webhook_endpoints = 20, max_custom_domains = 10,
    max_storage_bytes = null where code = 'pro';
