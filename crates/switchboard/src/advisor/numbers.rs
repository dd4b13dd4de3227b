//! Numbers as the reports print them: money with thousands grouped (`$12,345.50`, `$60,000`)
//! and plain numbers with at most two decimals.

/// `12345.5` → `$12,345.50`; negative amounts `-$…`.
pub fn money(v: f64) -> String {
    let fixed = format!("{:.2}", v.abs());
    let (int, frac) = fixed.split_once('.').unwrap_or((fixed.as_str(), "00"));
    format!(
        "{}${}.{frac}",
        if v < 0.0 && fixed != "0.00" { "-" } else { "" },
        group(int)
    )
}

/// Whole amounts: `$60,000`.
pub fn whole_money(v: f64) -> String {
    let rounded = format!("{:.0}", v.abs());
    let sign = if v < 0.0 && rounded != "0" { "-" } else { "" };
    format!("{sign}${}", group(&rounded))
}

/// At most two decimals, without trailing zeros: `2.4`, `12`, `2.33`; thousands grouped.
pub fn number(v: f64) -> String {
    let fixed = format!("{:.2}", v.abs());
    let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
    let (int, frac) = match trimmed.split_once('.') {
        Some((i, f)) => (i, format!(".{f}")),
        None => (trimmed, String::new()),
    };
    let sign = if v < 0.0 && trimmed != "0" { "-" } else { "" };
    format!("{sign}{}{frac}", group(int))
}

fn group(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(money(12_000.0), "$12,000.00");
        assert_eq!(money(1_234_567.891), "$1,234,567.89");
        assert_eq!(money(-500.0), "-$500.00");
        assert_eq!(money(0.0), "$0.00");
        assert_eq!(whole_money(60_000.4), "$60,000");
        assert_eq!(whole_money(-1_500.0), "-$1,500");
        assert_eq!(number(2.4), "2.4");
        assert_eq!(number(12.0), "12");
        assert_eq!(number(7.0 / 3.0), "2.33");
        assert_eq!(number(-100.0), "-100");
        assert_eq!(number(1500.5), "1,500.5");
        assert_eq!(number(0.001), "0");
    }
}
