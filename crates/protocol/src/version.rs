//! Protocol revisions Switchboard speaks and how it negotiates them.

/// Session-based revisions, newest first. A client asking for one of these gets it; any other
/// request is answered with the newest.
pub const SESSION_VERSIONS: &[&str] = &["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];

/// Stateless revisions (no `initialize`, no sessions; every request carries its version and
/// capabilities in `_meta`).
pub const MODERN_VERSIONS: &[&str] = &["2026-07-28"];

/// Every revision served, modern first: `server/discover`'s `supportedVersions` and the
/// `supported` list of an unsupported-version error.
pub const ALL_VERSIONS: &[&str] = &[
    "2026-07-28",
    "2025-11-25",
    "2025-06-18",
    "2025-03-26",
    "2024-11-05",
];

/// `_meta` keys of a modern request.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
pub const META_LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// Request metadata headers of the modern Streamable HTTP transport.
pub const HEADER_METHOD: &str = "mcp-method";
pub const HEADER_NAME: &str = "mcp-name";

pub fn is_modern(version: &str) -> bool {
    MODERN_VERSIONS.contains(&version)
}

/// The newest session-based revision.
pub const LATEST_SESSION: &str = "2025-11-25";

/// What the Streamable HTTP transport assumes when a client sends no `MCP-Protocol-Version`.
pub const HTTP_DEFAULT: &str = "2025-03-26";

/// Header names of the Streamable HTTP transport.
pub const HEADER_SESSION_ID: &str = "mcp-session-id";
pub const HEADER_PROTOCOL_VERSION: &str = "mcp-protocol-version";

pub fn is_supported(version: &str) -> bool {
    SESSION_VERSIONS.contains(&version)
}

/// The revision to answer an `initialize` with.
pub fn negotiate(requested: Option<&str>) -> &'static str {
    requested
        .and_then(|r| SESSION_VERSIONS.iter().find(|v| **v == r).copied())
        .unwrap_or(LATEST_SESSION)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negotiates_down_or_to_latest() {
        assert_eq!(negotiate(Some("2025-06-18")), "2025-06-18");
        assert_eq!(negotiate(Some("2024-11-05")), "2024-11-05");
        assert_eq!(negotiate(Some("1999-01-01")), LATEST_SESSION);
        assert_eq!(negotiate(None), LATEST_SESSION);
    }
}
