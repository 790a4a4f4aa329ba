//! gptproto: the Rust SDK for [GPTProto](https://gptproto.com)'s OpenAI-compatible chat
//! completions, which also works with any OpenAI-compatible server (OpenAI, DashScope, vLLM,
//! llama.cpp, Ollama, DeepSeek, OpenRouter).
//!
//! ```no_run
//! use futures_util::StreamExt;
//! use gptproto::{ChatRequest, Client};
//!
//! # async fn demo() -> Result<(), gptproto::Error> {
//! let client = Client::new()?; // GPTPROTO_API_KEY, GPTPROTO_BASE_URL
//!
//! // One answer.
//! let answer = client.chat(ChatRequest::new("qwen-turbo").user("who are you?")).await?;
//! println!("{}", answer.text().unwrap_or_default());
//!
//! // A streamed answer, printed as it arrives.
//! let mut stream = client
//!     .chat_stream(ChatRequest::new("qwen-turbo").user("Tell me a story"))
//!     .await?;
//! while let Some(chunk) = stream.next().await {
//!     print!("{}", chunk?.text().unwrap_or_default());
//! }
//! # Ok(())
//! # }
//! ```
//!
//! What it does for you:
//! - **Retries** as the official SDKs: 2 by default, on connection errors, timeouts, 408, 409,
//!   429 (not an exhausted quota or balance) and 5xx, honouring `x-should-retry`,
//!   `retry-after-ms` and `retry-after`, with exponential backoff and jitter. A stream that has
//!   started is never retried: if it breaks, the error says what arrived.
//! - **Deadlines**: connect, response head, idle between reads, and total ([`Timeouts`]).
//! - **Typed errors** with predicates ([`Error`]); the API key never appears in them, in
//!   `Debug`, or in logs (`tracing` spans and events, no headers).
//! - **Streams with backpressure** ([`ChatStream`]): no task, no unbounded buffer; dropping the
//!   stream closes the connection; a stream that ends early is an error, not a shorter answer.
//! - Redirects: `307`/`308` are followed (at most 5), without credentials to another origin.
//!
//! # Features
//! - `webpki-roots` (default) / `native-roots`: which certificate authorities to trust.
//! - `ring` (default) / `aws-lc-rs`: rustls's crypto provider.
//! - `otel`: the OpenTelemetry GenAI metrics, and `gptproto::otel`, which exports spans and
//!   metrics over OTLP (see `docs/observability.md`). The spans themselves are always there,
//!   through `tracing`.
//! - `tools`: `gptproto::tools`: function tools and structured outputs with schemars, the
//!   tool router and the tool-call loop (`Client::run_tools`). Not a default: it adds
//!   schemars and two proc-macro crates (about 11% of a cold build) that chat alone does not
//!   need.
//!
//! # WebAssembly
//! The same client builds for `wasm32-unknown-unknown` (a browser, Node, Deno, a worker) with no
//! feature to choose: requests go through the host's `fetch` (`transport::FetchTransport`), the
//! streamed body is read from its `ReadableStream` as it arrives, and retries and deadlines use
//! the host's timers (`setTimeout`) and clocks. `Client`, `chat`, `chat_stream`, the errors and
//! the retries are the same. What the host does itself is not configurable there: the builder
//! has no `roots` or `proxy`, and refuses a connect timeout. A page calling an API on another
//! origin needs the server to allow it (CORS, `Authorization` among the allowed headers).
//! `cargo xtask wasm-test` runs the client's tests in Node and headless Chromium.
//!
//! # What is here
//! The client ([`Client`], [`ChatCall`], [`ChatStream`], [`Error`]); the wire types people
//! write and read at the top level ([`ChatRequest`], [`ChatCompletion`], [`Message`], ...);
//! what configures the client ([`Timeouts`], [`RetryPolicy`], [`ValidationRules`],
//! [`AuthScheme`], and on native targets `Proxy` and `Roots`); and what a connector of one's own implements
//! ([`HttpConnector`], [`ResponseBody`], [`TransportError`]). The layers underneath are
//! published crates with deliberate APIs of their own, re-exported whole: [`proto`] (the
//! sans-IO core: the SSE and stream decoders, the accumulator, request building and response
//! classification, retry math, for embedding in another runtime) and [`transport`] (the hyper
//! transport, to tune or wrap it).

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod batch;
mod call;
mod client;
mod driver;
mod error;
mod failover;
mod meta;
#[cfg(all(feature = "otel", not(target_arch = "wasm32")))]
#[cfg_attr(docsrs, doc(cfg(feature = "otel")))]
pub mod otel;
mod redact;
mod rt;
mod send;
mod stream;
mod telemetry;
#[cfg(feature = "tools")]
#[cfg_attr(docsrs, doc(cfg(feature = "tools")))]
pub mod tools;

pub use call::{ChatCall, ChatStreamCall, WithResponse};
pub use client::{
    BuiltInTransport, Client, ClientBuilder, ENV_API_KEY, ENV_BASE_URL, OwnConnector, Timeouts,
    Transport,
};
pub use error::{Error, ErrorKind, Result, TimeoutKind};
pub use meta::ResponseMeta;
pub use stream::{ChatStream, TextDeltas};
pub use telemetry::ENV_CAPTURE_MESSAGE_CONTENT;

pub use gptproto_proto as proto;
pub use gptproto_transport as transport;

pub use gptproto_proto::exchange::{ApiError, ApiErrorKind, AuthScheme};
pub use gptproto_proto::provider::{Provider, ProviderProfile, ReasoningReplay};
pub use gptproto_proto::retry::RetryPolicy;
pub use gptproto_proto::validate::ValidationRules;
pub use gptproto_proto::wire::{
    ChatCompletion, ChatCompletionChunk, ChatRequest, Content, ContentPart, Message, Model,
    ModelList, ResponseFormat, Role, Tool, ToolCall, ToolChoice, Usage,
};
pub use gptproto_proto::{ChunkRef, Text};
pub use gptproto_transport::{HttpConnector, ResponseBody, TransportError, TransportErrorKind};
#[cfg(not(target_arch = "wasm32"))]
#[cfg_attr(docsrs, doc(cfg(not(target_arch = "wasm32"))))]
pub use gptproto_transport::{Proxy, RootCertStore, Roots};

/// The README's examples, compiled (and run, where they need no server) as doc tests. One of
/// them uses `tools`: they run with it (as the workspace's tests do, xtask enabling it).
#[cfg(all(doctest, feature = "tools"))]
#[doc = include_str!("../../../README.md")]
struct ReadmeDoctests;
