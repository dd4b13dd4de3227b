//! The reference document's ROI formula for a custom MCP server (`calculate_mcp_roi`), with
//! its rule of thumb as a verdict: build when the server is worth more than $50K a year and
//! pays for itself within the evaluation period.

use serde::Serialize;

/// The reference's rule of thumb: build a custom MCP server when it is worth more than this
/// much a year.
pub const VALUE_PER_YEAR_THRESHOLD: f64 = 50_000.0;

/// The formula's inputs, in the reference's names and units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RoiInput {
    /// Hours to build the server.
    pub development_hours: f64,
    /// Cost of one developer hour (any currency; the reports print `$`).
    pub developer_hourly_rate: f64,
    /// Hours saved each time the tool is used (0.25 = 15 minutes).
    pub time_saved_per_use: f64,
    /// Uses per person per month.
    pub uses_per_month: f64,
    /// People using it.
    pub team_size: f64,
    /// Length of the evaluation period, in months.
    pub months_to_evaluate: f64,
}

/// An input that cannot be computed with, naming the field (the MCP argument name; the CLI
/// maps it to its flag).
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    pub field: String,
    pub message: String,
}

impl InputError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for InputError {}

/// The formula's results and the verdict. Serialized as is by `roi --json` and as the `roi`
/// tool's `structuredContent`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoiReport {
    pub inputs: RoiInput,
    /// `development_hours × developer_hourly_rate`.
    pub development_cost: f64,
    /// Hours saved a month: `time_saved_per_use × uses_per_month × team_size`.
    pub monthly_time_saved: f64,
    /// `monthly_time_saved × developer_hourly_rate`.
    pub monthly_value: f64,
    /// `monthly_value × months_to_evaluate`.
    pub total_value: f64,
    /// `(total_value − development_cost) / development_cost × 100`.
    pub roi_percentage: f64,
    /// `development_cost / monthly_value`; `null` when the server saves nothing (it never
    /// breaks even), with the reason in `break_even_note`.
    pub break_even_months: Option<f64>,
    pub break_even_note: Option<String>,
    /// `monthly_value × 12`, for the rule of thumb.
    pub annual_value: f64,
    pub verdict: Verdict,
}

/// The reference's rule of thumb applied to a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    pub decision: Decision,
    /// One sentence.
    pub summary: String,
    /// The value a year above which building pays (the reference's $50K).
    pub value_threshold_per_year: f64,
    pub meets_value_threshold: bool,
    pub breaks_even_in_period: bool,
    /// One line per check, for and against.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// Above the value threshold and breaks even within the evaluation period.
    WorthBuilding,
    /// One of the two checks holds.
    Marginal,
    /// Neither holds.
    NotWorthBuilding,
}

/// Check one value: a finite number, not negative.
fn non_negative(field: &'static str, v: f64) -> Result<f64, InputError> {
    if !v.is_finite() {
        return Err(InputError::new(
            field,
            format!("must be a finite number, got {v}"),
        ));
    }
    if v < 0.0 {
        return Err(InputError::new(
            field,
            format!("must not be negative, got {v}"),
        ));
    }
    Ok(v)
}

fn finite(what: &'static str, v: f64) -> Result<f64, InputError> {
    if v.is_finite() {
        Ok(v)
    } else {
        Err(InputError::new(
            what,
            "the inputs are too large to compute with (the result overflows)",
        ))
    }
}

