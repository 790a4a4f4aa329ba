use super::*;
use crate::exchange::ApiErrorKind;
use crate::wire::ErrorCode;

const CHUNK_A: &str =
    r#"{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}"#;
const CHUNK_B: &str =
    r#"{"id":"c","choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}"#;

/// Decodes `body` fed in one piece; returns the items and the final result (`Ok(())` when the
/// stream ended cleanly).
fn decode(body: &str) -> (Vec<StreamItem>, Result<(), Error>) {
    let mut decoder = StreamDecoder::new().accumulating();
    decoder.push(bytes::Bytes::copy_from_slice(body.as_bytes()));
    decoder.finish();
    let mut items = Vec::new();
    loop {
        match decoder.poll_item() {
            Ok(Some(item)) => items.push(item),
            Ok(None) => return (items, Ok(())),
            Err(error) => {
                // Errors are final.
                assert_eq!(
                    decoder.poll_item().unwrap_err().to_string(),
                    error.to_string()
                );
                return (items, Err(error));
            }
        }
    }
}

fn chunks(items: &[StreamItem]) -> usize {
    items
        .iter()
        .filter(|item| matches!(item, StreamItem::Chunk(_)))
        .count()
}

#[test]
fn done_ends_the_stream_and_later_data_is_ignored() {
    let (items, end) = decode(&format!(
        "data: {CHUNK_A}\n\ndata: [DONE]\n\ndata: {CHUNK_B}\n\n"
    ));
    end.unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1], StreamItem::Done);
}

#[test]
fn after_done_only_a_chunk_of_usage_alone_is_read_within_the_limit() {
    let usage =
        r#"{"choices":[],"usage":{"prompt_tokens":2,"completion_tokens":1,"total_tokens":3}}"#;
    // A chunk with choices after [DONE] is not the answer's; usage alone is.
    let (items, end) = decode(&format!(
        "data: {CHUNK_A}\n\ndata: [DONE]\n\ndata: {CHUNK_B}\n\ndata: {usage}\n\n"
    ));
    end.unwrap();
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(items[1], StreamItem::Done);
    let StreamItem::Chunk(last) = &items[2] else {
        panic!("{items:?}")
    };
    assert_eq!(last.usage.as_ref().unwrap().total_tokens, 3);
    // Past the limit, nothing more is taken.
    let mut decoder = StreamDecoder::new().accumulating();
    decoder.push(format!("data: {CHUNK_A}\n\ndata: [DONE]\n\n"));
    while decoder.poll_item().unwrap().is_some() {}
    decoder.push(format!(": {}\n\n", "x".repeat(AFTER_DONE_LIMIT)));
    decoder.push(format!("data: {usage}\n\n"));
    decoder.finish();
    assert_eq!(decoder.poll_item().unwrap(), None);
    assert!(decoder.into_completion().unwrap().usage.is_none());
}

#[test]
fn llama_cpp_done_without_blank_line_is_done() {
    let (items, end) = decode(&format!("data: {CHUNK_A}\n\ndata: [DONE]\n"));
    end.unwrap();
    assert_eq!(items.last(), Some(&StreamItem::Done));
}

#[test]
fn a_whole_last_data_line_without_blank_line_is_decoded() {
    let (items, end) = decode(&format!("data: {CHUNK_A}\n\ndata: {CHUNK_B}\n"));
    end.unwrap();
    assert_eq!(chunks(&items), 2);
}

#[test]
fn no_done_but_every_choice_finished_is_complete() {
    let (items, end) = decode(&format!("data: {CHUNK_A}\n\ndata: {CHUNK_B}\n\n"));
    end.unwrap();
    assert_eq!(chunks(&items), 2);
}

#[test]
fn no_done_and_unfinished_is_truncated_with_the_partial_answer() {
    let (items, end) = decode(&format!("data: {CHUNK_A}\n\n"));
    assert_eq!(chunks(&items), 1);
    let error = end.unwrap_err();
    assert!(error.is_truncated(), "{error}");
    assert_eq!(error.partial().unwrap().text(), Some("Hel"));
    assert!(
        error
            .to_string()
            .contains("1 chunks received (3 bytes of text)"),
        "{error}"
    );
}

