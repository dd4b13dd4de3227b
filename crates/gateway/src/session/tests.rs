//! Client sessions: who may use one, the calls and client requests it tracks, what closing it
//! does, and the transport's opaque per-session state.

use std::sync::atomic::AtomicUsize;

use super::*;

#[test]
fn a_session_belongs_to_the_identity_that_opened_it() {
    let s = Session::new(Arc::from("s1"));
    // Before an owner is bound (stdio), anyone local may use it.
    assert!(s.owned_by("alice"));
    s.set_owner(&Arc::from("alice"));
    assert!(s.owned_by("alice"));
    assert!(!s.owned_by("mallory"));
}

#[tokio::test]
async fn calls_in_flight_are_cancelled_by_id_and_all_at_close() {
    let s = Session::new(Arc::from("s1"));
    let a = s.begin(&Id::Num(1));
    let b = s.begin(&Id::Str(Arc::from("two")));
    assert_eq!(s.in_flight(), 2);
    assert!(s.cancel(&Id::Num(1)));
    assert!(a.is_cancelled() && !b.is_cancelled());
    // A second cancel, or one for an id never seen, finds nothing.
    assert!(!s.cancel(&Id::Num(1)));
    assert!(!s.cancel(&Id::Num(99)));
    s.end(&Id::Str(Arc::from("two")));
    assert_eq!(s.in_flight(), 0);
    // Closing cancels what is still running and fails requests waiting on the client.
    let c = s.begin(&Id::Num(3));
    let (id, waiting) = s.expect_response();
    s.close();
    assert!(c.is_cancelled());
    assert!(
        waiting.await.is_err(),
        "a waiter is dropped, not left hanging"
    );
    assert!(!s.resolve(&id, Ok(switchboard_protocol::empty_object())));
}

#[tokio::test]
async fn a_client_answer_reaches_the_request_that_asked_once() {
    let s = Session::new(Arc::from("s1"));
    let (id, rx) = s.expect_response();
    let (other, _rx2) = s.expect_response();
    assert_ne!(id, other);
    assert!(s.resolve(&id, Ok(switchboard_protocol::empty_object())));
    assert_eq!(rx.await.unwrap().unwrap().get(), "{}");
    assert!(!s.resolve(&id, Ok(switchboard_protocol::empty_object())));
    s.forget_response(&other);
    assert!(!s.resolve(&other, Ok(switchboard_protocol::empty_object())));
}

#[derive(Default)]
struct HttpState(AtomicUsize);

#[derive(Default)]
struct OtherState;

#[test]
fn the_transport_state_is_made_once_and_typed_by_the_transport() {
    let s = Session::new(Arc::from("s1"));
    let first = s.transport_state::<HttpState>().unwrap();
    first.0.fetch_add(1, Ordering::Relaxed);
    let again = s.transport_state::<HttpState>().unwrap();
    assert!(Arc::ptr_eq(&first, &again));
    assert_eq!(again.0.load(Ordering::Relaxed), 1);
    // Another type is not the session's: refused, not replaced.
    assert!(s.transport_state::<OtherState>().is_none());
    assert!(s.transport_state::<HttpState>().is_some());
}

#[test]
fn log_messages_below_the_session_level_are_filtered() {
    let s = Session::new(Arc::from("s1"));
    let warning = switchboard_protocol::to_raw(&serde_json::json!({"level": "warning"}));
    let debug = switchboard_protocol::to_raw(&serde_json::json!({"level": "debug"}));
    assert!(s.wants_log(Some(&debug)), "debug by default");
    s.set_log_level(switchboard_protocol::log_level::level_index("error").unwrap());
    assert!(!s.wants_log(Some(&warning)) && !s.wants_log(Some(&debug)));
}

#[test]
fn sessions_are_found_by_id_and_closed_on_removal() {
    let all = Sessions::default();
    let s = all.create();
    assert_eq!(all.len(), 1);
    assert!(Arc::ptr_eq(&all.get(&s.id).unwrap(), &s));
    let token = s.begin(&Id::Num(1));
    let removed = all.remove(&s.id).unwrap();
    assert!(Arc::ptr_eq(&removed, &s));
    assert!(token.is_cancelled() && all.is_empty() && all.get(&s.id).is_none());
}
