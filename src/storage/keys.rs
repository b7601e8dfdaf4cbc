//! Object keys: every key is `shops/<shop id>/<segment>/…`, and [`ObjectKey::new`] is the one
//! function that makes one. It refuses anything that could escape the shop's prefix or a local
//! store's directory: `..` and `.`, empty segments (`a//b`, a leading or trailing `/`),
//! backslashes, control characters, and any character outside `[A-Za-z0-9._-]`.
//! [`ObjectKey::parse`] checks a stored key (from a row or an event) with the same rules and
//! refuses a key under another shop's prefix.

use std::fmt;

use crate::tenancy::ShopId;

/// Root of every shop's objects.
const ROOT: &str = "shops";
/// Keys longer than this are refused (S3 allows 1024 bytes).
const MAX_KEY_LEN: usize = 512;
const MAX_SEGMENT_LEN: usize = 128;

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("object key is empty or has an empty segment")]
    EmptySegment,
    #[error("object key has a `.` or `..` segment")]
    DotSegment,
    #[error("object key has a character that is not allowed: {0:?}")]
    BadCharacter(char),
    #[error("object key segment is too long")]
    TooLong,
    #[error("object key is not under this shop's prefix")]
    ForeignPrefix,
}

/// A validated key under one shop's prefix: `shops/<shop id>/<rest>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ObjectKey {
    shop: ShopId,
    full: String,
}

impl ObjectKey {
    /// The one way to build a key: `rest` (e.g. `products/<id>/<file>.png`) under `shop`'s
    /// prefix, every segment checked.
    pub fn new(shop: ShopId, rest: &str) -> Result<Self, KeyError> {
        check_relative(rest)?;
        let full = format!("{}{rest}", prefix_of(shop));
        if full.len() > MAX_KEY_LEN {
            return Err(KeyError::TooLong);
        }
        Ok(Self { shop, full })
    }

    /// Checks a full key read back from storage, a row or an event: it must be under `shop`'s
    /// prefix and pass the same checks as [`ObjectKey::new`].
    pub fn parse(shop: ShopId, full: &str) -> Result<Self, KeyError> {
        let rest = full.strip_prefix(&prefix_of(shop)).ok_or(KeyError::ForeignPrefix)?;
        Self::new(shop, rest)
    }

    /// Like [`ObjectKey::parse`] for a key whose shop is not known in advance (the local
    /// store's URL handler, where the signature is what binds the key): the shop id comes from
    /// the key itself.
    pub fn parse_any(full: &str) -> Result<Self, KeyError> {
        let rest = full
            .strip_prefix(ROOT)
            .and_then(|r| r.strip_prefix('/'))
            .ok_or(KeyError::ForeignPrefix)?;
        let (id, _) = rest.split_once('/').ok_or(KeyError::ForeignPrefix)?;
        let shop = id.parse().map(ShopId).map_err(|_| KeyError::ForeignPrefix)?;
        Self::parse(shop, full)
    }

    pub fn shop(&self) -> ShopId {
        self.shop
    }

    pub fn as_str(&self) -> &str {
        &self.full
    }

    /// The key's path segments, for a local store to join under its directory.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.full.split('/')
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.full)
    }
}

/// A prefix of keys of one shop: the whole shop (`shops/<id>/`) or a folder below it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrefix {
    shop: ShopId,
    full: String,
}

impl KeyPrefix {
    /// Everything a shop has stored.
    pub fn shop(shop: ShopId) -> Self {
        Self { shop, full: prefix_of(shop) }
    }

    /// A folder below the shop's prefix, e.g. `products/<id>`; checked like a key.
    pub fn folder(shop: ShopId, rest: &str) -> Result<Self, KeyError> {
        let key = ObjectKey::new(shop, rest)?;
        Ok(Self { shop, full: format!("{}/", key.full) })
    }

    pub fn shop_id(&self) -> ShopId {
        self.shop
    }

    /// Always ends with `/`, so `shops/<id>/` never matches another shop's keys.
    pub fn as_str(&self) -> &str {
        &self.full
    }

    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.full.trim_end_matches('/').split('/')
    }
}

fn prefix_of(shop: ShopId) -> String {
    format!("{ROOT}/{}/", shop.0)
}

fn check_relative(rest: &str) -> Result<(), KeyError> {
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Err(KeyError::EmptySegment);
        }
        if segment == "." || segment == ".." {
            return Err(KeyError::DotSegment);
        }
        if segment.len() > MAX_SEGMENT_LEN {
            return Err(KeyError::TooLong);
        }
        if let Some(bad) =
            segment.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(KeyError::BadCharacter(bad));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;

    fn shop() -> ShopId {
        ShopId(Uuid::now_v7())
    }

    #[test]
    fn a_key_is_under_the_shops_prefix() {
        let shop = shop();
        let key = ObjectKey::new(shop, "products/p1/m1.png").unwrap();
        assert_eq!(key.as_str(), format!("shops/{}/products/p1/m1.png", shop.0));
        assert_eq!(ObjectKey::parse(shop, key.as_str()).unwrap(), key);
        assert_eq!(ObjectKey::parse_any(key.as_str()).unwrap(), key);
        assert_eq!(KeyPrefix::shop(shop).as_str(), format!("shops/{}/", shop.0));
    }

    #[test]
    fn traversal_and_odd_characters_are_refused() {
        let shop = shop();
        for (bad, why) in [
            ("", KeyError::EmptySegment),
            ("/etc/passwd", KeyError::EmptySegment),
            ("a//b", KeyError::EmptySegment),
            ("a/", KeyError::EmptySegment),
            ("../x", KeyError::DotSegment),
            ("a/../../b", KeyError::DotSegment),
            ("a/./b", KeyError::DotSegment),
            ("a\\..\\b", KeyError::BadCharacter('\\')),
            ("a\nb", KeyError::BadCharacter('\n')),
            ("a\0b", KeyError::BadCharacter('\0')),
            ("a b", KeyError::BadCharacter(' ')),
            ("caf\u{e9}", KeyError::BadCharacter('\u{e9}')),
            ("a?b", KeyError::BadCharacter('?')),
            ("a%2e%2e", KeyError::BadCharacter('%')),
        ] {
            assert_eq!(ObjectKey::new(shop, bad), Err(why), "{bad:?}");
        }
        assert_eq!(ObjectKey::new(shop, &"x".repeat(200)), Err(KeyError::TooLong));
        assert!(KeyPrefix::folder(shop, "products/../..").is_err());
    }

    #[test]
    fn a_key_of_another_shop_is_refused() {
        let (a, b) = (shop(), shop());
        let key_of_b = ObjectKey::new(b, "products/p/m.png").unwrap();
        assert_eq!(ObjectKey::parse(a, key_of_b.as_str()), Err(KeyError::ForeignPrefix));
        // A prefix trick: shop a's id followed by more characters is not shop a.
        let sneaky = format!("shops/{}x/products/m.png", a.0);
        assert_eq!(ObjectKey::parse(a, &sneaky), Err(KeyError::ForeignPrefix));
        assert!(ObjectKey::parse_any(&sneaky).is_err());
        assert_eq!(
            ObjectKey::parse(a, &format!("shops/{}/../{}/m.png", a.0, b.0)),
            Err(KeyError::DotSegment)
        );
        assert!(ObjectKey::parse_any("other/thing.png").is_err());
        assert!(ObjectKey::parse_any("shops/not-a-uuid/x.png").is_err());
    }
}
