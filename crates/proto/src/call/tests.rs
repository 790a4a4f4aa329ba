use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, StatusCode};

use super::*;
use crate::exchange::ClientConfig;

const START: Duration = Duration::from_secs(1000);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config() -> ClientConfig {
    ClientConfig::builder()
        .base_url("https://a.example/v1")
        .api_key("sk-secret")
        .build()
        .unwrap()
}

fn call_with(stream: bool, options: CallOptions) -> Call {
    let request = ChatRequest::new("m").user("hi").stream(stream);
    Call::chat(
        &config(),
        &request,
        options,
        Start {
            now: START,
            wall_clock: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
            seed: 7,
        },
    )
    .unwrap()
}

fn streamed() -> Call {
    call_with(true, CallOptions::default())
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| (name.parse().unwrap(), value.parse().unwrap()))
        .collect()
}

fn sse() -> HeaderMap {
    headers(&[("content-type", "text/event-stream")])
}

fn json() -> HeaderMap {
    headers(&[("content-type", "application/json")])
}

fn chunk(text: &str, finish: bool) -> String {
    let finish = if finish {
        r#","finish_reason":"stop""#
    } else {
        ""
    };
    format!(
        "data: {{\"id\":\"c1\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}}{finish}}}]}}\n\n"
    )
}

const COMPLETION: &str = r#"{"id":"c1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"Hi."},"finish_reason":"stop"}]}"#;

/// Everything the call has to say now, as text: `retry 1 after 500ms: ...`, `response 200`,
/// `chunk "Hi"`, `completion "Hi."`, `body 12`, `done`, `failed: ...`.
fn events(call: &mut Call) -> Vec<String> {
    let mut seen = Vec::new();
    while let Some(event) = call.poll_event() {
        seen.push(match event {
            Event::Retrying {
                attempt,
                after,
                error,
            } => format!("retry {attempt} after {after:?}: {error}"),
            Event::Response { status, .. } => format!("response {}", status.as_u16()),
            Event::Chunk(chunk) => format!("chunk {:?}", chunk.text().unwrap_or("")),
            Event::Completion(completion) => {
                format!("completion {:?}", completion.text().unwrap_or(""))
            }
            Event::Body(body) => format!("body {}", body.len()),
            Event::Done => "done".to_owned(),
            Event::Failed(error) => format!("failed: {error}"),
        });
    }
    seen
}

/// The driver's side, in the order a driver gives the time: after each input.
trait Drive {
    /// The transmit due at `now`, if any (its send time given).
    fn transmit_at(&mut self, now: Duration) -> Option<Transmit>;
    /// A response head at `now`.
    fn head_at(&mut self, now: Duration, status: StatusCode, headers: HeaderMap);
}

impl Drive for Call {
    fn transmit_at(&mut self, now: Duration) -> Option<Transmit> {
        self.handle_timeout(now);
        let transmit = self.poll_transmit();
        self.handle_timeout(now);
        transmit
    }

    fn head_at(&mut self, now: Duration, status: StatusCode, headers: HeaderMap) {
        self.handle_head(status, headers);
        self.handle_timeout(now);
    }
}

/// The transmit due now, which must exist.
fn send(call: &mut Call, now: Duration) -> Transmit {
    call.transmit_at(now).expect("a transmit is due")
}

/// Answers the transmit due at `now` with a whole response.
fn answer(call: &mut Call, now: Duration, status: u16, head: HeaderMap, body: &str) {
    let _ = send(call, now);
    call.head_at(now, StatusCode::from_u16(status).unwrap(), head);
    if !body.is_empty() {
        call.push_body(Bytes::copy_from_slice(body.as_bytes()));
    }
    call.handle_end();
}

/// Waits until the call's deadline and gives it the time.
fn wait(call: &mut Call) -> Duration {
    let at = call.poll_timeout().expect("the call waits for something");
    call.handle_timeout(at);
    at
}

