-- PostgreSQL full-text search of one shop (the default engine when MeiliSearch is not set up).
-- `search_vector` is rebuilt by the transaction that writes the product, so a change is
-- searchable at commit. Words are accent-folded and lowercased, without stemming (shops write
-- in many languages): name weighs A; SKUs, option values and category names B; description C.
alter table products add column search_vector tsvector not null default ''::tsvector;
create index products_search_idx on products using gin (search_vector);
-- The same filter keys as the MeiliSearch documents (so both engines filter alike): the
-- product's category slugs with all their ancestors, and `option=value` pairs (option name
-- lowercased) of all variants and of variants in stock.
alter table products add column category_slugs text[] not null default '{}';
alter table products add column option_pairs text[] not null default '{}';
alter table products add column in_stock_option_pairs text[] not null default '{}';
create index products_category_slugs_idx on products using gin (category_slugs);
create index products_option_pairs_idx on products using gin (option_pairs);

-- Every word seen in the catalog, for typo tolerance: a query word that matches nothing is
-- replaced by the lexicon's words within its edit distance.
create table search_terms (
    term text primary key
);
create index search_terms_trgm_idx on search_terms using gin (term extensions.gin_trgm_ops);

-- Shop-specific synonyms: a query word `term` also matches each of `synonyms`.
create table search_synonyms (
    term text primary key,
    synonyms text[] not null
);
