//! One HTTP tool as the backend serves it: what it lists (name, description, schemas,
//! annotations) and how a call becomes a request (method, path template, where each argument
//! goes, how the answer is shaped).

use std::sync::Arc;

use http::Method;
use serde_json::{Value, json};

use crate::shape::Shaper;

/// A piece of a path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    /// `{name}`: the argument's value, percent-encoded.
    Param(String),
}

/// Where an argument goes in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Header,
    Cookie,
}

/// How an array or object argument is written in the query (OpenAPI `style`/`explode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `?id=1&id=2` (explode) or `?id=1,2`; objects `?a=1&b=2` or `?obj=a,1,b,2`.
    Form { explode: bool },
    /// `?id=1%202` (space-delimited arrays).
    SpaceDelimited,
    /// `?id=1|2`.
    PipeDelimited,
    /// `?obj[a]=1&obj[b]=2`.
    DeepObject,
}

/// One named argument bound to a request location.
#[derive(Debug, Clone)]
pub struct Param {
    /// The argument's name in `arguments` (also its name in the request).
    pub name: String,
    /// Its name in the request when it differs (a header's or query key's own spelling).
    pub wire: String,
    pub location: Location,
    pub style: Style,
    pub required: bool,
}

/// What becomes the request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    None,
    /// Every argument not bound elsewhere, as one JSON object.
    JsonRest,
    /// The argument `name` (an object or any JSON value) as the JSON body.
    Json(String),
    /// Every argument not bound elsewhere, `application/x-www-form-urlencoded`.
    FormRest,
    /// The argument `name` (an object) as a form.
    Form(String),
    /// The string argument `arg` as the body, sent as `content_type` (a `text/*` body).
    Text {
        arg: String,
        content_type: String,
    },
}

/// A tool backed by one HTTP operation.
#[derive(Debug)]
pub struct Tool {
    pub name: String,
    pub description: Option<String>,
    pub input_schema: Value,
    pub output_schema: Option<Value>,
    pub method: Method,
    pub path: Vec<Segment>,
    pub params: Vec<Param>,
    pub body: Body,
    /// Arguments bound nowhere else go to the query string (hand-declared tools without a
    /// body); otherwise they are left out.
    pub rest_in_query: bool,
    /// Fixed headers of this tool's requests, values with `{argument}` placeholders.
    pub headers: Vec<(http::HeaderName, Vec<Segment>)>,
    pub shaper: Option<Arc<Shaper>>,
}

impl Tool {
    /// The tool as `tools/list` shows it. GET and HEAD are read-only and idempotent (so the
    /// result cache takes them without a rule); PUT and DELETE idempotent; DELETE destructive.
    pub fn listing(&self) -> Value {
        let read_only = matches!(self.method, Method::GET | Method::HEAD);
        let idempotent = read_only || matches!(self.method, Method::PUT | Method::DELETE);
        let mut t = json!({
            "name": self.name,
            "inputSchema": self.input_schema,
            "annotations": {
                "readOnlyHint": read_only,
                "idempotentHint": idempotent,
                "destructiveHint": self.method == Method::DELETE,
                "openWorldHint": true,
            },
        });
        if let Some(d) = &self.description {
            t["description"] = Value::String(d.clone());
        }
        if let Some(o) = &self.output_schema {
            t["outputSchema"] = o.clone();
        }
        t
    }

    /// Whether a failed attempt may be sent again (the method is idempotent).
    pub fn retryable(&self) -> bool {
        matches!(
            self.method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS
        )
    }
}

/// Split `/employees/{id}/notes` into literals and placeholders; `None` for an unclosed `{`.
pub fn parse_template(template: &str) -> Option<Vec<Segment>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Segment::Literal(rest[..open].to_owned()));
        }
        let close = rest[open..].find('}')? + open;
        out.push(Segment::Param(rest[open + 1..close].trim().to_owned()));
        rest = &rest[close + 1..];
    }
    if !rest.is_empty() {
        out.push(Segment::Literal(rest.to_owned()));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_split_into_literals_and_placeholders() {
        assert_eq!(
            parse_template("/employees/{employee_id}/notes"),
            Some(vec![
                Segment::Literal("/employees/".into()),
                Segment::Param("employee_id".into()),
                Segment::Literal("/notes".into()),
            ])
        );
        assert_eq!(
            parse_template("/{a}{b}"),
            Some(vec![
                Segment::Literal("/".into()),
                Segment::Param("a".into()),
                Segment::Param("b".into())
            ])
        );
        assert_eq!(parse_template("/x/{open"), None);
    }
}
