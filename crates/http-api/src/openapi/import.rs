//! An OpenAPI 3.0/3.1 document → tools, one per operation: named from `operationId`
//! (sanitised, deterministic, collision-free; from method and path without one), described
//! from its summary and description, with an `inputSchema` merging its path, query, header and
//! cookie parameters and its JSON or form body, an `outputSchema` from its 2xx JSON answer, and
//! the definitions they use under `$defs`. Operations the gateway cannot call (multipart
//! bodies, unknown `$ref`s) are skipped with a reason; the rest load.

use std::collections::BTreeSet;

use http::Method;
use serde_json::{Map, Value, json};
use switchboard_config::{OperationFilter, ServerConfig};

use super::schema::{Defs, Externals, UnknownRef, deref};
use crate::declared::shaper_for;
use crate::tool::{Body, Location, Param, Style, Tool, parse_template};

/// What a document yields.
#[derive(Debug, Default)]
pub struct Imported {
    pub tools: Vec<Tool>,
    /// `METHOD /path (operationId)`: why it is not a tool.
    pub skipped: Vec<String>,
    /// The document's first `servers` URL (variables at their defaults), if any.
    pub server_url: Option<String>,
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Longest tool name made here (MCP allows 128 with the server prefix in front).
const MAX_NAME: usize = 64;

/// Import `doc` for an entry configured as `cfg`. Fails only when the document is not an
/// OpenAPI 3 document at all; problems of single operations skip them.
pub fn import(doc: &Value, cfg: &ServerConfig) -> Result<Imported, String> {
    import_with(doc, cfg, &Externals::default())
}

/// As [`import`], following `$ref`s to other files through `externals`.
pub fn import_with(
    doc: &Value,
    cfg: &ServerConfig,
    externals: &Externals,
) -> Result<Imported, String> {
    if doc.get("swagger").is_some() {
        return Err(
            "is a Swagger 2.0 document; convert it to OpenAPI 3 first (e.g. `npx swagger2openapi spec.json -o spec3.json`)"
                .into(),
        );
    }
    let version = doc
        .get("openapi")
        .and_then(Value::as_str)
        .ok_or("has no `openapi` version field at /openapi: not an OpenAPI 3.0/3.1 document")?;
    if !version.starts_with("3.") {
        return Err(format!(
            "declares openapi {version} at /openapi; OpenAPI 3.0 and 3.1 are supported"
        ));
    }
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .ok_or("has no `paths` object at /paths")?;
    let mut out = Imported {
        server_url: server_url(doc),
        ..Imported::default()
    };
    let mut names = BTreeSet::new();
    for (path, item) in paths {
        let item = match deref(doc, item) {
            Ok(i) => i,
            Err(UnknownRef(r)) => {
                out.skipped.push(format!("{path}: unknown $ref `{r}`"));
                continue;
            }
        };
        let shared: &[Value] = item
            .get("parameters")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        for m in METHODS {
            let Some(op) = item.get(m) else { continue };
            let method = m.to_ascii_uppercase();
            let id = op.get("operationId").and_then(Value::as_str);
            let label = match id {
                Some(id) => format!("{method} {path} ({id})"),
                None => format!("{method} {path}"),
            };
            if !selected(cfg.operations.as_ref(), id, op, &method, path) {
                continue;
            }
            let name = unique(&mut names, &tool_name(id, &method, path));
            match operation(doc, cfg, externals, &name, &method, path, shared, op) {
                Ok(t) => out.tools.push(t),
                Err(why) => {
                    names.remove(&name);
                    let pointer =
                        format!("/paths/{}/{m}", path.replace('~', "~0").replace('/', "~1"));
                    out.skipped.push(format!("{label} at {pointer}: {why}"));
                }
            }
        }
    }
    Ok(out)
}

/// Whether the operation passes `operations: {include, exclude}` (globs over its
/// operationId, its tags and `METHOD /path`).
fn selected(
    f: Option<&OperationFilter>,
    id: Option<&str>,
    op: &Value,
    method: &str,
    path: &str,
) -> bool {
    let Some(f) = f else { return true };
    let route = format!("{method} {path}");
    let tags: Vec<&str> = op
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let hit = |p: &String| {
        switchboard_config::glob(p, &route)
            || id.is_some_and(|i| switchboard_config::glob(p, i))
            || tags.iter().any(|t| switchboard_config::glob(p, t))
    };
    (f.include.is_empty() || f.include.iter().any(hit)) && !f.exclude.iter().any(hit)
}

/// `operationId` made a tool name, else `get_users_id` from the method and path.
fn tool_name(id: Option<&str>, method: &str, path: &str) -> String {
    let raw = match id {
        Some(id) if !id.trim().is_empty() => id.to_owned(),
        _ => format!("{}_{}", method.to_ascii_lowercase(), path),
    };
    let mut name = String::with_capacity(raw.len());
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
            c
        } else {
            '_'
        };
        if !(c == '_' && name.ends_with('_')) {
            name.push(c);
        }
    }
    let name = name.trim_matches('_');
    let mut name: String = name.chars().take(MAX_NAME).collect();
    if name.is_empty() {
        name = "operation".into();
    }
    name
}

