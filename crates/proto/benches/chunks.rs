//! Decoding a 100,000-event chat-completion stream to typed chunks and accumulating the answer,
//! side by side with `eventsource-stream` + `serde_json` into async-openai's chunk type (what
//! async-openai itself does), fed in 16 KiB pieces.
//!
//! `cargo bench -p gptproto-proto --bench chunks`

#[path = "common/mod.rs"]
mod common;

use std::convert::Infallible;
use std::hint::black_box;

use async_openai::types::chat::CreateChatCompletionStreamResponse;
use bytes::Bytes;
use futures::StreamExt;
use gptproto_proto::sse::SseDecoder;
use gptproto_proto::wire::ChatCompletionChunk;
use gptproto_proto::{ChunkAccumulator, StreamDecoder};

/// gptproto: SSE, typed chunks (borrowed views: no allocation per chunk), accumulation; the
/// answer's text.
fn gptproto(pieces: &[Bytes]) -> String {
    let mut decoder = StreamDecoder::new().accumulating();
    for piece in pieces {
        decoder.push(piece.clone());
        while let Some(item) = decoder.poll_view().unwrap() {
            black_box(&item);
        }
    }
    decoder.finish();
    while decoder.poll_view().unwrap().is_some() {}
    let completion = decoder.into_completion().unwrap();
    completion.text().unwrap().to_owned()
}

/// gptproto with owned chunks (`poll_item`, what a `Stream` of chunks yields).
fn gptproto_owned(pieces: &[Bytes]) -> String {
    let mut decoder = StreamDecoder::new().accumulating();
    for piece in pieces {
        decoder.push(piece.clone());
        while let Some(item) = decoder.poll_item().unwrap() {
            black_box(&item);
        }
    }
    decoder.finish();
    while decoder.poll_item().unwrap().is_some() {}
    let completion = decoder.into_completion().unwrap();
    completion.text().unwrap().to_owned()
}

/// gptproto's SSE decoder, then serde_json into gptproto's chunk type (what the fast chunk
/// decoder replaces), then the accumulator.
fn gptproto_via_serde_json(pieces: &[Bytes]) -> String {
    let mut sse = SseDecoder::new();
    let mut accumulator = ChunkAccumulator::new();
    let mut fold = |sse: &mut SseDecoder| {
        while let Some(event) = sse.poll_event().unwrap() {
            if event.data() == "[DONE]" {
                accumulator.mark_done();
                continue;
            }
            let chunk: ChatCompletionChunk = serde_json::from_str(event.data()).unwrap();
            accumulator.push(&chunk);
        }
    };
    for piece in pieces {
        sse.push(piece.clone());
        fold(&mut sse);
    }
    sse.finish();
    fold(&mut sse);
    accumulator.finish().unwrap().text().unwrap().to_owned()
}

/// serde_json into a borrowed view (`#[serde(borrow)]`: strings without escapes borrowed from
/// the event's data), the fair contender of the hand-written reader. It reads the same typed
/// fields as gptproto's chunk, but skips unknown fields where gptproto keeps them.
// The fields are there to be decoded, as gptproto's are; most are not read after.
#[allow(dead_code)]
mod borrowed {
    use std::borrow::Cow;

    #[derive(serde::Deserialize)]
    pub(super) struct Chunk<'a> {
        #[serde(borrow)]
        pub(super) id: Option<Cow<'a, str>>,
        #[serde(borrow)]
        pub(super) object: Option<Cow<'a, str>>,
        pub(super) created: Option<u64>,
        #[serde(borrow)]
        pub(super) model: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub(super) choices: Vec<Choice<'a>>,
        pub(super) usage: Option<gptproto_proto::wire::Usage>,
        #[serde(borrow)]
        pub(super) system_fingerprint: Option<Cow<'a, str>>,
    }

    #[derive(serde::Deserialize)]
    pub(super) struct Choice<'a> {
        pub(super) index: u32,
        #[serde(borrow, default)]
        pub(super) delta: Delta<'a>,
        #[serde(borrow)]
        pub(super) finish_reason: Option<Cow<'a, str>>,
    }

    #[derive(serde::Deserialize, Default)]
    pub(super) struct Delta<'a> {
        #[serde(borrow)]
        pub(super) role: Option<Cow<'a, str>>,
        #[serde(borrow)]
        pub(super) content: Option<Cow<'a, str>>,
        #[serde(borrow)]
        pub(super) reasoning_content: Option<Cow<'a, str>>,
        #[serde(borrow)]
        pub(super) reasoning: Option<Cow<'a, str>>,
        #[serde(borrow)]
        pub(super) refusal: Option<Cow<'a, str>>,
        #[serde(borrow, default)]
        pub(super) tool_calls: Vec<ToolCall<'a>>,
    }

    #[derive(serde::Deserialize)]
    pub(super) struct ToolCall<'a> {
        pub(super) index: Option<u32>,
        #[serde(borrow)]
        pub(super) id: Option<Cow<'a, str>>,
        #[serde(borrow, rename = "type")]
        pub(super) kind: Option<Cow<'a, str>>,
        #[serde(borrow)]
        pub(super) function: Option<Function<'a>>,
    }

    #[derive(serde::Deserialize)]
    pub(super) struct Function<'a> {
        #[serde(borrow)]
        pub(super) name: Option<Cow<'a, str>>,
        #[serde(borrow)]
        pub(super) arguments: Option<Cow<'a, str>>,
    }
}

