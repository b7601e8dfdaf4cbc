//! The arithmetic of a cart or an order, in integer minor units: pure functions, so the cart
//! and checkout compute the very same figures.
//!
//! Order of computation:
//! 1. `subtotal` = Σ unit price × quantity.
//! 2. `discount_total`: a percentage of the eligible lines' subtotal (lines of the discount's
//!    category, or all), rounded; a fixed amount, at most the eligible subtotal; or 0 for free
//!    shipping.
//! 3. `shipping_total`: the method's flat rate; 0 with a free-shipping code, or when
//!    `subtotal − discount_total` reaches the method's `free_above`.
//! 4. Tax on `subtotal − discount_total + shipping_total`, computed once for the whole order at
//!    the shop's rate (basis points): added on top when prices exclude tax; when prices include
//!    tax, the included part `amount × rate / (10000 + rate)` is extracted and the total does
//!    not change.
//!
//! Rounding rule: every division rounds half to even (banker's rounding) to the minor unit, so
//! halves do not bias totals upwards over many orders: 12.5 → 12, 13.5 → 14.

pub use crate::discounts::DiscountKind;

/// `numerator / denominator` rounded half to even; both non-negative, denominator > 0.
pub fn div_round_half_even(numerator: i128, denominator: i128) -> i128 {
    let (quotient, remainder) = (numerator / denominator, numerator % denominator);
    match (2 * remainder).cmp(&denominator) {
        std::cmp::Ordering::Less => quotient,
        std::cmp::Ordering::Greater => quotient + 1,
        std::cmp::Ordering::Equal => quotient + (quotient % 2),
    }
}

/// One line as pricing sees it.
#[derive(Debug, Clone, Copy)]
pub struct PriceLine {
    pub unit_price: i64,
    pub quantity: i64,
    /// Whether the applied discount covers this line (its category restriction).
    pub discountable: bool,
}

/// An applicable discount (its dates, limits and minimum were checked by the caller).
#[derive(Debug, Clone, Copy)]
pub struct DiscountRule {
    pub kind: DiscountKind,
    pub value: i64,
}

