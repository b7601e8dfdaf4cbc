//! `POST /v1/store/carts`, `GET/PATCH /v1/store/cart`, `POST /v1/store/cart/items`,
//! `PATCH/DELETE /v1/store/cart/items/{id}`, `POST/DELETE /v1/store/cart/discount`.
//!
//! A guest addresses their cart with the `X-Cart-Token` header; a signed-in customer with their
//! bearer token (their one active cart, created on first use). A customer request that also
//! carries a guest cart token merges that cart into theirs.

use poem::Request;
use poem::web::Data;
use poem_openapi::param::{Header, Path};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{ApiResponse, Object, OpenApi};
use uuid::Uuid;

use super::changes::Change;
use super::{CART_TOKEN_HEADER, Cart, CartRow, Shopper};
use crate::auth::principal::ShopperAuth;
use crate::error::{AppError, AppResult};
use crate::error_responses;
use crate::state::AppState;
use crate::tenancy::{Tenant, TenantTx};

pub struct CartApi {
    pub state: AppState,
}

#[derive(Debug, Object)]
pub struct NewCart {
    /// The guest cart's token: send it as `X-Cart-Token`. Shown only here; absent for a
    /// signed-in customer, whose cart follows their account.
    #[oai(nullable)]
    pub token: Option<String>,
    pub cart: Cart,
}

#[derive(Debug, Object)]
pub struct AddItem {
    pub variant_id: Uuid,
    /// 1–10000; added to the quantity already in the cart.
    pub quantity: i32,
}

#[derive(Debug, Object)]
pub struct ChangeItem {
    /// 1–10000 (remove a line with DELETE).
    pub quantity: i32,
}

#[derive(Debug, Object)]
pub struct ApplyDiscount {
    pub code: String,
}

#[derive(Debug, Object)]
pub struct CartUpdate {
    /// The shipping method the totals use; `null` clears it.
    #[oai(nullable)]
    pub shipping_method_id: MaybeUndefined<Uuid>,
}

#[derive(ApiResponse)]
enum CartCreated {
    #[oai(status = 201)]
    Created(Json<NewCart>),
}

error_responses!(CartErrors { 400 BadRequest, 401 Unauthorized, 403 Forbidden, 404 NotFound, 409 Conflict, 422 Unprocessable, 429 TooManyRequests });

/// The guest cart token header, described once for every operation.
type CartToken = Header<Option<String>>;

fn shopper(auth: &ShopperAuth, req: &Request, token: Option<&str>) -> AppResult<Shopper> {
    match auth.customer(req)? {
        Some(customer) => Ok(Shopper::Customer(customer)),
        None => match token.map(str::trim).filter(|t| !t.is_empty()) {
            Some(token) => Ok(Shopper::Guest { token: token.to_owned() }),
            None => Err(AppError::bad_request(
                "cart_token_required",
                format!("send the cart's {CART_TOKEN_HEADER} header, or sign in"),
            )),
        },
    }
}

#[OpenApi(prefix_path = "/v1/store", tag = "crate::openapi_tags::Tag::Cart")]
impl CartApi {
    /// Start a cart
    ///
    /// A guest gets a new cart and its token. A signed-in customer gets their active cart.
    #[oai(path = "/carts", method = "post")]
    async fn create(
        &self,
        auth: ShopperAuth,
        req: &Request,
        tenant: Data<&Tenant>,
    ) -> Result<CartCreated, CartErrors> {
        let customer = auth.customer(req)?;
        let mut tx = TenantTx::begin(&self.state.pool, &tenant).await?;
        let (token, cart) = match customer {
            Some(customer) => (None, super::customer_cart(&mut tx, customer).await?),
            None => {
                let (token, cart) = super::start_guest_cart(&mut tx).await?;
                (Some(token), cart)
            }
        };
        let cart = super::view(&mut tx, &tenant, &cart).await?;
        tx.commit().await?;
        Ok(CartCreated::Created(Json(NewCart { token, cart })))
    }

    /// The cart, with every total computed by the server
    #[oai(path = "/cart", method = "get")]
    async fn get(
        &self,
        auth: ShopperAuth,
        req: &Request,
        tenant: Data<&Tenant>,
        #[oai(name = "X-Cart-Token")] cart_token: CartToken,
    ) -> Result<Json<Cart>, CartErrors> {
        let shopper = shopper(&auth, req, cart_token.0.as_deref())?;
        self.with_cart(&tenant, &shopper, cart_token.0.as_deref(), |_, _| {
            Box::pin(async { Ok(()) })
        })
        .await
    }

    /// Choose the shipping method the totals use
    #[oai(path = "/cart", method = "patch")]
    async fn update(
        &self,
        auth: ShopperAuth,
        req: &Request,
        tenant: Data<&Tenant>,
        #[oai(name = "X-Cart-Token")] cart_token: CartToken,
        body: Json<CartUpdate>,
    ) -> Result<Json<Cart>, CartErrors> {
        let shopper = shopper(&auth, req, cart_token.0.as_deref())?;
        let method = body.0.shipping_method_id;
        self.with_cart(&tenant, &shopper, cart_token.0.as_deref(), move |tx, cart| {
            Box::pin(async move {
                let id = match method {
                    MaybeUndefined::Undefined => return Ok(()),
                    MaybeUndefined::Null => None,
                    MaybeUndefined::Value(id) => {
                        if !crate::shipping::get_method(tx, id).await?.is_some_and(|m| m.active) {
                            return Err(AppError::not_found(
                                "shipping_method_not_found",
                                "no active shipping method has this id",
                            ));
                        }
                        Some(id)
                    }
                };
                sqlx::query(
                    "update carts set shipping_method_id = $2, updated_at = now() where id = $1",
                )
                .bind(cart.id)
                .bind(id)
                .execute(&mut **tx)
                .await?;
                Ok(())
            })
        })
        .await
    }

