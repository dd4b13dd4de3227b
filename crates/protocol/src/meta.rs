//! Stamping keys into a request's `params._meta` without re-encoding the rest.

use serde_json::value::RawValue;

use crate::{RawMap, empty_object};

/// `params` (or `{}`) with each `(key, value)` set in its `_meta`, replacing what was there
/// under that key; every other key, in `params` and in `_meta`, is kept verbatim. Params that
/// are not an object are returned unchanged.
pub fn set_meta(params: Option<&RawValue>, entries: &[(&str, Box<RawValue>)]) -> Box<RawValue> {
    let empty = empty_object();
    let params = params.unwrap_or(&empty);
    let Ok(mut map) = RawMap::parse(params) else {
        return params.to_owned();
    };
    let mut meta = map
        .get("_meta")
        .and_then(|m| RawMap::parse(m).ok())
        .unwrap_or_default();
    for (k, v) in entries {
        meta.set(k, v.clone());
    }
    let meta = meta.to_raw();
    map.set("_meta", meta);
    map.to_raw()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::to_raw;

    #[test]
    fn stamps_and_keeps_the_rest() {
        let p = RawValue::from_string(r#"{"name":"t","_meta":{"progressToken":3,"a":1}}"#.into())
            .unwrap();
        let out = set_meta(Some(&p), &[("a", to_raw(&2)), ("b", to_raw("x"))]);
        assert_eq!(
            out.get(),
            r#"{"name":"t","_meta":{"progressToken":3,"a":2,"b":"x"}}"#
        );
        assert_eq!(
            set_meta(None, &[("k", to_raw(&1))]).get(),
            r#"{"_meta":{"k":1}}"#
        );
    }
}
