//! Small validated values parsed at the edge (parse, don't validate): e-mail addresses,
//! currency and country codes, display names, URL slugs, and the cursor of paginated lists.
//! Each parsed value is a newtype ([`Email`], [`Currency`], [`Country`], [`Name`],
//! [`UrlSlug`]): holding one is the proof it was checked.
//!
//! Rule: a handler parses request fields into these once; code inside trusts them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// A syntactically valid e-mail address, trimmed; compared case-insensitively in SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let value = raw.trim();
        if value.len() > 254
            || !email_address::EmailAddress::is_valid(value)
            || !value.contains('.')
        {
            return Err(AppError::validation(field, "is not a valid e-mail address"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A validated string value: derefs to `str`, binds and serializes as its text.
macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, sqlx::Type)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }
    };
}

string_value!(
    /// An ISO 4217 currency code, e.g. `USD`, `VND`.
    Currency
);

impl Currency {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let code = raw.trim().to_ascii_uppercase();
        iso_currency::Currency::from_code(&code)
            .map(|c| Self(c.code().to_owned()))
            .ok_or_else(|| AppError::validation(field, "is not an ISO 4217 currency code"))
    }
}

/// Officially assigned ISO 3166-1 alpha-2 codes (249), plus `XK` (Kosovo), which carriers and
/// payment providers use although ISO has not assigned it.
const COUNTRY_CODES: &str = "\
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR \
    BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ \
    EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW \
    GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY \
    KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV \
    MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY \
    QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG \
    TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA \
    ZM ZW";

string_value!(
    /// An ISO 3166-1 alpha-2 country code, trimmed and upper-cased: ` vn` → `VN`. Codes that
    /// are not assigned (`XX`, `UK`) are refused, not just malformed ones.
    Country
);

impl Country {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let code = raw.trim().to_ascii_uppercase();
        let known = code.len() == 2
            && code.bytes().all(|b| b.is_ascii_uppercase())
            && COUNTRY_CODES.split_ascii_whitespace().any(|c| c == code);
        if known {
            Ok(Self(code))
        } else {
            Err(AppError::validation(field, "is not an ISO 3166-1 alpha-2 country code"))
        }
    }
}

string_value!(
    /// A trimmed, non-empty display text without control characters (a name, a title).
    Name
);

impl Name {
    /// `raw`, trimmed, if it is non-empty and at most `max` characters.
    pub fn parse(field: &str, raw: &str, max: usize) -> Result<Self, AppError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(AppError::validation(field, "must not be empty"));
        }
        if value.chars().count() > max {
            return Err(AppError::validation(field, format!("must be at most {max} characters")));
        }
        if value.chars().any(char::is_control) {
            return Err(AppError::validation(field, "must not contain control characters"));
        }
        Ok(Self(value.to_owned()))
    }
}

string_value!(
    /// A URL slug for products and categories: lowercase letters, digits and single `-`.
    UrlSlug
);

impl UrlSlug {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let value = raw.trim();
        let valid = (1..=120).contains(&value.len())
            && value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !value.starts_with('-')
            && !value.ends_with('-')
            && !value.contains("--");
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(AppError::validation(
                field,
                "may contain only lowercase letters, digits and single '-'",
            ))
        }
    }
}

/// Makes a URL slug from a name: "Áo Thun Cổ Tròn!" → "ao-thun-co-tron".
pub fn slugify(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars().flat_map(fold_accent) {
        if c.is_ascii_alphanumeric() {
            slug.push(c.to_ascii_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug: String = slug.chars().take(100).collect();
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() { "item".to_owned() } else { slug }
}

/// Folds common Latin accents (including Vietnamese) to ASCII for slugs.
fn fold_accent(c: char) -> Option<char> {
    const GROUPS: &[(&str, char)] = &[
        ("àáâãäåāăąạảấầẩẫậắằẳẵặ", 'a'),
        ("ÀÁÂÃÄÅĀĂĄẠẢẤẦẨẪẬẮẰẲẴẶ", 'a'),
        ("èéêëēĕėęěẹẻẽếềểễệ", 'e'),
        ("ÈÉÊËĒĔĖĘĚẸẺẼẾỀỂỄỆ", 'e'),
        ("ìíîïĩīĭįıỉị", 'i'),
        ("ÌÍÎÏĨĪĬĮİỈỊ", 'i'),
        ("òóôõöøōŏőơọỏốồổỗộớờởỡợ", 'o'),
        ("ÒÓÔÕÖØŌŎŐƠỌỎỐỒỔỖỘỚỜỞỠỢ", 'o'),
        ("ùúûüũūŭůűųưụủứừửữự", 'u'),
        ("ÙÚÛÜŨŪŬŮŰŲƯỤỦỨỪỬỮỰ", 'u'),
        ("ýÿỳỵỷỹ", 'y'),
        ("ÝŸỲỴỶỸ", 'y'),
        ("đð", 'd'),
        ("ĐÐ", 'd'),
        ("çćĉċč", 'c'),
        ("ÇĆĈĊČ", 'c'),
        ("ñńņňŉ", 'n'),
        ("ÑŃŅŇ", 'n'),
        ("śŝşš", 's'),
        ("ŚŜŞŠ", 's'),
        ("źżž", 'z'),
        ("ŹŻŽ", 'z'),
        ("ß", 's'),
    ];
    if c.is_ascii() {
        return Some(c);
    }
    GROUPS.iter().find(|(group, _)| group.contains(c)).map(|(_, ascii)| *ascii).or(Some(' '))
}

/// Page size of a list: default 20, at most 100.
pub fn page_limit(raw: Option<u32>) -> Result<i64, AppError> {
    match raw {
        None => Ok(20),
        Some(n @ 1..=100) => Ok(i64::from(n)),
        Some(_) => Err(AppError::validation("limit", "must be between 1 and 100")),
    }
}

/// An instant a client sent (a filter bound, a validity window), checked to lie in years
/// 0001–9999: what RFC 3339 (the API's `date-time`) can write, and well inside PostgreSQL's
/// `timestamptz` range, which chrono's wider range would otherwise overflow (422 naming
/// `field`, never a database error).
pub fn client_timestamp(
    field: &str,
    at: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, AppError> {
    use chrono::Datelike;
    match at {
        Some(at) if !(1..=9999).contains(&at.year()) => {
            Err(AppError::validation(field, "must be between the years 0001 and 9999"))
        }
        at => Ok(at),
    }
}

/// Opaque cursors: the sort key of the last item seen, as URL-safe base64 JSON.
pub fn encode_cursor<T: Serialize>(key: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(key).unwrap_or_default())
}

pub fn decode_cursor<T: DeserializeOwned>(raw: &str) -> Result<T, AppError> {
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        // Text PostgreSQL cannot store was never in a cursor this API gave out.
        .filter(|value| crate::client_text::first_nul(value).is_none())
        .and_then(|value| serde_json::from_value(value).ok())
        .ok_or_else(|| {
            AppError::bad_request("invalid_cursor", "the cursor is not one this API gave out")
        })
}

/// Escapes `%`, `_` and `\` for a LIKE pattern.
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
}

/// Trims a page fetched with `limit + 1` rows and returns the last item kept if there is more.
pub fn next_page<T>(items: &mut Vec<T>, limit: i64) -> Option<&T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if items.len() > limit {
        items.truncate(limit);
        items.last()
    } else {
        None
    }
}

/// A bearer secret handed to a client once (cart and order tokens): `<prefix>_` and 32 random
/// bytes in URL-safe base64. Only [`secret_token_hash`] of it is stored.
pub fn new_secret_token(prefix: &str) -> String {
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    format!("{prefix}_{}", URL_SAFE_NO_PAD.encode(raw))
}

pub fn secret_token_hash(token: &str) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(token.trim().as_bytes()).to_vec()
}

