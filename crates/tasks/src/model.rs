//! A task as the gateway keeps it: who owns it, the call it runs, where it is in its life
//! (the protocol's statuses and the transitions between them), its progress and outcome, and
//! what the workers need (attempts, when it may run next, who holds it and until when).

use serde::{Deserialize, Serialize};

/// The protocol's task statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Working,
    InputRequired,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Working,
        Status::InputRequired,
        Status::Completed,
        Status::Failed,
        Status::Cancelled,
    ];

    /// The wire name (`working`, `input_required`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Working => "working",
            Status::InputRequired => "input_required",
            Status::Completed => "completed",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// `completed`, `failed` and `cancelled` end a task: nothing moves it again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Status::Completed | Status::Failed | Status::Cancelled)
    }

    /// Whether a task may move from `self` to `next`: from `working` to any other status,
    /// from `input_required` back to `working` or to an end; never out of an end.
    pub fn can_become(self, next: Status) -> bool {
        match self {
            Status::Working => next != Status::Working,
            Status::InputRequired => next != Status::InputRequired,
            _ => false,
        }
    }
}

/// A task's outcome once it ended with one: the call's result, or the JSON-RPC error it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The tool's result (JSON text), `isError` results included.
    Result(String),
    /// The JSON-RPC error object (JSON text).
    Error(String),
}

/// One task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    /// Unguessable: 128 random bits.
    pub id: String,
    /// The identity that created it (its subject): only it sees the task.
    pub owner: String,
    /// The tool called (its exposed name).
    pub tool: String,
    /// The `tools/call` params (JSON text) the task runs with.
    pub params: String,
    pub status: Status,
    pub status_message: Option<String>,
    /// 0–100 when known.
    pub progress: Option<f64>,
    pub outcome: Option<Outcome>,
    /// Unix milliseconds.
    pub created_ms: i64,
    pub updated_ms: i64,
    /// How long the task and its outcome are kept once it ended.
    pub ttl_ms: i64,
    /// Calls made so far.
    pub attempts: u32,
    /// Not to run before (backoff between attempts).
    pub next_run_ms: i64,
    /// The worker running it, and until when its claim holds without a heartbeat.
    pub lease_owner: Option<String>,
    pub lease_until_ms: Option<i64>,
}

impl Task {
    /// A new task, `working`, runnable now.
    pub fn new(owner: &str, tool: &str, params: String, ttl_ms: i64, now_ms: i64) -> Task {
        Task {
            id: new_id(),
            owner: owner.to_owned(),
            tool: tool.to_owned(),
            params,
            status: Status::Working,
            status_message: None,
            progress: None,
            outcome: None,
            created_ms: now_ms,
            updated_ms: now_ms,
            ttl_ms,
            attempts: 0,
            next_run_ms: now_ms,
            lease_owner: None,
            lease_until_ms: None,
        }
    }
}

/// 128 random bits as 32 lower-case hex digits.
pub fn new_id() -> String {
    switchboard_store::hex(&rand::random::<[u8; 16]>())
}

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transitions_follow_the_protocol() {
        use Status::*;
        for s in Status::ALL {
            assert_eq!(Status::parse(s.as_str()), Some(s));
            assert!(!s.can_become(s), "{s:?} to itself");
        }
        assert!(Working.can_become(InputRequired) && Working.can_become(Completed));
        assert!(InputRequired.can_become(Working) && InputRequired.can_become(Cancelled));
        for end in [Completed, Failed, Cancelled] {
            assert!(end.is_terminal());
            assert!(
                Status::ALL.iter().all(|n| !end.can_become(*n)),
                "{end:?} moved"
            );
        }
        assert!(!Working.is_terminal() && !InputRequired.is_terminal());
        assert_eq!(Status::parse("done"), None);
    }

    #[test]
    fn ids_are_long_random_and_distinct() {
        let ids: std::collections::HashSet<String> = (0..1000).map(|_| new_id()).collect();
        assert_eq!(ids.len(), 1000);
        assert!(
            ids.iter()
                .all(|i| i.len() == 32 && i.bytes().all(|b| b.is_ascii_hexdigit()))
        );
    }
}
