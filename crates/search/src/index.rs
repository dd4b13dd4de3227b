//! The search index: BM25 over each tool's name (weighted ×3), parameter names (×2) and
//! description (×1), in process, rebuilt from the catalogue when lists change. Tokens are
//! lowercase words split at non-letters and camelCase, light-stemmed (plural and verb
//! endings), stop words left out. A catalogue of 1,222 tools (GitHub's API) builds in
//! milliseconds; a query scores every document holding one of its terms.

use std::collections::HashMap;

use serde_json::Value;

/// BM25's term-frequency saturation and length normalisation.
const K1: f64 = 1.2;
const B: f64 = 0.75;

const STOP: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "by", "from", "at", "as",
    "is", "are", "be", "this", "that", "it", "its", "i", "my", "me", "we", "our", "you", "your",
    "can", "will", "which", "what", "all", "any", "if", "not", "no", "use", "using", "used",
    "these", "those", "there", "their", "has", "have", "was", "were", "when", "how", "do", "does",
    "also", "more", "see", "about", "into", "only", "than", "then", "so", "such", "may", "must",
    "should", "would", "could", "one", "via", "per", "e", "g", "eg", "ie", "www", "https", "http",
    "com", "docs", "note", "endpoint", "api",
];

/// One indexed tool.
pub struct Doc {
    pub name: String,
    /// Its `tools/list` entry, as listed.
    pub tool: Value,
    terms: HashMap<String, f64>,
    len: f64,
}

/// The index over a catalogue's tools.
#[derive(Default)]
pub struct Index {
    pub docs: Vec<Doc>,
    df: HashMap<String, usize>,
    avg_len: f64,
}

