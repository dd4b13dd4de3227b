//! Getting to know an upstream, from the client side: the `initialize` handshake of the
//! session-based revisions and the `server/discover` probe of 2026-07-28. A server may accept
//! either or both; [`InitInfo`] records which.

use serde::Deserialize;
use serde_json::value::RawValue;
use switchboard_protocol::{ErrorObject, codes, to_raw, version};

use crate::CallError;

/// The protocol era of a request to an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// Session-based (2025-11-25 and earlier): after `initialize`, on the session.
    Legacy,
    /// Stateless 2026-07-28: each request carries its version and capabilities in `_meta`.
    Modern,
}

/// What an upstream told us about itself.
#[derive(Debug, Clone)]
pub struct InitInfo {
    /// The session revision `initialize` settled on, or the modern revision for a server that
    /// only speaks that.
    pub protocol_version: String,
    pub server_name: String,
    pub server_version: String,
    /// The server's capabilities object, raw (from `initialize` when it took one, else from
    /// `server/discover`).
    pub capabilities: serde_json::Value,
    pub instructions: Option<String>,
    /// The server accepted `initialize`: session-era requests work.
    pub legacy: bool,
    /// The 2026-07-28 revision the server answered `server/discover` with, if any.
    pub modern: Option<String>,
    /// The capabilities `server/discover` declared (extensions such as tasks live here).
    pub modern_capabilities: serde_json::Value,
}

impl InitInfo {
    /// What a backend serving inside the gateway says about itself: a session-era server
    /// (latest session revision; no 2026-07-28 side, so modern clients are bridged) named
    /// `name` at `version`, with these capabilities (e.g. `{"tools": {}}`).
    pub fn in_process(
        name: impl Into<String>,
        version: impl Into<String>,
        capabilities: serde_json::Value,
        instructions: Option<String>,
    ) -> InitInfo {
        InitInfo {
            protocol_version: version::LATEST_SESSION.to_owned(),
            server_name: name.into(),
            server_version: version.into(),
            capabilities,
            instructions,
            legacy: true,
            modern: None,
            modern_capabilities: serde_json::Value::Null,
        }
    }

    /// The same, also speaking 2026-07-28: for a backend that keeps no session and sends
    /// nothing to the client during a call, so modern clients are relayed to it directly
    /// (no bridge, no parked call) with the same capabilities.
    pub fn and_modern(mut self) -> InitInfo {
        self.modern = version::MODERN_VERSIONS.first().map(|v| (*v).to_owned());
        self.modern_capabilities = self.capabilities.clone();
        self
    }

    /// Whether the server declared capability `name` (e.g. `tools`, `logging`).
    pub fn has(&self, name: &str) -> bool {
        self.capabilities.get(name).is_some_and(|v| !v.is_null())
    }

    /// Whether the server's 2026-07-28 side offers extension `name`.
    pub fn has_extension(&self, name: &str) -> bool {
        self.modern_capabilities
            .get("extensions")
            .and_then(|e| e.get(name))
            .is_some_and(|v| !v.is_null())
    }

    /// Whether requests of `era` can be sent.
    pub fn speaks(&self, era: Era) -> bool {
        match era {
            Era::Legacy => self.legacy,
            Era::Modern => self.modern.is_some(),
        }
    }

    /// The era for the gateway's own requests (catalogue refreshes): the session when there is
    /// one, so that list changes keep arriving on it.
    pub fn own_era(&self) -> Era {
        if self.legacy {
            Era::Legacy
        } else {
            Era::Modern
        }
    }

    /// `"2026-07-28 + 2025-11-25"`, for status lines.
    pub fn protocols(&self) -> String {
        match (&self.modern, self.legacy) {
            (Some(m), true) => format!("{m} + {}", self.protocol_version),
            (Some(m), false) => m.clone(),
            (None, _) => self.protocol_version.clone(),
        }
    }

