//! [`ChunkAccumulator`]: folds streamed chunks into the [`ChatCompletion`] a non-streamed call
//! would have returned, and tells a complete stream from a truncated one.
//!
//! The rules, learned from the official SDKs and from what servers send:
//! - content, refusal and reasoning text are concatenated per choice `index`;
//! - tool calls are merged by their `index`: `id`, `type` and `name` are set once and never
//!   concatenated (servers repeat them on every fragment, or send `""`), `arguments` are
//!   appended. A fragment without `index` (Gemini) joins the call with the same id, starts a new
//!   call when it brings a new id or a name, and otherwise continues the last call;
//! - `usage` comes from the last chunk that carries one (Groq's `x_groq.usage` too);
//! - `finish_reason` is per choice, the last one given.
//!
//! A stream is complete when `[DONE]` was seen or every choice finished; anything else is
//! truncated, and [`finish`](ChunkAccumulator::finish) says so while keeping what arrived.

use serde_json::Value;

use crate::wire::{
    ChatCompletion, ChatCompletionChunk, Choice, ChunkView, Content, DeltaView, Extra,
    FinishReason, FunctionCall, Logprobs, Message, ObjectKind, Role, ToolCall, ToolCallView, Usage,
};
use crate::{Error, ErrorKind};

mod outline;
mod size;

pub use outline::AnswerOutline;

/// The charge for a new choice's bookkeeping (its fields and strings).
const CHOICE: usize = size::ITEM * 8;

/// Folds [`ChatCompletionChunk`]s into a [`ChatCompletion`].
///
/// ```
/// use gptproto_proto::{ChunkAccumulator, Text, wire::ChatCompletionChunk};
///
/// let mut accumulator = ChunkAccumulator::new();
/// for data in [
///     r#"{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#,
///     r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"arguments":"{\"city\":"}}]}}]}"#,
///     r#"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":"tool_calls"}]}"#,
/// ] {
///     accumulator.push(&ChatCompletionChunk::from_json(&Text::from(data))?);
/// }
/// let completion = accumulator.finish()?;
/// let call = &completion.choices[0].message.tool_calls[0];
/// assert_eq!(call.id, "call_1"); // repeated, not concatenated
/// assert_eq!(call.function.arguments, r#"{"city":"Paris"}"#);
/// # Ok::<(), gptproto_proto::Error>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ChunkAccumulator {
    completion: ChatCompletion,
    choices: Vec<ChoiceState>,
    progress: StreamProgress,
    /// What the folded chunks added, in bytes ([`retained_bytes`](Self::retained_bytes)).
    retained: usize,
}

#[derive(Debug, Clone, Default)]
struct ChoiceState {
    index: u32,
    role: Option<Role>,
    content: Option<String>,
    refusal: String,
    reasoning_content: String,
    reasoning: String,
    tool_calls: Vec<ToolCallState>,
    function_call: Option<FunctionCall>,
    finish_reason: Option<FinishReason>,
    logprobs: Option<Logprobs>,
    message_extra: Extra,
    choice_extra: Extra,
}

#[derive(Debug, Clone, Default)]
struct ToolCallState {
    index: u32,
    call: ToolCall,
    kind_set: bool,
}

/// What is known about a stream's completeness: `[DONE]`, and which choices finished.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamProgress {
    pub(crate) done: bool,
    /// Each choice index seen, and whether it has a finish reason.
    pub(crate) choices: Vec<(u32, bool)>,
    pub(crate) expected_choices: Option<u32>,
    pub(crate) chunks: u64,
}

impl StreamProgress {
    pub(crate) fn observe(&mut self, chunk: &ChunkView<'_>) {
        self.chunks += 1;
        for choice in &chunk.choices {
            let finished = choice.finish_reason.is_some();
            match self
                .choices
                .iter_mut()
                .find(|(index, _)| *index == choice.index)
            {
                Some((_, seen_finished)) => *seen_finished |= finished,
                None => self.choices.push((choice.index, finished)),
            }
        }
    }