/// gptproto's SSE decoder, then serde_json into the borrowed view, content appended per choice.
fn serde_borrowed(pieces: &[Bytes]) -> String {
    let mut sse = SseDecoder::new();
    let mut texts: Vec<String> = Vec::new();
    let mut fold = |sse: &mut SseDecoder| {
        while let Some(event) = sse.poll_event().unwrap() {
            if event.data() == "[DONE]" {
                continue;
            }
            let chunk: borrowed::Chunk<'_> = serde_json::from_str(event.data()).unwrap();
            black_box((&chunk.id, &chunk.object, chunk.created, &chunk.model));
            black_box((&chunk.usage, &chunk.system_fingerprint));
            for choice in chunk.choices {
                let index = choice.index as usize;
                if texts.len() <= index {
                    texts.resize(index + 1, String::new());
                }
                let delta = choice.delta;
                black_box((&delta.role, &delta.reasoning_content, &delta.reasoning));
                black_box((&delta.refusal, &delta.tool_calls, &choice.finish_reason));
                if let Some(content) = delta.content {
                    texts[index].push_str(&content);
                }
            }
        }
    };
    for piece in pieces {
        sse.push(piece.clone());
        fold(&mut sse);
    }
    sse.finish();
    fold(&mut sse);
    texts.swap_remove(0)
}

/// async-openai's way: eventsource-stream events, serde_json into
/// `CreateChatCompletionStreamResponse`, content appended per choice.
fn async_openai(pieces: &[Bytes]) -> String {
    let input = futures::stream::iter(pieces.iter().cloned().map(Ok::<_, Infallible>));
    let mut events = eventsource_stream::EventStream::new(input);
    futures::executor::block_on(async {
        let mut texts: Vec<String> = Vec::new();
        while let Some(event) = events.next().await {
            let event = event.unwrap();
            if event.data == "[DONE]" {
                break;
            }
            let chunk: CreateChatCompletionStreamResponse =
                serde_json::from_str(&event.data).unwrap();
            for choice in chunk.choices {
                let index = choice.index as usize;
                if texts.len() <= index {
                    texts.resize(index + 1, String::new());
                }
                if let Some(content) = choice.delta.content {
                    texts[index].push_str(&content);
                }
            }
        }
        texts.swap_remove(0)
    })
}

/// One way of decoding the stream to its answer.
type Decode = fn(&[Bytes]) -> String;

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let stream = common::stream();
    let pieces = common::pieces(&stream, 16 * 1024);
    let expected = gptproto(&pieces);
    let contenders: [(&str, Decode); 5] = [
        ("gptproto (views)", gptproto),
        ("gptproto (owned chunks)", gptproto_owned),
        ("gptproto-sse+serde_json", gptproto_via_serde_json),
        ("gptproto-sse+serde_json borrowed view", serde_borrowed),
        ("eventsource-stream+serde_json+async-openai", async_openai),
    ];
    for (name, run) in contenders {
        assert_eq!(run(&pieces), expected, "{name} accumulates the same answer");
    }
    common::paired::compare(
        "typed chunks + accumulation, 100,000-event stream in 16 KiB pieces",
        stream.len(),
        31,
        contenders
            .iter()
            .map(|&(name, run)| common::paired::Contender {
                name,
                run: Box::new({
                    let pieces = &pieces;
                    move || run(pieces).len() as u64
                }),
            })
            .collect(),
    );
}
