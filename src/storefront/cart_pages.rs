//! The cart page and its forms: add (from a product page), change a quantity (0 removes),
//! apply or remove a discount code. Each form answers 303 back to a page; a refusal (not
//! enough stock, an unknown code) comes back as `?error=<code>`, shown as a message.

use minijinja::context;
use poem::web::{Form, Path};
use poem::{Request, Response, handler};
use serde::Deserialize;
use uuid::Uuid;

use super::see_other;
use super::site::Site;
use crate::cart;
use crate::cart::changes::{self, Change};
use crate::catalog::storefront;
use crate::error::{AppError, AppResult};
use crate::tenancy::TenantTx;

#[handler]
pub async fn cart_page(req: &Request) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    let mut page = site.begin().await?;
    let view = match site.shopper() {
        Some(shopper) => match cart::find_cart(&mut page.tx, &shopper, None).await {
            Ok(row) => Some(cart::view(&mut page.tx, &site.tenant, &row).await?),
            Err(AppError::NotFound { .. }) => None, // an expired guest cart
            Err(err) => return Err(err.into()),
        },
        None => None,
    };
    let layout = page.commit().await?;
    let data = context! {
        page_title => "cart",
        cart => minijinja::Value::from_serialize(&view),
        error => super::error_of(req),
        noindex => true,
        canonical => format!("{}/cart", site.base_url),
    };
    Ok(site.show(&layout, "cart.html", data))
}

/// The add-to-cart form. Its `option` field repeats (one per option of the product), which
/// `serde_urlencoded` cannot put into a `Vec` field, so the form is read as its list of pairs.
#[derive(Debug, Deserialize)]
#[serde(try_from = "Vec<(String, String)>")]
pub struct AddForm {
    product: String,
    /// The chosen value of each option, in the product's option order.
    option: Vec<String>,
    variant: Option<Uuid>,
    quantity: i32,
}

impl TryFrom<Vec<(String, String)>> for AddForm {
    type Error = String;

    fn try_from(pairs: Vec<(String, String)>) -> Result<Self, String> {
        let (mut product, mut option, mut variant, mut quantity) = (None, Vec::new(), None, 1);
        for (name, value) in pairs {
            match name.as_str() {
                "product" => product = Some(value),
                "option" => option.push(value),
                "variant" if !value.is_empty() => {
                    variant = Some(value.parse().map_err(|err| format!("variant: {err}"))?);
                }
                "quantity" => {
                    quantity = value.trim().parse().map_err(|err| format!("quantity: {err}"))?;
                }
                _ => {}
            }
        }
        let product = product.ok_or("missing field `product`")?;
        Ok(Self { product, option, variant, quantity })
    }
}

/// `POST /cart/items`: the variant is the one whose option values were chosen (or the
/// product's only variant).
#[handler]
pub async fn add_item(req: &Request, Form(form): Form<AddForm>) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    let back = format!("/products/{}", form.product);
    let outcome = add_to_cart(&site, &form).await;
    Ok(match outcome {
        Ok(()) => see_other("/cart"),
        Err(err) if !err.status().is_server_error() => {
            see_other(&format!("{back}?error={}", err.body().error.code))
        }
        Err(err) => return Err(err.into()),
    })
}

async fn add_to_cart(site: &Site, form: &AddForm) -> AppResult<()> {
    changes::check_quantity(form.quantity)?;
    let mut tx = TenantTx::begin(&site.state.pool, &site.tenant).await?;
    let variant =
        storefront::chosen_variant(&mut tx, &form.product, form.variant, &form.option).await?;
    let row = match site.shopper() {
        Some(shopper) => match cart::find_cart(&mut tx, &shopper, None).await {
            Ok(row) => row,
            Err(AppError::NotFound { .. }) => new_guest_cart(site, &mut tx).await?,
            Err(err) => return Err(err),
        },
        None => new_guest_cart(site, &mut tx).await?,
    };
    changes::add_item(&mut tx, &row, variant, form.quantity).await?;
    tx.commit().await?;
    Ok(())
}

async fn new_guest_cart(site: &Site, tx: &mut TenantTx) -> AppResult<cart::CartRow> {
    let (token, row) = cart::start_guest_cart(tx).await?;
    site.set_cart_cookie(&token);
    Ok(row)
}

#[derive(Deserialize)]
pub struct ChangeForm {
    quantity: i32,
}

/// `POST /cart/items/{line}`: a new quantity; 0 removes the line.
#[handler]
pub async fn change_item(
    req: &Request,
    Path(line): Path<Uuid>,
    Form(form): Form<ChangeForm>,
) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    cart_change(&site, move |tx, row| {
        Box::pin(async move {
            if form.quantity == 0 {
                changes::remove_line(tx, row, line).await
            } else {
                changes::check_quantity(form.quantity)?;
                changes::set_quantity(tx, row, line, form.quantity).await
            }
        })
    })
    .await
}

#[derive(Deserialize)]
pub struct DiscountForm {
    code: String,
}

#[handler]
pub async fn apply_code(req: &Request, Form(form): Form<DiscountForm>) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    cart_change(&site, move |tx, row| {
        Box::pin(async move {
            let code = changes::parse_code(&form.code)?;
            changes::apply_discount(tx, row, code).await
        })
    })
    .await
}

#[handler]
pub async fn remove_code(req: &Request) -> poem::Result<Response> {
    let site = super::site_of(req)?;
    cart_change(&site, |tx, row| Box::pin(async move { changes::remove_discount(tx, row).await }))
        .await
}

/// Applies `change` to the shopper's cart in one transaction, then back to the cart page
/// (with the refusal's code, if refused).
async fn cart_change<F>(site: &Site, change: F) -> poem::Result<Response>
where
    F: for<'a> FnOnce(&'a mut sqlx::PgConnection, &'a cart::CartRow) -> Change<'a>,
{
    let Some(shopper) = site.shopper() else { return Ok(see_other("/cart")) };
    let outcome = async {
        let mut tx = TenantTx::begin(&site.state.pool, &site.tenant).await?;
        let row = cart::find_cart(&mut tx, &shopper, None).await?;
        change(&mut tx, &row).await?;
        tx.commit().await?;
        Ok::<_, AppError>(())
    }
    .await;
    Ok(match outcome {
        Ok(()) => see_other("/cart"),
        Err(err) if !err.status().is_server_error() => {
            see_other(&format!("/cart?error={}", err.body().error.code))
        }
        Err(err) => return Err(err.into()),
    })
}

#[cfg(test)]
mod tests {
    use super::AddForm;

    #[test]
    fn the_add_form_takes_one_option_field_per_option() {
        let form: AddForm =
            serde_urlencoded::from_str("csrf=x&product=tee&option=L&option=Navy&quantity=2")
                .unwrap();
        assert_eq!(
            (form.product.as_str(), form.option, form.quantity),
            ("tee", vec!["L".to_owned(), "Navy".to_owned()], 2)
        );
        let single: AddForm = serde_urlencoded::from_str("product=tote").unwrap();
        assert_eq!((single.option.len(), single.variant, single.quantity), (0, None, 1));
        assert!(serde_urlencoded::from_str::<AddForm>("product=tee&quantity=two").is_err());
        assert!(serde_urlencoded::from_str::<AddForm>("option=L").is_err());
    }
}
