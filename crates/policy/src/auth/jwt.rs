//! JWT bearer tokens: one verifier per configured issuer, its algorithm pinned (a token whose
//! header names another algorithm is refused before any key is touched, so an RS256 public key
//! can never be used as an HS256 secret, and `none` never verifies). Keys are a secret, a PEM
//! public key, or a JWKS fetched at start, cached, and refetched on an unknown `kid` (at most
//! every 30 s) or when `jwks_refresh` has passed.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use parking_lot::RwLock;
use switchboard_config::JwtConfig;

/// Why a token was refused (for the log and the `WWW-Authenticate` description).
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("the token is not a JWT")]
    Malformed,
    #[error("no configured issuer matches the token's `iss`")]
    UnknownIssuer,
    #[error("the token's algorithm is not the one configured for its issuer")]
    WrongAlgorithm,
    #[error("no key for the token's `kid`")]
    UnknownKey,
    #[error("the token is invalid: {0}")]
    Invalid(String),
    #[error("the token carries no role and its issuer has no default_role")]
    NoRole,
    #[error("cannot build the verifier: {0}")]
    Setup(String),
}

/// What a verified token says.
#[derive(Debug, Clone)]
pub struct Verified {
    pub subject: String,
    /// Candidate roles from the role claim, in order.
    pub roles: Vec<String>,
    /// OAuth scopes (`scope`, space-separated, or `scp`).
    pub scopes: Vec<String>,
    /// Seconds since the epoch when the token expires.
    pub exp: Option<u64>,
}

enum Keys {
    Static(Box<DecodingKey>),
    Jwks {
        url: String,
        refresh: Duration,
        cache: RwLock<JwksCache>,
    },
}

struct JwksCache {
    keys: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
    /// Last refetch caused by an unknown `kid` (rate-limited, so random kids cannot make the
    /// gateway hammer the issuer).
    refetched_for_kid: Option<Instant>,
}

pub struct JwtVerifier {
    issuer: String,
    alg: Algorithm,
    validation: Validation,
    keys: Keys,
    role_claim: Vec<String>,
    default_role: Option<String>,
    client: reqwest::Client,
}

/// Least time between two JWKS fetches caused by unknown `kid`s.
const REFETCH_FLOOR: Duration = Duration::from_secs(30);

impl JwtVerifier {
    pub fn new(cfg: &JwtConfig) -> Result<Self, JwtError> {
        let alg =
            Algorithm::from_str(&cfg.algorithm.to_ascii_uppercase().replace("EDDSA", "EdDSA"))
                .map_err(|e| JwtError::Setup(format!("algorithm {}: {e}", cfg.algorithm)))?;
        let mut validation = Validation::new(alg);
        validation.set_issuer(&[&cfg.issuer]);
        validation.set_audience(&cfg.audience);
        validation.leeway = cfg.leeway.0.as_secs();
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        let pem = |bytes: &[u8]| -> Result<DecodingKey, JwtError> {
            let k = match alg {
                Algorithm::RS256
                | Algorithm::RS384
                | Algorithm::RS512
                | Algorithm::PS256
                | Algorithm::PS384
                | Algorithm::PS512 => DecodingKey::from_rsa_pem(bytes),
                Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(bytes),
                Algorithm::EdDSA => DecodingKey::from_ed_pem(bytes),
                _ => return Err(JwtError::Setup("an HS* algorithm takes `secret`".into())),
            };
            k.map_err(|e| JwtError::Setup(format!("public key: {e}")))
        };
        let keys = match (
            &cfg.secret,
            &cfg.public_key,
            &cfg.public_key_file,
            &cfg.jwks_url,
        ) {
            (Some(s), _, _, _) => Keys::Static(Box::new(DecodingKey::from_secret(s.as_bytes()))),
            (_, Some(p), _, _) => Keys::Static(Box::new(pem(p.as_bytes())?)),
            (_, _, Some(f), _) => {
                let bytes = std::fs::read(f)
                    .map_err(|e| JwtError::Setup(format!("public_key_file {f}: {e}")))?;
                Keys::Static(Box::new(pem(&bytes)?))
            }
            (_, _, _, Some(url)) => Keys::Jwks {
                url: url.clone(),
                refresh: cfg.jwks_refresh.0,
                cache: RwLock::new(JwksCache {
                    keys: HashMap::new(),
                    fetched: None,
                    refetched_for_kid: None,
                }),
            },
            _ => return Err(JwtError::Setup("no key source".into())),
        };
        Ok(Self {
            issuer: cfg.issuer.clone(),
            alg,
            validation,
            keys,
            role_claim: cfg.role_claim.split('.').map(str::to_owned).collect(),
            default_role: cfg.default_role.clone(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Fetch the JWKS now (at start, so the first request does not wait).
    pub async fn prefetch(&self) {
        if matches!(self.keys, Keys::Jwks { .. })
            && let Err(e) = self.fetch().await
        {
            tracing::warn!(issuer = %self.issuer, error = %e, "cannot fetch JWKS; will retry on the first token");
        }
    }

    async fn fetch(&self) -> Result<(), JwtError> {
        let Keys::Jwks { url, cache, .. } = &self.keys else {
            return Ok(());
        };
        cache.write().fetched = Some(Instant::now());
        let set: JwkSet = self
            .client
            .get(url)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| JwtError::Setup(format!("fetching {url}: {e}")))?
            .json()
            .await
            .map_err(|e| JwtError::Setup(format!("JWKS from {url}: {e}")))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk))
            else {
                continue;
            };
            keys.insert(kid, key);
        }
        tracing::info!(issuer = %self.issuer, keys = keys.len(), "JWKS fetched");
        cache.write().keys = keys;
        Ok(())
    }