/// Run the reference formula. Every input must be a finite, non-negative number; the
/// development cost and the evaluation period must be more than zero (the ROI divides by the
/// cost). A server that saves nothing gets `break_even_months: null` and a reason.
pub fn calculate(input: RoiInput) -> Result<RoiReport, InputError> {
    let development_hours = non_negative("development_hours", input.development_hours)?;
    let rate = non_negative("developer_hourly_rate", input.developer_hourly_rate)?;
    let time_saved = non_negative("time_saved_per_use", input.time_saved_per_use)?;
    let uses = non_negative("uses_per_month", input.uses_per_month)?;
    let team = non_negative("team_size", input.team_size)?;
    let months = non_negative("months_to_evaluate", input.months_to_evaluate)?;
    if development_hours == 0.0 {
        return Err(InputError::new(
            "development_hours",
            "must be more than 0: the ROI is measured against the development cost",
        ));
    }
    if rate == 0.0 {
        return Err(InputError::new(
            "developer_hourly_rate",
            "must be more than 0: the development cost and the value of saved time both use it",
        ));
    }
    if months == 0.0 {
        return Err(InputError::new(
            "months_to_evaluate",
            "must be more than 0: the total value is counted over this many months",
        ));
    }

    // The reference formula, step by step and in its order.
    let development_cost = finite("development_cost", development_hours * rate)?;
    let monthly_time_saved = finite("monthly_time_saved", time_saved * uses * team)?;
    let monthly_value = finite("monthly_value", monthly_time_saved * rate)?;
    let total_value = finite("total_value", monthly_value * months)?;
    let roi = (total_value - development_cost) / development_cost;
    let roi_percentage = finite("roi_percentage", roi * 100.0)?;
    let annual_value = finite("annual_value", monthly_value * 12.0)?;
    // Why it never breaks even, when it does not.
    let never: Option<String> = if monthly_value > 0.0 {
        (!(development_cost / monthly_value).is_finite())
            .then(|| "the monthly value is too small to recover the development cost".to_owned())
    } else {
        let zero = [
            ("time_saved_per_use", time_saved),
            ("uses_per_month", uses),
            ("team_size", team),
        ]
        .iter()
        .filter(|(_, v)| *v == 0.0)
        .map(|(k, _)| *k)
        .collect::<Vec<_>>()
        .join(", ");
        Some(format!(
            "the server saves no time ({zero} is 0), so its monthly value is 0"
        ))
    };
    let break_even_months = match never {
        None => Some(development_cost / monthly_value),
        Some(_) => None,
    };
    let verdict = verdict(annual_value, break_even_months, never.as_deref(), months);
    let break_even_note = never.map(|why| format!("never: {why}"));
    Ok(RoiReport {
        inputs: RoiInput {
            development_hours,
            developer_hourly_rate: rate,
            time_saved_per_use: time_saved,
            uses_per_month: uses,
            team_size: team,
            months_to_evaluate: months,
        },
        development_cost,
        monthly_time_saved,
        monthly_value,
        total_value,
        roi_percentage,
        break_even_months,
        break_even_note,
        annual_value,
        verdict,
    })
}

fn verdict(
    annual_value: f64,
    break_even_months: Option<f64>,
    never_why: Option<&str>,
    months: f64,
) -> Verdict {
    let meets_value_threshold = annual_value > VALUE_PER_YEAR_THRESHOLD;
    let breaks_even_in_period = break_even_months.is_some_and(|m| m <= months);
    let threshold = crate::advisor::numbers::whole_money(VALUE_PER_YEAR_THRESHOLD);
    let period = crate::advisor::numbers::number(months);
    let mut reasons = vec![if meets_value_threshold {
        format!(
            "worth {} a year, above the {threshold} a year the reference sets for building",
            crate::advisor::numbers::whole_money(annual_value)
        )
    } else {
        format!(
            "worth {} a year, not above the {threshold} a year the reference sets for building",
            crate::advisor::numbers::whole_money(annual_value)
        )
    }];
    reasons.push(match break_even_months {
        Some(m) if breaks_even_in_period => format!(
            "breaks even after {} months, within the {period}-month evaluation period",
            crate::advisor::numbers::number(m)
        ),
        Some(m) => format!(
            "breaks even after {} months, after the {period}-month evaluation period",
            crate::advisor::numbers::number(m)
        ),
        None => format!(
            "never breaks even: {}",
            never_why.unwrap_or("the monthly value is 0")
        ),
    });
    let (decision, summary) = match (meets_value_threshold, breaks_even_in_period) {
        (true, true) => (
            Decision::WorthBuilding,
            "Worth building: it clears the value rule of thumb and pays for itself within the evaluation period.",
        ),
        (false, true) => (
            Decision::Marginal,
            "Marginal: it pays for itself within the evaluation period, but its yearly value is below the rule of thumb; prefer an existing or adapted server unless it brings a competitive advantage.",
        ),
        (true, false) => (
            Decision::Marginal,
            "Marginal: its yearly value clears the rule of thumb, but it does not pay for itself within the evaluation period; cut the development time or evaluate over a longer period.",
        ),
        (false, false) => (
            Decision::NotWorthBuilding,
            "Not worth building: it neither clears the value rule of thumb nor pays for itself within the evaluation period; use or adapt an existing server.",
        ),
    };
    Verdict {
        decision,
        summary: summary.to_owned(),
        value_threshold_per_year: VALUE_PER_YEAR_THRESHOLD,
        meets_value_threshold,
        breaks_even_in_period,
        reasons,
    }
}