#[test]
fn a_streamed_answer_is_its_head_then_its_chunks_then_done() {
    let mut call = streamed();
    let transmit = send(&mut call, START);
    assert_eq!(transmit.attempt, 1);
    assert!(!transmit.fresh_connection);
    assert_eq!(
        transmit.request.headers()["authorization"],
        "Bearer sk-secret"
    );
    assert_eq!(transmit.request.headers()["accept"], "text/event-stream");
    assert!(call.transmit_at(START).is_none(), "one transmit an attempt");
    assert!(!call.wants_body());
    call.head_at(START + ms(5), StatusCode::OK, sse());
    assert!(call.wants_body());
    let body = format!(
        "{}{}data: [DONE]\n\n",
        chunk("Hi", false),
        chunk(" there", true)
    );
    let (one, two) = body.split_at(17);
    call.push_body(Bytes::copy_from_slice(one.as_bytes()));
    assert_eq!(events(&mut call), ["response 200"]);
    call.push_body(Bytes::copy_from_slice(two.as_bytes()));
    assert_eq!(events(&mut call), ["chunk \"Hi\"", "chunk \" there\""]);
    // After [DONE] the body is read on (drained), and then the stream is done.
    assert!(call.wants_body());
    call.handle_end();
    assert_eq!(events(&mut call), ["done"]);
    assert!(call.is_over() && !call.wants_body());
    assert_eq!(call.poll_timeout(), None);
    assert_eq!(call.chunks(), 2);
    assert_eq!(call.into_completion().unwrap().text(), Some("Hi there"));
}

#[test]
fn after_done_the_body_is_drained_for_at_most_250_ms_or_64_kib() {
    let body = format!("{}data: [DONE]\n\n", chunk("Hi", true));
    // The server keeps the body open: the drain ends after its wait.
    let mut call = streamed();
    answer_head(&mut call, &body);
    assert_eq!(events(&mut call), ["response 200", "chunk \"Hi\""]);
    assert!(events(&mut call).is_empty());
    assert_eq!(
        call.poll_timeout(),
        Some(START),
        "due at once: the drain's wait starts"
    );
    call.handle_timeout(START + ms(10));
    assert_eq!(call.poll_timeout(), Some(START + ms(10) + DRAIN_WAIT));
    call.push_body(Bytes::from_static(b": trailing\n\n"));
    assert_eq!(wait(&mut call), START + ms(260));
    assert_eq!(events(&mut call), ["done"]);
    // Or more than 64 KiB comes after [DONE].
    let mut call = streamed();
    answer_head(&mut call, &body);
    let _ = events(&mut call);
    call.push_body(Bytes::from(vec![b':'; DRAIN_LIMIT + 1]));
    assert_eq!(events(&mut call), ["done"]);
    // Or the body breaks: no error of the call's.
    let mut call = streamed();
    answer_head(&mut call, &body);
    let _ = events(&mut call);
    call.handle_io_error(IoErrorKind::Body, "reset");
    assert_eq!(events(&mut call), ["done"]);
}

/// Sends, and answers with a streamed head and `body` (the body left open).
fn answer_head(call: &mut Call, body: &str) {
    let _ = send(call, START);
    call.head_at(START, StatusCode::OK, sse());
    call.push_body(Bytes::copy_from_slice(body.as_bytes()));
}

#[test]
fn a_completion_is_its_head_then_the_whole_answer() {
    let mut call = call_with(false, CallOptions::default());
    let transmit = send(&mut call, START);
    assert_eq!(transmit.request.headers()["accept"], "application/json");
    call.head_at(START, StatusCode::OK, json());
    let (one, two) = COMPLETION.split_at(30);
    call.push_body(Bytes::from_static(one.as_bytes()));
    call.push_body(Bytes::from_static(two.as_bytes()));
    assert_eq!(events(&mut call), ["response 200"]);
    call.handle_end();
    assert_eq!(events(&mut call), ["completion \"Hi.\""]);
    assert!(call.is_over());
}

#[test]
fn a_json_answer_to_a_streamed_request_is_replayed_as_chunks() {
    let mut call = streamed();
    answer(&mut call, START, 200, json(), COMPLETION);
    assert_eq!(events(&mut call), ["response 200", "chunk \"Hi.\"", "done"]);
    assert_eq!(call.into_completion().unwrap().text(), Some("Hi."));
    // An error object in a 200 is the call's error, and it is not retried.
    let mut call = streamed();
    answer(
        &mut call,
        START,
        200,
        json(),
        r#"{"error":{"message":"model overloaded","code":"server_error"}}"#,
    );
    let seen = events(&mut call);
    assert_eq!(seen.len(), 1);
    assert!(seen[0].starts_with("failed: ") && seen[0].contains("model overloaded"));
    assert_eq!(call.attempts(), 1);
}

