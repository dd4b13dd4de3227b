//! Federation: every upstream's tools, prompts, resources and resource templates merged into
//! one catalogue with routable names, rebuilt whenever an upstream's lists change.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use parking_lot::{Mutex, RwLock};
use serde_json::value::RawValue;
use switchboard_config::{FederationConfig, PrefixMode, UriMode};
use switchboard_protocol::{ErrorObject, RawMap, methods, to_raw};
use switchboard_upstream::{CallOptions, Status, Upstream};

mod routes;
mod servers;
mod task_support;

pub use routes::template_matches;
use servers::Slot;
pub use servers::{Change, Server, Servers};

/// The four list kinds a server can offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Tools,
    Prompts,
    Resources,
    Templates,
}

impl Kind {
    pub const ALL: [Kind; 4] = [Kind::Tools, Kind::Prompts, Kind::Resources, Kind::Templates];

    pub fn method(self) -> &'static str {
        match self {
            Kind::Tools => methods::TOOLS_LIST,
            Kind::Prompts => methods::PROMPTS_LIST,
            Kind::Resources => methods::RESOURCES_LIST,
            Kind::Templates => methods::RESOURCES_TEMPLATES_LIST,
        }
    }
    /// The key holding the items in a list result.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Tools => "tools",
            Kind::Prompts => "prompts",
            Kind::Resources => "resources",
            Kind::Templates => "resourceTemplates",
        }
    }
    fn name_key(self) -> &'static str {
        match self {
            Kind::Tools | Kind::Prompts => "name",
            Kind::Resources => "uri",
            Kind::Templates => "uriTemplate",
        }
    }
    fn capability(self) -> &'static str {
        match self {
            Kind::Tools => "tools",
            Kind::Prompts => "prompts",
            Kind::Resources | Kind::Templates => "resources",
        }
    }
    /// The notification announcing a change of this list to clients.
    pub fn changed_notification(self) -> &'static str {
        match self {
            Kind::Tools => methods::TOOLS_LIST_CHANGED,
            Kind::Prompts => methods::PROMPTS_LIST_CHANGED,
            Kind::Resources | Kind::Templates => methods::RESOURCES_LIST_CHANGED,
        }
    }
    fn index(self) -> usize {
        self as usize
    }
}

/// One server's lists, as fetched (see [`Catalog::fetch_lists`]).
#[derive(Default)]
pub struct Lists {
    items: [Vec<Box<RawValue>>; 4],
    errors: [Option<String>; 4],
    /// The server's 2026-07-28 cache hint on its last successful listing (`None`: no hint).
    hints: [Option<crate::hints::ListHint>; 4],
}

/// A route: which server, and the name (or URI) the server knows the item by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub server: usize,
    pub original: String,
}

/// A tool as the pipeline needs it: where it goes, its compiled `inputSchema` (absent: not
/// checked), its `x-mcp-header` marks, and whether its server annotates it read-only and
/// idempotent (the cache's hint).
#[derive(Clone)]
pub struct ToolEntry {
    pub route: Route,
    pub validator: Option<Arc<jsonschema::Validator>>,
    pub param_headers: Option<Arc<Vec<crate::param_headers::ParamHeader>>>,
    pub read_only_idempotent: bool,
    /// The upstream runs this tool as a 2025-11-25 task when asked (`params.task` is relayed).
    pub upstream_tasks: bool,
}

#[derive(Default)]
pub struct Snapshot {
    items: [Vec<Box<RawValue>>; 4],
    /// Per item: (exposed name or URI, original), for filtering by permission.
    keys: [Vec<(String, String)>; 4],
    names: [HashMap<String, Route>; 4],
    /// (server, exposed template, original template)
    templates: Vec<(usize, String, String)>,
    /// Exposed tool name → its `x-mcp-header` marks (tools without marks are absent).
    param_headers: HashMap<String, Arc<Vec<crate::param_headers::ParamHeader>>>,
    /// Exposed tool name → its compiled `inputSchema` (absent: not compilable, not checked).
    validators: HashMap<String, Arc<jsonschema::Validator>>,
    /// Exposed names of tools annotated `readOnlyHint` and `idempotentHint`.
    read_only_idempotent: std::collections::HashSet<String>,
    /// Exposed names of tools whose upstream runs them as 2025-11-25 tasks when asked.
    upstream_tasks: std::collections::HashSet<String>,
}

