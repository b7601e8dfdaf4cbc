-- Cached storefront reads (src/cache): every change to a table that storefronts read notifies
-- every instance when its transaction commits (`NOTIFY shopfleet_cache, '<shop id>'`), whatever
-- code made it, and each instance then moves the shop to a new cache generation. The shop id is
-- the transaction's own (`shopfleet.tenant_id`, set by TenantTx); outside a shop transaction
-- (a migration) the payload is empty and ignored. Notifications of one transaction with the
-- same payload are delivered once.
--
-- Storefronts show whether a product is in stock, not how many units: an update of products or
-- variants that only moves stock without crossing zero (most sales) notifies nobody, so a busy
-- shop's sales do not empty its cache.
create function notify_storefront_change() returns trigger
language plpgsql as $$
begin
  perform pg_notify('shopfleet_cache', coalesce(current_setting('shopfleet.tenant_id', true), ''));
  return null;
end
$$;

create trigger storefront_change after insert or update or delete or truncate on categories
  for each statement execute function notify_storefront_change();
create trigger storefront_change after insert or delete or truncate on products
  for each statement execute function notify_storefront_change();
create trigger storefront_change_update after update on products for each row
  when ((old.total_stock > 0) is distinct from (new.total_stock > 0)
        or to_jsonb(old) - 'total_stock' - 'updated_at' is distinct from
           to_jsonb(new) - 'total_stock' - 'updated_at')
  execute function notify_storefront_change();
create trigger storefront_change after insert or delete or truncate on variants
  for each statement execute function notify_storefront_change();
create trigger storefront_change_update after update on variants for each row
  when ((old.stock > 0) is distinct from (new.stock > 0)
        or to_jsonb(old) - 'stock' - 'updated_at' is distinct from
           to_jsonb(new) - 'stock' - 'updated_at')
  execute function notify_storefront_change();
create trigger storefront_change after insert or update or delete or truncate on product_categories
  for each statement execute function notify_storefront_change();
create trigger storefront_change after insert or update or delete or truncate on media
  for each statement execute function notify_storefront_change();
create trigger storefront_change after insert or update or delete or truncate on search_terms
  for each statement execute function notify_storefront_change();
create trigger storefront_change after insert or update or delete or truncate on search_synonyms
  for each statement execute function notify_storefront_change();
create trigger storefront_change after insert or update or delete or truncate on storefront_settings
  for each statement execute function notify_storefront_change();
