//! Document search: case-insensitive phrase and keyword matching over title and body.

use serde::Serialize;

use crate::data::{Company, Document};

/// Optional restrictions of a search.
#[derive(Debug, Default, Clone)]
pub struct Filters<'a> {
    pub department: Option<&'a str>,
    pub project_id: Option<&'a str>,
}

/// One search result.
#[derive(Debug, Serialize, PartialEq)]
pub struct Hit {
    pub id: String,
    pub title: String,
    pub uri: String,
    pub department: String,
    pub project_id: Option<String>,
    pub updated: String,
    pub score: u32,
    pub snippet: String,
}

fn keywords(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// Score of `doc` for `query`: 0 means no match. The whole query as a
/// substring counts most, then each keyword (title hits weigh triple). Every
/// keyword must occur somewhere unless the whole phrase does.
fn score(doc: &Document, query: &str, words: &[String]) -> u32 {
    let title = doc.title.to_lowercase();
    let body = doc.body.to_lowercase();
    let phrase = query.trim().to_lowercase();
    let phrase_hit = !phrase.is_empty() && (title.contains(&phrase) || body.contains(&phrase));
    let mut total: u32 = if phrase_hit { 10 } else { 0 };
    for word in words {
        let in_title = u32::try_from(title.matches(word.as_str()).count()).unwrap_or(u32::MAX);
        let in_body = u32::try_from(body.matches(word.as_str()).count()).unwrap_or(u32::MAX);
        if in_title == 0 && in_body == 0 && !phrase_hit {
            return 0;
        }
        total = total
            .saturating_add(in_title.saturating_mul(3))
            .saturating_add(in_body);
    }
    total
}

/// Up to ~160 characters of the body around the first keyword.
fn snippet(body: &str, words: &[String]) -> String {
    let lower = body.to_lowercase();
    let start = words
        .iter()
        .filter_map(|w| lower.find(w.as_str()))
        .min()
        .unwrap_or(0);
    // Lower-casing may change byte offsets for non-ASCII text: fall back to
    // the start of the body when the offset is not a char boundary here.
    let start = if body.is_char_boundary(start) {
        start
    } else {
        0
    };
    let from = body[..start]
        .char_indices()
        .rev()
        .nth(40)
        .map_or(0, |(i, _)| i);
    let text: String = body[from..].chars().take(160).collect();
    let mut out = if from > 0 { format!("…{text}") } else { text };
    if body[from..].chars().count() > 160 {
        out.push('…');
    }
    out
}

/// Documents matching `query` and `filters`, best first. An empty query
/// lists every document that passes the filters.
pub fn search(company: &Company, query: &str, filters: &Filters<'_>) -> Vec<Hit> {
    let words = keywords(query);
    let mut hits: Vec<Hit> = company
        .documents
        .iter()
        .filter(|d| {
            filters
                .department
                .is_none_or(|dep| d.department.eq_ignore_ascii_case(dep))
        })
        .filter(|d| {
            filters.project_id.is_none_or(|p| {
                d.project_id
                    .as_deref()
                    .is_some_and(|id| id.eq_ignore_ascii_case(p))
            })
        })
        .filter_map(|d| {
            let score = if words.is_empty() {
                1
            } else {
                score(d, query, &words)
            };
            (score > 0).then(|| Hit {
                id: d.id.clone(),
                title: d.title.clone(),
                uri: d.uri(),
                department: d.department.clone(),
                project_id: d.project_id.clone(),
                updated: d.updated.clone(),
                score,
                snippet: snippet(&d.body, &words),
            })
        })
        .collect();
    hits.sort_by(|a, b| b.score.cmp(&a.score).then_with(|| a.id.cmp(&b.id)));
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::BUNDLED;

    fn company() -> Company {
        Company::parse(BUNDLED).unwrap_or_else(|e| panic!("{e:#}"))
    }

    fn ids(hits: &[Hit]) -> Vec<&str> {
        hits.iter().map(|h| h.id.as_str()).collect()
    }

    #[test]
    fn keywords_match_case_insensitively_in_title_and_body() {
        let company = company();
        let hits = search(&company, "CHURN model", &Filters::default());
        assert_eq!(ids(&hits)[..2], ["D004", "D003"]);
        assert!(ids(&hits).iter().all(|id| ["D003", "D004"].contains(id)));
    }

    #[test]
    fn every_keyword_must_occur() {
        let company = company();
        assert!(search(&company, "churn kubernetes", &Filters::default()).is_empty());
    }

    #[test]
    fn filters_restrict_results() {
        let company = company();
        let filters = Filters {
            department: Some("security"),
            project_id: None,
        };
        assert_eq!(ids(&search(&company, "", &filters)), ["D007"]);
        let filters = Filters {
            department: None,
            project_id: Some("p004"),
        };
        assert_eq!(ids(&search(&company, "incident", &filters)), ["D008"]);
    }

    #[test]
    fn snippets_are_short_and_centred() {
        let company = company();
        let hits = search(&company, "postmortem", &Filters::default());
        let snippet = hits.first().map(|h| h.snippet.clone()).unwrap_or_default();
        assert!(snippet.contains("postmortem"), "{snippet}");
        assert!(snippet.chars().count() <= 162);
    }
}
