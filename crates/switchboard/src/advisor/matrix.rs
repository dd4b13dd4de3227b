//! The reference document's decision matrix, "Build vs Buy vs Adapt": six factors, each
//! answered with one of the table's three columns. Each answer is a vote for its column; the
//! column with most votes is recommended (a tie goes to the option that costs less to develop
//! and maintain), with the table's development time and maintenance model, and warnings where
//! the recommendation needs more time, expertise or ownership than the answers allow.

use serde::Serialize;

/// The three columns of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Choice {
    Build,
    Use,
    Adapt,
}

impl Choice {
    /// Column order of the reference table.
    pub const ALL: [Choice; 3] = [Choice::Build, Choice::Use, Choice::Adapt];

    pub fn as_str(self) -> &'static str {
        match self {
            Choice::Build => "build",
            Choice::Use => "use",
            Choice::Adapt => "adapt",
        }
    }

    /// The column's heading in the reference table.
    pub fn label(self) -> &'static str {
        match self {
            Choice::Build => "Build custom",
            Choice::Use => "Use existing",
            Choice::Adapt => "Adapt existing",
        }
    }

    /// The table's development time for this option.
    pub fn development_time(self) -> &'static str {
        match self {
            Choice::Build => "2-8 weeks",
            Choice::Use => "1 day",
            Choice::Adapt => "1-2 weeks",
        }
    }

    /// The table's maintenance model for this option.
    pub fn maintenance(self) -> &'static str {
        match self {
            Choice::Build => "Full ownership",
            Choice::Use => "Community",
            Choice::Adapt => "Shared",
        }
    }

    /// The option as the subject of a sentence.
    fn doing(self) -> &'static str {
        match self {
            Choice::Build => "Building a custom server",
            Choice::Use => "Using an existing server",
            Choice::Adapt => "Adapting an existing server",
        }
    }

    /// How much the option demands (time, expertise, ownership): use < adapt < build. Ties
    /// are broken towards the least demanding option.
    fn demand(self) -> u8 {
        match self {
            Choice::Use => 0,
            Choice::Adapt => 1,
            Choice::Build => 2,
        }
    }

    /// The reference's ROI scenarios for this kind of option.
    pub fn roi_scenario(self) -> &'static str {
        match self {
            Choice::Build => {
                "High ROI scenarios: internal tools (JIRA customizations, internal APIs), proprietary systems (company-specific databases, legacy systems), multi-step workflows unique to your company, industry-specific compliance requirements."
            }
            Choice::Adapt => {
                "Medium ROI scenarios: popular tools with your own customizations (Slack with specific workflows), aggregating several APIs, company-specific data formats."
            }
            Choice::Use => {
                "Low ROI for a custom build: standard tools such as GitHub or AWS (use their existing MCP servers), tools used rarely, operations done by hand in under 5 minutes."
            }
        }
    }

    /// What to do next.
    pub fn next_step(self) -> &'static str {
        match self {
            Choice::Build => {
                "Check the investment with `roi` (the reference builds when the server is worth more than $50K a year and breaks even within the evaluation period), then build it and federate it behind Switchboard."
            }
            Choice::Adapt => {
                "Start from the existing server: fork or wrap it, put it behind Switchboard and add your customization around it; `roi` with the 1-2 weeks of adaptation shows whether it pays."
            }
            Choice::Use => {
                "Add the existing MCP server to `servers:` in switchboard.yaml (a Claude Desktop entry works unchanged) and govern it with roles, limits and the audit trail."
            }
        }
    }
}

/// The six rows of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Factor {
    ToolPopularity,
    BusinessLogic,
    DevelopmentTime,
    Maintenance,
    CompetitiveAdvantage,
    TeamExpertise,
}

/// One cell of the table: the value a user gives to choose it.
#[derive(Debug, Clone, Copy)]
pub struct Cell {
    pub choice: Choice,
    /// The value on the command line and in the MCP tool's arguments.
    pub value: &'static str,
    /// The table's wording.
    pub label: &'static str,
    /// Other accepted spellings.
    pub aliases: &'static [&'static str],
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub factor: Factor,
    /// The MCP argument and JSON field name.
    pub key: &'static str,
    /// The table's wording.
    pub title: &'static str,
    /// What the answer says.
    pub question: &'static str,
    /// Whether the answer is a limit (time the team can spend, maintenance it can take on,
    /// expertise it has) that an option demanding more would exceed.
    pub capacity: bool,
    /// Build, use, adapt: the table's column order.
    pub cells: [Cell; 3],
}

