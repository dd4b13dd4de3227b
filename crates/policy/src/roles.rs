//! Authorization: what a role may do, compiled once from `roles:` in the config.
//!
//! A pattern is a glob where `*` matches any run of characters. A bare pattern names tools. A
//! pattern that contains the federation separator (`github__*`, `*__delete_*`) is matched
//! against the namespaced name; one without it (`read_*`) against the server's own name, so it
//! works whatever the prefix — and a server whose *prefix* happens to match (`read_x__drop_db`)
//! gains nothing;
//! `tool:`, `prompt:` and `resource:` prefixes name the kind explicitly (resources match by URI);
//! `*` alone allows everything. A deny pattern beats any allow. A denied call is answered exactly
//! like a call to something that does not exist.
//!
//! The admin API is granted apart: `admin:read` (see everything, change nothing) or `admin:*`
//! (act too), named explicitly — `*` alone grants no admin access, and neither does running
//! without authentication.

use std::sync::Arc;

use switchboard_config::RoleConfig;
pub use switchboard_config::glob;

/// What a permission is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Tool,
    Prompt,
    Resource,
}

#[derive(Debug, Clone)]
pub struct Pattern {
    /// `None`: every kind (the bare `*`).
    kind: Option<Subject>,
    glob: String,
    /// Matched against the namespaced name (it names the separator), else the original.
    namespaced: bool,
}

impl Pattern {
    pub fn parse(s: &str, separator: &str) -> Self {
        let s = s.trim();
        if s == "*" {
            return Self {
                kind: None,
                glob: "*".into(),
                namespaced: true,
            };
        }
        let namespaced = !separator.is_empty() && s.contains(separator);
        for (prefix, kind) in [
            ("tool:", Subject::Tool),
            ("prompt:", Subject::Prompt),
            ("resource:", Subject::Resource),
        ] {
            if let Some(rest) = s.strip_prefix(prefix) {
                return Self {
                    kind: Some(kind),
                    glob: rest.to_owned(),
                    namespaced: namespaced || kind == Subject::Resource,
                };
            }
        }
        Self {
            kind: Some(Subject::Tool),
            glob: s.to_owned(),
            namespaced,
        }
    }

    pub fn matches(&self, kind: Subject, exposed: &str, original: &str) -> bool {
        let name = if self.namespaced { exposed } else { original };
        self.kind.is_none_or(|k| k == kind) && glob(&self.glob, name)
    }
}

/// What a role may do with the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum AdminAccess {
    /// See everything, change nothing (`admin:read`).
    Read,
    /// See and act: cancel, revoke, reload (`admin:*`).
    Full,
}

impl AdminAccess {
    /// The access an `allow` or `deny` entry names, if it names one (`admin:…`); `Err` for an
    /// `admin:` entry that is neither `admin:read` nor `admin:*`.
    pub fn parse(pattern: &str) -> Option<Result<AdminAccess, String>> {
        let rest = pattern.trim().strip_prefix("admin:")?;
        Some(match rest {
            "read" => Ok(AdminAccess::Read),
            "*" => Ok(AdminAccess::Full),
            other => Err(format!(
                "`admin:{other}` is not an admin permission: use `admin:read` (see) or `admin:*` (see and act)"
            )),
        })
    }
}

/// A role's compiled permissions.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Granted explicitly (`admin:read`, `admin:*`), never by `*` alone.
    admin: Option<AdminAccess>,
    allow_all: bool,
    allow: Vec<Pattern>,
    deny: Vec<Pattern>,
    /// A view this policy is seen through: what it does not allow is not allowed either.
    within: Option<Arc<Policy>>,
}

impl Policy {
    /// Everything allowed (no authentication configured, or the local stdio user).
    pub fn unrestricted() -> Arc<Self> {
        Arc::new(Self {
            admin: None,
            allow_all: true,
            allow: Vec::new(),
            deny: Vec::new(),
            within: None,
        })
    }

    /// Nothing allowed (a role that is not defined).
    pub fn nothing() -> Arc<Self> {
        Arc::new(Self {
            admin: None,
            allow_all: false,
            allow: Vec::new(),
            deny: Vec::new(),
            within: None,
        })
    }

