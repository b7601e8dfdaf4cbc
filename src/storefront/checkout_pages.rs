//! Checkout and orders: the checkout form (e-mail, address, shipping method, payment), the
//! order confirmation and status page (a guest's by its token, a customer's by their session).
//!
//! The form posts to the same `orders::checkout` as `POST /v1/store/checkout`, with an
//! `Idempotency-Key` made when the form was shown: a double submit is a replay of the first
//! and makes one order. A refusal shows the form again with what was typed and the reason
//! next to the field at fault.

use std::collections::BTreeSet;

use minijinja::{Value, context};
use poem::http::StatusCode;
use poem::web::{Form, Path, Query};
use poem::{Request, Response, handler};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::see_other;
use super::site::Site;
use crate::cart;
use crate::customers::AddressInput;
use crate::error::{AppError, AppResult};
use crate::orders::checkout::{CheckoutRequest, CheckoutResult};
use crate::orders::{self, OrderKey};
use crate::payments::PaymentInput;
use crate::shipping;
use crate::values::secret_token_hash;

/// The checkout form as the browser sends it (and as it is shown again after a refusal).
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct CheckoutForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    line1: String,
    #[serde(default)]
    line2: String,
    #[serde(default)]
    city: String,
    #[serde(default)]
    region: String,
    #[serde(default)]
    postal_code: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    phone: String,
    /// `<method id>:<total with it>`: the radio button the buyer chose carries the total shown
    /// beside it, which checkout must still find (else 409 `price_changed`).
    #[serde(default)]
    shipping: String,
    #[serde(default)]
    payment: String,
    #[serde(default)]
    card_number: String,
    /// Made when the form was first shown; the same for every submit of that form.
    #[serde(default)]
    key: String,
}

#[handler]
pub async fn checkout_page(req: &Request) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    let form = CheckoutForm {
        payment: "test_card".into(),
        key: Uuid::now_v7().to_string(),
        ..CheckoutForm::default()
    };
    Ok(show_form(&site, form, None, StatusCode::OK).await?)
}

/// The checkout page with `form`'s values and, after a refusal, its error.
async fn show_form(
    site: &Site,
    form: CheckoutForm,
    error: Option<AppError>,
    status: StatusCode,
) -> AppResult<Response> {
    let Some(shopper) = site.shopper() else { return Ok(see_other("/cart")) };
    let mut page = site.begin().await?;
    let row = match cart::find_cart(&mut page.tx, &shopper, None).await {
        Ok(row) => row,
        Err(AppError::NotFound { .. }) => return Ok(see_other("/cart")),
        Err(err) => return Err(err),
    };
    let view = cart::view(&mut page.tx, &site.tenant, &row).await?;
    if view.items.is_empty() {
        return Ok(see_other("/cart"));
    }
    let methods = shipping::list_active(&mut page.tx, None).await?;
    let totals = cart::totals_by_shipping(&mut page.tx, &row, &methods).await?;
    let email = match site.customer {
        Some(customer) => {
            sqlx::query_scalar::<_, String>("select email from customers where id = $1")
                .bind(customer)
                .fetch_optional(&mut *page.tx)
                .await?
        }
        None => None,
    };
    let layout = page.commit().await?;
    let countries: BTreeSet<&str> =
        methods.iter().flat_map(|m| m.countries.iter().map(String::as_str)).collect();
    let (error_field, error_code) = match &error {
        Some(err) => {
            let body = err.body().error;
            (body.field.unwrap_or_default(), body.code)
        }
        None => (String::new(), String::new()),
    };
    let form = CheckoutForm {
        email: if form.email.is_empty() { email.unwrap_or_default() } else { form.email },
        ..form
    };
    let chosen = form.shipping.split_once(':').and_then(|(id, _)| id.parse::<Uuid>().ok());
    let options: Vec<Value> = methods
        .iter()
        .zip(&totals)
        .enumerate()
        .map(|(i, (method, total))| {
            let checked = chosen.map_or(i == 0, |id| id == method.id);
            Value::from_serialize(serde_json::json!({
                "checked": checked,
                "id": method.id,
                "value": format!("{}:{total}", method.id),
                "name": method.name,
                "price": method.price,
                "free_above": method.free_above,
                "countries": method.countries,
                "total": total,
            }))
        })
        .collect();
    let data = context! {
        page_title => "checkout",
        noindex => true,
        cart => Value::from_serialize(&view),
        methods => options,
        countries => Value::from_serialize(&countries),
        anywhere => methods.iter().any(|m| m.countries.is_empty()),
        form => Value::from_serialize(&form),
        signed_in_email => site.customer.is_some(),
        error_field => error_field,
        error_code => error_code,
    };
    Ok(site.show_status(&layout, "checkout.html", status, data))
}

/// `POST /checkout`: places the order, then 303 to its page; a refusal shows the form again.
#[handler]
pub async fn place_order(req: &Request, Form(form): Form<CheckoutForm>) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    let Some(shopper) = site.shopper() else { return Ok(see_other("/cart")) };
    let (method, expected_total) = match form.shipping.split_once(':') {
        Some((id, total)) => (id.parse().unwrap_or_default(), total.parse().ok()),
        None => (Uuid::nil(), None),
    };
    let request = CheckoutRequest {
        email: (site.customer.is_none()).then(|| form.email.clone()),
        shipping_address: AddressInput {
            name: form.name.clone(),
            line1: form.line1.clone(),
            line2: form.line2.clone(),
            city: form.city.clone(),
            region: form.region.clone(),
            postal_code: form.postal_code.clone(),
            country: form.country.trim().to_ascii_uppercase(),
            phone: form.phone.clone(),
        },
        shipping_method_id: method,
        payment: PaymentInput {
            method: form.payment.clone(),
            card_number: (form.payment == "test_card").then(|| form.card_number.clone()),
        },
        expected_total,
    };
    let key = Some(form.key.as_str()).filter(|k| !k.is_empty());
    let placed = orders::checkout::checkout(
        &site.state.pool,
        &site.tenant,
        &shopper,
        site.cart_token(),
        key,
        &request,
    )
    .await;
    match placed {
        Ok((_, body)) => {
            let result: CheckoutResult =
                serde_json::from_value(body).map_err(|err| AppError::Internal(err.into()))?;
            Ok(see_other(&format!("/orders/{}?token={}", result.order.number, result.order_token)))
        }
        Err(err) if !err.status().is_server_error() => {
            let status = err.status();
            Ok(show_form(&site, form, Some(err), status).await?)
        }
        Err(err) => Err(err.into()),
    }
}

#[derive(Deserialize)]
pub struct OrderQuery {
    #[serde(default)]
    token: String,
}

/// `GET /orders/{number}`: a guest's order by its token (the link of the confirmation), or a
/// signed-in customer's own order.
#[handler]
pub async fn order_page(
    req: &Request,
    Path(number): Path<i64>,
    Query(query): Query<OrderQuery>,
) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    let hash = secret_token_hash(query.token.trim());
    let key = match (query.token.trim().is_empty(), site.customer) {
        (false, _) => OrderKey::TokenNumber(&hash, number),
        (true, Some(customer)) => OrderKey::CustomerNumber(customer, number),
        (true, None) => return Err(orders::order_not_found().into()),
    };
    let mut page = site.begin().await?;
    let order = orders::load_order(&mut page.tx, key).await?;
    let layout = page.commit().await?;
    let data = context! {
        page_title => "order",
        noindex => true,
        order => Value::from_serialize(&order),
        status_url => format!("{}/orders/{}?token={}", site.base_url, order.number, query.token.trim()),
    };
    Ok(site.show(&layout, "order.html", data))
}
