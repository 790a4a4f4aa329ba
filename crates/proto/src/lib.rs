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
//! - [`call`]: one whole call as a state machine (attempts, retries, redirects, deadlines).
//! - [`failure`]: what a failed attempt means, for every consumer.
//! - [`retry`]: the official SDKs' retry policy as pure functions.
//! - [`validate`]: the checks a request passes before it is sent.
//!
//! # The run loop
//!
//! You own the sockets, the clock and the randomness; the core owns the protocol and the
//! policy. A [`call::Call`] is one whole call: it says what to send ([`call::Call::poll_transmit`]),
//! takes what the connection gave (`handle_head`, `push_body`, `handle_end`,
//! `handle_io_error`), takes the time (`handle_timeout`, the one place it enters), says when
//! it needs the time next (`poll_timeout`), and gives events (`poll_event`): a retry ahead, the
//! answer's head, chunks (lent, no allocation), the completion, the end, or the final typed
//! error with what arrived. One rule: **push every byte you read, poll until it says it needs
//! more, and give it the time before you wait.**
//!
//! The loop, with a made-up network answering the first attempt 429 and the second with a
//! stream cut into pieces:
//!
//! ```
//! use std::time::{Duration, SystemTime};
//!
//! use bytes::Bytes;
//! use gptproto_proto::call::{Call, CallOptions, Event, Start};
//! use gptproto_proto::exchange::ClientConfig;
//! use gptproto_proto::ChatRequest;
//!
//! // Your network: the status, headers and body pieces for the n-th request sent.
//! fn network(attempt: u32) -> (u16, Vec<(&'static str, &'static str)>, Vec<&'static str>) {
//!     if attempt == 1 {
//!         return (429, vec![("retry-after-ms", "20")], vec![r#"{"error":{"message":"slow down"}}"#]);
//!     }
//!     (200, vec![("content-type", "text/event-stream")], vec![
//!         "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"I am\"}}]}\n\nda",
//!         "ta: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" Qwen.\"},\"finish_reason\":\"stop\"}]}\n\n",
//!         "data: [DONE]\n\n",
//!     ])
//! }
//!
//! let config = ClientConfig::builder().api_key("sk-...").build()?;
//! let request = ChatRequest::new("qwen-turbo").user("who are you?").stream(true);
//! let start = Start { now: Duration::ZERO, wall_clock: SystemTime::UNIX_EPOCH, seed: 7 };
//! let mut call = Call::chat(&config, &request, CallOptions::default(), start)?;
//!
//! let mut now = Duration::ZERO; // your clock
//! let mut answer = String::new();
//! 'call: loop {
//!     while let Some(event) = call.poll_event() {
//!         match event {
//!             Event::Retrying { after, .. } => assert_eq!(after, Duration::from_millis(20)),
//!             Event::Chunk(chunk) => answer.push_str(chunk.text().unwrap_or("")),
//!             Event::Done => break 'call,
//!             Event::Failed(error) => return Err(error.into()),
//!             _ => {}
//!         }
//!     }
//!     if let Some(transmit) = call.poll_transmit() {
//!         // Write `transmit.request` to a connection, then push what comes back.
//!         let (status, headers, body) = network(transmit.attempt);
//!         let headers = headers.into_iter().map(|(name, value)| (name.parse().unwrap(), value.parse().unwrap())).collect();
//!         call.handle_head(http::StatusCode::from_u16(status)?, headers);
//!         for piece in body {
//!             call.push_body(Bytes::from_static(piece.as_bytes()));
//!         }
//!         call.handle_end();
//!         continue;
//!     }
//!     // Nothing to send and nothing to read: give the time, sleep until the machine's next
//!     // deadline (here, the retry's wait), and give the time again.
//!     call.handle_timeout(now);
//!     if let Some(at) = call.poll_timeout().filter(|at| *at > now) {
//!         now = at;
//!         call.handle_timeout(now);
//!     }
//! }
//! assert_eq!(answer, "I am Qwen.");
//! assert_eq!(call.attempts(), 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! `docs/embedding.md` in the repository has the loop on `std`, tokio, smol, a browser and an
//! embedded executor; `examples/src/bin/` runs it on `std::net` and on smol over TLS, with the
//! `http1` feature's `http1::ResponseReader` reading the bytes. The parts work alone
//! too: [`StreamDecoder`] for a body you read yourself, [`exchange::classify_response`] for a
//! whole one, [`retry::RetryPolicy::decide`] and [`failure::FailureClass`] for the policy.
//!
//! # Features
//! Everything by default is plain Rust over `bytes`, `http`, `serde` and `serde_json`, and
//! builds for `wasm32-unknown-unknown`.
//! - `http1`: the `http1` module (HTTP/1.1 request encoding and response reading with
//!   `httparse`), for an embedder with a bare socket and no HTTP client.
//! - `schemars`: `JsonSchema` for the wire types.

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
pub mod parse;
pub mod price;
pub mod provider;
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
