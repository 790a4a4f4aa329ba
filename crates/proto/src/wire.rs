//! Wire types of `POST /v1/chat/completions`: the request, the response, the streamed chunk and
//! the error body.
//!
//! Decoding is tolerant, because real servers are: enums keep values they do not know
//! (`Other`), fields nobody declared land in `extra` maps instead of being dropped, `null` means
//! the same as absent, and the quirks listed in `docs/quirks.md` decode (numeric
//! error codes, `tool_calls` as an object, arguments as an object, ...). Serialization leaves
//! unset fields out and round-trips.

mod chunk;
mod chunk_json;
mod chunk_view;
mod completion_json;
mod content;
mod error_body;
mod extra;
mod lenient;
mod message;
mod model;
mod open_enum;
mod request;
mod response;
mod tool;

pub(crate) use chunk_json::{ChunkJsonError, decode_view_into};
pub(crate) use completion_json::decode_completion;

pub use chunk::{ChatCompletionChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta};
pub use chunk_view::{ChoiceView, Choices, ChunkView, DeltaView, FunctionCallView, ToolCallView};
pub use content::{
    AudioFormat, AudioPart, Content, ContentPart, FileInput, FilePart, ImageDetail, ImagePart,
    ImageUrl, InputAudio, RefusalPart, TextPart,
};
pub use error_body::{ErrorCode, ErrorObject};
pub use extra::Extra;
pub use message::{FunctionCall, Message, Role, ToolCall, ToolKind};
pub use model::{Model, ModelList};
pub use request::{ChatRequest, Modality, ReasoningEffort, ServiceTier, Stop, StreamOptions};
pub use response::{
    ChatCompletion, Choice, CompletionTokensDetails, FinishReason, Logprobs, ObjectKind,
    PromptTokensDetails, TokenLogprob, TopLogprob, Usage,
};
pub use tool::{FunctionDefinition, JsonSchemaFormat, ResponseFormat, Tool, ToolChoice};