    /// Combine what `initialize` and `server/discover` said; `None` if neither worked.
    pub fn merge(legacy: Option<InitInfo>, modern: Option<InitInfo>) -> Option<InitInfo> {
        match (legacy, modern) {
            (Some(mut l), Some(m)) => {
                l.modern = m.modern;
                l.modern_capabilities = m.modern_capabilities;
                if l.instructions.is_none() {
                    l.instructions = m.instructions;
                }
                Some(l)
            }
            (l, m) => l.or(m),
        }
    }
}

/// The `initialize` params Switchboard sends. It declares every client capability, because it
/// relays for many clients; a request a particular client cannot take is refused per call.
pub fn initialize_params() -> Box<RawValue> {
    to_raw(&serde_json::json!({
        "protocolVersion": version::LATEST_SESSION,
        "capabilities": client_capabilities(),
        "clientInfo": client_info()
    }))
}

fn client_capabilities() -> serde_json::Value {
    serde_json::json!({
        "roots": {"listChanged": true},
        "sampling": {},
        "elicitation": {"form": {}, "url": {}}
    })
}

fn client_info() -> serde_json::Value {
    serde_json::json!({"name": "switchboard", "version": env!("CARGO_PKG_VERSION")})
}

/// The `_meta` entries of a modern request the gateway makes on its own behalf (catalogue
/// refreshes, the probe): it declares no client capabilities, since no client is asking.
pub fn own_meta() -> Vec<(&'static str, Box<RawValue>)> {
    vec![
        (
            version::META_PROTOCOL_VERSION,
            to_raw(version::MODERN_VERSIONS[0]),
        ),
        (version::META_CLIENT_INFO, to_raw(&client_info())),
        (
            version::META_CLIENT_CAPABILITIES,
            to_raw(&serde_json::json!({})),
        ),
    ]
}

