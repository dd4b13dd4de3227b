//! Authentication: who is calling. The HTTP edge presents the request's headers; the first
//! configured method that recognises the credential decides (API keys by their `sb_` shape,
//! JWTs by theirs and their issuer). No credential: the anonymous role if one is configured,
//! else 401. The identity carries its role's compiled policy, so the later stages need no
//! lookups. Client credentials are never forwarded upstream: upstream requests carry only the
//! headers configured for each server.

pub mod jwt;
pub mod keys;
pub mod oauth;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use http::HeaderMap;
use switchboard_config::Config;

use crate::roles::Policy;

/// Who is calling, and what their role allows.
#[derive(Debug, Clone)]
pub struct Identity {
    pub subject: Arc<str>,
    pub role: Option<Arc<str>>,
    /// How they proved it: `api_key`, `jwt`, `anonymous`, `stdio`, or `none` (no auth).
    pub method: &'static str,
    pub policy: Arc<Policy>,
}

impl Identity {
    /// The caller when authentication is off: may do everything.
    pub fn unrestricted(method: &'static str) -> Arc<Self> {
        Arc::new(Self {
            subject: Arc::from("anonymous"),
            role: None,
            method,
            policy: Policy::unrestricted(),
        })
    }
}

/// Why a request was not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("authentication required: send an API key (X-API-Key) or a bearer token")]
    Missing,
    #[error("invalid credential: {0}")]
    Invalid(String),
    #[error("the token lacks the required scope: {0}")]
    InsufficientScope(String),
}

pub struct Authenticator {
    enabled: bool,
    keys: Option<keys::KeyStore>,
    jwt: Vec<jwt::JwtVerifier>,
    anonymous: Option<Arc<Identity>>,
    stdio: Arc<Identity>,
    policies: HashMap<String, Arc<Policy>>,
    oauth: Option<oauth::OAuth>,
    /// Verified JWTs by digest, until they expire (at most [`VERIFIED_TTL`]): a client that
    /// sends the same token on every request pays for the signature check once.
    verified: parking_lot::Mutex<HashMap<[u8; 32], Trusted>>,
}

/// A verified token's identity, and until when it is trusted.
type Trusted = (std::time::Instant, Arc<Identity>);

/// Longest a verified token is trusted without checking its signature again.
const VERIFIED_TTL: std::time::Duration = std::time::Duration::from_secs(300);
/// Most cached verified tokens.
const VERIFIED_MAX: usize = 10_000;

