//! The browser demo's module: the `gptproto` client, compiled to wasm32, streaming an answer
//! into the page (`index.html` calls [`stream_answer`] with what was typed into the form).
//!
//! `cargo xtask browser-demo` builds it (`wasm-bindgen --target web`), starts the local model
//! server and serves the page on loopback; the page calls the model on another origin (CORS,
//! which llama.cpp's server answers).
#![cfg(target_arch = "wasm32")]

use futures_util::StreamExt;
use gptproto::{ChatRequest, Client};
use wasm_bindgen::prelude::*;

/// Streams the answer to `prompt` from the OpenAI-compatible API at `base_url`, calling
/// `on_text` with each piece of text as it arrives. Resolves to a line about the answer (chunks,
/// time, tokens), or rejects with the error, its cause included.
#[wasm_bindgen]
pub async fn stream_answer(
    base_url: String,
    api_key: String,
    model: String,
    prompt: String,
    on_text: js_sys::Function,
) -> Result<String, JsError> {
    let mut builder = Client::builder().ignore_env().base_url(base_url);
    if !api_key.trim().is_empty() {
        builder = builder.api_key(api_key);
    }
    let client = builder.build().map_err(described)?;
    // Streamed, so usage comes in the last chunk (`stream_options.include_usage`).
    let request = ChatRequest::new(model).user(prompt).max_tokens(256);
    let started = js_sys::Date::now();
    let mut stream = client.chat_stream(request).await.map_err(described)?;
    let mut chunks = 0;
    let mut usage = None;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(described)?;
        chunks += 1;
        if let Some(text) = chunk.text().filter(|text| !text.is_empty()) {
            on_text
                .call1(&JsValue::NULL, &JsValue::from_str(text))
                .map_err(|error| JsError::new(&format!("on_text failed: {error:?}")))?;
        }
        usage = chunk.usage.or(usage);
    }
    let seconds = (js_sys::Date::now() - started) / 1000.0;
    let tokens = usage.map_or_else(String::new, |usage| {
        format!(", {} completion tokens", usage.completion_tokens)
    });
    Ok(format!("{chunks} chunks in {seconds:.1} s{tokens}"))
}

/// The error as the page shows it: what happened, and its deepest cause.
fn described(error: gptproto::Error) -> JsError {
    JsError::new(&format!("{error:#}"))
}
