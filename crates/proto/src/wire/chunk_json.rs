//! The fast path from an event's data to a [`ChunkView`] (and so a [`ChatCompletionChunk`]).
//!
//! It gives the same value as `serde_json::from_str::<ChatCompletionChunk>` (a property test and
//! a fuzz target hold it to that) at a fraction of the cost: strings without escapes are
//! borrowed from the event's data, keys are matched as bytes, and a chunk with one choice
//! allocates nothing. Rare, bulky parts (usage, logprobs, unknown fields) go through serde_json.

use std::borrow::Cow;

use serde_json::Value;

use super::extra::Extra;

use super::chunk::ChatCompletionChunk;
use super::chunk_view::{ChoiceView, ChunkView, DeltaView, FunctionCallView, ToolCallView};
use super::message::{Role, ToolKind};
use super::request::ServiceTier;
use super::response::{FinishReason, ObjectKind, Usage};
use crate::Text;
use crate::json::{JsonError, JsonReader, JsonResult, Peek, RawStr};

/// Why an event's data is not a chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChunkJsonError(pub(crate) String);

impl From<JsonError> for ChunkJsonError {
    fn from(error: JsonError) -> Self {
        Self(error.to_string())
    }
}

impl ChatCompletionChunk {
    /// Decodes a chunk from JSON text, sharing `data`'s buffer for its strings.
    ///
    /// Gives the same chunk as `serde_json::from_str`, several times faster.
    ///
    /// ```
    /// use gptproto_proto::{Text, wire::ChatCompletionChunk};
    ///
    /// let data = Text::from(r#"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m",
    ///     "choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}"#);
    /// let chunk = ChatCompletionChunk::from_json(&data)?;
    /// assert_eq!(chunk.text(), Some("Hel"));
    /// # Ok::<(), gptproto_proto::Error>(())
    /// ```
    pub fn from_json(data: &Text) -> Result<Self, crate::Error> {
        Ok(ChunkView::from_json(data)?.to_chunk(data))
    }
}

impl<'a> ChunkView<'a> {
    /// Decodes a chunk from JSON text, borrowing its strings from `data`.
    ///
    /// ```
    /// use gptproto_proto::wire::ChunkView;
    ///
    /// let view = ChunkView::from_json(r#"{"choices":[{"index":0,"delta":{"content":"Hel"}}]}"#)?;
    /// assert_eq!(view.text(), Some("Hel"));
    /// # Ok::<(), gptproto_proto::Error>(())
    /// ```
    pub fn from_json(data: &'a str) -> Result<Self, crate::Error> {
        decode_view(data).map_err(|error| {
            crate::Error::new(crate::ErrorKind::InvalidStreamData {
                event_type: "message".to_owned(),
                reason: error.0,
                data_prefix: crate::text::prefix(data),
            })
        })
    }
}

pub(crate) fn decode_view(data: &str) -> Result<ChunkView<'_>, ChunkJsonError> {
    let mut view = ChunkView::default();
    decode_view_into(data, &mut view)?;
    Ok(view)
}

/// Decodes `data` into `view`, which must be in its default state. On error, `view` holds
/// whatever was decoded before the error.
#[inline]
pub(crate) fn decode_view_into<'a>(
    data: &'a str,
    view: &mut ChunkView<'a>,
) -> Result<(), ChunkJsonError> {
    let mut reader = JsonReader::new(data);
    match Decoder.chunk(&mut reader, view) {
        Ok(()) => Ok(()),
        Err(_) => Err(reader.take_error().into()),
    }
}

pub(super) struct Decoder;

/// Marks which known keys an object has had, to refuse duplicates as serde does.
pub(super) struct Seen(pub(super) u32);

impl Seen {
    /// Records field `bit` of `names`; a second time is an error, as in serde.
    #[inline(always)]
    pub(super) fn first(
        &mut self,
        bit: u32,
        reader: &mut JsonReader<'_>,
        names: &[&str],
    ) -> JsonResult<()> {
        if self.0 & (1 << bit) != 0 {
            return Self::duplicate(reader, names[bit as usize]);
        }
        self.0 |= 1 << bit;
        Ok(())
    }

    #[cold]
    fn duplicate(reader: &mut JsonReader<'_>, name: &str) -> JsonResult<()> {
        reader.error(format!("duplicate field `{name}`"))
    }
}

