//! [`Scenarios`]: one server that answers each test scenario under a path prefix of its own, for
//! clients that cannot start a server themselves (wasm32 tests in Node and in a browser, the
//! browser demo). A client's base URL is `http://127.0.0.1:PORT/<scenario>/v1`:
//!
//! | prefix | answer |
//! |---|---|
//! | `answer` | `echo: <the last user message>`, as JSON, or streamed word by word when asked to stream |
//! | `hold/<id>` | a stream of `first ` that holds the rest (`second third`) until `release/<id>` is called (gives up after 20 s) |
//! | `release/<id>` | opens `hold/<id>`'s gate: `204` |
//! | `retry/<id>` | the first call a `429` with `retry-after` as an HTTP date 1–2 s ahead; then `attempt <n>: <echo>` |
//! | `unauthorized` | `401` with `invalid_api_key` |
//! | `stall` | the response head after 30 s |
//! | `cut` | a stream whose body ends in the middle of its second event |
//!
//! Anything else is a `404` naming the prefixes; `GET` of another path serves the static folder,
//! if one was given.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::Recorded;
use crate::fixtures::{chunk, completion};
use crate::reply::{Gate, Reply, sse_body};

/// How long a held stream waits for its release before it aborts.
pub const HOLD_GIVE_UP: Duration = Duration::from_secs(20);

/// How long `stall` waits before its response head.
pub const STALL: Duration = Duration::from_secs(30);

/// The scenarios' state: the gates of held streams, the attempts of retried calls.
#[derive(Debug, Default)]
pub struct Scenarios {
    gates: Mutex<HashMap<String, Gate>>,
    attempts: Mutex<HashMap<String, u32>>,
    files: Option<PathBuf>,
}

impl Scenarios {
    /// The scenarios, serving `GET`s of other paths from `files` when given.
    pub fn new(files: Option<PathBuf>) -> Self {
        Self {
            files,
            ..Self::default()
        }
    }

    /// The answer to `request`.
    pub fn answer(&self, request: &Recorded) -> Reply {
        let path = request.uri.path().trim_start_matches('/');
        let segments: Vec<&str> = path.split('/').collect();
        match segments.as_slice() {
            ["answer", "v1", "chat", "completions"] => answer(request, "echo: "),
            ["hold", id, "v1", "chat", "completions"] => self.hold(id),
            ["release", id] => {
                self.gate(id).open();
                Reply::bytes(204, "text/plain", "")
            }
            ["retry", id, "v1", "chat", "completions"] => self.retry(request, id),
            ["unauthorized", "v1", "chat", "completions"] => Reply::json(
                401,
                &json!({"error": {
                    "message": "Incorrect API key provided",
                    "type": "invalid_request_error",
                    "code": "invalid_api_key"
                }}),
            ),
            ["stall", "v1", "chat", "completions"] => answer(request, "late: ").delayed(STALL),
            ["cut", "v1", "chat", "completions"] => {
                let first = format!("data: {}\n\n", chunk("cut ", None));
                Reply::sse_raw(first + r#"data: {"id":"chatcmpl-1","object":"chat.compl"#)
            }
            _ => match (&self.files, request.method.as_str()) {
                (Some(files), "GET") => serve_file(files, path),
                _ => Reply::bytes(
                    404,
                    "text/plain",
                    format!(
                        "no scenario at /{path}: use /answer, /hold/<id>, /release/<id>, \
                         /retry/<id>, /unauthorized, /stall or /cut, then /v1/chat/completions\n"
                    ),
                ),
            },
        }
    }

    fn gate(&self, id: &str) -> Gate {
        let mut gates = self.gates.lock().expect("not poisoned");
        gates.entry(id.to_owned()).or_default().clone()
    }

    fn hold(&self, id: &str) -> Reply {
        let first = format!("data: {}\n\n", chunk("first ", None));
        let rest = sse_body(&[
            chunk("second ", None),
            chunk("third", None),
            chunk("", Some("stop")),
        ]);
        let at = first.len();
        Reply::sse_raw(first + &rest).held(at, self.gate(id), HOLD_GIVE_UP)
    }

    fn retry(&self, request: &Recorded, id: &str) -> Reply {
        let attempt = {
            let mut attempts = self.attempts.lock().expect("not poisoned");
            let attempt = attempts.entry(id.to_owned()).or_insert(0);
            *attempt += 1;
            *attempt
        };
        if attempt == 1 {
            let after = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(2));
            return Reply::json(
                429,
                &json!({"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}),
            )
            .header("retry-after", &after);
        }
        answer(request, &format!("attempt {attempt}: echo: "))
    }
}

/// The last user message of a chat request, or `""`.
fn last_user_text(request: &Recorded) -> String {
    let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
    body["messages"]
        .as_array()
        .and_then(|messages| messages.iter().rev().find(|m| m["role"] == "user"))
        .and_then(|message| message["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

/// `prefix` and the last user message, streamed word by word if the request asks to stream.
fn answer(request: &Recorded, prefix: &str) -> Reply {
    let text = format!("{prefix}{}", last_user_text(request));
    let streamed =
        serde_json::from_slice::<Value>(&request.body).is_ok_and(|body| body["stream"] == true);
    if !streamed {
        return Reply::json(200, &completion(&[&text]));
    }
    let mut events: Vec<Value> = text
        .split_inclusive(' ')
        .map(|word| chunk(word, None))
        .collect();
    events.push(chunk("", Some("stop")));
    Reply::sse(&events).in_pieces(16)
}

/// A file under `root` (`index.html` for the folder), never outside it.
fn serve_file(root: &Path, path: &str) -> Reply {
    let path = if path.is_empty() { "index.html" } else { path };
    if path
        .split('/')
        .any(|segment| segment == ".." || segment.is_empty())
    {
        return Reply::bytes(400, "text/plain", "bad path\n");
    }
    let content_type = match Path::new(path).extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        _ => "application/octet-stream",
    };
    match std::fs::read(root.join(path)) {
        Ok(bytes) => Reply::bytes(200, content_type, bytes),
        Err(error) => Reply::bytes(404, "text/plain", format!("{path}: {error}\n")),
    }
}
