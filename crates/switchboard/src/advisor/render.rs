//! The readable reports: printed by `switchboard roi` / `switchboard matrix` and returned as
//! the tools' text content.

use std::fmt::Write as _;

use super::matrix::{Choice, MatrixReport};
use super::roi::RoiReport;

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

fn hours_and_minutes(h: f64) -> String {
    let minutes = h * 60.0;
    if h < 1.0 {
        format!("{} h ({} min)", number(h), number(minutes))
    } else {
        format!("{} h", number(h))
    }
}

/// The ROI report as a table.
pub fn roi(r: &RoiReport) -> String {
    let i = &r.inputs;
    let mut s = String::new();
    let mut line = |k: &str, v: String, note: String| {
        let _ = if k.is_empty() {
            writeln!(s)
        } else if note.is_empty() {
            writeln!(s, "  {k:<28} {v}")
        } else {
            writeln!(s, "  {k:<28} {v:<16} {note}")
        };
    };
    line(
        "development hours",
        number(i.development_hours),
        String::new(),
    );
    line(
        "developer hourly rate",
        money(i.developer_hourly_rate),
        String::new(),
    );
    line(
        "time saved per use",
        hours_and_minutes(i.time_saved_per_use),
        String::new(),
    );
    line(
        "uses per month",
        number(i.uses_per_month),
        "per person".into(),
    );
    line("team size", number(i.team_size), String::new());
    line(
        "months to evaluate",
        number(i.months_to_evaluate),
        String::new(),
    );
    line("", String::new(), String::new());
    line(
        "development cost",
        money(r.development_cost),
        format!(
            "= {} h × {}",
            number(i.development_hours),
            money(i.developer_hourly_rate)
        ),
    );
    line(
        "time saved per month",
        format!("{} h", number(r.monthly_time_saved)),
        format!(
            "= {} h × {} uses × {} people",
            number(i.time_saved_per_use),
            number(i.uses_per_month),
            number(i.team_size)
        ),
    );
    line(
        "monthly value",
        money(r.monthly_value),
        format!(
            "= {} h × {}",
            number(r.monthly_time_saved),
            money(i.developer_hourly_rate)
        ),
    );
    line(
        &format!("total value ({} months)", number(i.months_to_evaluate)),
        money(r.total_value),
        String::new(),
    );
    line(
        "ROI",
        format!("{} %", number(r.roi_percentage)),
        "= (total value − development cost) / development cost".into(),
    );
    line(
        "break-even",
        match r.break_even_months {
            Some(m) => format!("{} months", number(m)),
            None => "never".into(),
        },
        r.break_even_note.clone().unwrap_or_default(),
    );
    line("value per year", money(r.annual_value), String::new());
    let mut out = String::from("ROI of a custom MCP server\n\n");
    out.push_str(&s);
    let _ = writeln!(out, "\n{}", r.verdict.summary);
    for reason in &r.verdict.reasons {
        let _ = writeln!(out, "  - {reason}");
    }
    out
}

/// The decision matrix report as a table.
pub fn matrix(r: &MatrixReport) -> String {
    let mut out = String::from("Build, use or adapt? (decision matrix)\n\n");
    let _ = writeln!(out, "  {:<24} {:<24} points to", "factor", "answer");
    for a in &r.answers {
        let _ = writeln!(
            out,
            "  {:<24} {:<24} {}",
            a.title,
            a.label,
            a.points_to.as_str()
        );
    }
    let _ = writeln!(
        out,
        "\n  score: build {}, use {}, adapt {}",
        r.scores.build, r.scores.use_, r.scores.adapt
    );
    let _ = writeln!(
        out,
        "\nRecommendation: {} ({} confidence)",
        verb(r.recommendation),
        r.confidence
    );
    let _ = writeln!(out, "  expected development time: {}", r.development_time);
    let _ = writeln!(out, "  maintenance: {}", r.maintenance);
    for reason in &r.reasons {
        let _ = writeln!(out, "  - {reason}");
    }
    for w in &r.warnings {
        let _ = writeln!(out, "  ! {w}");
    }
    let _ = writeln!(out, "\n{}", r.roi_scenario);
    let _ = writeln!(out, "Next: {}", r.next_step);
    out
}

fn verb(c: Choice) -> &'static str {
    match c {
        Choice::Build => "build a custom MCP server",
        Choice::Use => "use an existing MCP server",
        Choice::Adapt => "adapt an existing MCP server",
    }
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
