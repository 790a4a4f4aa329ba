//! The call machine under a fuzz-chosen driver: heads of any status and headers, bodies cut
//! anywhere, I/O errors of every kind, time moving on or jumping to the next deadline, in any
//! order. Never a panic; no transmit once the call is over; a handled timeout is never in the
//! past; at most `max_retries + 1` attempts; and left alone, every call ends, exactly once.
#![no_main]

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use gptproto_proto::ChatRequest;
use gptproto_proto::call::{Call, CallOptions, Event, IoErrorKind, Start};
use gptproto_proto::exchange::ClientConfig;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;

/// Header names an opcode can pick.
const NAMES: [&str; 8] = [
    "content-type",
    "retry-after",
    "retry-after-ms",
    "x-should-retry",
    "location",
    "x-request-id",
    "content-length",
    "x-ratelimit-limit-requests",
];

/// Values an opcode can pick (else the input's own bytes).
const VALUES: [&str; 12] = [
    "text/event-stream",
    "application/json",
    "1",
    "0.5",
    "250",
    "true",
    "false",
    "/v1/other",
    "https://b.example/v1/x",
    "Wed, 21 Oct 2037 07:28:00 GMT",
    "bogus",
    "",
];

/// Reads the input a byte at a time.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (taken, rest) = self.0.split_at(n);
        self.0 = rest;
        taken
    }
}

fn options(flags: u8) -> CallOptions {
    let mut options = CallOptions::default();
    options.retry.max_retries = u32::from(flags & 3);
    let seconds = |bits: u8| Some(Duration::from_millis(u64::from(bits) * 700 + 1));
    options.timeouts.response = seconds(flags >> 2 & 7);
    options.timeouts.idle = seconds(flags >> 5);
    options.timeouts.body = Some(Duration::from_secs(30));
    options.timeouts.total = Some(Duration::from_secs(120));
    options.max_body = 4096;
    options.max_answer = 2048;
    options
}

fn drain(call: &mut Call, endings: &mut u32) {
    while let Some(event) = call.poll_event() {
        match event {
            Event::Chunk(chunk) => {
                let _ = chunk.to_chunk();
            }
            Event::Done | Event::Completion(_) | Event::Body(_) | Event::Failed(_) => {
                *endings += 1;
            }
            _ => {}
        }
    }
}

fuzz_target!(|raw: &[u8]| {
    let mut input = Reader(raw);
    let Some(flags) = input.byte() else { return };
    let stream = flags & 0x80 != 0;
    let options = options(flags);
    let max_attempts = options.retry.max_retries + 1;
    let config = ClientConfig::builder()
        .base_url("https://a.example/v1")
        .api_key("sk-fuzz")
        .build()
        .unwrap();
    let request = ChatRequest::new("m").user("hi").stream(stream);
    let start = Start {
        now: Duration::from_secs(1),
        wall_clock: SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000),
        seed: u64::from(flags),
    };
    let mut call = Call::chat(&config, &request, options, start).unwrap();
    let mut now = Duration::from_secs(1);
    let mut endings = 0;
    while let Some(op) = input.byte() {
        match op % 8 {
            0 | 1 => {
                let status = 200 + u16::from(input.byte().unwrap_or(0)) % 400;
                let mut headers = HeaderMap::new();
                for _ in 0..input.byte().unwrap_or(0) % 4 {
                    let name = NAMES[usize::from(input.byte().unwrap_or(0)) % NAMES.len()];
                    let pick = usize::from(input.byte().unwrap_or(0));
                    let value = match VALUES.get(pick % 16) {
                        Some(value) => HeaderValue::from_static(value),
                        None => match HeaderValue::from_bytes(input.take(pick % 8)) {
                            Ok(value) => value,
                            Err(_) => continue,
                        },
                    };
                    headers.append(HeaderName::from_static(name), value);
                }
                if let Ok(status) = StatusCode::from_u16(status) {
                    call.handle_head(status, headers);
                }
            }
            2 | 3 => {
                let len = usize::from(input.byte().unwrap_or(0));
                call.push_body(Bytes::copy_from_slice(input.take(len)));
            }
            4 => call.handle_end(),
            5 => {
                let kind = [
                    IoErrorKind::NotProcessed,
                    IoErrorKind::Connect,
                    IoErrorKind::Request,
                    IoErrorKind::Body,
                    IoErrorKind::Unusable,
                ][usize::from(input.byte().unwrap_or(0)) % 5];
                call.handle_io_error(kind, "fuzzed");
            }
            6 => now += Duration::from_millis(u64::from(input.byte().unwrap_or(0)) * 97),
            _ => {
                if let Some(at) = call.poll_timeout() {
                    now = now.max(at);
                }
            }
        }
        call.handle_timeout(now);
        if let Some(at) = call.poll_timeout() {
            assert!(at >= now, "a deadline in the past after handle_timeout");
        }
        let over = endings > 0;
        if let Some(transmit) = call.poll_transmit() {
            assert!(!over, "a transmit after the end");
            assert!(transmit.attempt <= max_attempts);
        }
        call.handle_timeout(now);
        drain(&mut call, &mut endings);
        assert!(call.attempts() <= max_attempts);
    }
    // Left alone, the call ends (its total deadline at the latest), once.
    for _ in 0..1_000 {
        if call.is_over() {
            break;
        }
        let _ = call.poll_transmit();
        call.handle_timeout(now);
        match call.poll_timeout() {
            Some(at) if at > now => now = at,
            Some(_) => {}
            None => panic!("a call that is not over has nothing to wait for"),
        }
        call.handle_timeout(now);
        drain(&mut call, &mut endings);
    }
    drain(&mut call, &mut endings);
    assert!(call.is_over(), "the call did not end");
    assert_eq!(endings, 1, "one ending");
    assert!(call.poll_transmit().is_none());
    assert_eq!(call.poll_timeout(), None);
});