/// Parse a time saved per use: a number of hours (`0.25`), or with a unit: `15m`, `15min`,
/// `0.25h`, `90s`. Returns hours.
pub fn parse_time_saved(s: &str) -> Result<f64, String> {
    let t = s.trim();
    if let Ok(hours) = t.parse::<f64>() {
        return check_number(hours);
    }
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.trim().parse().map_err(|_| {
        format!("`{s}` is not a duration: write hours (0.25) or add a unit (15m, 0.25h, 90s)")
    })?;
    let hours = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "h" | "hr" | "hrs" | "hour" | "hours" => value,
        "m" | "min" | "mins" | "minute" | "minutes" => value / 60.0,
        "s" | "sec" | "secs" | "second" | "seconds" => value / 3600.0,
        other => {
            return Err(format!(
                "unknown unit `{other}` in `{s}`: use h, m (minutes) or s"
            ));
        }
    };
    check_number(hours)
}

/// A CLI number: finite and not negative (the flag is named by clap).
pub fn parse_number(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a number"))?;
    check_number(v)
}

fn check_number(v: f64) -> Result<f64, String> {
    if !v.is_finite() {
        Err(format!("must be a finite number, got {v}"))
    } else if v < 0.0 {
        Err(format!("must not be negative, got {v}"))
    } else {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> RoiInput {
        RoiInput {
            development_hours: 120.0,
            developer_hourly_rate: 100.0,
            time_saved_per_use: 0.25,
            uses_per_month: 20.0,
            team_size: 10.0,
            months_to_evaluate: 12.0,
        }
    }

    #[test]
    fn the_reference_formula() {
        let r = calculate(input()).unwrap();
        assert_eq!(r.development_cost, 12_000.0);
        assert_eq!(r.monthly_time_saved, 50.0);
        assert_eq!(r.monthly_value, 5_000.0);
        assert_eq!(r.total_value, 60_000.0);
        assert_eq!(r.roi_percentage, 400.0);
        assert_eq!(r.break_even_months, Some(2.4));
        assert_eq!(r.break_even_note, None);
        assert_eq!(r.annual_value, 60_000.0);
        assert_eq!(r.verdict.decision, Decision::WorthBuilding);
        assert!(r.verdict.meets_value_threshold && r.verdict.breaks_even_in_period);
    }

    #[test]
    fn verdicts_follow_the_rule_of_thumb() {
        // $2,500 a month = $30K a year (below), breaks even in 4.8 months (within 12).
        let small = calculate(RoiInput {
            team_size: 5.0,
            ..input()
        })
        .unwrap();
        assert_eq!(small.annual_value, 30_000.0);
        assert_eq!(small.verdict.decision, Decision::Marginal);
        assert!(!small.verdict.meets_value_threshold);
        assert!(small.verdict.breaks_even_in_period);

        // $60K a year but 1,000 hours to build: break-even after 20 months, outside 12.
        let slow = calculate(RoiInput {
            development_hours: 1_000.0,
            ..input()
        })
        .unwrap();
        assert_eq!(slow.break_even_months, Some(20.0));
        assert_eq!(slow.verdict.decision, Decision::Marginal);
        assert!(slow.verdict.meets_value_threshold);
        assert!(!slow.verdict.breaks_even_in_period);

        // Exactly $50K a year is not *more than* $50K.
        let edge = calculate(RoiInput {
            time_saved_per_use: 50_000.0 / 12.0 / 100.0 / 200.0,
            ..input()
        })
        .unwrap();
        assert!((edge.annual_value - 50_000.0).abs() < 1e-6);
        assert_eq!(
            edge.verdict.meets_value_threshold,
            edge.annual_value > 50_000.0
        );

        let neither = calculate(RoiInput {
            development_hours: 1_000.0,
            team_size: 1.0,
            ..input()
        })
        .unwrap();
        assert_eq!(neither.verdict.decision, Decision::NotWorthBuilding);
    }

    #[test]
    fn saving_nothing_never_breaks_even() {
        let r = calculate(RoiInput {
            uses_per_month: 0.0,
            ..input()
        })
        .unwrap();
        assert_eq!(r.monthly_value, 0.0);
        assert_eq!(r.break_even_months, None);
        let note = r.break_even_note.clone().unwrap();
        assert!(
            note.contains("never") && note.contains("uses_per_month"),
            "{note}"
        );
        assert_eq!(r.roi_percentage, -100.0);
        assert_eq!(r.verdict.decision, Decision::NotWorthBuilding);
        let json = serde_json::to_value(&r).unwrap();
        assert!(json["break_even_months"].is_null());
        assert!(!json.to_string().contains("inf") && !json.to_string().contains("NaN"));
    }

    #[test]
    fn bad_inputs_name_their_field() {
        let cases: [(RoiInput, &str); 7] = [
            (
                RoiInput {
                    development_hours: -1.0,
                    ..input()
                },
                "development_hours",
            ),
            (
                RoiInput {
                    developer_hourly_rate: f64::NAN,
                    ..input()
                },
                "developer_hourly_rate",
            ),
            (
                RoiInput {
                    time_saved_per_use: f64::INFINITY,
                    ..input()
                },
                "time_saved_per_use",
            ),
            (
                RoiInput {
                    team_size: -3.0,
                    ..input()
                },
                "team_size",
            ),
            (
                RoiInput {
                    development_hours: 0.0,
                    ..input()
                },
                "development_hours",
            ),
            (
                RoiInput {
                    developer_hourly_rate: 0.0,
                    ..input()
                },
                "developer_hourly_rate",
            ),
            (
                RoiInput {
                    months_to_evaluate: 0.0,
                    ..input()
                },
                "months_to_evaluate",
            ),
        ];
        for (i, field) in cases {
            let e = calculate(i).unwrap_err();
            assert_eq!(e.field, field, "{e}");
        }
    }

    #[test]
    fn overflow_is_an_error_not_infinity() {
        let e = calculate(RoiInput {
            time_saved_per_use: 1e300,
            uses_per_month: 1e300,
            ..input()
        })
        .unwrap_err();
        assert!(e.message.contains("too large"), "{e}");
    }

    #[test]
    fn time_saved_units() {
        assert_eq!(parse_time_saved("0.25").unwrap(), 0.25);
        assert_eq!(parse_time_saved("15m").unwrap(), 0.25);
        assert_eq!(parse_time_saved("15 min").unwrap(), 0.25);
        assert_eq!(parse_time_saved("1.5h").unwrap(), 1.5);
        assert_eq!(parse_time_saved("90s").unwrap(), 0.025);
        assert!(parse_time_saved("15 fortnights").is_err());
        assert!(parse_time_saved("-5m").unwrap_err().contains("negative"));
        assert!(parse_time_saved("abc").is_err());
        assert!(parse_number("NaN").unwrap_err().contains("finite"));
        assert!(parse_number("inf").unwrap_err().contains("finite"));
        assert_eq!(parse_number("12").unwrap(), 12.0);
    }
}
