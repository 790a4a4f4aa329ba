//! The peer processes: this executable started again with a mode argument, so that every
//! contender is a process of its own, paying its own start-up.

use std::io::Write;

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::CreateChatCompletionRequest;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// `--raw-read ORIGIN`: one request, the body read to its end, nothing parsed or printed.
pub(crate) const RAW_READ: &str = "--raw-read";
/// `--openai-stream ORIGIN`: async-openai streaming, the text printed as it arrives.
pub(crate) const OPENAI: &str = "--openai-stream";

fn request_json() -> serde_json::Value {
    serde_json::json!({
        "model": "qwen-turbo",
        "messages": [{"role": "user", "content": "who are you?"}],
        "stream": true,
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

pub(crate) fn raw_read(origin: &str) {
    runtime().block_on(async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let request = http::Request::post(format!("{origin}/v1/chat/completions"))
            .header(http::header::AUTHORIZATION, "Bearer sk-bench")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(request_json().to_string())))
            .expect("a request");
        let mut body = client
            .request(request)
            .await
            .expect("a response")
            .into_body();
        let mut bytes = 0;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.expect("a frame").into_data() {
                bytes += data.len();
            }
        }
        assert!(bytes > 0);
    });
}

pub(crate) fn openai_stream(origin: &str) {
    // async-openai is built without a crypto provider of its own (`rustls-no-provider`).
    let _ = rustls::crypto::ring::default_provider().install_default();
    runtime().block_on(async {
        let client = async_openai::Client::with_config(
            OpenAIConfig::new()
                .with_api_base(format!("{origin}/v1"))
                .with_api_key("sk-bench"),
        );
        let request: CreateChatCompletionRequest =
            serde_json::from_value(request_json()).expect("a request");
        let mut stream = client
            .chat()
            .create_stream(request)
            .await
            .expect("stream opened");
        let mut stdout = std::io::stdout().lock();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("a chunk");
            if let Some(text) = chunk
                .choices
                .first()
                .and_then(|choice| choice.delta.content.as_deref())
            {
                stdout.write_all(text.as_bytes()).expect("stdout");
            }
        }
        stdout.flush().expect("stdout");
    });
}
