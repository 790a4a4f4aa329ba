//! The answers and requests tests keep writing: a chat completion, a chunk, a story of chunks,
//! a raw chat-completions request.

use bytes::Bytes;
use serde_json::{Value, json};

/// A `chat.completion` with one choice per text (all finished with `stop`) and a usage of
/// 5 + 3 tokens.
pub fn completion(texts: &[&str]) -> Value {
    let choices: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(index, text)| {
            json!({"index": index, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"})
        })
        .collect();
    json!({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "qwen-turbo",
        "choices": choices,
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    })
}

/// A `chat.completion.chunk` of the first choice with this `delta`.
pub fn chunk_with(delta: Value, finish: Option<&str>) -> Value {
    json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "qwen-turbo",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]
    })
}

/// A `chat.completion.chunk` of the first choice with this `content`.
pub fn chunk(content: &str, finish: Option<&str>) -> Value {
    chunk_with(json!({"content": content}), finish)
}

/// `words` chunks of text, `w0 `, `w1 `, ..., then one finishing with `stop`.
pub fn story(words: usize) -> Vec<Value> {
    let mut events: Vec<Value> = (0..words).map(|i| chunk(&format!("w{i} "), None)).collect();
    events.push(chunk("", Some("stop")));
    events
}

/// The text of [`story`]: `w0 w1 ... ` for `words` words.
pub fn story_text(words: usize) -> String {
    (0..words).map(|i| format!("w{i} ")).collect()
}

/// A raw `POST {base_url}/chat/completions` with a small JSON body, as a transport sends it.
pub fn post(base_url: &str) -> http::Request<Bytes> {
    http::Request::post(format!("{base_url}/chat/completions"))
        .header("content-type", "application/json")
        .body(Bytes::from_static(b"{\"model\":\"m\"}"))
        .expect("a valid request")
}