/// `base`, or `base_2`, `base_3`… the first one not taken (in document order, so the same
/// document always gives the same names).
fn unique(taken: &mut BTreeSet<String>, base: &str) -> String {
    let mut name = base.to_owned();
    let mut n = 2;
    while taken.contains(&name) {
        let suffix = format!("_{n}");
        let keep: String = base.chars().take(MAX_NAME - suffix.len()).collect();
        name = format!("{keep}{suffix}");
        n += 1;
    }
    taken.insert(name.clone());
    name
}

fn server_url(doc: &Value) -> Option<String> {
    let s = doc.get("servers")?.as_array()?.first()?;
    let mut url = s.get("url")?.as_str()?.to_owned();
    if let Some(vars) = s.get("variables").and_then(Value::as_object) {
        for (k, v) in vars {
            if let Some(d) = v.get("default").and_then(Value::as_str) {
                url = url.replace(&format!("{{{k}}}"), d);
            }
        }
    }
    Some(url)
}

/// One operation as a tool.
#[allow(clippy::too_many_arguments)]
fn operation(
    doc: &Value,
    cfg: &ServerConfig,
    externals: &Externals,
    name: &str,
    method: &str,
    path: &str,
    shared: &[Value],
    op: &Value,
) -> Result<Tool, String> {
    let unknown = |UnknownRef(r)| format!("unknown $ref `{r}`");
    let method = Method::from_bytes(method.as_bytes()).map_err(|e| e.to_string())?;
    let template = parse_template(path).ok_or("its path has an unclosed `{`")?;
    let mut defs = Defs::new(doc, externals.clone());
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    let mut params: Vec<Param> = Vec::new();
    // Operation parameters replace path-level ones of the same name and location.
    let own: Vec<&Value> = op
        .get("parameters")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut all: Vec<&Value> = Vec::new();
    for p in shared.iter().chain(own.iter().copied()) {
        let p = deref(doc, p).map_err(unknown)?;
        let key = (p.get("name"), p.get("in"));
        all.retain(|q| (q.get("name"), q.get("in")) != key);
        all.push(p);
    }
    for p in all {
        let wire = p
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a parameter has no name")?;
        let location = match p.get("in").and_then(Value::as_str) {
            Some("path") => Location::Path,
            Some("query") => Location::Query,
            Some("header") => Location::Header,
            Some("cookie") => Location::Cookie,
            other => {
                return Err(format!(
                    "parameter `{wire}` is in {other:?}, not path/query/header/cookie"
                ));
            }
        };
        if location == Location::Header
            && matches!(
                wire.to_ascii_lowercase().as_str(),
                "accept"
                    | "content-type"
                    | "authorization"
                    | "host"
                    | "content-length"
                    | "transfer-encoding"
                    | "connection"
                    | "te"
                    | "upgrade"
                    | "proxy-authorization"
            )
        {
            // OpenAPI ignores the first three as parameters (credentials come from the entry's
            // headers); the others would let a client steer the connection (another virtual
            // host, a smuggled length): never from arguments.
            continue;
        }
        // OpenAPI 3: `form` by default in the query and cookies (`simple` elsewhere); `explode`
        // defaults to true for `form` only; an exploded space- or pipe-delimited array is
        // written as `form` would.
        let style_name = p
            .get("style")
            .and_then(Value::as_str)
            .unwrap_or(match location {
                Location::Query | Location::Cookie => "form",
                _ => "simple",
            });
        let explode = p
            .get("explode")
            .and_then(Value::as_bool)
            .unwrap_or(style_name == "form");
        let style = match style_name {
            "spaceDelimited" if !explode => Style::SpaceDelimited,
            "pipeDelimited" if !explode => Style::PipeDelimited,
            "deepObject" => Style::DeepObject,
            _ => Style::Form { explode },
        };
        // An argument name per parameter, even when two locations share a wire name.
        let mut arg = wire.to_owned();
        if properties.contains_key(&arg) {
            arg = format!("{}_{wire}", p["in"].as_str().unwrap_or("param"));
        }
        let is_required =
            location == Location::Path || p.get("required") == Some(&Value::Bool(true));
        let mut schema = match p.get("schema") {
            Some(s) => defs.schema(s).map_err(unknown)?,
            None => match p
                .get("content")
                .and_then(Value::as_object)
                .and_then(|c| c.values().next())
            {
                Some(media) => defs
                    .schema(media.get("schema").unwrap_or(&json!({})))
                    .map_err(unknown)?,
                None => json!({"type": "string"}),
            },
        };
        if let (Some(d), Value::Object(s)) = (p.get("description"), &mut schema)
            && !s.contains_key("$ref")
        {
            s.entry("description").or_insert_with(|| d.clone());
        }
        properties.insert(arg.clone(), schema);
        if is_required {
            required.push(Value::String(arg.clone()));
        }
        params.push(Param {
            name: arg,
            wire: wire.to_owned(),
            location,
            style,
            required: is_required,
        });
    }
    for seg in &template {
        if let crate::tool::Segment::Param(p) = seg
            && !params
                .iter()
                .any(|q| q.location == Location::Path && q.wire == *p)
        {
            return Err(format!(
                "its path names `{{{p}}}` but no path parameter declares it"
            ));
        }
    }
    // Path placeholders are filled by argument name: map wire names to argument names.
    let template = template
        .into_iter()
        .map(|s| match s {
            crate::tool::Segment::Param(w) => crate::tool::Segment::Param(
                params
                    .iter()
                    .find(|q| q.location == Location::Path && q.wire == w)
                    .map_or(w, |q| q.name.clone()),
            ),
            lit => lit,
        })
        .collect();
    let body = request_body(doc, op, &mut defs, &mut properties, &mut required, &params)?;
    let output = output_schema(doc, op, &mut defs)?;
    // Only what the operation declares is sent: an argument it does not name is refused by
    // validation instead of travelling in a body or query string.
    let mut input =
        json!({"type": "object", "properties": properties, "additionalProperties": false});
    if !required.is_empty() {
        input["required"] = Value::Array(required);
    }
    let shaper = shaper_for(
        name,
        op.get("operationId").and_then(Value::as_str),
        None,
        cfg,
    )?;
    let defs = defs.finish();
    if !defs.is_empty() {
        input["$defs"] = Value::Object(defs.clone());
    }
    // The output schema carries what it uses too (a shaped answer no longer fits it).
    let output_schema = match (output, &shaper) {
        (Some(mut o), None) => {
            if !defs.is_empty() {
                o["$defs"] = Value::Object(defs);
            }
            Some(o)
        }
        _ => None,
    };
    Ok(Tool {
        name: name.to_owned(),
        description: description(op),
        input_schema: input,
        output_schema,
        method,
        path: template,
        params,
        body,
        rest_in_query: false,
        headers: Vec::new(),
        shaper,
    })
}

