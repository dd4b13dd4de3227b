//! `routes`: names usable as tool names, candidates present, argument mappings that compile,
//! breaker and hedging values that can work. Whether each candidate exists, and whether its
//! schema fits the route's without a mapping, can only be told once servers are up: the
//! gateway warns then, `switchboard check` reports it, and `/readyz` fails for a route with no
//! candidate left.

use indexmap::IndexMap;
use switchboard_jq::Jq;
use switchboard_jq::template::{self, Piece};

use crate::routes::ROUTES_SERVER;
use crate::{Problem, RouteConfig, ServerConfig};

pub(super) fn check_routes(
    routes: &IndexMap<String, RouteConfig>,
    servers: &IndexMap<String, ServerConfig>,
    separator: &str,
) -> Vec<Problem> {
    let mut p = Vec::new();
    if routes.is_empty() {
        return p;
    }
    if servers.contains_key(ROUTES_SERVER) {
        p.push(
            Problem::new(
                format!("servers.{ROUTES_SERVER}"),
                format!("the name `{ROUTES_SERVER}` is taken by the routes"),
            )
            .fix("rename this server"),
        );
    }
    for (name, route) in routes {
        let key = format!("routes.{name}");
        if !super::is_plain_name(name) {
            p.push(
                Problem::new(
                    &key,
                    "a route's name is its tool's name: letters, digits, `_` and `-` only",
                )
                .fix("e.g. `search_documents`"),
            );
        } else if !separator.is_empty() && name.contains(separator) {
            p.push(
                Problem::new(&key, format!("the name contains the separator `{separator}`, so it could clash with a server's tool"))
                    .fix("rename the route"),
            );
        }
        if route.candidates.is_empty() {
            p.push(
                Problem::new(format!("{key}.candidates"), "is empty")
                    .fix("name at least one tool, e.g. `{tool: primary__search}`"),
            );
        }
        for (i, c) in route.candidates.iter().enumerate() {
            let ck = format!("{key}.candidates[{i}]");
            if c.tool.trim().is_empty() {
                p.push(Problem::new(format!("{ck}.tool"), "is empty"));
            } else if c.tool == *name {
                p.push(Problem::new(format!("{ck}.tool"), "is the route itself"));
            }
            if let Some(args) = &c.args
                && let Err(e) = compile_mapping(args)
            {
                p.push(Problem::new(format!("{ck}.args"), e));
            }
        }
        if let Some(schema) = &route.input_schema {
            if schema.get("type").and_then(|t| t.as_str()) != Some("object") {
                p.push(Problem::new(
                    format!("{key}.input_schema"),
                    "must describe an object (`type: object`)",
                ));
            } else if let Err(e) = jsonschema::validator_for(schema) {
                p.push(Problem::new(
                    format!("{key}.input_schema"),
                    format!("is not a valid JSON Schema: {e}"),
                ));
            }
        }
        if let Some(b) = &route.circuit_breaker {
            if b.failures == 0 {
                p.push(
                    Problem::new(
                        format!("{key}.circuit_breaker.failures"),
                        "is 0, so the breaker would never close",
                    )
                    .fix("e.g. `5`"),
                );
            }
            if b.window.0.is_zero() || b.cooldown.0.is_zero() {
                p.push(Problem::new(
                    format!("{key}.circuit_breaker"),
                    "`window` and `cooldown` must be above 0",
                ));
            }
        }
        if route.hedge_after.is_some_and(|d| d.0.is_zero()) {
            p.push(
                Problem::new(
                    format!("{key}.hedge_after"),
                    "is 0: every call would go to two candidates",
                )
                .fix("e.g. `300ms`"),
            );
        }
        if route.hedge_after.is_some() && route.candidates.len() < 2 {
            p.push(Problem::new(
                format!("{key}.hedge_after"),
                "needs a second candidate to ask",
            ));
        }
    }
    p
}

/// The jq code of a candidate's argument mapping (`${{ }}` around it optional), compiled.
pub fn compile_mapping(args: &str) -> Result<Jq, String> {
    let code = match template::split(args) {
        Ok(pieces) => match pieces.as_slice() {
            [Piece::Expr { code, .. }] => *code,
            _ if !template::has_expression(args) => args.trim(),
            _ => return Err(
                "must be one jq expression giving the candidate's arguments (`${{ {q: .query} }}`)"
                    .into(),
            ),
        },
        Err(e) => return Err(e.to_string()),
    };
    Jq::compile(code).map_err(|e| e.message)
}

/// `views`: names, paths beside the endpoint's (`served`: `http.path`, the legacy transport's)
/// and each other, and patterns.
pub(super) fn check_views(
    views: &IndexMap<String, crate::ViewConfig>,
    served: &[(&'static str, &str)],
) -> Vec<Problem> {
    let mut p = Vec::new();
    let mut paths: Vec<(&str, &str)> = served.to_vec();
    for (name, v) in views {
        let key = format!("views.{name}");
        if !super::is_plain_name(name) {
            p.push(Problem::new(
                &key,
                "view names may use letters, digits, `_` and `-` only",
            ));
        }
        if !v.path.starts_with('/') {
            p.push(
                Problem::new(format!("{key}.path"), "must start with `/`")
                    .fix("e.g. `/mcp/support`"),
            );
        } else if let Some((other, _)) = paths.iter().find(|(_, q)| *q == v.path) {
            p.push(
                Problem::new(
                    format!("{key}.path"),
                    format!("`{}` is also {other}", v.path),
                )
                .fix("give the view a path of its own"),
            );
        }
        paths.push((name, &v.path));
        if v.tools.is_empty() {
            p.push(
                Problem::new(
                    format!("{key}.tools"),
                    "is empty, so the view would show no tool",
                )
                .fix("e.g. `[\"company__*\"]`"),
            );
        }
        for (k, list) in [
            ("tools", &v.tools),
            ("prompts", &v.prompts),
            ("resources", &v.resources),
        ] {
            if list.iter().any(|x| x.trim().is_empty()) {
                p.push(Problem::new(format!("{key}.{k}"), "holds an empty pattern"));
            }
        }
    }
    p
}

/// `tool_search`: a result count that makes sense, and names nobody else uses.
pub(super) fn check_tool_search(
    t: Option<&crate::ToolSearchConfig>,
    routes: &IndexMap<String, RouteConfig>,
    servers: &IndexMap<String, ServerConfig>,
) -> Vec<Problem> {
    use crate::tool_search::{CALL_TOOL, SEARCH_TOOLS, TOOL_SEARCH_SERVER};
    let mut p = Vec::new();
    let Some(t) = t else { return p };
    if t.max_results == 0 || t.max_results > 50 {
        p.push(Problem::new("tool_search.max_results", "must be 1 to 50").fix("e.g. `10`"));
    }
    if servers.contains_key(TOOL_SEARCH_SERVER) {
        p.push(
            Problem::new(
                format!("servers.{TOOL_SEARCH_SERVER}"),
                format!("the name `{TOOL_SEARCH_SERVER}` is taken by tool search"),
            )
            .fix("rename this server"),
        );
    }
    for name in [SEARCH_TOOLS, CALL_TOOL] {
        if routes.contains_key(name) {
            p.push(
                Problem::new(
                    format!("routes.{name}"),
                    "is the name of a tool-search meta-tool",
                )
                .fix("rename the route"),
            );
        }
    }
    p
}
