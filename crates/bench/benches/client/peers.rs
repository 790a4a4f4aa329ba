//! The contenders: gptproto's client, async-openai's (reqwest), and a raw hyper body read, each
//! doing the same call against the same server.

use std::net::SocketAddr;

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::CreateChatCompletionRequest;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

const KEY: &str = "sk-bench";

/// The question every contender asks.
fn request_json(stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": "qwen-turbo",
        "messages": [{"role": "user", "content": "who are you?"}],
        "stream": stream,
    })
}

/// gptproto's client with the defaults a user gets, minus the environment.
pub(crate) fn gptproto(address: SocketAddr) -> gptproto::Client {
    gptproto::Client::builder()
        .ignore_env()
        .base_url(format!("http://{address}/v1"))
        .api_key(KEY)
        .proxy(gptproto::Proxy::none())
        .timeouts(if std::env::var("NO_TIMERS").is_ok() {
            gptproto::Timeouts {
                connect: None,
                response: None,
                idle: None,
                total: None,
            }
        } else {
            gptproto::Timeouts::default()
        })
        .build()
        .expect("a gptproto client")
}

/// async-openai's client with the defaults a user gets, at this server.
pub(crate) fn openai(address: SocketAddr) -> async_openai::Client<OpenAIConfig> {
    async_openai::Client::with_config(
        OpenAIConfig::new()
            .with_api_base(format!("http://{address}/v1"))
            .with_api_key(KEY),
    )
}

/// hyper-util's pooled client, as the raw floor.
pub(crate) type Raw = HyperClient<HttpConnector, Full<Bytes>>;

pub(crate) fn raw() -> Raw {
    HyperClient::builder(TokioExecutor::new()).build_http()
}

fn gptproto_request(stream: bool) -> gptproto::ChatRequest {
    gptproto::ChatRequest::new("qwen-turbo")
        .user("who are you?")
        .stream(stream)
}

fn openai_request(stream: bool) -> CreateChatCompletionRequest {
    serde_json::from_value(request_json(stream)).expect("an async-openai request")
}

/// Streams, consuming typed chunks one by one; returns how many.
pub(crate) async fn gptproto_chunks(client: &gptproto::Client) -> u64 {
    let stream = client
        .chat_stream(gptproto_request(true))
        .await
        .expect("stream opened");
    count(stream).await
}

/// Consumes a stream of typed chunks; returns how many.
async fn count<T, E: std::fmt::Debug>(
    mut stream: impl futures_util::Stream<Item = Result<T, E>> + Unpin,
) -> u64 {
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("a chunk");
        std::hint::black_box(&chunk);
        chunks += 1;
    }
    chunks
}

/// Streams, folded into one completion; returns the length of its text.
pub(crate) async fn gptproto_completion(client: &gptproto::Client) -> u64 {
    let completion = client
        .chat_stream(gptproto_request(true))
        .await
        .expect("stream opened")
        .into_completion()
        .await
        .expect("a completion");
    completion.text().map_or(0, str::len) as u64
}

/// Streams with async-openai; returns how many chunks.
pub(crate) async fn openai_chunks(client: &async_openai::Client<OpenAIConfig>) -> u64 {
    let stream = client
        .chat()
        .create_stream(openai_request(true))
        .await
        .expect("stream opened");
    count(stream).await
}

fn raw_request(address: SocketAddr, stream: bool) -> http::Request<Full<Bytes>> {
    http::Request::post(format!("http://{address}/v1/chat/completions"))
        .header(http::header::AUTHORIZATION, KEY)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(request_json(stream).to_string())))
        .expect("a request")
}

/// Reads the raw body to its end; returns its length.
pub(crate) async fn raw_body(client: &Raw, address: SocketAddr, stream: bool) -> u64 {
    let response = client
        .request(raw_request(address, stream))
        .await
        .expect("a response");
    let mut body = response.into_body();
    let mut bytes = 0;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("a frame").into_data() {
            bytes += data.len() as u64;
        }
    }
    bytes
}

/// One non-streamed call; returns the choices.
pub(crate) async fn gptproto_chat(client: &gptproto::Client) -> u64 {
    let completion = client
        .chat(gptproto_request(false))
        .await
        .expect("a completion");
    completion.choices.len() as u64
}

/// One non-streamed call with async-openai; returns the choices.
pub(crate) async fn openai_chat(client: &async_openai::Client<OpenAIConfig>) -> u64 {
    let completion = client
        .chat()
        .create(openai_request(false))
        .await
        .expect("a completion");
    completion.choices.len() as u64
}

/// Opens a stream and reads its first chunk; returns the open stream.
pub(crate) async fn gptproto_open(client: &gptproto::Client) -> gptproto::ChatStream {
    let mut stream = client
        .chat_stream(gptproto_request(true))
        .await
        .expect("stream opened");
    stream
        .next()
        .await
        .expect("a first chunk")
        .expect("a chunk");
    stream
}

/// Opens a stream with async-openai and reads its first chunk; returns the open stream.
pub(crate) async fn openai_open(
    client: &async_openai::Client<OpenAIConfig>,
) -> async_openai::types::chat::ChatCompletionResponseStream {
    let mut stream = client
        .chat()
        .create_stream(openai_request(true))
        .await
        .expect("stream opened");
    stream
        .next()
        .await
        .expect("a first chunk")
        .expect("a chunk");
    stream
}

/// Sends the request and reads the first body frame; returns the open body.
pub(crate) async fn raw_open(client: &Raw, address: SocketAddr) -> hyper::body::Incoming {
    let response = client
        .request(raw_request(address, true))
        .await
        .expect("a response");
    let mut body = response.into_body();
    body.frame().await.expect("a first frame").expect("a frame");
    body
}