    /// `[DONE]` seen, or every choice (at least one, and as many as expected) finished.
    pub(crate) fn is_complete(&self) -> bool {
        if self.done {
            return true;
        }
        let expected = self.expected_choices.unwrap_or(1) as usize;
        self.choices.len() >= expected && self.choices.iter().all(|&(_, finished)| finished)
    }

    pub(crate) fn truncated(&self, partial: Option<ChatCompletion>) -> Error {
        Error::new(ErrorKind::Truncated {
            partial: partial.map(Box::new),
            chunks: self.chunks,
        })
    }
}

impl ChunkAccumulator {
    /// An empty accumulator.
    pub fn new() -> Self {
        Self::default()
    }

    /// Expects `n` choices (the request's `n`): the stream is only complete without `[DONE]`
    /// when that many choices finished.
    #[must_use]
    pub fn expect_choices(mut self, n: u32) -> Self {
        self.progress.expected_choices = Some(n);
        self
    }

    /// Records that the stream sent `[DONE]`.
    pub fn mark_done(&mut self) {
        self.progress.done = true;
    }

    pub(crate) fn progress(&self) -> &StreamProgress {
        &self.progress
    }

    /// An estimate of the heap the accumulated answer holds, in bytes: its text, and every
    /// other retained item (a choice, a tool call, a log probability, an unknown field) with a
    /// fixed charge for its bookkeeping. It only grows; the
    /// [`StreamDecoder`](crate::StreamDecoder) bounds it.
    pub fn retained_bytes(&self) -> usize {
        self.retained
    }

    /// How many chunks were pushed.
    pub fn chunks(&self) -> u64 {
        self.progress.chunks
    }

    /// Whether the stream is complete so far: `[DONE]` seen, or every choice finished.
    pub fn is_complete(&self) -> bool {
        self.progress.is_complete()
    }

    /// Folds one chunk in.
    pub fn push(&mut self, chunk: &ChatCompletionChunk) {
        self.push_view(&chunk.view());
    }

    /// Folds one borrowed chunk in (what [`StreamDecoder`](crate::StreamDecoder) does).
    pub fn push_view(&mut self, chunk: &ChunkView<'_>) {
        self.progress.observe(chunk);
        let completion = &mut self.completion;
        if completion.id.is_empty() && !chunk.id.is_empty() {
            completion.id = chunk.id.to_string();
        }
        if completion.model.is_empty() && !chunk.model.is_empty() {
            completion.model = chunk.model.to_string();
        }
        if completion.created == 0 {
            completion.created = chunk.created;
        }
        // Set by the first chunk that has them: the same on every chunk of a stream.
        if completion.system_fingerprint.is_none()
            && let Some(fingerprint) = &chunk.system_fingerprint
        {
            completion.system_fingerprint = Some(fingerprint.to_string());
        }
        if completion.service_tier.is_none() {
            completion.service_tier.clone_from(&chunk.service_tier);
        }
        if let Some(usage) = &chunk.usage {
            completion.usage = Some(Usage::clone(usage));
        } else if let Some(usage) = groq_usage(chunk) {
            completion.usage = Some(usage);
        }
        let mut added = 0;
        if let Some(moderation) = &chunk.moderation {
            let old = completion.moderation.replace(Value::clone(moderation));
            added += grown(old.as_ref(), moderation);
        }
        for (key, value) in &chunk.extra {
            if key != "x_groq" {
                added += merge_value(&mut completion.extra, key, value);
            }
        }
        for choice in chunk.choices.iter() {
            let state = self.choice_mut(choice.index, &mut added);
            added += state.apply(&choice.delta);
            if let Some(reason) = &choice.finish_reason {
                state.finish_reason = Some(reason.clone());
            }
            if let Some(logprobs) = &choice.logprobs {
                added += size::logprobs(logprobs);
                append_logprobs(
                    state.logprobs.get_or_insert_with(Logprobs::default),
                    logprobs,
                );
            }
            added += merge_extra(&mut state.choice_extra, &choice.extra);
        }
        self.retained = self.retained.saturating_add(added);
    }

