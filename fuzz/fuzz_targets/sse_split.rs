//! The SSE decoder on arbitrary bytes split at arbitrary points: the events, the errors and the
//! final state must be the same as when the same bytes arrive in one piece.
#![no_main]

use bytes::Bytes;
use gptproto_proto::sse::SseDecoder;
use libfuzzer_sys::fuzz_target;

/// The input: `[k, limit, k split points as u16 LE..., data...]`. A limit of 0 means the
/// default; others are `4 * limit` bytes, to exercise the buffer-limit error.
struct Input {
    data: Bytes,
    splits: Vec<usize>,
    limit: u8,
}

impl Input {
    fn parse(raw: &[u8]) -> Option<Self> {
        let (&k, rest) = raw.split_first()?;
        let (&limit, rest) = rest.split_first()?;
        let k = usize::from(k % 8);
        if rest.len() < 2 * k {
            return None;
        }
        let (points, data) = rest.split_at(2 * k);
        let splits = points
            .chunks(2)
            .map(|p| usize::from(u16::from_le_bytes([p[0], p[1]])) % (data.len() + 1))
            .collect();
        Some(Self {
            data: Bytes::copy_from_slice(data),
            splits,
            limit,
        })
    }
}

#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<(String, String, String, Option<u64>)>,
    error: Option<String>,
    last_event_id: String,
    reconnection_time: Option<u64>,
    discarded: Option<(Option<String>, usize)>,
}

fn decode(pieces: &[Bytes], limit: u8) -> Outcome {
    let mut decoder = SseDecoder::new();
    if limit != 0 {
        decoder = decoder.with_buffer_limit(usize::from(limit) * 4);
    }
    let mut events = Vec::new();
    let mut error = None;
    let mut drain = |decoder: &mut SseDecoder, error: &mut Option<String>| loop {
        match decoder.poll_event() {
            Ok(Some(event)) => events.push((
                event.event_type().to_owned(),
                event.data().to_string(),
                event.last_event_id().to_string(),
                event.retry(),
            )),
            Ok(None) => break,
            Err(e) => {
                // Errors are final: the same error again.
                assert_eq!(decoder.poll_event().unwrap_err().to_string(), e.to_string());
                *error = Some(e.to_string());
                break;
            }
        }
    };
    for piece in pieces {
        decoder.push(piece.clone());
        drain(&mut decoder, &mut error);
        if error.is_some() {
            break;
        }
    }
    if error.is_none() {
        decoder.finish();
        drain(&mut decoder, &mut error);
    }
    Outcome {
        events,
        last_event_id: decoder.last_event_id().to_string(),
        reconnection_time: decoder.reconnection_time(),
        discarded: if error.is_none() {
            decoder
                .discarded_at_end()
                .map(|d| (d.data.as_ref().map(ToString::to_string), d.partial_line_len))
        } else {
            None
        },
        error,
    }
}

fuzz_target!(|raw: &[u8]| {
    let Some(input) = Input::parse(raw) else {
        return;
    };
    let data = input.data;
    let whole = decode(std::slice::from_ref(&data), input.limit);
    let mut points = input.splits;
    points.sort_unstable();
    let mut pieces = Vec::new();
    let mut start = 0;
    for point in points {
        pieces.push(data.slice(start..point));
        start = point;
    }
    pieces.push(data.slice(start..));
    let split = decode(&pieces, input.limit);
    if whole.error.is_some() || split.error.is_some() {
        // With a limit, an error may be noticed at a different line; both must fail, and agree
        // on every event before.
        assert_eq!(
            whole.error.is_some(),
            split.error.is_some(),
            "{whole:?} vs {split:?}"
        );
        let n = whole.events.len().min(split.events.len());
        assert_eq!(whole.events[..n], split.events[..n]);
    } else {
        assert_eq!(whole, split);
    }
});
