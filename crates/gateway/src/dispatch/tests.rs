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
