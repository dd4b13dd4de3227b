//! The `roles:` section: what each role may do and how often, the default roles, and the
//! rate syntax (`100/min`) their limits are written in.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What a role may do. Patterns use `*` as a wildcard. A bare pattern names tools (matched
/// against the namespaced name, e.g. `github__create_issue`, and the server's own name,
/// `create_issue`); `prompt:PATTERN` names prompts the same way; `resource:PATTERN` matches
/// resource URIs; `*` alone allows everything. Deny beats allow.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RoleConfig {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    /// Requests per identity, e.g. `100/min`, `10/s`, `5000/hour`. Unset: unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<String>,
    /// Extra limits on calls of particular tools, per identity: tool pattern (as in `allow`)
    /// → rate. A call spends from every entry its tool matches, besides `rate_limit`.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub tool_limits: IndexMap<String, String>,
}

impl RoleConfig {
    pub fn new(allow: &[&str], rate_limit: &str) -> Self {
        Self {
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
            deny: Vec::new(),
            rate_limit: Some(rate_limit.to_owned()),
            tool_limits: IndexMap::new(),
        }
    }
}

/// The roles used when `auth` is configured and `roles` is not (the reference limits).
pub fn default_roles() -> IndexMap<String, RoleConfig> {
    let mut m = IndexMap::new();
    m.insert("admin".into(), RoleConfig::new(&["*"], "1000/min"));
    m.insert("developer".into(), RoleConfig::new(&["*"], "100/min"));
    m.insert(
        "viewer".into(),
        RoleConfig::new(
            &[
                "read_*",
                "get_*",
                "list_*",
                "search_*",
                "resource:*",
                "prompt:*",
            ],
            "50/min",
        ),
    );
    m
}

/// A rate like `100/min`: (requests, period).
pub fn parse_rate(s: &str) -> Result<(u32, std::time::Duration), String> {
    let (n, per) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not a rate; write e.g. `100/min`"))?;
    let n: u32 = n
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{s}`: the count must be a positive integer"))?;
    let period = match per.trim() {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86400,
        other => {
            return Err(format!(
                "`{s}`: unknown period `{other}`; use s, min, hour or day"
            ));
        }
    };
    Ok((n, std::time::Duration::from_secs(period)))
}
