//! The `audit:` section: where the audit trail goes and what its records keep.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where audit records go and what they keep.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// `sqlite` (default), `jsonl` (a file of JSON lines), or `stdout` (JSON lines; `serve`
    /// only, since `stdio` owns stdout).
    pub sink: AuditSink,
    /// The SQLite database or JSONL file.
    pub path: String,
    /// Argument keys whose values are replaced by `[REDACTED]` (case-insensitive, matched as
    /// substrings of the key: `token` covers `access_token`).
    pub redact: Vec<String>,
    /// Keep the (redacted) arguments in each record; off keeps only their digest.
    pub record_arguments: bool,
    /// Sync every batch to disk before answering (survives power loss, not just a crash).
    pub fsync: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            sink: AuditSink::Sqlite,
            path: "switchboard-audit.db".into(),
            redact: [
                "password",
                "passwd",
                "secret",
                "token",
                "api_key",
                "apikey",
                "authorization",
                "credential",
                "private_key",
                "cookie",
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect(),
            record_arguments: true,
            fsync: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum AuditSink {
    #[default]
    Sqlite,
    Jsonl,
    Stdout,
}
