//! The storefront section of a shop's settings: the pages' language, accent colour,
//! announcement line, home page hero and featured category, and social links. Stored in the
//! shop's own schema (`storefront_settings`, one row), read by every storefront page in the
//! page's own transaction.

use std::collections::BTreeMap;

use poem_openapi::Object;
use poem_openapi::types::MaybeUndefined;
use sqlx::PgConnection;
use uuid::Uuid;

use crate::catalog;
use crate::error::{AppError, AppResult};
use crate::media::{self, image_type::ImageType};
use crate::storage::{ObjectKey, ObjectStore};
use crate::tenancy::{ShopId, Tenant, TenantTx};

/// Languages the storefront pages speak (a message file each in the theme).
pub const LOCALES: &[&str] = &["en", "vi"];
/// Networks a shop may link to, in the order the footer shows them.
pub const SOCIAL_NETWORKS: &[&str] = &["instagram", "facebook", "tiktok", "youtube", "x"];

#[derive(serde::Serialize, Debug, Clone, Object, sqlx::FromRow, serde::Deserialize)]
pub struct StorefrontSettings {
    /// Language of the pages: `en` or `vi`.
    pub locale: String,
    /// `#rrggbb`: buttons and links. The pages pick black or white text for it, and darken it
    /// where it is text on white, so that any colour stays readable.
    pub accent_color: String,
    /// A line shown at the top of every page; empty for none.
    pub announcement: String,
    /// The home page's headline; empty: the shop's name.
    pub hero_title: String,
    pub hero_text: String,
    /// The home page shows this category's products; null: the newest products.
    #[oai(nullable)]
    pub featured_category_id: Option<Uuid>,
    /// Network (`instagram`, `facebook`, `tiktok`, `youtube`, `x`) to an https URL.
    #[sqlx(json)]
    pub social_links: BTreeMap<String, String>,
    /// The logo's URL (`PUT /v1/admin/shop/storefront/logo`); null: the shop's name is shown.
    #[oai(nullable, default)]
    #[sqlx(skip)]
    pub logo_url: Option<String>,
    #[oai(skip)]
    pub logo_key: Option<String>,
}

/// A change; an omitted field keeps its value.
#[derive(Debug, Object)]
pub struct StorefrontSettingsUpdate {
    pub locale: Option<String>,
    pub accent_color: Option<String>,
    pub announcement: Option<String>,
    pub hero_title: Option<String>,
    pub hero_text: Option<String>,
    /// null clears it.
    pub featured_category_id: MaybeUndefined<Uuid>,
    /// Replaces the whole map; an empty map removes every link.
    pub social_links: Option<BTreeMap<String, String>>,
}

pub async fn load(conn: &mut PgConnection) -> AppResult<StorefrontSettings> {
    Ok(sqlx::query_as(
        "select locale, accent_color, announcement, hero_title, hero_text, featured_category_id, \
         social_links, logo_key from storefront_settings",
    )
    .fetch_one(conn)
    .await?)
}

/// Validates and applies `update` in the caller's transaction; returns the new settings.
pub async fn update(
    conn: &mut PgConnection,
    update: &StorefrontSettingsUpdate,
) -> AppResult<StorefrontSettings> {
    let locale = update.locale.as_deref().map(parse_locale).transpose()?;
    let accent = update.accent_color.as_deref().map(parse_color).transpose()?;
    let announcement =
        update.announcement.as_deref().map(|t| plain_text("announcement", t, 200)).transpose()?;
    let hero_title =
        update.hero_title.as_deref().map(|t| plain_text("hero_title", t, 120)).transpose()?;
    let hero_text =
        update.hero_text.as_deref().map(|t| plain_text("hero_text", t, 500)).transpose()?;
    let links = update.social_links.as_ref().map(parse_social_links).transpose()?;
    if let MaybeUndefined::Value(category) = update.featured_category_id {
        catalog::categories::ensure_exists(conn, category, "featured_category_id").await?;
    }
    let (set_featured, featured) = match update.featured_category_id {
        MaybeUndefined::Undefined => (false, None),
        MaybeUndefined::Null => (true, None),
        MaybeUndefined::Value(id) => (true, Some(id)),
    };
    sqlx::query(
        "update storefront_settings set locale = coalesce($1, locale), \
         accent_color = coalesce($2, accent_color), announcement = coalesce($3, announcement), \
         hero_title = coalesce($4, hero_title), hero_text = coalesce($5, hero_text), \
         featured_category_id = case when $6 then $7 else featured_category_id end, \
         social_links = coalesce($8, social_links), updated_at = now()",
    )
    .bind(locale)
    .bind(accent)
    .bind(announcement)
    .bind(hero_title)
    .bind(hero_text)
    .bind(set_featured)
    .bind(featured)
    .bind(links.map(sqlx::types::Json))
    .execute(&mut *conn)
    .await?;
    load(conn).await
}

/// Largest logo file (the request body limit is 1 MiB too).
pub const MAX_LOGO_BYTES: usize = 512 * 1024;