/// `server/discover` params: the gateway's own modern `_meta`.
pub fn discover_params() -> Box<RawValue> {
    switchboard_protocol::meta::set_meta(None, &own_meta())
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct InitResult {
    protocol_version: String,
    #[serde(default)]
    capabilities: serde_json::Value,
    #[serde(default)]
    server_info: Option<ServerInfo>,
    #[serde(default)]
    instructions: Option<String>,
}

#[derive(Deserialize, Default)]
struct ServerInfo {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
}

/// Read an `initialize` result, refusing protocol revisions Switchboard does not speak.
pub fn parse_initialize_result(raw: &RawValue) -> Result<InitInfo, String> {
    let r: InitResult =
        serde_json::from_str(raw.get()).map_err(|e| format!("invalid initialize result: {e}"))?;
    if !version::is_supported(&r.protocol_version) {
        return Err(format!(
            "server chose protocol version {}, which Switchboard does not speak (supported: {})",
            r.protocol_version,
            version::SESSION_VERSIONS.join(", ")
        ));
    }
    let info = r.server_info.unwrap_or_default();
    Ok(InitInfo {
        protocol_version: r.protocol_version,
        server_name: info.name,
        server_version: info.version,
        capabilities: r.capabilities,
        instructions: r.instructions,
        legacy: true,
        modern: None,
        modern_capabilities: serde_json::Value::Null,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DiscoverResult {
    supported_versions: Vec<String>,
    #[serde(default)]
    capabilities: serde_json::Value,
    #[serde(default)]
    instructions: Option<String>,
    #[serde(default, rename = "_meta")]
    meta: Option<DiscoverMeta>,
}

#[derive(Deserialize)]
struct DiscoverMeta {
    #[serde(default, rename = "io.modelcontextprotocol/serverInfo")]
    server_info: Option<ServerInfo>,
}

/// What the `server/discover` probe found.
#[derive(Debug)]
pub enum Discovery {
    /// The server speaks a 2026 revision Switchboard speaks.
    Modern(Box<InitInfo>),
    /// Not a modern server (or none we share a revision with); the reason, for the log.
    Legacy(String),
    /// A modern server that refused the probe itself (-32020/-32021): a configuration problem.
    Refused(String),
}

/// Classify the outcome of a `server/discover` probe. The verdict never hangs on one error code:
/// session-era servers answer unknown methods with codes of their own choosing.
pub fn classify_discover(outcome: Result<Box<RawValue>, CallError>) -> Discovery {
    let raw = match outcome {
        Ok(raw) => raw,
        Err(CallError::Rpc(e)) => return classify_discover_error(&e),
        Err(e) => return Discovery::Legacy(format!("no usable answer to server/discover: {e}")),
    };
    let r: DiscoverResult = match serde_json::from_str(raw.get()) {
        Ok(r) => r,
        Err(e) => return Discovery::Legacy(format!("server/discover result unusable: {e}")),
    };
    let Some(modern) = r
        .supported_versions
        .iter()
        .find(|v| version::is_modern(v))
        .cloned()
    else {
        return Discovery::Legacy(format!(
            "server/discover lists only {}",
            r.supported_versions.join(", ")
        ));
    };
    let info = r.meta.and_then(|m| m.server_info).unwrap_or_default();
    Discovery::Modern(Box::new(InitInfo {
        protocol_version: modern.clone(),
        server_name: info.name,
        server_version: info.version,
        modern_capabilities: r.capabilities.clone(),
        capabilities: r.capabilities,
        instructions: r.instructions,
        legacy: false,
        modern: Some(modern),
    }))
}

fn classify_discover_error(e: &ErrorObject) -> Discovery {
    match e.code {
        codes::HEADER_MISMATCH | codes::MISSING_CLIENT_CAPABILITY => Discovery::Refused(format!(
            "the server refused Switchboard's server/discover probe ({}: {})",
            e.code, e.message
        )),
        _ => Discovery::Legacy(format!(
            "server/discover answered error {}: {}",
            e.code, e.message
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.into()).unwrap()
    }

    #[test]
    fn discover_verdicts() {
        let modern = classify_discover(Ok(raw(
            r#"{"resultType":"complete","supportedVersions":["2026-07-28","2025-11-25"],"capabilities":{"tools":{}},"_meta":{"io.modelcontextprotocol/serverInfo":{"name":"fx","version":"1"}}}"#,
        )));
        let Discovery::Modern(i) = modern else {
            panic!("{modern:?}")
        };
        assert_eq!(i.server_name, "fx");
        assert!(i.speaks(Era::Modern) && !i.speaks(Era::Legacy) && i.has("tools"));
        assert!(matches!(
            classify_discover(Ok(raw(r#"{"supportedVersions":["2025-11-25"]}"#))),
            Discovery::Legacy(_)
        ));
        assert!(matches!(
            classify_discover(Ok(raw(r#"{"tools":[]}"#))),
            Discovery::Legacy(_)
        ));
        for code in [-32601, -32602, -32600, -32000, -32022] {
            assert!(matches!(
                classify_discover(Err(CallError::Rpc(ErrorObject::new(code, "x")))),
                Discovery::Legacy(_)
            ));
        }
        assert!(matches!(
            classify_discover(Err(CallError::Rpc(ErrorObject::new(-32021, "x")))),
            Discovery::Refused(_)
        ));
        assert!(matches!(
            classify_discover(Err(CallError::Cancelled)),
            Discovery::Legacy(_)
        ));
    }

    #[test]
    fn merged_info_speaks_both() {
        let l = parse_initialize_result(&raw(
            r#"{"protocolVersion":"2025-11-25","capabilities":{"logging":{}},"serverInfo":{"name":"a","version":"1"}}"#,
        ))
        .unwrap();
        let Discovery::Modern(m) =
            classify_discover(Ok(raw(r#"{"supportedVersions":["2026-07-28"]}"#)))
        else {
            panic!()
        };
        let both = InitInfo::merge(Some(l), Some(*m)).unwrap();
        assert!(both.speaks(Era::Legacy) && both.speaks(Era::Modern));
        assert_eq!(both.protocols(), "2026-07-28 + 2025-11-25");
        assert_eq!(both.own_era(), Era::Legacy);
    }
}
