//! The `gptproto` client itself on wasm32 (its fetch transport and the host's timers), in Node
//! and in headless Chromium, against the test kit's server: a plain answer, a stream read as it
//! arrives, a retried 429, a 401 as a typed error, the total timeout, a cut stream, and what the
//! host cannot do refused.
//!
//! Run by `cargo xtask wasm-test` (which starts the test kit's server).
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use futures_util::StreamExt;
use gptproto::{ChatRequest, Client, TimeoutKind};
use wasm_bindgen_test::wasm_bindgen_test;

#[path = "support/host.rs"]
mod host;

/// A client of the scenario under `prefix` (`answer`, `hold/<id>`, ...).
fn client(prefix: &str) -> Client {
    Client::builder()
        .ignore_env()
        .base_url(format!("{}/{prefix}/v1", host::server()))
        .api_key("sk-wasm")
        .build()
        .expect("a client")
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest::new("m").user(text)
}

/// Milliseconds on the host's clock.
fn now_ms() -> f64 {
    js_sys::Date::now()
}

#[wasm_bindgen_test]
async fn a_plain_answer() {
    let answer = client("answer")
        .chat(ask("hello from wasm"))
        .await
        .expect("an answer");
    assert_eq!(answer.text(), Some("echo: hello from wasm"));
    assert_eq!(answer.usage.expect("usage").total_tokens, 8);
}

#[wasm_bindgen_test]
async fn a_stream_is_read_as_it_arrives() {
    let id = host::unique("client-hold");
    let mut stream = client(&format!("hold/{id}"))
        .chat_stream(ask("hi"))
        .await
        .expect("a stream");
    // The server holds the rest of the body until it is released (it gives up after 20 s): a
    // client that buffered the body would never get this chunk first.
    let first = stream.next().await.expect("a first chunk").expect("valid");
    assert_eq!(first.text(), Some("first "));
    let released = host::post(&format!("{}/release/{id}", host::server()), "").await;
    assert_eq!(released.status(), 204);
    let mut rest = String::new();
    while let Some(chunk) = stream.next().await {
        rest += chunk.expect("valid").text().unwrap_or_default();
    }
    assert_eq!(rest, "second third");
}

#[wasm_bindgen_test]
async fn a_429_is_retried_after_its_retry_after_date() {
    let id = host::unique("client-retry");
    let started = now_ms();
    let answer = client(&format!("retry/{id}"))
        .chat(ask("again"))
        .await
        .expect("an answer after one retry");
    assert_eq!(answer.text(), Some("attempt 2: echo: again"));
    // `retry-after` was an HTTP date 2 s ahead, to the second: the host's timer waited for it.
    let waited = now_ms() - started;
    assert!(waited >= 900.0, "retried after {waited} ms");
}

#[wasm_bindgen_test]
async fn a_401_is_a_typed_error() {
    let error = client("unauthorized")
        .chat(ask("hi"))
        .await
        .expect_err("a 401");
    assert!(error.is_auth(), "{error}");
    assert_eq!(error.status(), Some(http::StatusCode::UNAUTHORIZED));
    assert_eq!(
        error.attempts(),
        1,
        "an authentication error is not retried"
    );
    assert!(!error.to_string().contains("sk-wasm"), "{error}");
}

#[wasm_bindgen_test]
async fn the_total_timeout_fires_on_the_hosts_timer() {
    let started = now_ms();
    let error = client("stall")
        .chat(ask("hi"))
        .timeout(Duration::from_millis(300))
        .await
        .expect_err("the head comes after 30 s");
    let waited = now_ms() - started;
    assert!(error.is_timeout(), "{error}");
    assert_eq!(error.timeout_kind(), Some(TimeoutKind::Total));
    assert!(
        (290.0..10_000.0).contains(&waited),
        "fired after {waited} ms"
    );
}

#[wasm_bindgen_test]
async fn a_stream_cut_mid_event_is_a_truncated_error() {
    let mut stream = client("cut")
        .chat_stream(ask("hi"))
        .await
        .expect("a stream");
    let first = stream.next().await.expect("a first chunk").expect("valid");
    assert_eq!(first.text(), Some("cut "));
    let error = stream
        .next()
        .await
        .expect("an error, not the end")
        .expect_err("the body ends mid-event");
    assert!(error.is_truncated(), "{error}");
    assert_eq!(
        error.partial().and_then(|partial| partial.text()),
        Some("cut ")
    );
}

#[wasm_bindgen_test]
async fn plain_http_to_a_remote_host_is_refused_before_sending() {
    let error = Client::builder()
        .ignore_env()
        .base_url("http://api.example.com/v1")
        .api_key("sk-wasm")
        .build()
        .expect("a client")
        .chat(ask("hi"))
        .await
        .expect_err("refused");
    assert!(error.is_config(), "{error}");
    assert!(error.to_string().contains("http://"), "{error}");
}