/// Words of `text`, lowercase and stemmed, without stop words.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if !word.is_empty() {
            let w = word.to_lowercase();
            if !STOP.contains(&w.as_str()) && !w.chars().all(|c| c.is_ascii_digit()) {
                out.push(stem(&w));
            }
            word.clear();
        }
    };
    for c in text.chars() {
        if c.is_alphanumeric() {
            // camelCase: a capital after a lowercase letter starts a word.
            if c.is_uppercase() && prev_lower {
                flush(&mut word, &mut out);
            }
            prev_lower = c.is_lowercase();
            word.push(c);
        } else {
            prev_lower = false;
            flush(&mut word, &mut out);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// A light English stemmer: plurals, common verb endings, and a final `e` (so `create`,
/// `creates`, `created` and `creating` meet, as do `cache` and `caches`).
fn stem(w: &str) -> String {
    if w.len() <= 3 {
        return w.to_owned();
    }
    let mut b = w.to_owned();
    let strip = |b: &mut String, n: usize| b.truncate(b.len() - n);
    if b.ends_with("ies") && b.len() > 4 {
        strip(&mut b, 3);
        b.push('y');
    } else if ["sses", "ches", "shes", "xes", "zes"]
        .iter()
        .any(|s| b.ends_with(s))
    {
        strip(&mut b, 2);
    } else if b.ends_with('s') && !b.ends_with("ss") && !b.ends_with("us") && !b.ends_with("is") {
        strip(&mut b, 1);
    } else if b.ends_with("ing") && b.len() > 5 {
        strip(&mut b, 3);
        undouble(&mut b);
    } else if b.ends_with("ed") && b.len() > 4 {
        strip(&mut b, 2);
        undouble(&mut b);
    }
    if b.ends_with('e') && b.len() > 3 {
        b.pop();
    }
    b
}

/// `running` → `runn` → `run`; `stopped` → `stopp` → `stop` (not `pass`, `fill`).
fn undouble(b: &mut String) {
    let bytes = b.as_bytes();
    let n = bytes.len();
    if n >= 4 && bytes[n - 1] == bytes[n - 2] && !matches!(bytes[n - 1], b's' | b'l' | b'z') {
        b.pop();
    }
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

/// Everyday verbs a person uses for what tools name with a few standard ones: a query's word
/// also searches for the standard verb (at half weight).
const VERBS: &[(&str, &[&str])] = &[
    (
        "creat",
        &[
            "add", "new", "make", "open", "start", "write", "publish", "post", "submit", "file",
            "register",
        ],
    ),
    (
        "delet",
        &["remov", "eras", "destroy", "drop", "permanently", "purg"],
    ),
    (
        "get",
        &[
            "read",
            "show",
            "fetch",
            "view",
            "information",
            "detail",
            "info",
            "retriev",
            "look",
        ],
    ),
    (
        "list",
        &["which", "all", "every", "enumerat", "recent", "history"],
    ),
    (
        "updat",
        &["chang", "edit", "modify", "set", "renam", "clos"],
    ),
    ("search", &["find", "look", "query", "lookup"]),
];

fn add(terms: &mut HashMap<String, f64>, text: &str, weight: f64) -> f64 {
    let mut n = 0.0;
    for t in tokens(text) {
        *terms.entry(t).or_default() += weight;
        n += weight;
    }
    n
}

/// A tool's parameter names (and their descriptions' words at a lower weight), from its
/// `inputSchema`'s top-level properties.
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

impl Index {
    /// Index `tools` (`tools/list` entries); `separator` is the federation separator (what
    /// comes before it in a name is the server's prefix).
    pub fn build(tools: Vec<Value>, separator: &str) -> Self {
        let mut docs = Vec::with_capacity(tools.len());
        let mut df: HashMap<String, usize> = HashMap::new();
        for tool in tools {
            let Some(name) = tool.get("name").and_then(Value::as_str).map(str::to_owned) else {
                continue;
            };
            let mut terms = HashMap::new();
            // The server's prefix is in every name of its tools: it says nothing of one.
            let own = name
                .split_once(separator)
                .map_or(name.as_str(), |(_, rest)| rest);
            // Length (for BM25's normalisation) counts what says what the tool does — name,
            // title, summary — not the detail below it, which would penalise documented tools.
            let mut len = add(&mut terms, own, 3.0);
            if let Some(title) = tool.get("title").and_then(Value::as_str) {
                len += add(&mut terms, title, 2.0);
            }
            let (param_names, param_text) = params(&tool);
            add(&mut terms, &param_names, 1.0);
            add(&mut terms, &param_text, 0.2);
            if let Some(d) = tool.get("description").and_then(Value::as_str) {
                // The first sentence (or line) says what the tool does; the rest is detail.
                let (summary, rest) = split_summary(d);
                len += add(&mut terms, summary, 2.0);
                add(&mut terms, rest, 0.4);
            }
            for t in terms.keys() {
                *df.entry(t.clone()).or_default() += 1;
            }
            docs.push(Doc {
                name,
                tool,
                terms,
                len,
            });
        }
        let avg_len = if docs.is_empty() {
            1.0
        } else {
            docs.iter().map(|d| d.len).sum::<f64>() / docs.len() as f64
        };
        Self { docs, df, avg_len }
    }

    /// Documents by BM25 score for `query`, best first; `keep` decides which may be returned
    /// (the caller's permissions); at most `limit`.
    pub fn search(
        &self,
        query: &str,
        limit: usize,
        keep: &dyn Fn(&str) -> bool,
    ) -> Vec<(f64, &Doc)> {
        let n = self.docs.len() as f64;
        let mut q: Vec<(String, f64)> = Vec::new();
        for t in tokens(query) {
            for (verb, words) in VERBS {
                if words.contains(&t.as_str()) {
                    q.push(((*verb).to_owned(), 0.5));
                }
            }
            q.push((t, 1.0));
        }
        q.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        q.dedup_by(|a, b| a.0 == b.0);
        let idf: Vec<(String, f64)> = q
            .into_iter()
            .filter_map(|(t, weight)| {
                let df = *self.df.get(&t)? as f64;
                Some((t, weight * ((n - df + 0.5) / (df + 0.5) + 1.0).ln()))
            })
            .collect();
        if idf.is_empty() {
            return Vec::new();
        }
        let mut scored: Vec<(f64, &Doc)> = self
            .docs
            .iter()
            .filter_map(|d| {
                let mut s = 0.0;
                for (t, w) in &idf {
                    if let Some(tf) = d.terms.get(t) {
                        s += w * tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * d.len / self.avg_len));
                    }
                }
                (s > 0.0).then_some((s, d))
            })
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
    fn tokens_split_words_camel_case_and_stem() {
        assert_eq!(tokens("getEmployeeInfo"), ["get", "employe", "info"]);
        assert_eq!(tokens("list-issues_for repo"), ["list", "issu", "repo"]);
        assert_eq!(
            tokens("Running the stopped workflows"),
            ["run", "stop", "workflow"]
        );
        assert_eq!(tokens("repositories' branches"), ["repository", "branch"]);
        assert_eq!(tokens("create creates created creating"), ["creat"; 4]);
        assert_eq!(tokens("cache caches"), ["cach", "cach"]);
        assert_eq!(tokens("The API of a 2024 release"), ["releas"]);
    }

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
