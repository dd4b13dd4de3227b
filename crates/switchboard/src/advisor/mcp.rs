//! The decision-support tools as an MCP server: [`handle`] answers one request, for the
//! hidden `switchboard advisor` over stdio (one JSON-RPC message per line, [`serve`]) and for
//! the gateway's in-process backend (`backend.rs`) alike.
//!
//! Session-era protocol only (2025-11-25 down to 2024-11-05, negotiated): `server/discover`
//! gets -32601, so the gateway treats it as a session-era server and bridges 2026-07-28
//! clients. The tools are pure computations, so requests are answered in order as they come.

use serde_json::{Map, Value, json};
use switchboard_protocol::{
    ErrorObject, Id, Message, RawValue, methods, parse_message, to_raw, version,
};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

use super::tools;

/// Longest line read; a longer one is refused (and skipped) rather than buffered.
const MAX_LINE: usize = 1024 * 1024;

pub const SERVER_NAME: &str = "switchboard-advisor";

/// The `instructions` the server gives clients.
pub const INSTRUCTIONS: &str = "Decision support for custom MCP servers. `decision_matrix` answers build, use or adapt from six factors; `roi` says whether building pays (more than $50K of value a year, break-even within the evaluation period).";

/// The server's capabilities: tools, whose list never changes.
pub fn capabilities() -> Value {
    json!({"tools": {"listChanged": false}})
}

/// Serve MCP on stdin/stdout until stdin ends.
pub async fn serve_stdio() -> anyhow::Result<()> {
    serve(tokio::io::stdin(), tokio::io::stdout()).await
}

/// Serve MCP on a pair of streams until the input ends.
pub async fn serve(
    input: impl AsyncRead + Unpin,
    mut output: impl AsyncWrite + Unpin,
) -> anyhow::Result<()> {
    let mut reader = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line)
            .await?;
        if n == 0 {
            return Ok(());
        }
        if line.len() > MAX_LINE && line.last() != Some(&b'\n') {
            // Skip the rest of the oversized line, then refuse it.
            let mut rest = Vec::new();
            loop {
                rest.clear();
                let m = (&mut reader)
                    .take(MAX_LINE as u64)
                    .read_until(b'\n', &mut rest)
                    .await?;
                if m == 0 || rest.last() == Some(&b'\n') {
                    break;
                }
            }
            let err = ErrorObject::invalid_request(format!("message longer than {MAX_LINE} bytes"));
            write(&mut output, &Message::response(Id::Null, Err(err))).await?;
            continue;
        }
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Some(reply) = handle_line(&line) {
            write(&mut output, &reply).await?;
        }
    }
}

async fn write(out: &mut (impl AsyncWrite + Unpin), msg: &Message) -> anyhow::Result<()> {
    let mut bytes = msg.to_vec();
    bytes.push(b'\n');
    out.write_all(&bytes).await?;
    out.flush().await?;
    Ok(())
}

/// The answer to one line, if it needs one (requests and unreadable messages do).
pub fn handle_line(line: &[u8]) -> Option<Message> {
    match parse_message(line) {
        Err(f) => Some(Message::response(f.id, Err(f.error))),
        Ok(Message::Request(req)) => Some(Message::response(
            req.id.clone(),
            handle(&req.method, req.params.as_deref()),
        )),
        // `notifications/initialized`, `notifications/cancelled` (every call is answered at
        // once, so there is nothing to cancel) and any other notification or response.
        Ok(Message::Notification(_) | Message::Response(_)) => None,
    }
}

fn params(raw: Option<&RawValue>) -> Result<Map<String, Value>, ErrorObject> {
    match raw {
        None => Ok(Map::new()),
        Some(raw) => match serde_json::from_str::<Value>(raw.get()) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(ErrorObject::invalid_params("`params` must be an object")),
        },
    }
}

/// The result of request `method` with `params`, or its JSON-RPC error (`-32601` for a method
/// the server does not serve, `-32602` for unusable params or an unknown tool).
pub fn handle(method: &str, raw: Option<&RawValue>) -> Result<Box<RawValue>, ErrorObject> {
    match method {
        methods::INITIALIZE => {
            let p = params(raw)?;
            let requested = p.get("protocolVersion").and_then(Value::as_str);
            Ok(to_raw(&json!({
                "protocolVersion": version::negotiate(requested),
                "capabilities": capabilities(),
                "serverInfo": {
                    "name": SERVER_NAME,
                    "title": "Switchboard decision support",
                    "version": env!("CARGO_PKG_VERSION")
                },
                "instructions": INSTRUCTIONS
            })))
        }
        methods::PING => Ok(switchboard_protocol::empty_object()),
        methods::TOOLS_LIST => Ok(to_raw(&json!({"tools": tools::definitions()}))),
        methods::TOOLS_CALL => call(&params(raw)?),
        other => Err(ErrorObject::method_not_found(other)),
    }
}

