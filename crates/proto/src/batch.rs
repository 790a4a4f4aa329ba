//! The batch file format, OpenAI's (also DashScope's and vLLM's), so that results interchange
//! with theirs and can be fed back: one JSON object a line in, one a line out.
//!
//! Input: `{"custom_id": "...", "method": "POST", "url": "/v1/chat/completions", "body": {...}}`,
//! or a bare chat request per line (the OpenAI cookbook's format) with an optional `custom_id`
//! field, removed before sending; without one the id is `line-<n>`, so resuming then needs the
//! same file.
//!
//! ```
//! use gptproto_proto::batch::BatchInput;
//!
//! let line = br#"{"custom_id": "t-1", "method": "POST", "url": "/v1/chat/completions",
//!     "body": {"model": "qwen-turbo", "messages": [{"role": "user", "content": "hi"}]}}"#;
//! let input = BatchInput::parse(line, 1)?;
//! assert_eq!(input.custom_id, "t-1");
//! assert_eq!(input.body.model, "qwen-turbo");
//!
//! let bare = br#"{"model": "qwen-turbo", "messages": [{"role": "user", "content": "hi"}]}"#;
//! assert_eq!(BatchInput::parse(bare, 7)?.custom_id, "line-7");
//! # Ok::<(), gptproto_proto::batch::BatchLineError>(())
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::wire::ChatRequest;

/// The chat-completions URLs an input line may name.
const CHAT_URLS: [&str; 2] = ["/v1/chat/completions", "/chat/completions"];

/// One input line: a request and its id.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchInput {
    /// The caller's id of the request, unique in the file.
    pub custom_id: String,
    /// The chat request.
    pub body: ChatRequest,
}

/// Why an input line was refused, with its (1-based) number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchLineError {
    /// The line's number, from 1.
    pub line: u64,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for BatchLineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for BatchLineError {}

impl BatchInput {
    /// Reads input line number `line` (from 1), in either format.
    pub fn parse(text: &[u8], line: u64) -> Result<Self, BatchLineError> {
        let refuse = |message: String| BatchLineError { line, message };
        let value: Value =
            serde_json::from_slice(text).map_err(|error| refuse(format!("not JSON: {error}")))?;
        let Value::Object(mut object) = value else {
            return Err(refuse("not a JSON object".to_owned()));
        };
        let custom_id = match object.remove("custom_id") {
            None => None,
            Some(Value::String(id)) if !id.is_empty() => Some(id),
            Some(other) => {
                return Err(refuse(format!(
                    "custom_id must be a non-empty string, not {other}"
                )));
            }
        };
        let body = if object.contains_key("body") || object.contains_key("url") {
            batch_body(&mut object).map_err(refuse)?
        } else {
            object
        };
        let body: ChatRequest = serde_json::from_value(Value::Object(body))
            .map_err(|error| refuse(format!("the body is not a chat request: {error}")))?;
        if body.model.is_empty() && body.messages.is_empty() {
            return Err(refuse("the body has no model and no messages".to_owned()));
        }
        Ok(Self {
            custom_id: custom_id.unwrap_or_else(|| format!("line-{line}")),
            body,
        })
    }
}

/// The `body` of a line in OpenAI's batch format, its `method` and `url` checked.
fn batch_body(object: &mut Map<String, Value>) -> Result<Map<String, Value>, String> {
    match object.get("method") {
        None => {}
        Some(Value::String(method)) if method.eq_ignore_ascii_case("POST") => {}
        Some(other) => return Err(format!("method must be \"POST\", not {other}")),
    }
    match object.get("url") {
        Some(Value::String(url)) if CHAT_URLS.contains(&url.as_str()) => {}
        Some(other) => {
            return Err(format!(
                "url must be \"/v1/chat/completions\" (only chat completions are sent), not {other}"
            ));
        }
        None => return Err("no url (\"/v1/chat/completions\")".to_owned()),
    }
    match object.remove("body") {
        Some(Value::Object(body)) => Ok(body),
        Some(other) => Err(format!("body must be a JSON object, not {other}")),
        None => Err("no body".to_owned()),
    }
}

/// One output line: the answer to an input line, or its failure (written to the errors file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchOutput {
    /// This result's own id: `batch_req_<unique>`.
    pub id: String,
    /// The input line's id.
    pub custom_id: String,
    /// The HTTP response, when there was one.
    pub response: Option<BatchResponse>,
    /// Why the request failed; `null` on success.
    pub error: Option<BatchError>,
}

