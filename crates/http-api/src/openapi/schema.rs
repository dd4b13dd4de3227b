//! Schemas out of an OpenAPI document, as JSON Schema 2020-12 a tool can carry: every
//! `$ref` to a shared definition becomes `#/$defs/<name>` and the definitions a schema reaches
//! (transitively, recursive ones once) travel with it under `$defs` — never inlined, so a
//! recursive schema cannot loop and a tool's schema stays the size of what it uses. OpenAPI
//! 3.0's dialect is translated (`nullable`, boolean `exclusiveMinimum`/`exclusiveMaximum`)
//! and its annotation-only keywords dropped.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// Collects the definitions the schemas of one tool reach.
pub struct Defs<'a> {
    doc: &'a Value,
    /// Definition name → its translated schema (`None` while being translated: a cycle).
    defs: BTreeMap<String, Option<Value>>,
    /// JSON pointer → definition name, so one target gets one name.
    names: BTreeMap<String, String>,
}

/// A `$ref` the document does not resolve.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownRef(pub String);

impl<'a> Defs<'a> {
    pub fn new(doc: &'a Value) -> Self {
        Self {
            doc,
            defs: BTreeMap::new(),
            names: BTreeMap::new(),
        }
    }

    /// `schema` translated, its `$ref`s pointing into the `$defs` this collector gathers.
    pub fn schema(&mut self, schema: &Value) -> Result<Value, UnknownRef> {
        self.translate(schema, 0)
    }

    /// The gathered definitions, for a schema's `$defs`.
    pub fn finish(self) -> Map<String, Value> {
        self.defs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }

    fn translate(&mut self, schema: &Value, depth: usize) -> Result<Value, UnknownRef> {
        // Deeply nested inline schemas (not refs) are bounded too: what is that deep is kept
        // as "anything" rather than walked further.
        if depth > 64 {
            return Ok(Value::Object(Map::new()));
        }
        let Value::Object(obj) = schema else {
            return Ok(schema.clone());
        };
        if let Some(Value::String(r)) = obj.get("$ref") {
            let name = self.define(r)?;
            let mut out = Map::new();
            out.insert("$ref".into(), Value::String(format!("#/$defs/{name}")));
            return Ok(Value::Object(out));
        }
        let mut out = Map::new();
        for (k, v) in obj {
            match k.as_str() {
                // Annotations of OpenAPI, not JSON Schema keywords a validator needs.
                "nullable" | "discriminator" | "xml" | "externalDocs" | "example" => {}
                "properties" | "patternProperties" | "$defs" | "definitions"
                | "dependentSchemas" => {
                    let mut m = Map::new();
                    if let Value::Object(props) = v {
                        for (name, s) in props {
                            m.insert(name.clone(), self.translate(s, depth + 1)?);
                        }
                    }
                    out.insert(k.clone(), Value::Object(m));
                }
                "items"
                | "additionalProperties"
                | "not"
                | "contains"
                | "propertyNames"
                | "if"
                | "then"
                | "else"
                | "unevaluatedProperties"
                | "unevaluatedItems"
                | "additionalItems" => {
                    out.insert(k.clone(), self.translate(v, depth + 1)?);
                }
                "allOf" | "anyOf" | "oneOf" | "prefixItems" => {
                    let items = match v {
                        Value::Array(a) => a
                            .iter()
                            .map(|s| self.translate(s, depth + 1))
                            .collect::<Result<Vec<_>, _>>()?,
                        _ => Vec::new(),
                    };
                    out.insert(k.clone(), Value::Array(items));
                }
                // 3.0: booleans modifying minimum/maximum; 2020-12: the bound itself.
                "exclusiveMinimum" | "exclusiveMaximum" if v.is_boolean() => {}
                _ => {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
        for (flag, bound) in [
            ("exclusiveMinimum", "minimum"),
            ("exclusiveMaximum", "maximum"),
        ] {
            if obj.get(flag) == Some(&Value::Bool(true))
                && let Some(b) = out.remove(bound)
            {
                out.insert(flag.into(), b);
            }
        }
        if obj.get("nullable") == Some(&Value::Bool(true)) {
            match out.get("type").cloned() {
                Some(Value::String(t)) => {
                    out.insert(
                        "type".into(),
                        Value::Array(vec![Value::String(t), "null".into()]),
                    );
                }
                Some(Value::Array(mut ts)) if !ts.contains(&Value::from("null")) => {
                    ts.push("null".into());
                    out.insert("type".into(), Value::Array(ts));
                }
                _ => {}
            }
            if let Some(Value::Array(e)) = out.get_mut("enum")
                && !e.contains(&Value::Null)
            {
                e.push(Value::Null);
            }
        }
        Ok(Value::Object(out))
    }

    /// The definition name of `$ref` target `r`, translating it on first sight.
    fn define(&mut self, r: &str) -> Result<String, UnknownRef> {
        let pointer = r
            .strip_prefix('#')
            .ok_or_else(|| UnknownRef(r.to_owned()))?;
        if let Some(name) = self.names.get(pointer) {
            return Ok(name.clone());
        }
        let target = self
            .doc
            .pointer(pointer)
            .ok_or_else(|| UnknownRef(r.to_owned()))?;
        let name = self.unique_name(pointer);
        self.names.insert(pointer.to_owned(), name.clone());
        self.defs.insert(name.clone(), None);
        let translated = self.translate(target, 0)?;
        self.defs.insert(name.clone(), Some(translated));
        Ok(name)
    }

    /// `#/components/schemas/Pet` → `Pet`; any other target by its path; unique either way.
    fn unique_name(&self, pointer: &str) -> String {
        let base = match pointer.strip_prefix("/components/schemas/") {
            Some(n) if !n.contains('/') => unescape(n),
            _ => pointer
                .trim_start_matches('/')
                .split('/')
                .map(unescape)
                .collect::<Vec<_>>()
                .join("."),
        };
        let base: String = base
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let mut name = base.clone();
        let mut n = 2;
        while self.defs.contains_key(&name) {
            name = format!("{base}_{n}");
            n += 1;
        }
        name
    }
}

/// A JSON pointer segment as written (`~1` is `/`, `~0` is `~`).
fn unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

/// A `$ref` to something other than a schema (a parameter, a request body, a response),
/// resolved to what it points at, following chains (bounded).
pub fn deref<'v>(doc: &'v Value, mut v: &'v Value) -> Result<&'v Value, UnknownRef> {
    for _ in 0..16 {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                v = r
                    .strip_prefix('#')
                    .and_then(|p| doc.pointer(p))
                    .ok_or_else(|| UnknownRef(r.to_owned()))?;
            }
            None => return Ok(v),
        }
    }
    Err(UnknownRef("a chain of more than 16 `$ref`s".into()))
}