/// Most levels of a shop's category tree (top-level categories are level 1).
pub const MAX_CATEGORY_DEPTH: i32 = 20;

/// Stores an enum with `as_str(self) -> &'static str` and `parse(&str) -> Option<Self>` as
/// PostgreSQL `text`: bound by its name, and read back strictly, so a value no variant has is a
/// decode error, never a silent default.
macro_rules! text_enum {
    ($ty:ty) => {
        impl sqlx::Type<sqlx::Postgres> for $ty {
            fn type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::Type<sqlx::Postgres>>::type_info()
            }

            fn compatible(ty: &sqlx::postgres::PgTypeInfo) -> bool {
                <&str as sqlx::Type<sqlx::Postgres>>::compatible(ty)
            }
        }

        impl sqlx::Encode<'_, sqlx::Postgres> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut sqlx::postgres::PgArgumentBuffer,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<sqlx::Postgres>>::encode_by_ref(&self.as_str(), buf)
            }
        }

        impl sqlx::Decode<'_, sqlx::Postgres> for $ty {
            fn decode(
                value: sqlx::postgres::PgValueRef<'_>,
            ) -> Result<Self, sqlx::error::BoxDynError> {
                let name = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
                <$ty>::parse(name).ok_or_else(|| {
                    format!("unknown {} {name:?} in the database", stringify!($ty)).into()
                })
            }
        }

        impl sqlx::postgres::PgHasArrayType for $ty {
            fn array_type_info() -> sqlx::postgres::PgTypeInfo {
                <&str as sqlx::postgres::PgHasArrayType>::array_type_info()
            }
        }
    };
}
pub(crate) use text_enum;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugify_makes_readable_ascii_slugs() {
        assert_eq!(slugify("Áo Thun Cổ Tròn!"), "ao-thun-co-tron");
        assert_eq!(slugify("  Linen  Shirt -- Blue "), "linen-shirt-blue");
        assert_eq!(slugify("¡¡¡"), "item");
        assert!(UrlSlug::parse("s", &slugify(&"x y ".repeat(80))).is_ok());
    }

    #[test]
    fn parses_emails_and_currencies() {
        assert!(Email::parse("email", " tina@example.com ").is_ok());
        assert!(Email::parse("email", "tina@localhost").is_err());
        assert!(Email::parse("email", "not-an-email").is_err());
        assert_eq!(Currency::parse("currency", "vnd").unwrap(), "VND");
        assert!(Currency::parse("currency", "XXY").is_err());
    }

    #[test]
    fn parses_country_codes() {
        assert_eq!(COUNTRY_CODES.split_ascii_whitespace().count(), 250);
        assert_eq!(Country::parse("country", " vn ").unwrap(), "VN");
        assert_eq!(Country::parse("country", "GB").unwrap(), "GB");
        for bad in ["", "V", "VNM", "UK", "XX", "1A", "ÉÉ"] {
            assert!(Country::parse("country", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = encode_cursor(&(42_i64, "abc"));
        assert_eq!(decode_cursor::<(i64, String)>(&cursor).unwrap(), (42, "abc".to_owned()));
        assert!(decode_cursor::<(i64, String)>("%%%").is_err());
    }

    #[test]
    fn page_limit_is_bounded() {
        assert_eq!(page_limit(None).unwrap(), 20);
        assert_eq!(page_limit(Some(100)).unwrap(), 100);
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(101)).is_err());
    }
}
