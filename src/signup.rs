//! `POST /v1/signup`: a shop owner creates a shop and gets signed in to it.
//!
//! The password is hashed before the provisioning transaction opens, so the transaction holds
//! its locks only for the database work. The response's `Server-Timing` header reports the
//! database part (`provision`) and password hashing (`hash`) separately.

use std::time::Instant;

use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use crate::auth::password;
use crate::auth::tokens::{TokenKind, TokenPair, issue_pair};
use crate::error::{AppError, AppResult};
use crate::error_responses;
use crate::platform::provisioning::{NewShop, ProvisionedShop, provision};
use crate::state::AppState;
use crate::telemetry::metrics;
use crate::tenancy::{ShopId, Slug, TenantTx, migrate};
use crate::values::{Currency, Email, Name};

pub struct SignupApi {
    pub state: AppState,
}

#[derive(Debug, Object)]
pub struct SignupRequest {
    /// Shop address: `<slug>.<base domain>`. 3–40 characters, lowercase letters, digits, `-`.
    #[oai(validator(min_length = 3, max_length = 40, pattern = r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$"))]
    pub slug: String,
    /// Display name of the shop.
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    ))]
    pub name: String,
    /// ISO 4217 currency of the shop's prices.
    #[oai(default = "default_currency")]
    pub currency: String,
    /// The owner's e-mail; it is also their login.
    pub owner_email: String,
    /// At least 10 characters.
    pub owner_password: String,
    /// The owner's name.
    #[oai(default)]
    pub owner_name: String,
}

fn default_currency() -> String {
    "USD".to_owned()
}

#[derive(Debug, Object)]
pub struct SignupResponse {
    pub shop_id: Uuid,
    pub slug: String,
    /// The shop's storefront and admin API host.
    pub url: String,
    pub owner_id: Uuid,
    /// Tokens of the owner, valid on the shop's host.
    pub tokens: TokenPair,
}

#[derive(ApiResponse)]
enum SignupCreated {
    /// The shop exists and its owner is signed in.
    #[oai(status = 201)]
    Created(Json<SignupResponse>, #[oai(header = "Server-Timing")] String),
}

error_responses!(SignupErrors { 400 BadRequest, 409 Conflict, 422 Unprocessable, 429 TooManyRequests });

#[OpenApi(prefix_path = "/v1", tag = "crate::openapi_tags::Tag::Signup")]
impl SignupApi {
    /// Create a shop
    ///
    /// Provisions an isolated shop (schema, role, policies, owner) in one transaction and signs
    /// the owner in. `slug_taken` (409) if the address is in use.
    #[oai(path = "/signup", method = "post")]
    async fn signup(&self, body: Json<SignupRequest>) -> Result<SignupCreated, SignupErrors> {
        Ok(self.create(body.0).await?)
    }
}

/// Creates a shop with its owner (the API and the platform's sign-up page). Returns the new
/// shop and the time its owner's password took to hash.
pub async fn create_shop(
    state: &AppState,
    req: SignupRequest,
) -> AppResult<(ProvisionedShop, std::time::Duration)> {
    let slug = Slug::parse(&req.slug).map_err(|msg| AppError::validation("slug", msg))?;
    let name = Name::parse("name", &req.name, 100)?;
    let currency = Currency::parse("currency", &req.currency)?;
    let email = Email::parse("owner_email", &req.owner_email)?;
    password::check_strength(&req.owner_password, email.as_str())
        .map_err(|msg| AppError::validation("owner_password", msg))?;
    let owner_name = req.owner_name.trim().chars().take(100).collect::<String>();
    // Counted once the request is well-formed, before any work: per client and overall.
    state.limits.signup().await?;

    let hash_started = Instant::now();
    let password_hash = state.passwords.hash(req.owner_password).await?;
    let hash_time = hash_started.elapsed();

    let new_shop = NewShop {
        id: ShopId::generate(),
        slug,
        name: name.into(),
        currency: currency.into(),
        plan: "free".to_owned(),
        owner_email: email.as_str().to_owned(),
        owner_name,
        owner_password_hash: password_hash,
    };
    let shop = provision(&state.pool, &migrate::embedded(), &new_shop).await?;
    metrics::signup(shop.database_time);
    tracing::info!(shop = %shop.tenant.slug, provision_ms = shop.database_time.as_secs_f64() * 1000.0, "shop created");
    Ok((shop, hash_time))
}

impl SignupApi {
    async fn create(&self, req: SignupRequest) -> AppResult<SignupCreated> {
        let (shop, hash_time) = create_shop(&self.state, req).await?;

        let mut tx = TenantTx::begin(&self.state.pool, &shop.tenant).await?;
        let tokens = issue_pair(
            &mut tx,
            &self.state.tokens,
            TokenKind::Staff,
            shop.owner_id,
            shop.tenant.id,
            None,
        )
        .await?;
        tx.commit().await?;

        let timing = format!(
            "provision;dur={:.2}, hash;dur={:.2}",
            shop.database_time.as_secs_f64() * 1000.0,
            hash_time.as_secs_f64() * 1000.0
        );
        Ok(SignupCreated::Created(
            Json(SignupResponse {
                shop_id: shop.tenant.id.0,
                url: self.state.shop_url(&shop.tenant.slug),
                slug: shop.tenant.slug,
                owner_id: shop.owner_id,
                tokens,
            }),
            timing,
        ))
    }
}