    /// Compile a role; `separator` is the federation separator (`__`).
    pub fn compile(role: &RoleConfig, separator: &str) -> Self {
        let admin_of = |list: &[String]| {
            list.iter()
                .filter_map(|p| AdminAccess::parse(p)?.ok())
                .max()
        };
        // Denying `admin:*` takes all admin access away; denying `admin:read` too.
        let admin = match (admin_of(&role.allow), admin_of(&role.deny)) {
            (Some(_), Some(_)) | (None, _) => None,
            (Some(a), None) => Some(a),
        };
        let patterns = |list: &[String]| -> Vec<Pattern> {
            list.iter()
                .filter(|p| AdminAccess::parse(p).is_none())
                .map(|p| Pattern::parse(p, separator))
                .collect()
        };
        let (allow, deny) = (patterns(&role.allow), patterns(&role.deny));
        Self {
            admin,
            allow_all: deny.is_empty() && allow.iter().any(|p| p.kind.is_none()),
            allow,
            deny,
            within: None,
        }
    }

    /// This policy seen through `view` (a view's patterns compiled like a role): allowed only
    /// what both allow. Views do not nest: a later view replaces an earlier one.
    pub fn within(self: &Arc<Self>, view: &Arc<Policy>) -> Arc<Self> {
        Arc::new(Self {
            admin: self.admin,
            allow_all: self.allow_all,
            allow: self.allow.clone(),
            deny: self.deny.clone(),
            within: Some(view.clone()),
        })
    }

    /// What this role may do with the admin API (`None`: nothing).
    pub fn admin_access(&self) -> Option<AdminAccess> {
        self.admin
    }

    /// Whether everything is allowed, so listings need no filtering.
    pub fn allows_everything(&self) -> bool {
        self.allow_all && self.within.is_none()
    }

    /// Whether `kind` named `exposed` (and `original` upstream) may be used.
    pub fn allows(&self, kind: Subject, exposed: &str, original: &str) -> bool {
        let own = self.allow_all
            || (self
                .allow
                .iter()
                .any(|p| p.matches(kind, exposed, original))
                && !self.deny.iter().any(|p| p.matches(kind, exposed, original)));
        own && self
            .within
            .as_ref()
            .is_none_or(|v| v.allows(kind, exposed, original))
    }
}

