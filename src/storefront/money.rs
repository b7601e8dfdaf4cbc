//! Money on pages: an amount in minor units, written the way the currency's customers read it.
//!
//! The number of decimals is the currency's real minor-unit exponent (ISO 4217, from the
//! `iso_currency` tables): VND and JPY have none, USD two, KWD three. Where the symbol goes and
//! which separators are used follows the currency's home convention (a small table below;
//! others get `1,234.56 CODE`): `350.000 ₫`, `$12.50`, `12,50 €`.

/// How a currency is written.
struct Style {
    symbol: &'static str,
    symbol_first: bool,
    /// A space between the symbol and the number.
    spaced: bool,
    thousands: char,
    decimal: char,
}

fn style(code: &str) -> Option<Style> {
    let s = |symbol, symbol_first, spaced, thousands, decimal| {
        Some(Style { symbol, symbol_first, spaced, thousands, decimal })
    };
    match code {
        "VND" => s("₫", false, true, '.', ','),
        "USD" | "AUD" | "CAD" | "NZD" | "SGD" | "HKD" | "MXN" => s("$", true, false, ',', '.'),
        "GBP" => s("£", true, false, ',', '.'),
        "JPY" | "CNY" => s("¥", true, false, ',', '.'),
        "INR" => s("₹", true, false, ',', '.'),
        "KRW" => s("₩", true, false, ',', '.'),
        "THB" => s("฿", true, false, ',', '.'),
        "PHP" => s("₱", true, false, ',', '.'),
        "IDR" => s("Rp", true, true, '.', ','),
        "MYR" => s("RM", true, false, ',', '.'),
        "EUR" => s("€", false, true, '.', ','),
        "CHF" => s("CHF", true, true, '\'', '.'),
        "SEK" | "NOK" | "DKK" => s("kr", false, true, ' ', ','),
        "PLN" => s("zł", false, true, ' ', ','),
        "BRL" => s("R$", true, true, '.', ','),
        _ => None,
    }
}

/// The currency's minor-unit exponent: 2 when ISO 4217 gives none (or the code is unknown).
pub fn exponent(code: &str) -> u32 {
    iso_currency::Currency::from_code(code).and_then(|c| c.exponent()).map_or(2, u32::from)
}

/// `amount` minor units of `code`, formatted for display.
pub fn format(amount: i64, code: &str) -> String {
    let exp = exponent(code);
    let Some(style) = style(code) else {
        return format!("{} {code}", number(amount, exp, ',', '.'));
    };
    let number = number(amount.abs(), exp, style.thousands, style.decimal);
    let space = if style.spaced { " " } else { "" };
    let sign = if amount < 0 { "-" } else { "" };
    if style.symbol_first {
        format!("{sign}{}{space}{number}", style.symbol)
    } else {
        format!("{sign}{number}{space}{}", style.symbol)
    }
}

/// The amount as a plain decimal number with a dot (`12.50`, `350000`): for JSON-LD prices and
/// form values, never for reading.
pub fn decimal(amount: i64, code: &str) -> String {
    let exp = exponent(code);
    if exp == 0 {
        return amount.to_string();
    }
    let scale = 10u64.pow(exp);
    let sign = if amount < 0 { "-" } else { "" };
    let amount = amount.unsigned_abs();
    format!("{sign}{}.{:0width$}", amount / scale, amount % scale, width = exp as usize)
}

/// Groups the integer part in threes and puts `exp` decimals after `decimal`.
fn number(amount: i64, exp: u32, thousands: char, decimal: char) -> String {
    let sign = if amount < 0 { "-" } else { "" };
    let amount = amount.unsigned_abs();
    let scale = 10u64.pow(exp);
    let (whole, fraction) = (amount / scale, amount % scale);
    let digits = whole.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(thousands);
        }
        grouped.push(digit);
    }
    if exp == 0 {
        format!("{sign}{grouped}")
    } else {
        format!("{sign}{grouped}{decimal}{fraction:0width$}", width = exp as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_currency_uses_its_own_exponent_and_convention() {
        assert_eq!(format(350_000, "VND"), "350.000 ₫");
        assert_eq!(format(1_250, "USD"), "$12.50");
        assert_eq!(format(123_456_789, "USD"), "$1,234,567.89");
        assert_eq!(format(5, "USD"), "$0.05");
        assert_eq!(format(1_250, "EUR"), "12,50 €");
        assert_eq!(format(1_500, "JPY"), "¥1,500");
        assert_eq!(format(1_234_567, "KWD"), "1,234.567 KWD", "three decimals, no table entry");
        assert_eq!(format(-1_250, "USD"), "-$12.50");
        assert_eq!(format(0, "VND"), "0 ₫");
    }

    #[test]
    fn decimals_for_machines_have_a_dot_and_no_grouping() {
        assert_eq!(decimal(350_000, "VND"), "350000");
        assert_eq!(decimal(1_250, "USD"), "12.50");
        assert_eq!(decimal(7, "USD"), "0.07");
        assert_eq!(decimal(-1_250, "USD"), "-12.50");
    }
}