/// A key, decoded only when it has escapes.
#[inline(always)]
pub(super) fn key<'a>(raw: &RawStr<'a>) -> Cow<'a, str> {
    if raw.escaped {
        unescaped(raw)
    } else {
        Cow::Borrowed(raw.raw)
    }
}

#[cold]
#[inline(never)]
fn unescaped<'a>(raw: &RawStr<'a>) -> Cow<'a, str> {
    Cow::Owned(raw.unescape())
}

/// The general path for a key the fast match did not recognise: reads it (and its colon),
/// unescapes it, and looks it up in `names`. `Ok(Err(name))` for a key that is not there.
#[cold]
pub(super) fn slow_key<'a>(
    reader: &mut JsonReader<'a>,
    names: &[&str],
) -> JsonResult<Result<u32, Cow<'a, str>>> {
    let name = key(&reader.key()?);
    Ok(match names.iter().position(|known| *known == name) {
        Some(index) => Ok(index as u32),
        None => Err(name),
    })
}

const CHUNK_FIELDS: [&str; 10] = [
    "id",
    "object",
    "created",
    "model",
    "service_tier",
    "system_fingerprint",
    "choices",
    "usage",
    "obfuscation",
    "moderation",
];
const CHOICE_FIELDS: [&str; 4] = ["index", "delta", "logprobs", "finish_reason"];
const DELTA_FIELDS: [&str; 7] = [
    "content",
    "role",
    "reasoning_content",
    "reasoning",
    "refusal",
    "tool_calls",
    "function_call",
];
const TOOL_CALL_FIELDS: [&str; 4] = ["index", "id", "type", "function"];
const FUNCTION_FIELDS: [&str; 2] = ["name", "arguments"];
const USAGE_FIELDS: [&str; 5] = [
    "prompt_tokens",
    "completion_tokens",
    "total_tokens",
    "prompt_tokens_details",
    "completion_tokens_details",
];

/// The index in `$names` of the key at the reader's position, matched on its first byte and
/// then its literal bytes; or, for a key that is not known (or is written with escapes), the
/// general path. In the latter case an unknown key's value goes to `$extra` and the loop moves
/// on to the next member.
macro_rules! field {
    ($reader:ident, $names:ident, $extra:expr, $more:ident, [$($byte:literal => $index:literal),+ $(,)?]) => {
        match $reader.key_first_byte() {
            $( $byte if $reader.key_is($names[$index]) => $index, )+
            _ => match slow_key($reader, &$names)? {
                Ok(index) => index,
                Err(name) => {
                    Self::extra($extra, name, $reader)?;
                    $more = $reader.next_member()?;
                    continue;
                }
            },
        }
    };
}
pub(super) use field;

