//! The search index: BM25F over each tool's fields — its name (after the server's prefix),
//! title, summary (the description's first sentence), parameter names, parameter
//! descriptions and the rest of its description — each field weighted and normalised by its
//! own length, in process, rebuilt from the catalogue when lists change. Terms come from
//! `vocabulary` (Snowball-stemmed words; a query's everyday words also search for the
//! standard terms tools use). Postings per term, so a query touches only the tools holding
//! one of its terms: GitHub's 1,222 tools build in tens of milliseconds and search in tens of
//! microseconds (BENCHMARKS.md).

use std::collections::HashMap;

use serde_json::Value;

use crate::vocabulary::{query_terms, tokens};

/// BM25's term-frequency saturation.
const K1: f64 = 1.2;

/// What a query's related terms (from the thesaurus) weigh beside its own words.
const RELATED: f64 = 0.4;

/// The fields of a tool: their weight, and how much their length normalises (BM25's `b`).
#[derive(Clone, Copy)]
enum Field {
    Name,
    Title,
    Summary,
    ParamNames,
    ParamText,
    Detail,
}

impl Field {
    const ALL: [Field; 6] = [
        Field::Name,
        Field::Title,
        Field::Summary,
        Field::ParamNames,
        Field::ParamText,
        Field::Detail,
    ];

    fn weight(self) -> f64 {
        match self {
            Field::Name => 3.0,
            Field::Title | Field::Summary => 2.0,
            Field::ParamNames => 0.8,
            Field::ParamText => 0.15,
            Field::Detail => 0.4,
        }
    }

    fn b(self) -> f64 {
        match self {
            Field::Name | Field::Title | Field::ParamNames => 0.5,
            Field::Summary | Field::ParamText | Field::Detail => 0.75,
        }
    }
}

/// One indexed tool.
pub struct Doc {
    pub name: String,
    /// Its `tools/list` entry, as listed.
    pub tool: Value,
}

/// The index over a catalogue's tools.
#[derive(Default)]
pub struct Index {
    pub docs: Vec<Doc>,
    /// Term → (document, its field-weighted, length-normalised frequency).
    postings: HashMap<String, Vec<(u32, f32)>>,
}

/// A description's summary (up to the first blank line, double space, or sentence end) and
/// the rest.
fn split_summary(d: &str) -> (&str, &str) {
    let ends = ["\n\n", "  ", ". ", ".\n"];
    let cut = ends
        .iter()
        .filter_map(|e| d.find(e))
        .min()
        .unwrap_or(d.len());
    (&d[..cut], &d[cut..])
}

/// A tool's parameter names and their descriptions, from its `inputSchema`'s top-level
/// properties.
fn params(tool: &Value) -> (String, String) {
    let mut names = String::new();
    let mut descriptions = String::new();
    if let Some(props) = tool
        .get("inputSchema")
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
    {
        for (k, v) in props {
            names.push_str(k);
            names.push(' ');
            if let Some(d) = v.get("description").and_then(Value::as_str) {
                descriptions.push_str(d);
                descriptions.push(' ');
            }
        }
    }
    (names, descriptions)
}

/// A tool's fields' terms (by field, in `Field::ALL` order).
fn fields(tool: &Value, own_name: &str) -> [Vec<String>; 6] {
    let (param_names, param_text) = params(tool);
    let description = tool
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let (summary, detail) = split_summary(description);
    [
        tokens(own_name),
        tokens(
            tool.get("title")
                .and_then(Value::as_str)
                .unwrap_or_default(),
        ),
        tokens(summary),
        tokens(&param_names),
        tokens(&param_text),
        tokens(detail),
    ]
}

