//! The call machine under random drivers: heads, bodies cut anywhere, I/O errors, timeouts and
//! time jumps in any order. Whatever happens: no panic, no transmit once the call is over, a
//! handled timeout is never in the past, at most `max_retries + 1` attempts, exactly one typed
//! ending, and the same response gives the same outcome however its body is split.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use gptproto_proto::ChatRequest;
use gptproto_proto::call::{Call, CallOptions, Event, IoErrorKind, Start, Timeouts};
use gptproto_proto::exchange::ClientConfig;
use gptproto_proto::retry::RetryPolicy;
use http::{HeaderMap, StatusCode};
use proptest::prelude::*;

const BODIES: [&str; 7] = [
    // A whole stream.
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n",
    // A stream cut short.
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}\n\ndata: {\"choi",
    // An error in the stream.
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"overloaded\",\"code\":503}}\n\n",
    // A completion.
    r#"{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}]}"#,
    // An error object.
    r#"{"error":{"message":"slow down","type":"requests"}}"#,
    // Not JSON.
    "<html>bad gateway</html>",
    "",
];

const STATUSES: [u16; 11] = [200, 200, 200, 307, 301, 400, 401, 429, 500, 503, 529];

#[derive(Debug, Clone)]
enum Input {
    /// A response head, and which of [`BODIES`] its body is.
    Head {
        status: u16,
        sse: bool,
        retry_after_ms: Option<u16>,
        location: u8,
        body: usize,
    },
    /// The next `len` bytes of the body.
    Body {
        len: usize,
    },
    End,
    Io(IoErrorKind),
    /// The time moves on by this many milliseconds (and is given).
    Time(u32),
    /// The time jumps to the machine's next deadline.
    ToDeadline,
}

fn io_kind() -> impl Strategy<Value = IoErrorKind> {
    prop_oneof![
        Just(IoErrorKind::NotProcessed),
        Just(IoErrorKind::Connect),
        Just(IoErrorKind::Request),
        Just(IoErrorKind::Body),
        Just(IoErrorKind::Unusable),
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        3 => (
            0..STATUSES.len(),
            any::<bool>(),
            proptest::option::of(0u16..3000),
            0u8..3,
            0..BODIES.len()
        )
            .prop_map(|(status, sse, retry_after_ms, location, body)| Input::Head {
                status: STATUSES[status],
                sse,
                retry_after_ms,
                location,
                body,
            }),
        6 => (1usize..120).prop_map(|len| Input::Body { len }),
        1 => Just(Input::End),
        1 => io_kind().prop_map(Input::Io),
        2 => (0u32..700_000).prop_map(Input::Time),
        1 => Just(Input::ToDeadline),
    ]
}

fn options(max_retries: u32, stream: bool) -> (Call, u32) {
    let config = ClientConfig::builder()
        .base_url("https://a.example/v1")
        .api_key("sk-x")
        .build()
        .unwrap();
    let mut options = CallOptions::default();
    options.retry = RetryPolicy::default();
    options.retry.max_retries = max_retries;
    options.timeouts = Timeouts::none();
    options.timeouts.response = Some(Duration::from_secs(20));
    options.timeouts.idle = Some(Duration::from_secs(15));
    options.timeouts.body = Some(Duration::from_secs(120));
    options.timeouts.total = Some(Duration::from_secs(600));
    let request = ChatRequest::new("m").user("hi").stream(stream);
    let start = Start {
        now: Duration::from_secs(5),
        wall_clock: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        seed: 3,
    };
    (
        Call::chat(&config, &request, options, start).unwrap(),
        max_retries,
    )
}

/// What a driver saw: the terminal events, the text of the chunks, and whether anything broke
/// an invariant.
#[derive(Debug, Default, PartialEq)]
struct Seen {
    text: String,
    endings: Vec<String>,
}

fn drain(call: &mut Call, seen: &mut Seen) {
    while let Some(event) = call.poll_event() {
        match event {
            Event::Chunk(chunk) => seen.text.push_str(chunk.text().unwrap_or("")),
            Event::Done => seen.endings.push("done".into()),
            Event::Completion(completion) => seen
                .endings
                .push(format!("completion {:?}", completion.text())),
            Event::Body(body) => seen.endings.push(format!("body {}", body.len())),
            Event::Failed(error) => seen.endings.push(format!("failed: {error}")),
            _ => {}
        }
    }
}

