//! The fast path from a response body to a [`ChatCompletion`], in the manner of the chunk
//! decoder (`chunk_json`): keys matched as bytes, no intermediate `Value`, no buffering of
//! flattened fields; unknown fields, usage details, logprobs, tool calls and content parts go through
//! serde_json. Anything it does not accept (malformed JSON, a duplicate field, a value of the
//! wrong type) makes it give up, and the caller decodes with serde_json, which words the
//! error; a property test holds the two paths to the same value.

use std::borrow::Cow;

use serde_json::Value;

use super::chunk_json::{Decoder, Seen, field, slow_key};
use super::content::{Content, ContentPart};
use super::message::{FunctionCall, Message, Role, ToolCall};
use super::request::ServiceTier;
use super::response::{ChatCompletion, Choice, FinishReason, ObjectKind};
use crate::json::{JsonReader, JsonResult, Peek};

const COMPLETION_FIELDS: [&str; 10] = [
    "id",
    "object",
    "created",
    "model",
    "choices",
    "usage",
    "system_fingerprint",
    "service_tier",
    "metadata",
    "moderation",
];
const CHOICE_FIELDS: [&str; 4] = ["index", "message", "finish_reason", "logprobs"];
const MESSAGE_FIELDS: [&str; 11] = [
    "role",
    "content",
    "name",
    "refusal",
    "reasoning_content",
    "reasoning",
    "tool_calls",
    "tool_call_id",
    "function_call",
    "audio",
    "annotations",
];

/// The completion in `body`, or `None` when the fast path gives up (see the module's doc).
pub(crate) fn decode_completion(body: &str) -> Option<ChatCompletion> {
    let mut reader = JsonReader::new(body);
    let mut completion = ChatCompletion::default();
    Decoder.completion(&mut reader, &mut completion).ok()?;
    Some(completion)
}

fn owned(text: Option<Cow<'_, str>>) -> Option<String> {
    text.map(Cow::into_owned)
}

impl Decoder {
    fn completion(
        &self,
        reader: &mut JsonReader<'_>,
        completion: &mut ChatCompletion,
    ) -> JsonResult<()> {
        let mut seen = Seen(0);
        let mut more = reader.begin_object()?;
        while more {
            let index = field!(reader, COMPLETION_FIELDS, &mut completion.extra, more, [
                b'i' => 0, b'o' => 1, b'c' => 2, b'm' => 3, b'c' => 4, b'u' => 5, b's' => 6,
                b's' => 7, b'm' => 8, b'm' => 9,
            ]);
            seen.first(index, reader, &COMPLETION_FIELDS)?;
            match index {
                0 => completion.id = owned(self.opt_text(reader)?).unwrap_or_default(),
                1 => {
                    completion.object = if reader.string_is("chat.completion") {
                        ObjectKind::ChatCompletion
                    } else {
                        Self::opt_wire(reader, ObjectKind::from_wire)?.unwrap_or_default()
                    };
                }
                2 => completion.created = Self::count(reader)?,
                3 => completion.model = owned(self.opt_text(reader)?).unwrap_or_default(),
                4 => {
                    if !reader.eat_null()? {
                        let mut element = reader.begin_array()?;
                        while element {
                            let mut choice = Choice::default();
                            self.completion_choice(reader, &mut choice)?;
                            completion.choices.push(choice);
                            element = reader.next_element()?;
                        }
                    }
                }
                5 => completion.usage = Self::opt_usage(reader)?,
                6 => completion.system_fingerprint = owned(self.opt_text(reader)?),
                7 => completion.service_tier = Self::opt_wire(reader, ServiceTier::from_wire)?,
                8 => completion.metadata = Self::serde_opt(reader)?,
                _ => completion.moderation = Self::serde_opt(reader)?,
            }
            more = reader.next_member()?;
        }
        reader.end()
    }

    fn completion_choice(
        &self,
        reader: &mut JsonReader<'_>,
        choice: &mut Choice,
    ) -> JsonResult<()> {
        let mut seen = Seen(0);
        let mut more = reader.begin_object()?;
        while more {
            let index = field!(reader, CHOICE_FIELDS, &mut choice.extra, more, [
                b'i' => 0, b'm' => 1, b'f' => 2, b'l' => 3,
            ]);
            seen.first(index, reader, &CHOICE_FIELDS)?;
            match index {
                0 => choice.index = if reader.eat_null()? { 0 } else { reader.u32()? },
                1 => {
                    if !reader.eat_null()? {
                        self.message(reader, &mut choice.message)?;
                    }
                }
                2 => {
                    choice.finish_reason = if reader.string_is("stop") {
                        Some(FinishReason::Stop)
                    } else {
                        Self::opt_wire(reader, FinishReason::from_wire)?
                    };
                }
                _ => choice.logprobs = Self::serde_opt(reader)?,
            }
            more = reader.next_member()?;
        }
        Ok(())
    }

    fn message(&self, reader: &mut JsonReader<'_>, message: &mut Message) -> JsonResult<()> {
        let mut seen = Seen(0);
        let mut more = reader.begin_object()?;
        while more {
            let index = field!(reader, MESSAGE_FIELDS, &mut message.extra, more, [
                b'r' => 0, b'c' => 1, b'n' => 2, b'r' => 3, b'r' => 4, b'r' => 5, b't' => 6,
                b't' => 7, b'f' => 8, b'a' => 9, b'a' => 10,
            ]);
            seen.first(index, reader, &MESSAGE_FIELDS)?;
            match index {
                0 => {
                    message.role = if reader.string_is("assistant") {
                        Role::Assistant
                    } else {
                        Self::opt_wire(reader, Role::from_wire)?.unwrap_or_default()
                    };
                }
                1 => {
                    message.content = match reader.peek()? {
                        Peek::Null => {
                            reader.eat_null()?;
                            None
                        }
                        Peek::String => {
                            Some(Content::Text(self.text(reader.string()?).into_owned()))
                        }
                        _ => Some(Content::Parts(Self::serde::<Vec<ContentPart>>(reader)?)),
                    };
                }
                2 => message.name = owned(self.opt_text(reader)?),
                3 => message.refusal = owned(self.opt_text(reader)?),
                4 => message.reasoning_content = owned(self.opt_text(reader)?),
                5 => message.reasoning = owned(self.opt_text(reader)?),
                6 => {
                    message.tool_calls = match reader.peek()? {
                        Peek::Null => {
                            reader.eat_null()?;
                            Vec::new()
                        }
                        Peek::Object => vec![Self::serde::<ToolCall>(reader)?],
                        _ => Self::serde::<Vec<ToolCall>>(reader)?,
                    };
                }
                7 => message.tool_call_id = owned(self.opt_text(reader)?),
                8 => message.function_call = Self::serde_opt::<FunctionCall>(reader)?,
                9 => message.audio = Self::serde_opt::<Value>(reader)?,
                _ => message.annotations = Self::serde_opt(reader)?,
            }
            more = reader.next_member()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