impl Index {
    /// Index `tools` (`tools/list` entries); `separator` is the federation separator (what
    /// comes before it in a name is the server's prefix, in every name of that server's
    /// tools: it says nothing of one).
    pub fn build(tools: Vec<Value>, separator: &str) -> Self {
        let mut docs = Vec::with_capacity(tools.len());
        let mut terms: Vec<[Vec<String>; 6]> = Vec::with_capacity(tools.len());
        for tool in tools {
            let Some(name) = tool.get("name").and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            let own = name
                .split_once(separator)
                .map_or(name.as_str(), |(_, rest)| rest);
            terms.push(fields(&tool, own));
            docs.push(Doc { name, tool });
        }
        let n = docs.len().max(1) as f64;
        let mut avg = [0.0f64; 6];
        for t in &terms {
            for (i, f) in t.iter().enumerate() {
                avg[i] += f.len() as f64 / n;
            }
        }
        let mut postings: HashMap<String, Vec<(u32, f32)>> = HashMap::new();
        for (d, t) in terms.iter().enumerate() {
            let mut tf: HashMap<&str, f64> = HashMap::new();
            for (i, field) in Field::ALL.iter().enumerate() {
                let len = t[i].len() as f64;
                let norm = 1.0 - field.b() + field.b() * len / avg[i].max(1.0);
                for term in &t[i] {
                    *tf.entry(term.as_str()).or_default() += field.weight() / norm;
                }
            }
            let d = u32::try_from(d).unwrap_or(u32::MAX);
            for (term, f) in tf {
                postings
                    .entry(term.to_owned())
                    .or_default()
                    .push((d, f as f32));
            }
        }
        Self { docs, postings }
    }

    /// Documents by BM25F score for `query`, best first; `keep` decides which may be
    /// returned (the caller's permissions); at most `limit`.
    pub fn search(
        &self,
        query: &str,
        limit: usize,
        keep: &dyn Fn(&str) -> bool,
    ) -> Vec<(f64, &Doc)> {
        let n = self.docs.len() as f64;
        let mut scores = vec![0.0f64; self.docs.len()];
        let mut any = false;
        for (term, weight) in query_terms(query, RELATED) {
            let Some(list) = self.postings.get(&term) else {
                continue;
            };
            any = true;
            let df = list.len() as f64;
            let idf = weight * ((n - df + 0.5) / (df + 0.5) + 1.0).ln();
            for &(d, tf) in list {
                let tf = f64::from(tf);
                if let Some(s) = scores.get_mut(d as usize) {
                    *s += idf * tf * (K1 + 1.0) / (tf + K1);
                }
            }
        }
        if !any {
            return Vec::new();
        }
        let mut scored: Vec<(f64, &Doc)> = scores
            .into_iter()
            .zip(&self.docs)
            .filter(|(s, _)| *s > 0.0)
            .collect();
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.name.cmp(&b.1.name)));
        scored
            .into_iter()
            .filter(|(_, d)| keep(&d.name))
            .take(limit)
            .collect()
    }

    /// The words that best say what a server's tools are about: the most frequent words of
    /// their names after the server's prefix, common verbs and short words left out (GitHub's:
    /// repos, actions, orgs, …), for the search tool's description.
    pub fn themes(&self, prefix: &str, n: usize) -> Vec<String> {
        const VERBISH: &[&str] = &[
            "get", "list", "create", "update", "delete", "set", "add", "remove", "for", "the",
            "and", "check", "can", "from", "with", "all",
        ];
        let mut count: HashMap<String, usize> = HashMap::new();
        for d in self.docs.iter().filter(|d| d.name.starts_with(prefix)) {
            let own = &d.name[prefix.len()..];
            for w in own.split(|c: char| !c.is_alphanumeric()) {
                let w = w.to_lowercase();
                if w.len() > 3 && !VERBISH.contains(&w.as_str()) {
                    *count.entry(w).or_default() += 1;
                }
            }
        }
        let mut v: Vec<(String, usize)> = count.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.into_iter().take(n).map(|(t, _)| t).collect()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ranks_by_name_then_description_and_filters() {
        let idx = Index::build(
            vec![
                json!({"name": "github__issues_create", "description": "Create an issue in a repository",
                   "inputSchema": {"type": "object", "properties": {"title": {}, "body": {}}}}),
                json!({"name": "github__pulls_merge", "description": "Merge a pull request"}),
                json!({"name": "jira__create_ticket", "description": "Open a new ticket to track a bug"}),
            ],
            "__",
        );
        let top = |q: &str| -> Vec<String> {
            idx.search(q, 3, &|_| true)
                .into_iter()
                .map(|(_, d)| d.name.clone())
                .collect()
        };
        assert_eq!(top("create an issue")[0], "github__issues_create");
        assert_eq!(top("track a bug")[0], "jira__create_ticket");
        assert_eq!(top("merge pull requests")[0], "github__pulls_merge");
        assert!(top("nothing like it").is_empty());
        // A tool the caller may not use is never found.
        let kept = idx.search("create", 3, &|n| !n.starts_with("jira"));
        assert!(kept.iter().all(|(_, d)| !d.name.starts_with("jira")));
        assert_eq!(idx.themes("github__", 2).len(), 2);
    }
}
