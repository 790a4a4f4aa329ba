use super::*;

fn decode_all(decoder: &mut SseDecoder) -> Vec<SseEvent> {
    let mut events = Vec::new();
    while let Some(event) = decoder.poll_event().unwrap() {
        events.push(event);
    }
    events
}

fn decode(pieces: &[&[u8]]) -> Vec<SseEvent> {
    let mut decoder = SseDecoder::new();
    let mut events = Vec::new();
    for piece in pieces {
        decoder.push_slice(piece);
        events.extend(decode_all(&mut decoder));
    }
    decoder.finish();
    events.extend(decode_all(&mut decoder));
    events
}

#[test]
fn whole_lines_are_sliced_not_copied() {
    let input = Bytes::from_static(b"data: {\"a\":1}\n\n");
    let mut decoder = SseDecoder::new();
    decoder.push(input.clone());
    let event = decoder.poll_event().unwrap().unwrap();
    assert_eq!(event.data(), "{\"a\":1}");
    assert_eq!(event.data().as_ptr(), input[6..].as_ptr());
}

#[test]
fn a_used_up_piece_is_let_go_once_its_events_are() {
    // A stream waiting for its next event must not keep the last socket read alive.
    for piece in [
        &b"data: {\"a\":1}\n\n"[..],
        b": keep-alive\n\n",
        b"event: x\ndata: y\n\n",
        b": a keep-alive that ends the read\n",
    ] {
        let input = Bytes::from(piece.to_vec());
        let mut decoder = SseDecoder::new();
        decoder.push(input.clone());
        let events = decode_all(&mut decoder);
        drop(events);
        assert!(
            input.is_unique(),
            "{:?} still held",
            String::from_utf8_lossy(piece)
        );
    }
}

#[test]
fn multi_line_data_is_joined_with_lf() {
    let events = decode(&[b"data: a\r\ndata:b\rdata\n\n"]);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data(), "a\nb\n");
}

#[test]
fn the_buffer_limit_ends_decoding_with_an_error() {
    let mut decoder = SseDecoder::new().with_buffer_limit(16);
    decoder.push_slice(b"data: 0123456789");
    assert!(decoder.poll_event().unwrap().is_none());
    decoder.push_slice(b"abcdef");
    let error = decoder.poll_event().unwrap_err();
    assert!(error.is_buffer_limit(), "{error}");
    assert!(error.to_string().contains("16 bytes"));
    // Final: the same error again, and nothing else is decoded.
    decoder.push_slice(b"\n\ndata: x\n\n");
    assert!(decoder.poll_event().unwrap_err().is_buffer_limit());
}

#[test]
fn the_buffer_limit_counts_data_already_buffered() {
    let mut decoder = SseDecoder::new().with_buffer_limit(20);
    decoder.push_slice(b"data: 0123456789\ndata: 0123456789\n");
    assert!(decoder.poll_event().unwrap_err().is_buffer_limit());
}

#[test]
fn the_buffer_limit_applies_to_a_line_inside_one_chunk() {
    let mut decoder = SseDecoder::new().with_buffer_limit(8);
    decoder.push_slice(b"data: 0123456789\n\n");
    assert!(decoder.poll_event().unwrap_err().is_buffer_limit());
}

#[test]
fn an_event_at_the_limit_passes() {
    let mut decoder = SseDecoder::new().with_buffer_limit(16);
    decoder.push_slice(b"data: 0123456789\n\n");
    assert_eq!(decoder.poll_event().unwrap().unwrap().data(), "0123456789");
}

#[test]
fn an_unterminated_block_is_reported_when_discarded() {
    let mut decoder = SseDecoder::new();
    decoder.push_slice(b"data: 1\n\ndata: [DONE]\n");
    assert_eq!(decode_all(&mut decoder).len(), 1);
    decoder.finish();
    assert!(decode_all(&mut decoder).is_empty());
    let discarded = decoder.discarded_at_end().unwrap();
    assert_eq!(discarded.data.as_deref(), Some("[DONE]"));
    assert_eq!(discarded.partial_line_len, 0);

    let mut decoder = SseDecoder::new();
    decoder.push_slice(b"data: {\"choi");
    decoder.finish();
    assert!(decode_all(&mut decoder).is_empty());
    assert_eq!(decoder.discarded_at_end().unwrap().partial_line_len, 12);

    let mut decoder = SseDecoder::new();
    decoder.push_slice(b"data: 1\n\n");
    decoder.finish();
    assert_eq!(decode_all(&mut decoder).len(), 1);
    assert!(decoder.discarded_at_end().is_none());
    assert!(decoder.is_finished());
}