    /// Add a variant to the cart
    ///
    /// `variant_not_found` (404) for a variant that is not on sale; `insufficient_stock` (409)
    /// when the cart would hold more than is in stock.
    #[oai(path = "/cart/items", method = "post")]
    async fn add_item(
        &self,
        auth: ShopperAuth,
        req: &Request,
        tenant: Data<&Tenant>,
        #[oai(name = "X-Cart-Token")] cart_token: CartToken,
        body: Json<AddItem>,
    ) -> Result<Json<Cart>, CartErrors> {
        let shopper = shopper(&auth, req, cart_token.0.as_deref())?;
        super::changes::check_quantity(body.quantity)?;
        let AddItem { variant_id, quantity } = body.0;
        self.with_cart(&tenant, &shopper, cart_token.0.as_deref(), move |tx, cart| {
            Box::pin(async move { super::changes::add_item(tx, cart, variant_id, quantity).await })
        })
        .await
    }

    /// Change a line's quantity
    #[oai(path = "/cart/items/:id", method = "patch")]
    async fn change_item(
        &self,
        auth: ShopperAuth,
        req: &Request,
        tenant: Data<&Tenant>,
        #[oai(name = "X-Cart-Token")] cart_token: CartToken,
        id: Path<Uuid>,
        body: Json<ChangeItem>,
    ) -> Result<Json<Cart>, CartErrors> {
        let shopper = shopper(&auth, req, cart_token.0.as_deref())?;
        super::changes::check_quantity(body.quantity)?;
        let (line, quantity) = (id.0, body.0.quantity);
        self.with_cart(&tenant, &shopper, cart_token.0.as_deref(), move |tx, cart| {
            Box::pin(async move { super::changes::set_quantity(tx, cart, line, quantity).await })
        })
        .await
    }

    /// Remove a line
    #[oai(path = "/cart/items/:id", method = "delete")]
    async fn remove_item(
        &self,
        auth: ShopperAuth,
        req: &Request,
        tenant: Data<&Tenant>,
        #[oai(name = "X-Cart-Token")] cart_token: CartToken,
        id: Path<Uuid>,
    ) -> Result<Json<Cart>, CartErrors> {
        let shopper = shopper(&auth, req, cart_token.0.as_deref())?;
        let line = id.0;
        self.with_cart(&tenant, &shopper, cart_token.0.as_deref(), move |tx, cart| {
            Box::pin(async move { super::changes::remove_line(tx, cart, line).await })
        })
        .await
    }

    /// Apply a discount code
    ///
    /// `discount_not_found` (404); 422 with the reason when the code does not apply to this
    /// cart now (`discount_expired`, `discount_usage_limit_reached`,
    /// `discount_minimum_not_met`, `discount_not_applicable`, …).
    #[oai(path = "/cart/discount", method = "post")]
    async fn apply_discount(
        &self,
        auth: ShopperAuth,
        req: &Request,
        tenant: Data<&Tenant>,
        #[oai(name = "X-Cart-Token")] cart_token: CartToken,
        body: Json<ApplyDiscount>,
    ) -> Result<Json<Cart>, CartErrors> {
        let shopper = shopper(&auth, req, cart_token.0.as_deref())?;
        let code = super::changes::parse_code(&body.0.code)?;
        self.with_cart(&tenant, &shopper, cart_token.0.as_deref(), move |tx, cart| {
            Box::pin(async move { super::changes::apply_discount(tx, cart, code).await })
        })
        .await
    }

    /// Remove the discount code
    #[oai(path = "/cart/discount", method = "delete")]
    async fn remove_discount(
        &self,
        auth: ShopperAuth,
        req: &Request,
        tenant: Data<&Tenant>,
        #[oai(name = "X-Cart-Token")] cart_token: CartToken,
    ) -> Result<Json<Cart>, CartErrors> {
        let shopper = shopper(&auth, req, cart_token.0.as_deref())?;
        self.with_cart(&tenant, &shopper, cart_token.0.as_deref(), |tx, cart| {
            Box::pin(async move { super::changes::remove_discount(tx, cart).await })
        })
        .await
    }
}

impl CartApi {
    /// Finds the shopper's cart, applies `change` and answers with the cart as it now is, all in
    /// one transaction.
    async fn with_cart<F>(
        &self,
        tenant: &Tenant,
        shopper: &Shopper,
        guest_token: Option<&str>,
        change: F,
    ) -> Result<Json<Cart>, CartErrors>
    where
        F: for<'a> FnOnce(&'a mut TenantTx, &'a CartRow) -> Change<'a>,
    {
        let mut tx = TenantTx::begin(&self.state.pool, tenant).await?;
        let mut cart = super::find_cart(&mut tx, shopper, guest_token).await?;
        change(&mut tx, &cart).await?;
        cart = super::reload(&mut tx, cart.id).await?;
        let view = super::view(&mut tx, tenant, &cart).await?;
        tx.commit().await?;
        Ok(Json(view))
    }
}
