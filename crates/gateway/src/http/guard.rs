//! Edge checks before a message is read: DNS-rebinding protection (Origin and Host), content
//! negotiation, and the protocol version header.

use http::{HeaderMap, StatusCode, header};
use switchboard_config::HttpConfig;
use switchboard_protocol::version;

use super::Reject;

const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "[::1]"];

/// Origin and Host policy, computed once from config.
#[derive(Debug, Clone)]
pub struct EdgePolicy {
    origins: Vec<String>,
    any_origin: bool,
    hosts: Vec<String>,
    any_host: bool,
    loopback_only_hosts: bool,
}

impl EdgePolicy {
    pub fn new(cfg: &HttpConfig, listening_on_loopback: bool) -> Self {
        let any_origin = cfg.allowed_origins.iter().any(|o| o == "*");
        let any_host = cfg.allowed_hosts.iter().any(|h| h == "*");
        Self {
            origins: cfg
                .allowed_origins
                .iter()
                .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
            any_origin,
            hosts: cfg
                .allowed_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            any_host,
            loopback_only_hosts: cfg.allowed_hosts.is_empty() && listening_on_loopback,
        }
    }

    pub fn check(&self, headers: &HeaderMap) -> Result<(), Reject> {
        if let Some(origin) = headers.get(header::ORIGIN) {
            let origin = origin
                .to_str()
                .unwrap_or("")
                .trim_end_matches('/')
                .to_ascii_lowercase();
            if !self.origin_allowed(&origin) {
                return Err(Reject::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "Origin {origin:?} is not allowed (DNS-rebinding protection); add it to http.allowed_origins"
                    ),
                ));
            }
        }
        if !self.any_host && (self.loopback_only_hosts || !self.hosts.is_empty()) {
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| strip_port(&h.to_ascii_lowercase()).to_owned())
                .unwrap_or_default();
            let ok = if self.hosts.is_empty() {
                LOOPBACK_NAMES.contains(&host.as_str())
            } else {
                self.hosts.contains(&host)
            };
            if !ok {
                return Err(Reject::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "Host {host:?} is not allowed (DNS-rebinding protection); add it to http.allowed_hosts"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn origin_allowed(&self, origin: &str) -> bool {
        if self.any_origin || self.origins.iter().any(|o| o == origin) {
            return true;
        }
        if !self.origins.is_empty() {
            return false;
        }
        // Default: only loopback origins (a local tool's web UI), over http or https.
        let rest = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        rest.is_some_and(|hostport| LOOPBACK_NAMES.contains(&strip_port(hostport)))
    }
}

fn strip_port(hostport: &str) -> &str {
    if hostport.starts_with('[') {
        return match hostport.find(']') {
            Some(i) => &hostport[..=i],
            None => hostport,
        };
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => hostport,
    }
}

/// What the client accepts for a POST.
pub struct Accepts {
    pub json: bool,
    pub sse: bool,
}

pub fn accepts(headers: &HeaderMap) -> Accepts {
    let mut a = Accepts {
        json: false,
        sse: false,
    };
    let values = headers.get_all(header::ACCEPT);
    let mut any = false;
    for v in values {
        any = true;
        for part in v.to_str().unwrap_or("").split(',') {
            let mime = part
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            match mime.as_str() {
                "application/json" => a.json = true,
                "text/event-stream" => a.sse = true,
                "*/*" => {
                    a.json = true;
                    a.sse = true;
                }
                "application/*" => a.json = true,
                "text/*" => a.sse = true,
                _ => {}
            }
        }
    }
    if !any {
        a.json = true;
        a.sse = true;
    }
    a
}

pub fn check_content_type(headers: &HeaderMap) -> Result<(), Reject> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if ct.split(';').next().map(str::trim) == Some("application/json") {
        Ok(())
    } else {
        Err(Reject::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Content-Type must be application/json, got {ct:?}"),
        ))
    }
}

/// The `MCP-Protocol-Version` header, if present, must name a version Switchboard speaks.
pub fn protocol_version(headers: &HeaderMap) -> Result<Option<&str>, Reject> {
    let Some(v) = headers.get(version::HEADER_PROTOCOL_VERSION) else {
        return Ok(None);
    };
    let v = v.to_str().unwrap_or("").trim();
    if version::is_supported(v) {
        Ok(Some(v))
    } else {
        Err(Reject::new(
            StatusCode::BAD_REQUEST,
            format!(
                "Unsupported MCP-Protocol-Version {v:?}; supported: {}",
                version::SESSION_VERSIONS.join(", ")
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn default_policy_allows_loopback_only() {
        let p = EdgePolicy::new(&HttpConfig::default(), true);
        assert!(p.check(&headers(&[("host", "127.0.0.1:8080")])).is_ok());
        assert!(
            p.check(&headers(&[
                ("host", "localhost:8080"),
                ("origin", "http://localhost:5173")
            ]))
            .is_ok()
        );
        assert!(p.check(&headers(&[("host", "[::1]:8080")])).is_ok());
        assert!(
            p.check(&headers(&[
                ("host", "127.0.0.1:8080"),
                ("origin", "http://evil.example")
            ]))
            .is_err()
        );
        assert!(p.check(&headers(&[("host", "evil.example:8080")])).is_err());
        assert!(
            p.check(&headers(&[("host", "127.0.0.1"), ("origin", "null")]))
                .is_err()
        );
    }

    #[test]
    fn configured_lists_and_wildcards() {
        let cfg = HttpConfig {
            allowed_origins: vec!["https://app.example.com".into()],
            allowed_hosts: vec!["mcp.example.com".into()],
            ..HttpConfig::default()
        };
        let p = EdgePolicy::new(&cfg, false);
        assert!(
            p.check(&headers(&[
                ("host", "mcp.example.com"),
                ("origin", "https://app.example.com")
            ]))
            .is_ok()
        );
        assert!(
            p.check(&headers(&[
                ("host", "mcp.example.com"),
                ("origin", "http://localhost:3000")
            ]))
            .is_err()
        );
        assert!(p.check(&headers(&[("host", "other.example.com")])).is_err());
        let open = EdgePolicy::new(
            &HttpConfig {
                allowed_origins: vec!["*".into()],
                ..HttpConfig::default()
            },
            false,
        );
        assert!(
            open.check(&headers(&[("host", "anything"), ("origin", "https://x.y")]))
                .is_ok()
        );
    }

    #[test]
    fn accept_parsing() {
        let a = accepts(&headers(&[(
            "accept",
            "application/json, text/event-stream",
        )]));
        assert!(a.json && a.sse);
        let a = accepts(&headers(&[("accept", "text/html")]));
        assert!(!a.json && !a.sse);
        let a = accepts(&headers(&[("accept", "application/json;q=0.9")]));
        assert!(a.json && !a.sse);
    }
}
