//! Response shaping: a jq expression (jaq) over an API's JSON answer, compiled once when the
//! server is built; its output is what the tool returns (several outputs become an array).

use jaq_core::compile::Filter;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Native, Vars, data, unwrap_valr};
use jaq_json::Val;

type Compiled = Filter<Native<data::JustLut<Val>>>;

/// Most values, and bytes of them, one expression may give for one answer.
const MAX_OUTPUTS: usize = 100_000;
const MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;

/// A compiled jq expression.
pub struct Shaper {
    code: String,
    filter: Compiled,
}

impl std::fmt::Debug for Shaper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Shaper({:?})", self.code)
    }
}

impl Shaper {
    /// Compile `code`; the error says what is wrong with it (a parse error, an undefined
    /// filter or variable).
    pub fn compile(code: &str) -> Result<Self, String> {
        let defs = jaq_core::defs()
            .chain(jaq_std::defs())
            .chain(jaq_json::defs());
        let funs = jaq_core::funs()
            .chain(jaq_std::funs())
            .chain(jaq_json::funs());
        let loader = Loader::new(defs);
        let arena = Arena::default();
        let modules = loader
            .load(&arena, File { code, path: () })
            .map_err(|errors| {
                let what: Vec<String> = errors
                    .into_iter()
                    .flat_map(|(_, e)| describe_load(e))
                    .collect();
                format!("jq expression `{code}` does not parse: {}", what.join("; "))
            })?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                let names: Vec<String> = errors
                    .into_iter()
                    .flat_map(|(_, es)| es.into_iter().map(|(name, _)| name.to_string()))
                    .collect();
                format!(
                    "jq expression `{code}` uses what jq does not define: {}",
                    names.join(", ")
                )
            })?;
        Ok(Self {
            code: code.to_owned(),
            filter,
        })
    }

    /// The expression as written.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// Run over a JSON document: its one output as JSON text, or an array of its outputs
    /// (`null` for none). Errors name the expression and what failed.
    pub fn apply(&self, json: &[u8]) -> Result<String, String> {
        // serde_json first: it refuses nesting deeper than 128 levels, which jaq's reader
        // would follow until the thread's stack ran out.
        serde_json::from_slice::<serde_json::Value>(json)
            .map_err(|e| format!("the answer is not JSON the jq expression can read: {e}"))?;
        let input = jaq_json::read::parse_single(json)
            .map_err(|e| format!("the answer is not JSON the jq expression can read: {e}"))?;
        let ctx = Ctx::<data::JustLut<Val>>::new(&self.filter.lut, Vars::new([]));
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for v in self.filter.id.run((ctx, input)).map(unwrap_valr) {
            let v = v.map_err(|e| format!("jq expression `{}` failed: {e}", self.code))?;
            let text = v.to_string();
            bytes += text.len();
            out.push(text);
            if out.len() > MAX_OUTPUTS || bytes > MAX_OUTPUT_BYTES {
                return Err(format!(
                    "jq expression `{}` gave more than {MAX_OUTPUTS} values or {MAX_OUTPUT_BYTES} bytes",
                    self.code
                ));
            }
        }
        Ok(match out.len() {
            0 => "null".to_owned(),
            1 => out.remove(0),
            _ => format!("[{}]", out.join(",")),
        })
    }
}

fn describe_load(e: jaq_core::load::Error<&str>) -> Vec<String> {
    match e {
        jaq_core::load::Error::Io(errs) => {
            errs.into_iter().map(|(p, e)| format!("{p}: {e}")).collect()
        }
        jaq_core::load::Error::Lex(errs) => errs
            .into_iter()
            .map(|(expected, at)| format!("expected {} at `{}`", expected.as_str(), snippet(at)))
            .collect(),
        jaq_core::load::Error::Parse(errs) => errs
            .into_iter()
            .map(|(expected, at)| format!("expected {} at `{}`", expected.as_str(), snippet(at)))
            .collect(),
    }
}

fn snippet(at: &str) -> &str {
    let end = at.char_indices().nth(20).map_or(at.len(), |(i, _)| i);
    &at[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_reshapes_and_collects_several_outputs() {
        let s = Shaper::compile("{name, projects: .current_projects}").unwrap();
        let out = s
            .apply(br#"{"name":"Ada","salary":1,"current_projects":["x"]}"#)
            .unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v, serde_json::json!({"name": "Ada", "projects": ["x"]}));
        let many = Shaper::compile(".[] | .id").unwrap();
        assert_eq!(many.apply(br#"[{"id":1},{"id":2}]"#).unwrap(), "[1,2]");
        assert_eq!(
            Shaper::compile("empty").unwrap().apply(b"{}").unwrap(),
            "null"
        );
        assert_eq!(
            Shaper::compile("map(select(.ok)) | length")
                .unwrap()
                .apply(br#"[{"ok":true},{"ok":false}]"#)
                .unwrap(),
            "1"
        );
    }

    #[test]
    fn bad_expressions_and_inputs_say_what_is_wrong() {
        let e = Shaper::compile("{name,").unwrap_err();
        assert!(e.contains("does not parse"), "{e}");
        let e = Shaper::compile("nonesuch(1)").unwrap_err();
        assert!(e.contains("nonesuch"), "{e}");
        let s = Shaper::compile(".a + 1").unwrap();
        let e = s.apply(br#"{"a":"text"}"#).unwrap_err();
        assert!(e.contains("failed"), "{e}");
        let e = s.apply(b"<html>").unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
        // Nesting that would exhaust the stack is refused before jq reads it.
        let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
        let e = s.apply(deep.as_bytes()).unwrap_err();
        assert!(e.contains("not JSON"), "{e}");
        let e = Shaper::compile("range(1000000)")
            .unwrap()
            .apply(b"{}")
            .unwrap_err();
        assert!(e.contains("more than"), "{e}");
    }
}