fn headers(sse: bool, retry_after_ms: Option<u16>, location: u8) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let kind = if sse {
        "text/event-stream"
    } else {
        "application/json"
    };
    headers.insert("content-type", kind.parse().unwrap());
    if let Some(ms) = retry_after_ms {
        headers.insert("retry-after-ms", ms.to_string().parse().unwrap());
    }
    let to = ["/v1/other", "https://b.example/v1/x", "not a url"][location as usize];
    headers.insert("location", to.parse().unwrap());
    headers
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn random_drivers_keep_every_invariant(
        inputs in proptest::collection::vec(input(), 0..60),
        max_retries in 0u32..4,
        stream in any::<bool>(),
    ) {
        let (mut call, max_retries) = options(max_retries, stream);
        let mut now = Duration::from_secs(5);
        let mut seen = Seen::default();
        let mut over = false;
        // The body being read, and how much of it was.
        let mut reading: (&[u8], usize) = (b"", 0);
        let mut step = |call: &mut Call, input: &Input, now: &mut Duration| {
            match input {
                Input::Head { status, sse, retry_after_ms, location, body } => {
                    reading = (BODIES[*body].as_bytes(), 0);
                    call.handle_head(
                        StatusCode::from_u16(*status).unwrap(),
                        headers(*sse, *retry_after_ms, *location),
                    );
                }
                Input::Body { len } => {
                    let (bytes, read) = &mut reading;
                    let to = (*read + len).min(bytes.len());
                    call.push_body(Bytes::copy_from_slice(&bytes[*read..to]));
                    *read = to;
                }
                Input::End => call.handle_end(),
                Input::Io(kind) => call.handle_io_error(*kind, "broken"),
                Input::Time(ms) => *now += Duration::from_millis(u64::from(*ms)),
                Input::ToDeadline => {
                    if let Some(at) = call.poll_timeout() {
                        *now = (*now).max(at);
                    }
                }
            }
        };
        for input in &inputs {
            step(&mut call, input, &mut now);
            call.handle_timeout(now);
            if let Some(at) = call.poll_timeout() {
                prop_assert!(at >= now, "a deadline in the past after handle_timeout");
            }
            let transmit = call.poll_transmit();
            prop_assert!(!(over && transmit.is_some()), "a transmit after the end");
            if let Some(transmit) = transmit {
                prop_assert!(transmit.attempt <= max_retries + 1);
            }
            call.handle_timeout(now);
            drain(&mut call, &mut seen);
            over = !seen.endings.is_empty();
            prop_assert!(call.attempts() <= max_retries + 1);
        }
        // Left alone, every call ends (its total deadline at the latest), once.
        for _ in 0..10_000 {
            if call.is_over() {
                break;
            }
            if let Some(transmit) = call.poll_transmit() {
                prop_assert!(!over, "a transmit after the end");
                let _ = transmit;
            }
            call.handle_timeout(now);
            match call.poll_timeout() {
                Some(at) if at > now => now = at,
                Some(_) => {}
                None => prop_assert!(false, "a call that is not over has nothing to wait for"),
            }
            call.handle_timeout(now);
            drain(&mut call, &mut seen);
        }
        drain(&mut call, &mut seen);
        prop_assert!(call.is_over());
        prop_assert_eq!(seen.endings.len(), 1, "{:?}", seen.endings);
        prop_assert!(call.poll_transmit().is_none());
        prop_assert!(call.attempts() <= max_retries + 1);
        prop_assert_eq!(call.poll_timeout(), None);
    }

    #[test]
    fn a_response_gives_the_same_outcome_however_its_body_is_split(
        status in prop::sample::select(vec![200u16, 400, 429, 500]),
        body in 0..BODIES.len(),
        sse in any::<bool>(),
        stream in any::<bool>(),
        cuts in proptest::collection::vec(0usize..400, 0..8),
    ) {
        let outcome = |pieces: &[&[u8]]| {
            let (mut call, _) = options(0, stream);
            let _ = call.poll_transmit();
            call.handle_timeout(Duration::from_secs(5));
            call.handle_head(StatusCode::from_u16(status).unwrap(), headers(sse, None, 0));
            let mut seen = Seen::default();
            for piece in pieces {
                call.push_body(Bytes::copy_from_slice(piece));
                call.handle_timeout(Duration::from_secs(6));
                drain(&mut call, &mut seen);
            }
            call.handle_end();
            drain(&mut call, &mut seen);
            assert_eq!(seen.endings.len(), 1, "one ending: {:?}", seen.endings);
            seen
        };
        let bytes = BODIES[body].as_bytes();
        let mut points: Vec<usize> = cuts.into_iter().map(|cut| cut.min(bytes.len())).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut from = 0;
        for point in points {
            pieces.push(&bytes[from..point]);
            from = point;
        }
        pieces.push(&bytes[from..]);
        prop_assert_eq!(outcome(&pieces), outcome(&[bytes]));
    }
}
