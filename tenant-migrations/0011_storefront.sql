-- How the shop's storefront pages look and speak (`shop::storefront_settings`). One row.
create table storefront_settings (
    singleton boolean primary key default true check (singleton),
    -- Language of the pages: a message file of the theme (`themes/<theme>/locales/<locale>.toml`).
    locale text not null default 'en' check (locale in ('en', 'vi')),
    -- Buttons and links; the pages choose a readable text colour for it.
    accent_color text not null default '#1f6feb' check (accent_color ~ '^#[0-9a-f]{6}$'),
    -- A line shown above every page (free shipping, opening hours…); empty for none.
    announcement text not null default '' check (length(announcement) <= 200),
    hero_title text not null default '' check (length(hero_title) <= 120),
    hero_text text not null default '' check (length(hero_text) <= 500),
    -- The home page shows this category's products first; NULL: the newest products.
    featured_category_id uuid references categories (id) on delete set null,
    -- Network name (`instagram`, `facebook`, …) to an https URL.
    social_links jsonb not null default '{}'::jsonb check (jsonb_typeof(social_links) = 'object'),
    updated_at timestamptz not null default now()
);
insert into storefront_settings default values;
