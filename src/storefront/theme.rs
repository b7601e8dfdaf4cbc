//! The theme: templates, message files and static assets, embedded in the binary from
//! `themes/default/` (read from disk in debug builds, so a template edit needs no rebuild).
//!
//! - Templates are minijinja (Jinja2 syntax), auto-escaped for `.html` and `.xml`: everything a
//!   user typed reaches the page as text. minijinja rather than askama: the templates stay
//!   data loaded at start-up, so a later per-shop theme is another folder (or another
//!   shop's uploaded set), not another build; every template is rendered by the tests, which
//!   is where askama's compile-time checks would have helped.
//! - Messages: `locales/<locale>.toml`, nested tables flattened to dotted keys
//!   (`cart.title`). Templates call `t("cart.title", count=2)`; `{count}` is replaced. A key
//!   missing in one language falls back to English; the tests require every file to have
//!   every key.
//! - Assets: `assets/*` served under `/assets/<name>.<content hash>.<ext>` with a year-long
//!   immutable cache; templates call `asset("site.css")` for the current URL.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use minijinja::value::Kwargs;
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior, Value};
use sha2::{Digest, Sha256};

use super::money;

#[derive(rust_embed::Embed)]
#[folder = "themes/default/"]
struct DefaultTheme;

/// The language used when a message is missing in the page's language.
pub const FALLBACK_LOCALE: &str = "en";

/// A static file of the theme.
pub struct Asset {
    pub bytes: Cow<'static, [u8]>,
    pub content_type: &'static str,
}

type Messages = HashMap<String, HashMap<String, String>>;

pub struct Theme {
    env: Environment<'static>,
    /// By URL path (`/assets/site.1a2b3c4d5e.css`).
    assets: HashMap<String, Asset>,
}

impl Theme {
    /// Loads the default theme; fails on a template that does not parse or a message file
    /// that is not TOML.
    pub fn load() -> anyhow::Result<Arc<Self>> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
        let mut messages: Messages = HashMap::new();
        let mut assets = HashMap::new();
        let mut asset_urls = HashMap::new();
        for path in DefaultTheme::iter() {
            let Some(file) = DefaultTheme::get(&path) else { continue };
            if let Some(name) = path.strip_prefix("templates/") {
                let source = String::from_utf8(file.data.into_owned())?;
                env.add_template_owned(name.to_owned(), source)?;
            } else if let Some(name) = path.strip_prefix("locales/") {
                let locale = name.trim_end_matches(".toml").to_owned();
                let table: toml::Table = toml::from_str(std::str::from_utf8(&file.data)?)
                    .map_err(|err| anyhow::anyhow!("{path}: {err}"))?;
                let mut flat = HashMap::new();
                flatten("", &table, &mut flat);
                messages.insert(locale, flat);
            } else if let Some(name) = path.strip_prefix("assets/") {
                let hash = hex::encode(&Sha256::digest(&file.data)[..5]);
                let url = match name.rsplit_once('.') {
                    Some((stem, ext)) => format!("/assets/{stem}.{hash}.{ext}"),
                    None => format!("/assets/{name}.{hash}"),
                };
                asset_urls.insert(name.to_owned(), url.clone());
                assets.insert(url, Asset { bytes: file.data, content_type: content_type(name) });
            }
        }
        let messages = Arc::new(messages);
        env.add_function("t", move |state: &State, key: &str, args: Kwargs| {
            translate(&messages, state, key, &args)
        });
        env.add_function("asset", move |name: &str| {
            asset_urls.get(name).cloned().ok_or_else(|| {
                Error::new(ErrorKind::InvalidOperation, format!("no asset {name} in the theme"))
            })
        });
        env.add_filter("money", |state: &State, amount: i64| {
            let currency = state.lookup("currency");
            money::format(amount, currency.as_ref().and_then(Value::as_str).unwrap_or("USD"))
        });
        Ok(Arc::new(Self { env, assets }))
    }

    pub fn render(&self, template: &str, context: Value) -> Result<String, Error> {
        self.env.get_template(template)?.render(context)
    }

    pub fn asset(&self, path: &str) -> Option<&Asset> {
        self.assets.get(path)
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut HashMap<String, String>) {
    for (key, value) in table {
        let key = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            toml::Value::Table(inner) => flatten(&key, inner, out),
            toml::Value::String(text) => {
                out.insert(key, text.clone());
            }
            other => {
                out.insert(key, other.to_string());
            }
        }
    }
}

/// `t(key, name=value…)`: the message in the page's `locale`, with `{name}` replaced.
fn translate(
    messages: &Messages,
    state: &State,
    key: &str,
    args: &Kwargs,
) -> Result<String, Error> {
    let locale = state.lookup("locale");
    let locale = locale.as_ref().and_then(Value::as_str).unwrap_or(FALLBACK_LOCALE);
    let text = messages
        .get(locale)
        .and_then(|m| m.get(key))
        .or_else(|| messages.get(FALLBACK_LOCALE).and_then(|m| m.get(key)))
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, format!("no message {key}")))?;
    let mut out = text.clone();
    for name in args.args() {
        let value: Value = args.get(name)?;
        out = out.replace(&format!("{{{name}}}"), &value.to_string());
    }
    Ok(out)
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(locale: &str) -> std::collections::BTreeSet<String> {
        let file = DefaultTheme::get(&format!("locales/{locale}.toml")).expect("message file");
        let table: toml::Table = toml::from_str(std::str::from_utf8(&file.data).unwrap()).unwrap();
        let mut flat = HashMap::new();
        flatten("", &table, &mut flat);
        flat.into_keys().collect()
    }

    #[test]
    fn every_language_has_every_message() {
        let english = keys("en");
        for locale in crate::shop::storefront_settings::LOCALES {
            let other = keys(locale);
            let missing: Vec<_> = english.difference(&other).collect();
            let extra: Vec<_> = other.difference(&english).collect();
            assert!(missing.is_empty() && extra.is_empty(), "{locale}: {missing:?} {extra:?}");
        }
    }

    #[test]
    fn the_theme_loads_and_assets_get_content_hashed_urls() {
        let theme = Theme::load().unwrap();
        let css = theme
            .assets
            .keys()
            .find(|url| url.starts_with("/assets/site.") && url.ends_with(".css"))
            .expect("site.css");
        assert_eq!(css.len(), "/assets/site..css".len() + 10, "{css}");
    }
}
