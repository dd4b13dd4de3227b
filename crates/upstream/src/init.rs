//! The `initialize` handshake with an upstream, from the client side.

use serde::Deserialize;
use serde_json::value::RawValue;
use switchboard_protocol::version;

/// What an upstream told us about itself in `initialize`.
#[derive(Debug, Clone)]
pub struct InitInfo {
    pub protocol_version: String,
    pub server_name: String,
    pub server_version: String,
    /// The server's capabilities object, raw.
    pub capabilities: serde_json::Value,
    pub instructions: Option<String>,
}

impl InitInfo {
    /// Whether the server declared capability `name` (e.g. `tools`, `logging`).
    pub fn has(&self, name: &str) -> bool {
        self.capabilities.get(name).is_some_and(|v| !v.is_null())
    }
}

/// The `initialize` params Switchboard sends. It declares every client capability, because it
/// relays for many clients; a request a particular client cannot take is refused per call.
pub fn initialize_params() -> Box<RawValue> {
    switchboard_protocol::to_raw(&serde_json::json!({
        "protocolVersion": version::LATEST_SESSION,
        "capabilities": {
            "roots": {"listChanged": true},
            "sampling": {},
            "elicitation": {"form": {}, "url": {}}
        },
        "clientInfo": {"name": "switchboard", "version": env!("CARGO_PKG_VERSION")}
    }))
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

#[derive(Deserialize)]
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
    let info = r.server_info.unwrap_or(ServerInfo {
        name: String::new(),
        version: String::new(),
    });
    Ok(InitInfo {
        protocol_version: r.protocol_version,
        server_name: info.name,
        server_version: info.version,
        capabilities: r.capabilities,
        instructions: r.instructions,
    })
}
