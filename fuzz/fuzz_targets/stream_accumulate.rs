//! The stream decoder and accumulator on an arbitrary body split at arbitrary points:
//! - owned chunks (`poll_item`) and lent views (`poll_view`) are the same chunks;
//! - each chunk decoded by the fast decoder equals serde_json's decoding of the same data,
//!   and the fast decoder accepts exactly what serde_json accepts;
//! - splitting the body changes nothing, and the accumulated result (or error) is the same.
#![no_main]

use bytes::Bytes;
use gptproto_proto::wire::ChatCompletionChunk;
use gptproto_proto::{StreamDecoder, StreamItem, Text, ViewItem};
use libfuzzer_sys::fuzz_target;

/// The input: `[k, k split points as u16 LE..., body...]`.
fn parse(raw: &[u8]) -> Option<(Bytes, Vec<usize>)> {
    let (&k, rest) = raw.split_first()?;
    let k = usize::from(k % 8);
    if rest.len() < 2 * k {
        return None;
    }
    let (points, body) = rest.split_at(2 * k);
    let splits = points
        .chunks(2)
        .map(|p| usize::from(u16::from_le_bytes([p[0], p[1]])) % (body.len() + 1))
        .collect();
    Some((Bytes::copy_from_slice(body), splits))
}

/// The chunks and the final result of one decoding.
fn owned(pieces: &[Bytes]) -> (Vec<ChatCompletionChunk>, bool, String) {
    let mut decoder = StreamDecoder::new().accumulating();
    let mut chunks = Vec::new();
    let mut done = false;
    let mut error = None;
    let mut drain = |decoder: &mut StreamDecoder, error: &mut Option<String>| loop {
        match decoder.poll_item() {
            Ok(Some(StreamItem::Chunk(chunk))) => chunks.push(chunk),
            Ok(Some(StreamItem::Done)) => done = true,
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(e) => {
                *error = Some(e.to_string());
                break;
            }
        }
    };
    for piece in pieces {
        decoder.push(piece.clone());
        drain(&mut decoder, &mut error);
    }
    decoder.finish();
    drain(&mut decoder, &mut error);
    let result = match decoder.into_completion() {
        Ok(completion) => serde_json::to_string(&completion).unwrap(),
        Err(e) => format!("error: {e}"),
    };
    (chunks, done, result)
}

fn views(pieces: &[Bytes]) -> (Vec<ChatCompletionChunk>, bool, String) {
    let mut decoder = StreamDecoder::new().accumulating();
    let mut chunks = Vec::new();
    let mut done = false;
    for piece in pieces {
        decoder.push(piece.clone());
        while let Ok(Some(item)) = decoder.poll_view() {
            match item {
                ViewItem::Chunk(chunk) => {
                    // The view's strings are checked against serde below via the owned path.
                    chunks.push(chunk.to_chunk());
                }
                ViewItem::Done => done = true,
                _ => {}
            }
        }
    }
    decoder.finish();
    while let Ok(Some(item)) = decoder.poll_view() {
        match item {
            ViewItem::Chunk(chunk) => chunks.push(chunk.to_chunk()),
            ViewItem::Done => done = true,
            _ => {}
        }
    }
    let result = match decoder.into_completion() {
        Ok(completion) => serde_json::to_string(&completion).unwrap(),
        Err(e) => format!("error: {e}"),
    };
    (chunks, done, result)
}

fuzz_target!(|raw: &[u8]| {
    let Some((body, mut points)) = parse(raw) else {
        return;
    };
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for point in points {
        pieces.push(body.slice(start..point));
        start = point;
    }
    pieces.push(body.slice(start..));

    let whole = owned(std::slice::from_ref(&body));
    let split = owned(&pieces);
    assert_eq!(whole, split, "splitting the body changed the result");
    let lent = views(&pieces);
    assert_eq!(whole.0, lent.0, "views and owned chunks differ");
    assert_eq!(whole.1, lent.1);
    assert_eq!(whole.2, lent.2);

    // The fast decoder against serde_json, on the body's text as one event's data. serde_json
    // limits nesting to 128 counted from the document's root, the fast decoder hands unknown
    // values to serde_json from their own root: inputs that deep are out of this comparison.
    let text = String::from_utf8_lossy(&body);
    if text.bytes().filter(|&b| b == b'[' || b == b'{').count() > 100 {
        return;
    }
    let fast = ChatCompletionChunk::from_json(&Text::from(text.as_ref()));
    let serde = serde_json::from_str::<ChatCompletionChunk>(&text);
    match (fast, serde) {
        (Ok(fast), Ok(serde)) => assert_eq!(fast, serde),
        (Err(_), Err(_)) => {}
        (fast, serde) => panic!("fast {fast:?} but serde {serde:?}"),
    }
});
