//! The configuration types. Every struct denies unknown keys; the JSON Schema is derived from
//! these same types (`switchboard schema`).

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{AdminConfig, BuiltinConfig, CacheConfig, Dur, ReloadConfig, TelemetryConfig};

/// The whole configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The client-facing Streamable HTTP listener (`switchboard serve`).
    #[serde(default)]
    pub http: HttpConfig,
    /// How the upstream catalogues are merged into one.
    #[serde(default)]
    pub federation: FederationConfig,
    /// Logging of the gateway itself.
    #[serde(default)]
    pub log: LogConfig,
    /// Multi round-trip requests of protocol 2026-07-28: how the `requestState` the gateway
    /// hands to modern clients is protected and how long it lives.
    #[serde(default)]
    pub mrtr: MrtrConfig,
    /// Who may call: API keys, JWTs; the anonymous role. Absent: no authentication, every
    /// caller may do everything (fine on a loopback-only listener, nowhere else).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
    /// What each role may do and how often. Defaults (when `auth` is set and this is not):
    /// `admin` (everything, 1000/min), `developer` (everything, 100/min), `viewer` (`read_*`,
    /// `get_*`, `list_*`, `search_*` tools, every resource and prompt, 50/min).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub roles: IndexMap<String, RoleConfig>,
    /// Where rate-limit budgets live: in this process, or in Redis shared by every replica.
    #[serde(default)]
    pub rate_limits: RateLimitConfig,
    /// A tamper-evident record of every request. Absent: no audit trail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit: Option<AuditConfig>,
    /// The tool-result cache: which tool results are kept, how long, and where.
    #[serde(default)]
    pub cache: CacheConfig,
    /// The admin listener: Prometheus `/metrics`, `/healthz`, `/readyz`.
    #[serde(default)]
    pub admin: AdminConfig,
    /// OpenTelemetry traces and their OTLP export.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// Applying a changed config file without a restart (SIGHUP, file watching).
    #[serde(default)]
    pub reload: ReloadConfig,
    /// The gateway's own MCP tools (decision support).
    #[serde(default)]
    pub builtin: BuiltinConfig,
    /// The upstream MCP servers, by name. A Claude Desktop `mcpServers` entry is accepted
    /// unchanged (`command`/`args`/`env`/`cwd`, or `url`/`headers`), and the key may be spelled
    /// `mcpServers` too.
    #[serde(default, alias = "mcpServers")]
    pub servers: IndexMap<String, ServerConfig>,
}

/// The Streamable HTTP endpoint clients connect to.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address to listen on, e.g. `127.0.0.1:8080` (`:0` picks a free port).
    pub listen: String,
    /// Path of the MCP endpoint.
    pub path: String,
    /// Largest request body accepted; larger bodies get HTTP 413.
    pub max_body_bytes: u64,
    /// Origins allowed to call the endpoint from a browser (DNS-rebinding protection). Requests
    /// with an `Origin` header not in this list get 403. Loopback origins are allowed when the
    /// list is empty. `"*"` allows any origin.
    pub allowed_origins: Vec<String>,
    /// Host names (the `Host` header, without port) accepted. Empty means: loopback names only
    /// when listening on a loopback address, any host otherwise. `"*"` allows any host.
    pub allowed_hosts: Vec<String>,
    /// A session with no traffic for this long is closed.
    pub session_idle_timeout: Dur,
    /// Most concurrent sessions; `initialize` beyond this gets HTTP 503.
    pub max_sessions: usize,
    /// On shutdown, how long in-flight calls may take to finish before they are cut.
    pub shutdown_grace: Dur,
    /// How to answer a POSTed request: `auto` answers with plain JSON unless the call produces
    /// notifications or server→client requests first, then switches to an SSE stream.
    pub response_mode: ResponseMode,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            path: "/mcp".into(),
            max_body_bytes: 4 * 1024 * 1024,
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            session_idle_timeout: Dur::secs(30 * 60),
            max_sessions: 10_000,
            shutdown_grace: Dur::secs(30),
            response_mode: ResponseMode::Auto,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum ResponseMode {
    #[default]
    Auto,
    Json,
    Sse,
}

