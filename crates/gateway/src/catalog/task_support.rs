//! Which listed tools run as 2025-11-25 tasks, and by whom: a `tasks.tools` rule makes the
//! gateway run the tool (its `execution.taskSupport` is the rule's mode); otherwise a tool whose
//! session-era upstream declares `capabilities.tasks.requests.tools.call` and marks it
//! `optional` or `required` keeps that mark, and a client's `params.task` is relayed to the
//! upstream. Any other tool is listed without `taskSupport` (forbidden) when the gateway runs
//! tasks, so that no client asks the gateway for a task it cannot run or relay.

use switchboard_config::TaskMode;
use switchboard_policy::roles::Subject;
use switchboard_protocol::{RawMap, to_raw};

use super::{Catalog, Server, Snapshot};

/// Whether `server` runs tool `tool` as a 2025-11-25 task when asked.
fn upstream_offers(server: &Server, tool: &RawMap<'_>) -> bool {
    let Some(info) = server.upstream.info() else {
        return false;
    };
    let declared = info.legacy
        && info
            .capabilities
            .pointer("/tasks/requests/tools/call")
            .is_some_and(|v| !v.is_null());
    declared
        && tool
            .get("execution")
            .and_then(|e| serde_json::from_str::<serde_json::Value>(e.get()).ok())
            .and_then(|e| {
                e.get("taskSupport")
                    .and_then(|s| s.as_str())
                    .map(str::to_owned)
            })
            .is_some_and(|s| s == "optional" || s == "required")
}

/// `tool` with `execution.taskSupport` set to `mode`'s, or removed without one.
fn mark(map: &mut RawMap<'_>, mode: Option<TaskMode>) {
    let support = crate::durable::task_support(mode);
    let mut execution = map
        .get("execution")
        .and_then(|e| serde_json::from_str::<serde_json::Value>(e.get()).ok())
        .filter(serde_json::Value::is_object);
    match (&mut execution, support) {
        (Some(e), Some(s)) => e["taskSupport"] = serde_json::json!(s),
        (None, Some(s)) => execution = Some(serde_json::json!({"taskSupport": s})),
        (Some(e), None) => {
            if let Some(obj) = e.as_object_mut()
                && obj.remove("taskSupport").is_none()
            {
                return;
            }
        }
        (None, None) => return,
    }
    if let Some(e) = execution {
        map.set("execution", to_raw(&e));
    }
}

impl Catalog {
    /// Record whether tool `map` (`exposed`, `original` upstream) is an upstream task tool, and
    /// list it with the `taskSupport` of whoever runs its tasks.
    pub(super) fn mark_tasks(
        &self,
        snap: &mut Snapshot,
        server: &Server,
        map: &mut RawMap<'_>,
        exposed: &str,
        original: &str,
    ) {
        let rule = self.task_modes.as_ref().map(|modes| {
            modes
                .iter()
                .find(|(p, _)| p.matches(Subject::Tool, exposed, original))
                .map(|(_, m)| *m)
        });
        let upstream = upstream_offers(server, map);
        match rule {
            // The gateway runs tasks: a rule's tool is its own; an upstream task tool keeps
            // its mark; any other loses it.
            Some(Some(mode)) => mark(map, Some(mode)),
            Some(None) if upstream => {
                snap.upstream_tasks.insert(exposed.to_owned());
            }
            Some(None) => mark(map, None),
            None if upstream => {
                snap.upstream_tasks.insert(exposed.to_owned());
            }
            None => {}
        }
    }
}