#[test]
fn any_body_is_given_whole_when_asked_for() {
    let config = config();
    let mut call = Call::new(
        config.build_models_request(),
        Expect::Body,
        CallOptions::default(),
        Start {
            now: START,
            wall_clock: SystemTime::UNIX_EPOCH,
            seed: 1,
        },
    );
    answer(&mut call, START, 200, json(), r#"{"data":[]}"#);
    assert_eq!(events(&mut call), ["response 200", "body 11"]);
}

#[test]
fn a_429_is_retried_after_the_servers_hint() {
    let mut call = streamed();
    answer(
        &mut call,
        START,
        429,
        headers(&[("retry-after-ms", "1500")]),
        r#"{"error":{"message":"slow down"}}"#,
    );
    let seen = events(&mut call);
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].starts_with("retry 1 after 1.5s: HTTP 429"),
        "{seen:?}"
    );
    assert!(!call.wants_body());
    assert!(
        call.transmit_at(START + ms(1499)).is_none(),
        "not before the wait"
    );
    assert_eq!(call.poll_timeout(), Some(START + ms(1500)));
    let transmit = send(&mut call, START + ms(1500));
    assert_eq!(transmit.attempt, 2);
    assert_eq!(call.attempts(), 2);
}

#[test]
fn a_retry_after_date_is_read_against_the_wall_clock_given_at_the_start() {
    let mut call = streamed();
    // 30 s into the call, the server asks to come back at a date 40 s after the start.
    let wall = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_040);
    let date = httpdate::fmt_http_date(wall);
    let now = START + Duration::from_secs(30);
    answer(&mut call, now, 503, headers(&[("retry-after", &date)]), "");
    let _ = events(&mut call);
    assert_eq!(call.poll_timeout(), Some(START + Duration::from_secs(40)));
}

#[test]
fn backoff_doubles_with_jitter_from_the_seed() {
    let delays = |seed| {
        let mut call = call_with(true, CallOptions::default());
        call.rng = seed;
        let mut delays = Vec::new();
        let mut now = START;
        for _ in 0..2 {
            answer(&mut call, now, 500, HeaderMap::new(), "");
            let _ = events(&mut call);
            let until = call.poll_timeout().unwrap();
            delays.push(until - now);
            now = until;
        }
        delays
    };
    let first = delays(7);
    assert_eq!(first, delays(7), "the same seed, the same delays");
    assert_ne!(first, delays(8));
    assert!(first[0] >= ms(375) && first[0] <= ms(500), "{first:?}");
    assert!(first[1] >= ms(750) && first[1] <= ms(1000), "{first:?}");
}

#[test]
fn retries_end_when_the_policy_says_so() {
    let mut call = streamed();
    let mut now = START;
    for attempt in 1..=3 {
        answer(&mut call, now, 503, HeaderMap::new(), "");
        let seen = events(&mut call);
        if attempt < 3 {
            assert!(
                seen[0].starts_with(&format!("retry {attempt} ")),
                "{seen:?}"
            );
            now = wait(&mut call);
        } else {
            assert!(seen[0].starts_with("failed: HTTP 503"), "{seen:?}");
        }
    }
    assert_eq!(call.attempts(), 3);
    assert!(call.transmit_at(now + Duration::from_secs(60)).is_none());
    // Permanent and unauthorized failures are not retried at all.
    for status in [400, 401, 404] {
        let mut call = streamed();
        answer(&mut call, START, status, HeaderMap::new(), "");
        assert!(events(&mut call)[0].starts_with("failed"), "{status}");
        assert_eq!(call.attempts(), 1);
    }
}

#[test]
fn x_should_retry_is_obeyed() {
    let mut call = streamed();
    answer(
        &mut call,
        START,
        503,
        headers(&[("x-should-retry", "false")]),
        "",
    );
    assert!(events(&mut call)[0].starts_with("failed"));
    let mut call = streamed();
    answer(
        &mut call,
        START,
        400,
        headers(&[("x-should-retry", "true")]),
        "",
    );
    assert!(events(&mut call)[0].starts_with("retry 1"));
}

