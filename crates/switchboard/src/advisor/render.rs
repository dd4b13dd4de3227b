//! The readable reports: printed by `switchboard roi` / `switchboard matrix` and returned as
//! the tools' text content.

use std::fmt::Write as _;

use super::matrix::{Choice, MatrixReport};
use super::numbers::{money, number};
use super::roi::RoiReport;

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
