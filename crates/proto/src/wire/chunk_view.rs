//! [`ChunkView`]: a streamed chunk decoded in place, borrowing its strings from the event.
//!
//! A stream of a hundred thousand chunks is mostly short strings; giving each one an owner
//! (a refcount, an allocation) costs more than reading it. A view borrows them from the event's
//! data (`Cow::Owned` only for strings with escapes) and keeps one choice inline, so decoding a
//! typical chunk allocates nothing. [`StreamDecoder::poll_view`](crate::StreamDecoder::poll_view)
//! lends views; [`ChatCompletionChunk`] is the owned form.

use std::borrow::Cow;
use std::ops::Deref;

use serde_json::Value;

use super::chunk::{ChatCompletionChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta};
use super::extra::Extra;
use super::message::{Role, ToolKind};
use super::request::ServiceTier;
use super::response::{FinishReason, Logprobs, ObjectKind, Usage};
use crate::Text;

/// A chunk whose strings borrow from the event data it was decoded from. Same fields as
/// [`ChatCompletionChunk`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChunkView<'a> {
    /// The completion's id.
    pub id: Cow<'a, str>,
    /// `chat.completion.chunk` (kept as sent otherwise).
    pub object: ObjectKind,
    /// Unix time (seconds) of creation.
    pub created: u64,
    /// The model that answers.
    pub model: Cow<'a, str>,
    /// Deltas, one per choice that moved.
    pub choices: Choices<'a>,
    /// Token usage, when this chunk carries it.
    pub usage: Option<Box<Usage>>,
    /// The backend configuration fingerprint.
    pub system_fingerprint: Option<Cow<'a, str>>,
    /// The tier that processes the request.
    pub service_tier: Option<ServiceTier>,
    /// Padding against length side channels (OpenAI).
    pub obfuscation: Option<Cow<'a, str>>,
    /// Moderation results.
    pub moderation: Option<Box<Value>>,
    /// Fields this version does not know, kept as sent.
    pub extra: Extra,
}

/// The choices of a [`ChunkView`]: a slice, with room for one choice inline (the common case)
/// so that a chunk needs no allocation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Choices<'a>(ChoicesRepr<'a>);

#[derive(Debug, Clone, Default, PartialEq)]
enum ChoicesRepr<'a> {
    #[default]
    None,
    One(ChoiceView<'a>),
    Many(Vec<ChoiceView<'a>>),
}

impl<'a> Choices<'a> {
    /// Appends a choice.
    pub(crate) fn push(&mut self, choice: ChoiceView<'a>) {
        self.0 = match std::mem::take(&mut self.0) {
            ChoicesRepr::None => ChoicesRepr::One(choice),
            ChoicesRepr::One(first) => ChoicesRepr::Many(vec![first, choice]),
            ChoicesRepr::Many(mut many) => {
                many.push(choice);
                ChoicesRepr::Many(many)
            }
        };
    }

    /// Appends a default choice and returns it, to be filled in place.
    pub(crate) fn push_default(&mut self) -> &mut ChoiceView<'a> {
        match &mut self.0 {
            ChoicesRepr::None => {
                self.0 = ChoicesRepr::One(ChoiceView::default());
            }
            ChoicesRepr::One(_) => {
                let ChoicesRepr::One(first) = std::mem::take(&mut self.0) else {
                    unreachable!()
                };
                self.0 = ChoicesRepr::Many(vec![first, ChoiceView::default()]);
            }
            ChoicesRepr::Many(many) => many.push(ChoiceView::default()),
        }
        match &mut self.0 {
            ChoicesRepr::None => unreachable!(),
            ChoicesRepr::One(one) => one,
            ChoicesRepr::Many(many) => many.last_mut().expect("just pushed"),
        }
    }

    /// The choices as a slice.
    pub fn as_slice(&self) -> &[ChoiceView<'a>] {
        match &self.0 {
            ChoicesRepr::None => &[],
            ChoicesRepr::One(one) => std::slice::from_ref(one),
            ChoicesRepr::Many(many) => many,
        }
    }
}

