//! Values of the modern Streamable HTTP request headers (`Mcp-Name`, `Mcp-Param-*`): trimmed,
//! and decoded from the `=?base64?…?=` sentinel form clients use for values that are not
//! plain visible ASCII.

use base64::Engine;

/// Decode a header value: trim optional whitespace, then decode the base64 sentinel if the
/// whole value has that form. `None` if the sentinel's content is not valid base64 UTF-8.
pub fn decode_value(raw: &str) -> Option<String> {
    let v = raw.trim_matches(|c| c == ' ' || c == '\t');
    match v
        .strip_prefix("=?base64?")
        .and_then(|r| r.strip_suffix("?="))
    {
        Some(b64) => {
            let bytes = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
            String::from_utf8(bytes).ok()
        }
        None => Some(v.to_owned()),
    }
}

/// Encode a value for a header: plain if it is visible ASCII without leading or trailing
/// whitespace, else the `=?base64?…?=` sentinel form.
pub fn encode_value(value: &str) -> String {
    let plain = !value.is_empty()
        && value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with(' ')
        && !value.ends_with(' ')
        && !value.starts_with("=?base64?");
    if plain {
        value.to_owned()
    } else {
        format!(
            "=?base64?{}?=",
            base64::engine::general_purpose::STANDARD.encode(value)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_decodes_the_sentinel() {
        assert_eq!(decode_value("  tools_x \t").as_deref(), Some("tools_x"));
        assert_eq!(
            decode_value("=?base64?aMOpbGxv?=").as_deref(),
            Some("héllo")
        );
        assert_eq!(decode_value("=?base64?###?="), None);
        for v in ["tools_x", "héllo", " x", "=?base64?no?=", "a\nb"] {
            assert_eq!(decode_value(&encode_value(v)).as_deref(), Some(v));
        }
        assert_eq!(encode_value("plain/name"), "plain/name");
        assert_eq!(
            decode_value("=?base64?abc").as_deref(),
            Some("=?base64?abc")
        );
    }
}