impl Authenticator {
    /// Build from config; fails on what cannot be loaded (key file, PEM keys).
    pub fn from_config(config: &Config) -> Result<Self, String> {
        let separator = &config.federation.separator;
        let policies: HashMap<String, Arc<Policy>> = config
            .effective_roles()
            .iter()
            .map(|(name, role)| (name.clone(), Arc::new(Policy::compile(role, separator))))
            .collect();
        let Some(auth) = &config.auth else {
            return Ok(Self {
                enabled: false,
                keys: None,
                jwt: Vec::new(),
                anonymous: None,
                stdio: Identity::unrestricted("stdio"),
                policies,
                oauth: None,
                verified: Default::default(),
            });
        };
        let keys = match &auth.api_keys {
            Some(k) => Some(keys::KeyStore::open(Path::new(&k.file)).map_err(|e| e.to_string())?),
            None => None,
        };
        let jwt = auth
            .jwt
            .iter()
            .map(jwt::JwtVerifier::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let mut this = Self {
            enabled: true,
            keys,
            jwt,
            anonymous: None,
            stdio: Identity::unrestricted("stdio"),
            policies,
            oauth: auth.oauth.as_ref().map(oauth::OAuth::new),
            verified: Default::default(),
        };
        this.anonymous = auth
            .anonymous_role
            .as_deref()
            .map(|r| this.identity("anonymous", r, "anonymous"));
        let stdio_role = auth
            .stdio
            .role
            .as_deref()
            .or(auth.anonymous_role.as_deref());
        if let Some(r) = stdio_role {
            this.stdio = this.identity(&auth.stdio.subject, r, "stdio");
        }
        Ok(this)
    }

    /// Fetch what must be fetched before serving (JWKS).
    pub async fn prefetch(&self) {
        for v in &self.jwt {
            v.prefetch().await;
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The OAuth resource-server settings, when configured.
    pub fn oauth(&self) -> Option<&oauth::OAuth> {
        self.oauth.as_ref()
    }

    /// The HTTP status and `WWW-Authenticate` challenge for a refusal.
    pub fn challenge(&self, e: &AuthError) -> (u16, String) {
        let mut params = vec!["realm=\"switchboard\"".to_owned()];
        let quote = |s: &str| s.replace(['"', '\\'], "'");
        let status = match e {
            AuthError::Missing => 401,
            AuthError::Invalid(why) => {
                params.push("error=\"invalid_token\"".into());
                params.push(format!("error_description=\"{}\"", quote(why)));
                401
            }
            AuthError::InsufficientScope(missing) => {
                params.push("error=\"insufficient_scope\"".into());
                params.push(format!("scope=\"{}\"", quote(missing)));
                params.push(format!(
                    "error_description=\"the token lacks the scope {}\"",
                    quote(missing)
                ));
                403
            }
        };
        if let Some(o) = &self.oauth {
            params.push(format!("resource_metadata=\"{}\"", o.metadata_url()));
            if matches!(e, AuthError::Missing) && !o.scopes.is_empty() {
                params.push(format!("scope=\"{}\"", o.scopes.join(" ")));
            }
        }
        (status, format!("Bearer {}", params.join(", ")))
    }

    fn identity(&self, subject: &str, role: &str, method: &'static str) -> Arc<Identity> {
        let policy = self.policies.get(role).cloned().unwrap_or_else(|| {
            tracing::warn!(
                role,
                subject,
                "credential names a role that is not configured; it may do nothing"
            );
            Policy::nothing()
        });
        Arc::new(Identity {
            subject: Arc::from(subject),
            role: Some(Arc::from(role)),
            method,
            policy,
        })
    }

    /// The identity of a caller known by what was recorded of it (a durable task's owner):
    /// its subject, role and how it authenticated, with the role's policy in force now. A
    /// role no longer configured may do nothing; without a role, the caller is unrestricted
    /// only if authentication is off (or it was the local stdio user).
    /// The compiled policy of role `name`, if it is configured.
    pub fn role_policy(&self, name: &str) -> Option<Arc<Policy>> {
        self.policies.get(name).cloned()
    }

    pub fn identity_of(&self, subject: &str, role: Option<&str>, method: &str) -> Arc<Identity> {
        let method: &'static str = match method {
            "api_key" => "api_key",
            "jwt" => "jwt",
            "oauth" => "oauth",
            "anonymous" => "anonymous",
            "stdio" => "stdio",
            "none" => "none",
            _ => "task",
        };
        match role {
            Some(r) => self.identity(subject, r, method),
            None => Arc::new(Identity {
                subject: Arc::from(subject),
                role: None,
                method,
                policy: if !self.enabled {
                    Policy::unrestricted()
                } else if method == "stdio" {
                    self.stdio.policy.clone()
                } else {
                    Policy::nothing()
                },
            }),
        }
    }

    /// The identity of the stdio client.
    pub fn stdio_identity(&self) -> Arc<Identity> {
        self.stdio.clone()
    }

    /// Authenticate an HTTP request by its headers.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Arc<Identity>, AuthError> {
        if !self.enabled {
            return Ok(Identity::unrestricted("none"));
        }
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        };
        let bearer = header("authorization").and_then(|a| {
            let (scheme, rest) = a.split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
        let presented = match (header("x-api-key"), bearer) {
            (Some(k), _) => k,
            (None, Some(b)) => b,
            (None, None) => {
                if header("authorization").is_some() {
                    return Err(AuthError::Invalid(
                        "only Bearer authorization is accepted".into(),
                    ));
                }
                return self.anonymous.clone().ok_or(AuthError::Missing);
            }
        };
        if keys::KeyStore::looks_like_key(presented) {
            let store = self
                .keys
                .as_ref()
                .ok_or_else(|| AuthError::Invalid("API keys are not accepted here".into()))?;
            let holder = store
                .verify(presented)
                .ok_or_else(|| AuthError::Invalid("unknown or revoked API key".into()))?;
            return Ok(self.identity(&format!("key:{}", holder.name), &holder.role, "api_key"));
        }
        let issuer = jwt::looks_like_jwt(presented)
            .then(|| jwt::issuer_of(presented))
            .flatten();
        let verifier = issuer
            .as_deref()
            .and_then(|iss| self.jwt.iter().find(|v| v.issuer() == iss));
        if let (Some(o), None) = (&self.oauth, verifier)
            && o.can_introspect()
        {
            // Opaque (or not locally verifiable) token: ask the authorization server.
            let t = o.introspect(presented).await.map_err(|e| {
                tracing::info!(error = %e, "introspected token refused");
                AuthError::Invalid(e)
            })?;
            if let Some(missing) = o.missing_scopes(&t.scopes) {
                return Err(AuthError::InsufficientScope(missing));
            }
            let role = t.role.clone().ok_or_else(|| {
                AuthError::Invalid(
                    "the token carries no role and oauth.default_role is unset".into(),
                )
            })?;
            return Ok(self.identity(&format!("oauth:{}", t.subject), &role, "oauth"));
        }
        if jwt::looks_like_jwt(presented) && !self.jwt.is_empty() {
            use sha2::Digest;
            let digest: [u8; 32] = sha2::Sha256::digest(presented.as_bytes()).into();
            if let Some((until, id)) = self.verified.lock().get(&digest)
                && std::time::Instant::now() < *until
            {
                return Ok(id.clone());
            }
            let iss =
                issuer.ok_or_else(|| AuthError::Invalid(jwt::JwtError::Malformed.to_string()))?;
            let verifier = verifier
                .ok_or_else(|| AuthError::Invalid(jwt::JwtError::UnknownIssuer.to_string()))?;
            let v = verifier.verify(presented).await.map_err(|e| {
                tracing::info!(issuer = %iss, error = %e, "bearer token refused");
                AuthError::Invalid(e.to_string())
            })?;
            if let Some(missing) = self
                .oauth
                .as_ref()
                .and_then(|o| o.missing_scopes(&v.scopes))
            {
                return Err(AuthError::InsufficientScope(missing));
            }
            let role = v
                .roles
                .iter()
                .find(|r| self.policies.contains_key(*r))
                .or(v.roles.first())
                .cloned()
                .unwrap_or_default();
            let id = self.identity(&format!("jwt:{iss}:{}", v.subject), &role, "jwt");
            let now_s = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            let left = v.exp.map_or(VERIFIED_TTL, |e| {
                std::time::Duration::from_secs(e.saturating_sub(now_s))
            });
            let mut cache = self.verified.lock();
            if cache.len() >= VERIFIED_MAX {
                let now = std::time::Instant::now();
                cache.retain(|_, (until, _)| *until > now);
                if cache.len() >= VERIFIED_MAX {
                    cache.clear();
                }
            }
            cache.insert(
                digest,
                (
                    std::time::Instant::now() + left.min(VERIFIED_TTL),
                    id.clone(),
                ),
            );
            return Ok(id);
        }
        Err(AuthError::Invalid("credential not recognised".into()))
    }
}

#[cfg(test)]
mod tests;
