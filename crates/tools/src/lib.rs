//! Function tools and structured outputs for [gptproto](https://docs.rs/gptproto): JSON
//! Schemas derived from your types with [schemars](https://docs.rs/schemars), a typed router
//! that runs an assistant message's tool calls, and the tool-call loop as a sans-IO state
//! machine (the `gptproto` facade drives it with its client: `run_tools`).
//!
//! ```
//! use gptproto_proto::ChatRequest;
//!
//! /// The weather in a city.
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! struct GetWeather {
//!     /// The city, e.g. Paris.
//!     city: String,
//!     /// Celsius unless asked otherwise.
//!     unit: Option<Unit>,
//! }
//!
//! #[derive(serde::Deserialize, schemars::JsonSchema)]
//! #[serde(rename_all = "lowercase")]
//! enum Unit { Celsius, Fahrenheit }
//!
//! let request = ChatRequest::new("qwen-turbo")
//!     .tool(gptproto_tools::function::<GetWeather>("get_weather", "")?)
//!     .user("Is it warm in Paris?");
//! let json = serde_json::to_value(&request)?;
//! assert_eq!(json["tools"][0]["function"]["description"], "The weather in a city.");
//! assert_eq!(
//!     json["tools"][0]["function"]["parameters"]["properties"]["unit"]["enum"],
//!     serde_json::json!(["celsius", "fahrenheit", null])
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Structured outputs: ask with [`response_format`] and read the answer with
//! [`ChatCompletion::parse`](gptproto_proto::ChatCompletion::parse), whose error tells a
//! refusal, a `length` or `content_filter` finish, and invalid JSON apart.
//!
//! No runtime: handlers are futures run concurrently in the caller's task
//! (`futures_util::future::join_all`), so this crate works with any executor.

mod error;
mod router;
mod schema;
mod strict;
mod tool_loop;

pub use error::{Error, ErrorKind};
pub use router::{Router, ToolHandler, ToolOutput, ToolStatus};
pub use schema::{function, loose_response_format, response_format, schema_for, strict_function};
pub use tool_loop::{Step, ToolLoop};