#[test]
fn a_cut_in_the_middle_of_an_event_is_truncated_even_when_choices_finished() {
    let usage =
        r#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#;
    let body = format!(
        "data: {CHUNK_A}\n\ndata: {CHUNK_B}\n\ndata: {}",
        &usage[..20]
    );
    let (_, end) = decode(&body);
    assert!(end.unwrap_err().is_truncated());
}

#[test]
fn an_empty_stream_is_truncated() {
    let (items, end) = decode("");
    assert!(items.is_empty());
    assert!(end.unwrap_err().is_truncated());
    let (_, end) = decode(": OPENROUTER PROCESSING\n\n");
    assert!(end.unwrap_err().is_truncated());
}

#[test]
fn n_expected_choices_must_all_finish() {
    let body = format!("data: {CHUNK_A}\n\ndata: {CHUNK_B}\n\n");
    let mut decoder = StreamDecoder::new().expect_choices(2);
    decoder.push(body.into_bytes());
    decoder.finish();
    while let Ok(Some(_)) = decoder.poll_item() {}
    assert!(decoder.poll_item().unwrap_err().is_truncated());
}

#[test]
fn keep_alives_and_empty_data_are_skipped() {
    let (items, end) = decode(&format!(
        ": keep-alive\n\ndata:\n\ndata:  \n\n: OPENROUTER PROCESSING\n\ndata:{CHUNK_A}\n\ndata: [DONE]\n\n"
    ));
    end.unwrap();
    assert_eq!(chunks(&items), 1);
}

#[test]
fn openrouter_error_in_a_200_stream() {
    let (items, end) = decode(&format!(
        "data: {CHUNK_A}\n\ndata: {{\"id\":\"gen-1\",\"object\":\"chat.completion.chunk\",\"error\":{{\"message\":\"Provider returned error\",\"code\":502}},\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"\"}},\"finish_reason\":\"error\"}}]}}\n\ndata: [DONE]\n\n"
    ));
    assert_eq!(chunks(&items), 1);
    let error = end.unwrap_err();
    let api = error.api_error().unwrap();
    assert_eq!(api.message(), "Provider returned error");
    assert_eq!(api.code(), Some(&ErrorCode::Number(502)));
    assert_eq!(api.kind(), ApiErrorKind::Server);
    assert_eq!(api.status(), None);
}

#[test]
fn an_error_object_that_is_not_chunk_shaped() {
    let (_, end) = decode(
        "data: {\"error\":{\"code\":401,\"message\":\"Invalid API Key\",\"type\":\"authentication_error\"},\"choices\":\"none\"}\n\n",
    );
    assert!(end.unwrap_err().is_auth());
}

#[test]
fn old_vllm_error_object() {
    let (_, end) = decode(
        "data: {\"object\":\"error\",\"message\":\"The model does not exist.\",\"type\":\"NotFoundError\",\"param\":null,\"code\":404}\n\n",
    );
    let error = end.unwrap_err();
    assert_eq!(
        error.api_error().unwrap().message(),
        "The model does not exist."
    );
    assert_eq!(error.api_error().unwrap().kind(), ApiErrorKind::NotFound);
}

#[test]
fn event_error_with_json_or_text() {
    let (_, end) = decode(
        "event: error\ndata: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n",
    );
    assert!(end.unwrap_err().is_server_error());
    let (_, end) = decode("event: error\ndata: upstream timed out\n\n");
    assert_eq!(
        end.unwrap_err().api_error().unwrap().message(),
        "upstream timed out"
    );
    let (_, end) = decode("event: error\ndata: {\"message\":\"m\",\"code\":429}\n\n");
    assert!(end.unwrap_err().is_rate_limited());
}

#[test]
fn old_llama_cpp_error_field() {
    let (_, end) = decode(
        "error: {\"code\":500,\"message\":\"slot unavailable\",\"type\":\"server_error\"}\n\n",
    );
    let error = end.unwrap_err();
    assert_eq!(error.api_error().unwrap().message(), "slot unavailable");
}

