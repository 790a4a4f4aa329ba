//! [`Extra`]: the fields of a JSON object that this version has no typed field for.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// Fields a server sent (or a caller wants to send) that have no typed field here, kept as sent
/// and serialized back at the same level.
///
/// Empty in nearly every object, so it is a pointer that is null until the first field: an
/// empty `Extra` costs nothing to create, move or drop, which matters for streamed chunks.
///
/// ```
/// use gptproto_proto::wire::Extra;
/// use serde_json::json;
///
/// let mut extra = Extra::new();
/// assert!(extra.is_empty());
/// extra.insert("timings", json!({"predicted_n": 3}));
/// assert_eq!(extra["timings"]["predicted_n"], 3);
/// assert_eq!(extra["missing"], serde_json::Value::Null);
/// ```
#[derive(Clone, Default)]
pub struct Extra(Option<Box<Map<String, Value>>>);

static EMPTY: std::sync::LazyLock<Map<String, Value>> = std::sync::LazyLock::new(Map::new);

impl Extra {
    /// No fields.
    pub const fn new() -> Self {
        Self(None)
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|map| map.is_empty())
    }

    /// How many fields there are.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |map| map.len())
    }

    /// The value of `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.0.as_ref()?.get(key)
    }

    /// Whether `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    /// Sets `key`, returning the value it replaces.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<Value>) -> Option<Value> {
        self.map_mut().insert(key.into(), value.into())
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.0.as_mut()?.remove(key)
    }

    /// The fields in key order.
    pub fn iter(&self) -> serde_json::map::Iter<'_> {
        self.as_map().iter()
    }

    /// The fields as a map.
    pub fn as_map(&self) -> &Map<String, Value> {
        self.0.as_deref().unwrap_or(&EMPTY)
    }

    /// The fields as a mutable map (allocated on first use).
    pub fn map_mut(&mut self) -> &mut Map<String, Value> {
        self.0.get_or_insert_with(Box::default)
    }

    /// Converts into a map.
    pub fn into_map(self) -> Map<String, Value> {
        self.0.map(|map| *map).unwrap_or_default()
    }
}

impl PartialEq for Extra {
    /// Equal when they hold the same fields (an emptied `Extra` equals a new one).
    fn eq(&self, other: &Self) -> bool {
        self.as_map() == other.as_map()
    }
}

impl Eq for Extra {}

impl std::ops::Index<&str> for Extra {
    type Output = Value;
    /// The value of `key`, or `Null` when absent (like indexing a `Value`).
    fn index(&self, key: &str) -> &Value {
        static NULL: Value = Value::Null;
        self.get(key).unwrap_or(&NULL)
    }
}

impl<'a> IntoIterator for &'a Extra {
    type Item = (&'a String, &'a Value);
    type IntoIter = serde_json::map::Iter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl From<Map<String, Value>> for Extra {
    fn from(map: Map<String, Value>) -> Self {
        if map.is_empty() {
            Self(None)
        } else {
            Self(Some(Box::new(map)))
        }
    }
}

impl From<Extra> for Map<String, Value> {
    fn from(extra: Extra) -> Self {
        extra.into_map()
    }
}

impl<K: Into<String>> FromIterator<(K, Value)> for Extra {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Self {
        Self::from(
            iter.into_iter()
                .map(|(k, v)| (k.into(), v))
                .collect::<Map<_, _>>(),
        )
    }
}

impl fmt::Debug for Extra {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_map(), f)
    }
}

/// Any fields: flattened into a struct's schema, they allow properties beyond the typed ones.
#[cfg(feature = "schemars")]
#[cfg_attr(docsrs, doc(cfg(feature = "schemars")))]
impl schemars::JsonSchema for Extra {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Extra".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({"type": "object", "additionalProperties": true})
    }
}

impl Serialize for Extra {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_map().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Extra {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Map::deserialize(deserializer).map(Self::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_is_a_null_pointer() {
        assert_eq!(size_of::<Extra>(), size_of::<usize>());
        let mut extra = Extra::new();
        extra.insert("a", 1);
        extra.remove("a");
        assert!(extra.is_empty());
        assert_eq!(extra, Extra::from(Map::new()).clone().into_map().into());
    }

    #[test]
    fn flattens_like_a_map() {
        #[derive(Serialize, Deserialize, PartialEq, Debug)]
        struct Outer {
            known: u8,
            #[serde(flatten)]
            extra: Extra,
        }
        let json = json!({"known": 1, "b": [1], "a": {"x": null}});
        let outer: Outer = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(outer.extra.len(), 2);
        // Sorted, or in the order sent when serde_json's `preserve_order` is on (the tools
        // crate turns it on): either way both keys.
        let mut keys: Vec<&str> = outer.extra.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(serde_json::to_value(&outer).unwrap(), json);
    }
}
