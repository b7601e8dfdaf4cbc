//! Customer accounts on the storefront: sign up, sign in, sign out, and the account page
//! (the customer's orders and address book).
//!
//! Signing in sets the session cookies ([`Site::sign_in_cookies`]) with the same token pair
//! the JSON API issues, and moves the guest cart of this browser into the customer's cart,
//! as `POST /v1/store/auth/login` does with `X-Cart-Token`. A sign-in failure says only that
//! the e-mail or password is wrong, and counts against the same login limit as the API.

use minijinja::{Value, context};
use poem::http::StatusCode;
use poem::web::{Form, Path};
use poem::{Request, Response, handler};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::see_other;
use super::site::Site;
use crate::auth::tokens::{TokenKind, TokenPair};
use crate::cart;
use crate::customers::{self, AddressInput, RegisterCustomer};
use crate::error::{AppError, AppResult};
use crate::orders::store_api::customer_orders;
use crate::sessions;
use crate::tenancy::TenantTx;

/// Orders listed on the account page.
const RECENT_ORDERS: i64 = 20;

/// The sign-in and sign-up forms.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct AccountForm {
    #[serde(default)]
    email: String,
    #[serde(default, skip_serializing)]
    password: String,
    #[serde(default)]
    first_name: String,
    #[serde(default)]
    last_name: String,
}

/// The form page `template` with what was typed (never the password) and the refusal.
async fn form_page(
    site: &Site,
    template: &str,
    form: &AccountForm,
    error: Option<&AppError>,
) -> AppResult<Response> {
    let page = site.begin().await?;
    let layout = page.commit().await?;
    let (status, field, message) = match error {
        Some(err) => {
            let body = err.body().error;
            (err.status(), body.field, Some((body.code, body.message)))
        }
        None => (StatusCode::OK, None, None),
    };
    let data = context! {
        noindex => true,
        form => Value::from_serialize(form),
        error_field => field,
        error_code => message.as_ref().map(|(code, _)| code.clone()),
        error_detail => message.map(|(_, detail)| detail),
    };
    Ok(site.show_status(&layout, template, status, data))
}

#[handler]
pub async fn login_page(req: &Request) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    if site.customer.is_some() {
        return Ok(see_other("/account"));
    }
    Ok(form_page(&site, "login.html", &AccountForm::default(), None).await?)
}

#[handler]
pub async fn login(req: &Request, Form(form): Form<AccountForm>) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    let signed_in = sessions::password_login(
        &site.state,
        &site.tenant,
        TokenKind::Customer,
        &form.email,
        &form.password,
    )
    .await;
    match signed_in {
        Ok((customer, pair)) => Ok(start_session(&site, customer, &pair).await?),
        Err(err) if !err.status().is_server_error() => {
            Ok(form_page(&site, "login.html", &form, Some(&err)).await?)
        }
        Err(err) => Err(err.into()),
    }
}

#[handler]
pub async fn register_page(req: &Request) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    if site.customer.is_some() {
        return Ok(see_other("/account"));
    }
    Ok(form_page(&site, "register.html", &AccountForm::default(), None).await?)
}

#[handler]
pub async fn register(req: &Request, Form(form): Form<AccountForm>) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    let request = RegisterCustomer {
        email: form.email.clone(),
        password: form.password.clone(),
        first_name: form.first_name.clone(),
        last_name: form.last_name.clone(),
    };
    match customers::register(&site.state, &site.tenant, request).await {
        Ok(registered) => {
            Ok(start_session(&site, registered.customer.id, &registered.tokens).await?)
        }
        Err(err) if !err.status().is_server_error() => {
            Ok(form_page(&site, "register.html", &form, Some(&err)).await?)
        }
        Err(err) => Err(err.into()),
    }
}

/// Sets the session cookies, moves this browser's guest cart into the customer's, and goes to
/// the account page.
async fn start_session(site: &Site, customer: Uuid, pair: &TokenPair) -> AppResult<Response> {
    if let Some(token) = site.cart_token() {
        let mut tx = TenantTx::begin(&site.state.pool, &site.tenant).await?;
        cart::merge_guest_cart(&mut tx, token, customer).await?;
        tx.commit().await?;
        site.clear_cart_cookie();
    }
    site.sign_in_cookies(&pair.access_token, &pair.refresh_token);
    Ok(see_other("/account"))
}

/// `POST /account/logout`: ends the session (its tokens are revoked) and forgets the cookies.
#[handler]
pub async fn logout(req: &Request) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    if let (Some(customer), Some(refresh)) = (site.customer, site.refresh_token()) {
        sessions::logout(&site.state, &site.tenant, customer, refresh).await?;
    }
    site.sign_out_cookies();
    Ok(see_other("/"))
}

/// `GET /account`: the customer's orders and address book.
#[handler]
pub async fn account_page(req: &Request) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    let Some(customer) = site.customer else { return Ok(see_other("/account/login")) };
    let mut page = site.begin().await?;
    let email: Option<String> = sqlx::query_scalar("select email from customers where id = $1")
        .bind(customer)
        .fetch_optional(&mut *page.tx)
        .await
        .map_err(AppError::from)?;
    let orders = customer_orders(&mut page.tx, customer, None, RECENT_ORDERS).await?;
    let addresses = customers::list_addresses(&mut page.tx, customer).await?;
    let layout = page.commit().await?;
    let data = context! {
        noindex => true,
        email => email,
        orders => Value::from_serialize(orders.iter().take(RECENT_ORDERS as usize).collect::<Vec<_>>()),
        addresses => Value::from_serialize(&addresses),
        error => super::error_of(req),
    };
    Ok(site.show(&layout, "account.html", data))
}

#[derive(Deserialize)]
pub struct AddressForm {
    #[serde(flatten)]
    address: AddressInput,
    #[serde(default)]
    make_default: Option<String>,
}

/// `POST /account/addresses`: adds an address; a refusal comes back as `?error=<code>`.
#[handler]
pub async fn add_address(req: &Request, Form(form): Form<AddressForm>) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    let Some(customer) = site.customer else { return Ok(see_other("/account/login")) };
    let mut address = form.address;
    address.country = address.country.trim().to_ascii_uppercase();
    let added = async {
        let mut tx = TenantTx::begin(&site.state.pool, &site.tenant).await?;
        customers::add_address(&mut tx, customer, &address, form.make_default.is_some()).await?;
        tx.commit().await?;
        Ok::<_, AppError>(())
    }
    .await;
    back_to_account(added)
}

/// `POST /account/addresses/{id}/delete`.
#[handler]
pub async fn delete_address(req: &Request, Path(id): Path<Uuid>) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    let Some(customer) = site.customer else { return Ok(see_other("/account/login")) };
    let deleted = async {
        let mut tx = TenantTx::begin(&site.state.pool, &site.tenant).await?;
        customers::delete_address(&mut tx, customer, id).await?;
        tx.commit().await?;
        Ok::<_, AppError>(())
    }
    .await;
    back_to_account(deleted)
}

fn back_to_account(outcome: AppResult<()>) -> poem::Result<Response> {
    match outcome {
        Ok(()) => Ok(see_other("/account")),
        Err(err) if !err.status().is_server_error() => {
            Ok(see_other(&format!("/account?error={}", err.body().error.code)))
        }
        Err(err) => Err(err.into()),
    }
}