/// The HTTP response recorded in a [`BatchOutput`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchResponse {
    /// The status: 200 for an answer.
    pub status_code: u16,
    /// The server's request id (`x-request-id`), if it sent one.
    pub request_id: Option<String>,
    /// The response body: the `chat.completion` (for a streamed request, the accumulated one),
    /// or the error body.
    pub body: Value,
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchError {
    /// A short code: the server's error code or type when it gave one (`rate_limit_exceeded`,
    /// `invalid_api_key`), else ours (`timeout`, `connection`, `truncated`, `http_<status>`).
    pub code: String,
    /// What happened.
    pub message: String,
}

impl BatchOutput {
    /// A successful answer.
    pub fn success(
        id: impl Into<String>,
        custom_id: impl Into<String>,
        request_id: Option<String>,
        body: Value,
    ) -> Self {
        Self {
            id: id.into(),
            custom_id: custom_id.into(),
            response: Some(BatchResponse {
                status_code: 200,
                request_id,
                body,
            }),
            error: None,
        }
    }

    /// A failure, with the HTTP response if there was one.
    pub fn failure(
        id: impl Into<String>,
        custom_id: impl Into<String>,
        response: Option<BatchResponse>,
        error: BatchError,
    ) -> Self {
        Self {
            id: id.into(),
            custom_id: custom_id.into(),
            response,
            error: Some(error),
        }
    }

    /// The line as written: one JSON object, no newline inside.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a batch output serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(line: &str) -> String {
        BatchInput::parse(line.as_bytes(), 3)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn both_formats_are_read() {
        let batch = BatchInput::parse(
            br#"{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":5}}"#,
            1,
        )
        .unwrap();
        assert_eq!(batch.custom_id, "a");
        assert_eq!(batch.body.max_tokens, Some(5));
        let bare = BatchInput::parse(
            br#"{"custom_id":"b","model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            2,
        )
        .unwrap();
        assert_eq!(bare.custom_id, "b");
        assert!(
            bare.body.extra.is_empty(),
            "custom_id is not sent: {:?}",
            bare.body.extra
        );
        let unnamed = BatchInput::parse(
            br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            9,
        )
        .unwrap();
        assert_eq!(unnamed.custom_id, "line-9");
    }

    #[test]
    fn bad_lines_name_their_number_and_problem() {
        assert!(refused("{not json").starts_with("line 3: not JSON"));
        assert_eq!(refused("[1]"), "line 3: not a JSON object");
        assert!(
            refused(r#"{"custom_id":"a","url":"/v1/embeddings","body":{}}"#)
                .contains("url must be \"/v1/chat/completions\"")
        );
        assert!(
            refused(r#"{"custom_id":"a","method":"GET","url":"/v1/chat/completions","body":{}}"#)
                .contains("method must be \"POST\"")
        );
        assert_eq!(
            refused(r#"{"custom_id":"a","url":"/v1/chat/completions"}"#),
            "line 3: no body"
        );
        assert!(refused(r#"{"custom_id":7,"model":"m"}"#).contains("custom_id must be"));
        assert!(refused(r#"{"model":"m","messages":"hi"}"#).contains("not a chat request"));
        assert_eq!(
            refused("{}"),
            "line 3: the body has no model and no messages"
        );
    }

    #[test]
    fn output_lines_have_openais_shape() {
        let ok = BatchOutput::success(
            "batch_req_1",
            "a",
            Some("req-9".to_owned()),
            serde_json::json!({"object": "chat.completion"}),
        );
        assert_eq!(
            ok.to_line(),
            r#"{"id":"batch_req_1","custom_id":"a","response":{"status_code":200,"request_id":"req-9","body":{"object":"chat.completion"}},"error":null}"#
        );
        let failed = BatchOutput::failure(
            "batch_req_2",
            "b",
            None,
            BatchError {
                code: "timeout".to_owned(),
                message: "no answer in 60 s".to_owned(),
            },
        );
        assert_eq!(
            failed.to_line(),
            r#"{"id":"batch_req_2","custom_id":"b","response":null,"error":{"code":"timeout","message":"no answer in 60 s"}}"#
        );
        let back: BatchOutput = serde_json::from_str(&failed.to_line()).unwrap();
        assert_eq!(back, failed);
    }
}
