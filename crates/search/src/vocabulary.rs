//! Words: how text becomes index terms (split at non-letters and camelCase, lowercase,
//! Snowball-stemmed, stop words left out), and the everyday words people use for what
//! tools name with standard terms (a query's word also searches for them, at lower weight).
//!
//! The thesaurus is general developer vocabulary — verbs (`remove` for `delete`, `stop` for
//! `cancel`, `land` for `merge`), nouns (`bug` and `ticket` for `issue`, `repo` for
//! `repository`), and a few phrases (`signed in` for `authenticated`) — not a list of any
//! one catalogue's tool names. Its effect is measured on a query set it was written against
//! and on a held-out one written separately (BENCHMARKS.md, "Tool search").

use std::collections::HashMap;
use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};

const STOP: &[&str] = &[
    "a", "an", "the", "and", "or", "of", "to", "in", "on", "for", "with", "by", "from", "at", "as",
    "is", "are", "be", "this", "that", "it", "its", "i", "my", "me", "we", "our", "you", "your",
    "can", "will", "what", "if", "not", "no", "use", "using", "used", "these", "those", "there",
    "their", "has", "have", "was", "were", "when", "how", "do", "does", "also", "more", "see",
    "about", "into", "only", "than", "then", "so", "such", "may", "must", "should", "would",
    "could", "one", "via", "per", "e", "g", "eg", "ie", "www", "https", "http", "com", "docs",
    "note", "endpoint", "api", "want", "need", "please", "some", "someone", "else", "s", "i'd",
    "let", "get's", "am", "been", "being", "just", "still", "any",
];

