//! Telling an HTTP API who is calling (`forward_identity`): a short-lived JWT the gateway signs
//! (subject, role and how the caller authenticated; issuer, audience, key and lifetime from
//! the config), and/or plain headers for trusted internal APIs. The caller comes from the
//! gateway with each call (`CallOptions::on_behalf_of`); the client's own credential is never
//! passed on. Tokens are reused per caller until less than half their lifetime is left.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use switchboard_config::ForwardIdentity;
use switchboard_gateway::Identity;

/// (how the caller authenticated, subject, role).
type CacheKey = (String, String, String);

/// Most tokens kept; past it the cache starts over.
const MAX_CACHED: usize = 10_000;

pub struct Forward {
    jwt: Option<Signer>,
    header: Option<HeaderName>,
    role_header: Option<HeaderName>,
}

struct Signer {
    key: EncodingKey,
    algorithm: Algorithm,
    issuer: String,
    audience: String,
    ttl: Duration,
    header: HeaderName,
    bearer: bool,
    /// (how the caller authenticated, subject, role) → (header value, when it stops being
    /// reused).
    cache: Mutex<HashMap<CacheKey, (HeaderValue, SystemTime)>>,
}

impl Forward {
    /// Build from the entry's `forward_identity`; errors name the key.
    pub fn new(server: &str, f: &ForwardIdentity) -> Result<Self, String> {
        let at = |k: &str| format!("servers.{server}.forward_identity.{k}");
        let name = |k: &str, h: &str| {
            HeaderName::from_bytes(h.as_bytes())
                .map_err(|_| format!("{}: `{h}` is not a header name", at(k)))
        };
        let jwt = match &f.jwt {
            None => None,
            Some(j) => {
                let algorithm: Algorithm = j
                    .algorithm
                    .to_ascii_uppercase()
                    .replace("EDDSA", "EdDSA")
                    .parse()
                    .map_err(|_| {
                        format!(
                            "{}: `{}` is not a JWT algorithm",
                            at("jwt.algorithm"),
                            j.algorithm
                        )
                    })?;
                let key = match (&j.secret, &j.private_key_file) {
                    (Some(s), _) if j.algorithm.to_ascii_uppercase().starts_with("HS") => {
                        EncodingKey::from_secret(s.as_bytes())
                    }
                    (_, Some(file)) => {
                        let pem = std::fs::read(file)
                            .map_err(|e| format!("{}: {file}: {e}", at("jwt.private_key_file")))?;
                        let parsed = match algorithm {
                            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(&pem),
                            Algorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
                            _ => EncodingKey::from_rsa_pem(&pem),
                        };
                        parsed.map_err(|e| {
                            format!(
                                "{}: {file} is not a {} private key in PEM: {e}",
                                at("jwt.private_key_file"),
                                j.algorithm
                            )
                        })?
                    }
                    _ => {
                        return Err(format!(
                            "{}: a secret or a private key file is needed",
                            at("jwt")
                        ));
                    }
                };
                Some(Signer {
                    key,
                    algorithm,
                    issuer: j.issuer.clone(),
                    audience: j.audience.clone(),
                    ttl: j.ttl.0,
                    bearer: j.header.eq_ignore_ascii_case("authorization"),
                    header: name("jwt.header", &j.header)?,
                    cache: Mutex::new(HashMap::new()),
                })
            }
        };
        Ok(Self {
            jwt,
            header: f.header.as_deref().map(|h| name("header", h)).transpose()?,
            role_header: f
                .role_header
                .as_deref()
                .map(|h| name("role_header", h))
                .transpose()?,
        })
    }

    /// The headers stating `who` to the API.
    pub fn headers(&self, who: &Identity) -> Result<HeaderMap, String> {
        let mut h = HeaderMap::new();
        let role = who.role.as_deref().unwrap_or("");
        if let Some(name) = &self.header {
            let v = HeaderValue::from_str(&who.subject)
                .map_err(|_| "the caller's subject is not a valid header value".to_owned())?;
            h.insert(name.clone(), v);
        }
        if let (Some(name), Some(r)) = (&self.role_header, &who.role)
            && let Ok(v) = HeaderValue::from_str(r)
        {
            h.insert(name.clone(), v);
        }
        if let Some(s) = &self.jwt {
            h.insert(s.header.clone(), s.token(&who.subject, role, who.method)?);
        }
        Ok(h)
    }
}

impl Signer {
    fn token(&self, subject: &str, role: &str, method: &str) -> Result<HeaderValue, String> {
        let now = SystemTime::now();
        let key = (method.to_owned(), subject.to_owned(), role.to_owned());
        if let Ok(cache) = self.cache.lock()
            && let Some((v, until)) = cache.get(&key)
            && now < *until
        {
            return Ok(v.clone());
        }
        let iat = now
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let claims = serde_json::json!({
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "role": role,
            "auth": method,
            "iat": iat,
            "nbf": iat,
            "exp": iat + self.ttl.as_secs().max(1),
        });
        let token = jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.key)
            .map_err(|e| format!("cannot sign the identity token: {e}"))?;
        let value = if self.bearer {
            format!("Bearer {token}")
        } else {
            token
        };
        let value = HeaderValue::from_str(&value).map_err(|e| e.to_string())?;
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= MAX_CACHED {
                cache.clear();
            }
            cache.insert(key, (value.clone(), now + self.ttl / 2));
        }
        Ok(value)
    }
}
