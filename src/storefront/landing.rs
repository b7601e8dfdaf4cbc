//! The platform host's landing page (`/` on `BASE_DOMAIN`): what shopfleet is, and a "Create
//! your shop" form (`POST /signup`) that runs the same provisioning as `POST /v1/signup`. A
//! refusal shows the form again with the reason next to the field; success shows the new
//! shop's address and what to do next.

use minijinja::{Value, context};
use poem::Response;
use poem::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::theme::Theme;
use crate::error::AppError;
use crate::signup::{SignupRequest, create_shop};
use crate::state::AppState;
use crate::tenancy::ShopId;

/// The "shop" the platform host's CSRF tokens are bound to.
pub const PLATFORM: ShopId = ShopId(uuid::Uuid::nil());

/// The form as typed (the password is never shown again).
#[derive(Debug, Deserialize, Serialize)]
pub struct ShopForm {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    name: String,
    #[serde(default = "usd")]
    currency: String,
    #[serde(default)]
    owner_email: String,
    #[serde(default, skip_serializing)]
    owner_password: String,
}

fn usd() -> String {
    "USD".to_owned()
}

impl Default for ShopForm {
    fn default() -> Self {
        Self {
            slug: String::new(),
            name: String::new(),
            currency: usd(),
            owner_email: String::new(),
            owner_password: String::new(),
        }
    }
}

/// One request to the landing page: what every rendering needs.
pub struct Landing<'a> {
    pub state: &'a AppState,
    pub theme: &'a Theme,
    pub csrf: &'a str,
    pub nonce: &'a str,
}

impl Landing<'_> {
    /// `GET /`.
    pub fn page(&self) -> Response {
        self.render(&ShopForm::default(), None, StatusCode::OK, Value::UNDEFINED)
    }

    /// `POST /signup`: creates the shop, or shows the form again with the refusal.
    pub async fn signup(&self, form: ShopForm) -> Response {
        let request = SignupRequest {
            slug: form.slug.trim().to_ascii_lowercase(),
            name: form.name.clone(),
            currency: form.currency.clone(),
            owner_email: form.owner_email.clone(),
            owner_password: form.owner_password.clone(),
            owner_name: String::new(),
        };
        match create_shop(self.state, request).await {
            Ok((shop, _)) => {
                let created = context! {
                    name => shop.tenant.name,
                    url => self.state.shop_url(&shop.tenant.slug),
                    api => self.state.config.url_of_host(&self.state.config.base_domain),
                };
                self.render(&form, None, StatusCode::CREATED, created)
            }
            Err(err) => {
                let status = err.status();
                if status.is_server_error() {
                    tracing::error!(error = %err, "sign-up page failed");
                }
                self.render(&form, Some(&err), status, Value::UNDEFINED)
            }
        }
    }

    fn render(
        &self,
        form: &ShopForm,
        error: Option<&AppError>,
        status: StatusCode,
        created: Value,
    ) -> Response {
        let (field, detail) = match error {
            Some(err) if !status.is_server_error() => {
                let body = err.body().error;
                (body.field, Some(body.message))
            }
            Some(_) => (None, Some("the shop could not be created; please try again".to_owned())),
            None => (None, None),
        };
        let data = context! {
            locale => "en",
            nonce => self.nonce,
            csrf => self.csrf,
            form => Value::from_serialize(form),
            error_field => field,
            error_detail => detail,
            created => created,
        };
        match self.theme.render("landing.html", data) {
            Ok(html) => super::html(status, html),
            Err(err) => {
                tracing::error!(error = %format!("{err:#}"), "landing page failed");
                super::html(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "<!doctype html><title>Error</title><p>Something went wrong.</p>".to_owned(),
                )
            }
        }
    }
}
