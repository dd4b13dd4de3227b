//! A call's arguments → the HTTP request its operation describes: the path filled in with
//! percent-encoded values, query arguments written in their style, header and cookie
//! arguments, and the body. Only `base_url` is ever called: no argument can change the scheme,
//! host or port, and none can leave the template's path (values are encoded, so `a/../b` or
//! `//evil` stay inside one segment, and a value of `.` or `..` is refused).

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value};

use crate::tool::{Body, Location, Param, Segment, Style, Tool};

/// Bytes left as they are in a path segment or query component: RFC 3986's unreserved.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// The request to send.
#[derive(Debug)]
pub struct Built<'a> {
    pub method: Method,
    /// `base_url` + path + query.
    pub url: String,
    pub headers: HeaderMap,
    pub body: Option<(&'a str, Vec<u8>)>,
}

/// Why a request could not be built from the arguments (the client's fault: `-32602`).
#[derive(Debug, PartialEq, Eq)]
pub struct BadArguments(pub String);

/// A value as it appears in a path, query or header: strings as they are, other scalars as
/// JSON text.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Build the request of `tool` for `args` against `base` (no trailing `/`).
pub fn build<'a>(
    tool: &'a Tool,
    base: &str,
    args: &Map<String, Value>,
) -> Result<Built<'a>, BadArguments> {
    let mut bound: Vec<&str> = Vec::new();
    let mut url = String::with_capacity(base.len() + 64);
    url.push_str(base);
    for seg in &tool.path {
        match seg {
            Segment::Literal(l) => url.push_str(l),
            Segment::Param(name) => {
                let v = args.get(name).filter(|v| !v.is_null()).ok_or_else(|| {
                    BadArguments(format!("missing argument `{name}` (in the path)"))
                })?;
                if matches!(v, Value::Array(_) | Value::Object(_)) {
                    return Err(BadArguments(format!(
                        "argument `{name}` goes in the path and must be a string or number"
                    )));
                }
                let text = scalar(v);
                if text.is_empty() {
                    return Err(BadArguments(format!(
                        "argument `{name}` (in the path) is empty"
                    )));
                }
                url.extend(utf8_percent_encode(&text, COMPONENT));
                bound.push(name);
            }
        }
    }
    // No dot segments: a value of `.` or `..` (however encoded, alone or next to another
    // placeholder) would climb out of the template, and out of `base_url`'s own path.
    let path_part = &url[base.len()..];
    if path_part.split('/').any(|seg| {
        let seg = seg.to_ascii_lowercase().replace("%2e", ".");
        seg == "." || seg == ".."
    }) {
        return Err(BadArguments(
            "a path argument may not be `.` or `..`".into(),
        ));
    }
    let mut query: Vec<(String, String)> = Vec::new();
    let mut headers = HeaderMap::new();
    let mut cookies: Vec<String> = Vec::new();
    for p in &tool.params {
        if p.location == Location::Path {
            continue;
        }
        let Some(v) = args.get(&p.name).filter(|v| !v.is_null()) else {
            if p.required {
                return Err(BadArguments(format!("missing argument `{}`", p.name)));
            }
            continue;
        };
        bound.push(&p.name);
        match p.location {
            Location::Query => write_query(p, v, &mut query),
            Location::Header => {
                let name = HeaderName::from_bytes(p.wire.as_bytes())
                    .map_err(|_| BadArguments(format!("`{}` is not a header name", p.wire)))?;
                let value = HeaderValue::from_str(&scalar(v)).map_err(|_| {
                    BadArguments(format!("argument `{}` is not a valid header value", p.name))
                })?;
                headers.insert(name, value);
            }
            Location::Cookie => cookies.push(format!(
                "{}={}",
                p.wire,
                utf8_percent_encode(&scalar(v), COMPONENT)
            )),
            Location::Path => {}
        }
    }
    for (name, template) in &tool.headers {
        let mut value = String::new();
        for seg in template {
            match seg {
                Segment::Literal(l) => value.push_str(l),
                Segment::Param(a) => {
                    let v = args.get(a).ok_or_else(|| {
                        BadArguments(format!("missing argument `{a}` (in header {name})"))
                    })?;
                    bound.push(a);
                    value.push_str(&scalar(v));
                }
            }
        }
        let value = HeaderValue::from_str(&value)
            .map_err(|_| BadArguments(format!("header {name} would not be a valid value")))?;
        headers.insert(name.clone(), value);
    }
    if !cookies.is_empty()
        && let Ok(v) = HeaderValue::from_str(&cookies.join("; "))
    {
        headers.insert(http::header::COOKIE, v);
    }
    let rest = || -> Map<String, Value> {
        args.iter()
            .filter(|(k, _)| !bound.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    if tool.rest_in_query && matches!(tool.body, Body::None) {
        for (k, v) in args.iter().filter(|(k, _)| !bound.contains(&k.as_str())) {
            if !v.is_null() {
                let p = Param {
                    name: k.clone(),
                    wire: k.clone(),
                    location: Location::Query,
                    style: Style::Form { explode: true },
                    required: false,
                };
                write_query(&p, v, &mut query);
            }
        }
    }
    let body = match &tool.body {
        Body::None => None,
        Body::JsonRest => Some(("application/json", json_bytes(&Value::Object(rest())))),
        Body::Json(name) => args.get(name).map(|v| ("application/json", json_bytes(v))),
        Body::FormRest => Some(("application/x-www-form-urlencoded", form(&rest()))),
        Body::Text { arg, content_type } => match args.get(arg) {
            Some(Value::String(t)) => Some((content_type.as_str(), t.clone().into_bytes())),
            Some(_) => {
                return Err(BadArguments(format!(
                    "argument `{arg}` (the body) must be a string"
                )));
            }
            None => None,
        },
        Body::Form(name) => match args.get(name) {
            Some(Value::Object(m)) => Some(("application/x-www-form-urlencoded", form(m))),
            Some(_) => {
                return Err(BadArguments(format!(
                    "argument `{name}` (the form body) must be an object"
                )));
            }
            None => None,
        },
    };
    if !query.is_empty() {
        url.push('?');
        for (i, (k, v)) in query.iter().enumerate() {
            if i > 0 {
                url.push('&');
            }
            url.extend(utf8_percent_encode(k, COMPONENT));
            url.push('=');
            url.push_str(v);
        }
    }
    Ok(Built {
        method: tool.method.clone(),
        url,
        headers,
        body,
    })
}

fn json_bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

fn form(m: &Map<String, Value>) -> Vec<u8> {
    let mut out = String::new();
    for (i, (k, v)) in m.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.extend(utf8_percent_encode(k, COMPONENT));
        out.push('=');
        out.extend(utf8_percent_encode(&scalar(v), COMPONENT));
    }
    out.into_bytes()
}

