//! Dispatched requests take the whole pipeline as their caller: its role, its budget, and a
//! record in the audit trail under its name.

use std::time::Duration;

use switchboard_protocol::codes;

use super::*;

async fn gateway(dir: &std::path::Path) -> Arc<Gateway> {
    let yaml = format!(
        "auth: {{anonymous_role: metered}}
roles:
  metered: {{allow: ['get_*'], rate_limit: 2/hour}}
audit: {{sink: jsonl, path: '{}'}}
",
        dir.join("audit.jsonl").display()
    );
    let config =
        switchboard_config::from_str(&yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap();
    Gateway::start(config, Duration::from_millis(100))
        .await
        .unwrap()
}

async fn anonymous(gw: &Gateway) -> Caller {
    let policies = gw.policies();
    let identity = policies
        .auth
        .authenticate(&http::HeaderMap::new())
        .await
        .unwrap();
    Caller {
        identity,
        policies,
        transport: Transport::Http,
        client_ip: None,
        trace: None,
        relay: None,
        via: None,
        task: None,
    }
}

#[tokio::test]
async fn a_dispatched_call_is_authorized_limited_and_audited_as_its_caller() {
    let dir = std::env::temp_dir().join(format!("sb-dispatch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gw = gateway(&dir).await;
    let caller = anonymous(&gw).await;
    let d: &dyn Dispatch = &gw;

    // A tool the catalogue does not have (or the role may not use): unknown, as for a client.
    let e = d
        .call_tool(
            &caller,
            "hr__delete_all",
            serde_json::json!({}),
            CancellationToken::new(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.code, codes::INVALID_PARAMS);
    assert_eq!(e.message, "Unknown tool: hr__delete_all");
    // That spent one of the caller's two requests; a list spends the second.
    let list = d
        .request(&caller, methods::TOOLS_LIST, None, CancellationToken::new())
        .await
        .unwrap();
    assert!(list.get().contains("\"tools\""), "{}", list.get());
    let e = d
        .request(&caller, methods::TOOLS_LIST, None, CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(e.code, codes::RATE_LIMITED);

    // Every dispatched request is in the audit trail under the caller's name.
    gw.audit.flush();
    let records = switchboard_audit::read(&dir.join("audit.jsonl"), None).unwrap();
    let outcomes: Vec<(&str, &str, &str)> = records
        .iter()
        .map(|r| (r.subject.as_str(), r.method.as_str(), r.outcome.as_str()))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("anonymous", "tools/call", "error"),
            ("anonymous", "tools/list", "ok"),
            ("anonymous", "tools/list", "rate_limited"),
        ]
    );
    assert_eq!(records[0].target.as_deref(), Some("hr__delete_all"));
    assert!(records.iter().all(|r| r.role.as_deref() == Some("metered")));
    let _ = std::fs::remove_dir_all(&dir);
}

mod in_process {
    //! Two in-process backends behind the backend seam: `hr` (two tools) and `combo`, whose
    //! one tool calls both of `hr`'s as the caller it serves, through the dispatch seam.

    use std::sync::{OnceLock, Weak};

    use serde_json::json;
    use switchboard_config::ServerConfig;
    use switchboard_upstream::{
        Backend, BackendFactory, Backends, CallError, CallOptions, Era, InitInfo, Status,
        UpstreamEvent,
    };
    use tokio::sync::{mpsc, watch};

    use super::*;

    /// Each backend owns its status sender (its upstream watches it).
    struct Hr(watch::Sender<Status>);

    impl Backend for Hr {
        fn call<'a>(
            &'a self,
            method: &'a str,
            params: Option<Box<RawValue>>,
            _opts: CallOptions,
            _era: Era,
            _timeout: Duration,
        ) -> BoxFuture<'a, Result<Box<RawValue>, CallError>> {
            Box::pin(async move {
                match method {
                    "tools/list" => Ok(to_raw(&json!({"tools": [
                        {"name": "get_employee", "inputSchema": {"type": "object"}},
                        {"name": "delete_employee", "inputSchema": {"type": "object"}}
                    ]}))),
                    "tools/call" => {
                        let p: serde_json::Value =
                            serde_json::from_str(params.unwrap().get()).unwrap();
                        let text = format!("{} done", p["name"].as_str().unwrap());
                        Ok(to_raw(
                            &json!({"content": [{"type": "text", "text": text}]}),
                        ))
                    }
                    other => Err(CallError::Rpc(ErrorObject::method_not_found(other))),
                }
            })
        }
        fn notify(&self, _: &str, _: Option<Box<RawValue>>) {}
        fn shutdown(&self) -> BoxFuture<'_, ()> {
            self.0.send_replace(Status::Stopped);
            Box::pin(async {})
        }
    }

    /// Calls `hr__get_employee` and `hr__delete_employee` as its own caller; answers what
    /// each returned.
    struct Combo(Arc<OnceLock<Weak<Gateway>>>, watch::Sender<Status>);

    impl Backend for Combo {
        fn call<'a>(
            &'a self,
            method: &'a str,
            _params: Option<Box<RawValue>>,
            opts: CallOptions,
            _era: Era,
            _timeout: Duration,
        ) -> BoxFuture<'a, Result<Box<RawValue>, CallError>> {
            Box::pin(async move {
                match method {
                    "tools/list" => Ok(to_raw(&json!({"tools": [
                        {"name": "get_both", "inputSchema": {"type": "object"}}
                    ]}))),
                    "tools/call" => {
                        let caller = opts
                            .on_behalf_of
                            .and_then(|c| c.downcast::<Caller>().ok())
                            .expect("an in-process backend is told who it works for");
                        let gw = self.0.get().and_then(Weak::upgrade).unwrap();
                        let mut out = Vec::new();
                        for tool in ["hr__get_employee", "hr__delete_employee"] {
                            let r = gw
                                .call_tool(&caller, tool, json!({}), CancellationToken::new())
                                .await;
                            out.push(match r {
                                Ok(_) => format!("{tool}: ok"),
                                Err(e) => format!("{tool}: {}", e.message),
                            });
                        }
                        Ok(to_raw(
                            &json!({"content": [{"type": "text", "text": out.join("; ")}]}),
                        ))
                    }
                    other => Err(CallError::Rpc(ErrorObject::method_not_found(other))),
                }
            })
        }
        fn notify(&self, _: &str, _: Option<Box<RawValue>>) {}
        fn shutdown(&self) -> BoxFuture<'_, ()> {
            self.1.send_replace(Status::Stopped);
            Box::pin(async {})
        }
    }

    struct Factory(Arc<OnceLock<Weak<Gateway>>>);

    impl BackendFactory for Factory {
        fn build(
            &self,
            name: &Arc<str>,
            _config: &ServerConfig,
            status: watch::Sender<Status>,
            _events: mpsc::UnboundedSender<UpstreamEvent>,
        ) -> Option<Arc<dyn Backend>> {
            if !matches!(&**name, "hr" | "combo") {
                return None;
            }
            let info = InitInfo::in_process(name.to_string(), "1", json!({"tools": {}}), None);
            status.send_replace(Status::Ready(Arc::new(info)));
            Some(match &**name {
                "hr" => Arc::new(Hr(status)),
                _ => Arc::new(Combo(self.0.clone(), status)),
            })
        }
    }

    fn text(result: &RawValue) -> String {
        let v: serde_json::Value = serde_json::from_str(result.get()).unwrap();
        v["content"][0]["text"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn a_backend_calling_other_tools_is_held_to_its_callers_role() {
        let dir = std::env::temp_dir().join(format!("sb-dispatch-ip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let yaml = format!(
            "auth: {{anonymous_role: reader}}
roles:
  reader: {{allow: ['get_*', 'combo__*']}}
audit: {{sink: jsonl, path: '{}'}}
servers:
  hr: {{command: /nonexistent/hr}}
  combo: {{command: /nonexistent/combo}}
",
            dir.join("audit.jsonl").display()
        );
        let config =
            switchboard_config::from_str(&yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap();
        let handle = Arc::new(OnceLock::new());
        let backends = Backends::none().with(Factory(handle.clone()));
        let gw = Gateway::start_with(config, Duration::from_secs(5), false, backends)
            .await
            .unwrap();
        let _ = handle.set(Arc::downgrade(&gw));
        let caller = anonymous(&gw).await;

        // The reader may get, not delete — also when the call comes from another backend.
        let r = gw
            .call_tool(
                &caller,
                "combo__get_both",
                json!({}),
                CancellationToken::new(),
            )
            .await
            .unwrap();
        assert_eq!(
            text(&r),
            "hr__get_employee: ok; hr__delete_employee: Unknown tool: hr__delete_employee"
        );
        let direct = gw
            .call_tool(
                &caller,
                "hr__get_employee",
                json!({}),
                CancellationToken::new(),
            )
            .await
            .unwrap();
        assert_eq!(text(&direct), "get_employee done");

        gw.audit.flush();
        let records = switchboard_audit::read(&dir.join("audit.jsonl"), None).unwrap();
        let seen: Vec<(Option<&str>, &str)> = records
            .iter()
            .map(|r| (r.target.as_deref(), r.outcome.as_str()))
            .collect();
        // The inner calls are recorded (under the caller) before the outer one finishes.
        assert_eq!(
            seen,
            [
                (Some("hr__get_employee"), "ok"),
                (Some("hr__delete_employee"), "denied"),
                (Some("combo__get_both"), "ok"),
                (Some("hr__get_employee"), "ok"),
            ]
        );
        assert!(records.iter().all(|r| r.subject == "anonymous"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
