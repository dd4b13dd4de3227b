//! Admitting requests and the reloadable snapshot: a request is judged entirely by the
//! generation of policies it was admitted with, whatever a reload does meanwhile.

use std::sync::Arc;
use std::time::Duration;

use switchboard_protocol::{Id, Message, Request, codes, methods};

use super::*;

fn config(yaml: &str) -> switchboard_config::Config {
    switchboard_config::from_str(yaml, std::path::Path::new("t.yaml"), &|_| None).unwrap()
}

const LIMITED: &str = "auth: {anonymous_role: metered}
roles:
  metered: {allow: ['*'], rate_limit: 1/hour}
";
const UNLIMITED: &str = "auth: {anonymous_role: metered}
roles:
  metered: {allow: ['*']}
";

fn list(id: i64) -> Request {
    Request {
        id: Id::Num(id),
        method: methods::TOOLS_LIST.to_owned(),
        params: None,
    }
}

/// An anonymous caller (no credential), authenticated with the policies in force now.
async fn admission(gw: &Gateway, tracked_by: Option<Arc<Session>>) -> Admission {
    let policies = gw.policies();
    let identity = policies
        .auth
        .authenticate(&http::HeaderMap::new())
        .await
        .expect("an anonymous role is configured");
    Admission {
        transport: Transport::Http,
        session: tracked_by.clone(),
        tracked_by,
        out: None,
        modern: None,
        identity,
        policies,
        client_ip: None,
        trace: None,
    }
}

fn error_code(m: &Message) -> Option<i64> {
    match m {
        Message::Response(r) => r.result.as_ref().err().map(|e| e.code),
        _ => panic!("not a response: {m:?}"),
    }
}

#[tokio::test]
async fn a_request_keeps_the_policies_it_was_admitted_with_across_a_reload() {
    let gw = Gateway::start(config(LIMITED), Duration::from_millis(100))
        .await
        .unwrap();
    let (_, first) = gw.admit(admission(&gw, None).await, list(1));
    assert_eq!(error_code(&first.await), None);

    // Admitted before the reload, run after it: the old budget (spent) still judges it.
    let (_, before) = gw.admit(admission(&gw, None).await, list(2));
    let report = gw.reload(config(UNLIMITED)).await.unwrap();
    assert!(report.applied.contains(&"roles"), "{report:?}");
    assert_eq!(error_code(&before.await), Some(codes::RATE_LIMITED));

    // Admitted after it: the new policies, no limit.
    for id in 3..6 {
        let (_, after) = gw.admit(admission(&gw, None).await, list(id));
        assert_eq!(error_code(&after.await), None);
    }
}

#[tokio::test]
async fn a_reload_swaps_one_generation_and_keeps_the_parts_it_did_not_change() {
    let gw = Gateway::start(config(LIMITED), Duration::from_millis(100))
        .await
        .unwrap();
    let old = gw.policies();
    // Only the cache changes: the limiter (and its spent budgets) and the authenticator stay.
    let report = gw
        .reload(config(&format!("{LIMITED}cache: {{max_entries: 10}}\n")))
        .await
        .unwrap();
    assert_eq!(report.applied, vec!["cache"]);
    let new = gw.policies();
    assert!(!Arc::ptr_eq(&old, &new));
    assert!(Arc::ptr_eq(&old.limits, &new.limits));
    assert!(Arc::ptr_eq(&old.auth, &new.auth));
    assert!(!Arc::ptr_eq(&old.cache, &new.cache));
    assert!(!Arc::ptr_eq(&old.config, &new.config));
    // The roles change: a new authenticator and new limits, in the same generation.
    gw.reload(config(&format!("{UNLIMITED}cache: {{max_entries: 10}}\n")))
        .await
        .unwrap();
    let newer = gw.policies();
    assert!(!Arc::ptr_eq(&new.limits, &newer.limits));
    assert!(!Arc::ptr_eq(&new.auth, &newer.auth));
    assert!(Arc::ptr_eq(&new.cache, &newer.cache));
    // A refused reload changes nothing.
    let bad = format!("{LIMITED}rate_limits: {{store: redis, redis_url: 'redis://127.0.0.1:1'}}\n");
    assert!(gw.reload(config(&bad)).await.is_err());
    assert!(Arc::ptr_eq(&newer, &gw.policies()));
}

#[tokio::test]
async fn an_admitted_request_counts_in_flight_and_is_cancellable_until_answered() {
    let gw = Gateway::start(config(UNLIMITED), Duration::from_millis(100))
        .await
        .unwrap();
    let session = gw.sessions.create();
    let (cancel, run) = gw.admit(admission(&gw, Some(session.clone())).await, list(7));
    // Counted from admission, before it runs: a drain waits for it.
    assert_eq!(gw.requests_in_flight(), 1);
    assert_eq!(session.in_flight(), 1);
    // The client's `notifications/cancelled` finds it through its session.
    assert!(session.cancel(&Id::Num(7)));
    assert!(cancel.is_cancelled());
    let _ = run.await;
    assert_eq!(gw.requests_in_flight(), 0);
    assert_eq!(session.in_flight(), 0);
    // A request tracked by no session gets a fresh token of its own.
    let (cancel, run) = gw.admit(admission(&gw, None).await, list(8));
    assert!(!cancel.is_cancelled());
    assert_eq!(error_code(&run.await), None);
    assert_eq!(gw.requests_in_flight(), 0);
}