fn call(p: &Map<String, Value>) -> Result<Box<RawValue>, ErrorObject> {
    let name = match p.get("name") {
        Some(Value::String(n)) => n.as_str(),
        _ => return Err(ErrorObject::invalid_params("`name` must be a tool name")),
    };
    let empty = Map::new();
    let args = match p.get("arguments") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(a)) => a,
        Some(_) => {
            return Err(ErrorObject::invalid_params("`arguments` must be an object"));
        }
    };
    let result = match tools::call(name, args) {
        None => {
            return Err(ErrorObject::invalid_params(format!("Unknown tool: {name}")));
        }
        // The readable report as text; the same data, typed, as structured content. (The
        // spec's JSON-in-text fallback would only repeat the report for older clients.)
        Some(Ok((text, structured))) => json!({
            "content": [{"type": "text", "text": text}],
            "structuredContent": structured,
            "isError": false
        }),
        Some(Err(message)) => json!({
            "content": [{"type": "text", "text": message}],
            "isError": true
        }),
    };
    Ok(to_raw(&result))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ask(line: &str) -> Value {
        let m = handle_line(line.as_bytes()).expect("an answer");
        serde_json::from_slice(&m.to_vec()).unwrap()
    }

    #[test]
    fn initialize_negotiates_the_version() {
        for (asked, got) in [
            ("2025-11-25", "2025-11-25"),
            ("2025-06-18", "2025-06-18"),
            ("2025-03-26", "2025-03-26"),
            ("2024-11-05", "2024-11-05"),
            ("2099-01-01", "2025-11-25"),
        ] {
            let v = ask(&format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"initialize","params":{{"protocolVersion":"{asked}","capabilities":{{}},"clientInfo":{{"name":"t","version":"1"}}}}}}"#
            ));
            assert_eq!(v["result"]["protocolVersion"], got, "{v}");
            assert_eq!(v["id"], 1);
            assert!(v["result"]["capabilities"]["tools"].is_object());
        }
    }

    #[test]
    fn errors_and_notifications() {
        let v = ask("{not json");
        assert_eq!(v["error"]["code"], -32700, "{v}");
        assert!(v["id"].is_null());
        let v = ask(r#"{"jsonrpc":"2.0","id":"a","method":"server/discover"}"#);
        assert_eq!(v["error"]["code"], -32601);
        assert_eq!(v["id"], "a");
        let v = ask(r#"{"jsonrpc":"2.0","id":2,"method":"resources/list"}"#);
        assert_eq!(v["error"]["code"], -32601);
        let v = ask(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"nope"}}"#);
        assert_eq!(v["error"]["code"], -32602);
        assert!(v["error"]["message"].as_str().unwrap().contains("nope"));
        let v = ask(r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#);
        assert_eq!(v["result"], json!({}));
        assert!(
            handle_line(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#).is_none()
        );
    }

    #[test]
    fn a_bad_argument_is_a_tool_error() {
        let v = ask(
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"roi","arguments":{"development_hours":-1,"developer_hourly_rate":1,"time_saved_per_use":1,"uses_per_month":1,"team_size":1,"months_to_evaluate":1}}}"#,
        );
        assert_eq!(v["result"]["isError"], true, "{v}");
        let text = v["result"]["content"][0]["text"].as_str().unwrap();
        assert!(text.contains("development_hours"), "{text}");
        assert!(v["result"].get("structuredContent").is_none());
    }

    #[tokio::test]
    async fn serves_lines_until_the_input_ends() {
        let input = concat!(
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
            "\n",
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            "\n\n",
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
            "\n"
        );
        let mut out = Vec::new();
        serve(input.as_bytes(), &mut out).await.unwrap();
        let lines: Vec<Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["result"]["protocolVersion"], "2025-06-18");
        let names: Vec<&str> = lines[1]["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["roi", "decision_matrix"]);
    }

    #[tokio::test]
    async fn an_oversized_line_is_refused_and_skipped() {
        let mut input = vec![b'x'; MAX_LINE + 10];
        input.push(b'\n');
        input.extend_from_slice(br#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#);
        input.push(b'\n');
        let mut out = Vec::new();
        serve(input.as_slice(), &mut out).await.unwrap();
        let lines: Vec<Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert_eq!(lines[0]["error"]["code"], -32600);
        assert_eq!(lines[1]["id"], 9);
    }
}
