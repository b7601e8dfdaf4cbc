//! Whether a discount code applies to a cart, and to which of its lines. Discount codes are
//! managed in `crate::discounts`; this is their application, shared by the cart and checkout.
//!
//! A code applies when it is active, inside its start/end window, under its total usage limit
//! and the shopper's per-customer limit (by customer id or e-mail), the cart's subtotal reaches
//! its minimum, and — with a category restriction — some line's product is in that category or
//! one of its descendants (only those lines are discounted). Otherwise the cart reports the
//! reason as a problem and no discount is given. Checkout re-checks under a row lock and
//! increments `used_count` with a conditional update, so limits hold under concurrency.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

use super::{LineRow, Problem};
use crate::discounts::{Discount, DiscountKind, find_by_code};
use crate::error::{AppError, AppResult};
use crate::pricing::DiscountRule;

/// The outcome of checking a cart's code.
#[derive(Debug, Clone, Default)]
pub struct DiscountCheck {
    /// The discount, when it applies.
    pub applied: Option<Discount>,
    /// Why the cart's code does not apply.
    pub problem: Option<Problem>,
    /// Products whose lines the discount covers.
    pub discountable: HashSet<Uuid>,
}

impl DiscountCheck {
    pub fn rule(&self) -> Option<DiscountRule> {
        self.applied.as_ref().map(|d| DiscountRule { kind: d.kind, value: d.value })
    }

    /// The problem as an error of the apply-a-code request: 404 for an unknown code, 422
    /// otherwise.
    pub fn into_result(self) -> AppResult<Self> {
        match &self.problem {
            None => Ok(self),
            Some(problem) if problem.code == "discount_not_found" => {
                Err(AppError::not_found("discount_not_found", problem.message.clone()))
            }
            Some(problem) => Err(AppError::Unprocessable {
                code: static_code(&problem.code),
                message: problem.message.clone(),
            }),
        }
    }
}

const PROBLEM_CODES: &[&str] = &[
    "discount_not_found",
    "discount_inactive",
    "discount_not_started",
    "discount_expired",
    "discount_usage_limit_reached",
    "discount_customer_limit_reached",
    "discount_minimum_not_met",
    "discount_not_applicable",
];

/// The `'static` code of a problem made by this module.
pub fn static_code(code: &str) -> &'static str {
    PROBLEM_CODES.iter().copied().find(|c| *c == code).unwrap_or("discount_not_applicable")
}

/// Why `row` cannot be used at `now`, ignoring the cart.
fn availability_problem(row: &Discount, now: DateTime<Utc>) -> Option<Problem> {
    if !row.active {
        return Some(Problem::new("discount_inactive", "this discount code is not active"));
    }
    if row.starts_at.is_some_and(|at| at > now) {
        return Some(Problem::new("discount_not_started", "this discount code is not valid yet"));
    }
    if row.ends_at.is_some_and(|at| at <= now) {
        return Some(Problem::new("discount_expired", "this discount code has expired"));
    }
    if row.usage_limit.is_some_and(|limit| row.used_count >= limit) {
        return Some(Problem::new(
            "discount_usage_limit_reached",
            "this discount code has been used up",
        ));
    }
    None
}

/// Checks the cart's `code` against its `lines` (see the module doc).
pub async fn check(
    conn: &mut PgConnection,
    code: Option<&str>,
    lines: &[LineRow],
    customer: Option<Uuid>,
    email: Option<&str>,
) -> AppResult<DiscountCheck> {
    let Some(code) = code else { return Ok(DiscountCheck::default()) };
    let Some(row) = find_by_code(conn, code, false).await? else {
        return Ok(not_applied(Problem::new("discount_not_found", "no discount has this code")));
    };
    evaluate(conn, row, lines, customer, email).await
}

/// Checks a discount row already read (and, at checkout, locked).
pub async fn evaluate(
    conn: &mut PgConnection,
    row: Discount,
    lines: &[LineRow],
    customer: Option<Uuid>,
    email: Option<&str>,
) -> AppResult<DiscountCheck> {
    if let Some(problem) = availability_problem(&row, Utc::now()) {
        return Ok(not_applied(problem));
    }
    if let Some(limit) = row.per_customer_limit
        && (customer.is_some() || email.is_some())
    {
        let used: i64 = sqlx::query_scalar(
            "select count(*) from discount_usages where discount_id = $1 \
             and (customer_id = $2 or lower(email) = lower($3))",
        )
        .bind(row.id)
        .bind(customer)
        .bind(email)
        .fetch_one(&mut *conn)
        .await?;
        if used >= i64::from(limit) {
            return Ok(not_applied(Problem::new(
                "discount_customer_limit_reached",
                "you have already used this discount code",
            )));
        }
    }
    let purchasable: Vec<&LineRow> = lines.iter().filter(|l| l.purchasable()).collect();
    let subtotal: i64 = purchasable
        .iter()
        .map(|l| l.price.unwrap_or(0).saturating_mul(i64::from(l.quantity)))
        .sum();
    if subtotal < row.min_subtotal {
        return Ok(not_applied(Problem::new(
            "discount_minimum_not_met",
            format!("this code needs a subtotal of at least {}", row.min_subtotal),
        )));
    }
    let products: Vec<Uuid> = purchasable.iter().filter_map(|l| l.product_id).collect();
    let discountable: HashSet<Uuid> = match row.category_id {
        None => products.into_iter().collect(),
        Some(category) => sqlx::query_scalar::<_, Uuid>(
            "with recursive tree (id, depth) as (select id, 1 from categories where id = $1 \
                 union all select c.id, t.depth + 1 from categories c join tree t on c.parent_id = t.id \
                     where t.depth < $3) \
             select distinct product_id from product_categories where category_id in (select id from tree) and product_id = any($2)",
        )
        .bind(category)
        .bind(&products)
        .bind(crate::values::MAX_CATEGORY_DEPTH)
        .fetch_all(&mut *conn)
        .await?
        .into_iter()
        .collect(),
    };
    if discountable.is_empty() && row.kind != DiscountKind::FreeShipping {
        return Ok(not_applied(Problem::new(
            "discount_not_applicable",
            "this code does not apply to the items in your cart",
        )));
    }
    Ok(DiscountCheck { applied: Some(row), problem: None, discountable })
}

fn not_applied(problem: Problem) -> DiscountCheck {
    DiscountCheck { applied: None, problem: Some(problem), discountable: HashSet::new() }
}