#[test]
fn a_retry_that_would_end_past_the_total_deadline_is_not_made() {
    let mut options = CallOptions::default();
    options.timeouts.total = Some(Duration::from_secs(2));
    let mut call = call_with(true, options);
    answer(
        &mut call,
        START,
        429,
        headers(&[("retry-after", "3")]),
        r#"{"error":{"message":"slow down"}}"#,
    );
    let seen = events(&mut call);
    assert!(seen[0].starts_with("failed: HTTP 429"), "{seen:?}");
}

#[test]
fn redirects_are_followed_and_credentials_do_not_leave_the_origin() {
    let mut call = streamed();
    let _ = send(&mut call, START);
    let location = |to: &str| headers(&[("location", to)]);
    call.head_at(START, StatusCode::TEMPORARY_REDIRECT, location("/v2/chat"));
    let same = send(&mut call, START);
    assert_eq!(same.request.uri(), "https://a.example/v2/chat");
    assert_eq!(same.attempt, 1, "a redirect is not a retry");
    assert!(same.request.headers().contains_key("authorization"));
    assert_eq!(same.request.method(), http::Method::POST);
    assert_eq!(same.request.body().len(), call.body.len());
    call.head_at(
        START,
        StatusCode::PERMANENT_REDIRECT,
        location("https://b.example/v1/chat/completions"),
    );
    let other = send(&mut call, START);
    assert_eq!(other.request.uri(), "https://b.example/v1/chat/completions");
    assert!(!other.request.headers().contains_key("authorization"));
    call.head_at(
        START,
        StatusCode::TEMPORARY_REDIRECT,
        location("https://a.example/v1/chat/completions"),
    );
    let back = send(&mut call, START);
    assert!(
        !back.request.headers().contains_key("authorization"),
        "once dropped, dropped for the attempt"
    );
    // A retry starts again from the planned URL, with its credentials.
    call.head_at(START, StatusCode::SERVICE_UNAVAILABLE, HeaderMap::new());
    call.handle_end();
    let _ = events(&mut call);
    let at = call.poll_timeout().unwrap();
    let retry = send(&mut call, at);
    assert_eq!(retry.request.uri(), "https://a.example/v1/chat/completions");
    assert!(retry.request.headers().contains_key("authorization"));
}

#[test]
fn redirects_not_followed_end_the_call() {
    let location = |to: &str| headers(&[("location", to)]);
    // Five are followed; the sixth is one too many.
    let mut call = streamed();
    for _ in 0..5 {
        let _ = send(&mut call, START);
        call.head_at(START, StatusCode::TEMPORARY_REDIRECT, location("/again"));
    }
    let _ = send(&mut call, START);
    call.head_at(START, StatusCode::TEMPORARY_REDIRECT, location("/again"));
    let seen = events(&mut call);
    assert_eq!(
        seen,
        ["failed: more than 5 redirects (the last: HTTP 307 to /again)"]
    );
    for (status, to, expected) in [
        (
            301,
            "/v2",
            "failed: HTTP 301 redirect to /v2 was not followed",
        ),
        (
            307,
            "",
            "failed: HTTP 307 response without a Location: not an answer, and nowhere to go",
        ),
        (
            302,
            "",
            "failed: HTTP 302 response without a Location: not an answer, and nowhere to go",
        ),
    ] {
        let mut call = streamed();
        let _ = send(&mut call, START);
        call.head_at(START, StatusCode::from_u16(status).unwrap(), location(to));
        assert_eq!(events(&mut call), [expected]);
        assert!(call.transmit_at(START).is_none());
    }
}

#[test]
fn no_head_in_time_is_retried_on_a_fresh_connection() {
    let mut options = CallOptions::default();
    options.timeouts.response = Some(Duration::from_secs(10));
    let mut call = call_with(true, options);
    let _ = send(&mut call, START);
    assert_eq!(call.poll_timeout(), Some(START + Duration::from_secs(10)));
    let at = wait(&mut call);
    let seen = events(&mut call);
    assert!(
        seen[0].starts_with("retry 1 after")
            && seen[0].ends_with("timed out: no response head within 10s"),
        "{seen:?}"
    );
    let due = wait(&mut call);
    let retry = send(&mut call, due);
    assert!(retry.fresh_connection && at < START + Duration::from_secs(11));
    // A head that comes too late for the attempt is not taken.
    let mut call = call_with(true, options_with_total(ms(300)));
    let _ = send(&mut call, START);
    let _ = wait(&mut call);
    call.head_at(START + ms(400), StatusCode::OK, sse());
    assert_eq!(
        events(&mut call),
        ["failed: timed out: the call did not finish within 300ms"]
    );
}

