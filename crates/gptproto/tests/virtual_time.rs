//! The client's time in virtual time: retries and their `Retry-After` variants, every timeout
//! kind, keep-alives against the deadlines, cancellation, and the answer limit, over an
//! in-memory connector under a paused tokio runtime. Each test covers minutes or hours of the
//! client's clock in milliseconds, and measures the waits exactly (the jitter is seeded).
//!
//! The same machinery over real TCP and TLS is tested in `client.rs` and `reconnect.rs`.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::StreamExt;
use gptproto::{ChatRequest, Client, ClientBuilder, Error, OwnConnector, TimeoutKind};
use gptproto_testkit::fixtures::{chunk, completion};
use gptproto_testkit::{MemoryConnector, MemoryReply, Scripted, Step};
use serde_json::json;
use tokio::time::Instant;

fn builder(connector: &MemoryConnector) -> ClientBuilder<OwnConnector> {
    Client::builder()
        .ignore_env()
        .base_url("https://api.example.test/v1")
        .api_key("sk-test")
        .connector(Arc::new(connector.clone()))
        .retry_jitter_seed(7)
}

fn scripted(script: Vec<Scripted>) -> (Client, MemoryConnector) {
    let connector = MemoryConnector::new(script);
    (builder(&connector).build().unwrap(), connector)
}

fn request() -> ChatRequest {
    ChatRequest::new("m").user("hi")
}

fn ok() -> Scripted {
    Scripted::Respond(MemoryReply::json(200, &completion(&["done"])))
}

fn status(code: u16, headers: &[(&str, &str)]) -> Scripted {
    let body = json!({"error": {"message": "try later", "type": "server_error"}});
    let mut reply = MemoryReply::json(code, &body);
    for (name, value) in headers {
        reply = reply.header(name, value);
    }
    Scripted::Respond(reply)
}

fn event(value: &serde_json::Value) -> Step {
    Step::Data(Bytes::from(format!("data: {value}\n\n")))
}

fn keep_alive_every(interval: Duration) -> Step {
    Step::Every(interval, Bytes::from_static(b": keep-alive\n\n"))
}

async fn stream_error(client: &Client) -> Error {
    let mut stream = client.chat_stream(request()).await.unwrap();
    loop {
        match stream.next().await {
            Some(Ok(_)) => {}
            Some(Err(error)) => return error,
            None => panic!("the stream ended without an error"),
        }
    }
}

#[tokio::test(start_paused = true)]
async fn retry_after_in_seconds_milliseconds_and_as_a_date_is_waited_exactly() {
    let date = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(30));
    let (client, connector) = scripted(vec![
        status(429, &[("retry-after", "7")]),
        status(503, &[("retry-after-ms", "1500")]),
        ok(),
    ]);
    let started = Instant::now();
    let answer = client.chat(request()).await.unwrap();
    assert_eq!(answer.text(), Some("done"));
    assert_eq!(
        connector.gaps(),
        [Duration::from_secs(7), Duration::from_millis(1500)]
    );
    assert_eq!(started.elapsed(), Duration::from_millis(8500));

    // A date: the wait is what is left until it (the wall clock is real, the date whole
    // seconds: between 29 and 30 s).
    let (client, connector) = scripted(vec![status(429, &[("retry-after", &date)]), ok()]);
    client.chat(request()).await.unwrap();
    let gap = connector.gaps()[0];
    assert!(
        gap > Duration::from_secs(28) && gap <= Duration::from_secs(30),
        "{gap:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn backoff_doubles_with_the_seeded_jitter_and_is_repeatable() {
    let script = || vec![status(503, &[]), status(502, &[]), ok()];
    let (first, a) = scripted(script());
    first.chat(request()).await.unwrap();
    let (second, b) = scripted(script());
    second.chat(request()).await.unwrap();
    // The same seed, the same delays; 0.5 s then 1 s, each less up to a quarter by jitter.
    assert_eq!(a.gaps(), b.gaps());
    let gaps = a.gaps();
    assert!(gaps[0] > Duration::from_millis(375) && gaps[0] <= Duration::from_millis(500));
    assert!(gaps[1] > Duration::from_millis(750) && gaps[1] <= Duration::from_secs(1));
    let connector = MemoryConnector::new(script());
    let other_seed = builder(&connector).retry_jitter_seed(8).build().unwrap();
    other_seed.chat(request()).await.unwrap();
    assert_ne!(connector.gaps(), gaps);
}

#[tokio::test(start_paused = true)]
async fn a_head_that_never_comes_is_a_response_timeout_on_every_attempt() {
    let (client, connector) = scripted(vec![Scripted::Hang]);
    let started = Instant::now();
    let error = client.chat(request()).await.unwrap_err();
    assert_eq!(error.timeout_kind(), Some(TimeoutKind::Response));
    assert_eq!(error.attempts(), 3);
    assert_eq!(connector.count(), 3);
    // Three times the default 600 s, and the two backoffs between them.
    let waited = started.elapsed() - Duration::from_secs(1800);
    let backoffs: Duration = connector.gaps().iter().sum::<Duration>() - Duration::from_secs(1200);
    assert_eq!(waited, backoffs);
    assert!(backoffs < Duration::from_millis(1500), "{backoffs:?}");
}

#[tokio::test(start_paused = true)]
async fn a_stalled_stream_is_an_idle_timeout_carrying_what_arrived() {
    let connector = MemoryConnector::new([Scripted::Respond(MemoryReply::sse(vec![
        event(&chunk("Hel", None)),
        Step::Stall,
    ]))]);
    let client = builder(&connector)
        .idle_timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = stream_error(&client).await;
    assert_eq!(error.timeout_kind(), Some(TimeoutKind::Idle));
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    assert_eq!(
        error.partial().and_then(|answer| answer.text()),
        Some("Hel")
    );
    assert_eq!(
        connector.count(),
        1,
        "a stream is never retried once it began"
    );
    assert_eq!(connector.open_bodies(), 0, "the body was dropped");
}