fn description(op: &Value) -> Option<String> {
    let s = op.get("summary").and_then(Value::as_str).map(str::trim);
    let d = op.get("description").and_then(Value::as_str).map(str::trim);
    let text = match (s, d) {
        (Some(s), Some(d)) if !d.is_empty() && !d.starts_with(s) => format!("{s}\n\n{d}"),
        (Some(s), _) if !s.is_empty() => s.to_owned(),
        (_, Some(d)) if !d.is_empty() => d.to_owned(),
        _ => return None,
    };
    // Descriptions of real specs run to pages; the model needs the gist.
    Some(text.chars().take(1024).collect())
}

/// The request body: a JSON or form object's properties merged into the arguments (when
/// none collides with a parameter), else one argument `body`.
fn request_body(
    doc: &Value,
    op: &Value,
    defs: &mut Defs<'_>,
    properties: &mut Map<String, Value>,
    required: &mut Vec<Value>,
    params: &[Param],
) -> Result<Body, String> {
    let Some(rb) = op.get("requestBody") else {
        return Ok(Body::None);
    };
    let rb = deref(doc, rb).map_err(|UnknownRef(r)| format!("unknown $ref `{r}`"))?;
    let content = rb
        .get("content")
        .and_then(Value::as_object)
        .ok_or("its requestBody has no content")?;
    let is_required = rb.get("required") == Some(&Value::Bool(true));
    let pick = content
        .iter()
        .find(|(ct, _)| ct.starts_with("application/json") || ct.ends_with("+json"))
        .map(|(ct, m)| (false, ct, m))
        .or_else(|| {
            content
                .iter()
                .find(|(ct, _)| ct.starts_with("application/x-www-form-urlencoded"))
                .map(|(ct, m)| (true, ct, m))
        });
    let Some((form, _, media)) = pick else {
        // A text body (`text/plain`, `text/markdown`, …): one string argument.
        if let Some((ct, _)) = content.iter().find(|(ct, _)| ct.starts_with("text/")) {
            let name = if properties.contains_key("body") {
                "request_body"
            } else {
                "body"
            };
            properties.insert(name.into(), json!({"type": "string"}));
            if is_required {
                required.push(Value::String(name.into()));
            }
            return Ok(Body::Text {
                arg: name.into(),
                content_type: ct.clone(),
            });
        }
        let kinds: Vec<&String> = content.keys().collect();
        return Err(format!(
            "its request body is {kinds:?}; JSON, form and text bodies are supported"
        ));
    };
    let raw = media.get("schema").cloned().unwrap_or_else(|| json!({}));
    // Merge an object body's own properties when they do not collide with parameters.
    let (resolved, src) = defs
        .peek(&raw)
        .ok_or_else(|| format!("unknown $ref in its request body schema `{raw}`"))?;
    let props = resolved.get("properties").and_then(Value::as_object);
    let mergeable = resolved.get("type").and_then(Value::as_str) == Some("object")
        && resolved.get("allOf").is_none()
        && resolved.get("oneOf").is_none()
        && resolved.get("anyOf").is_none()
        && props.is_some_and(|p| p.keys().all(|k| !params.iter().any(|q| q.name == *k)));
    if let (true, Some(props)) = (mergeable, props) {
        for (k, s) in props {
            properties.insert(
                k.clone(),
                defs.schema_in(s, src.as_deref())
                    .map_err(|UnknownRef(r)| format!("unknown $ref `{r}`"))?,
            );
        }
        if is_required && let Some(Value::Array(req)) = resolved.get("required") {
            required.extend(req.iter().cloned());
        }
        return Ok(if form { Body::FormRest } else { Body::JsonRest });
    }
    let name = if properties.contains_key("body") {
        "request_body"
    } else {
        "body"
    };
    properties.insert(
        name.into(),
        defs.schema(&raw)
            .map_err(|UnknownRef(r)| format!("unknown $ref `{r}`"))?,
    );
    if is_required {
        required.push(Value::String(name.into()));
    }
    Ok(if form {
        Body::Form(name.into())
    } else {
        Body::Json(name.into())
    })
}

/// The schema of the first 2xx JSON answer, when it is an object (structured content is one).
fn output_schema(doc: &Value, op: &Value, defs: &mut Defs<'_>) -> Result<Option<Value>, String> {
    let Some(responses) = op.get("responses").and_then(Value::as_object) else {
        return Ok(None);
    };
    let Some((_, r)) = responses.iter().find(|(code, _)| code.starts_with('2')) else {
        return Ok(None);
    };
    let r = deref(doc, r).map_err(|UnknownRef(r)| format!("unknown $ref `{r}`"))?;
    let Some(schema) = r
        .get("content")
        .and_then(Value::as_object)
        .and_then(|c| {
            c.iter()
                .find(|(ct, _)| ct.starts_with("application/json") || ct.ends_with("+json"))
        })
        .and_then(|(_, m)| m.get("schema"))
    else {
        return Ok(None);
    };
    let (resolved, _) = defs
        .peek(schema)
        .ok_or_else(|| format!("unknown $ref in its answer's schema `{schema}`"))?;
    if resolved.get("type").and_then(Value::as_str) != Some("object") {
        return Ok(None);
    }
    defs.schema(schema)
        .map(Some)
        .map_err(|UnknownRef(r)| format!("unknown $ref `{r}`"))
}