fn options_with_total(total: Duration) -> CallOptions {
    let mut options = CallOptions::default();
    options.timeouts.total = Some(total);
    options
}

#[test]
fn the_total_deadline_cuts_the_response_wait_and_is_not_retried() {
    let mut call = call_with(true, options_with_total(Duration::from_secs(3)));
    let _ = send(&mut call, START);
    assert_eq!(call.poll_timeout(), Some(START + Duration::from_secs(3)));
    let _ = wait(&mut call);
    assert_eq!(
        events(&mut call),
        ["failed: timed out: the call did not finish within 3s"]
    );
    assert_eq!(call.attempts(), 1);
}

#[test]
fn a_stalled_stream_times_out_idle_with_what_arrived_and_reads_keep_it_alive() {
    let mut options = CallOptions::default();
    options.timeouts.idle = Some(Duration::from_secs(5));
    let mut call = call_with(true, options);
    let _ = send(&mut call, START);
    call.head_at(START, StatusCode::OK, sse());
    assert_eq!(call.poll_timeout(), Some(START + Duration::from_secs(5)));
    // A read 4 s in: the idle deadline is measured from the next time given.
    call.push_body(Bytes::from(chunk("Hi", false)));
    let _ = events(&mut call);
    assert_eq!(call.poll_timeout(), Some(START), "due at once");
    call.handle_timeout(START + Duration::from_secs(4));
    assert_eq!(call.poll_timeout(), Some(START + Duration::from_secs(9)));
    // A keep-alive comment counts as a read.
    call.push_body(Bytes::from_static(b": keep-alive\n\n"));
    call.handle_timeout(START + Duration::from_secs(8));
    assert_eq!(wait(&mut call), START + Duration::from_secs(13));
    let seen = events(&mut call);
    assert_eq!(seen, ["failed: timed out: nothing received within 5s"]);
}

#[test]
fn the_body_deadline_bounds_a_trickle_and_carries_what_arrived() {
    let mut options = CallOptions::default();
    options.timeouts.idle = Some(Duration::from_secs(5));
    options.timeouts.body = Some(Duration::from_secs(12));
    let mut call = call_with(true, options);
    let _ = send(&mut call, START);
    call.head_at(START, StatusCode::OK, sse());
    call.push_body(Bytes::from(chunk("Hi", false)));
    let mut now = START;
    let error = 'read: loop {
        while let Some(event) = call.poll_event() {
            if let Event::Failed(error) = event {
                break 'read error;
            }
        }
        // Each comment comes in time for the idle deadline; the body's passes anyway.
        now += Duration::from_secs(3);
        call.handle_timeout(now);
        call.push_body(Bytes::from_static(b": still here\n\n"));
    };
    assert_eq!(now, START + Duration::from_secs(12));
    assert_eq!(error.timeout_kind(), Some(TimeoutKind::Body));
    assert_eq!(error.partial().and_then(ChatCompletion::text), Some("Hi"));
}

#[test]
fn a_deadline_passing_during_a_stream_is_an_error_with_the_partial_answer() {
    let mut call = call_with(true, options_with_total(Duration::from_secs(2)));
    let _ = send(&mut call, START);
    call.head_at(START, StatusCode::OK, sse());
    call.push_body(Bytes::from(chunk("Hi", false)));
    let _ = events(&mut call);
    call.handle_timeout(START + Duration::from_secs(2));
    let Some(Event::Failed(error)) = call.poll_event() else {
        panic!("the call failed");
    };
    assert_eq!(error.timeout_kind(), Some(TimeoutKind::Total));
    assert_eq!(error.partial().and_then(ChatCompletion::text), Some("Hi"));
}

