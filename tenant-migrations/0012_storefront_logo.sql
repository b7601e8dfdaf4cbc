-- The shop's logo on its storefront: the object key of the image (`shops/<shop id>/storefront/
-- logo-<id>.<ext>`), or NULL for none. A replaced or removed logo's object is deleted through
-- the outbox (`media.deleted`).
alter table storefront_settings add column logo_key text;