impl<'a> Deref for Choices<'a> {
    type Target = [ChoiceView<'a>];
    fn deref(&self) -> &[ChoiceView<'a>] {
        self.as_slice()
    }
}

impl<'s, 'a> IntoIterator for &'s Choices<'a> {
    type Item = &'s ChoiceView<'a>;
    type IntoIter = std::slice::Iter<'s, ChoiceView<'a>>;
    fn into_iter(self) -> Self::IntoIter {
        self.as_slice().iter()
    }
}

impl<'a> FromIterator<ChoiceView<'a>> for Choices<'a> {
    fn from_iter<I: IntoIterator<Item = ChoiceView<'a>>>(iter: I) -> Self {
        let mut choices = Self::default();
        for choice in iter {
            choices.push(choice);
        }
        choices
    }
}

/// A choice's delta within a [`ChunkView`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChoiceView<'a> {
    /// The choice's index.
    pub index: u32,
    /// What is new.
    pub delta: DeltaView<'a>,
    /// Set on the choice's last chunk.
    pub finish_reason: Option<FinishReason>,
    /// Log probabilities of the delta's tokens.
    pub logprobs: Option<Box<Logprobs>>,
    /// Fields this version does not know, kept as sent.
    pub extra: Extra,
}

/// What a chunk adds to a choice's message, borrowed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeltaView<'a> {
    /// The role, usually only on the first chunk.
    pub role: Option<Role>,
    /// Text to append to the content.
    pub content: Option<Cow<'a, str>>,
    /// Text to append to the refusal.
    pub refusal: Option<Cow<'a, str>>,
    /// Reasoning text (DashScope/Qwen, DeepSeek).
    pub reasoning_content: Option<Cow<'a, str>>,
    /// Reasoning text (vLLM, Ollama).
    pub reasoning: Option<Cow<'a, str>>,
    /// Tool-call fragments.
    pub tool_calls: Vec<ToolCallView<'a>>,
    /// Deprecated function calling: a fragment of the call.
    pub function_call: Option<Box<FunctionCallView<'a>>>,
    /// Fields this version does not know, kept as sent.
    pub extra: Extra,
}

/// A fragment of a tool call, borrowed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ToolCallView<'a> {
    /// Which call this fragment belongs to.
    pub index: Option<u32>,
    /// The call's id.
    pub id: Option<Cow<'a, str>>,
    /// The kind of tool.
    pub kind: Option<ToolKind>,
    /// The function's name and a piece of its arguments.
    pub function: Option<FunctionCallView<'a>>,
    /// Fields this version does not know, kept as sent.
    pub extra: Extra,
}

/// A fragment of a function call, borrowed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FunctionCallView<'a> {
    /// The function's name.
    pub name: Option<Cow<'a, str>>,
    /// A piece of the arguments' JSON text.
    pub arguments: Option<Cow<'a, str>>,
    /// Fields this version does not know, kept as sent.
    pub extra: Extra,
}

impl ChunkView<'_> {
    /// The content delta of the first choice, if this chunk carries one.
    pub fn text(&self) -> Option<&str> {
        self.choices.first()?.delta.content.as_deref()
    }
}

impl DeltaView<'_> {
    /// The reasoning text, under whichever name the server used.
    pub fn reasoning_text(&self) -> Option<&str> {
        self.reasoning_content
            .as_deref()
            .or(self.reasoning.as_deref())
    }
}

/// Owned strings from borrowed ones: slices of `source` where the view borrowed from it
/// (no copy), new buffers where it had to unescape.
struct Owner<'s> {
    source: &'s Text,
}

impl Owner<'_> {
    fn text(&self, text: &str) -> Text {
        if !text.is_empty() && self.covers(text) {
            self.source.slice_ref(text)
        } else {
            Text::from(text)
        }
    }

    fn covers(&self, part: &str) -> bool {
        let range = self.source.as_bytes().as_ptr_range();
        range.contains(&part.as_ptr()) && part.as_ptr() as usize + part.len() <= range.end as usize
    }

    fn opt(&self, text: &Option<Cow<'_, str>>) -> Option<Text> {
        text.as_ref().map(|text| self.text(text))
    }

    fn function(&self, function: &FunctionCallView<'_>) -> FunctionCallDelta {
        FunctionCallDelta {
            name: self.opt(&function.name),
            arguments: self.opt(&function.arguments),
            extra: function.extra.clone(),
        }
    }
}

