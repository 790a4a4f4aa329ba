//! The error object servers send: `{"error":{"message","type","param","code"}}` and its variants.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::extra::Extra;

/// An error as the server described it.
///
/// Decodes every shape seen in the wild (see [`ErrorObject::from_body`]): OpenAI's, GPTProto's
/// `{"error":{"message":"Invalid signature","type":"401"}}`, numeric codes (vLLM, llama.cpp,
/// OpenRouter), older vLLM's top-level `{"object":"error","message":..}`, and a bare string.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ErrorObject {
    /// What went wrong, in the server's words.
    #[serde(default, deserialize_with = "lenient_string")]
    pub message: String,
    /// The error type (`invalid_request_error`, `rate_limit_error`, GPTProto's `"401"`, ...).
    #[serde(
        rename = "type",
        default,
        deserialize_with = "lenient_opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub error_type: Option<String>,
    /// The request parameter at fault.
    #[serde(
        default,
        deserialize_with = "lenient_opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub param: Option<String>,
    /// A machine-readable code: a string (`invalid_api_key`) or a number (`401`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    /// Fields this version does not know, kept as sent.
    #[serde(flatten, skip_serializing_if = "Extra::is_empty")]
    pub extra: Extra,
}

/// An error code: servers send strings or numbers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
#[serde(untagged)]
pub enum ErrorCode {
    /// A numeric code, often an HTTP status.
    Number(i64),
    /// A string code.
    Text(String),
}

impl ErrorCode {
    /// The code as text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            Self::Number(_) => None,
        }
    }

    /// The code as a number, also when it is a string of digits.
    pub fn as_number(&self) -> Option<i64> {
        match self {
            Self::Number(number) => Some(*number),
            Self::Text(text) => text.parse().ok(),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(number) => write!(f, "{number}"),
            Self::Text(text) => f.write_str(text),
        }
    }
}

impl ErrorObject {
    /// Finds the error in a response body, whatever its shape:
    /// `{"error":{..}}`, `{"error":"text"}`, or a top-level `{"message":..}` with
    /// `"object":"error"` or a `type`/`code`. `None` when the body holds no error.
    pub fn from_body(body: &Value) -> Option<Self> {
        let object = body.as_object()?;
        match object.get("error") {
            Some(Value::Object(error)) => Self::from_map(error),
            Some(Value::String(message)) => Some(Self {
                message: message.clone(),
                ..Self::default()
            }),
            Some(Value::Null | Value::Bool(false)) | None => {
                let is_error = object.get("object").and_then(Value::as_str) == Some("error")
                    || (object.contains_key("message")
                        && (object.contains_key("type") || object.contains_key("code"))
                        && !object.contains_key("choices"));
                if is_error {
                    Self::from_map(object)
                } else {
                    None
                }
            }
            Some(other) => Some(Self {
                message: other.to_string(),
                ..Self::default()
            }),
        }
    }

    fn from_map(map: &Map<String, Value>) -> Option<Self> {
        Self::deserialize(Value::Object(map.clone())).ok()
    }

    /// The code as text, if it is a string.
    pub fn code_text(&self) -> Option<&str> {
        self.code.as_ref().and_then(ErrorCode::as_text)
    }
}

fn lenient_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    Ok(lenient_opt_string(deserializer)?.unwrap_or_default())
}

/// A string, or any other JSON value kept as its text (`null` is none).
fn lenient_opt_string<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(deserializer)? {
        Value::Null => None,
        Value::String(text) => Some(text),
        other => Some(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_shape_decodes() {
        let gptproto = ErrorObject::from_body(
            &json!({"error": {"message": "Invalid signature", "type": "401"}}),
        )
        .unwrap();
        assert_eq!(gptproto.error_type.as_deref(), Some("401"));
        assert_eq!(gptproto.code, None);

        let numeric = ErrorObject::from_body(&json!({"error": {"code": 401, "message": "Invalid API Key", "type": "authentication_error"}})).unwrap();
        assert_eq!(numeric.code, Some(ErrorCode::Number(401)));

        let qwen = ErrorObject::from_body(&json!({"error": {"code": "data_inspection_failed", "param": null,
            "message": "Input data may contain inappropriate content.", "type": "data_inspection_failed"},
            "id": "chatcmpl-1", "request_id": "r-1"})).unwrap();
        assert_eq!(qwen.code_text(), Some("data_inspection_failed"));
        assert_eq!(qwen.param, None);

        let old_vllm = ErrorObject::from_body(
            &json!({"object": "error", "message": "bad", "type": "BadRequestError", "code": 400}),
        )
        .unwrap();
        assert_eq!(old_vllm.message, "bad");

        let bare = ErrorObject::from_body(&json!({"error": "overloaded"})).unwrap();
        assert_eq!(bare.message, "overloaded");

        assert!(ErrorObject::from_body(&json!({"id": "x", "choices": []})).is_none());
        assert!(ErrorObject::from_body(&json!({"error": null, "choices": []})).is_none());
        assert!(ErrorObject::from_body(&json!("text")).is_none());
    }

    #[test]
    fn non_string_param_is_kept_as_text() {
        let error =
            ErrorObject::from_body(&json!({"error": {"message": "m", "param": ["messages", 0]}}))
                .unwrap();
        assert_eq!(error.param.as_deref(), Some(r#"["messages",0]"#));
    }
}