#[test]
fn an_error_body_is_read_up_to_its_limit_and_classified() {
    let mut call = streamed();
    let _ = send(&mut call, START);
    call.head_at(START, StatusCode::BAD_GATEWAY, HeaderMap::new());
    call.push_body(Bytes::from(vec![b'x'; ERROR_BODY_LIMIT - 1]));
    assert!(call.wants_body());
    call.push_body(Bytes::from_static(b"yz"));
    assert!(!call.wants_body(), "the rest is not read");
    let seen = events(&mut call);
    assert!(
        seen[0].starts_with("retry 1 after") && seen[0].contains("HTTP 502"),
        "{seen:?}"
    );
    // One that breaks or stalls is classified with what was read.
    for breaks in [true, false] {
        let mut call = streamed();
        let _ = send(&mut call, START);
        call.head_at(START, StatusCode::UNAUTHORIZED, HeaderMap::new());
        call.push_body(Bytes::from_static(br#"{"error":{"message":"bad key""#));
        if breaks {
            call.handle_io_error(IoErrorKind::Body, "reset");
        } else {
            let _ = wait(&mut call);
            let _ = wait(&mut call);
        }
        let seen = events(&mut call);
        assert!(seen[0].starts_with("failed: HTTP 401"), "{seen:?}");
    }
}

#[test]
fn a_whole_body_past_the_limit_is_an_error() {
    let options = CallOptions {
        max_body: 10,
        ..CallOptions::default()
    };
    let mut call = call_with(false, options);
    let _ = send(&mut call, START);
    call.head_at(START, StatusCode::OK, json());
    call.push_body(Bytes::from_static(b"0123456789"));
    assert_eq!(events(&mut call), ["response 200"]);
    call.push_body(Bytes::from_static(b"!"));
    assert_eq!(
        events(&mut call),
        ["failed: the response body exceeds the limit of 10 bytes"]
    );
}

#[test]
fn io_errors_are_resent_retried_or_final_by_their_kind() {
    // Not processed: the same attempt again at once, at most 8 times.
    let mut call = streamed();
    for _ in 0..8 {
        let transmit = send(&mut call, START);
        assert_eq!(transmit.attempt, 1);
        call.handle_io_error(IoErrorKind::NotProcessed, "refused stream");
        assert!(events(&mut call).is_empty());
    }
    let _ = send(&mut call, START);
    call.handle_io_error(IoErrorKind::NotProcessed, "refused stream");
    assert!(events(&mut call)[0].starts_with("retry 1 after"));
    // No connection, or a connection lost after sending: retried; the error says whether the
    // request may have reached the server.
    for (kind, reached) in [(IoErrorKind::Connect, false), (IoErrorKind::Request, true)] {
        let mut call = streamed();
        let _ = send(&mut call, START);
        call.handle_io_error(kind, "connection reset");
        let Some(Event::Retrying { error, .. }) = call.poll_event() else {
            panic!("retried");
        };
        assert_eq!(error.may_have_reached_server(), reached, "{kind:?}");
        assert_eq!(error.to_string(), "connection reset");
    }
    // Unusable: final.
    let mut call = streamed();
    let _ = send(&mut call, START);
    call.handle_io_error(IoErrorKind::Unusable, "certificate not trusted");
    assert_eq!(events(&mut call), ["failed: certificate not trusted"]);
}

#[test]
fn a_stream_that_breaks_is_truncated_with_what_arrived() {
    let mut call = streamed();
    answer_head(&mut call, &chunk("Hi", false));
    let _ = events(&mut call);
    call.handle_io_error(IoErrorKind::Body, "connection reset");
    let Some(Event::Failed(error)) = call.poll_event() else {
        panic!("failed");
    };
    assert!(error.is_truncated() && error.may_have_reached_server());
    assert_eq!(error.partial().and_then(ChatCompletion::text), Some("Hi"));
    assert_eq!(
        error.to_string(),
        "the stream broke after 1 chunks (2 bytes of text received): connection reset"
    );
    // And one that ends cleanly too early.
    let mut call = streamed();
    answer_head(&mut call, &chunk("Hi", false));
    call.handle_end();
    let seen = events(&mut call);
    assert_eq!(seen[0], "response 200");
    assert!(
        seen[2].starts_with("failed: stream ended early"),
        "{seen:?}"
    );
}

#[test]
fn a_streamed_answer_past_its_bound_ends_with_what_was_accumulated() {
    let options = CallOptions {
        max_answer: 64,
        ..CallOptions::default()
    };
    let mut call = call_with(true, options);
    answer_head(&mut call, &chunk(&"x".repeat(100), false));
    let seen = events(&mut call);
    assert!(
        seen.last()
            .unwrap()
            .contains("exceeds the limit of 64 bytes"),
        "{seen:?}"
    );
}

#[test]
fn what_comes_out_of_turn_is_ignored() {
    let mut call = streamed();
    call.push_body(Bytes::from_static(b"data: x\n\n"));
    call.handle_end();
    call.handle_io_error(IoErrorKind::Request, "no");
    call.head_at(START, StatusCode::OK, sse());
    assert!(events(&mut call).is_empty());
    let _ = send(&mut call, START);
    call.head_at(START, StatusCode::OK, sse());
    call.head_at(START, StatusCode::INTERNAL_SERVER_ERROR, HeaderMap::new());
    assert_eq!(events(&mut call), ["response 200"]);
    assert_eq!(call.response_head().unwrap().0, StatusCode::OK);
}

#[test]
fn time_given_never_goes_back_and_a_handled_timeout_is_never_in_the_past() {
    let mut call = call_with(true, options_with_total(Duration::from_secs(30)));
    let _ = send(&mut call, START + Duration::from_secs(1));
    call.handle_timeout(START);
    assert!(call.poll_timeout().unwrap() >= START + Duration::from_secs(1));
    call.head_at(START + Duration::from_secs(2), StatusCode::OK, sse());
    call.push_body(Bytes::from(chunk("a", false)));
    call.handle_timeout(START + Duration::from_secs(3));
    assert!(call.poll_timeout().unwrap() >= START + Duration::from_secs(3));
}

/// A thousand calls in flight are a thousand of these (the stream decoder is boxed apart, made
/// when a stream starts: 872 bytes without it, 1,872 with it inline).
#[test]
fn a_call_waiting_for_its_answer_is_small() {
    assert!(
        std::mem::size_of::<Call>() <= 1024,
        "a Call is {} bytes",
        std::mem::size_of::<Call>()
    );
}

/// DashScope's answer to a Qwen3 call with thinking on, not streamed.
const THINKING_NOT_STREAMED: &str = r#"{"error":{"code":"invalid_parameter_error","message":"<400> InternalError.Algo.InvalidParameter: The value of the enable_thinking parameter is restricted to True. parameter.enable_thinking must be set to false for non-streaming calls","param":null,"type":"invalid_request_error"},"id":"chatcmpl-1","request_id":"r-1"}"#;

fn thinking_stream() -> String {
    let thought = r#"data: {"id":"c1","model":"qwen3-32b","choices":[{"index":0,"delta":{"content":null,"reasoning_content":"Two plus two."}}]}"#;
    let usage = r#"data: {"id":"c1","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":7,"total_tokens":16}}"#;
    format!(
        "{thought}\n\n{}{usage}\n\ndata: [DONE]\n\n",
        chunk("4", true)
    )
}

fn body_json(transmit: &Transmit) -> serde_json::Value {
    serde_json::from_slice(transmit.request.body()).unwrap()
}

#[test]
fn a_call_refused_unless_streamed_is_sent_again_streamed_and_folded_into_one_completion() {
    let mut call = call_with(false, CallOptions::default());
    let first = send(&mut call, START);
    assert_ne!(body_json(&first)["stream"], true);
    call.head_at(START, StatusCode::BAD_REQUEST, json());
    call.push_body(Bytes::from_static(THINKING_NOT_STREAMED.as_bytes()));
    call.handle_end();
    // Not a retry, no event: the same attempt, streamed.
    assert_eq!(events(&mut call), Vec::<String>::new());
    let again = send(&mut call, START);
    assert_eq!(again.attempt, 1);
    assert_eq!(again.request.headers()["accept"], "text/event-stream");
    assert_eq!(again.request.headers()["authorization"], "Bearer sk-secret");
    let sent = body_json(&again);
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(sent["messages"], body_json(&first)["messages"]);
    call.head_at(START, StatusCode::OK, sse());
    call.push_body(Bytes::from(thinking_stream()));
    call.handle_end();
    let mut completion = None;
    while let Some(event) = call.poll_event() {
        if let Event::Completion(answer) = event {
            completion = Some(answer);
        }
    }
    let completion = completion.expect("one completion");
    assert_eq!(completion.text(), Some("4"));
    let message = &completion.choices[0].message;
    assert_eq!(message.reasoning_text(), Some("Two plus two."));
    assert_eq!(completion.usage.as_ref().unwrap().completion_tokens, 7);
    assert!(call.is_over());
}

#[test]
fn a_call_refused_unless_streamed_twice_fails_with_the_servers_error() {
    let mut call = call_with(false, CallOptions::default());
    answer(&mut call, START, 400, json(), THINKING_NOT_STREAMED);
    answer(&mut call, START, 400, json(), THINKING_NOT_STREAMED);
    let seen = events(&mut call);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(
        seen[0].contains("enable_thinking must be set to false"),
        "{seen:?}"
    );
    assert!(call.is_over());
    // Any other 400 is the call's error at once.
    let mut call = call_with(false, CallOptions::default());
    answer(
        &mut call,
        START,
        400,
        json(),
        r#"{"error":{"message":"bad temperature","type":"invalid_request_error"}}"#,
    );
    assert!(events(&mut call)[0].contains("bad temperature"));
    assert!(call.is_over());
}

#[test]
fn thinking_on_a_provider_that_thinks_only_when_streamed_is_streamed_from_the_start() {
    let config = ClientConfig::builder()
        .base_url("https://dashscope.aliyuncs.com/compatible-mode/v1")
        .api_key("sk-1")
        .build()
        .unwrap();
    let start = Start {
        now: START,
        wall_clock: SystemTime::UNIX_EPOCH,
        seed: 1,
    };
    let thinking = ChatRequest::new("qwen3-32b")
        .user("2+2?")
        .enable_thinking(true);
    let mut call = Call::chat(&config, &thinking, CallOptions::default(), start).unwrap();
    let transmit = send(&mut call, START);
    assert_eq!(body_json(&transmit)["stream"], true);
    call.head_at(START, StatusCode::OK, sse());
    call.push_body(Bytes::from(thinking_stream()));
    call.handle_end();
    assert_eq!(events(&mut call), ["response 200", "completion \"4\""]);
    // Without thinking asked for, as the caller sent it.
    let plain = ChatRequest::new("qwen-turbo").user("2+2?");
    let mut call = Call::chat(&config, &plain, CallOptions::default(), start).unwrap();
    assert_eq!(body_json(&send(&mut call, START)).get("stream"), None);
}

#[test]
fn usage_sent_after_done_is_a_chunk_before_the_end_and_in_the_completion() {
    let usage = r#"data: {"id":"c1","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":1,"total_tokens":5}}"#;
    // In a later read, within the drain's wait.
    let mut call = streamed();
    answer_head(&mut call, &format!("{}data: [DONE]\n\n", chunk("Hi", true)));
    assert_eq!(events(&mut call), ["response 200", "chunk \"Hi\""]);
    call.push_body(Bytes::from(format!(": late\n\ndata: junk\n\n{usage}\n\n")));
    call.handle_timeout(START + ms(100));
    assert_eq!(events(&mut call), ["chunk \"\""]);
    call.handle_end();
    assert_eq!(events(&mut call), ["done"]);
    let completion = call.into_completion().unwrap();
    assert_eq!(completion.usage.unwrap().total_tokens, 5);
    // In the same read, without the blank line that ends it: the body's end ends it.
    let mut call = streamed();
    answer_head(
        &mut call,
        &format!("{}data: [DONE]\n\n{usage}\n", chunk("Hi", true)),
    );
    call.handle_end();
    assert_eq!(
        events(&mut call),
        ["response 200", "chunk \"Hi\"", "chunk \"\"", "done"]
    );
    assert_eq!(
        call.into_completion().unwrap().usage.unwrap().prompt_tokens,
        4
    );
    // Usage that comes after the drain's wait is not waited for.
    let mut call = streamed();
    answer_head(&mut call, &format!("{}data: [DONE]\n\n", chunk("Hi", true)));
    let _ = events(&mut call);
    call.handle_timeout(START);
    let drained = wait(&mut call);
    assert_eq!(drained, START + DRAIN_WAIT);
    assert_eq!(events(&mut call), ["done"]);
    assert!(!call.wants_body());
    call.push_body(Bytes::from(format!("{usage}\n\n")));
    assert_eq!(events(&mut call), Vec::<String>::new());
    assert!(call.into_completion().unwrap().usage.is_none());
}