/// Whether a listed item, by (exposed name or URI, original), may be shown.
pub type Visible<'a> = &'a dyn Fn(&str, &str) -> bool;

pub struct Catalog {
    cfg: FederationConfig,
    /// The gateway runs tasks (`tasks:`): tools are listed with the `taskSupport` of the rule
    /// naming them, and without an upstream's own (the gateway does not relay those).
    task_modes: Option<
        Vec<(
            switchboard_policy::roles::Pattern,
            switchboard_config::TaskMode,
        )>,
    >,
    servers: RwLock<Arc<Servers>>,
    lists: Mutex<Vec<Lists>>,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Bumped at every rebuild: what follows the catalogue (a route's listing) watches it.
    generation: tokio::sync::watch::Sender<u64>,
}

impl Catalog {
    pub fn new(cfg: FederationConfig, servers: Vec<Server>) -> Self {
        let lists = servers.iter().map(|_| Lists::default()).collect();
        let slots = servers
            .into_iter()
            .map(|s| Slot::Live(Arc::new(s)))
            .collect();
        Self {
            cfg,
            task_modes: None,
            servers: RwLock::new(Arc::new(Servers { slots })),
            lists: Mutex::new(lists),
            snapshot: RwLock::new(Arc::new(Snapshot::default())),
            generation: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Changes when the merged lists are rebuilt.
    pub fn changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.generation.subscribe()
    }

    /// Every listed tool as clients see it.
    pub fn tool_definitions(&self) -> Vec<serde_json::Value> {
        self.snapshot().items[Kind::Tools.index()]
            .iter()
            .filter_map(|t| serde_json::from_str(t.get()).ok())
            .collect()
    }

    /// The listed tools `visible` allows (by exposed and original name), as clients see them.
    pub fn tool_definitions_where(&self, visible: Visible) -> Vec<serde_json::Value> {
        let snap = self.snapshot();
        let i = Kind::Tools.index();
        snap.keys[i]
            .iter()
            .zip(&snap.items[i])
            .filter(|((exposed, original), _)| visible(exposed, original))
            .filter_map(|(_, t)| serde_json::from_str(t.get()).ok())
            .collect()
    }

    /// A listed tool as clients see it (its exposed name), if the catalogue has it now.
    pub fn tool_definition(&self, name: &str) -> Option<serde_json::Value> {
        let snap = self.snapshot();
        let i = snap.keys[Kind::Tools.index()]
            .iter()
            .position(|(exposed, _)| exposed == name)?;
        serde_json::from_str(snap.items[Kind::Tools.index()].get(i)?.get()).ok()
    }

    /// List tools with the `execution.taskSupport` of the task rules (`tasks.tools`).
    pub fn with_task_modes(
        mut self,
        modes: Vec<(
            switchboard_policy::roles::Pattern,
            switchboard_config::TaskMode,
        )>,
    ) -> Self {
        self.task_modes = Some(modes);
        self
    }

    /// The servers now (a reload replaces the set; this one stays valid while held).
    pub fn servers(&self) -> Arc<Servers> {
        self.servers.read().clone()
    }

    /// The index of the live server called `name`.
    pub fn server_index(&self, name: &str) -> Option<usize> {
        self.servers.read().index_of(name)
    }

    /// A new index for a server a reload is starting; it stays empty until [`Catalog::apply`].
    pub fn reserve(&self) -> usize {
        let mut servers = self.servers.write();
        let mut next = Servers::clone(&servers);
        next.slots.push(Slot::Empty);
        self.lists.lock().push(Lists::default());
        let idx = next.slots.len() - 1;
        *servers = Arc::new(next);
        idx
    }

    /// Put started servers in and take retired ones out, in one step, then rebuild: a client
    /// sees either the old catalogue or the new one. Returns the kinds whose merged list
    /// changed.
    pub fn apply(&self, change: Change) -> Vec<Kind> {
        let before = self.snapshot();
        {
            let mut servers = self.servers.write();
            let mut lists = self.lists.lock();
            let mut next = Servers::clone(&servers);
            for idx in change.retired {
                if let Some(slot) = next.slots.get_mut(idx)
                    && let Slot::Live(s) = slot
                {
                    *slot = Slot::Retiring(s.clone());
                }
                if let Some(l) = lists.get_mut(idx) {
                    *l = Lists::default();
                }
            }
            for (idx, server, l) in change.added {
                if let (Some(slot), Some(list)) = (next.slots.get_mut(idx), lists.get_mut(idx)) {
                    *slot = Slot::Live(server);
                    *list = l;
                }
            }
            *servers = Arc::new(next);
        }
        self.rebuild();
        let after = self.snapshot();
        Kind::ALL
            .into_iter()
            .filter(|k| {
                let (a, b) = (&before.items[k.index()], &after.items[k.index()]);
                a.len() != b.len() || a.iter().zip(b).any(|(x, y)| x.get() != y.get())
            })
            .collect()
    }

    /// Forget a retired server once it has drained; returns it (to be stopped).
    pub fn remove(&self, idx: usize) -> Option<Arc<Server>> {
        let mut servers = self.servers.write();
        let Some(Slot::Retiring(server)) = servers.slots.get(idx) else {
            return None;
        };
        let server = server.clone();
        let mut next = Servers::clone(&servers);
        next.slots[idx] = Slot::Empty;
        *servers = Arc::new(next);
        Some(server)
    }

    /// Every list of a server that is not in the catalogue yet (a reload lists a new server
    /// before it shows it). Failures are kept, as a refresh keeps them.
    pub async fn fetch_lists(server: &Server) -> Lists {
        let mut l = Lists::default();
        let Status::Ready(info) = server.upstream.status() else {
            return l;
        };
        for kind in Kind::ALL {
            if !info.has(kind.capability()) {
                continue;
            }
            match fetch_all(&server.upstream, kind).await {
                Ok((items, hint)) => {
                    l.hints[kind.index()] = info.modern.is_some().then(|| crate::hints::ListHint {
                        hint,
                        fetched: std::time::Instant::now(),
                    });
                    l.items[kind.index()] = items;
                }
                Err(e) => {
                    tracing::warn!(server = %server.name, list = kind.method(), error = %e, "cannot list");
                    l.errors[kind.index()] = Some(e);
                }
            }
        }
        l
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.read().clone()
    }

    /// Fetch `kinds` from server `idx` and rebuild. Returns the kinds whose merged list changed.
    pub async fn refresh(&self, idx: usize, kinds: &[Kind]) -> Vec<Kind> {
        let servers = self.servers();
        if !servers.is_live(idx) {
            return Vec::new();
        }
        let Some(server) = servers.get(idx) else {
            return Vec::new();
        };
        let info = match server.upstream.status() {
            Status::Ready(info) => info,
            _ => return Vec::new(),
        };
        let mut fetched = Vec::new();
        for &kind in kinds {
            if !info.has(kind.capability()) {
                fetched.push((kind, Ok((Vec::new(), crate::hints::CacheHint::DEFAULT))));
                continue;
            }
            fetched.push((kind, fetch_all(&server.upstream, kind).await));
        }
        let mut changed = Vec::new();
        {
            let mut lists = self.lists.lock();
            // A reload may have retired the server while its lists were fetched.
            if !self.servers.read().is_live(idx) {
                return Vec::new();
            }
            let Some(l) = lists.get_mut(idx) else {
                return Vec::new();
            };
            for (kind, r) in fetched {
                match r {
                    Ok((items, hint)) => {
                        // Only a server that speaks 2026-07-28 gives cache hints; fields on a
                        // session-era server's result are not one.
                        l.hints[kind.index()] =
                            info.modern.is_some().then(|| crate::hints::ListHint {
                                hint,
                                fetched: std::time::Instant::now(),
                            });
                        let same = l.items[kind.index()].len() == items.len()
                            && l.items[kind.index()]
                                .iter()
                                .zip(&items)
                                .all(|(a, b)| a.get() == b.get());
                        if !same {
                            changed.push(kind);
                        }
                        l.items[kind.index()] = items;
                        l.errors[kind.index()] = None;
                    }
                    Err(e) => {
                        tracing::warn!(server = %server.name, list = kind.method(), error = %e, "cannot list; keeping the last known list");
                        l.errors[kind.index()] = Some(e);
                        l.hints[kind.index()] = None;
                    }
                }
            }
        }
        if !changed.is_empty() {
            self.rebuild();
        }
        changed
    }

    /// The cache hint of the merged list of `kind` now (before the caller's scope is applied):
    /// the most conservative of every server that may contribute to it (see
    /// [`crate::hints::combine`]).
    pub fn list_hint(&self, kind: Kind) -> crate::hints::CacheHint {
        let servers = self.servers();
        let lists = self.lists.lock();
        let contributions = servers
            .indexed()
            .filter_map(|(i, s)| Some((s, lists.get(i)?)))
            .map(|(s, l)| match s.upstream.status() {
                Status::Ready(info) if !info.has(kind.capability()) => None,
                Status::Ready(_) if l.errors[kind.index()].is_none() => Some(l.hints[kind.index()]),
                _ => Some(None),
            });
        crate::hints::combine(contributions, std::time::Instant::now())
    }

    /// Set server `idx`'s list of `kind` and rebuild, as a refresh that fetched `items` would.
    /// For benchmarks, which build a catalogue without running upstreams.
    #[doc(hidden)]
    pub fn set_list(&self, idx: usize, kind: Kind, items: Vec<Box<RawValue>>) {
        if let Some(l) = self.lists.lock().get_mut(idx) {
            l.items[kind.index()] = items;
        }
        self.rebuild();
    }

    /// Problems to report next to listings: servers down or whose lists failed.
    pub fn problems(&self) -> Vec<(Arc<str>, String)> {
        let servers = self.servers();
        let lists = self.lists.lock();
        let mut out = Vec::new();
        for (i, s) in servers.indexed() {
            let status = s.upstream.status();
            if !status.is_ready() {
                out.push((s.name.clone(), status.describe()));
            } else if let Some(e) = lists.get(i).and_then(|l| l.errors.iter().flatten().next()) {
                out.push((s.name.clone(), e.clone()));
            }
        }
        out
    }

    fn expose_name(&self, server: &Server, name: &str) -> String {
        match self.cfg.prefix {
            // An empty prefix (the routes' entry; a configured one is never empty) keeps the
            // names as they are.
            PrefixMode::Server if !server.prefix.is_empty() => {
                format!("{}{}{}", server.prefix, self.cfg.separator, name)
            }
            _ => name.to_owned(),
        }
    }

    pub fn expose_uri(&self, server: usize, uri: &str) -> String {
        match (self.cfg.resource_uris, self.servers().get(server)) {
            (UriMode::Prefix, Some(s)) => format!("{}+{}", s.prefix, uri),
            _ => uri.to_owned(),
        }
    }

    fn rebuild(&self) {
        let servers = self.servers();
        let lists = self.lists.lock();
        let mut snap = Snapshot::default();
        for (idx, server) in servers.indexed() {
            let Some(l) = lists.get(idx) else { continue };
            for kind in Kind::ALL {
                for item in &l.items[kind.index()] {
                    let Ok(mut map) = RawMap::parse(item) else {
                        continue;
                    };
                    let Some(original) = map.get_str(kind.name_key()).map(|c| c.into_owned())
                    else {
                        continue;
                    };
                    let exposed = match kind {
                        Kind::Tools | Kind::Prompts => self.expose_name(server, &original),
                        Kind::Resources | Kind::Templates => self.expose_uri(idx, &original),
                    };
                    if let Some(prev) = snap.names[kind.index()].get(&exposed) {
                        if prev.server != idx {
                            let kept = servers.get(prev.server).map(|s| s.name.clone());
                            tracing::warn!(name = %exposed, kept = ?kept, dropped = %server.name, "name clash between servers; the first listed server wins");
                        }
                        continue;
                    }
                    if kind == Kind::Tools {
                        let schema = map
                            .get("inputSchema")
                            .and_then(|s| serde_json::from_str::<serde_json::Value>(s.get()).ok())
                            .unwrap_or_default();
                        // Compiled once per rebuild; `$ref`s are resolved within the schema
                        // only (no remote fetching is built in).
                        match jsonschema::validator_for(&schema) {
                            Ok(v) => {
                                snap.validators.insert(exposed.clone(), Arc::new(v));
                            }
                            Err(e) => {
                                tracing::warn!(server = %server.name, tool = %original, error = %e, "inputSchema does not compile; arguments of this tool are not validated");
                            }
                        }
                        if hinted_read_only_idempotent(&map) {
                            snap.read_only_idempotent.insert(exposed.clone());
                        }
                        match crate::param_headers::collect(&schema) {
                            Ok(marks) if marks.is_empty() => {}
                            Ok(marks) => {
                                snap.param_headers.insert(exposed.clone(), Arc::new(marks));
                            }
                            Err(why) => {
                                tracing::warn!(server = %server.name, tool = %original, %why, "tool not offered: invalid x-mcp-header");
                                continue;
                            }
                        }
                    }
                    if kind == Kind::Tools {
                        self.mark_tasks(&mut snap, server, &mut map, &exposed, &original);
                    }
                    if exposed != original {
                        map.set_str(kind.name_key(), &exposed);
                    }
                    snap.items[kind.index()].push(map.to_raw());
                    snap.keys[kind.index()].push((exposed.clone(), original.clone()));
                    if kind == Kind::Templates {
                        snap.templates
                            .push((idx, exposed.clone(), original.clone()));
                    }
                    snap.names[kind.index()].insert(
                        exposed,
                        Route {
                            server: idx,
                            original,
                        },
                    );
                }
            }
        }
        *self.snapshot.write() = Arc::new(snap);
        self.generation.send_modify(|g| *g += 1);
    }

    /// One page of a merged list, as a JSON result object.
    /// A page of the merged list of `kind`, keeping only items `visible(exposed, original)`
    /// allows (all when `None`). Cursors are positions in the whole list, so a filtered page
    /// never reveals how many items were hidden.
    pub fn page(
        &self,
        kind: Kind,
        cursor: Option<&str>,
        extra_meta: Option<Box<RawValue>>,
        visible: Option<Visible<'_>>,
    ) -> Result<Box<RawValue>, ErrorObject> {
        let snap = self.snapshot();
        let items = &snap.items[kind.index()];
        let keys = &snap.keys[kind.index()];
        let start = match cursor {
            None => 0,
            Some(c) => decode_cursor(c)
                .filter(|s| *s <= items.len())
                .ok_or_else(|| {
                    ErrorObject::invalid_params(format!(
                        "invalid cursor {c:?}; start again without a cursor"
                    ))
                })?,
        };
        let limit = if self.cfg.page_size == 0 {
            usize::MAX
        } else {
            self.cfg.page_size
        };
        let mut out = String::with_capacity(
            64 + items[start..]
                .iter()
                .take(limit)
                .map(|i| i.get().len() + 1)
                .sum::<usize>(),
        );
        out.push_str("{\"");
        out.push_str(kind.key());
        out.push_str("\":[");
        let mut taken = 0;
        let mut end = start;
        while end < items.len() && taken < limit {
            let shown = match (visible, keys.get(end)) {
                (Some(f), Some((exposed, original))) => f(exposed, original),
                _ => true,
            };
            if shown {
                if taken > 0 {
                    out.push(',');
                }
                out.push_str(items[end].get());
                taken += 1;
            }
            end += 1;
        }
        out.push(']');
        if end < items.len() {
            out.push_str(",\"nextCursor\":");
            out.push_str(to_raw(&encode_cursor(end)).get());
        }
        if let Some(meta) = extra_meta {
            out.push_str(",\"_meta\":");
            out.push_str(meta.get());
        }
        out.push('}');
        RawValue::from_string(out).map_err(ErrorObject::internal)
    }
}

/// Longest a list refresh may follow `nextCursor`s, so a server cannot loop us forever.
const MAX_PAGES: usize = 1000;

/// Every page of a list, and the most conservative of the pages' cache hints.
async fn fetch_all(
    up: &Upstream,
    kind: Kind,
) -> Result<(Vec<Box<RawValue>>, crate::hints::CacheHint), String> {
    let mut items = Vec::new();
    let mut hint: Option<crate::hints::CacheHint> = None;
    let mut cursor: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let params = cursor
            .as_ref()
            .map(|c| to_raw(&serde_json::json!({"cursor": c})));
        let result = up
            .call(kind.method(), params, CallOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        let map =
            RawMap::parse(&result).map_err(|e| format!("invalid {} result: {e}", kind.method()))?;
        if let Some(list) = map.get(kind.key()) {
            let page: Vec<&RawValue> = serde_json::from_str(list.get())
                .map_err(|e| format!("`{}` is not a list: {e}", kind.key()))?;
            items.extend(page.into_iter().map(RawValue::to_owned));
        }
        let page_hint = crate::hints::CacheHint::read(&map);
        hint = Some(hint.map_or(page_hint, |h| h.min(page_hint)));
        cursor = map.get_str("nextCursor").map(|c| c.into_owned());
        if cursor.is_none() {
            return Ok((items, hint.unwrap_or(crate::hints::CacheHint::DEFAULT)));
        }
    }
    Err(format!(
        "{} returned more than {MAX_PAGES} pages",
        kind.method()
    ))
}

fn encode_cursor(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("sb:{offset}"))
}

fn decode_cursor(c: &str) -> Option<usize> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .strip_prefix("sb:")?
        .parse()
        .ok()
}

/// A tool's `annotations` say `readOnlyHint: true` and `idempotentHint: true`.
fn hinted_read_only_idempotent(tool: &RawMap<'_>) -> bool {
    let Some(Ok(a)) = tool.get("annotations").map(RawMap::parse) else {
        return false;
    };
    let yes = |k: &str| a.get(k).is_some_and(|v| v.get() == "true");
    yes("readOnlyHint") && yes("idempotentHint")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_expansions_only() {
        assert!(template_matches(
            "test://template/{id}/data",
            "test://template/42/data"
        ));
        assert!(template_matches("file:///{path}", "file:///a/b.txt"));
        assert!(template_matches("users://{id}", "users://7"));
        assert!(!template_matches("users://{id}", "posts://7"));
        assert!(!template_matches(
            "test://template/{id}/data",
            "test://template/42/other"
        ));
        assert!(template_matches("plain://x", "plain://x"));
        assert!(!template_matches("plain://x", "plain://y"));
        assert!(template_matches("a://{x}-{y}", "a://1-2"));
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(decode_cursor(&encode_cursor(40)), Some(40));
        assert_eq!(decode_cursor("not-a-cursor"), None);
    }
}
