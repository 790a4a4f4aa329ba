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
//! ```
//! use gptproto_proto::{ChatRequest, ChunkAccumulator, StreamDecoder, StreamItem};
//!
//! let request = ChatRequest::new("qwen-turbo").user("who are you?").stream(true);
//! request.validate()?;
//!
//! // Bytes from the HTTP body, split anywhere:
//! let body = concat!(
//!     "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"qwen-turbo\",",
//!     "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"I am\"},\"finish_reason\":null}]}\n\n",
//!     "data: {\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"qwen-turbo\",",
//!     "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" Qwen.\"},\"finish_reason\":\"stop\"}]}\n\n",
//!     "data: [DONE]\n\n",
//! );
//! let mut decoder = StreamDecoder::new();
//! let mut accumulator = ChunkAccumulator::new();
//! for piece in body.as_bytes().chunks(7) {
//!     decoder.push(piece.to_vec());
//!     while let Some(item) = decoder.poll_item()? {
//!         if let StreamItem::Chunk(chunk) = item {
//!             accumulator.push(&chunk);
//!         }
//!     }
//! }
//! decoder.finish();
//! while let Some(item) = decoder.poll_item()? {
//!     if let StreamItem::Chunk(chunk) = item {
//!         accumulator.push(&chunk);
//!     }
//! }
//! if decoder.saw_done() {
//!     accumulator.mark_done();
//! }
//! let completion = accumulator.finish()?;
//! assert_eq!(completion.text(), Some("I am Qwen."));
//! # Ok::<(), gptproto_proto::Error>(())
//! ```
//!
//! # Features
//! None: everything here is plain Rust over `bytes`, `http`, `serde` and `serde_json`, and
//! builds for `wasm32-unknown-unknown`.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod accumulate;
mod api_error;
mod error;
pub mod exchange;
mod json;
pub mod retry;
pub mod sse;
pub mod stream;
mod text;
pub mod validate;
pub mod wire;

pub use accumulate::ChunkAccumulator;
pub use error::{Error, ErrorKind};
pub use exchange::{ApiError, ApiErrorKind};
pub use stream::{StreamDecoder, StreamItem, ViewItem};
pub use text::Text;
pub use wire::{ChatCompletion, ChatCompletionChunk, ChatRequest, Message};
