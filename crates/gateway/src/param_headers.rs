//! `x-mcp-header` (protocol 2026-07-28): a tool's `inputSchema` may mark a primitive argument
//! to be mirrored in an `Mcp-Param-{Name}` request header, so HTTP intermediaries can route on
//! it without reading the body. The gateway reads the marks once per catalogue rebuild and
//! checks each modern call's headers against its arguments.

use serde_json::Value;
use serde_json::value::RawValue;

/// The JSON type of a mirrored argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    String,
    Integer,
    Boolean,
}

/// One mirrored argument: its header name (after `Mcp-Param-`) and where it sits in
/// `arguments`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamHeader {
    pub name: String,
    pub path: Vec<String>,
    pub kind: ParamKind,
}

/// The marks in a tool's `inputSchema`, or why they are invalid (the tool is then not
/// offered: clients must reject such tools).
pub fn collect(schema: &Value) -> Result<Vec<ParamHeader>, String> {
    let mut out = Vec::new();
    walk(schema, &mut Vec::new(), &mut out)?;
    for (i, a) in out.iter().enumerate() {
        if out[..i]
            .iter()
            .any(|b| b.name.eq_ignore_ascii_case(&a.name))
        {
            return Err(format!("x-mcp-header `{}` is used twice", a.name));
        }
    }
    Ok(out)
}

fn walk(schema: &Value, path: &mut Vec<String>, out: &mut Vec<ParamHeader>) -> Result<(), String> {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return Ok(());
    };
    for (key, prop) in props {
        path.push(key.clone());
        if let Some(mark) = prop.get("x-mcp-header") {
            let name = mark
                .as_str()
                .filter(|n| !n.is_empty() && n.bytes().all(is_token_byte))
                .ok_or_else(|| {
                    format!("x-mcp-header on `{}` is not an HTTP token", path.join("."))
                })?;
            let kind = match prop.get("type").and_then(Value::as_str) {
                Some("string") => ParamKind::String,
                Some("integer") => ParamKind::Integer,
                Some("boolean") => ParamKind::Boolean,
                _ => {
                    return Err(format!(
                        "x-mcp-header on `{}` needs a string, integer or boolean property",
                        path.join(".")
                    ));
                }
            };
            out.push(ParamHeader {
                name: name.to_owned(),
                path: path.clone(),
                kind,
            });
        }
        walk(prop, path, out)?;
        path.pop();
    }
    Ok(())
}

/// RFC 9110 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Check one mirrored argument: `header` is the decoded header value, if sent.
pub fn check(
    param: &ParamHeader,
    arguments: Option<&Value>,
    header: Option<&str>,
) -> Result<(), String> {
    let value = arguments
        .and_then(|args| param.path.iter().try_fold(args, |v, k| v.get(k)))
        .filter(|v| !v.is_null());
    let header_name = format!("Mcp-Param-{}", param.name);
    match (value, header) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(format!(
            "{header_name} is sent but `{}` is not in the arguments",
            param.path.join(".")
        )),
        (Some(_), None) => Err(format!(
            "{header_name} is required: `{}` is in the arguments",
            param.path.join(".")
        )),
        (Some(v), Some(h)) => {
            let same = match param.kind {
                ParamKind::String => v.as_str() == Some(h),
                ParamKind::Integer => h.parse::<i64>().ok().is_some_and(|n| v.as_i64() == Some(n)),
                ParamKind::Boolean => h
                    .parse::<bool>()
                    .ok()
                    .is_some_and(|b| v.as_bool() == Some(b)),
            };
            if same {
                Ok(())
            } else {
                Err(format!(
                    "{header_name} '{h}' does not match the argument `{}`",
                    param.path.join(".")
                ))
            }
        }
    }
}

/// The `Mcp-Param-*` headers (name after the prefix, encoded value) a call with `arguments`
/// carries to a 2026-07-28 HTTP upstream.
pub fn header_values(marks: &[ParamHeader], arguments: Option<&Value>) -> Vec<(String, String)> {
    marks
        .iter()
        .filter_map(|m| {
            let v = arguments.and_then(|a| m.path.iter().try_fold(a, |v, k| v.get(k)))?;
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return None,
            };
            Some((
                m.name.clone(),
                switchboard_protocol::headers::encode_value(&text),
            ))
        })
        .collect()
}

/// The `Mcp-Param-*` values a call carries to a modern HTTP upstream: its tool's marks (none:
/// nothing to send) read from the call's `arguments`.
pub fn values_for(
    marks: Option<&[ParamHeader]>,
    params: Option<&RawValue>,
) -> Vec<(String, String)> {
    match marks {
        Some(marks) if !marks.is_empty() => header_values(marks, arguments_of(params).as_ref()),
        _ => Vec::new(),
    }
}

fn arguments_of(params: Option<&RawValue>) -> Option<Value> {
    let map = switchboard_protocol::RawMap::parse(params?).ok()?;
    serde_json::from_str(map.get("arguments")?.get()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn marks_are_collected_and_checked() {
        let schema = json!({"type":"object","properties":{
            "region":{"type":"string","x-mcp-header":"Region"},
            "opts":{"type":"object","properties":{"n":{"type":"integer","x-mcp-header":"N"}}}}});
        let marks = collect(&schema).unwrap();
        assert_eq!(marks.len(), 2);
        let args = json!({"region":"eu","opts":{"n":3}});
        assert!(check(&marks[0], Some(&args), Some("eu")).is_ok());
        assert!(check(&marks[0], Some(&args), Some("us")).is_err());
        assert!(check(&marks[0], Some(&args), None).is_err());
        assert!(check(&marks[1], Some(&args), Some("3")).is_ok());
        assert!(check(&marks[0], Some(&json!({})), Some("eu")).is_err());
        assert!(check(&marks[0], Some(&json!({})), None).is_ok());
        assert_eq!(
            header_values(&marks, Some(&args)),
            vec![("Region".into(), "eu".into()), ("N".into(), "3".into())]
        );
        assert!(header_values(&marks, Some(&json!({}))).is_empty());
    }

    #[test]
    fn invalid_marks_are_refused() {
        assert!(
            collect(&json!({"properties":{"a":{"type":"object","x-mcp-header":"A"}}})).is_err()
        );
        assert!(
            collect(&json!({"properties":{"a":{"type":"string","x-mcp-header":"A B"}}})).is_err()
        );
        assert!(collect(&json!({"properties":{"a":{"type":"string","x-mcp-header":"X"},"b":{"type":"string","x-mcp-header":"x"}}})).is_err());
    }
}
