-- Extensions used by PostgreSQL full-text search in every shop schema: trigram similarity
-- (typo candidates) and accent folding ("ao thun" finds "Áo Thun"). Both are trusted
-- extensions, so the database owner may create them. They live in their own schema, which
-- every role may use (shop roles have no rights on `platform`), and are always called
-- schema-qualified.
create schema if not exists extensions;
grant usage on schema extensions to public;
create extension if not exists pg_trgm with schema extensions;
create extension if not exists unaccent with schema extensions;
