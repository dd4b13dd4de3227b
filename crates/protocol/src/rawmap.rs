//! An ordered JSON object whose values stay raw: read or replace a few keys, copy the rest
//! verbatim. Used to rewrite `params.name`, `_meta.progressToken` or a listed tool's `name`
//! without decoding the whole payload.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

#[derive(Debug)]
enum Slot<'a> {
    Borrowed(&'a RawValue),
    Owned(Box<RawValue>),
}

impl Slot<'_> {
    fn get(&self) -> &RawValue {
        match self {
            Slot::Borrowed(r) => r,
            Slot::Owned(b) => b,
        }
    }
}

/// A JSON object as an ordered list of keys and raw values.
#[derive(Debug, Default)]
pub struct RawMap<'a> {
    entries: Vec<(Cow<'a, str>, Slot<'a>)>,
}

struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for RawMap<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct MapVisitor;
        impl<'de> Visitor<'de> for MapVisitor {
            type Value = RawMap<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawMap<'de>, A::Error> {
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(4));
                while let Some((k, v)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
                    // Parsers disagree on which of two equal keys wins; a gateway that reads
                    // one and forwards both could be steered, so duplicates are refused.
                    if entries
                        .iter()
                        .any(|(e, _): &(Cow<'de, str>, Slot<'de>)| *e == k.0)
                    {
                        return Err(de::Error::custom(format!("duplicate key `{}`", k.0)));
                    }
                    entries.push((k.0, Slot::Borrowed(v)));
                }
                Ok(RawMap { entries })
            }
        }
        d.deserialize_map(MapVisitor)
    }
}

impl Serialize for RawMap<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
            m.serialize_entry(k.as_ref(), v.get())?;
        }
        m.end()
    }
}

impl<'a> RawMap<'a> {
    /// Parse a raw JSON object. Fails if `raw` is not an object.
    pub fn parse(raw: &'a RawValue) -> Result<Self, serde_json::Error> {
        serde_json::from_str(raw.get())
    }

    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.get())
    }

    /// The value of `key` if it is a JSON string.
    pub fn get_str(&self, key: &str) -> Option<Cow<'_, str>> {
        let raw = self.get(key)?;
        serde_json::from_str::<Cow<'_, str>>(raw.get()).ok()
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.iter().any(|(k, _)| k == key)
    }

    /// Insert or replace `key`, keeping its position when it exists.
    pub fn set(&mut self, key: &str, value: Box<RawValue>) {
        if let Some(slot) = self.entries.iter_mut().find(|(k, _)| k == key) {
            slot.1 = Slot::Owned(value);
        } else {
            self.entries
                .push((Cow::Owned(key.to_owned()), Slot::Owned(value)));
        }
    }

    /// Set `key` to a JSON string.
    pub fn set_str(&mut self, key: &str, value: &str) {
        self.set(key, crate::to_raw(value));
    }

    pub fn remove(&mut self, key: &str) -> bool {
        let before = self.entries.len();
        self.entries.retain(|(k, _)| k != key);
        before != self.entries.len()
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|(k, _)| k.as_ref())
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Serialize back to an owned raw value.
    pub fn to_raw(&self) -> Box<RawValue> {
        crate::to_raw(self)
    }
}

/// `params` with the string `key` set to `value` (a routed name or URI): the same bytes when
/// it already is, else the object with that key replaced and everything else kept verbatim.
/// Missing or non-object params are invalid params.
pub fn with_param(
    params: Option<&RawValue>,
    key: &str,
    value: &str,
) -> Result<Box<RawValue>, crate::ErrorObject> {
    let params = params.ok_or_else(|| crate::ErrorObject::invalid_params("missing params"))?;
    let mut map = RawMap::parse(params)
        .map_err(|e| crate::ErrorObject::invalid_params(format!("params: {e}")))?;
    if map.get_str(key).as_deref() != Some(value) {
        map.set_str(key, value);
        Ok(map.to_raw())
    } else {
        Ok(params.to_owned())
    }
}

/// `params` without `key` (a copy of it unchanged when it has no such key or is not an object).
pub fn without_param(params: &RawValue, key: &str) -> Box<RawValue> {
    match RawMap::parse(params) {
        Ok(mut map) => {
            if map.remove(key) {
                map.to_raw()
            } else {
                params.to_owned()
            }
        }
        Err(_) => params.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_one_key_and_keeps_the_rest_verbatim() {
        let raw = RawValue::from_string(
            r#"{"name":"srv__echo","arguments":{"b":[1,2,{"c":null}],"a":"\u00e9"},"_meta":{"x":1}}"#
                .into(),
        )
        .unwrap();
        let mut m = RawMap::parse(&raw).unwrap();
        assert_eq!(m.get_str("name").as_deref(), Some("srv__echo"));
        m.set_str("name", "echo");
        assert_eq!(
            m.to_raw().get(),
            r#"{"name":"echo","arguments":{"b":[1,2,{"c":null}],"a":"\u00e9"},"_meta":{"x":1}}"#
        );
        m.set_str("new", "v");
        assert!(m.remove("_meta"));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["name", "arguments", "new"]);
    }

    #[test]
    fn escaped_keys_and_non_objects() {
        let raw = RawValue::from_string(r#"{"n\"ame":"x"}"#.into()).unwrap();
        let m = RawMap::parse(&raw).unwrap();
        assert_eq!(m.get_str("n\"ame").as_deref(), Some("x"));
        let arr = RawValue::from_string("[1]".into()).unwrap();
        assert!(RawMap::parse(&arr).is_err());
        let dup = RawValue::from_string(r#"{"name":"a","name":"b"}"#.into()).unwrap();
        let err = RawMap::parse(&dup).unwrap_err().to_string();
        assert!(err.contains("duplicate key `name`"), "{err}");
        let escaped = RawValue::from_string(r#"{"name":"a","n\u0061me":"b"}"#.into()).unwrap();
        assert!(RawMap::parse(&escaped).is_err());
    }
}
