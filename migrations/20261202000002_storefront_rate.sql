-- Each plan's storefront budget (pages and /v1/store), apart from the admin API's
-- `requests_per_minute`: shoppers browse more than staff administer. Read by `limits`.
alter table platform.plans
    add column storefront_requests_per_minute integer not null default 1200
        check (storefront_requests_per_minute > 0);

update platform.plans set storefront_requests_per_minute = case code
    when 'free' then 1200
    when 'basic' then 6000
    when 'pro' then 24000
    else storefront_requests_per_minute
end;