#[test]
fn a_bom_prefix_alone_at_the_end_is_not_swallowed() {
    let mut decoder = SseDecoder::new();
    decoder.push_slice(b"\xEF\xBB");
    assert!(decoder.poll_event().unwrap().is_none());
    decoder.finish();
    assert!(decoder.poll_event().unwrap().is_none());
    assert_eq!(decoder.discarded_at_end().unwrap().partial_line_len, 2);
}

#[test]
fn a_bom_prefix_followed_by_other_bytes_is_kept_as_text() {
    // EF BB then 'd': not a BOM; the bytes are invalid UTF-8 in a field name, so the line is an
    // unknown field and the following event still decodes.
    let events = decode(&[b"\xEF\xBB", b"data: x\n\ndata: y\n\n"]);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data(), "y");
}

#[test]
fn error_field_is_opt_in() {
    let input: &[u8] = b"error: {\"code\":500,\"message\":\"boom\"}\n\n";
    assert!(decode(&[input]).is_empty());
    let mut decoder = SseDecoder::new().with_error_field(true);
    decoder.push_slice(input);
    let event = decoder.poll_event().unwrap().unwrap();
    assert_eq!(event.event_type(), "error");
    assert_eq!(event.data(), "{\"code\":500,\"message\":\"boom\"}");
}

#[test]
fn retry_overflow_clamps() {
    let events = decode(&[b"retry: 99999999999999999999999\ndata: x\n\n"]);
    assert_eq!(events[0].retry(), Some(u64::MAX));
}

#[test]
fn empty_pushes_are_no_ops() {
    let events = decode(&[b"data: a\r", b"", b"\n", b"", b"\n"]);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data(), "a");
}

/// One 8 MiB line in 1,024 chunks: the decoder scans each byte once (eventsource-stream is
/// quadratic here). Timing is measured by the benchmarks; this checks the result and that the
/// buffer grew by amortised doubling, not by one reallocation per chunk.
#[test]
#[cfg_attr(miri, ignore = "8 MiB: too slow under Miri")]
fn long_line_in_many_chunks() {
    let line_len = 8 * 1024 * 1024;
    let mut input = b"data: ".to_vec();
    input.resize(6 + line_len, b'x');
    input.extend_from_slice(b"\n\n");
    let input = Bytes::from(input);
    let mut decoder = SseDecoder::new();
    let piece = input.len().div_ceil(1024);
    let mut events = Vec::new();
    for start in (0..input.len()).step_by(piece) {
        decoder.push(input.slice(start..(start + piece).min(input.len())));
        events.extend(decode_all(&mut decoder));
    }
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data().len(), line_len);
}

#[test]
fn comments_never_count_toward_the_limit_split_or_not() {
    // Found by the sse_split fuzz target: a whole comment line counted, a split one did not.
    let data: &[u8] = b"data:line1\ndata: line2\n:should be ignored too\rretry:42\n\n";
    for pieces in [vec![data], vec![&data[..30], &data[30..]]] {
        let mut decoder = SseDecoder::new().with_buffer_limit(32);
        let mut events = Vec::new();
        for piece in pieces {
            decoder.push_slice(piece);
            events.extend(decode_all(&mut decoder));
        }
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data(), "line1\nline2");
    }
}

#[test]
fn a_push_after_finish_is_an_error_in_every_build_not_a_panic_or_a_silent_drop() {
    let mut decoder = SseDecoder::new();
    decoder.push(Bytes::from_static(b"data: one\n\n"));
    decoder.finish();
    decoder.push(Bytes::from_static(b"data: two\n\n"));
    let error = decoder.poll_event().unwrap_err();
    assert!(error.is_misuse(), "{error}");
    assert!(error.to_string().contains("after finish"), "{error}");
    // Final, as every decoding error.
    assert!(decoder.poll_event().unwrap_err().is_misuse());
    // Nothing pushed (an empty piece) is no misuse.
    let mut quiet = SseDecoder::new();
    quiet.finish();
    quiet.push(Bytes::new());
    assert!(quiet.poll_event().unwrap().is_none());
}