    /// The key for `kid`, fetching the JWKS when it is unknown (rate-limited) or stale.
    async fn key(&self, kid: Option<&str>) -> Result<DecodingKey, JwtError> {
        match &self.keys {
            Keys::Static(k) => Ok((**k).clone()),
            Keys::Jwks { refresh, cache, .. } => {
                let kid = kid.ok_or(JwtError::UnknownKey)?;
                let (hit, fetched, refetched) = {
                    let c = cache.read();
                    (c.keys.get(kid).cloned(), c.fetched, c.refetched_for_kid)
                };
                let stale = fetched.is_none_or(|t| t.elapsed() > *refresh);
                if let Some(k) = hit
                    && !stale
                {
                    return Ok(k);
                }
                let may_refetch = refetched.is_none_or(|t| t.elapsed() > REFETCH_FLOOR);
                if stale || may_refetch {
                    if !stale {
                        cache.write().refetched_for_kid = Some(Instant::now());
                    }
                    if let Err(e) = self.fetch().await {
                        tracing::warn!(issuer = %self.issuer, error = %e, "JWKS refresh failed");
                    }
                }
                cache
                    .read()
                    .keys
                    .get(kid)
                    .cloned()
                    .ok_or(JwtError::UnknownKey)
            }
        }
    }

    pub async fn verify(&self, token: &str) -> Result<Verified, JwtError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| JwtError::Malformed)?;
        if header.alg != self.alg {
            return Err(JwtError::WrongAlgorithm);
        }
        let key = self.key(header.kid.as_deref()).await?;
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &self.validation)
            .map_err(|e| JwtError::Invalid(e.to_string()))?;
        let claims = data.claims;
        let subject = claims
            .get("sub")
            .and_then(|s| s.as_str())
            .unwrap_or("unknown")
            .to_owned();
        let claim = self.role_claim.iter().try_fold(&claims, |v, k| v.get(k));
        let mut roles = claim_words(claim);
        if roles.is_empty() {
            roles.push(self.default_role.clone().ok_or(JwtError::NoRole)?);
        }
        let scopes = claim_words(claims.get("scope").or_else(|| claims.get("scp")));
        Ok(Verified {
            subject,
            roles,
            scopes,
            exp: claims.get("exp").and_then(serde_json::Value::as_u64),
        })
    }
}

/// The unverified `iss` of a token, to pick its verifier.
pub fn issuer_of(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = B64.decode(payload.trim_end_matches('=')).ok()?;
    #[derive(serde::Deserialize)]
    struct P {
        iss: Option<String>,
    }
    serde_json::from_slice::<P>(&bytes).ok()?.iss
}

/// Whether a bearer credential has a JWT's shape.
pub fn looks_like_jwt(token: &str) -> bool {
    token.split('.').count() == 3
}

/// A claim holding words: a space-separated string (`"a b"`) or an array of strings.
fn claim_words(claim: Option<&serde_json::Value>) -> Vec<String> {
    match claim {
        Some(serde_json::Value::String(s)) => s.split_whitespace().map(str::to_owned).collect(),
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}
