//! Properties over generated inputs:
//! - SSE: any block structure, with any line endings, decodes to the events it encodes, and
//!   decodes the same however the bytes are split (also for arbitrary bytes);
//! - streams of chunks: the same chunks and the same accumulated answer however the body is split,
//!   through owned chunks and through views;
//! - wire types: request, completion and chunk survive serialization, and the fast chunk and
//!   completion decoders agree with serde_json on every serialized chunk and completion.

use bytes::Bytes;
use gptproto_proto::exchange::classify_response;
use gptproto_proto::sse::SseDecoder;
use gptproto_proto::wire::{
    ChatCompletion, ChatCompletionChunk, ChatRequest, Choice, ChunkChoice, CompletionTokensDetails,
    Content, ContentPart, Delta, Extra, FinishReason, FunctionCallDelta, ImageDetail, Logprobs,
    Message, ObjectKind, PromptTokensDetails, ResponseFormat, Role, ServiceTier, Stop,
    TokenLogprob, Tool, ToolCall, ToolCallDelta, ToolChoice, ToolKind, TopLogprob, Usage,
};
use gptproto_proto::{StreamDecoder, StreamItem, Text, ViewItem};
use proptest::collection::vec;
use proptest::prelude::*;
use serde_json::{Value, json};

// ---------------------------------------------------------------- SSE

/// One block of an event stream, as generated.
#[derive(Debug, Clone)]
struct Block {
    comment: Option<String>,
    event: Option<String>,
    id: Option<String>,
    retry: Option<u32>,
    data: Vec<String>,
}

/// Field values: anything but CR and LF (which end lines), including NUL, BOMs and non-ASCII.
fn field_value() -> impl Strategy<Value = String> {
    prop::string::string_regex("[a-z0-9 :{}\",\\[\\]é中\u{feff}\t\u{0}]{0,12}").unwrap()
}

fn block() -> impl Strategy<Value = Block> {
    (
        prop::option::of(field_value()),
        prop::option::of(prop::string::string_regex("[a-z]{1,8}").unwrap()),
        prop::option::of(prop::string::string_regex("[a-z0-9]{0,6}").unwrap()),
        prop::option::of(0u32..100_000),
        vec(field_value(), 0..4),
    )
        .prop_map(|(comment, event, id, retry, data)| Block {
            comment,
            event,
            id,
            retry,
            data,
        })
}

fn newline() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just("\n"), Just("\r"), Just("\r\n")]
}

fn encode(blocks: &[Block], newlines: &[&str]) -> Vec<u8> {
    let mut out = String::new();
    let mut nl = newlines.iter().cycle();
    for block in blocks {
        if let Some(comment) = &block.comment {
            out += &format!(":{comment}{}", nl.next().unwrap());
        }
        if let Some(event) = &block.event {
            out += &format!("event: {event}{}", nl.next().unwrap());
        }
        if let Some(id) = &block.id {
            out += &format!("id: {id}{}", nl.next().unwrap());
        }
        if let Some(retry) = block.retry {
            out += &format!("retry: {retry}{}", nl.next().unwrap());
        }
        for line in &block.data {
            out += &format!("data: {line}{}", nl.next().unwrap());
        }
        out += nl.next().unwrap();
    }
    out.into_bytes()
}

type Decoded = (Vec<(String, String, String)>, String, Option<u64>);

fn decode_sse(pieces: &[Bytes]) -> Decoded {
    let mut decoder = SseDecoder::new();
    let mut events = Vec::new();
    for piece in pieces {
        decoder.push(piece.clone());
        while let Some(event) = decoder.poll_event().unwrap() {
            events.push((
                event.event_type().to_owned(),
                event.data().to_string(),
                event.last_event_id().to_string(),
            ));
        }
    }
    decoder.finish();
    while let Some(event) = decoder.poll_event().unwrap() {
        events.push((
            event.event_type().to_owned(),
            event.data().to_string(),
            event.last_event_id().to_string(),
        ));
    }
    (
        events,
        decoder.last_event_id().to_string(),
        decoder.reconnection_time(),
    )
}

