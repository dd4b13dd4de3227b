//! MCP log levels (`logging/setLevel`, `notifications/message`): the RFC 5424 names in order,
//! as small integers the gateway compares.

use serde_json::value::RawValue;

/// Log levels in RFC 5424 order, as MCP names them.
pub const LEVELS: [&str; 8] = [
    "debug",
    "info",
    "notice",
    "warning",
    "error",
    "critical",
    "alert",
    "emergency",
];

/// The index of a level name (`debug` = 0 … `emergency` = 7).
pub fn level_index(level: &str) -> Option<u8> {
    LEVELS
        .iter()
        .position(|l| *l == level)
        .and_then(|i| u8::try_from(i).ok())
}

/// The level of a `notifications/message` (its params), `debug` if unreadable.
pub fn message_level(params: Option<&RawValue>) -> u8 {
    #[derive(serde::Deserialize)]
    struct P<'a> {
        #[serde(borrow)]
        level: Option<&'a str>,
    }
    params
        .and_then(|p| serde_json::from_str::<P<'_>>(p.get()).ok())
        .and_then(|p| p.level.and_then(level_index))
        .unwrap_or(0)
}

/// The name of a level index (`debug` for an out-of-range one).
pub fn level_name(index: u8) -> &'static str {
    LEVELS.get(usize::from(index)).copied().unwrap_or("debug")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_indices_round_trip_in_severity_order() {
        for (i, name) in LEVELS.iter().enumerate() {
            let idx = level_index(name).unwrap();
            assert_eq!(usize::from(idx), i);
            assert_eq!(level_name(idx), *name);
        }
        assert_eq!(level_index("warn"), None);
        assert_eq!(level_name(200), "debug");
        let raw = crate::to_raw(&serde_json::json!({"level": "error", "data": "x"}));
        assert_eq!(message_level(Some(&raw)), 4);
        let odd = crate::to_raw(&serde_json::json!({"level": 3}));
        assert_eq!(message_level(Some(&odd)), 0);
        assert_eq!(message_level(None), 0);
    }
}
