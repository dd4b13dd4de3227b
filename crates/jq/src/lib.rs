//! jq expressions as Switchboard uses them, on jaq (a maintained Rust implementation):
//!
//! - [`Jq`]: an expression compiled once (errors say what is wrong and where), run over JSON
//!   text ([`Jq::apply`], the HTTP API tools' response shaping) or over a `serde_json::Value`
//!   ([`Jq::eval`], workflow expressions), with its output bounded in count and bytes;
//! - [`template`]: `${{ … }}` templates in config strings (workflow arguments, conditions and
//!   outputs): split into text and expressions, so a string that is exactly one expression
//!   keeps its JSON type and one inside a longer text is interpolated as text.
//!
//! jaq's values are reference-counted without atomics: they never leave a call here, so
//! nothing of jaq is held across an `.await` by callers.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used))]

pub mod template;

use jaq_core::compile::Filter;
use jaq_core::load::{Arena, File, Loader};
use jaq_core::{Compiler, Ctx, Native, Vars, data, unwrap_valr};
use jaq_json::Val;
use serde::Deserialize as _;

type Compiled = Filter<Native<data::JustLut<Val>>>;

/// Most values, and bytes of them, one expression may give for one input.
const MAX_OUTPUTS: usize = 100_000;
const MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;

/// Why an expression does not compile: a message, and the byte offset in the expression it
/// points at when jaq says where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileError {
    pub message: String,
    pub offset: Option<usize>,
}

impl std::fmt::Display for CompileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// A compiled jq expression.
pub struct Jq {
    code: String,
    filter: Compiled,
}

impl std::fmt::Debug for Jq {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Jq({:?})", self.code)
    }
}

impl Jq {
    /// Compile `code`; the error says what is wrong with it (a parse error with its position,
    /// an undefined filter or variable).
    pub fn compile(code: &str) -> Result<Self, CompileError> {
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
                let mut offset = None;
                let what: Vec<String> = errors
                    .into_iter()
                    .flat_map(|(_, e)| describe_load(code, e, &mut offset))
                    .collect();
                CompileError {
                    message: format!("jq expression `{code}` does not parse: {}", what.join("; ")),
                    offset,
                }
            })?;
        let filter = Compiler::default()
            .with_funs(funs)
            .compile(modules)
            .map_err(|errors| {
                let names: Vec<&str> = errors
                    .into_iter()
                    .flat_map(|(_, es)| es.into_iter().map(|(name, _)| name))
                    .collect();
                let offset = names.first().and_then(|n| offset_in(code, n));
                CompileError {
                    message: format!(
                        "jq expression `{code}` uses what jq does not define: {}",
                        names.join(", ")
                    ),
                    offset,
                }
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
        let out = self.run(input)?;
        Ok(match out.len() {
            0 => "null".to_owned(),
            1 => out.into_iter().next().unwrap_or_default(),
            _ => format!("[{}]", out.join(",")),
        })
    }

    /// Run over `input`: every output, in order. Errors name the expression and what failed
    /// (a value jq cannot compute with, an output that is not JSON such as `nan`).
    pub fn eval(&self, input: &serde_json::Value) -> Result<Vec<serde_json::Value>, String> {
        let input =
            Val::deserialize(input).map_err(|e| format!("cannot give jq this value: {e}"))?;
        self.run(input)?
            .into_iter()
            .map(|text| {
                serde_json::from_str(&text).map_err(|_| {
                    format!(
                        "jq expression `{}` gave `{text}`, which is not JSON",
                        self.code
                    )
                })
            })
            .collect()
    }

    /// Run over `input`: its one output, `null` for none, an array of several.
    pub fn eval_one(&self, input: &serde_json::Value) -> Result<serde_json::Value, String> {
        let mut out = self.eval(input)?;
        Ok(match out.len() {
            0 => serde_json::Value::Null,
            1 => out.remove(0),
            _ => serde_json::Value::Array(out),
        })
    }

    fn run(&self, input: Val) -> Result<Vec<String>, String> {
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
        Ok(out)
    }
}

/// jq's truth: everything but `false` and `null` is true.
pub fn truthy(v: &serde_json::Value) -> bool {
    !matches!(v, serde_json::Value::Null | serde_json::Value::Bool(false))
}

/// Where `part` (a slice jaq returned of `code`) starts in `code`.
fn offset_in(code: &str, part: &str) -> Option<usize> {
    let (start, p) = (code.as_ptr() as usize, part.as_ptr() as usize);
    (p >= start && p <= start + code.len()).then(|| p - start)
}

fn describe_load(
    code: &str,
    e: jaq_core::load::Error<&str>,
    offset: &mut Option<usize>,
) -> Vec<String> {
    let mut at = |expected: &str, at: &str| {
        let pos = offset_in(code, at);
        *offset = offset.or(pos);
        match pos {
            Some(pos) => format!("expected {expected} at position {pos} (`{}`)", snippet(at)),
            None => format!("expected {expected} at `{}`", snippet(at)),
        }
    };
    match e {
        jaq_core::load::Error::Io(errs) => {
            errs.into_iter().map(|(p, e)| format!("{p}: {e}")).collect()
        }
        jaq_core::load::Error::Lex(errs) => errs
            .into_iter()
            .map(|(expected, a)| at(expected.as_str(), a))
            .collect(),
        jaq_core::load::Error::Parse(errs) => errs
            .into_iter()
            .map(|(expected, a)| at(expected.as_str(), a))
            .collect(),
    }
}

fn snippet(at: &str) -> &str {
    let end = at.char_indices().nth(20).map_or(at.len(), |(i, _)| i);
    if end == 0 {
        "end of expression"
    } else {
        &at[..end]
    }
}

#[cfg(test)]
mod tests;
