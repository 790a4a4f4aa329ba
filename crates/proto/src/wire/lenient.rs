//! Deserialization helpers for what real servers send rather than what the spec says.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// `null` decodes like an absent field: to the type's default.
pub(crate) fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A list that some servers send as a single object (TGI's `tool_calls`), or `null`; read by
/// the JSON type seen, without buffering the value.
pub(crate) fn one_or_many<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct OneOrMany<T>(std::marker::PhantomData<T>);
    impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for OneOrMany<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a list, one object, or null")
        }
        fn visit_unit<E: serde::de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_none<E: serde::de::Error>(self) -> Result<Vec<T>, E> {
            Ok(Vec::new())
        }
        fn visit_some<D2: Deserializer<'de>>(self, inner: D2) -> Result<Vec<T>, D2::Error> {
            inner.deserialize_any(self)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, many: A) -> Result<Vec<T>, A::Error> {
            Vec::deserialize(serde::de::value::SeqAccessDeserializer::new(many))
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, one: A) -> Result<Vec<T>, A::Error> {
            T::deserialize(serde::de::value::MapAccessDeserializer::new(one)).map(|one| vec![one])
        }
    }
    deserializer.deserialize_any(OneOrMany(std::marker::PhantomData))
}

/// Function-call arguments: a JSON string as the spec says, or (some servers) the arguments
/// object itself, which is kept as its JSON text.
pub(crate) fn arguments<'de, D>(deserializer: D) -> Result<String, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => String::new(),
        Value::String(text) => text,
        other => other.to_string(),
    })
}

/// [`arguments`] for an optional field.
pub(crate) fn optional_arguments<'de, D>(deserializer: D) -> Result<Option<crate::Text>, D::Error>
where
    D: Deserializer<'de>,
{
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => None,
        Value::String(text) => Some(text.into()),
        other => Some(other.to_string().into()),
    })
}