const fn cell(
    choice: Choice,
    value: &'static str,
    label: &'static str,
    aliases: &'static [&'static str],
) -> Cell {
    Cell {
        choice,
        value,
        label,
        aliases,
    }
}

/// The reference table.
pub const ROWS: [Row; 6] = [
    Row {
        factor: Factor::ToolPopularity,
        key: "tool_popularity",
        title: "Tool popularity",
        question: "How widely used is the tool or system the MCP server would connect to?",
        capacity: false,
        cells: [
            cell(
                Choice::Build,
                "proprietary",
                "Proprietary/niche",
                &["niche"],
            ),
            cell(Choice::Use, "widely-used", "Widely used", &["widely"]),
            cell(
                Choice::Adapt,
                "popular-customized",
                "Popular but customized",
                &["customized"],
            ),
        ],
    },
    Row {
        factor: Factor::BusinessLogic,
        key: "business_logic",
        title: "Business logic",
        question: "How specific is the logic the tools must implement?",
        capacity: false,
        cells: [
            cell(Choice::Build, "complex", "Complex/unique", &["unique"]),
            cell(Choice::Use, "standard", "Standard", &[]),
            cell(
                Choice::Adapt,
                "some-customization",
                "Some customization",
                &["some"],
            ),
        ],
    },
    Row {
        factor: Factor::DevelopmentTime,
        key: "development_time",
        title: "Development time",
        question: "How much development time can you spend?",
        capacity: true,
        cells: [
            cell(Choice::Build, "2-8-weeks", "2-8 weeks", &["weeks"]),
            cell(Choice::Use, "1-day", "1 day", &["day"]),
            cell(Choice::Adapt, "1-2-weeks", "1-2 weeks", &[]),
        ],
    },
    Row {
        factor: Factor::Maintenance,
        key: "maintenance",
        title: "Maintenance",
        question: "Who can maintain the server?",
        capacity: true,
        cells: [
            cell(Choice::Build, "full-ownership", "Full ownership", &["full"]),
            cell(Choice::Use, "community", "Community", &[]),
            cell(Choice::Adapt, "shared", "Shared", &[]),
        ],
    },
    Row {
        factor: Factor::CompetitiveAdvantage,
        key: "competitive_advantage",
        title: "Competitive advantage",
        question: "How much competitive advantage does the integration give?",
        capacity: false,
        cells: [
            cell(Choice::Build, "high", "High", &[]),
            cell(Choice::Use, "none", "None", &[]),
            cell(Choice::Adapt, "medium", "Medium", &[]),
        ],
    },
    Row {
        factor: Factor::TeamExpertise,
        key: "team_expertise",
        title: "Team expertise",
        question: "How much MCP and integration expertise does the team have?",
        capacity: true,
        cells: [
            cell(Choice::Build, "high", "High", &[]),
            cell(Choice::Use, "any", "Any", &["low"]),
            cell(Choice::Adapt, "medium", "Medium", &[]),
        ],
    },
];

impl Row {
    /// The cell a value names (case, `_` for `-` and the aliases accepted).
    pub fn parse(&self, value: &str) -> Option<&Cell> {
        let v = value.trim().to_ascii_lowercase().replace(['_', ' '], "-");
        self.cells
            .iter()
            .find(|c| c.value == v || c.aliases.contains(&v.as_str()))
    }

    /// `proprietary, widely-used, popular-customized`, for messages.
    pub fn values(&self) -> String {
        self.cells
            .iter()
            .map(|c| c.value)
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn cell(&self, choice: Choice) -> &Cell {
        match choice {
            Choice::Build => &self.cells[0],
            Choice::Use => &self.cells[1],
            Choice::Adapt => &self.cells[2],
        }
    }
}

/// The table's row for a factor.
pub fn row(factor: Factor) -> &'static Row {
    match factor {
        Factor::ToolPopularity => &ROWS[0],
        Factor::BusinessLogic => &ROWS[1],
        Factor::DevelopmentTime => &ROWS[2],
        Factor::Maintenance => &ROWS[3],
        Factor::CompetitiveAdvantage => &ROWS[4],
        Factor::TeamExpertise => &ROWS[5],
    }
}

/// The answers: one column per factor, in the order of [`ROWS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MatrixInput {
    pub answers: [Choice; 6],
}

/// One answered factor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub factor: &'static str,
    pub title: &'static str,
    /// The value given.
    pub answer: &'static str,
    /// The table's wording of it.
    pub label: &'static str,
    pub points_to: Choice,
}