/// One query argument in its style; values percent-encoded (keys by the caller).
fn write_query(p: &Param, v: &Value, out: &mut Vec<(String, String)>) {
    let enc = |s: &str| utf8_percent_encode(s, COMPONENT).to_string();
    match (v, p.style) {
        (Value::Array(items), Style::Form { explode: true }) => {
            for i in items {
                out.push((p.wire.clone(), enc(&scalar(i))));
            }
        }
        (Value::Array(items), style) => {
            let sep = match style {
                Style::SpaceDelimited => "%20",
                Style::PipeDelimited => "%7C",
                _ => ",",
            };
            let joined: Vec<String> = items.iter().map(|i| enc(&scalar(i))).collect();
            out.push((p.wire.clone(), joined.join(sep)));
        }
        (Value::Object(m), Style::DeepObject) => {
            for (k, x) in m {
                out.push((format!("{}[{k}]", p.wire), enc(&scalar(x))));
            }
        }
        (Value::Object(m), Style::Form { explode: true }) => {
            for (k, x) in m {
                out.push((k.clone(), enc(&scalar(x))));
            }
        }
        (Value::Object(m), _) => {
            let joined: Vec<String> = m
                .iter()
                .flat_map(|(k, x)| [enc(k), enc(&scalar(x))])
                .collect();
            out.push((p.wire.clone(), joined.join(",")));
        }
        (scalar_value, _) => out.push((p.wire.clone(), enc(&scalar(scalar_value)))),
    }
}

#[cfg(test)]
mod tests;
