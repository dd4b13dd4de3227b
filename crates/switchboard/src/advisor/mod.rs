//! Decision support (PRODUCT.md capability 16): is a custom MCP server worth building?
//!
//! - `roi.rs`: the reference ROI formula (`calculate_mcp_roi`) and its rule of thumb as a
//!   verdict (more than $50K of value a year, break-even within the evaluation period);
//! - `matrix.rs`: the reference decision matrix (build / use / adapt over six factors);
//! - `render.rs`: the readable reports;
//! - `tools.rs` and `mcp.rs`: both as MCP tools (`roi`, `decision_matrix`), served over stdio
//!   by the hidden `switchboard advisor`;
//! - `backend.rs`: the same server inside the gateway's process. [`inject`] adds the server
//!   `switchboard` (this binary, `advisor`) to the config when `builtin.advisor` is on, and
//!   the gateway's [`backends`] serve exactly that entry in-process instead of starting it.
//!
//! On the command line: `switchboard roi …` and `switchboard matrix …` (see their `--help`).

pub mod backend;
pub mod matrix;
pub mod mcp;
pub mod numbers;
pub mod render;
pub mod roi;
pub mod tools;

use std::process::ExitCode;

use anyhow::Context;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};

use matrix::{Choice, Factor, MatrixInput, row};
use roi::RoiInput;

pub use backend::backends;

/// The name of the built-in server in the catalogue: its tools are `switchboard__roi` and
/// `switchboard__decision_matrix` with the default federation settings.
pub const SERVER: &str = "switchboard";

/// The arguments of the built-in server's command (the hidden subcommand).
const ARGS: [&str; 1] = ["advisor"];

/// `switchboard roi`.
#[derive(clap::Args, Debug)]
#[command(after_help = "The reference formula:
  development_cost  = development_hours × hourly_rate
  monthly_value     = time_saved_per_use × uses_per_month × team_size × hourly_rate
  total_value       = monthly_value × months
  roi_percentage    = (total_value − development_cost) / development_cost × 100
  break_even_months = development_cost / monthly_value
Verdict: worth building when the value is more than $50K a year and it breaks even within
--months (the reference's rule of thumb).

Example:
  switchboard roi --development-hours 120 --hourly-rate 100 --time-saved-per-use 15m \\
      --uses-per-month 20 --team-size 10 --months 12")]
pub struct RoiArgs {
    /// Hours to build the MCP server (more than 0).
    #[arg(long, value_name = "HOURS", allow_negative_numbers = true, value_parser = roi::parse_number)]
    pub development_hours: f64,
    /// Cost of one developer hour, e.g. 100 (more than 0); saved time is valued at the same rate.
    #[arg(long, value_name = "AMOUNT", allow_negative_numbers = true, value_parser = roi::parse_number)]
    pub hourly_rate: f64,
    /// Time saved each time the tool is used: hours (0.25), or with a unit: 15m, 0.25h, 90s.
    #[arg(long, value_name = "TIME", allow_negative_numbers = true, value_parser = roi::parse_time_saved)]
    pub time_saved_per_use: f64,
    /// How many times one person uses the tool in a month.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = roi::parse_number)]
    pub uses_per_month: f64,
    /// How many people use it.
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = roi::parse_number)]
    pub team_size: f64,
    /// Evaluation period in months (more than 0).
    #[arg(long, value_name = "MONTHS", allow_negative_numbers = true, value_parser = roi::parse_number)]
    pub months: f64,
    /// Print the result as JSON (the `roi` MCP tool's structured content).
    #[arg(long)]
    pub json: bool,
}

/// `switchboard matrix`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "The reference table (each answer is a vote for its column):
  factor                  build               use          adapt
  --tool-popularity       proprietary         widely-used  popular-customized
  --business-logic        complex             standard     some-customization
  --development-time      2-8-weeks           1-day        1-2-weeks
  --maintenance           full-ownership      community    shared
  --competitive-advantage high                none         medium
  --team-expertise        high                any          medium
The option with most votes is recommended; a tie goes to the one that costs less to develop
and maintain (use, then adapt, then build).

