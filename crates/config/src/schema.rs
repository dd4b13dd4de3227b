//! The JSON Schema of the configuration file, and the schema stage of loading: every place the
//! document breaks it, with its path and, for an unknown key, the closest allowed one.

use serde_json::Value;

use crate::{Config, Problem};

/// The JSON Schema of the configuration file.
pub fn schema_json() -> Value {
    let mut schema = schemars::schema_for!(Config).to_value();
    if let Some(obj) = schema.as_object_mut() {
        obj.insert(
            "title".into(),
            Value::String("Switchboard configuration".into()),
        );
    }
    schema
}

/// The schema stage: a problem for every place `doc` breaks the schema; an unknown key names
/// the closest allowed key, or lists the allowed ones.
pub(crate) fn schema_problems(doc: &Value) -> Vec<Problem> {
    let schema = schema_json();
    let validator = match jsonschema::validator_for(&schema) {
        Ok(v) => v,
        Err(e) => return vec![Problem::new("", format!("internal schema error: {e}"))],
    };
    let mut out = Vec::new();
    for err in validator.iter_errors(doc) {
        explain(&schema, &err, &mut out, 0);
    }
    out
}

/// The problems `err` stands for. An optional section or a choice of shapes fails as a whole
/// (`anyOf`); when only one of its shapes fits the value's type, that shape's own errors are
/// reported instead, so a typo inside `audit:` or `tasks:` is named where it is.
fn explain(
    schema: &Value,
    err: &jsonschema::ValidationError<'_>,
    out: &mut Vec<Problem>,
    depth: usize,
) {
    let pointer = err.instance_path().as_str().to_owned();
    let segments: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect();
    let path = segments.join(".");
    match err.kind() {
        jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } => {
            let known = known_keys(schema, &segments);
            for key in unexpected {
                let full = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let mut p = Problem::new(full, "unknown key");
                p = match closest(key, &known) {
                    Some(k) => p.fix(format!("did you mean `{k}`?")),
                    None if !known.is_empty() => {
                        p.fix(format!("remove it; allowed here: {}", known.join(", ")))
                    }
                    None => p.fix("remove it"),
                };
                out.push(p);
            }
        }
        jsonschema::error::ValidationErrorKind::AnyOf { context } if depth < 8 => {
            // The shapes that fail deeper than the value itself, or for more than its type.
            let fitting: Vec<_> = context
                .iter()
                .filter(|branch| {
                    !branch.iter().all(|e| {
                        e.instance_path() == err.instance_path()
                            && matches!(
                                e.kind(),
                                jsonschema::error::ValidationErrorKind::Type { .. }
                            )
                    })
                })
                .collect();
            match fitting.as_slice() {
                [only] if !only.is_empty() => {
                    for e in only.iter() {
                        explain(schema, e, out, depth + 1);
                    }
                }
                _ => out.push(
                    Problem::new(path, err.to_string())
                        .fix("see `switchboard schema` or docs/config.md for the allowed values"),
                ),
            }
        }
        _ => out.push(
            Problem::new(path, err.to_string())
                .fix("see `switchboard schema` or docs/config.md for the allowed values"),
        ),
    }
}

/// The property names the schema allows at `segments` (following `$ref`s and maps).
fn known_keys(schema: &Value, segments: &[String]) -> Vec<String> {
    let defs = schema.get("$defs");
    let resolve = |start: &Value| -> Value {
        let mut node = start;
        for _ in 0..8 {
            if let Some(r) = node.get("$ref").and_then(Value::as_str) {
                match r.rsplit('/').next().and_then(|n| defs?.get(n)) {
                    Some(next) => node = next,
                    None => break,
                }
            } else if let Some(first) = node
                .get("anyOf")
                .or_else(|| node.get("allOf"))
                .and_then(Value::as_array)
                .and_then(|a| {
                    a.iter()
                        .find(|s| s.get("$ref").is_some() || s.get("properties").is_some())
                })
            {
                node = first;
            } else {
                break;
            }
        }
        node.clone()
    };
    let mut node = resolve(schema);
    for seg in segments {
        let next = node
            .get("properties")
            .and_then(|p| p.get(seg))
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()));
        match next {
            Some(n) => node = resolve(n),
            None => return Vec::new(),
        }
    }
    node.get("properties")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn closest<'a>(key: &str, known: &'a [String]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| {
            (
                strsim::damerau_levenshtein(&key.to_lowercase(), &k.to_lowercase()),
                k,
            )
        })
        .filter(|(d, k)| *d <= 2.max(k.len() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k.as_str())
}