/// One column and how the answers scored it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OptionScore {
    pub option: Choice,
    pub label: &'static str,
    pub score: u32,
    /// The factors that pointed here.
    pub factors: Vec<&'static str>,
    pub development_time: &'static str,
    pub maintenance: &'static str,
}

/// The recommendation. Serialized as is by `matrix --json` and as the `decision_matrix`
/// tool's `structuredContent`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatrixReport {
    pub recommendation: Choice,
    pub recommendation_label: &'static str,
    /// `strong` (a lead of 3 or more factors), `moderate` (1-2), `tie` (broken towards the
    /// option that costs less to develop and maintain).
    pub confidence: &'static str,
    pub scores: Scores,
    /// Expected development time and maintenance model of the recommendation (the table's).
    pub development_time: &'static str,
    pub maintenance: &'static str,
    pub answers: Vec<Answer>,
    /// Build, use, adapt.
    pub options: Vec<OptionScore>,
    pub reasons: Vec<String>,
    pub warnings: Vec<String>,
    pub roi_scenario: &'static str,
    pub next_step: &'static str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Scores {
    pub build: u32,
    #[serde(rename = "use")]
    pub use_: u32,
    pub adapt: u32,
}

impl Scores {
    pub fn of(&self, c: Choice) -> u32 {
        match c {
            Choice::Build => self.build,
            Choice::Use => self.use_,
            Choice::Adapt => self.adapt,
        }
    }
}

