//! The model list (`GET {base_url}/models`), in OpenAI's list format.

use serde::{Deserialize, Serialize};

use super::extra::Extra;
use super::lenient;

/// The answer of `GET /models`: `{"object": "list", "data": [...]}`.
///
/// Servers add fields of their own (llama.cpp a `models` array, OpenRouter pricing): kept in
/// `extra`.
///
/// ```
/// use gptproto_proto::wire::ModelList;
///
/// let list: ModelList = serde_json::from_str(
///     r#"{"object":"list","data":[{"id":"qwen-turbo","object":"model","created":1700000000,"owned_by":"qwen"}]}"#,
/// )?;
/// assert_eq!(list.data[0].id, "qwen-turbo");
/// assert_eq!(list.data[0].owned_by.as_deref(), Some("qwen"));
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ModelList {
    /// `list`.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub object: String,
    /// The models.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub data: Vec<Model>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// One model of a [`ModelList`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Model {
    /// The id to put in a request's `model`.
    pub id: String,
    /// `model`.
    #[serde(default, deserialize_with = "lenient::null_as_default")]
    pub object: String,
    /// When it was made (Unix seconds), when the server says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    /// Who owns it, when the server says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_by: Option<String>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}
