//! Loading end to end: Claude Desktop entries, every problem at once, interpolation, YAML
//! errors, defaults, the Claude import, the schema's strictness, protocol eras.

use std::path::Path;

use super::*;

fn parse(yaml: &str) -> Result<Config, ConfigError> {
    from_str(yaml, Path::new("test.yaml"), &|k| match k {
        "TOKEN" => Some("s3cret".into()),
        "PORT" => Some("9000".into()),
        _ => None,
    })
}

fn problems(yaml: &str) -> Vec<String> {
    match parse(yaml) {
        Ok(_) => panic!("expected problems for:\n{yaml}"),
        Err(e) => e.problems().iter().map(|p| p.to_string()).collect(),
    }
}

#[test]
fn accepts_claude_desktop_entries_unchanged() {
    let c = parse(
        r#"
mcpServers:
  fs:
    command: npx
    args: ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]
    env: {DEBUG: "1"}
  remote:
    url: http://127.0.0.1:3001/mcp
    headers: {Authorization: "Bearer ${TOKEN}"}
"#,
    )
    .unwrap();
    assert_eq!(c.servers.len(), 2);
    assert_eq!(c.servers["fs"].kind(), TransportKind::Stdio);
    assert_eq!(c.servers["remote"].kind(), TransportKind::Http);
    assert_eq!(
        c.servers["remote"].headers["Authorization"],
        "Bearer s3cret"
    );
}

#[test]
fn reports_every_problem_at_once_with_paths_and_fixes() {
    let got = problems(
        r#"
htp: {}
http:
  listen: "nonsense"
  max_body_bytes: "big"
servers:
  a:
    comand: node
  b:
    command: x
    url: http://x
  c:
    url: ftp://x
    timeout: 0s
  d:
    command: y
    env: {K: "${MISSING}"}
"#,
    );
    let all = got.join("\n");
    for want in [
        "htp: unknown key (fix: did you mean `http`?)",
        "servers.a.comand: unknown key (fix: did you mean `command`?)",
        "http.max_body_bytes",
        "servers.d.env.K: environment variable MISSING is not set",
    ] {
        assert!(all.contains(want), "missing {want:?} in:\n{all}");
    }
    // Semantic problems appear once the schema-level ones are fixed.
    let got = problems(
        r#"
http: {listen: nonsense}
servers:
  b: {command: x, url: "http://x"}
  c: {url: "ftp://x", timeout: 0s}
  e: {}
"#,
    )
    .join("\n");
    for want in [
        "http.listen: `nonsense` is not an address",
        "servers.b: has both `command` and `url`",
        "servers.c.url: `ftp://x` is not an http(s) URL",
        "servers.c.timeout: must be above zero",
        "servers.e: has neither `command` nor `url`",
    ] {
        assert!(got.contains(want), "missing {want:?} in:\n{got}");
    }
}

/// A problem inside an optional section is named where it is, not as the whole section
/// failing every shape it may take.
#[test]
fn problems_inside_optional_sections_name_their_key() {
    let got = problems(
        r#"
audit: {path: 5, bogus: 1}
tasks:
  tools: {"x__*": {mode: sometimes}}
servers: {}
"#,
    )
    .join("\n");
    for want in [
        "audit.path: 5 is not of type \"string\"",
        "audit.bogus: unknown key",
        "tasks.tools.x__*.mode: \"sometimes\" is not one of \"optional\" or \"required\"",
    ] {
        assert!(got.contains(want), "missing {want:?} in:\n{got}");
    }
    assert!(!got.contains("anyOf"), "{got}");
    let got = problems("tasks:\n  store: redis\n  workers: 0\nservers: {}\n").join("\n");
    for want in [
        "tasks.url: is missing: the redis store needs it",
        "tasks.workers: is 0",
        "tasks.tools: names no tool",
    ] {
        assert!(got.contains(want), "missing {want:?} in:\n{got}");
    }
}

#[test]
fn interpolation_defaults_types_and_escapes() {
    let c = parse(
        r#"
http:
  listen: "127.0.0.1:${PORT}"
  max_body_bytes: ${BODY:-65536}
servers:
  s:
    command: "echo"
    args: ["$$HOME", "${NOPE:-fallback}", "plain $ sign"]
"#,
    )
    .unwrap();
    assert_eq!(c.http.listen, "127.0.0.1:9000");
    assert_eq!(c.http.max_body_bytes, 65536);
    assert_eq!(c.servers["s"].args, ["$HOME", "fallback", "plain $ sign"]);
}