    fn choice_mut(&mut self, index: u32, added: &mut usize) -> &mut ChoiceState {
        let position = match self.choices.iter().position(|choice| choice.index == index) {
            Some(position) => position,
            None => {
                *added += CHOICE;
                self.choices.push(ChoiceState {
                    index,
                    ..ChoiceState::default()
                });
                self.choices.len() - 1
            }
        };
        &mut self.choices[position]
    }

    /// The completion as accumulated so far, whether or not the stream is complete.
    pub fn snapshot(&self) -> ChatCompletion {
        let mut completion = self.completion.clone();
        completion.object = ObjectKind::ChatCompletion;
        let mut choices: Vec<Choice> = self.choices.iter().map(ChoiceState::to_choice).collect();
        choices.sort_by_key(|choice| choice.index);
        completion.choices = choices;
        completion
    }

    /// The completion as accumulated so far, moved out (no copy of its text): the accumulator
    /// is left empty but for its progress.
    pub(crate) fn take_snapshot(&mut self) -> ChatCompletion {
        let mut completion = std::mem::take(&mut self.completion);
        completion.object = ObjectKind::ChatCompletion;
        let mut choices: Vec<Choice> = std::mem::take(&mut self.choices)
            .into_iter()
            .map(ChoiceState::into_choice)
            .collect();
        choices.sort_by_key(|choice| choice.index);
        completion.choices = choices;
        self.retained = 0;
        completion
    }

    /// The completion, or a [truncation error](Error::is_truncated) carrying it when the stream
    /// is not complete.
    pub fn finish(self) -> Result<ChatCompletion, Error> {
        let completion = self.snapshot();
        if self.progress.is_complete() {
            Ok(completion)
        } else {
            Err(self.progress.truncated(Some(completion)))
        }
    }
}

impl ChoiceState {
    /// Folds a delta in; returns the bytes it added (see [`size`]).
    fn apply(&mut self, delta: &DeltaView<'_>) -> usize {
        let mut added = 0;
        if self.role.is_none() {
            self.role.clone_from(&delta.role);
        }
        if let Some(content) = &delta.content {
            added += content.len();
            self.content
                .get_or_insert_with(String::new)
                .push_str(content);
        }
        for (text, into) in [
            (&delta.refusal, &mut self.refusal),
            (&delta.reasoning_content, &mut self.reasoning_content),
            (&delta.reasoning, &mut self.reasoning),
        ] {
            if let Some(text) = text {
                added += text.len();
                into.push_str(text);
            }
        }
        for fragment in &delta.tool_calls {
            added += self.merge_tool_call(fragment);
        }
        if let Some(fragment) = &delta.function_call {
            let call = self.function_call.get_or_insert_with(FunctionCall::default);
            if let Some(name) = fragment.name.as_deref().filter(|name| !name.is_empty())
                && call.name.is_empty()
            {
                added += name.len();
                call.name = name.to_owned();
            }
            if let Some(arguments) = &fragment.arguments {
                added += arguments.len();
                call.arguments.push_str(arguments);
            }
        }
        added + merge_extra(&mut self.message_extra, &delta.extra)
    }