Example:
  switchboard matrix --tool-popularity proprietary --business-logic complex \\
      --development-time 1-2-weeks --maintenance full-ownership \\
      --competitive-advantage high --team-expertise medium"
)]
pub struct MatrixArgs {
    /// How widely used is the tool the server would connect to?
    #[arg(long, alias = "popularity", value_name = "ANSWER", value_parser = factor(Factor::ToolPopularity))]
    pub tool_popularity: Choice,
    /// How specific is the logic the tools must implement?
    #[arg(long, value_name = "ANSWER", value_parser = factor(Factor::BusinessLogic))]
    pub business_logic: Choice,
    /// How much development time can you spend?
    #[arg(long, value_name = "ANSWER", value_parser = factor(Factor::DevelopmentTime))]
    pub development_time: Choice,
    /// Who can maintain the server?
    #[arg(long, value_name = "ANSWER", value_parser = factor(Factor::Maintenance))]
    pub maintenance: Choice,
    /// How much competitive advantage does the integration give?
    #[arg(long, value_name = "ANSWER", value_parser = factor(Factor::CompetitiveAdvantage))]
    pub competitive_advantage: Choice,
    /// How much MCP and integration expertise does the team have?
    #[arg(long, alias = "expertise", value_name = "ANSWER", value_parser = factor(Factor::TeamExpertise))]
    pub team_expertise: Choice,
    /// Print the result as JSON (the `decision_matrix` MCP tool's structured content).
    #[arg(long)]
    pub json: bool,
}

/// A clap parser for one factor's answers: the table's values (listed in `--help` with their
/// wording) and their aliases.
fn factor(f: Factor) -> impl TypedValueParser<Value = Choice> {
    let r = row(f);
    let values = r.cells.iter().map(|c| {
        PossibleValue::new(c.value)
            .help(format!("{} → {}", c.label, c.choice.as_str()))
            .aliases(c.aliases.iter().copied())
    });
    PossibleValuesParser::new(values)
        .map(move |s: String| r.parse(&s).map_or(Choice::Use, |c| c.choice))
}

/// The command-line flag of a `roi` input field, for error messages.
fn roi_flag(field: &str) -> &str {
    match field {
        "development_hours" => "--development-hours",
        "developer_hourly_rate" => "--hourly-rate",
        "time_saved_per_use" => "--time-saved-per-use",
        "uses_per_month" => "--uses-per-month",
        "team_size" => "--team-size",
        "months_to_evaluate" => "--months",
        other => other,
    }
}

/// `switchboard roi`: print the report; exit 2 (a usage error) when the inputs cannot be
/// computed with.
pub fn run_roi(a: &RoiArgs) -> anyhow::Result<ExitCode> {
    let input = RoiInput {
        development_hours: a.development_hours,
        developer_hourly_rate: a.hourly_rate,
        time_saved_per_use: a.time_saved_per_use,
        uses_per_month: a.uses_per_month,
        team_size: a.team_size,
        months_to_evaluate: a.months,
    };
    let report = match roi::calculate(input) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("switchboard roi: {}: {}", roi_flag(&e.field), e.message);
            return Ok(ExitCode::from(2));
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render::roi(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// `switchboard matrix`: print the recommendation.
pub fn run_matrix(a: &MatrixArgs) -> anyhow::Result<ExitCode> {
    let report = matrix::decide(MatrixInput {
        answers: [
            a.tool_popularity,
            a.business_logic,
            a.development_time,
            a.maintenance,
            a.competitive_advantage,
            a.team_expertise,
        ],
    });
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render::matrix(&report));
    }
    Ok(ExitCode::SUCCESS)
}

/// `switchboard advisor` (hidden): serve the tools over stdio.
pub async fn run_server() -> anyhow::Result<ExitCode> {
    mcp::serve_stdio().await?;
    Ok(ExitCode::SUCCESS)
}