impl ChunkView<'_> {
    /// The owned chunk. Strings that the view borrowed from `source` (the event data it was
    /// decoded from) become shared slices of it; others are copied. (Public as
    /// [`ChunkRef::to_chunk`](crate::stream::ChunkRef::to_chunk), which pairs a view with its
    /// source.)
    pub(crate) fn to_chunk(&self, source: &Text) -> ChatCompletionChunk {
        let owner = Owner { source };
        ChatCompletionChunk {
            id: owner.text(&self.id),
            object: self.object.clone(),
            created: self.created,
            model: owner.text(&self.model),
            choices: self
                .choices
                .iter()
                .map(|choice| ChunkChoice {
                    index: choice.index,
                    delta: Delta {
                        role: choice.delta.role.clone(),
                        content: owner.opt(&choice.delta.content),
                        refusal: owner.opt(&choice.delta.refusal),
                        reasoning_content: owner.opt(&choice.delta.reasoning_content),
                        reasoning: owner.opt(&choice.delta.reasoning),
                        tool_calls: choice
                            .delta
                            .tool_calls
                            .iter()
                            .map(|call| ToolCallDelta {
                                index: call.index,
                                id: owner.opt(&call.id),
                                kind: call.kind.clone(),
                                function: call.function.as_ref().map(|f| owner.function(f)),
                                extra: call.extra.clone(),
                            })
                            .collect(),
                        function_call: choice
                            .delta
                            .function_call
                            .as_ref()
                            .map(|function| Box::new(owner.function(function))),
                        extra: choice.delta.extra.clone(),
                    },
                    finish_reason: choice.finish_reason.clone(),
                    logprobs: choice.logprobs.clone(),
                    extra: choice.extra.clone(),
                })
                .collect(),
            usage: self.usage.clone(),
            system_fingerprint: owner.opt(&self.system_fingerprint),
            service_tier: self.service_tier.clone(),
            obfuscation: owner.opt(&self.obfuscation),
            moderation: self.moderation.clone(),
            extra: self.extra.clone(),
        }
    }
}

fn borrow(text: &Text) -> Cow<'_, str> {
    Cow::Borrowed(text.as_str())
}

fn borrow_opt(text: &Option<Text>) -> Option<Cow<'_, str>> {
    text.as_ref().map(borrow)
}

fn function_view(function: &FunctionCallDelta) -> FunctionCallView<'_> {
    FunctionCallView {
        name: borrow_opt(&function.name),
        arguments: borrow_opt(&function.arguments),
        extra: function.extra.clone(),
    }
}

impl ChatCompletionChunk {
    /// A view borrowing this chunk's strings (what the accumulator folds).
    pub fn view(&self) -> ChunkView<'_> {
        ChunkView {
            id: borrow(&self.id),
            object: self.object.clone(),
            created: self.created,
            model: borrow(&self.model),
            choices: self
                .choices
                .iter()
                .map(|choice| ChoiceView {
                    index: choice.index,
                    delta: DeltaView {
                        role: choice.delta.role.clone(),
                        content: borrow_opt(&choice.delta.content),
                        refusal: borrow_opt(&choice.delta.refusal),
                        reasoning_content: borrow_opt(&choice.delta.reasoning_content),
                        reasoning: borrow_opt(&choice.delta.reasoning),
                        tool_calls: choice
                            .delta
                            .tool_calls
                            .iter()
                            .map(|call| ToolCallView {
                                index: call.index,
                                id: borrow_opt(&call.id),
                                kind: call.kind.clone(),
                                function: call.function.as_ref().map(function_view),
                                extra: call.extra.clone(),
                            })
                            .collect(),
                        function_call: choice
                            .delta
                            .function_call
                            .as_deref()
                            .map(|function| Box::new(function_view(function))),
                        extra: choice.delta.extra.clone(),
                    },
                    finish_reason: choice.finish_reason.clone(),
                    logprobs: choice.logprobs.clone(),
                    extra: choice.extra.clone(),
                })
                .collect(),
            usage: self.usage.clone(),
            system_fingerprint: borrow_opt(&self.system_fingerprint),
            service_tier: self.service_tier.clone(),
            obfuscation: borrow_opt(&self.obfuscation),
            moderation: self.moderation.clone(),
            extra: self.extra.clone(),
        }
    }
}