fn split(bytes: &Bytes, points: &[usize]) -> Vec<Bytes> {
    let mut points: Vec<usize> = points.iter().map(|p| p % (bytes.len() + 1)).collect();
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for point in points {
        pieces.push(bytes.slice(start..point));
        start = point;
    }
    pieces.push(bytes.slice(start..));
    pieces
}

/// What the WHATWG algorithm makes of `blocks` (the model the decoder is checked against).
fn expected_events(blocks: &[Block]) -> Decoded {
    let mut events = Vec::new();
    let mut last_id = String::new();
    let mut retry = None;
    for block in blocks {
        // A leading BOM in a field value is kept (only the stream's first bytes may be one).
        if let Some(id) = &block.id
            && !id.contains('\0')
        {
            last_id = id.clone();
        }
        if let Some(r) = block.retry {
            retry = Some(u64::from(r));
        }
        if block.data.is_empty() {
            continue;
        }
        let event = match &block.event {
            Some(event) if !event.is_empty() => event.clone(),
            _ => "message".to_owned(),
        };
        events.push((event, block.data.join("\n"), last_id.clone()));
    }
    (events, last_id, retry)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn sse_decodes_what_was_encoded_however_split(
        blocks in vec(block(), 0..8),
        // One style per stream: a CR line then an LF blank line would be one CRLF.
        newline in newline(),
        points in vec(any::<usize>(), 0..6),
    ) {
        let bytes = Bytes::from(encode(&blocks, &[newline]));
        let whole = decode_sse(std::slice::from_ref(&bytes));
        prop_assert_eq!(&whole, &expected_events(&blocks));
        prop_assert_eq!(decode_sse(&split(&bytes, &points)), whole);
    }

    #[test]
    fn sse_split_invariance_on_arbitrary_bytes(
        bytes in vec(prop_oneof![
            4 => any::<u8>(),
            4 => prop::sample::select(b"\r\n:data event id retry\xEF\xBB\xBF".to_vec()),
        ], 0..200),
        points in vec(any::<usize>(), 0..8),
    ) {
        let bytes = Bytes::from(bytes);
        let whole = decode_sse(std::slice::from_ref(&bytes));
        prop_assert_eq!(decode_sse(&split(&bytes, &points)), whole);
    }
}

// ---------------------------------------------------------------- wire types

/// Text that exercises escaping: quotes, backslashes, control characters, non-ASCII.
fn text() -> impl Strategy<Value = String> {
    prop::string::string_regex("[a-zA-Z0-9 \"\\\\/\n\t\u{1}é中😀{}\\[\\]:,]{0,16}").unwrap()
}

/// A value that is not one of the enum's known names, to land in `Other`.
fn other_name() -> impl Strategy<Value = String> {
    prop::string::string_regex("x_[a-z]{1,6}").unwrap()
}

fn finish_reason() -> impl Strategy<Value = FinishReason> {
    prop_oneof![
        Just(FinishReason::Stop),
        Just(FinishReason::Length),
        Just(FinishReason::ToolCalls),
        Just(FinishReason::ContentFilter),
        other_name().prop_map(FinishReason::Other),
    ]
}

