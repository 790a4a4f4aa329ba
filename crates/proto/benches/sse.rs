//! SSE decoding, side by side with `sse-stream` and `eventsource-stream`, on a 100,000-event
//! chat-completion stream fed in 16 KiB and in 128 B pieces; and one 8 MiB line fed in 1,024
//! pieces (linear time).
//!
//! `cargo bench -p gptproto-proto --bench sse`

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use futures::StreamExt;
use gptproto_proto::sse::SseDecoder;

/// Events and data bytes seen, so that no decoder's work can be skipped.
type Tally = (usize, usize);

fn gptproto(pieces: &[Bytes]) -> Tally {
    let mut decoder = SseDecoder::new();
    let mut tally = (0, 0);
    for piece in pieces {
        decoder.push(piece.clone());
        while let Some(event) = decoder.poll_event().unwrap() {
            tally.0 += 1;
            tally.1 += event.data().len();
        }
    }
    decoder.finish();
    while let Some(event) = decoder.poll_event().unwrap() {
        tally.0 += 1;
        tally.1 += event.data().len();
    }
    tally
}

fn sse_stream(pieces: &[Bytes]) -> Tally {
    let input = futures::stream::iter(pieces.iter().cloned().map(Ok::<_, Infallible>));
    let mut events = sse_stream::SseByteStream::new(input);
    futures::executor::block_on(async {
        let mut tally = (0, 0);
        while let Some(event) = events.next().await {
            let event = event.unwrap();
            if let Some(data) = event.data {
                tally.0 += 1;
                tally.1 += data.len();
            }
        }
        tally
    })
}

fn eventsource_stream(pieces: &[Bytes]) -> Tally {
    let input = futures::stream::iter(pieces.iter().cloned().map(Ok::<_, Infallible>));
    let mut events = eventsource_stream::EventStream::new(input);
    futures::executor::block_on(async {
        let mut tally = (0, 0);
        while let Some(event) = events.next().await {
            let event = event.unwrap();
            tally.0 += 1;
            tally.1 += event.data.len();
        }
        tally
    })
}

/// One way of decoding the stream to its events.
type Decode = fn(&[Bytes]) -> Tally;

fn decoders() -> [(&'static str, Decode); 3] {
    [
        ("gptproto", gptproto),
        ("sse-stream", sse_stream),
        ("eventsource-stream", eventsource_stream),
    ]
}

/// What any decoder must at least do with a long line split into pieces: copy it into one
/// fresh buffer and find its end. The floor for the 8 MiB line.
fn copy_floor(pieces: &[Bytes]) -> Tally {
    let mut line = Vec::new();
    for piece in pieces {
        line.extend_from_slice(piece);
    }
    let end = memchr::memchr(b'\n', &line).unwrap_or(line.len());
    (1, end.saturating_sub(6))
}

fn run(
    title: &str,
    bytes: usize,
    rounds: usize,
    pieces: &[Bytes],
    decoders: &[(&str, Decode)],
    expected: Tally,
) {
    for (name, decode) in decoders {
        assert_eq!(decode(pieces), expected, "{name} decodes the same events");
    }
    common::paired::compare(
        title,
        bytes,
        rounds,
        decoders
            .iter()
            .map(|&(name, decode)| common::paired::Contender {
                name,
                run: Box::new(move || decode(pieces).1 as u64),
            })
            .collect(),
    );
}

fn main() {
    if std::env::args().any(|arg| arg == "--list") {
        return;
    }
    let stream = common::stream();
    for size in [16 * 1024, 128] {
        let pieces = common::pieces(&stream, size);
        let expected = gptproto(&pieces);
        assert_eq!(expected.0, common::EVENTS);
        run(
            &format!("SSE decoding, 100,000-event chat stream in {size} B pieces"),
            stream.len(),
            41,
            &pieces,
            &decoders(),
            expected,
        );
    }

    let mut line = b"data: ".to_vec();
    line.resize(6 + 8 * 1024 * 1024, b'x');
    line.extend_from_slice(b"\n\n");
    let line = Bytes::from(line);
    let pieces = common::pieces(&line, line.len().div_ceil(1024));
    assert_eq!(pieces.len(), 1024);
    let contenders: [(&str, Decode); 3] = [
        ("gptproto", gptproto),
        ("sse-stream", sse_stream),
        ("floor: copy into one buffer + memchr", copy_floor),
    ];
    run(
        "SSE decoding, one 8 MiB line in 1,024 pieces",
        line.len(),
        21,
        &pieces,
        &contenders,
        (1, 8 * 1024 * 1024),
    );
    // Quadratic on this input (seconds per run): timed once, not in rounds.
    if common::paired::measuring() {
        let start = std::time::Instant::now();
        assert_eq!(eventsource_stream(&pieces), (1, 8 * 1024 * 1024));
        println!(
            "{:<52} {:>9.2} ms (one run)",
            "eventsource-stream",
            start.elapsed().as_secs_f64() * 1e3
        );
    }
}