/// Everyday words (left) and the standard terms they also search for (right), by word
/// families. A left word may be a phrase of two words (`signed in`).
const THESAURUS: &[(&[&str], &[&str])] = &[
    // Verbs.
    (
        &[
            "add", "new", "make", "open", "file", "submit", "post", "register", "write", "start",
            "setup", "generate", "build", "launch", "spin",
        ],
        &["create"],
    ),
    (
        &[
            "remove",
            "erase",
            "destroy",
            "drop",
            "purge",
            "discard",
            "wipe",
            "permanently",
            "rid",
            "trash",
        ],
        &["delete"],
    ),
    (&["delete"], &["remove"]),
    (
        &[
            "show",
            "fetch",
            "read",
            "view",
            "retrieve",
            "details",
            "info",
            "information",
            "inspect",
            "look",
            "describe",
            "status",
            "current",
        ],
        &["get"],
    ),
    (
        &[
            "which",
            "all",
            "every",
            "enumerate",
            "browse",
            "history",
            "recent",
            "available",
            "existing",
            "overview",
        ],
        &["list"],
    ),
    (
        &[
            "change",
            "edit",
            "modify",
            "rename",
            "alter",
            "adjust",
            "close",
            "reopen",
            "tweak",
            "configure",
            "replace",
            "move",
        ],
        &["update", "set"],
    ),
    (&["find", "lookup", "query", "locate", "look"], &["search"]),
    (
        &[
            "stop",
            "abort",
            "halt",
            "kill",
            "terminate",
            "interrupt",
            "call",
        ],
        &["cancel"],
    ),
    (&["land", "combine", "integrate"], &["merge"]),
    (&["copy", "clone", "duplicate", "own"], &["fork"]),
    (
        &["give", "grant", "invite", "allow"],
        &["add", "permission"],
    ),
    (&["revoke", "deny", "kick", "take"], &["remove"]),
    (&["ask", "invite"], &["request"]),
    (&["prevent", "freeze", "restrict", "block"], &["lock"]),
    (&["unfreeze", "allow"], &["unlock"]),
    (
        &["convert", "turn", "transform", "preview", "format"],
        &["render"],
    ),
    (
        &["rerun", "retry", "again", "restart", "repeat"],
        &["re-run"],
    ),
    (&["download", "export", "save"], &["download", "archive"]),
    (&["upload", "attach", "import"], &["upload"]),
    (
        &["follow", "watch", "subscribe"],
        &["subscription", "watch"],
    ),
    (&["like", "bookmark", "favorite", "favourite"], &["star"]),
    (&["hide", "mute", "dismiss", "ignore"], &["dismiss"]),
    (&["check", "verify", "test", "whether"], &["check"]),
    (&["approve", "reject"], &["review"]),
    (&["pin", "highlight", "feature"], &["pin"]),
    (
        &["ship", "release", "rollout", "roll", "publish"],
        &["deploy", "release"],
    ),
    (
        &["left", "remaining", "quota", "throttle", "throttling"],
        &["rate", "limit"],
    ),
    (
        &["count", "many", "much", "metrics", "numbers"],
        &["stats", "count"],
    ),
    (
        &["usage", "billing", "spend", "cost", "minutes"],
        &["usage", "billing"],
    ),
    // Nouns.
    (
        &["bug", "ticket", "problem", "task", "defect", "incident"],
        &["issue"],
    ),
    (&["repo", "project", "codebase"], &["repository", "repo"]),
    (&["repository"], &["repo"]),
    (&["pr", "prs", "change", "patch"], &["pull"]),
    (
        &["org", "company", "organisation", "enterprise"],
        &["organization", "org"],
    ),
    (&["organization"], &["org"]),
    (
        &["teammate", "teammates", "colleague", "coworker", "reviewer"],
        &["reviewer", "member", "team"],
    ),
    (
        &["person", "people", "account", "profile", "someone"],
        &["user"],
    ),
    (&["group", "squad"], &["team"]),
    (
        &["ci", "pipeline", "build", "job"],
        &["workflow", "action", "run"],
    ),
    (
        &["password", "credential", "token", "secret"],
        &["secret", "token"],
    ),
    (
        &["env", "environment", "variable", "config"],
        &["variable", "environment"],
    ),
    (&["hook", "callback", "notify"], &["webhook", "hook"]),
    (&["tag", "version", "versions"], &["tag", "release"]),
    (&["label", "category", "tags"], &["label"]),
    (
        &["note", "reply", "message", "remark", "discussion"],
        &["comment"],
    ),
    (&["conversation", "thread"], &["comment", "issue"]),
    (
        &["file", "files", "document", "content"],
        &["content", "file"],
    ),
    (&["folder", "directory", "tree"], &["tree", "content"]),
    (&["snippet", "paste"], &["gist"]),
    (
        &[
            "vulnerability",
            "vulnerabilities",
            "cve",
            "security",
            "advisory",
        ],
        &["alert", "advisory", "vulnerability"],
    ),
    (&["key", "ssh"], &["key"]),
    (&["email", "mail", "address"], &["email"]),
    (&["inbox", "unread", "alerts"], &["notification"]),
    (&["pointer", "pointing", "point", "reference"], &["ref"]),
    (&["branch"], &["ref"]),
    (&["container", "image", "npm", "library"], &["package"]),
    (&["runner", "machine", "agent"], &["runner"]),
    (&["workspace", "devbox", "ide"], &["codespace"]),
    (&["milestone", "deadline", "sprint", "goal"], &["milestone"]),
    (&["board", "kanban"], &["project"]),
    (&["assign", "owner", "responsible"], &["assignee"]),
    (&["mention", "markdown", "html"], &["markdown", "render"]),
    (
        &["emoji", "emojis", "smiley", "reaction"],
        &["emoji", "reaction"],
    ),
    (&["log", "logs", "output"], &["log"]),
    (
        &["artifact", "artifacts", "binary", "asset", "assets"],
        &["artifact", "asset"],
    ),
    (&["commit", "commits", "history", "changes"], &["commit"]),
    (&["me", "myself", "mine"], &["authenticated"]),
];