impl Decoder {
    /// A string value: borrowed from the data unless it has escapes.
    #[inline(always)]
    pub(super) fn text<'a>(&self, raw: RawStr<'a>) -> Cow<'a, str> {
        key(&raw)
    }

    #[inline(always)]
    pub(super) fn opt_text<'a>(
        &self,
        reader: &mut JsonReader<'a>,
    ) -> JsonResult<Option<Cow<'a, str>>> {
        if reader.eat_null()? {
            return Ok(None);
        }
        Ok(Some(self.text(reader.string()?)))
    }

    pub(super) fn opt_wire<T>(
        reader: &mut JsonReader<'_>,
        from: impl Fn(&str) -> T,
    ) -> JsonResult<Option<T>> {
        if reader.eat_null()? {
            return Ok(None);
        }
        let raw = reader.string()?;
        Ok(Some(from(&key(&raw))))
    }

    /// An optional value: `None` for `null` (most chunks say `"logprobs":null`), else the
    /// value validated by the reader, then decoded by serde_json.
    #[inline(always)]
    pub(super) fn serde_opt<T: serde::de::DeserializeOwned>(
        reader: &mut JsonReader<'_>,
    ) -> JsonResult<Option<T>> {
        if reader.eat_null()? {
            return Ok(None);
        }
        Self::serde(reader).map(Some)
    }

    /// An unsigned integer, `null` read as 0 (the wire types' `lenient::null_as_default`).
    #[inline(always)]
    pub(super) fn count(reader: &mut JsonReader<'_>) -> JsonResult<u64> {
        if reader.eat_null()? {
            Ok(0)
        } else {
            reader.u64()
        }
    }

    /// A `usage` object, or `None` for `null`: the token counts read in place (every
    /// non-streamed answer has them), the details and unknown fields through serde_json.
    pub(super) fn opt_usage(reader: &mut JsonReader<'_>) -> JsonResult<Option<Usage>> {
        if reader.eat_null()? {
            return Ok(None);
        }
        let mut usage = Usage::default();
        let mut seen = Seen(0);
        let mut more = reader.begin_object()?;
        while more {
            let index = field!(reader, USAGE_FIELDS, &mut usage.extra, more, [
                b'p' => 0, b'c' => 1, b't' => 2, b'p' => 3, b'c' => 4,
            ]);
            seen.first(index, reader, &USAGE_FIELDS)?;
            match index {
                0 => usage.prompt_tokens = Self::count(reader)?,
                1 => usage.completion_tokens = Self::count(reader)?,
                2 => usage.total_tokens = Self::count(reader)?,
                3 => usage.prompt_tokens_details = Self::serde_opt(reader)?,
                _ => usage.completion_tokens_details = Self::serde_opt(reader)?,
            }
            more = reader.next_member()?;
        }
        Ok(Some(usage))
    }

    /// The next value, validated by the reader, then decoded by serde_json.
    #[cold]
    pub(super) fn serde<T: serde::de::DeserializeOwned>(
        reader: &mut JsonReader<'_>,
    ) -> JsonResult<T> {
        let raw = reader.skip_value()?;
        match serde_json::from_str(raw) {
            Ok(value) => Ok(value),
            Err(error) => reader.error(error.to_string()),
        }
    }

    #[cold]
    pub(super) fn extra(
        extra: &mut Extra,
        name: Cow<'_, str>,
        reader: &mut JsonReader<'_>,
    ) -> JsonResult<()> {
        let value = Self::serde::<Value>(reader)?;
        extra.insert(name.into_owned(), value);
        Ok(())
    }

    /// The whole document, decoded into `chunk` (which is in its default state): in place, so
    /// that a few hundred bytes of view are not moved through layers of results.
    fn chunk<'a>(&self, reader: &mut JsonReader<'a>, chunk: &mut ChunkView<'a>) -> JsonResult<()> {
        let mut seen = Seen(0);
        let mut more = reader.begin_object()?;
        while more {
            let index = field!(reader, CHUNK_FIELDS, &mut chunk.extra, more, [
                b'i' => 0, b'o' => 1, b'c' => 2, b'm' => 3, b's' => 4, b's' => 5, b'c' => 6,
                b'u' => 7, b'o' => 8, b'm' => 9,
            ]);
            seen.first(index, reader, &CHUNK_FIELDS)?;
            match index {
                0 => chunk.id = self.opt_text(reader)?.unwrap_or_default(),
                1 => {
                    chunk.object = if reader.string_is("chat.completion.chunk") {
                        ObjectKind::ChatCompletionChunk
                    } else {
                        Self::opt_wire(reader, ObjectKind::from_wire)?.unwrap_or_default()
                    };
                }
                2 => chunk.created = Self::count(reader)?,
                3 => chunk.model = self.opt_text(reader)?.unwrap_or_default(),
                4 => {
                    chunk.service_tier = if reader.string_is("default") {
                        Some(ServiceTier::Default)
                    } else {
                        Self::opt_wire(reader, ServiceTier::from_wire)?
                    };
                }
                5 => chunk.system_fingerprint = self.opt_text(reader)?,
                6 => {
                    if !reader.eat_null()? {
                        let mut element = reader.begin_array()?;
                        while element {
                            // Decoded in place: a choice is a few hundred bytes to move.
                            self.choice(reader, chunk.choices.push_default())?;
                            element = reader.next_element()?;
                        }
                    }
                }
                7 => chunk.usage = Self::opt_usage(reader)?.map(Box::new),
                8 => chunk.obfuscation = self.opt_text(reader)?,
                _ => chunk.moderation = Self::serde_opt(reader)?,
            }
            more = reader.next_member()?;
        }
        reader.end()
    }

    /// Decodes into `choice`, which is in its default state.
    fn choice<'a>(
        &self,
        reader: &mut JsonReader<'a>,
        choice: &mut ChoiceView<'a>,
    ) -> JsonResult<()> {
        let mut seen = Seen(0);
        let mut more = reader.begin_object()?;
        while more {
            let index = field!(reader, CHOICE_FIELDS, &mut choice.extra, more, [
                b'i' => 0, b'd' => 1, b'l' => 2, b'f' => 3,
            ]);
            seen.first(index, reader, &CHOICE_FIELDS)?;
            match index {
                0 => choice.index = if reader.eat_null()? { 0 } else { reader.u32()? },
                1 => {
                    if !reader.eat_null()? {
                        self.delta(reader, &mut choice.delta)?;
                    }
                }
                2 => choice.logprobs = Self::serde_opt(reader)?,
                _ => {
                    choice.finish_reason = if reader.eat_null()? {
                        None
                    } else if reader.string_is("stop") {
                        Some(FinishReason::Stop)
                    } else {
                        Self::opt_wire(reader, FinishReason::from_wire)?
                    };
                }
            }
            more = reader.next_member()?;
        }
        Ok(())
    }

    /// Decodes into `delta`, which is in its default state.
    fn delta<'a>(&self, reader: &mut JsonReader<'a>, delta: &mut DeltaView<'a>) -> JsonResult<()> {
        let mut seen = Seen(0);
        let mut more = reader.begin_object()?;
        while more {
            let index = field!(reader, DELTA_FIELDS, &mut delta.extra, more, [
                b'c' => 0, b'r' => 1, b'r' => 2, b'r' => 3, b'r' => 4, b't' => 5, b'f' => 6,
            ]);
            seen.first(index, reader, &DELTA_FIELDS)?;
            match index {
                0 => delta.content = self.opt_text(reader)?,
                1 => delta.role = Self::opt_wire(reader, Role::from_wire)?,
                2 => delta.reasoning_content = self.opt_text(reader)?,
                3 => delta.reasoning = self.opt_text(reader)?,
                4 => delta.refusal = self.opt_text(reader)?,
                5 => {
                    delta.tool_calls.clear();
                    match reader.peek()? {
                        Peek::Null => {
                            reader.eat_null()?;
                        }
                        Peek::Object => {
                            let call = self.tool_call(reader)?;
                            delta.tool_calls.push(call);
                        }
                        _ => {
                            let mut element = reader.begin_array()?;
                            while element {
                                let call = self.tool_call(reader)?;
                                delta.tool_calls.push(call);
                                element = reader.next_element()?;
                            }
                        }
                    }
                }
                _ => {
                    delta.function_call = if reader.eat_null()? {
                        None
                    } else {
                        Some(Box::new(self.function(reader)?))
                    };
                }
            }
            more = reader.next_member()?;
        }
        Ok(())
    }

    fn tool_call<'a>(&self, reader: &mut JsonReader<'a>) -> JsonResult<ToolCallView<'a>> {
        let mut call = ToolCallView::default();
        let mut seen = Seen(0);
        let mut more = reader.begin_object()?;
        while more {
            let index = field!(reader, TOOL_CALL_FIELDS, &mut call.extra, more, [
                b'i' => 0, b'i' => 1, b't' => 2, b'f' => 3,
            ]);
            seen.first(index, reader, &TOOL_CALL_FIELDS)?;
            match index {
                0 => {
                    call.index = if reader.eat_null()? {
                        None
                    } else {
                        Some(reader.u32()?)
                    }
                }
                1 => call.id = self.opt_text(reader)?,
                2 => call.kind = Self::opt_wire(reader, ToolKind::from_wire)?,
                _ => {
                    call.function = if reader.eat_null()? {
                        None
                    } else {
                        Some(self.function(reader)?)
                    };
                }
            }
            more = reader.next_member()?;
        }
        Ok(call)
    }

    fn function<'a>(&self, reader: &mut JsonReader<'a>) -> JsonResult<FunctionCallView<'a>> {
        let mut function = FunctionCallView::default();
        let mut seen = Seen(0);
        let mut more = reader.begin_object()?;
        while more {
            let index = field!(reader, FUNCTION_FIELDS, &mut function.extra, more, [
                b'n' => 0, b'a' => 1,
            ]);
            seen.first(index, reader, &FUNCTION_FIELDS)?;
            if index == 0 {
                function.name = self.opt_text(reader)?;
            } else {
                function.arguments = match reader.peek()? {
                    Peek::Null => {
                        reader.eat_null()?;
                        None
                    }
                    Peek::String => Some(self.text(reader.string()?)),
                    // Servers that send the arguments as an object: keep its JSON text, as
                    // the serde path does.
                    _ => Some(Cow::Owned(Self::serde::<Value>(reader)?.to_string())),
                };
            }
            more = reader.next_member()?;
        }
        Ok(function)
    }
}

#[cfg(test)]
mod tests;
