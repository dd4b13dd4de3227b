//! The gateway as an OAuth 2.1 protected resource (MCP authorization spec): it publishes RFC 9728
//! protected-resource metadata naming its authorization servers, its 401 challenges point
//! there (`resource_metadata=…`), tokens must be meant for it (audience = `resource`) and carry
//! the required scopes (else 403 `insufficient_scope`), and opaque tokens are checked by RFC 7662
//! introspection, whose answers are cached (never past the token's expiry).

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use switchboard_config::OAuthConfig;

/// The well-known path of protected-resource metadata (RFC 9728 §3).
pub const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// What introspection said about an active token.
#[derive(Debug, Clone)]
pub struct Introspected {
    pub subject: String,
    pub scopes: Vec<String>,
    pub role: Option<String>,
}

pub struct OAuth {
    pub resource: String,
    pub scopes: Vec<String>,
    metadata: Vec<u8>,
    metadata_url: String,
    introspection: Option<Introspector>,
    role_claim: String,
    default_role: Option<String>,
}

struct Introspector {
    url: String,
    client_id: String,
    client_secret: String,
    cache_for: Duration,
    client: reqwest::Client,
    cache: Mutex<HashMap<[u8; 32], Cached>>,
}

/// An introspection verdict and until when it may be reused, by token digest.
type Cached = (Instant, Result<Introspected, String>);

/// Most cached introspection answers.
const CACHE_MAX: usize = 10_000;

#[derive(Deserialize)]
struct IntrospectionAnswer {
    active: bool,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    aud: Option<serde_json::Value>,
    #[serde(default)]
    exp: Option<u64>,
    #[serde(flatten)]
    rest: serde_json::Map<String, serde_json::Value>,
}

impl OAuth {
    pub fn new(cfg: &OAuthConfig) -> Self {
        let metadata = serde_json::json!({
            "resource": cfg.resource,
            "authorization_servers": cfg.authorization_servers,
            "scopes_supported": cfg.scopes,
            "bearer_methods_supported": ["header"],
            "resource_name": "Switchboard MCP gateway",
        });
        let (origin, path) = split_url(&cfg.resource);
        let path = path.trim_end_matches('/');
        Self {
            resource: cfg.resource.clone(),
            scopes: cfg.scopes.clone(),
            metadata: serde_json::to_vec_pretty(&metadata).unwrap_or_default(),
            metadata_url: format!("{origin}{WELL_KNOWN}{path}"),
            introspection: cfg.introspection.as_ref().map(|i| Introspector {
                url: i.url.clone(),
                client_id: i.client_id.clone(),
                client_secret: i.client_secret.clone(),
                cache_for: i.cache.0,
                client: reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .unwrap_or_default(),
                cache: Mutex::new(HashMap::new()),
            }),
            role_claim: cfg.role_claim.clone(),
            default_role: cfg.default_role.clone(),
        }
    }

    /// The metadata document and the paths it is served at (root and path-suffixed).
    pub fn metadata(&self) -> (&[u8], Vec<String>) {
        let (_, path) = split_url(&self.resource);
        let path = path.trim_end_matches('/');
        let mut paths = vec![WELL_KNOWN.to_owned()];
        if !path.is_empty() {
            paths.push(format!("{WELL_KNOWN}{path}"));
        }
        (&self.metadata, paths)
    }

    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    pub fn can_introspect(&self) -> bool {
        self.introspection.is_some()
    }

    /// The scopes `have` lacks, space-separated, if any.
    pub fn missing_scopes(&self, have: &[String]) -> Option<String> {
        let missing: Vec<&str> = self
            .scopes
            .iter()
            .filter(|s| !have.contains(s))
            .map(String::as_str)
            .collect();
        (!missing.is_empty()).then(|| missing.join(" "))
    }

    /// Introspect an opaque token (cached).
    pub async fn introspect(&self, token: &str) -> Result<Introspected, String> {
        let Some(i) = &self.introspection else {
            return Err("opaque tokens are not accepted here".into());
        };
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some((until, answer)) = i.cache.lock().get(&key)
            && Instant::now() < *until
        {
            return answer.clone();
        }
        let (answer, ttl) = self.ask(i, token).await?;
        let mut cache = i.cache.lock();
        if cache.len() >= CACHE_MAX {
            let now = Instant::now();
            cache.retain(|_, (until, _)| *until > now);
            if cache.len() >= CACHE_MAX {
                cache.clear();
            }
        }
        cache.insert(key, (Instant::now() + ttl, answer.clone()));
        answer
    }

    /// One introspection request: the verdict and how long it may be cached. Transport failures
    /// are errors that are not cached.
    async fn ask(
        &self,
        i: &Introspector,
        token: &str,
    ) -> Result<(Result<Introspected, String>, Duration), String> {
        let a: IntrospectionAnswer = i
            .client
            .post(&i.url)
            .basic_auth(&i.client_id, Some(&i.client_secret))
            .form(&[("token", token), ("token_type_hint", "access_token")])
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("introspection failed: {e}"))?
            .json()
            .await
            .map_err(|e| format!("introspection answer unreadable: {e}"))?;
        if !a.active {
            return Ok((Err("the token is not active".into()), i.cache_for));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default();
        let ttl = match a.exp {
            Some(exp) if exp <= now => {
                return Ok((Err("the token has expired".into()), i.cache_for));
            }
            Some(exp) => i.cache_for.min(Duration::from_secs(exp - now)),
            None => i.cache_for,
        };
        let audiences: Vec<String> = match &a.aud {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(v)) => v
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        if !audiences.iter().any(|aud| aud == &self.resource) {
            return Ok((
                Err("the token is not meant for this resource (aud)".into()),
                ttl,
            ));
        }
        let role = match a.rest.get(&self.role_claim) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Array(v)) => {
                v.first().and_then(|x| x.as_str()).map(str::to_owned)
            }
            _ => None,
        }
        .or_else(|| self.default_role.clone());
        Ok((
            Ok(Introspected {
                subject: a.sub.unwrap_or_else(|| "unknown".into()),
                scopes: a
                    .scope
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                role,
            }),
            ttl,
        ))
    }
}

/// `https://host:port/path` → (`https://host:port`, `/path`).
fn split_url(url: &str) -> (&str, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => url.split_at(after_scheme + i),
        None => (url, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_paths_follow_the_resource() {
        assert_eq!(split_url("https://a.b:8/mcp"), ("https://a.b:8", "/mcp"));
        assert_eq!(split_url("http://a"), ("http://a", ""));
        let o = OAuth::new(&OAuthConfig {
            resource: "http://127.0.0.1:9/mcp".into(),
            authorization_servers: vec!["http://as".into()],
            scopes: vec!["mcp".into()],
            introspection: None,
            role_claim: "role".into(),
            default_role: None,
        });
        assert_eq!(
            o.metadata_url(),
            "http://127.0.0.1:9/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(o.metadata().1.len(), 2);
        assert_eq!(o.missing_scopes(&["mcp".into()]), None);
        assert_eq!(o.missing_scopes(&[]).as_deref(), Some("mcp"));
    }
}