/// Phrases (two words) with the terms they stand for.
const PHRASES: &[(&str, &str, &[&str])] = &[
    ("signed", "in", &["authenticated"]),
    ("logged", "in", &["authenticated"]),
    ("log", "in", &["authenticated"]),
    ("sign", "in", &["authenticated"]),
    ("pull", "request", &["pull"]),
    ("merge", "request", &["pull"]),
    ("dev", "environment", &["codespace"]),
    ("development", "environment", &["codespace"]),
    ("cloud", "environment", &["codespace"]),
    ("rate", "limit", &["rate", "limit"]),
    ("api", "calls", &["rate", "limit"]),
    ("write", "access", &["collaborator", "permission"]),
    ("read", "access", &["collaborator", "permission"]),
    ("access", "to", &["permission"]),
];

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

/// The thesaurus by stemmed left word: the stemmed terms it also searches for.
static EXPANSIONS: LazyLock<HashMap<String, Vec<String>>> = LazyLock::new(|| {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for (words, terms) in THESAURUS {
        for w in *words {
            let entry = map.entry(stem(w)).or_default();
            for t in *terms {
                for t in tokens(t) {
                    if !entry.contains(&t) {
                        entry.push(t);
                    }
                }
            }
        }
    }
    map
});

fn stem(word: &str) -> String {
    STEMMER.stem(word).into_owned()
}

/// Words of `text`, lowercase and stemmed, without stop words.
pub fn tokens(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| !STOP.contains(&w.as_str()) && !w.chars().all(|c| c.is_ascii_digit()))
        .map(|w| stem(&w))
        .collect()
}

/// Lowercase words of `text`, split at non-letters and camelCase, stop words kept.
fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if !word.is_empty() {
            out.push(word.to_lowercase());
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

/// A query's terms with their weights: its own words (1.0), and what the thesaurus and
/// phrases add for them (`related`), each term once at its highest weight.
pub fn query_terms(query: &str, related: f64) -> Vec<(String, f64)> {
    let all = words(query);
    let mut q: Vec<(String, f64)> = Vec::new();
    for pair in all.windows(2) {
        for (a, b, terms) in PHRASES {
            if pair[0] == *a && pair[1] == *b {
                q.extend(terms.iter().map(|t| (stem(t), related)));
            }
        }
    }
    for w in &all {
        if STOP.contains(&w.as_str()) {
            // Stop words may still name something ("which" branches, "all" runs).
            if let Some(more) = EXPANSIONS.get(w.as_str()) {
                q.extend(more.iter().map(|t| (t.clone(), related)));
            }
            continue;
        }
        if w.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        let t = stem(w);
        if let Some(more) = EXPANSIONS.get(&t) {
            q.extend(more.iter().map(|m| (m.clone(), related)));
        }
        q.push((t, 1.0));
    }
    q.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
    q.dedup_by(|a, b| a.0 == b.0);
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_words_camel_case_and_stem() {
        assert_eq!(tokens("getEmployeeInfo"), ["get", "employe", "info"]);
        assert_eq!(tokens("list-issues_for repo"), ["list", "issu", "repo"]);
        assert_eq!(
            tokens("Running the stopped workflows"),
            ["run", "stop", "workflow"]
        );
        assert_eq!(tokens("emojis caches"), ["emoji", "cach"]);
        assert_eq!(tokens("create creates created creating"), ["creat"; 4]);
        assert_eq!(tokens("The API of a 2024 release"), ["releas"]);
    }

    #[test]
    fn queries_add_related_terms_at_lower_weight() {
        let q = query_terms("stop the build", 0.5);
        assert!(q.contains(&("stop".to_owned(), 1.0)));
        assert!(q.contains(&("cancel".to_owned(), 0.5)));
        assert!(q.contains(&("workflow".to_owned(), 0.5)));
        // A word the query says itself keeps its full weight.
        let q = query_terms("delete and remove", 0.5);
        assert!(q.contains(&("delet".to_owned(), 1.0)));
        assert!(q.contains(&("remov".to_owned(), 1.0)));
        // Phrases and stop words that name something.
        let q = query_terms("the signed in user", 0.5);
        assert!(q.contains(&("authent".to_owned(), 0.5)));
        let q = query_terms("which branches", 0.5);
        assert!(q.contains(&("list".to_owned(), 0.5)));
    }
}
