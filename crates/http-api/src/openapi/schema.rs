//! Schemas out of an OpenAPI document, as JSON Schema 2020-12 a tool can carry: every
//! `$ref` to a shared definition becomes `#/$defs/<name>` and the definitions a schema reaches
//! (transitively, recursive ones once) travel with it under `$defs` — never inlined, so a
//! recursive schema cannot loop and a tool's schema stays the size of what it uses. OpenAPI
//! 3.0's dialect is translated (`nullable`, boolean `exclusiveMinimum`/`exclusiveMaximum`)
//! and its annotation-only keywords dropped.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value};

/// Other files a document's `$ref`s name (`common.yaml#/components/schemas/Error`), read once
/// per import and shared by its tools. Relative to the referring file; only for documents
/// read from a file (a fetched document's relative references are not followed).
#[derive(Default, Clone)]
pub struct Externals {
    /// The root document's directory; `None` for a fetched document.
    base: Option<PathBuf>,
    files: Arc<Mutex<HashMap<PathBuf, Option<Arc<Value>>>>>,
}

impl Externals {
    pub fn beside(root_file: &Path) -> Self {
        Self {
            base: root_file.parent().map(Path::to_path_buf),
            files: Arc::default(),
        }
    }

    /// The document at `path` (read and parsed once; `None` if it cannot be, or if it is not
    /// a regular file of at most 16 MiB under the root document's directory: a document
    /// cannot make the gateway read, and publish, files elsewhere).
    fn get(&self, path: &Path) -> Option<Arc<Value>> {
        let path = std::fs::canonicalize(path).ok()?;
        let root = std::fs::canonicalize(self.base.as_ref()?).ok()?;
        if !path.starts_with(&root) {
            tracing::warn!(file = %path.display(), "an OpenAPI $ref outside the document's directory is not followed");
            return None;
        }
        let mut files = self.files.lock().ok()?;
        files
            .entry(path.clone())
            .or_insert_with(|| {
                let meta = std::fs::metadata(&path).ok()?;
                if !meta.is_file() || meta.len() > 16 * 1024 * 1024 {
                    return None;
                }
                let text = std::fs::read_to_string(&path).ok()?;
                super::parse(&path.display().to_string(), &text)
                    .ok()
                    .map(Arc::new)
            })
            .clone()
    }
}

/// Collects the definitions the schemas of one tool reach.
pub struct Defs<'a> {
    doc: &'a Value,
    externals: Externals,
    /// Definition name → its translated schema (`None` while being translated: a cycle).
    defs: BTreeMap<String, Option<Value>>,
    /// `file#pointer` → definition name, so one target gets one name.
    names: BTreeMap<String, String>,
}

/// A `$ref` the document does not resolve.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownRef(pub String);

impl<'a> Defs<'a> {
    pub fn new(doc: &'a Value, externals: Externals) -> Self {
        Self {
            doc,
            externals,
            defs: BTreeMap::new(),
            names: BTreeMap::new(),
        }
    }

    /// `schema` (of the root document) translated, its `$ref`s pointing into the `$defs` this
    /// collector gathers.
    pub fn schema(&mut self, schema: &Value) -> Result<Value, UnknownRef> {
        self.translate(schema, 0, None)
    }

    /// As [`Defs::schema`], for a schema found in file `src` (`None`: the root document).
    pub fn schema_in(&mut self, schema: &Value, src: Option<&Path>) -> Result<Value, UnknownRef> {
        self.translate(schema, 0, src)
    }

    /// The gathered definitions, for a schema's `$defs`.
    pub fn finish(self) -> Map<String, Value> {
        self.defs
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }

