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

/// A list that some servers send as a single object (TGI's `tool_calls`), or `null`.
pub(crate) fn one_or_many<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany<T> {
        Many(Vec<T>),
        One(T),
    }
    Ok(match Option::<OneOrMany<T>>::deserialize(deserializer)? {
        None => Vec::new(),
        Some(OneOrMany::Many(many)) => many,
        Some(OneOrMany::One(one)) => vec![one],
    })
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
