//! Resolving what a request names: a tool (route, compiled schema, header marks, cache hint
//! in one read), a prompt, or a resource URI (listed, by template, by prefix, or the only
//! server offering resources).

use std::sync::Arc;

use switchboard_config::UriMode;
use switchboard_upstream::Status;

use super::{Catalog, Kind, Route, ToolEntry};

impl Catalog {
    /// Everything the pipeline needs about an exposed tool, from one read of the catalogue.
    pub fn tool(&self, name: &str) -> Option<ToolEntry> {
        let snap = self.snapshot();
        let route = snap.names[Kind::Tools.index()].get(name)?.clone();
        Some(ToolEntry {
            route,
            validator: snap.validators.get(name).cloned(),
            param_headers: snap.param_headers.get(name).cloned(),
            read_only_idempotent: snap.read_only_idempotent.contains(name),
            upstream_tasks: snap.upstream_tasks.contains(name),
        })
    }

    /// The compiled `inputSchema` of an exposed tool.
    pub fn validator(&self, tool: &str) -> Option<Arc<jsonschema::Validator>> {
        self.snapshot().validators.get(tool).cloned()
    }

    /// The `x-mcp-header` marks of an exposed tool, if it has any.
    pub fn param_headers(&self, tool: &str) -> Option<Arc<Vec<crate::param_headers::ParamHeader>>> {
        self.snapshot().param_headers.get(tool).cloned()
    }

    /// Whether the upstream annotates tool `name` read-only and idempotent (the cache's hint).
    pub fn read_only_idempotent(&self, name: &str) -> bool {
        self.snapshot().read_only_idempotent.contains(name)
    }

    /// Whether some listed tool runs as an upstream's own 2025-11-25 task.
    pub fn has_upstream_tasks(&self) -> bool {
        !self.snapshot().upstream_tasks.is_empty()
    }

    /// Exposed names and routes of every tool.
    pub fn tools(&self) -> Vec<(String, Route)> {
        self.snapshot().names[Kind::Tools.index()]
            .iter()
            .map(|(k, r)| (k.clone(), r.clone()))
            .collect()
    }

    pub fn route_tool(&self, name: &str) -> Option<Route> {
        self.snapshot().names[Kind::Tools.index()]
            .get(name)
            .cloned()
    }

    /// Whether the catalogue lists a tool by this exposed name.
    pub fn knows_tool(&self, name: &str) -> bool {
        self.snapshot().names[Kind::Tools.index()].contains_key(name)
    }

    pub fn route_prompt(&self, name: &str) -> Option<Route> {
        self.snapshot().names[Kind::Prompts.index()]
            .get(name)
            .cloned()
    }

    /// The server for a resource URI: a listed resource, then a matching template, then (with
    /// prefixed URIs) the prefix, then the only server offering resources.
    pub fn route_resource(&self, uri: &str) -> Option<Route> {
        let snap = self.snapshot();
        if let Some(r) = snap.names[Kind::Resources.index()].get(uri) {
            return Some(r.clone());
        }
        if let Some(r) = snap.names[Kind::Templates.index()].get(uri) {
            return Some(r.clone());
        }
        let servers = self.servers();
        let strip = |server: usize| -> String {
            match (self.cfg.resource_uris, servers.get(server)) {
                (UriMode::Prefix, Some(s)) => uri
                    .strip_prefix(&format!("{}+", s.prefix))
                    .unwrap_or(uri)
                    .to_owned(),
                (UriMode::Prefix, None) | (UriMode::Keep, _) => uri.to_owned(),
            }
        };
        let matching: Vec<usize> = snap
            .templates
            .iter()
            .filter(|(_, t, _)| template_matches(t, uri))
            .map(|(s, _, _)| *s)
            .collect();
        if let Some(&server) = matching.first() {
            return Some(Route {
                server,
                original: strip(server),
            });
        }
        if self.cfg.resource_uris == UriMode::Prefix {
            return servers
                .indexed()
                .find(|(_, s)| uri.starts_with(&format!("{}+", s.prefix)))
                .map(|(server, _)| Route {
                    server,
                    original: strip(server),
                });
        }
        let with_resources: Vec<usize> = servers
            .indexed()
            .filter(|(_, s)| matches!(s.upstream.status(), Status::Ready(i) if i.has("resources")))
            .map(|(i, _)| i)
            .collect();
        match with_resources.as_slice() {
            [only] => Some(Route {
                server: *only,
                original: uri.to_owned(),
            }),
            _ => None,
        }
    }
}

/// Whether `uri` could come from expanding the RFC 6570 `template` (simple `{var}` forms).
pub fn template_matches(template: &str, uri: &str) -> bool {
    let mut literals = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        literals.push(&rest[..open]);
        match rest[open..].find('}') {
            Some(close) => rest = &rest[open + close + 1..],
            None => return false,
        }
    }
    let tail = rest;
    let Some(first) = literals.first() else {
        return template == uri;
    };
    let Some(mut pos) = uri.strip_prefix(first).map(|_| first.len()) else {
        return false;
    };
    for lit in &literals[1..] {
        match uri[pos..].find(lit) {
            Some(i) if !lit.is_empty() => pos += i + lit.len(),
            Some(_) => {}
            None => return false,
        }
    }
    uri.len() >= pos + tail.len() && uri.ends_with(tail)
}
