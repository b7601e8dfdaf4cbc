//! Shop slugs: the subdomain and the root of the schema name, so they are validated strictly.

/// Names that would clash with platform hosts or paths.
const RESERVED: &[&str] = &[
    "www",
    "api",
    "admin",
    "platform",
    "static",
    "assets",
    "cdn",
    "mail",
    "app",
    "apps",
    "docs",
    "status",
    "help",
    "support",
    "billing",
    "dashboard",
    "login",
    "signup",
    "auth",
    "shop",
    "shops",
    "store",
    "public",
    "pg",
    "postgres",
    "root",
    "system",
    "test",
    "demo-admin",
];

/// A validated shop slug: `^[a-z][a-z0-9-]{2,39}$`, no trailing or doubled `-`, not reserved.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value = raw.trim();
        let len = value.len();
        if !(3..=40).contains(&len) {
            return Err("must be 3 to 40 characters".into());
        }
        let mut chars = value.chars();
        if !chars.next().is_some_and(|c| c.is_ascii_lowercase()) {
            return Err("must start with a lowercase letter".into());
        }
        if !value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
            return Err("may contain only lowercase letters, digits and '-'".into());
        }
        if value.ends_with('-') || value.contains("--") {
            return Err("must not end with '-' or contain '--'".into());
        }
        if RESERVED.contains(&value) {
            return Err(format!("'{value}' is reserved"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::Slug;

    #[test]
    fn accepts_ordinary_slugs() {
        for ok in ["tinashop", "micocah", "abc", "shop-42", "a1b2c3"] {
            assert_eq!(Slug::parse(ok).map(|s| s.as_str().to_owned()), Ok(ok.to_owned()));
        }
    }

    #[test]
    fn refuses_bad_and_reserved_slugs() {
        for bad in [
            "",
            "ab",
            "1shop",
            "Shop",
            "shop_x",
            "shop-",
            "a--b",
            "www",
            "admin",
            "platform",
            "shop; drop",
            "sh\"op",
            &"a".repeat(41),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
