//! The `auth:` section: who may call — API keys, JWT issuers, OAuth 2.1 resource server and
//! token introspection, the anonymous role and the stdio client's identity.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Dur;

/// Authentication. Several methods may be configured at once; the first that recognises the
/// presented credential decides.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Role of requests that carry no credential. Unset: they get HTTP 401.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymous_role: Option<String>,
    /// API keys (`X-API-Key: …` or `Authorization: Bearer …`), kept hashed in a file managed
    /// with `switchboard keys create|list|revoke`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_keys: Option<ApiKeysConfig>,
    /// JWT issuers accepted as `Authorization: Bearer …`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub jwt: Vec<JwtConfig>,
    /// The identity of `switchboard stdio`'s client (whoever started the process).
    pub stdio: StdioIdentity,
    /// OAuth 2.1 resource server (the MCP authorization spec): protected-resource metadata
    /// (RFC 9728), challenges that point clients to the authorization server, required scopes,
    /// and token introspection (RFC 7662) for opaque tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth: Option<OAuthConfig>,
}

/// This gateway as an OAuth 2.1 protected resource.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// The canonical URI of this MCP endpoint, e.g. `https://mcp.example.com/mcp`. Tokens must
    /// name it in `aud` (list it in the `jwt` issuers' `audience` too).
    pub resource: String,
    /// Authorization servers clients should get tokens from (their issuer URLs).
    pub authorization_servers: Vec<String>,
    /// Scopes every token must carry (`scope` claim or introspection answer); a token lacking
    /// one gets HTTP 403 with an `insufficient_scope` challenge.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Introspection for opaque (non-JWT) tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection: Option<IntrospectionConfig>,
    /// Claim (in the introspection answer) naming the role.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Role for introspected tokens without that claim; unset: refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_role: Option<String>,
}

/// An RFC 7662 introspection endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionConfig {
    pub url: String,
    /// The gateway's client credentials at the authorization server (HTTP Basic).
    pub client_id: String,
    pub client_secret: String,
    /// How long an answer is reused (never past the token's `exp`).
    #[serde(default = "default_introspection_cache")]
    pub cache: Dur,
}

fn default_introspection_cache() -> Dur {
    Dur::secs(60)
}

/// Where API keys are stored.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeysConfig {
    /// The key store (JSON; SHA-256 hashes only, never the keys). Relative paths are relative
    /// to the working directory. Changes (new or revoked keys) are picked up within seconds.
    pub file: String,
}

/// One accepted JWT issuer and how its tokens are verified.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// Required `iss`.
    pub issuer: String,
    /// Accepted `aud` values; the token must name one of them.
    pub audience: Vec<String>,
    /// The one algorithm this issuer's tokens may use (`HS256`, `RS256`, `PS256`, `ES256`,
    /// `EdDSA`, …); `none` is never accepted.
    pub algorithm: String,
    /// HMAC secret (HS*), at least 32 bytes; use `${ENV}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Public key in PEM, inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Public key in PEM, from a file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_file: Option<String>,
    /// JWKS endpoint: fetched at start, cached, refetched on an unknown `kid` (at most every
    /// 30 s) and every `jwks_refresh`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_url: Option<String>,
    #[serde(default = "default_jwks_refresh")]
    pub jwks_refresh: Dur,
    /// Claim holding the role: a name or a dotted path (`realm_access.roles`); a string, or an
    /// array whose first configured role is used.
    #[serde(default = "default_role_claim")]
    pub role_claim: String,
    /// Role when the claim is absent; unset: such tokens are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_role: Option<String>,
    /// Clock skew tolerated for `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway: Dur,
}

fn default_role_claim() -> String {
    "role".into()
}
fn default_leeway() -> Dur {
    Dur::secs(30)
}
fn default_jwks_refresh() -> Dur {
    Dur::secs(3600)
}

/// Identity of the stdio client.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StdioIdentity {
    pub subject: String,
    /// Its role; unset: `anonymous_role`, else unrestricted (the local user started it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

impl Default for StdioIdentity {
    fn default() -> Self {
        Self {
            subject: "stdio".into(),
            role: None,
        }
    }
}
