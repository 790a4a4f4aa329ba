//! A chat request's body made streamed: for a server that answers it only so (see
//! [`ApiError::requires_streaming`](crate::ApiError::requires_streaming)). The event stream
//! that comes back is folded into one completion, as any event-stream body a completion was
//! asked for is.

use bytes::Bytes;
use serde_json::{Map, Value};

/// `body` (a chat request's JSON) with `"stream": true` and usage asked for
/// (`stream_options.include_usage`, unless it says otherwise); `None` if it is not a JSON
/// object.
pub(super) fn streamed(body: &[u8]) -> Option<Bytes> {
    let mut request: Map<String, Value> = serde_json::from_slice(body).ok()?;
    request.insert("stream".to_owned(), Value::Bool(true));
    let options = request
        .entry("stream_options")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Value::Object(options) = options {
        options.entry("include_usage").or_insert(Value::Bool(true));
    }
    serde_json::to_vec(&request).ok().map(Bytes::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_streamed_with_its_usage_and_nothing_else_changes() {
        let body = br#"{"model":"qwen3-32b","messages":[{"role":"user","content":"hi"}],"enable_thinking":true}"#;
        let sent: Value = serde_json::from_slice(&streamed(body).unwrap()).unwrap();
        assert_eq!(
            sent,
            serde_json::json!({
                "model": "qwen3-32b",
                "messages": [{"role": "user", "content": "hi"}],
                "enable_thinking": true,
                "stream": true,
                "stream_options": {"include_usage": true},
            })
        );
        let opted_out = br#"{"model":"m","stream":false,"stream_options":{"include_usage":false}}"#;
        let sent: Value = serde_json::from_slice(&streamed(opted_out).unwrap()).unwrap();
        assert_eq!(sent["stream"], true);
        assert_eq!(sent["stream_options"]["include_usage"], false);
        assert!(streamed(b"[1]").is_none());
        assert!(streamed(b"not json").is_none());
    }
}