#[test]
fn data_that_is_not_json_is_an_error_quoting_it() {
    let (_, end) = decode("data: <html>502 Bad Gateway</html>\n\n");
    let error = end.unwrap_err();
    assert!(error.is_protocol());
    let text = error.to_string();
    assert!(text.contains("<html>502 Bad Gateway</html>"), "{text}");
    assert!(text.contains("`message`"), "{text}");

    let long = "x".repeat(10_000);
    let (_, end) = decode(&format!("data: {long}\n\n"));
    assert!(end.unwrap_err().to_string().len() < 600);
}

#[test]
fn falsy_error_fields_are_not_errors() {
    let (items, end) = decode(&format!(
        "data: {{\"error\":null,\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"a\"}},\"finish_reason\":\"stop\"}}]}}\n\ndata: {CHUNK_B}\n\n"
    ));
    end.unwrap();
    assert_eq!(chunks(&items), 2);
}

#[test]
fn into_completion_reports_what_happened() {
    let mut decoder = StreamDecoder::new().accumulating();
    decoder.push(format!("data: {CHUNK_A}\n\ndata: {CHUNK_B}\n\ndata: [DONE]\n\n").into_bytes());
    decoder.finish();
    while decoder.poll_item().unwrap().is_some() {}
    assert!(decoder.saw_done());
    assert_eq!(decoder.chunks(), 2);
    assert_eq!(decoder.into_completion().unwrap().text(), Some("Hello"));
}

#[test]
fn the_buffer_limit_surfaces_as_an_error() {
    let mut decoder = StreamDecoder::with_sse(SseDecoder::new().with_buffer_limit(64));
    decoder.push(format!("data: {CHUNK_A}\n\n").into_bytes());
    assert!(decoder.poll_item().unwrap_err().is_buffer_limit());
}

#[test]
fn views_are_lent_one_at_a_time_across_pushes() {
    let mut decoder = StreamDecoder::new().accumulating();
    let mut texts = Vec::new();
    let events = [
        "data: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"one \\\"q\\\"\"}}]}\n\n",
        "data: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"two\"}}]}\n\ndata: {\"id\":\"a\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" three\"},\"finish_reason\":\"stop\"}]}\n\n",
        "data: [DONE]\n\n",
    ];
    for event in events {
        // Each push is a new buffer; the previous view is gone before the data it borrowed.
        decoder.push(event.as_bytes().to_vec());
        while let Some(item) = decoder.poll_view().unwrap() {
            if let ViewItem::Chunk(view) = item {
                assert_eq!(view.id, "a");
                texts.push(view.text().unwrap().to_owned());
            }
        }
    }
    decoder.finish();
    assert!(decoder.poll_view().unwrap().is_none());
    assert_eq!(texts, ["one \"q\"", "two", " three"]);
    assert_eq!(
        decoder.into_completion().unwrap().text(),
        Some("one \"q\"two three")
    );
}

#[test]
fn a_view_error_is_final_and_keeps_the_partial_answer() {
    let mut decoder = StreamDecoder::new().accumulating();
    decoder.push(format!("data: {CHUNK_A}\n\ndata: {{not json\n\n").into_bytes());
    assert!(matches!(decoder.poll_view(), Ok(Some(ViewItem::Chunk(_)))));
    assert!(decoder.poll_view().unwrap_err().is_protocol());
    assert!(decoder.poll_view().unwrap_err().is_protocol());
}

#[test]
fn an_undecodable_named_event_is_named_in_the_error() {
    let (_, end) = decode("event: ping\ndata: ping\n\n");
    let text = end.unwrap_err().to_string();
    assert!(
        text.starts_with("stream event `ping` is not a chat completion chunk"),
        "{text}"
    );
}

#[test]
fn owned_chunks_leave_the_decoder_holding_no_socket_read() {
    let input = bytes::Bytes::from(
        b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n".to_vec(),
    );
    let mut decoder = StreamDecoder::new().accumulating();
    decoder.push(input.clone());
    let chunk = decoder.poll_item().unwrap().unwrap();
    assert!(!input.is_unique(), "the owned chunk shares the read");
    drop(chunk);
    assert!(input.is_unique(), "the decoder still holds the read");
    assert_eq!(decoder.snapshot().unwrap().text(), Some("Hi"));
}