#[test]
fn yaml_syntax_errors_name_the_position() {
    let got = problems("servers:\n  a: [unclosed\n").join("\n");
    assert!(got.contains("not valid YAML"), "{got}");
    assert!(got.contains("line"), "{got}");
}

#[test]
fn durations_and_prefix_clashes() {
    let c =
        parse("servers:\n  a: {command: x, timeout: 1m30s, restart: {initial_backoff: 100ms}}\n")
            .unwrap();
    assert_eq!(c.servers["a"].timeout.0.as_secs(), 90);
    let got = problems("servers:\n  a: {command: x, prefix: p}\n  b: {command: y, prefix: p}\n")
        .join("\n");
    assert!(
        got.contains("prefix `p` is also used by server `a`"),
        "{got}"
    );
    let got = problems("servers:\n  a: {command: x, timeout: soon}\n").join("\n");
    assert!(got.contains("servers.a.timeout"), "{got}");
}

#[test]
fn empty_file_is_a_valid_config_with_defaults() {
    let c = parse("").unwrap();
    assert_eq!(c.http.path, "/mcp");
    assert!(c.servers.is_empty());
}

#[test]
fn imports_claude_desktop_config() {
    let yaml = import_claude(
        r#"{"mcpServers":{"everything":{"command":"npx","args":["-y","@modelcontextprotocol/server-everything"]},"web":{"url":"http://127.0.0.1:1/mcp"}},"globalShortcut":"x"}"#,
    )
    .unwrap();
    let c = parse(&yaml).unwrap();
    assert_eq!(
        c.servers["everything"].args[1],
        "@modelcontextprotocol/server-everything"
    );
    assert!(
        !yaml.contains("timeout"),
        "defaults should not be written out:\n{yaml}"
    );
    let bad = import_claude(r#"{"mcpServers":{"x":{"comand":"a"}}}"#).unwrap_err();
    assert!(bad[0].to_string().contains("mcpServers.x"), "{:?}", bad);
}

#[test]
fn schema_is_strict() {
    let s = schema_json();
    assert_eq!(s["additionalProperties"], serde_json::Value::Bool(false));
    assert!(s["$defs"]["ServerConfig"]["properties"]["command"].is_object());
}

#[test]
fn session_isolation_is_for_stdio_servers() {
    let c = parse("servers:\n  a: {command: x, isolation: session}\n").unwrap();
    assert_eq!(c.servers["a"].isolation, Isolation::Session);
    let got = problems("servers:\n  b: {url: \"http://x\", isolation: session}\n").join("\n");
    assert!(got.contains("servers.b.isolation"), "{got}");
}

#[test]
fn protocol_eras_and_mrtr_keys() {
    let c = parse(
        r#"
mrtr: {keys: ["${TOKEN}-0123456789abcdef0123456789abcdef"], state_ttl: 2m}
servers:
  a: {command: x, protocol: modern, probe_timeout: 2s}
  b: {url: "http://127.0.0.1:1/mcp"}
"#,
    )
    .unwrap();
    assert_eq!(c.servers["a"].protocol, ProtocolMode::Modern);
    assert_eq!(c.servers["a"].probe_timeout, Dur::secs(2));
    assert_eq!(c.servers["b"].protocol, ProtocolMode::Auto);
    assert_eq!(c.mrtr.state_ttl, Dur::secs(120));
    let p = problems(
        r#"
mrtr: {keys: ["short"]}
servers:
  old: {url: "http://127.0.0.1:1/sse", type: sse, protocol: modern}
"#,
    );
    let all = p.join("\n");
    assert!(
        all.contains("mrtr.keys[0]") && all.contains("at least 32"),
        "{all}"
    );
    assert!(all.contains("servers.old.protocol"), "{all}");
    let p = problems("servers:\n  c: {command: x, protocol: newest}\n").join("\n");
    assert!(
        p.contains("servers.c.protocol") && p.contains("newest"),
        "{p}"
    );
}
