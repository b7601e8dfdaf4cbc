//! Readable colours for any accent (WCAG 2.1 contrast): black or white text on the accent,
//! and the accent darkened until it reads as text on white (4.5:1).

fn channels(hex: &str) -> Option<[f64; 3]> {
    let hex = hex.strip_prefix('#')?;
    if hex.len() != 6 {
        return None;
    }
    let mut out = [0.0; 3];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = f64::from(u8::from_str_radix(hex.get(i * 2..i * 2 + 2)?, 16).ok()?);
    }
    Some(out)
}

fn luminance([r, g, b]: [f64; 3]) -> f64 {
    let linear = |c: f64| {
        let c = c / 255.0;
        if c <= 0.039_28 { c / 12.92 } else { ((c + 0.055) / 1.055).powf(2.4) }
    };
    0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)
}

fn ratio(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a > b { (a, b) } else { (b, a) };
    (hi + 0.05) / (lo + 0.05)
}

/// `#000000` or `#ffffff`, whichever contrasts more with `accent`.
pub fn text_on(accent: &str) -> &'static str {
    let Some(rgb) = channels(accent) else { return "#ffffff" };
    let l = luminance(rgb);
    if ratio(l, 0.0) >= ratio(l, 1.0) { "#000000" } else { "#ffffff" }
}

/// `accent`, darkened in steps until it has at least 4.5:1 contrast on white.
pub fn ink_on_white(accent: &str) -> String {
    let Some(mut rgb) = channels(accent) else { return "#1f1f1f".to_owned() };
    while ratio(luminance(rgb), 1.0) < 4.5 {
        rgb = rgb.map(|c| (c * 0.9).floor());
    }
    format!("#{:02x}{:02x}{:02x}", rgb[0] as u8, rgb[1] as u8, rgb[2] as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_accent_gets_readable_text() {
        assert_eq!(text_on("#ffeb3b"), "#000000", "yellow takes black text");
        assert_eq!(text_on("#1f1f7a"), "#ffffff", "navy takes white text");
        for accent in ["#ffeb3b", "#00ff00", "#ffffff", "#1f6feb", "#000000"] {
            let ink = ink_on_white(accent);
            let contrast = ratio(luminance(channels(&ink).unwrap()), 1.0);
            assert!(contrast >= 4.5, "{accent} -> {ink}: {contrast}");
            let text = text_on(accent);
            let on =
                ratio(luminance(channels(accent).unwrap()), luminance(channels(text).unwrap()));
            assert!(on >= 4.5, "{text} on {accent}: {on}");
        }
    }
}