/// JSON values without floats (serde_json's float parsing is not exact for every value).
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::from),
            vec(
                (prop::string::string_regex("[a-z]{1,4}").unwrap(), inner),
                0..4
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Unknown fields: keys that no wire type declares.
fn extra() -> impl Strategy<Value = Extra> {
    vec((other_name(), json_value()), 0..3).prop_map(|pairs| pairs.into_iter().collect())
}

// Every field of the wire types is generated (none pinned to `None`): a field that one of the
// fast decoders does not handle then shows as a difference from serde_json here.

/// A JSON value that may be absent: `null` is absence after a round trip, so never `Some(null)`.
fn optional_json() -> impl Strategy<Value = Option<Value>> {
    prop::option::of(json_value()).prop_map(|value| value.filter(|value| !value.is_null()))
}

fn count() -> impl Strategy<Value = Option<u64>> {
    prop::option::of(any::<u32>().prop_map(u64::from))
}

fn usage() -> impl Strategy<Value = Usage> {
    let prompt_details = (count(), count(), count(), count(), count(), extra()).prop_map(
        |(cached_tokens, audio_tokens, text_tokens, image_tokens, cache_write_tokens, extra)| {
            PromptTokensDetails {
                cached_tokens,
                audio_tokens,
                text_tokens,
                image_tokens,
                cache_write_tokens,
                extra,
            }
        },
    );
    let completion_details = (count(), count(), count(), count(), count(), extra()).prop_map(
        |(reasoning_tokens, audio_tokens, accepted, rejected, text_tokens, extra)| {
            CompletionTokensDetails {
                reasoning_tokens,
                audio_tokens,
                accepted_prediction_tokens: accepted,
                rejected_prediction_tokens: rejected,
                text_tokens,
                extra,
            }
        },
    );
    (
        any::<u32>(),
        any::<u32>(),
        prop::option::of(prompt_details),
        prop::option::of(completion_details),
        extra(),
    )
        .prop_map(
            |(prompt, completion, prompt_details, completion_details, extra)| Usage {
                prompt_tokens: u64::from(prompt),
                completion_tokens: u64::from(completion),
                total_tokens: u64::from(prompt) + u64::from(completion),
                prompt_tokens_details: prompt_details,
                completion_tokens_details: completion_details,
                extra,
            },
        )
}

/// A finite log probability (JSON has no NaN or infinity).
fn logprob() -> impl Strategy<Value = f64> {
    any::<i32>().prop_map(|n| -f64::from(n.unsigned_abs()) / 1024.0)
}

fn top_logprob() -> impl Strategy<Value = TopLogprob> {
    (
        text(),
        logprob(),
        prop::option::of(vec(any::<u8>(), 0..4)),
        extra(),
    )
        .prop_map(|(token, logprob, bytes, extra)| TopLogprob {
            token,
            logprob,
            bytes,
            extra,
        })
}

fn token_logprob() -> impl Strategy<Value = TokenLogprob> {
    (
        text(),
        logprob(),
        prop::option::of(vec(any::<u8>(), 0..4)),
        vec(top_logprob(), 0..3),
        extra(),
    )
        .prop_map(
            |(token, logprob, bytes, top_logprobs, extra)| TokenLogprob {
                token,
                logprob,
                bytes,
                top_logprobs,
                extra,
            },
        )
}

fn logprobs() -> impl Strategy<Value = Logprobs> {
    (
        prop::option::of(vec(token_logprob(), 0..3)),
        prop::option::of(vec(token_logprob(), 0..2)),
        extra(),
    )
        .prop_map(|(content, refusal, extra)| Logprobs {
            content,
            refusal,
            extra,
        })
}

fn function_call_delta() -> impl Strategy<Value = FunctionCallDelta> {
    (prop::option::of(text()), prop::option::of(text()), extra()).prop_map(
        |(name, arguments, extra)| FunctionCallDelta {
            name: name.map(Text::from),
            arguments: arguments.map(Text::from),
            extra,
        },
    )
}

fn tool_call_delta() -> impl Strategy<Value = ToolCallDelta> {
    (
        prop::option::of(0u32..4),
        prop::option::of(text()),
        prop::option::of(prop_oneof![
            Just(ToolKind::Function),
            other_name().prop_map(ToolKind::Other)
        ]),
        prop::option::of(function_call_delta()),
        extra(),
    )
        .prop_map(|(index, id, kind, function, extra)| ToolCallDelta {
            index,
            id: id.map(Text::from),
            kind,
            function,
            extra,
        })
}

fn chunk() -> impl Strategy<Value = ChatCompletionChunk> {
    let delta = (
        prop::option::of(prop_oneof![
            Just(Role::Assistant),
            other_name().prop_map(Role::Other)
        ]),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        vec(tool_call_delta(), 0..3),
        prop::option::of(function_call_delta()),
        extra(),
    )
        .prop_map(
            |(
                role,
                content,
                refusal,
                reasoning_content,
                reasoning,
                tool_calls,
                function_call,
                extra,
            )| {
                Delta {
                    role,
                    content: content.map(Text::from),
                    refusal: refusal.map(Text::from),
                    reasoning_content: reasoning_content.map(Text::from),
                    reasoning: reasoning.map(Text::from),
                    tool_calls,
                    function_call: function_call.map(Box::new),
                    extra,
                }
            },
        );
    let choice = (
        0u32..3,
        delta,
        prop::option::of(finish_reason()),
        prop::option::of(logprobs()),
        extra(),
    )
        .prop_map(
            |(index, delta, finish_reason, logprobs, extra)| ChunkChoice {
                index,
                delta,
                finish_reason,
                logprobs: logprobs.map(Box::new),
                extra,
            },
        );
    (
        text(),
        prop_oneof![
            Just(ObjectKind::ChatCompletionChunk),
            other_name().prop_map(ObjectKind::Other)
        ],
        any::<u64>(),
        text(),
        vec(choice, 0..3),
        prop::option::of(usage()),
        prop::option::of(text()),
        prop::option::of(prop_oneof![
            Just(ServiceTier::Default),
            other_name().prop_map(ServiceTier::Other)
        ]),
        (prop::option::of(text()), optional_json(), extra()),
    )
        .prop_map(
            |(
                id,
                object,
                created,
                model,
                choices,
                usage,
                fingerprint,
                service_tier,
                (obfuscation, moderation, extra),
            )| {
                ChatCompletionChunk {
                    id: id.into(),
                    object,
                    created,
                    model: model.into(),
                    choices,
                    usage: usage.map(Box::new),
                    system_fingerprint: fingerprint.map(Text::from),
                    service_tier,
                    obfuscation: obfuscation.map(Text::from),
                    moderation: moderation.map(Box::new),
                    extra,
                }
            },
        )
}

fn content() -> impl Strategy<Value = Content> {
    prop_oneof![
        text().prop_map(Content::Text),
        vec(
            prop_oneof![
                text().prop_map(ContentPart::text),
                (
                    text(),
                    prop::option::of(prop_oneof![Just(ImageDetail::Low), Just(ImageDetail::High)])
                )
                    .prop_map(|(url, detail)| match detail {
                        Some(detail) => ContentPart::image_url(url).with_detail(detail),
                        None => ContentPart::image_url(url),
                    }),
            ],
            1..3
        )
        .prop_map(Content::Parts),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        content().prop_map(Message::system),
        content().prop_map(Message::user),
        (text(), content()).prop_map(|(id, content)| Message::tool(id, content)),
        vec((text(), text(), text()), 1..3).prop_map(|calls| Message::assistant_tool_calls(
            calls
                .into_iter()
                .map(|(id, name, args)| ToolCall::function(id, name, args))
                .collect()
        )),
        (text(), prop::option::of(text())).prop_map(|(text, reasoning)| Message {
            reasoning_content: reasoning,
            ..Message::assistant(text)
        }),
    ]
}

fn request() -> impl Strategy<Value = ChatRequest> {
    (
        text(),
        vec(message(), 1..4),
        prop::option::of(1u32..4096),
        prop::option::of((0u32..16).prop_map(|t| f64::from(t) / 8.0)),
        prop::option::of(prop_oneof![
            text().prop_map(Stop::One),
            vec(text(), 0..3).prop_map(Stop::Many)
        ]),
        prop::option::of(any::<bool>()),
        vec(
            text().prop_map(|name| Tool::function(name).parameters(json!({"type": "object"}))),
            0..2,
        ),
        prop::option::of(prop_oneof![
            Just(ToolChoice::Auto),
            Just(ToolChoice::Required),
            text().prop_map(ToolChoice::Function)
        ]),
        prop::option::of(prop_oneof![
            Just(ResponseFormat::JsonObject),
            text().prop_map(|name| ResponseFormat::json_schema(name, json!({"type": "object"})))
        ]),
        prop::option::of(any::<bool>()),
        extra(),
    )
        .prop_map(
            |(
                model,
                messages,
                max_tokens,
                temperature,
                stop,
                stream,
                tools,
                tool_choice,
                format,
                thinking,
                extra,
            )| {
                let mut request = ChatRequest::new(model).messages(messages).tools(tools);
                request.max_tokens = max_tokens;
                request.temperature = temperature;
                request.stop = stop;
                request.tool_choice = tool_choice;
                request.response_format = format;
                request.enable_thinking = thinking;
                request.extra = extra;
                if let Some(stream) = stream {
                    request = request.stream(stream);
                }
                request
            },
        )
}

fn completion() -> impl Strategy<Value = ChatCompletion> {
    (
        text(),
        text(),
        any::<u64>(),
        vec(
            (
                0u32..4,
                message(),
                prop::option::of(finish_reason()),
                prop::option::of(logprobs()),
                extra(),
            ),
            0..3,
        ),
        prop::option::of(usage()),
        extra(),
        prop::option::of(text()),
        prop::option::of(prop_oneof![
            Just(ServiceTier::Default),
            text().prop_map(|tier| ServiceTier::from_wire(&tier))
        ]),
        (optional_json(), optional_json()),
    )
        .prop_map(
            |(
                id,
                model,
                created,
                choices,
                usage,
                extra,
                system_fingerprint,
                service_tier,
                (metadata, moderation),
            )| {
                ChatCompletion {
                    id,
                    object: ObjectKind::ChatCompletion,
                    created,
                    model,
                    choices: choices
                        .into_iter()
                        .map(|(index, message, finish_reason, logprobs, extra)| Choice {
                            index,
                            message,
                            finish_reason,
                            logprobs,
                            extra,
                        })
                        .collect(),
                    usage,
                    system_fingerprint,
                    service_tier,
                    metadata,
                    moderation,
                    extra,
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn chunks_round_trip_and_the_fast_decoder_agrees_with_serde(chunk in chunk()) {
        let json = serde_json::to_string(&chunk).unwrap();
        let fast = ChatCompletionChunk::from_json(&Text::from(json.as_str())).unwrap();
        let serde: ChatCompletionChunk = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&fast, &chunk);
        prop_assert_eq!(&serde, &chunk);
    }

    #[test]
    fn requests_round_trip(request in request()) {
        let json = serde_json::to_value(&request).unwrap();
        let back: ChatRequest = serde_json::from_value(json).unwrap();
        prop_assert_eq!(back, request);
    }

    #[test]
    fn completions_round_trip_and_the_fast_decoder_agrees_with_serde(completion in completion()) {
        let json = serde_json::to_string(&completion).unwrap();
        let back: ChatCompletion = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(&back, &completion);
        // classify_response decodes a JSON body with the fast completion decoder.
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", http::HeaderValue::from_static("application/json"));
        let classified = classify_response(http::StatusCode::OK, &headers, json.as_bytes()).unwrap();
        prop_assert_eq!(&classified, &completion);
    }

    #[test]
    fn chunk_streams_decode_the_same_however_split(
        chunks in vec(chunk(), 0..6),
        done in any::<bool>(),
        points in vec(any::<usize>(), 0..8),
    ) {
        let mut body = String::new();
        for chunk in &chunks {
            body += &format!("data: {}\n\n", serde_json::to_string(chunk).unwrap());
        }
        if done {
            body += "data: [DONE]\n\n";
        }
        let body = Bytes::from(body);
        let (whole_chunks, whole_result) = decode_stream(std::slice::from_ref(&body), false);
        prop_assert_eq!(&whole_chunks, &chunks);
        let pieces = split(&body, &points);
        prop_assert_eq!(decode_stream(&pieces, false), (whole_chunks.clone(), whole_result.clone()));
        prop_assert_eq!(decode_stream(&pieces, true), (whole_chunks, whole_result));
    }
}

/// The chunks and the accumulated result (or the error's text).
fn decode_stream(pieces: &[Bytes], views: bool) -> (Vec<ChatCompletionChunk>, String) {
    let mut decoder = StreamDecoder::new().accumulating();
    let mut chunks = Vec::new();
    let mut drain = |decoder: &mut StreamDecoder| {
        if views {
            while let Ok(Some(item)) = decoder.poll_view() {
                if let ViewItem::Chunk(view) = item {
                    chunks.push(view.to_chunk());
                }
            }
        } else {
            while let Ok(Some(item)) = decoder.poll_item() {
                if let StreamItem::Chunk(chunk) = item {
                    chunks.push(chunk);
                }
            }
        }
    };
    for piece in pieces {
        decoder.push(piece.clone());
        drain(&mut decoder);
    }
    decoder.finish();
    drain(&mut decoder);
    let result = match decoder.into_completion() {
        Ok(completion) => serde_json::to_string(&completion).unwrap(),
        Err(error) => error.to_string(),
    };
    (chunks, result)
}