/// With `builtin.advisor: true`, add the server `switchboard` (this binary, `advisor`) to the
/// config. Refused when a configured server already uses that name, or that prefix.
pub fn inject(cfg: &mut switchboard_config::Config) -> anyhow::Result<()> {
    if !cfg.builtin.advisor {
        return Ok(());
    }
    if cfg.servers.contains_key(SERVER) {
        anyhow::bail!(
            "servers.{SERVER}: the name `{SERVER}` is taken by the built-in tools (builtin.advisor: true) (fix: rename this server, or set builtin.advisor: false)"
        );
    }
    if let Some((name, _)) = cfg
        .servers
        .iter()
        .find(|(_, s)| s.prefix.as_deref() == Some(SERVER))
    {
        anyhow::bail!(
            "servers.{name}.prefix: the prefix `{SERVER}` is taken by the built-in tools (builtin.advisor: true) (fix: choose another prefix, or set builtin.advisor: false)"
        );
    }
    let exe = command()?;
    let mut server = switchboard_config::ServerConfig::stdio(exe, ARGS.map(String::from).to_vec());
    // It speaks the session-era protocol only: skip the `server/discover` probe.
    server.protocol = switchboard_config::ProtocolMode::Legacy;
    cfg.servers.insert(SERVER.into(), server);
    Ok(())
}

/// The command of the built-in server: this executable.
fn command() -> anyhow::Result<String> {
    let exe = std::env::current_exe()
        .context("builtin.advisor: cannot find the switchboard executable to start")?;
    Ok(exe
        .to_str()
        .with_context(|| {
            format!(
                "builtin.advisor: the switchboard executable's path is not UTF-8: {}",
                exe.display()
            )
        })?
        .to_owned())
}

/// Whether `name: config` is the entry [`inject`] adds: the name `switchboard`, this
/// executable as its command, and `advisor` as its only argument. A server of the user's
/// that is merely called `switchboard` (with `builtin.advisor` off) is not.
pub fn is_builtin(name: &str, config: &switchboard_config::ServerConfig) -> bool {
    name == SERVER
        && config.args == ARGS
        && config
            .command
            .as_deref()
            .is_some_and(|c| command().is_ok_and(|exe| exe == c))
}

/// [`inject`], for a config being loaded: `let cfg = with_builtins(load(path)?)?`.
pub fn with_builtins(
    mut cfg: switchboard_config::Config,
) -> anyhow::Result<switchboard_config::Config> {
    inject(&mut cfg)?;
    Ok(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inject_adds_the_server_only_when_enabled() {
        let mut cfg = switchboard_config::Config::default();
        inject(&mut cfg).unwrap();
        assert!(cfg.servers.is_empty());

        cfg.builtin.advisor = true;
        inject(&mut cfg).unwrap();
        let s = &cfg.servers[SERVER];
        assert_eq!(s.args, ["advisor"]);
        assert_eq!(
            s.command.as_deref(),
            std::env::current_exe().unwrap().to_str()
        );
        assert!(s.is_enabled());

        assert!(is_builtin(SERVER, s));
        assert!(!is_builtin("other", s));

        // A second injection finds the name taken: it is refused, naming the key.
        let e = inject(&mut cfg).unwrap_err().to_string();
        assert!(e.contains("servers.switchboard"), "{e}");
    }

    #[test]
    fn inject_refuses_a_prefix_clash() {
        let mut cfg = switchboard_config::Config::default();
        cfg.builtin.advisor = true;
        let mut other = switchboard_config::ServerConfig::stdio("x", vec![]);
        other.prefix = Some(SERVER.into());
        cfg.servers.insert("tools".into(), other);
        let e = inject(&mut cfg).unwrap_err().to_string();
        assert!(e.contains("servers.tools.prefix"), "{e}");
    }

    #[test]
    fn only_the_injected_entry_is_the_builtin_one() {
        let exe = command().unwrap();
        let advisor =
            || switchboard_config::ServerConfig::stdio(exe.clone(), vec!["advisor".into()]);
        assert!(is_builtin(SERVER, &advisor()));
        // Another name, another command, other arguments: the user's own server.
        assert!(!is_builtin("advisor", &advisor()));
        let cat = switchboard_config::ServerConfig::stdio("/bin/cat", vec!["advisor".into()]);
        assert!(!is_builtin(SERVER, &cat));
        let mut more = advisor();
        more.args.push("--verbose".into());
        assert!(!is_builtin(SERVER, &more));
        let mut none = advisor();
        none.args.clear();
        assert!(!is_builtin(SERVER, &none));
        let mut http = advisor();
        http.command = None;
        http.url = Some("http://127.0.0.1:1/mcp".into());
        assert!(!is_builtin(SERVER, &http));
    }
}
