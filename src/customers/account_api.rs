//! `POST /v1/store/customers` (register) and `GET /v1/store/me`.

use chrono::{DateTime, Utc};
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use crate::auth::password;
use crate::auth::principal::CustomerAuth;
use crate::auth::tokens::{TokenKind, TokenPair, issue_pair};
use crate::error::{AppError, AppResult, OnConstraint};
use crate::error_responses;
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};
use crate::values::Email;

pub struct CustomerAccountApi {
    pub state: AppState,
}

#[derive(Debug, Object)]
pub struct RegisterCustomer {
    pub email: String,
    /// At least 10 characters.
    pub password: String,
    #[oai(default)]
    pub first_name: String,
    #[oai(default)]
    pub last_name: String,
}

#[derive(Debug, Object, sqlx::FromRow)]
pub struct CustomerProfile {
    pub id: Uuid,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Object)]
pub struct RegisteredCustomer {
    pub customer: CustomerProfile,
    pub tokens: TokenPair,
}

#[derive(ApiResponse)]
enum Registered {
    /// The account exists and the customer is signed in.
    #[oai(status = 201)]
    Created(Json<RegisteredCustomer>),
}

error_responses!(RegisterErrors { 400 BadRequest, 403 Forbidden, 404 NotFound, 409 Conflict, 422 Unprocessable, 429 TooManyRequests });
error_responses!(MeErrors { 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 429 TooManyRequests });

#[OpenApi(prefix_path = "/v1/store", tag = "crate::openapi_tags::Tag::Customers")]
impl CustomerAccountApi {
    /// Register a customer account
    ///
    /// `email_taken` (409) if this shop already has a customer with that e-mail.
    #[oai(path = "/customers", method = "post")]
    async fn register(
        &self,
        tenant: Data<&Tenant>,
        body: Json<RegisterCustomer>,
    ) -> Result<Registered, RegisterErrors> {
        Ok(Registered::Created(Json(register(&self.state, &tenant, body.0).await?)))
    }

    /// The signed-in customer's profile
    #[oai(path = "/me", method = "get")]
    async fn me(
        &self,
        auth: CustomerAuth,
        tenant: Data<&Tenant>,
    ) -> Result<Json<CustomerProfile>, MeErrors> {
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let profile: Option<CustomerProfile> = sqlx::query_as(
            "select id, email, first_name, last_name, created_at from customers where id = $1",
        )
        .bind(auth.0.id)
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        profile.map(Json).ok_or_else(|| {
            AppError::unauthorized("invalid_token", "this account no longer exists").into()
        })
    }
}

/// Creates a customer account of the shop and signs it in (the API and the sign-up page).
pub async fn register(
    state: &AppState,
    tenant: &Tenant,
    req: RegisterCustomer,
) -> AppResult<RegisteredCustomer> {
    let email = Email::parse("email", &req.email)?;
    password::check_strength(&req.password, email.as_str())
        .map_err(|msg| AppError::validation("password", msg))?;
    let first_name: String = req.first_name.trim().chars().take(100).collect();
    let last_name: String = req.last_name.trim().chars().take(100).collect();
    // Counted per client with logins (`AUTH_PER_IP_PER_MINUTE`), before the hash.
    state.limits.auth_attempt().await?;
    let hash = state.passwords.hash(req.password).await?;

    let mut tx = TenantTx::begin(&state.pool, tenant).await?;
    let customer: CustomerProfile = sqlx::query_as(
        "insert into customers (id, email, password_hash, first_name, last_name) values ($1, $2, $3, $4, $5) \
         returning id, email, first_name, last_name, created_at",
    )
    .bind(Uuid::now_v7())
    .bind(email.as_str())
    .bind(hash)
    .bind(first_name)
    .bind(last_name)
    .fetch_one(&mut *tx)
    .await
    .on_constraint("customers_email_key", |_| AppError::conflict("email_taken", "an account with this e-mail exists"))?;
    let tokens =
        issue_pair(&mut tx, &state.tokens, TokenKind::Customer, customer.id, tenant.id, None)
            .await?;
    tx.commit().await?;
    Ok(RegisteredCustomer { customer, tokens })
}
