//! The contenders: gptproto's client, async-openai's (reqwest), and a raw hyper body read, each
//! doing the same call against the same server.

use std::net::SocketAddr;

use async_openai::config::OpenAIConfig;
use async_openai::types::chat::CreateChatCompletionRequest;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::{Client as HyperClient, ResponseFuture};
use hyper_util::rt::TokioExecutor;

const KEY: &str = "sk-bench";

/// Where the contenders connect: a loopback server over plain HTTP, or over TLS with a test CA
/// that every contender is given to trust (their defaults otherwise).
#[derive(Clone, Debug)]
pub(crate) struct Target {
    /// `http://127.0.0.1:PORT` or `https://localhost:PORT`.
    pub(crate) origin: String,
    /// The CA's certificate in PEM, for TLS.
    pub(crate) ca_pem: Option<String>,
}

impl Target {
    pub(crate) fn plain(address: SocketAddr) -> Self {
        Self {
            origin: format!("http://{address}"),
            ca_pem: None,
        }
    }

    pub(crate) fn tls(address: SocketAddr, ca_pem: &str) -> Self {
        Self {
            origin: format!("https://localhost:{}", address.port()),
            ca_pem: Some(ca_pem.to_owned()),
        }
    }

    fn roots(&self) -> Option<rustls::RootCertStore> {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        let pem = self.ca_pem.as_ref()?;
        let mut store = rustls::RootCertStore::empty();
        store
            .add(CertificateDer::from_pem_slice(pem.as_bytes()).expect("a PEM certificate"))
            .expect("a valid root");
        Some(store)
    }
}

/// The question every contender asks.
fn request_json(stream: bool) -> serde_json::Value {
    serde_json::json!({
        "model": "qwen-turbo",
        "messages": [{"role": "user", "content": "who are you?"}],
        "stream": stream,
    })
}

/// gptproto's client with the defaults a user gets, minus the environment.
pub(crate) fn gptproto(target: &Target) -> gptproto::Client {
    let mut builder = gptproto::Client::builder()
        .ignore_env()
        .base_url(format!("{}/v1", target.origin))
        .api_key(KEY)
        .proxy(gptproto::Proxy::none())
        .timeouts(if std::env::var("NO_TIMERS").is_ok() {
            gptproto::Timeouts::none()
        } else {
            gptproto::Timeouts::default()
        });
    if let Some(roots) = target.roots() {
        builder = builder.roots(gptproto::Roots::Custom(roots));
    }
    builder.build().expect("a gptproto client")
}

/// async-openai's client with the defaults a user gets, at this server.
pub(crate) fn openai(target: &Target) -> async_openai::Client<OpenAIConfig> {
    let client = async_openai::Client::with_config(
        OpenAIConfig::new()
            .with_api_base(format!("{}/v1", target.origin))
            .with_api_key(KEY),
    );
    match &target.ca_pem {
        None => client,
        Some(pem) => client.with_http_client(
            reqwest::Client::builder()
                .tls_certs_merge([reqwest::Certificate::from_pem(pem.as_bytes()).expect("PEM")])
                .build()
                .expect("a reqwest client"),
        ),
    }
}

/// hyper-util's pooled client, as the raw floor: over plain HTTP/1.1, or over TLS with HTTP/1.1
/// and HTTP/2 by ALPN (a type of its own, so plain connections carry no room for TLS).
#[derive(Clone)]
pub(crate) enum Raw {
    Plain(HyperClient<HttpConnector, Full<Bytes>>),
    Tls(HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>),
}

impl Raw {
    fn request(&self, request: http::Request<Full<Bytes>>) -> ResponseFuture {
        match self {
            Self::Plain(client) => client.request(request),
            Self::Tls(client) => client.request(request),
        }
    }
}

pub(crate) fn raw(target: &Target) -> Raw {
    let Some(roots) = target.roots() else {
        return Raw::Plain(HyperClient::builder(TokioExecutor::new()).build_http());
    };
    let tls = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_only()
        .enable_http1()
        .enable_http2()
        .build();
    Raw::Tls(HyperClient::builder(TokioExecutor::new()).build(connector))
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

/// Streams, each chunk lent to a look at its text (`ChatStream::next_with`); returns how many.
pub(crate) async fn gptproto_lent(client: &gptproto::Client) -> u64 {
    let mut stream = client
        .chat_stream(gptproto_request(true))
        .await
        .expect("stream opened");
    let mut chunks = 0;
    while let Some(looked) = stream
        .next_with(|chunk| std::hint::black_box(chunk.text().map_or(0, str::len)))
        .await
    {
        looked.expect("a chunk");
        chunks += 1;
    }
    chunks
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

fn raw_request(target: &Target, stream: bool) -> http::Request<Full<Bytes>> {
    http::Request::post(format!("{}/v1/chat/completions", target.origin))
        .header(http::header::AUTHORIZATION, KEY)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(request_json(stream).to_string())))
        .expect("a request")
}

/// Reads the raw body to its end; returns its length.
pub(crate) async fn raw_body(client: &Raw, target: &Target, stream: bool) -> u64 {
    let response = client
        .request(raw_request(target, stream))
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
pub(crate) async fn raw_open(client: &Raw, target: &Target) -> hyper::body::Incoming {
    let response = client
        .request(raw_request(target, true))
        .await
        .expect("a response");
    let mut body = response.into_body();
    body.frame().await.expect("a first frame").expect("a frame");
    body
}
