//! The `routes:` section: one exposed tool served by several candidate tools, tried in an order
//! a strategy chooses, falling back on failures, with circuit breakers and hedging
//! (`crates/routes`). Loading puts the routes in one entry of `servers` (named
//! [`ROUTES_SERVER`]) whose tools are listed under their own names, without a prefix.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Dur;

/// The server entry that serves the routes; its tools keep their names (`search_documents`).
pub const ROUTES_SERVER: &str = "routes";

/// One route: the exposed tool `name` (its key in `routes:`) and its candidates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// The tool's description (default: the first candidate's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The tool's argument schema (default: the first candidate's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<Value>,
    /// The tools that can answer, each with a priority (higher first) and an optional
    /// argument mapping.
    pub candidates: Vec<CandidateConfig>,
    /// How candidates of equal priority are ordered: `priority` (as listed), `round_robin`,
    /// `least_latency` (by the latency seen), `adaptive` (by success and latency seen, with a
    /// little exploration).
    #[serde(default)]
    pub strategy: Strategy,
    /// Which failures move on to the next candidate (a tool that is not idempotent moves on
    /// only when its call never ran: `unavailable`).
    #[serde(default = "default_fallback_on")]
    pub fallback_on: Vec<FailureKind>,
    /// Stop sending calls to a candidate that keeps failing. Default on:
    /// `{failures: 5, window: 30s, cooldown: 15s}`.
    #[serde(default = "default_breaker", skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<BreakerConfig>,
    /// Read-only, idempotent tools only: when the first candidate has not answered after this
    /// long, ask the next one too and take the first answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hedge_after: Option<Dur>,
    /// Whether calling the tool twice is harmless (default: what its candidates' annotations
    /// say: `readOnlyHint` and `idempotentHint`). Decides which failures may fall back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateConfig {
    /// The catalogued tool (`server__tool`).
    pub tool: String,
    #[serde(default)]
    pub priority: i32,
    /// A jq expression over the route's arguments giving this candidate's (`${{ }}` around
    /// it optional), for a candidate whose schema differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    #[default]
    Priority,
    RoundRobin,
    LeastLatency,
    Adaptive,
}

/// A candidate's failure, as routes see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The call never ran: the server is down, starting, crash-looping or busy, or its
    /// breaker is open.
    Unavailable,
    /// No answer within the server's timeout (the call was cancelled; it may have run).
    Timeout,
    /// The server failed during the call (it may have run).
    Failed,
    /// The tool answered with an `isError` result.
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// This many failures within `window` open the breaker.
    pub failures: u32,
    pub window: Dur,
    /// How long it stays open; then one call probes, and closes it by succeeding.
    pub cooldown: Dur,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failures: 5,
            window: Dur::secs(30),
            cooldown: Dur::secs(15),
        }
    }
}

fn default_fallback_on() -> Vec<FailureKind> {
    vec![
        FailureKind::Unavailable,
        FailureKind::Timeout,
        FailureKind::Failed,
    ]
}

fn default_breaker() -> Option<BreakerConfig> {
    Some(BreakerConfig::default())
}

impl crate::Config {
    /// Put the `routes` section in the server entry that serves it ([`ROUTES_SERVER`], listed
    /// without a prefix). Loading does this after the checks.
    pub fn inject_routes(&mut self) {
        if self.routes.is_empty() {
            return;
        }
        let mut entry = crate::ServerConfig::stdio(String::new(), Vec::new());
        entry.command = None;
        entry.prefix = Some(String::new());
        entry.routes = self.routes.clone();
        self.servers.insert(ROUTES_SERVER.to_owned(), entry);
    }
}

/// Every route's candidate tools, by route.
pub fn candidate_tools(routes: &IndexMap<String, RouteConfig>) -> Vec<(&str, &str)> {
    routes
        .iter()
        .flat_map(|(n, r)| {
            r.candidates
                .iter()
                .map(move |c| (n.as_str(), c.tool.as_str()))
        })
        .collect()
}
