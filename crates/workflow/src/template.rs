//! Values whose strings hold `${{ jq }}` (step arguments, `output`, `if`, `for_each`),
//! compiled once when the workflow is built and rendered per run against the run's context
//! (`inputs`, `steps`, `run`, and `item`/`index` in a `for_each`).
//!
//! A string that is exactly one expression becomes the expression's JSON value (its type
//! kept); expressions inside a longer string are interpolated as text (strings as they are,
//! other values as compact JSON). A subtree without expressions is kept as a literal.

use std::sync::Arc;

use serde_json::Value;
use switchboard_jq::Jq;
use switchboard_jq::template::{self, Piece};

/// A compiled template. Errors at render name the key (`steps[1].args.period`) and the
/// expression.
#[derive(Debug, Clone)]
pub enum Template {
    Literal(Value),
    Expr { key: Arc<str>, jq: Arc<Jq> },
    Text { key: Arc<str>, parts: Vec<Part> },
    Array(Vec<Template>),
    Object(Vec<(String, Template)>),
}

#[derive(Debug, Clone)]
pub enum Part {
    Text(String),
    Expr(Arc<Jq>),
}

impl Template {
    /// Compile `value` found at `key`. `bare`: a string without `${{ }}` is itself one
    /// expression (`if`, `for_each`).
    pub fn compile(value: &Value, key: &str, bare: bool) -> Result<Self, String> {
        match value {
            Value::String(s) if bare && !template::has_expression(s) => Ok(Self::Expr {
                key: key.into(),
                jq: Arc::new(compile(key, s.trim())?),
            }),
            Value::String(s) if template::has_expression(s) => {
                let pieces = template::split(s).map_err(|e| format!("{key}: {e}"))?;
                if let [Piece::Expr { code, .. }] = pieces.as_slice() {
                    return Ok(Self::Expr {
                        key: key.into(),
                        jq: Arc::new(compile(key, code)?),
                    });
                }
                let parts = pieces
                    .iter()
                    .map(|p| match p {
                        Piece::Text(t) => Ok(Part::Text((*t).to_owned())),
                        Piece::Expr { code, .. } => Ok(Part::Expr(Arc::new(compile(key, code)?))),
                    })
                    .collect::<Result<_, String>>()?;
                Ok(Self::Text {
                    key: key.into(),
                    parts,
                })
            }
            Value::Array(items) if has_expressions(value) => Ok(Self::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Self::compile(v, &format!("{key}[{i}]"), false))
                    .collect::<Result<_, _>>()?,
            )),
            Value::Object(map) if has_expressions(value) => Ok(Self::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), Self::compile(v, &format!("{key}.{k}"), false)?)))
                    .collect::<Result<_, String>>()?,
            )),
            other => Ok(Self::Literal(other.clone())),
        }
    }

    /// The value for this run's context.
    pub fn render(&self, ctx: &Value) -> Result<Value, String> {
        match self {
            Self::Literal(v) => Ok(v.clone()),
            Self::Expr { key, jq } => jq.eval_one(ctx).map_err(|e| format!("{key}: {e}")),
            Self::Text { key, parts } => {
                let mut out = String::new();
                for part in parts {
                    match part {
                        Part::Text(t) => out.push_str(t),
                        Part::Expr(jq) => {
                            match jq.eval_one(ctx).map_err(|e| format!("{key}: {e}"))? {
                                Value::String(s) => out.push_str(&s),
                                other => out.push_str(&other.to_string()),
                            }
                        }
                    }
                }
                Ok(Value::String(out))
            }
            Self::Array(items) => items
                .iter()
                .map(|t| t.render(ctx))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            Self::Object(fields) => {
                let mut map = serde_json::Map::with_capacity(fields.len());
                for (k, t) in fields {
                    map.insert(k.clone(), t.render(ctx)?);
                }
                Ok(Value::Object(map))
            }
        }
    }
}

fn compile(key: &str, code: &str) -> Result<Jq, String> {
    Jq::compile(code).map_err(|e| format!("{key}: {}", e.message))
}

fn has_expressions(v: &Value) -> bool {
    match v {
        Value::String(s) => template::has_expression(s),
        Value::Array(items) => items.iter().any(has_expressions),
        Value::Object(map) => map.values().any(has_expressions),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn render(v: Value, ctx: &Value) -> Result<Value, String> {
        Template::compile(&v, "args", false)?.render(ctx)
    }

    #[test]
    fn one_expression_keeps_its_type_and_text_is_interpolated() {
        let ctx = json!({"inputs": {"n": 3, "period": "Q3", "tags": ["a"]},
                         "steps": {"r": {"result": {"total": 150}}}});
        assert_eq!(
            render(
                json!({"period": "${{ .inputs.period }}", "n": "${{ .inputs.n }}",
                       "tags": "${{ .inputs.tags }}", "fixed": 1,
                       "text": "Revenue: ${{ .steps.r.result.total }} in ${{ .inputs.period }}",
                       "list": ["${{ .inputs.n + 1 }}", "x"]}),
                &ctx
            )
            .unwrap(),
            json!({"period": "Q3", "n": 3, "tags": ["a"], "fixed": 1,
                   "text": "Revenue: 150 in Q3", "list": [4, "x"]})
        );
        // A bare condition is an expression; a literal stays a literal.
        let cond = Template::compile(&json!(".inputs.n > 2"), "if", true).unwrap();
        assert_eq!(cond.render(&ctx).unwrap(), json!(true));
        assert!(matches!(
            Template::compile(&json!({"a": [1, "b"]}), "args", false).unwrap(),
            Template::Literal(_)
        ));
    }

    #[test]
    fn errors_name_the_key_and_the_expression() {
        let e =
            Template::compile(&json!({"a": "${{ .x | nonesuch }}"}), "args", false).unwrap_err();
        assert!(e.starts_with("args.a:") && e.contains("nonesuch"), "{e}");
        let e = render(
            json!({"a": {"b": "${{ .inputs.s - 1 }}"}}),
            &json!({"inputs": {"s": "x"}}),
        )
        .unwrap_err();
        assert!(
            e.starts_with("args.a.b:") && e.contains(".inputs.s - 1"),
            "{e}"
        );
    }
}