/// Feeds `events` (each a chunk's JSON) one by one through a decoder with `limit`, polling
/// views; returns the chunks decoded and the error that ended it, if any.
fn feed_limited(limit: usize, events: impl Iterator<Item = String>) -> (u64, Option<Error>) {
    let mut decoder = StreamDecoder::new().accumulating().max_answer_bytes(limit);
    for event in events {
        decoder.push(format!("data: {event}\n\n"));
        loop {
            match decoder.poll_view() {
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(error) => return (decoder.chunks(), Some(error)),
            }
        }
    }
    (decoder.chunks(), None)
}

#[test]
#[cfg_attr(
    miri,
    ignore = "tens of thousands of chunks: too slow under Miri (the other tests cover the unsafe code)"
)]
fn an_endless_stream_of_text_ends_at_the_answer_limit_with_the_partial_answer() {
    let text =
        |i: usize| format!(r#"{{"choices":[{{"index":0,"delta":{{"content":"{i:05} "}}}}]}}"#);
    let (chunks, error) = feed_limited(64 * 1024, (0..).map(text));
    let error = error.expect("the limit ends it");
    assert!(error.is_answer_limit() && error.is_protocol() && !error.is_truncated());
    let partial = error.partial().and_then(ChatCompletion::text).unwrap();
    // Six bytes a chunk, the choice's bookkeeping once: stopped right past 64 KiB.
    assert_eq!(partial.len(), chunks as usize * 6);
    assert!(
        partial.len() > 63 * 1024 && partial.len() <= 64 * 1024,
        "{}",
        partial.len()
    );
    assert!(partial.starts_with("00000 00001 "));
    assert!(
        error.to_string().contains("limit of 65536 bytes"),
        "{error}"
    );
}

#[test]
#[cfg_attr(
    miri,
    ignore = "tens of thousands of chunks: too slow under Miri (the other tests cover the unsafe code)"
)]
fn things_that_weigh_nothing_still_count_toward_the_limit() {
    // A new empty choice in every chunk, a new unknown field in every chunk, millions of empty
    // tokens: each is retained, and each is charged.
    let choices = |i: usize| format!(r#"{{"choices":[{{"index":{i},"delta":{{}}}}]}}"#);
    let fields = |i: usize| format!(r#"{{"f{i}":null,"choices":[]}}"#);
    let tokens = |_| {
        r#"{"choices":[{"index":0,"delta":{},"logprobs":{"content":[{"token":"","logprob":0,"top_logprobs":[]}]}}]}"#
            .to_owned()
    };
    for (name, chunks) in [
        ("choices", feed_limited(1 << 20, (0..).map(choices))),
        ("fields", feed_limited(1 << 20, (0..).map(fields))),
        ("tokens", feed_limited(1 << 20, (0..).map(tokens))),
    ] {
        let (chunks, error) = chunks;
        assert!(error.is_some_and(|error| error.is_answer_limit()), "{name}");
        assert!(chunks < 40_000, "{name}: {chunks} chunks before the limit");
    }
}

#[test]
#[cfg_attr(
    miri,
    ignore = "tens of thousands of chunks: too slow under Miri (the other tests cover the unsafe code)"
)]
fn repeated_fields_and_keep_alives_do_not_grow_the_answer() {
    // The same unknown field replaced in every chunk, usage in every chunk, and keep-alives:
    // nothing accumulates, so a long stream of them never reaches even a small limit.
    let mut decoder = StreamDecoder::new().accumulating().max_answer_bytes(4096);
    for i in 0..20_000 {
        decoder.push(format!(
            ": keep-alive\n\ndata: {{\"obfuscation\":\"{:08}\",\"usage\":{{\"prompt_tokens\":1,\"completion_tokens\":{i},\"total_tokens\":{i}}},\"choices\":[]}}\n\n",
            i
        ));
        while let Some(item) = decoder.poll_view().expect("within the limit") {
            assert!(matches!(item, ViewItem::Chunk(_)));
        }
    }
    assert_eq!(decoder.chunks(), 20_000);
}
