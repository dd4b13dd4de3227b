//! The tools of every system, and the handler serving one system's.

use std::sync::{Arc, Mutex, PoisonError};

use rmcp::{
    ServerHandler,
    handler::server::{router::tool::ToolRouter, wrapper::Parameters},
    model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig},
    tool, tool_handler, tool_router,
};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::System;

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// The period, e.g. "2026-Q3" or "2026-11".
    pub period: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Message {
    /// Channel name, e.g. "exec".
    pub channel: String,
    pub text: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Id {
    pub id: String,
}

#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Channel {
    /// Only this channel's messages.
    #[serde(default)]
    pub channel: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Release {
    pub service: String,
    pub version: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub service: String,
    pub version: String,
    /// "staging" or "production".
    pub environment: String,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    pub deployment_id: String,
}

#[derive(Default)]
struct State {
    messages: Vec<Value>,
    deployments: Vec<Value>,
}

#[derive(Clone)]
pub struct Ops {
    system: System,
    state: Arc<Mutex<State>>,
    tool_router: ToolRouter<Self>,
}

/// A stable number in `0..n` from a text (FNV-1a).
fn figure(text: &str, salt: u64, n: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ salt;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h % n
}

fn failure(text: String) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text)])
}

impl Ops {
    pub fn new(system: System) -> Self {
        let mut tool_router = Self::tool_router();
        let keep: &[&str] = match system {
            System::Analytics => &["get_traffic_metrics"],
            System::Sales => &["get_revenue_metrics"],
            System::Support => &["get_support_metrics"],
            System::Chat => &["send_message", "delete_message", "list_messages"],
            System::Deploy => &[
                "check_preconditions",
                "build_and_test",
                "deploy",
                "health_check",
                "rollback",
                "list_deployments",
            ],
        };
        let all: Vec<String> = tool_router
            .list_all()
            .into_iter()
            .map(|t| t.name.to_string())
            .collect();
        for name in all.iter().filter(|n| !keep.contains(&n.as_str())) {
            tool_router.remove_route(name);
        }
        Self {
            system,
            state: Arc::default(),
            tool_router,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[tool_router(vis = "pub(crate)")]
impl Ops {
    /// Website traffic for a period: visits, the previous period's, conversion rate.
    #[tool(
        name = "get_traffic_metrics",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn get_traffic_metrics(&self, Parameters(p): Parameters<Period>) -> CallToolResult {
        let visits = 80_000 + figure(&p.period, 1, 40_000);
        let previous = visits * (85 + figure(&p.period, 2, 20)) / 100;
        CallToolResult::structured(json!({
            "period": p.period, "visits": visits, "previous_visits": previous,
            "conversion_rate": 0.02 + figure(&p.period, 3, 20) as f64 / 1000.0,
        }))
    }

    /// Revenue for a period, and the previous period's (USD).
    #[tool(
        name = "get_revenue_metrics",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn get_revenue_metrics(&self, Parameters(p): Parameters<Period>) -> CallToolResult {
        let total = 1_000_000 + figure(&p.period, 4, 500_000);
        let previous = total * (80 + figure(&p.period, 5, 25)) / 100;
        CallToolResult::structured(json!({
            "period": p.period, "total": total, "previous_total": previous, "currency": "USD",
        }))
    }

    /// Support tickets for a period, the previous period's, and satisfaction (0–5).
    #[tool(
        name = "get_support_metrics",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn get_support_metrics(&self, Parameters(p): Parameters<Period>) -> CallToolResult {
        let tickets = 900 + figure(&p.period, 6, 400);
        let previous = tickets * (90 + figure(&p.period, 7, 30)) / 100;
        CallToolResult::structured(json!({
            "period": p.period, "tickets": tickets, "previous_tickets": previous,
            "satisfaction": 4.0 + figure(&p.period, 8, 10) as f64 / 10.0,
        }))
    }

    /// Post a message to a channel; returns its id.
    #[tool(name = "send_message")]
    async fn send_message(&self, Parameters(m): Parameters<Message>) -> CallToolResult {
        let mut s = self.state();
        let id = format!("msg-{}", s.messages.len() + 1);
        let msg = json!({"id": id, "channel": m.channel, "text": m.text, "deleted": false});
        s.messages.push(msg.clone());
        CallToolResult::structured(msg)
    }

    /// Delete a message by id.
    #[tool(name = "delete_message", annotations(idempotent_hint = true))]
    async fn delete_message(&self, Parameters(m): Parameters<Id>) -> CallToolResult {
        let mut s = self.state();
        match s.messages.iter_mut().find(|x| x["id"] == m.id.as_str()) {
            Some(x) => {
                x["deleted"] = json!(true);
                CallToolResult::structured(json!({"deleted": m.id}))
            }
            None => failure(format!("no message {}", m.id)),
        }
    }

    /// Messages posted so far (deleted ones marked).
    #[tool(
        name = "list_messages",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn list_messages(&self, Parameters(c): Parameters<Channel>) -> CallToolResult {
        let s = self.state();
        let messages: Vec<&Value> = s
            .messages
            .iter()
            .filter(|m| c.channel.as_deref().is_none_or(|ch| m["channel"] == ch))
            .collect();
        CallToolResult::structured(json!({"messages": messages}))
    }

    /// Check that a release may go out: a version, and no untested build.
    #[tool(
        name = "check_preconditions",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn check_preconditions(&self, Parameters(r): Parameters<Release>) -> CallToolResult {
        if r.version.trim().is_empty() {
            return failure(format!("{}: no version given", r.service));
        }
        CallToolResult::structured(json!({
            "service": r.service, "version": r.version,
            "checks": ["change approved", "no freeze in effect", "dependencies healthy"],
        }))
    }

    /// Build the release and run its tests.
    #[tool(name = "build_and_test", annotations(idempotent_hint = true))]
    async fn build_and_test(&self, Parameters(r): Parameters<Release>) -> CallToolResult {
        if r.version.ends_with("-untested") {
            return failure(format!(
                "{} {}: 3 of 212 tests failed",
                r.service, r.version
            ));
        }
        CallToolResult::structured(json!({
            "artifact": format!("{}:{}", r.service, r.version), "tests_passed": 212,
        }))
    }

    /// Deploy a built release to an environment; returns the deployment id.
    #[tool(name = "deploy")]
    async fn deploy(&self, Parameters(t): Parameters<Target>) -> CallToolResult {
        let mut s = self.state();
        let previous = s
            .deployments
            .iter()
            .rev()
            .find(|d| {
                d["service"] == t.service.as_str()
                    && d["environment"] == t.environment.as_str()
                    && d["status"] == "live"
            })
            .map(|d| d["version"].clone());
        let id = format!("dep-{}", s.deployments.len() + 1);
        let d = json!({"deployment_id": id, "service": t.service, "version": t.version,
                       "environment": t.environment, "status": "live", "previous_version": previous});
        s.deployments.push(d.clone());
        CallToolResult::structured(d)
    }

    /// Check a deployment's health (error rate, latency).
    #[tool(
        name = "health_check",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn health_check(&self, Parameters(d): Parameters<Deployment>) -> CallToolResult {
        let s = self.state();
        let Some(dep) = s
            .deployments
            .iter()
            .find(|x| x["deployment_id"] == d.deployment_id.as_str())
        else {
            return failure(format!("no deployment {}", d.deployment_id));
        };
        if dep["version"]
            .as_str()
            .is_some_and(|v| v.ends_with("-broken"))
        {
            return failure(format!(
                "{}: 12% of requests fail with 5xx after the release",
                d.deployment_id
            ));
        }
        CallToolResult::structured(
            json!({"deployment_id": d.deployment_id, "healthy": true, "error_rate": 0.001}),
        )
    }

    /// Roll a deployment back to the version before it.
    #[tool(name = "rollback", annotations(idempotent_hint = true))]
    async fn rollback(&self, Parameters(d): Parameters<Deployment>) -> CallToolResult {
        let mut s = self.state();
        let Some(dep) = s
            .deployments
            .iter_mut()
            .find(|x| x["deployment_id"] == d.deployment_id.as_str())
        else {
            return failure(format!("no deployment {}", d.deployment_id));
        };
        dep["status"] = json!("rolled_back");
        let restored = dep["previous_version"].clone();
        CallToolResult::structured(
            json!({"rolled_back": d.deployment_id, "restored_version": restored}),
        )
    }

    /// Every deployment so far, with its status.
    #[tool(
        name = "list_deployments",
        annotations(read_only_hint = true, idempotent_hint = true)
    )]
    async fn list_deployments(&self) -> CallToolResult {
        CallToolResult::structured(json!({"deployments": self.state().deployments}))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Ops {
    fn get_info(&self) -> ServerConfig {
        let name = format!("ops-api-{:?}", self.system).to_lowercase();
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new(name, env!("CARGO_PKG_VERSION")))
    }
}
