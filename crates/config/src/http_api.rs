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

/// How an HTTP API learns who is calling. The client's own credential is never passed on:
/// the gateway states the caller itself, signed (`jwt`) or plainly (`header`, for trusted
/// internal networks).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ForwardIdentity {
    /// A short-lived JWT the gateway signs for each caller: `sub` the caller's subject, `role`
    /// its role, `auth` how it authenticated, `iss`/`aud` from here, `exp` after `ttl`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwt: Option<IdentityJwt>,
    /// A header carrying the caller's subject as it is (e.g. `X-Switchboard-User`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// A header carrying the caller's role (e.g. `X-Switchboard-Role`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_header: Option<String>,
}

/// The JWT of [`ForwardIdentity`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityJwt {
    /// `iss` of the tokens.
    pub issuer: String,
    /// `aud` of the tokens: the API.
    pub audience: String,
    /// HS256/HS384/HS512 with `secret`; RS256/RS384/RS512, PS256/PS384/PS512, ES256/ES384 or
    /// EdDSA with `private_key_file`.
    #[serde(default = "default_jwt_algorithm")]
    pub algorithm: String,
    /// HMAC secret (at least 32 bytes; use `${ENV}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// A PEM private key file (relative to where the gateway runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub private_key_file: Option<String>,
    /// How long a token is valid.
    #[serde(default = "default_jwt_ttl")]
    pub ttl: crate::Dur,
    /// The header it travels in: `Authorization` (as `Bearer <token>`, the default) or any
    /// other (the token alone).
    #[serde(default = "default_jwt_header")]
    pub header: String,
}

fn default_jwt_algorithm() -> String {
    "HS256".into()
}
fn default_jwt_ttl() -> crate::Dur {
    crate::Dur::secs(60)
}
fn default_jwt_header() -> String {
    "Authorization".into()
}

fn default_method() -> String {
    "GET".into()
}