/// Whether a tool pattern (as written in `allow`) names the tool `exposed` (`original` upstream).
pub fn tool_matches(pattern: &str, separator: &str, exposed: &str, original: &str) -> bool {
    Pattern::parse(pattern, separator).matches(Subject::Tool, exposed, original)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(allow: &[&str], deny: &[&str]) -> Policy {
        Policy::compile(
            &RoleConfig {
                allow: allow.iter().map(|s| (*s).to_owned()).collect(),
                deny: deny.iter().map(|s| (*s).to_owned()).collect(),
                rate_limit: None,
                tool_limits: Default::default(),
            },
            "__",
        )
    }

    #[test]
    fn a_view_narrows_a_role_and_never_widens_it() {
        let view = Arc::new(role(
            &["tool:company__*", "tool:search_documents", "prompt:*"],
            &[],
        ));
        let everything = Policy::unrestricted().within(&view);
        assert!(!everything.allows_everything());
        assert!(everything.allows(Subject::Tool, "company__get", "get"));
        assert!(everything.allows(Subject::Tool, "search_documents", "search_documents"));
        assert!(!everything.allows(Subject::Tool, "github__delete_repo", "delete_repo"));
        assert!(everything.allows(Subject::Prompt, "p", "p"));
        assert!(!everything.allows(Subject::Resource, "file:///x", "file:///x"));
        let reader = Arc::new(role(&["*__get*"], &[])).within(&view);
        assert!(reader.allows(Subject::Tool, "company__get", "get"));
        assert!(!reader.allows(Subject::Tool, "company__delete", "delete"));
        assert!(!reader.allows(Subject::Tool, "github__get", "get"));
    }

    #[test]
    fn admin_access_is_granted_by_name_only() {
        assert_eq!(
            role(&["admin:*"], &[]).admin_access(),
            Some(AdminAccess::Full)
        );
        assert_eq!(
            role(&["get_*", "admin:read"], &[]).admin_access(),
            Some(AdminAccess::Read)
        );
        assert_eq!(
            role(&["admin:read", "admin:*"], &[]).admin_access(),
            Some(AdminAccess::Full)
        );
        // `*` alone, or no authentication, grants none.
        assert_eq!(role(&["*"], &[]).admin_access(), None);
        assert_eq!(Policy::unrestricted().admin_access(), None);
        assert_eq!(role(&["admin:*"], &["admin:read"]).admin_access(), None);
        // An admin entry is no tool pattern: it does not make the role allow everything.
        let ops = role(&["admin:*"], &[]);
        assert!(!ops.allows(Subject::Tool, "x__y", "y"));
        let all = role(&["*", "admin:read"], &["admin:*"]);
        assert!(all.allows_everything(), "an admin deny is no tool deny");
        assert_eq!(all.admin_access(), None);
        assert!(AdminAccess::parse("admin:write").unwrap().is_err());
        assert!(AdminAccess::parse("get_*").is_none());
    }

    #[test]
    fn globs() {
        for (p, t, ok) in [
            ("*", "", true),
            ("*", "anything", true),
            ("read_*", "read_code", true),
            ("read_*", "read_", true),
            ("read_*", "xread_code", false),
            ("read_*", "rea", false),
            ("*__delete_*", "github__delete_repo", true),
            ("*__delete_*", "github__deleter", false),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "aXbY", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("**", "x", true),
            ("file:///tmp/*", "file:///tmp/a/b", true),
            ("file:///tmp/*", "file:///etc/passwd", false),
        ] {
            assert_eq!(glob(p, t), ok, "{p} vs {t}");
        }
    }

    #[test]
    fn viewer_cannot_reach_admin_tools_by_any_name() {
        let viewer = role(&["read_*"], &[]);
        assert!(viewer.allows(Subject::Tool, "code__read_code", "read_code"));
        assert!(!viewer.allows(Subject::Tool, "admin__delete_all", "delete_all"));
        // A server whose prefix looks like an allowed name does not open its other tools.
        assert!(!viewer.allows(Subject::Tool, "read_x__drop_db", "drop_db"));
        // Bare patterns are about tools, not prompts or resources.
        assert!(!viewer.allows(Subject::Prompt, "x__read_me", "read_me"));
        assert!(!viewer.allows(Subject::Resource, "read_file", "read_file"));
    }

    #[test]
    fn deny_beats_allow_and_kinds_are_separate() {
        let dev = role(
            &["*"],
            &["*__delete_*", "resource:file:///etc/*", "prompt:secret*"],
        );
        assert!(!dev.allows_everything());
        assert!(dev.allows(Subject::Tool, "gh__create_issue", "create_issue"));
        assert!(!dev.allows(Subject::Tool, "gh__delete_repo", "delete_repo"));
        assert!(dev.allows(Subject::Resource, "file:///tmp/x", "file:///tmp/x"));
        assert!(!dev.allows(
            Subject::Resource,
            "file:///etc/passwd",
            "file:///etc/passwd"
        ));
        assert!(!dev.allows(Subject::Prompt, "p__secret_plan", "secret_plan"));
        let server = role(&["github__*", "resource:company://*", "prompt:*"], &[]);
        assert!(server.allows(Subject::Tool, "github__x", "x"));
        assert!(!server.allows(Subject::Tool, "gitlab__x", "x"));
        assert!(server.allows(Subject::Resource, "company://e/1", "company://e/1"));
        assert!(server.allows(Subject::Prompt, "a__b", "b"));
        assert!(Policy::unrestricted().allows(Subject::Tool, "a", "a"));
        assert!(!Policy::nothing().allows(Subject::Tool, "a", "a"));
        assert!(role(&["*"], &[]).allows_everything());
    }
}
