-- Highest "compare at" price among a product's variants, kept with price_min/price_max so the
-- storefront list reads one row per product. Expand-only: code of version 2 ignores it.
alter table products add column compare_at_max bigint;

update products p set compare_at_max = (select max(v.compare_at_price) from variants v where v.product_id = p.id);