#[derive(Debug, Clone, Copy)]
pub struct ShippingRule {
    pub price: i64,
    pub free_above: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct TaxRule {
    pub rate_bp: i32,
    pub prices_include_tax: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub subtotal: i64,
    pub discount_total: i64,
    pub shipping_total: i64,
    pub tax_total: i64,
    pub total: i64,
}

fn clamp(value: i128) -> i64 {
    i64::try_from(value.max(0)).unwrap_or(i64::MAX)
}

pub fn line_total(line: &PriceLine) -> i64 {
    clamp(i128::from(line.unit_price) * i128::from(line.quantity))
}

/// Computes every figure of a cart or order (see the module doc).
pub fn compute(
    lines: &[PriceLine],
    discount: Option<DiscountRule>,
    shipping: Option<ShippingRule>,
    tax: TaxRule,
) -> Totals {
    let subtotal: i128 = lines.iter().map(|l| i128::from(line_total(l))).sum();
    let eligible: i128 =
        lines.iter().filter(|l| l.discountable).map(|l| i128::from(line_total(l))).sum();
    let discount_total = match discount {
        Some(DiscountRule { kind: DiscountKind::Percentage, value }) => {
            div_round_half_even(eligible * i128::from(value.clamp(0, 100)), 100)
        }
        Some(DiscountRule { kind: DiscountKind::FixedAmount, value }) => {
            i128::from(value.max(0)).min(eligible)
        }
        Some(DiscountRule { kind: DiscountKind::FreeShipping, .. }) | None => 0,
    };
    let free_shipping =
        matches!(discount, Some(DiscountRule { kind: DiscountKind::FreeShipping, .. }));
    let shipping_total = match shipping {
        None => 0,
        Some(_) if free_shipping => 0,
        Some(ShippingRule { free_above: Some(threshold), .. })
            if subtotal - discount_total >= i128::from(threshold) =>
        {
            0
        }
        Some(ShippingRule { price, .. }) => i128::from(price.max(0)),
    };
    let taxable = subtotal - discount_total + shipping_total;
    let rate = i128::from(tax.rate_bp.clamp(0, 10_000));
    let (tax_total, total) = if tax.prices_include_tax {
        (div_round_half_even(taxable * rate, 10_000 + rate), taxable)
    } else {
        let tax_total = div_round_half_even(taxable * rate, 10_000);
        (tax_total, taxable + tax_total)
    };
    Totals {
        subtotal: clamp(subtotal),
        discount_total: clamp(discount_total),
        shipping_total: clamp(shipping_total),
        tax_total: clamp(tax_total),
        total: clamp(total),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(unit_price: i64, quantity: i64) -> PriceLine {
        PriceLine { unit_price, quantity, discountable: true }
    }

    const NO_TAX: TaxRule = TaxRule { rate_bp: 0, prices_include_tax: false };

    #[test]
    fn halves_round_to_even() {
        assert_eq!(div_round_half_even(125, 10), 12);
        assert_eq!(div_round_half_even(135, 10), 14);
        assert_eq!(div_round_half_even(126, 10), 13);
        assert_eq!(div_round_half_even(124, 10), 12);
        assert_eq!(div_round_half_even(0, 7), 0);
    }

    #[test]
    fn tax_on_top_rounds_half_to_even() {
        // 10 % of 1025 = 102.5 → 102; 10 % of 1035 = 103.5 → 104.
        let tax = TaxRule { rate_bp: 1000, prices_include_tax: false };
        let a = compute(&[line(1025, 1)], None, None, tax);
        assert_eq!((a.tax_total, a.total), (102, 1127));
        let b = compute(&[line(1035, 1)], None, None, tax);
        assert_eq!((b.tax_total, b.total), (104, 1139));
    }

    #[test]
    fn included_tax_is_extracted_and_the_total_kept() {
        // 20 % included in 1200: 1200 × 2000 / 12000 = 200.
        let tax = TaxRule { rate_bp: 2000, prices_include_tax: true };
        let t = compute(&[line(1200, 1)], None, None, tax);
        assert_eq!((t.tax_total, t.total), (200, 1200));
        // 19 % included in 1000: 1000 × 1900 / 11900 = 159.66… → 160.
        let t = compute(
            &[line(1000, 1)],
            None,
            None,
            TaxRule { rate_bp: 1900, prices_include_tax: true },
        );
        assert_eq!((t.tax_total, t.total), (160, 1000));
    }

    #[test]
    fn percentage_discount_covers_only_eligible_lines_and_rounds() {
        let lines = [
            PriceLine { unit_price: 999, quantity: 1, discountable: true },
            PriceLine { unit_price: 5000, quantity: 1, discountable: false },
        ];
        // 15 % of 999 = 149.85 → 150.
        let t = compute(
            &lines,
            Some(DiscountRule { kind: DiscountKind::Percentage, value: 15 }),
            None,
            NO_TAX,
        );
        assert_eq!((t.subtotal, t.discount_total, t.total), (5999, 150, 5849));
        // 50 % of 25 = 12.5 → 12 (half to even).
        let t = compute(
            &[line(25, 1)],
            Some(DiscountRule { kind: DiscountKind::Percentage, value: 50 }),
            None,
            NO_TAX,
        );
        assert_eq!(t.discount_total, 12);
    }

    #[test]
    fn a_fixed_discount_never_exceeds_the_eligible_subtotal() {
        let t = compute(
            &[line(300, 2)],
            Some(DiscountRule { kind: DiscountKind::FixedAmount, value: 1000 }),
            None,
            NO_TAX,
        );
        assert_eq!((t.discount_total, t.total), (600, 0));
    }

    #[test]
    fn shipping_is_free_above_the_threshold_after_discount_or_with_a_free_shipping_code() {
        let shipping = Some(ShippingRule { price: 495, free_above: Some(5000) });
        assert_eq!(compute(&[line(5000, 1)], None, shipping, NO_TAX).shipping_total, 0);
        assert_eq!(compute(&[line(4999, 1)], None, shipping, NO_TAX).shipping_total, 495);
        // 10 % off 5000 leaves 4500: below the threshold again.
        let ten_off = Some(DiscountRule { kind: DiscountKind::Percentage, value: 10 });
        assert_eq!(compute(&[line(5000, 1)], ten_off, shipping, NO_TAX).shipping_total, 495);
        let free = Some(DiscountRule { kind: DiscountKind::FreeShipping, value: 0 });
        let t = compute(&[line(100, 1)], free, shipping, NO_TAX);
        assert_eq!((t.discount_total, t.shipping_total, t.total), (0, 0, 100));
    }

    #[test]
    fn tax_applies_to_discounted_goods_plus_shipping() {
        let tax = TaxRule { rate_bp: 825, prices_include_tax: false };
        let t = compute(
            &[line(1999, 3)],
            Some(DiscountRule { kind: DiscountKind::FixedAmount, value: 500 }),
            Some(ShippingRule { price: 700, free_above: None }),
            tax,
        );
        // (5997 − 500 + 700) × 8.25 % = 511.2525 → 511.
        assert_eq!(
            t,
            Totals {
                subtotal: 5997,
                discount_total: 500,
                shipping_total: 700,
                tax_total: 511,
                total: 6708
            }
        );
    }
}