#[tokio::test(start_paused = true)]
async fn keep_alives_do_not_keep_a_call_past_its_total_deadline() {
    let connector = MemoryConnector::new([Scripted::Respond(MemoryReply::sse(vec![
        event(&chunk("Hel", None)),
        keep_alive_every(Duration::from_secs(10)),
    ]))]);
    let client = builder(&connector)
        .timeout(Duration::from_secs(95))
        .build()
        .unwrap();
    let started = Instant::now();
    let error = stream_error(&client).await;
    assert_eq!(error.timeout_kind(), Some(TimeoutKind::Total));
    assert_eq!(started.elapsed(), Duration::from_secs(95));
    assert_eq!(
        error.partial().and_then(|answer| answer.text()),
        Some("Hel")
    );
    assert!(error.to_string().contains("95s"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_stream_that_trickles_forever_ends_at_the_default_body_timeout() {
    // One token a minute, forever: each read well inside the idle timeout, no total deadline.
    // The default body timeout (2 h) ends it.
    let trickle = Step::Every(
        Duration::from_secs(60),
        Bytes::from(format!("data: {}\n\n", chunk("x", None))),
    );
    let (client, _) = scripted(vec![Scripted::Respond(
        MemoryReply::sse(vec![trickle]).head_after(Duration::from_secs(5)),
    )]);
    let started = Instant::now();
    let error = stream_error(&client).await;
    assert_eq!(error.timeout_kind(), Some(TimeoutKind::Body));
    assert_eq!(started.elapsed(), Duration::from_secs(5 + 7200));
    assert_eq!(
        error
            .partial()
            .and_then(|answer| answer.text())
            .map(str::len),
        Some(119),
        "a token a minute for two hours, the last one due at the deadline itself not read"
    );

    // The same for a non-streamed body that trickles.
    let body = Step::Every(Duration::from_secs(60), Bytes::from_static(b" "));
    let (client, _) = scripted(vec![Scripted::Respond(
        MemoryReply::new(200, vec![body]).header("content-type", "application/json"),
    )]);
    let error = client
        .chat(request())
        .body_timeout(Duration::from_secs(600))
        .await
        .unwrap_err();
    assert_eq!(error.timeout_kind(), Some(TimeoutKind::Body));
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_during_its_backoff_sends_nothing_more() {
    let (client, connector) = scripted(vec![status(429, &[("retry-after", "20")]), ok()]);
    let call = client.chat(request());
    assert!(
        tokio::time::timeout(Duration::from_secs(5), call)
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(connector.count(), 1, "the retry was never sent");
    // The client goes on: the next call gets the next reply at once.
    assert_eq!(client.chat(request()).await.unwrap().text(), Some("done"));
    assert_eq!(connector.open_bodies(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_stream_dropped_midway_releases_its_body() {
    let (client, connector) = scripted(vec![Scripted::Respond(MemoryReply::sse(vec![
        event(&chunk("a", None)),
        keep_alive_every(Duration::from_secs(1)),
    ]))]);
    let mut stream = client.chat_stream(request()).await.unwrap();
    stream.next().await.unwrap().unwrap();
    assert_eq!(connector.open_bodies(), 1);
    drop(stream);
    assert_eq!(connector.open_bodies(), 0);
}

#[tokio::test(start_paused = true)]
async fn an_endless_stream_ends_at_the_answer_limit_with_the_answer_so_far() {
    let word = Bytes::from(format!("data: {}\n\n", chunk("word ", None)));
    let connector = MemoryConnector::new([Scripted::Respond(MemoryReply::sse(vec![Step::Every(
        Duration::from_millis(1),
        word,
    )]))]);
    let client = builder(&connector)
        .max_streamed_answer(100_000)
        .build()
        .unwrap();
    let error = stream_error(&client).await;
    assert!(error.is_answer_limit() && error.is_protocol(), "{error}");
    let text = error.partial().and_then(|answer| answer.text()).unwrap();
    assert!(
        text.len() > 99_000 && text.len() <= 100_000,
        "{}",
        text.len()
    );
    assert!(text.starts_with("word word "));
    assert_eq!(connector.open_bodies(), 0);
}

#[tokio::test(start_paused = true)]
async fn redirects_not_followed_are_typed_errors() {
    // Found by the client_e2e fuzz target: a 304 without a Location was an error no predicate
    // answered. Every redirect not followed is `ErrorKind::Redirect`, and only that.
    let cases = [
        (
            MemoryReply::new(304, vec![]),
            "HTTP 304 response without a Location",
        ),
        (
            MemoryReply::new(302, vec![]).header("location", "https://elsewhere.test/v1"),
            "HTTP 302 redirect to https://elsewhere.test/v1 was not followed",
        ),
        (
            MemoryReply::new(307, vec![]).header("location", "/v1/chat/completions"),
            "more than 5 redirects (the last: HTTP 307 to /v1/chat/completions)",
        ),
    ];
    for (reply, message) in cases {
        let (client, connector) = scripted(vec![Scripted::Respond(reply)]);
        let error = client.chat(request()).await.unwrap_err();
        assert_eq!(error.kind(), gptproto::ErrorKind::Redirect, "{error:#}");
        assert!(error.is_redirect() && !error.is_protocol(), "{error:#}");
        assert!(!error.is_config() && !error.is_network(), "{error:#}");
        assert!(error.to_string().starts_with(message), "{error}");
        assert!(connector.count() <= 6, "{} requests", connector.count());
    }
}
