//! Hand-declared HTTP tools (`http_tools:`) as [`Tool`]s: arguments named in the path fill
//! it; those `query` names, and for GET/HEAD/DELETE all others, go to the query string; for
//! POST/PUT/PATCH the others are the JSON body.

use std::sync::Arc;

use http::{HeaderName, Method};
use serde_json::{Value, json};
use switchboard_config::{HttpToolConfig, ServerConfig};

use crate::shape::Shaper;
use crate::tool::{Body, Location, Param, Segment, Style, Tool, parse_template};

/// The tools of `http_tools`, in config order; errors name the key (`servers.NAME.…`).
pub fn tools(server: &str, cfg: &ServerConfig) -> Result<Vec<Tool>, String> {
    cfg.http_tools
        .iter()
        .map(|(name, t)| {
            tool(name, t, cfg).map_err(|e| format!("servers.{server}.http_tools.{name}.{e}"))
        })
        .collect()
}

/// The jq expression shaping `tool`'s answers: its own, else the first `responses` glob that
/// names it (by its tool name, or by `alias` — an imported operation's operationId). Errors
/// start with the key.
pub fn shaper_for(
    tool: &str,
    alias: Option<&str>,
    own: Option<&str>,
    cfg: &ServerConfig,
) -> Result<Option<Arc<Shaper>>, String> {
    let (key, code) = match own {
        Some(code) => ("response".to_owned(), code),
        None => match cfg.responses.iter().find(|(pattern, _)| {
            switchboard_config::glob(pattern, tool)
                || alias.is_some_and(|a| switchboard_config::glob(pattern, a))
        }) {
            Some((pattern, code)) => (format!("responses.{pattern}"), code.as_str()),
            None => return Ok(None),
        },
    };
    Shaper::compile(code)
        .map(|s| Some(Arc::new(s)))
        .map_err(|e| format!("{key}: {e}"))
}

fn tool(name: &str, t: &HttpToolConfig, cfg: &ServerConfig) -> Result<Tool, String> {
    let method = Method::from_bytes(t.method.to_ascii_uppercase().as_bytes())
        .map_err(|_| format!("method: `{}` is not an HTTP method", t.method))?;
    let path = parse_template(&t.path)
        .ok_or_else(|| format!("path: `{}` has an unclosed `{{`", t.path))?;
    let placeholders: Vec<String> = path
        .iter()
        .filter_map(|s| match s {
            Segment::Param(p) => Some(p.clone()),
            Segment::Literal(_) => None,
        })
        .collect();
    let mut params: Vec<Param> = placeholders
        .iter()
        .map(|p| Param {
            name: p.clone(),
            wire: p.clone(),
            location: Location::Path,
            style: Style::Form { explode: false },
            required: true,
        })
        .collect();
    params.extend(t.query.iter().map(|q| Param {
        name: q.clone(),
        wire: q.clone(),
        location: Location::Query,
        style: Style::Form { explode: true },
        required: false,
    }));
    let with_body = matches!(method, Method::POST | Method::PUT | Method::PATCH);
    let headers = t
        .headers
        .iter()
        .map(|(h, v)| {
            let name = HeaderName::from_bytes(h.as_bytes())
                .map_err(|_| format!("headers: `{h}` is not a header name"))?;
            let value = parse_template(v).ok_or_else(|| format!("headers.{h}: unclosed `{{`"))?;
            Ok((name, value))
        })
        .collect::<Result<Vec<_>, String>>()?;
    let input_schema = match &t.input_schema {
        Some(s) => s.clone(),
        None => {
            let props: serde_json::Map<String, Value> = placeholders
                .iter()
                .map(|p| (p.clone(), json!({"type": "string"})))
                .collect();
            json!({"type": "object", "properties": props, "required": placeholders})
        }
    };
    Ok(Tool {
        name: name.to_owned(),
        description: t.description.clone(),
        input_schema,
        output_schema: None,
        method,
        path,
        params,
        body: if with_body {
            Body::JsonRest
        } else {
            Body::None
        },
        rest_in_query: !with_body,
        headers,
        shaper: shaper_for(name, None, t.response.as_deref(), cfg)?,
    })
}