/// Score the answers and recommend an option.
pub fn decide(input: MatrixInput) -> MatrixReport {
    let answers: Vec<Answer> = ROWS
        .iter()
        .zip(input.answers)
        .map(|(r, choice)| {
            let c = r.cell(choice);
            Answer {
                factor: r.key,
                title: r.title,
                answer: c.value,
                label: c.label,
                points_to: choice,
            }
        })
        .collect();
    let count = |c: Choice| {
        u32::try_from(input.answers.iter().filter(|a| **a == c).count()).unwrap_or(u32::MAX)
    };
    let scores = Scores {
        build: count(Choice::Build),
        use_: count(Choice::Use),
        adapt: count(Choice::Adapt),
    };
    // Most votes; among equals the least demanding option.
    let mut ranked = Choice::ALL;
    ranked.sort_by(|a, b| {
        scores
            .of(*b)
            .cmp(&scores.of(*a))
            .then(a.demand().cmp(&b.demand()))
    });
    let [winner, second, _] = ranked;
    let margin = scores.of(winner) - scores.of(second);
    let confidence = match margin {
        0 => "tie",
        1 | 2 => "moderate",
        _ => "strong",
    };
    let options: Vec<OptionScore> = Choice::ALL
        .iter()
        .map(|&c| OptionScore {
            option: c,
            label: c.label(),
            score: scores.of(c),
            factors: answers
                .iter()
                .filter(|a| a.points_to == c)
                .map(|a| a.factor)
                .collect(),
            development_time: c.development_time(),
            maintenance: c.maintenance(),
        })
        .collect();

    let titles = |c: Choice| {
        answers
            .iter()
            .filter(|a| a.points_to == c)
            .map(|a| format!("{} ({})", a.title.to_lowercase(), a.label))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut reasons = vec![format!(
        "{} of 6 factors point to {}: {}",
        scores.of(winner),
        winner.as_str(),
        titles(winner)
    )];
    for c in Choice::ALL {
        if c != winner && scores.of(c) > 0 {
            reasons.push(format!(
                "{} {} to {}: {}",
                scores.of(c),
                if scores.of(c) == 1 {
                    "factor points"
                } else {
                    "factors point"
                },
                c.as_str(),
                titles(c)
            ));
        }
    }
    if margin == 0 {
        let tied: Vec<&str> = Choice::ALL
            .iter()
            .filter(|c| scores.of(**c) == scores.of(winner))
            .map(|c| c.as_str())
            .collect();
        reasons.push(format!(
            "a tie between {} ({} each): {} is recommended because it costs less to develop and maintain",
            tied.join(" and "),
            scores.of(winner),
            winner.as_str()
        ));
    }

    let mut warnings = Vec::new();
    for (r, answer) in ROWS.iter().zip(input.answers) {
        if r.capacity && winner.demand() > answer.demand() {
            let wanted = r.cell(winner).label;
            let given = r.cell(answer).label;
            warnings.push(match r.factor {
                Factor::DevelopmentTime => format!(
                    "{} takes {wanted}, more than the {given} you can spend",
                    winner.doing()
                ),
                Factor::Maintenance => format!(
                    "{} means {} maintenance, more than the {} maintenance you can take on",
                    winner.doing(),
                    wanted.to_lowercase(),
                    given.to_lowercase()
                ),
                _ => format!(
                    "{} needs {} {}; the team's is {}",
                    winner.doing(),
                    wanted.to_lowercase(),
                    r.title.to_lowercase(),
                    given.to_lowercase()
                ),
            });
        }
    }

    MatrixReport {
        recommendation: winner,
        recommendation_label: winner.label(),
        confidence,
        scores,
        development_time: winner.development_time(),
        maintenance: winner.maintenance(),
        answers,
        options,
        reasons,
        warnings,
        roi_scenario: winner.roi_scenario(),
        next_step: winner.next_step(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Choice::*;

    #[test]
    fn rows_are_the_reference_table() {
        let t: Vec<(&str, [&str; 3])> = ROWS
            .iter()
            .map(|r| (r.title, r.cells.map(|c| c.label)))
            .collect();
        assert_eq!(
            t,
            vec![
                (
                    "Tool popularity",
                    ["Proprietary/niche", "Widely used", "Popular but customized"]
                ),
                (
                    "Business logic",
                    ["Complex/unique", "Standard", "Some customization"]
                ),
                ("Development time", ["2-8 weeks", "1 day", "1-2 weeks"]),
                ("Maintenance", ["Full ownership", "Community", "Shared"]),
                ("Competitive advantage", ["High", "None", "Medium"]),
                ("Team expertise", ["High", "Any", "Medium"]),
            ]
        );
        for r in &ROWS {
            assert_eq!(r.cells.map(|c| c.choice), Choice::ALL);
            assert_eq!(row(r.factor).key, r.key);
        }
    }

    #[test]
    fn a_clear_case_for_each_column() {
        for c in Choice::ALL {
            let r = decide(MatrixInput { answers: [c; 6] });
            assert_eq!(r.recommendation, c);
            assert_eq!(r.confidence, "strong");
            assert_eq!(r.scores.of(c), 6);
            assert_eq!(r.development_time, c.development_time());
            assert!(r.warnings.is_empty(), "{:?}", r.warnings);
        }
    }

    #[test]
    fn majority_wins_and_reasons_name_the_factors() {
        let r = decide(MatrixInput {
            answers: [Build, Build, Adapt, Build, Build, Adapt],
        });
        assert_eq!(r.recommendation, Build);
        assert_eq!(
            r.scores,
            Scores {
                build: 4,
                use_: 0,
                adapt: 2
            }
        );
        assert_eq!(r.confidence, "moderate");
        assert!(r.reasons[0].starts_with("4 of 6 factors point to build: tool popularity"));
        assert!(r.reasons[1].contains("development time (1-2 weeks)"));
        // Capacity limits: 1-2 weeks of time and medium expertise are less than building needs.
        assert_eq!(r.warnings.len(), 2, "{:?}", r.warnings);
        assert!(r.warnings[0].contains("2-8 weeks") && r.warnings[0].contains("1-2 weeks"));
        assert!(r.warnings[1].contains("team expertise"));
        let build = &r.options[0];
        assert_eq!(
            build.factors,
            vec![
                "tool_popularity",
                "business_logic",
                "maintenance",
                "competitive_advantage"
            ]
        );
    }

    #[test]
    fn ties_go_to_the_less_demanding_option() {
        let r = decide(MatrixInput {
            answers: [Build, Build, Build, Use, Use, Use],
        });
        assert_eq!(r.recommendation, Use);
        assert_eq!(r.confidence, "tie");
        assert!(
            r.reasons
                .iter()
                .any(|x| x.contains("a tie between build and use"))
        );
        let r = decide(MatrixInput {
            answers: [Build, Build, Adapt, Adapt, Use, Use],
        });
        assert_eq!(r.recommendation, Use);
        let r = decide(MatrixInput {
            answers: [Build, Build, Build, Adapt, Adapt, Adapt],
        });
        assert_eq!(r.recommendation, Adapt);
    }

    #[test]
    fn values_parse_with_aliases_and_spellings() {
        let pop = row(Factor::ToolPopularity);
        assert_eq!(pop.parse("widely_used").unwrap().choice, Use);
        assert_eq!(pop.parse("Niche").unwrap().choice, Build);
        assert!(pop.parse("famous").is_none());
        assert_eq!(row(Factor::TeamExpertise).parse("low").unwrap().choice, Use);
        assert_eq!(
            row(Factor::DevelopmentTime)
                .parse("1-2 weeks")
                .unwrap()
                .choice,
            Adapt
        );
        assert_eq!(pop.values(), "proprietary, widely-used, popular-customized");
    }
}