/// How names from different servers are kept apart.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FederationConfig {
    /// Put between the server prefix and the original name: `github__create_issue`.
    pub separator: String,
    /// `server`: prefix every tool and prompt with its server's name (or its `prefix`);
    /// `none`: keep the original names (the first server listed wins a name clash, and the
    /// clash is reported in the logs and by `switchboard check`).
    pub prefix: PrefixMode,
    /// `keep`: resource URIs are passed through unchanged and routed by exact URI, then by
    /// template; `prefix`: URIs are rewritten to `<server>+<uri>` so that two servers may use
    /// the same URI.
    pub resource_uris: UriMode,
    /// Entries per page in merged `*/list` results; 0 returns everything in one page.
    pub page_size: usize,
}

impl Default for FederationConfig {
    fn default() -> Self {
        Self {
            separator: "__".into(),
            prefix: PrefixMode::Server,
            resource_uris: UriMode::Keep,
            page_size: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum PrefixMode {
    #[default]
    Server,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum UriMode {
    #[default]
    Keep,
    Prefix,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `switchboard=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
    /// `text` for people, `json` for log pipelines.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// One upstream MCP server: a child process speaking stdio (`command`) or an HTTP server
/// (`url`). The first five keys are exactly Claude Desktop's.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// Program to start (stdio server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// Its arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Extra environment for the process (values may use `${VAR}`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
    /// Working directory of the process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// URL of an HTTP server (Streamable HTTP, or legacy HTTP+SSE with `type: sse`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Headers sent to the HTTP server on every request (e.g. its own credentials).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, String>,
    /// Transport, normally inferred: `stdio` with `command`, `http` with `url`.
    #[serde(
        default,
        rename = "type",
        alias = "transport",
        skip_serializing_if = "Option::is_none"
    )]
    pub transport: Option<TransportKind>,
    /// Set `false` (or Claude-style `disabled: true`) to keep the entry but not start it.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// Claude Desktop/Cline style switch; `disabled: true` is the same as `enabled: false`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    /// `shared` (default): one process serves every client session. `session`: each client
    /// session gets its own process (started on its first call, stopped when the session
    /// ends), for servers that keep per-client state or send sampling/elicitation/roots
    /// requests to clients that call them concurrently. Listings come from a shared instance.
    #[serde(default, skip_serializing_if = "Isolation::is_shared")]
    pub isolation: Isolation,
    /// Name used in front of this server's tools and prompts instead of the server's key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Longest time a call to this server may take before the client gets an error and the
    /// upstream request is cancelled.
    #[serde(
        default = "default_timeout",
        skip_serializing_if = "is_default_timeout"
    )]
    pub timeout: Dur,
    /// Per-tool timeouts that replace `timeout` for those tools (the server's own tool
    /// names): `{generate_report: 5m, lookup: 2s}`. On expiry the caller gets an error and
    /// the server a `notifications/cancelled`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub tool_timeouts: IndexMap<String, Dur>,
    /// Longest time the server may take to start and answer `initialize`.
    #[serde(
        default = "default_init_timeout",
        skip_serializing_if = "is_default_init_timeout"
    )]
    pub init_timeout: Dur,
    /// How a crashed stdio server is restarted.
    #[serde(default, skip_serializing_if = "is_default_restart")]
    pub restart: RestartPolicy,
    /// Protocol era to speak with this server. `auto` (default): `initialize` (2025-11-25 and
    /// earlier), then `server/discover` (2026-07-28); whatever the server accepts is used, and
    /// each client is served in its own era when the server speaks it. `legacy`: `initialize`
    /// only. `modern`: `server/discover` only, stateless requests.
    #[serde(default, skip_serializing_if = "ProtocolMode::is_auto")]
    pub protocol: ProtocolMode,
    /// How long to wait for an answer to the `server/discover` probe before deciding the
    /// server is session-era only.
    #[serde(
        default = "default_probe_timeout",
        skip_serializing_if = "is_default_probe_timeout"
    )]
    pub probe_timeout: Dur,
    /// On stop: after closing stdin, wait this long before SIGTERM, and again before SIGKILL.
    #[serde(
        default = "default_shutdown_timeout",
        skip_serializing_if = "is_default_shutdown_timeout"
    )]
    pub shutdown_timeout: Dur,
    /// A pool of processes for a stdio server that handles one request at a time: calls go
    /// to the least busy process, more are started under load (up to `max`), idle ones are
    /// stopped. Absent: one process.
    // Schema: the entry itself (not "entry or null"), so a mistyped key is named as such.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "PoolConfig")]
    pub pool: Option<PoolConfig>,
    /// At most this many calls in flight to this server at once (any transport); further
    /// calls wait in a queue for up to `queue_timeout`, then fail as busy. Absent: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<usize>,
    /// With `max_concurrency`: how long a call may wait for its turn (default 60s, or the
    /// pool's `acquire_timeout` for a pooled server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_timeout: Option<Dur>,
}

/// A pool of stdio server processes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PoolConfig {
    /// Processes kept running even when idle (the first one always runs). Default: 2, or
    /// `max` if that is lower.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<usize>,
    /// Most processes at once.
    pub max: usize,
    /// A process beyond `min` with no call for this long is stopped.
    pub idle_timeout: Dur,
    /// How long a call waits for a process when none is ready (within the call's `timeout`).
    pub acquire_timeout: Dur,
}

impl PoolConfig {
    /// Processes kept running: `min` (default 2, at most `max`), and at least one.
    pub fn min_processes(&self) -> usize {
        self.min.unwrap_or(2).min(self.max).max(1)
    }
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            min: None,
            max: 10,
            idle_timeout: Dur::secs(30),
            acquire_timeout: Dur::secs(60),
        }
    }
}

fn yes() -> bool {
    true
}
fn is_true(b: &bool) -> bool {
    *b
}
fn is_default_timeout(d: &Dur) -> bool {
    *d == default_timeout()
}
fn is_default_init_timeout(d: &Dur) -> bool {
    *d == default_init_timeout()
}
fn is_default_shutdown_timeout(d: &Dur) -> bool {
    *d == default_shutdown_timeout()
}
fn is_default_restart(r: &RestartPolicy) -> bool {
    *r == RestartPolicy::default()
}
fn default_timeout() -> Dur {
    Dur::secs(60)
}
fn default_init_timeout() -> Dur {
    Dur::secs(30)
}
fn default_shutdown_timeout() -> Dur {
    Dur::secs(3)
}
fn default_probe_timeout() -> Dur {
    Dur::secs(5)
}
fn is_default_probe_timeout(d: &Dur) -> bool {
    *d == default_probe_timeout()
}

impl ServerConfig {
    /// An entry for a stdio server with defaults for every gateway option.
    pub fn stdio(command: impl Into<String>, args: Vec<String>) -> Self {
        Self {
            command: Some(command.into()),
            args,
            env: IndexMap::new(),
            cwd: None,
            url: None,
            headers: IndexMap::new(),
            transport: None,
            enabled: true,
            disabled: false,
            isolation: Isolation::Shared,
            prefix: None,
            timeout: default_timeout(),
            tool_timeouts: IndexMap::new(),
            init_timeout: default_init_timeout(),
            restart: RestartPolicy::default(),
            protocol: ProtocolMode::Auto,
            probe_timeout: default_probe_timeout(),
            shutdown_timeout: default_shutdown_timeout(),
            pool: None,
            max_concurrency: None,
            queue_timeout: None,
        }
    }

    /// An entry for a Streamable HTTP server with defaults for every gateway option.
    pub fn http(url: impl Into<String>) -> Self {
        Self {
            command: None,
            url: Some(url.into()),
            transport: Some(TransportKind::Http),
            ..Self::stdio(String::new(), Vec::new())
        }
    }

    /// The transport this entry uses, inferring it when `type` is absent.
    pub fn kind(&self) -> TransportKind {
        match (self.transport, &self.command) {
            (Some(k), _) => k,
            (None, Some(_)) => TransportKind::Stdio,
            (None, None) => TransportKind::Http,
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.enabled && !self.disabled
    }

    /// How long a call waits for its turn under `max_concurrency`: `queue_timeout`, else the
    /// pool's `acquire_timeout`, else 60s.
    pub fn queue_wait(&self) -> Dur {
        self.queue_timeout
            .or(self.pool.as_ref().map(|p| p.acquire_timeout))
            .unwrap_or(Dur::secs(60))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Isolation {
    #[default]
    Shared,
    Session,
}

impl Isolation {
    pub fn is_shared(&self) -> bool {
        *self == Isolation::Shared
    }
}

/// Which protocol era to speak with an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum ProtocolMode {
    /// Probe: `initialize`, then `server/discover`; use every era the server accepts.
    #[default]
    Auto,
    /// Session-based revisions only (2025-11-25 and earlier).
    Legacy,
    /// Stateless 2026-07-28 only.
    Modern,
}

impl ProtocolMode {
    pub fn is_auto(&self) -> bool {
        *self == ProtocolMode::Auto
    }
}

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

/// What a role may do. Patterns use `*` as a wildcard. A bare pattern names tools (matched
/// against the namespaced name, e.g. `github__create_issue`, and the server's own name,
/// `create_issue`); `prompt:PATTERN` names prompts the same way; `resource:PATTERN` matches
/// resource URIs; `*` alone allows everything. Deny beats allow.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RoleConfig {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
    /// Requests per identity, e.g. `100/min`, `10/s`, `5000/hour`. Unset: unlimited.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<String>,
    /// Extra limits on calls of particular tools, per identity: tool pattern (as in `allow`)
    /// → rate. A call spends from every entry its tool matches, besides `rate_limit`.
    #[serde(skip_serializing_if = "IndexMap::is_empty")]
    pub tool_limits: IndexMap<String, String>,
}

impl RoleConfig {
    pub fn new(allow: &[&str], rate_limit: &str) -> Self {
        Self {
            allow: allow.iter().map(|s| (*s).to_owned()).collect(),
            deny: Vec::new(),
            rate_limit: Some(rate_limit.to_owned()),
            tool_limits: IndexMap::new(),
        }
    }
}

/// The roles used when `auth` is configured and `roles` is not (the reference limits).
pub fn default_roles() -> IndexMap<String, RoleConfig> {
    let mut m = IndexMap::new();
    m.insert("admin".into(), RoleConfig::new(&["*"], "1000/min"));
    m.insert("developer".into(), RoleConfig::new(&["*"], "100/min"));
    m.insert(
        "viewer".into(),
        RoleConfig::new(
            &[
                "read_*",
                "get_*",
                "list_*",
                "search_*",
                "resource:*",
                "prompt:*",
            ],
            "50/min",
        ),
    );
    m
}

/// A rate like `100/min`: (requests, period).
pub fn parse_rate(s: &str) -> Result<(u32, std::time::Duration), String> {
    let (n, per) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not a rate; write e.g. `100/min`"))?;
    let n: u32 = n
        .trim()
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{s}`: the count must be a positive integer"))?;
    let period = match per.trim() {
        "s" | "sec" | "second" => 1,
        "m" | "min" | "minute" => 60,
        "h" | "hour" => 3600,
        "d" | "day" => 86400,
        other => {
            return Err(format!(
                "`{s}`: unknown period `{other}`; use s, min, hour or day"
            ));
        }
    };
    Ok((n, std::time::Duration::from_secs(period)))
}

/// The store of rate-limit budgets.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// `memory` (this process) or `redis` (one budget across replicas; an atomic GCRA script).
    pub store: LimitStore,
    /// Redis URL for `store: redis`.
    pub redis_url: String,
    /// Prefix of the Redis keys.
    pub key_prefix: String,
    /// When Redis cannot be reached: `allow` the request (and log), or `deny` it.
    pub on_store_error: OnStoreError,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            store: LimitStore::Memory,
            redis_url: "redis://127.0.0.1:6379".into(),
            key_prefix: "switchboard:rl:".into(),
            on_store_error: OnStoreError::Allow,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum LimitStore {
    #[default]
    Memory,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum OnStoreError {
    #[default]
    Allow,
    Deny,
}

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

/// Protection of the `requestState` handed to modern clients in `input_required` results.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MrtrConfig {
    /// HMAC-SHA256 keys, at least 32 bytes each (use `${ENV}`). The first signs; all verify,
    /// so a key can be rotated in. Replicas must share them. With none, a random key is made at
    /// start: states then do not survive a restart or reach another replica.
    pub keys: Vec<String>,
    /// How long a client may take to answer an `input_required` result.
    pub state_ttl: Dur,
}

impl Default for MrtrConfig {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            state_ttl: Dur::secs(10 * 60),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TransportKind {
    /// A child process speaking newline-delimited JSON-RPC on stdin/stdout.
    Stdio,
    /// Streamable HTTP (protocol 2025-03-26 and later).
    #[serde(alias = "streamable-http", alias = "streamableHttp")]
    Http,
    /// The legacy HTTP+SSE transport (protocol 2024-11-05).
    Sse,
}

/// Restart policy for stdio servers: exponential backoff, and crash-loop detection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RestartPolicy {
    /// First wait after a crash.
    pub initial_backoff: Dur,
    /// Longest wait between attempts.
    pub max_backoff: Dur,
    /// This many crashes within `crash_loop_window` mark the server crash-looping: it is
    /// reported (logs, `switchboard check`, listings) and retried at `max_backoff` only.
    pub crash_loop_restarts: u32,
    pub crash_loop_window: Dur,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Dur::millis(250),
            max_backoff: Dur::secs(30),
            crash_loop_restarts: 5,
            crash_loop_window: Dur::secs(60),
        }
    }
}
