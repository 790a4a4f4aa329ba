//! The 72 SSE conformance cases of `tests/data/sse-cases.json` (WHATWG spec examples,
//! web-platform-tests, other parsers' suites: `tests/data/README.md` says which and under which
//! licences), fed whole, in their recorded chunkings, and under every 2-way and every 3-way split
//! of the input.

use bytes::Bytes;
use gptproto_proto::sse::SseDecoder;
use serde_json::Value;

struct Case {
    name: String,
    input: Bytes,
    chunkings: Vec<Vec<Bytes>>,
    expected: Vec<Expected>,
    last_event_id: String,
    reconnection_time: Option<u64>,
}

#[derive(Debug, PartialEq)]
struct Expected {
    event: String,
    data: String,
    id: String,
    retry: Option<u64>,
}

fn hex(text: &str) -> Bytes {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect::<Vec<u8>>()
        .into()
}

/// The cases, compiled into the test: nothing outside the crate is read.
const CASES: &str = include_str!("data/sse-cases.json");

fn load_cases() -> Vec<Case> {
    let cases: Vec<Value> = serde_json::from_str(CASES).expect("cases are JSON");
    cases
        .iter()
        .map(|case| {
            let input = hex(case["input_hex"].as_str().expect("input_hex"));
            let mut chunkings = Vec::new();
            if let Some(chunks) = case.get("chunks_hex").and_then(Value::as_array) {
                chunkings.push(chunks.iter().map(|c| hex(c.as_str().unwrap())).collect());
            }
            if let Some(size) = case.pointer("/chunking/size").and_then(Value::as_u64) {
                chunkings.push(
                    input
                        .chunks(size as usize)
                        .map(Bytes::copy_from_slice)
                        .collect(),
                );
            }
            let expected = case["expected"]
                .as_array()
                .expect("expected")
                .iter()
                .map(|event| Expected {
                    event: event["event"].as_str().unwrap().to_owned(),
                    data: event["data"].as_str().unwrap().to_owned(),
                    id: event["id"].as_str().unwrap().to_owned(),
                    retry: event.get("retry").and_then(Value::as_u64),
                })
                .collect();
            Case {
                name: case["name"].as_str().unwrap().to_owned(),
                input,
                chunkings,
                expected,
                last_event_id: case["final_state"]["last_event_id"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                reconnection_time: case["final_state"]["reconnection_time"].as_u64(),
            }
        })
        .collect()
}

/// Feeds `pieces`, polling after each, and checks events and final state against `case`
/// (comparing in place: the 3-way test runs this tens of millions of times). Returns a
/// description of the first difference.
fn run(case: &Case, pieces: &[Bytes]) -> Result<(), String> {
    let mut decoder = SseDecoder::new();
    let mut seen = 0;
    let mut drain = |decoder: &mut SseDecoder| -> Result<(), String> {
        while let Some(event) = decoder.poll_event().expect("no limit is reached") {
            let Some(expected) = case.expected.get(seen) else {
                return Err(format!("unexpected extra event {event:?}"));
            };
            if event.event_type() != expected.event
                || event.data() != expected.data.as_str()
                || event.last_event_id() != expected.id.as_str()
                || event.retry() != expected.retry
            {
                return Err(format!("event {seen} is {event:?}, expected {expected:?}"));
            }
            seen += 1;
        }
        Ok(())
    };
    for piece in pieces {
        decoder.push(piece.clone());
        drain(&mut decoder)?;
    }
    decoder.finish();
    drain(&mut decoder)?;
    if seen != case.expected.len() {
        return Err(format!("{seen} events, expected {:?}", case.expected));
    }
    if decoder.last_event_id().as_str() != case.last_event_id {
        return Err(format!(
            "last event id {:?}, expected {:?}",
            decoder.last_event_id(),
            case.last_event_id
        ));
    }
    if decoder.reconnection_time() != case.reconnection_time {
        return Err(format!(
            "reconnection time {:?}, expected {:?}",
            decoder.reconnection_time(),
            case.reconnection_time
        ));
    }
    Ok(())
}

#[test]
fn there_are_72_cases() {
    assert_eq!(load_cases().len(), 72);
}

#[test]
fn every_case_whole_and_in_its_recorded_chunks() {
    let mut failures = Vec::new();
    for case in load_cases() {
        if let Err(why) = run(&case, std::slice::from_ref(&case.input)) {
            failures.push(format!("{} (whole): {why}", case.name));
        }
        for chunking in &case.chunkings {
            if let Err(why) = run(&case, chunking) {
                failures.push(format!("{} (recorded chunks): {why}", case.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_case_under_every_two_way_split() {
    for case in load_cases() {
        let input = &case.input;
        for a in 0..=input.len() {
            let pieces = [input.slice(..a), input.slice(a..)];
            if let Err(why) = run(&case, &pieces) {
                panic!("{} split at {a}: {why}", case.name);
            }
        }
    }
}

/// Every 3-way split of every case: about 50 million decodes (275 GB of bytes touched) for the
/// three long inputs, spread over the available cores. About a minute on two cores, so it runs
/// with `cargo xtask test` (and in CI), not with a plain `cargo test`.
#[test]
#[ignore = "exhaustive, about a minute: cargo xtask test runs it"]
fn every_case_under_every_three_way_split() {
    let cases = load_cases();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    for case in &cases {
        let input = &case.input;
        let len = input.len();
        std::thread::scope(|scope| {
            for worker in 0..threads {
                scope.spawn(move || {
                    for a in (worker..=len).step_by(threads) {
                        for b in a..=len {
                            let pieces = [input.slice(..a), input.slice(a..b), input.slice(b..)];
                            if let Err(why) = run(case, &pieces) {
                                panic!("{} split at {a}, {b}: {why}", case.name);
                            }
                        }
                    }
                });
            }
        });
    }
}

#[test]
fn every_case_one_byte_at_a_time() {
    for case in load_cases() {
        let pieces: Vec<Bytes> = (0..case.input.len())
            .map(|i| case.input.slice(i..=i))
            .collect();
        if let Err(why) = run(&case, &pieces) {
            panic!("{} byte by byte: {why}", case.name);
        }
    }
}
