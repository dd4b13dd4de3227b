//! The keys of a `servers:` entry served by the gateway itself from an HTTP API: a whole
//! OpenAPI document (`openapi`) or hand-declared tools (`http_tools`), both against
//! `base_url`.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Which of an OpenAPI document's operations become tools: globs (`*`) over the
/// `operationId`, a tag, or `METHOD /path`. Without `include`, every operation; `exclude` wins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OperationFilter {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

/// One hand-declared HTTP tool. Arguments named in `path` (`/employees/{employee_id}`) fill
/// it; the others go to the query string (GET, HEAD, DELETE) or the JSON body (POST, PUT,
/// PATCH) unless `query` names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpToolConfig {
    /// What the tool does, for the model choosing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The HTTP method: GET, POST, PUT, PATCH, DELETE or HEAD.
    #[serde(default = "default_method")]
    pub method: String,
    /// The path under `base_url`, with `{argument}` placeholders (percent-encoded when filled).
    pub path: String,
    /// The tool's JSON Schema for its arguments (default: an object with the path's
    /// placeholders as required strings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_schema: Option<serde_json::Value>,
    /// Arguments sent in the query string even for a method with a body.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<String>,
    /// Headers of this tool's requests (beside the server's `headers`); values may name an
    /// argument as `{argument}`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, String>,
    /// A jq expression over the JSON answer; its result is what the tool returns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
}

fn default_method() -> String {
    "GET".into()
}