/// Replaces the logo with the image in `bytes` (JPEG, PNG, WebP, GIF or AVIF, recognised by its
/// content): stores the object, then records its key and the old logo's deletion in one
/// transaction. If that transaction fails, the new object is deleted again.
pub async fn set_logo(
    pool: &crate::tenancy::DbPool,
    store: &dyn ObjectStore,
    tenant: &Tenant,
    bytes: Vec<u8>,
) -> AppResult<()> {
    if bytes.len() > MAX_LOGO_BYTES {
        return Err(AppError::FileTooLarge { max_bytes: MAX_LOGO_BYTES as u64 });
    }
    let kind = ImageType::sniff(&bytes).ok_or_else(media::unsupported_type)?;
    let key = ObjectKey::new(
        tenant.id,
        &format!("storefront/logo-{}.{}", Uuid::now_v7().simple(), kind.extension()),
    )
    .map_err(|err| AppError::Internal(anyhow::anyhow!("logo key: {err}")))?;
    store.put(&key, bytes.into(), kind.mime()).await.map_err(AppError::Internal)?;
    let recorded = replace_logo(pool, tenant, Some(key.as_str())).await;
    if recorded.is_err()
        && let Err(err) = store.delete(&key).await
    {
        tracing::warn!(shop = %tenant.slug, key = key.as_str(), error = %err, "an unrecorded logo was left in the store");
    }
    recorded
}

/// Sets (or, with `None`, clears) the logo's key; the old logo's object goes to the outbox.
pub async fn replace_logo(
    pool: &crate::tenancy::DbPool,
    tenant: &Tenant,
    key: Option<&str>,
) -> AppResult<()> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let old: Option<String> =
        sqlx::query_scalar("select logo_key from storefront_settings for update")
            .fetch_one(&mut *tx)
            .await?;
    sqlx::query("update storefront_settings set logo_key = $1, updated_at = now()")
        .bind(key)
        .execute(&mut *tx)
        .await?;
    media::emit_deleted(&mut tx, tenant.id, old.into_iter().collect(), "logo replaced").await?;
    tx.commit().await?;
    Ok(())
}

/// The settings as shown: with the logo's URL (after the transaction: signing needs none).
pub async fn with_logo_url(
    mut settings: StorefrontSettings,
    store: &dyn ObjectStore,
    shop: ShopId,
) -> AppResult<StorefrontSettings> {
    settings.logo_url = match settings.logo_key.as_deref().map(|k| ObjectKey::parse(shop, k)) {
        Some(Ok(key)) => Some(store.get_url(&key, media::IMAGE_URL_TTL).await?),
        _ => None,
    };
    Ok(settings)
}

fn parse_locale(raw: &str) -> AppResult<String> {
    let locale = raw.trim().to_ascii_lowercase();
    if LOCALES.contains(&locale.as_str()) {
        Ok(locale)
    } else {
        Err(AppError::validation("locale", format!("must be one of {}", LOCALES.join(", "))))
    }
}

fn parse_color(raw: &str) -> AppResult<String> {
    let color = raw.trim().to_ascii_lowercase();
    let valid = color.len() == 7
        && color.starts_with('#')
        && color[1..].chars().all(|c| c.is_ascii_hexdigit());
    if valid {
        Ok(color)
    } else {
        Err(AppError::validation("accent_color", "must be a colour like #1f6feb"))
    }
}

/// Trimmed text of at most `max` characters, without control characters; may be empty.
fn plain_text(field: &str, raw: &str, max: usize) -> AppResult<String> {
    let text = raw.trim();
    if text.chars().count() > max {
        return Err(AppError::validation(field, format!("must be at most {max} characters")));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::validation(field, "must not contain control characters"));
    }
    Ok(text.to_owned())
}

fn parse_social_links(links: &BTreeMap<String, String>) -> AppResult<BTreeMap<String, String>> {
    if let Some(network) = links.keys().find(|k| !SOCIAL_NETWORKS.contains(&k.as_str())) {
        return Err(AppError::validation(
            format!("social_links.{network}"),
            format!("is not one of {}", SOCIAL_NETWORKS.join(", ")),
        ));
    }
    let mut out = BTreeMap::new();
    for (network, raw) in links {
        let field = format!("social_links.{network}");
        let parsed = url::Url::parse(raw.trim())
            .map_err(|_| AppError::validation(field.as_str(), "must be an https URL"))?;
        if parsed.scheme() != "https" || parsed.host_str().is_none() || raw.len() > 300 {
            return Err(AppError::validation(field, "must be an https URL of at most 300 bytes"));
        }
        out.insert(network.clone(), parsed.to_string());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_locales_and_links_are_checked() {
        assert_eq!(parse_color(" #1F6FEB ").unwrap(), "#1f6feb");
        for bad in ["1f6feb", "#1f6fe", "#1f6fegg", "red", "#12345g"] {
            assert!(parse_color(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_locale("VI").unwrap(), "vi");
        assert!(parse_locale("fr").is_err());
        let links = |pairs: &[(&str, &str)]| {
            pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
        };
        assert!(parse_social_links(&links(&[("instagram", "https://instagram.com/tina")])).is_ok());
        assert!(parse_social_links(&links(&[("instagram", "javascript:alert(1)")])).is_err());
        assert!(parse_social_links(&links(&[("instagram", "http://instagram.com/tina")])).is_err());
        assert!(parse_social_links(&links(&[("myspace", "https://myspace.com/tina")])).is_err());
    }
}