    /// Merges a tool call's fragment; returns the bytes it added.
    fn merge_tool_call(&mut self, fragment: &ToolCallView<'_>) -> usize {
        let mut added = 0;
        let id = fragment.id.as_deref().filter(|id| !id.is_empty());
        let name = fragment
            .function
            .as_ref()
            .and_then(|function| function.name.as_deref())
            .filter(|name| !name.is_empty());
        let position = match fragment.index {
            Some(index) => self.tool_calls.iter().position(|call| call.index == index),
            None => match id {
                Some(id) => self.tool_calls.iter().position(|call| call.call.id == id),
                None if name.is_some() => None,
                None => self.tool_calls.len().checked_sub(1),
            },
        };
        let position = position.unwrap_or_else(|| {
            added += size::ITEM * 4;
            let index = fragment.index.unwrap_or_else(|| {
                self.tool_calls
                    .iter()
                    .map(|call| call.index + 1)
                    .max()
                    .unwrap_or(0)
            });
            self.tool_calls.push(ToolCallState {
                index,
                ..ToolCallState::default()
            });
            self.tool_calls.len() - 1
        });
        let state = &mut self.tool_calls[position];
        if let Some(id) = id
            && state.call.id.is_empty()
        {
            added += id.len();
            state.call.id = id.to_owned();
        }
        if let Some(kind) = &fragment.kind
            && !state.kind_set
        {
            state.call.kind = kind.clone();
            state.kind_set = true;
        }
        if let Some(function) = &fragment.function {
            if let Some(name) = name
                && state.call.function.name.is_empty()
            {
                added += name.len();
                state.call.function.name = name.to_owned();
            }
            if let Some(arguments) = &function.arguments {
                added += arguments.len();
                state.call.function.arguments.push_str(arguments);
            }
            added += merge_extra(&mut state.call.function.extra, &function.extra);
        }
        added + merge_extra(&mut state.call.extra, &fragment.extra)
    }

    fn to_choice(&self) -> Choice {
        self.clone().into_choice()
    }

    fn into_choice(self) -> Choice {
        let mut tool_calls = self.tool_calls;
        tool_calls.sort_by_key(|call| call.index);
        let tool_calls: Vec<ToolCall> = tool_calls.into_iter().map(|call| call.call).collect();
        // OpenAI streams `"content": ""` ahead of tool calls; the non-streamed answer has null.
        let content = self
            .content
            .filter(|content| !content.is_empty() || tool_calls.is_empty());
        let non_empty = |text: String| (!text.is_empty()).then_some(text);
        Choice {
            index: self.index,
            message: Message {
                role: self.role.unwrap_or(Role::Assistant),
                content: content.map(Content::Text),
                refusal: non_empty(self.refusal),
                reasoning_content: non_empty(self.reasoning_content),
                reasoning: non_empty(self.reasoning),
                tool_calls,
                function_call: self.function_call,
                extra: self.message_extra,
                ..Message::default()
            },
            finish_reason: self.finish_reason,
            logprobs: self.logprobs,
            extra: self.choice_extra,
        }
    }
}

/// Merges a chunk's unknown fields into the accumulated ones: later values win, but `null`
/// never erases a value (the official SDKs' rule for every field). Returns the bytes added.
fn merge_extra(into: &mut Extra, from: &Extra) -> usize {
    from.iter()
        .map(|(key, value)| merge_value(into, key, value))
        .sum()
}

fn merge_value(into: &mut Extra, key: &str, value: &Value) -> usize {
    if value.is_null() && into.get(key).is_some_and(|old| !old.is_null()) {
        return 0;
    }
    match into.insert(key, value.clone()) {
        Some(old) => grown(Some(&old), value),
        None => key.len() + size::value(value),
    }
}

/// What replacing `old` with `new` added.
fn grown(old: Option<&Value>, new: &Value) -> usize {
    size::value(new).saturating_sub(old.map_or(0, size::value))
}

fn append_logprobs(into: &mut Logprobs, from: &Logprobs) {
    if let Some(content) = &from.content {
        into.content
            .get_or_insert_with(Vec::new)
            .extend_from_slice(content);
    }
    if let Some(refusal) = &from.refusal {
        into.refusal
            .get_or_insert_with(Vec::new)
            .extend_from_slice(refusal);
    }
}

/// Groq reported usage as `x_groq.usage`.
fn groq_usage(chunk: &ChunkView<'_>) -> Option<Usage> {
    let usage = chunk.extra.get("x_groq")?.get("usage")?;
    serde_json::from_value(usage.clone()).ok()
}

#[cfg(test)]
mod tests;
