//! The sans-IO core of gptproto, a client for OpenAI-compatible chat completions
//! (GPTProto, OpenAI, DashScope, vLLM, llama.cpp, Ollama, DeepSeek, OpenRouter).
//!
//! No sockets, no async runtime, no TLS, no clock: bytes, times and random numbers go in;
//! requests, events, completions and delays come out. Drive it from any runtime, from
//! WebAssembly, or from a fuzzer.
//!
//! - [`wire`]: the request, response, chunk and error types, tolerant of real servers.
//! - [`sse`]: an incremental Server-Sent Events decoder (WHATWG), zero-copy where it can be.
//! - [`stream`]: turns SSE events into chunks, `[DONE]` and in-stream errors.
//! - [`accumulate`]: folds chunks into a [`ChatCompletion`], telling a complete stream from a
//!   truncated one.
//! - [`exchange`]: builds the `http::Request` and classifies the response.
//! - [`retry`]: the official SDKs' retry policy as pure functions.
//! - [`validate`]: the checks a request passes before it is sent.
//!
//! # The run loop
//!
//! You own the socket, the clock and the randomness; the core owns the protocol. One rule:
//! **push every byte you read, poll until it says it needs more, and give it the time.** A
//! decoder never blocks and never reads; `Ok(None)` from a poll means "push more" (or, after
//! `finish`, "done"); an error is final. In order:
//!
//! 1. Build the request: [`exchange::ClientConfig::build_request`] gives an
//!    `http::Request<Bytes>` (validated, authorized), which you write to your connection.
//! 2. Read the response head. Not a success? Read the (small) body and classify it with
//!    [`exchange::api_error`]; ask [`retry::RetryPolicy::decide`] with your clock's
//!    `SystemTime` and your random draw whether and when to try again; sleep as you sleep.
//! 3. A success: [`StreamDecoder::push`] each piece of the body as it arrives and
//!    [`StreamDecoder::poll_item`] (or `poll_view`, lending chunks without allocating) until
//!    `Ok(None)`. At the end of the body, [`StreamDecoder::finish`] and poll once more: a body
//!    that ends early is an error, not a shorter answer.
//! 4. `accumulating()` folds the chunks into the [`ChatCompletion`]
//!    ([`StreamDecoder::into_completion`]).
//!
//! The same loop, with a made-up network in place of yours (the first attempt answered 429):
//!
//! ```
//! use std::time::SystemTime;
//!
//! use bytes::Bytes;
//! use gptproto_proto::exchange::{ClientConfig, api_error};
//! use gptproto_proto::retry::{Failure, RetryDecision, RetryPolicy};
//! use gptproto_proto::{ChatRequest, StreamDecoder, StreamItem};
//!
//! /// Your I/O: writes a request, returns the status, headers and body as it arrives.
//! fn send(_request: &http::Request<Bytes>, attempt: u32) -> (u16, http::HeaderMap, Vec<&'static str>) {
//!     let mut headers = http::HeaderMap::new();
//!     if attempt == 0 {
//!         headers.insert("retry-after-ms", "20".parse().unwrap());
//!         return (429, headers, vec![r#"{"error":{"message":"slow down","code":"rate_limit"}}"#]);
//!     }
//!     headers.insert("content-type", "text/event-stream".parse().unwrap());
//!     (200, headers, vec![
//!         "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"I am\"}}]}\n\nda",
//!         "ta: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" Qwen.\"},\"finish_reason\":\"stop\"}]}\n\n",
//!         "data: [DONE]\n\n",
//!     ])
//! }
//!
//! let config = ClientConfig::builder().api_key("sk-...").build()?;
//! let request = config.build_request(&ChatRequest::new("qwen-turbo").user("who are you?").stream(true))?;
//! let policy = RetryPolicy::default();
//! let mut attempt = 0;
//! let body = loop {
//!     let (status, headers, body) = send(&request, attempt);
//!     let status = http::StatusCode::from_u16(status)?;
//!     if status.is_success() {
//!         break body;
//!     }
//!     let error = api_error(status, &headers, body.concat().as_bytes());
//!     let jitter = 0.5; // your random draw in [0, 1)
//!     match policy.decide(attempt, &Failure::Response(&error), SystemTime::now(), jitter) {
//!         RetryDecision::Retry { after } => {
//!             assert_eq!(after.as_millis(), 20); // the server's hint; sleep it on your clock
//!             attempt += 1;
//!         }
//!         RetryDecision::GiveUp { .. } => return Err(error.into()),
//!     }
//! };
//!
//! let mut decoder = StreamDecoder::new().accumulating();
//! for piece in body {
//!     decoder.push(Bytes::from_static(piece.as_bytes()));
//!     while let Some(item) = decoder.poll_item()? {
//!         if let StreamItem::Chunk(chunk) = item {
//!             print!("{}", chunk.text().unwrap_or_default());
//!         }
//!     }
//! }
//! decoder.finish();
//! while decoder.poll_item()?.is_some() {}
//! assert_eq!(decoder.into_completion()?.text(), Some("I am Qwen."));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Whole programs that run this loop on `std::net` and on smol are `examples/src/bin/` in the
//! repository.
//!
//! # Features
//! None: everything here is plain Rust over `bytes`, `http`, `serde` and `serde_json`, and
//! builds for `wasm32-unknown-unknown`.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod accumulate;
mod api_error;
pub mod batch;
pub mod call;
mod error;
pub mod exchange;
pub mod failure;
#[cfg(feature = "http1")]
#[cfg_attr(docsrs, doc(cfg(feature = "http1")))]
pub mod http1;
mod json;
mod provider;
pub mod ratelimit;
pub mod retry;
pub mod sse;
pub mod stream;
mod text;
pub mod validate;
pub mod wire;

pub use accumulate::ChunkAccumulator;
pub use error::{Error, ErrorKind, IoErrorKind, TimeoutKind};
pub use exchange::{ApiError, ApiErrorKind};
pub use stream::{ChunkRef, DEFAULT_MAX_ANSWER_BYTES, StreamDecoder, StreamItem, ViewItem};
pub use text::Text;
pub use wire::{ChatCompletion, ChatCompletionChunk, ChatRequest, Message};
