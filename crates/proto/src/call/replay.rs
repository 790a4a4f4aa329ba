//! A whole completion replayed as an event stream: for a server that answered a streamed
//! request in one piece (a JSON body), so that the stream's reader still gets chunks.

use bytes::Bytes;

use crate::Text;
use crate::wire::{
    ChatCompletion, ChatCompletionChunk, ChunkChoice, Delta, FunctionCallDelta, ToolCallDelta,
};

/// `completion` as the event stream of one chunk per choice, then `[DONE]`.
pub(super) fn as_event_stream(completion: &ChatCompletion) -> Bytes {
    let chunk = ChatCompletionChunk {
        id: completion.id.as_str().into(),
        created: completion.created,
        model: completion.model.as_str().into(),
        choices: completion
            .choices
            .iter()
            .map(|choice| ChunkChoice {
                index: choice.index,
                delta: Delta {
                    role: Some(choice.message.role.clone()),
                    content: choice.message.text().map(Text::from),
                    refusal: choice.message.refusal.as_deref().map(Text::from),
                    reasoning_content: choice.message.reasoning_content.as_deref().map(Text::from),
                    reasoning: choice.message.reasoning.as_deref().map(Text::from),
                    tool_calls: choice
                        .message
                        .tool_calls
                        .iter()
                        .enumerate()
                        .map(|(index, call)| ToolCallDelta {
                            index: u32::try_from(index).ok(),
                            id: Some(call.id.as_str().into()),
                            kind: Some(call.kind.clone()),
                            function: Some(FunctionCallDelta {
                                name: Some(call.function.name.as_str().into()),
                                arguments: Some(call.function.arguments.as_str().into()),
                                extra: Default::default(),
                            }),
                            extra: call.extra.clone(),
                        })
                        .collect(),
                    ..Delta::default()
                },
                finish_reason: choice.finish_reason.clone(),
                logprobs: choice.logprobs.clone().map(Box::new),
                extra: choice.extra.clone(),
            })
            .collect(),
        usage: completion.usage.clone().map(Box::new),
        system_fingerprint: completion.system_fingerprint.as_deref().map(Text::from),
        service_tier: completion.service_tier.clone(),
        ..ChatCompletionChunk::default()
    };
    let json = serde_json::to_string(&chunk).expect("a chunk serializes");
    Bytes::from(format!("data: {json}\n\ndata: [DONE]\n\n"))
}