    /// `src`: the external file `schema` comes from (`None`: the root document).
    fn translate(
        &mut self,
        schema: &Value,
        depth: usize,
        src: Option<&Path>,
    ) -> Result<Value, UnknownRef> {
        // Deeply nested inline schemas (not refs) are bounded too: what is that deep is kept
        // as "anything" rather than walked further.
        if depth > 64 {
            return Ok(Value::Object(Map::new()));
        }
        let Value::Object(obj) = schema else {
            return Ok(schema.clone());
        };
        if let Some(Value::String(r)) = obj.get("$ref") {
            let name = self.define(r, src, depth)?;
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
                            m.insert(name.clone(), self.translate(s, depth + 1, src)?);
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
                    out.insert(k.clone(), self.translate(v, depth + 1, src)?);
                }
                "allOf" | "anyOf" | "oneOf" | "prefixItems" => {
                    let items = match v {
                        Value::Array(a) => a
                            .iter()
                            .map(|s| self.translate(s, depth + 1, src))
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

    /// What a schema is once its top-level `$ref`s are followed (local or to other files), to
    /// look at its `type` and `properties`, and the file it is in (for translating its parts
    /// with [`Defs::schema_in`]); `None` when a reference does not resolve.
    pub fn peek(&self, schema: &Value) -> Option<(Value, Option<PathBuf>)> {
        let mut v = schema.clone();
        let mut src: Option<PathBuf> = None;
        for _ in 0..16 {
            let Some(r) = v.get("$ref").and_then(Value::as_str).map(str::to_owned) else {
                return Some((v, src));
            };
            let (file, pointer) = self.target(&r, src.as_deref())?;
            v = match &file {
                None => self.doc.pointer(&pointer).cloned(),
                Some(f) => self
                    .externals
                    .get(f)
                    .and_then(|d| d.pointer(&pointer).cloned()),
            }?;
            src = file;
        }
        None
    }

    /// Where `$ref` `r` written in `src` points: the file (`None`: the root document) and the
    /// JSON pointer in it.
    fn target(&self, r: &str, src: Option<&Path>) -> Option<(Option<PathBuf>, String)> {
        Some(match r.split_once('#') {
            Some(("", pointer)) => (src.map(Path::to_path_buf), pointer.to_owned()),
            Some((file, pointer)) => (Some(self.relative(file, src)?), pointer.to_owned()),
            None => (Some(self.relative(r, src)?), String::new()),
        })
    }

    /// The definition name of `$ref` target `r` (written in `src`), translating it on first
    /// sight. Local (`#/…`) and relative-file (`common.yaml#/…`) references.
    fn define(&mut self, r: &str, src: Option<&Path>, depth: usize) -> Result<String, UnknownRef> {
        let unknown = || UnknownRef(r.to_owned());
        let (file, pointer) = self.target(r, src).ok_or_else(unknown)?;
        let pointer = pointer.as_str();
        // One name per file whatever path spelled it (`a/../b.yaml` is `b.yaml`).
        let file = file.map(|f| std::fs::canonicalize(&f).unwrap_or(f));
        let key = format!(
            "{}#{pointer}",
            file.as_deref()
                .map(|f| f.display().to_string())
                .unwrap_or_default()
        );
        if let Some(name) = self.names.get(&key) {
            return Ok(name.clone());
        }
        let target = match &file {
            None => self.doc.pointer(pointer).cloned(),
            Some(f) => self
                .externals
                .get(f)
                .and_then(|d| d.pointer(pointer).cloned()),
        }
        .ok_or_else(unknown)?;
        let name = self.unique_name(pointer, file.as_deref());
        self.names.insert(key, name.clone());
        self.defs.insert(name.clone(), None);
        // A chain of distinct references nests as deep as it is long: bounded like any nesting.
        let translated = self.translate(&target, depth + 1, file.as_deref())?;
        self.defs.insert(name.clone(), Some(translated));
        Ok(name)
    }

    /// A file named by a `$ref` in `src` (or in the root document), relative to it.
    fn relative(&self, file: &str, src: Option<&Path>) -> Option<PathBuf> {
        if file.contains("://") {
            return None;
        }
        let dir = match src {
            Some(s) => s.parent()?.to_path_buf(),
            None => self.externals.base.clone()?,
        };
        Some(dir.join(file))
    }

    /// `#/components/schemas/Pet` (or `#/$defs/Pet`) → `Pet`; a whole file by its name; any
    /// other target by its path; unique either way.
    fn unique_name(&self, pointer: &str, file: Option<&Path>) -> String {
        let short = ["/components/schemas/", "/$defs/", "/definitions/"]
            .iter()
            .find_map(|p| pointer.strip_prefix(p));
        let base = match short {
            Some(n) if !n.contains('/') => unescape(n),
            _ if pointer.is_empty() => file.and_then(Path::file_stem).map_or_else(
                || "document".to_owned(),
                |s| s.to_string_lossy().into_owned(),
            ),
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
