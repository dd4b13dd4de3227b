//! `${VAR}` and `${VAR:-default}` in string values (`$$` writes a literal `$`).

use serde_json::Value;

use crate::Problem;

/// Replace environment references in every string of `value`, collecting a problem for each
/// variable that is unset and has no default. A string that is exactly one reference whose
/// value reads as a number or boolean becomes that number or boolean (`port: ${PORT:-8080}`).
pub fn interpolate(
    value: &mut Value,
    path: &mut Vec<String>,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) {
    match value {
        Value::String(s) => {
            if !s.contains('$') {
                return;
            }
            let whole = is_single_reference(s);
            match expand(s, env) {
                Ok(out) => {
                    *value = if whole {
                        scalar(&out).unwrap_or(Value::String(out))
                    } else {
                        Value::String(out)
                    };
                }
                Err(e) => problems.push(Problem::new(path.join("."), e.0).fix(e.1)),
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                path.push(i.to_string());
                interpolate(item, path, env, problems);
                path.pop();
            }
        }
        Value::Object(map) => {
            for (k, v) in map.iter_mut() {
                path.push(k.clone());
                interpolate(v, path, env, problems);
                path.pop();
            }
        }
        _ => {}
    }
}

fn is_single_reference(s: &str) -> bool {
    !s.starts_with("${{")
        && s.starts_with("${")
        && s.ends_with('}')
        && s[2..].find('}') == Some(s.len() - 3)
}

fn scalar(s: &str) -> Option<Value> {
    match s {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        _ => s.parse::<i64>().ok().map(Value::from).or_else(|| {
            s.parse::<f64>()
                .ok()
                .and_then(|f| serde_json::Number::from_f64(f).map(Value::Number))
        }),
    }
}

/// (message, fix)
struct ExpandError(String, String);

fn expand(s: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, ExpandError> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if after.starts_with("{{") {
            // A `${{ jq }}` expression (workflows) is evaluated later, per call: kept as is.
            let from = i + 3;
            let end = switchboard_jq::template::close(rest, from).map_or(rest.len(), |(_, e)| e);
            out.push_str(&rest[i..end]);
            rest = &rest[end..];
        } else if let Some(body) = after.strip_prefix('{') {
            let end = body.find('}').ok_or_else(|| {
                ExpandError(
                    format!("unterminated `${{` in {s:?}"),
                    "close it with `}`, or write `$$` for a literal `$`".into(),
                )
            })?;
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((n, d)) => (n, Some(d)),
                None => (expr, None),
            };
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(ExpandError(
                    format!("`${{{expr}}}` is not a valid environment reference"),
                    "write `${NAME}` or `${NAME:-default}` with NAME of letters, digits and `_`"
                        .into(),
                ));
            }
            match (
                env(name).filter(|v| !v.is_empty() || default.is_none()),
                default,
            ) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(ExpandError(
                        format!("environment variable {name} is not set"),
                        format!("export {name}=…, or write `${{{name}:-default}}`"),
                    ));
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}
