//! One `Client` after its server closes an HTTP/2 connection: a GOAWAY with streams in flight
//! (a reload), an idle connection closed by the server (a keep-alive timeout), a connection
//! closed after its request limit, and a server killed and restarted on the same port. Every
//! later call on the same client must work (or, while the server is down, fail at once with a
//! connection error): none may wait for a connection that is gone.
//!
//! Each case runs against the test kit's server and against a real nginx (HTTP/2 over TLS,
//! proxying to the test kit's server), which is skipped when nginx is not installed unless
//! `GPTPROTO_REQUIRE_NGINX` is set (as in CI). Each prints its figures before asserting.
//!
//! The retries are off in these clients: a request the server never processed is sent again by
//! the transport, without the caller's retry budget.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::future::join_all;
use gptproto::{ChatRequest, Client, Proxy, Roots};
use gptproto_testkit::fixtures::chunk;
use gptproto_testkit::{Nginx, NginxSite, Recorded, Reply, TestCa, TestServer, TlsOptions};
use serde_json::{Value, json};

/// What every call here must finish within; a call sent into a dead connection waits for its
/// timeout (600 s by default, 8 s here).
const CALL_TIMEOUT: Duration = Duration::from_secs(8);

fn client(base_url: &str, ca: &TestCa) -> Client {
    Client::builder()
        .ignore_env()
        .base_url(base_url)
        .api_key("sk-test")
        .proxy(Proxy::none())
        .roots(Roots::Custom(ca.root_store()))
        .timeout(CALL_TIMEOUT)
        .max_retries(0)
        .build()
        .unwrap()
}

const SLOW_TEXT: &str = "w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 ";

/// A `slow` prompt gets a stream of 10 words, one every 60 ms, whose body ends 30 ms after
/// `[DONE]`; any other an immediate answer.
fn handler(request: &Recorded) -> Reply {
    let prompt = request.json()["messages"][0]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    if prompt == "slow" {
        let mut events: Vec<Value> = (0..10).map(|i| chunk(&format!("w{i} "), None)).collect();
        events.push(chunk("", Some("stop")));
        Reply::sse(&events)
            .in_pieces(80)
            .paced(Duration::from_millis(60))
            // The body ends a little after [DONE], as model servers end theirs.
            .linger(Duration::from_millis(30))
    } else {
        Reply::json(
            200,
            &json!({
                "id": "c", "object": "chat.completion", "created": 1, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": format!("re: {prompt}")}, "finish_reason": "stop"}]
            }),
        )
    }
}

async fn test_server(idle_timeout: Option<Duration>) -> TestServer {
    let options = TlsOptions {
        max_concurrent_streams: Some(16),
        idle_timeout,
        ..TlsOptions::default()
    };
    TestServer::start_tls_with(options, handler).await
}

/// nginx in front of a plain test kit server, with one site per `sites` entry.
async fn behind_nginx(sites: &[NginxSite]) -> Option<(Nginx, TestServer, TestCa)> {
    let upstream = TestServer::start(handler).await;
    let ca = TestCa::new();
    let nginx = Nginx::start(&ca, upstream.address(), sites)?;
    Some((nginx, upstream, ca))
}

fn site(max_concurrent_streams: u32) -> NginxSite {
    NginxSite {
        max_concurrent_streams,
        ..NginxSite::default()
    }
}

async fn ask(client: &Client, prompt: &str) -> Result<String, gptproto::Error> {
    let answer = client
        .chat(ChatRequest::new("m").user(prompt.to_owned()))
        .await?;
    Ok(answer.text().unwrap_or_default().to_owned())
}

/// Three calls one after the other, then twenty at once: all answered, each in time. Prints
/// how many succeeded and the slowest.
async fn sequential_then_concurrent(client: &Client, what: &str) {
    let mut results = Vec::new();
    for i in 0..3 {
        let prompt = format!("{what} sequential {i}");
        let started = Instant::now();
        let answer = ask(client, &prompt).await;
        results.push((answer, prompt, started.elapsed()));
    }
    results.extend(
        join_all((0..20).map(|i| {
            let prompt = format!("{what} concurrent {i}");
            async move {
                let started = Instant::now();
                (ask(client, &prompt).await, prompt, started.elapsed())
            }
        }))
        .await,
    );
    let failures: Vec<(usize, String)> = results
        .iter()
        .enumerate()
        .filter_map(|(at, (answer, prompt, took))| match answer {
            Ok(text) if *text == format!("re: {prompt}") && *took < Duration::from_secs(3) => None,
            Ok(text) => Some((at, format!("{prompt}: {text:?} after {took:?}"))),
            Err(error) => Some((at, format!("{prompt}: {error} after {took:?}"))),
        })
        .collect();
    let sequential_failed = failures.iter().filter(|(at, _)| *at < 3).count();
    let slowest = results
        .iter()
        .map(|(_, _, took)| *took)
        .max()
        .unwrap_or_default();
    println!(
        "{what}: {}/3 sequential and {}/20 concurrent calls answered; slowest {slowest:.1?}",
        3 - sequential_failed,
        20 - (failures.len() - sequential_failed),
    );
    assert!(failures.is_empty(), "{what}: {failures:#?}");
}

/// Opens `n` slow streams and reads each to its first chunk.
async fn open_slow_streams(client: &Client, n: usize) -> Vec<gptproto::ChatStream> {
    join_all((0..n).map(|_| async {
        let mut stream = client
            .chat_stream(ChatRequest::new("m").user("slow"))
            .await
            .expect("a slow stream opens");
        let first = stream
            .next()
            .await
            .expect("a first chunk")
            .expect("a chunk");
        assert_eq!(first.text(), Some("w0 "));
        stream
    }))
    .await
}

async fn finish(streams: Vec<gptproto::ChatStream>) -> Vec<Result<String, gptproto::Error>> {
    join_all(streams.into_iter().map(|stream| async move {
        let completion = stream.into_completion().await?;
        Ok(completion.text().unwrap_or_default().to_owned())
    }))
    .await
}

async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(Instant::now() < deadline, "waited 10 s for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Streams in flight at a GOAWAY finish; calls during the drain and after it are answered.
async fn goaway_with_streams_in_flight(client: &Client, goaway: impl FnOnce(), what: &str) {
    let streams = open_slow_streams(client, 10).await;
    goaway();
    sequential_then_concurrent(client, &format!("{what}, while the old connection drains")).await;
    for answer in finish(streams).await {
        assert_eq!(
            answer.expect("a stream in flight at the GOAWAY finishes"),
            SLOW_TEXT
        );
    }
}

/// Streams in flight when `stop` kills the server are cut (an error, not a shorter answer);
/// calls while it is down fail at once.
async fn stop_with_streams_in_flight(client: &Client, stop: impl FnOnce(), what: &str) {
    assert_eq!(ask(client, "first").await.unwrap(), "re: first");
    let streams = open_slow_streams(client, 2).await;
    stop();
    for result in finish(streams).await {
        let error = result.expect_err("a stream cut by the stop is an error");
        assert!(error.is_truncated(), "{error}");
    }
    calls_fail_fast(client, what).await;
}

/// While the server is down: a connection error at once, not a wait for the timeout.
async fn calls_fail_fast(client: &Client, what: &str) {
    let mut slowest = Duration::ZERO;
    let mut results = Vec::new();
    for i in 0..3 {
        let started = Instant::now();
        results.push(ask(client, &format!("down {i}")).await);
        slowest = slowest.max(started.elapsed());
    }
    let started = Instant::now();
    results
        .extend(join_all((0..10).map(|i| ask(client, if i % 2 == 0 { "a" } else { "b" }))).await);
    slowest = slowest.max(started.elapsed());
    let connect = results
        .iter()
        .filter(|result| result.as_ref().is_err_and(gptproto::Error::is_connect))
        .count();
    println!("{what}: {connect}/13 calls failed with a connection error; slowest {slowest:.1?}");
    for result in results {
        let error = result.expect_err("the server is down");
        assert!(error.is_connect(), "{what}: {error}");
    }
    assert!(
        slowest < Duration::from_secs(2),
        "{what}: slowest {slowest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_after_a_goaway_with_streams_in_flight_work() {
    let server = test_server(None).await;
    let client = client(&server.base_url(), server.ca().unwrap());
    goaway_with_streams_in_flight(&client, || server.goaway(), "test server GOAWAY").await;
    // The calls above opened connections of their own; the old one (alone) closes.
    until("the old connection to close", || {
        server.open_connections() == server.connections() - 1
    })
    .await;
    sequential_then_concurrent(
        &client,
        "test server GOAWAY, after the old connection closed",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_after_the_server_closed_an_idle_connection_work() {
    let server = test_server(Some(Duration::from_millis(300))).await;
    let client = client(&server.base_url(), server.ca().unwrap());
    assert_eq!(ask(&client, "first").await.unwrap(), "re: first");
    until("the idle connection to close", || {
        server.open_connections() == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    sequential_then_concurrent(&client, "test server idle close").await;
    // And again, after a second idle close of the connections those calls opened.
    until("the idle connections to close", || {
        server.open_connections() == 0
    })
    .await;
    sequential_then_concurrent(&client, "test server second idle close").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_server_fails_calls_at_once_and_a_restarted_one_answers_them() {
    let server = test_server(None).await;
    let client = client(&server.base_url(), server.ca().unwrap());
    stop_with_streams_in_flight(&client, || server.stop(), "test server stopped").await;
    server.restart().await;
    sequential_then_concurrent(&client, "test server restarted").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_everyday_streams_spread_over_its_stream_limit() {
    let Some((nginx, upstream, ca)) = behind_nginx(&[site(16)]).await else {
        return;
    };
    // 40 streams at once, nginx allowing 16 per connection: three connections, 16/16/8, read
    // from the connection serial nginx adds to each answer.
    let transport = gptproto::transport::HyperTransport::builder()
        .roots(Roots::Custom(ca.root_store()))
        .proxy(Proxy::none())
        .build()
        .unwrap();
    let url = format!("{}/chat/completions", nginx.base_url(0));
    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "slow"}]});
    let opened = join_all((0..40).map(|_| {
        use gptproto::HttpConnector;
        let request = http::Request::post(&url)
            .header("content-type", "application/json")
            .body(bytes::Bytes::from(body.to_string()))
            .unwrap();
        transport.send(request)
    }))
    .await;
    let mut per_connection = std::collections::BTreeMap::<String, usize>::new();
    for response in &opened {
        let response = response.as_ref().expect("a stream opens");
        assert_eq!(response.version(), http::Version::HTTP_2);
        let serial = response.headers()["x-nginx-connection"].to_str().unwrap();
        *per_connection.entry(serial.to_owned()).or_default() += 1;
    }
    let mut spread: Vec<usize> = per_connection.values().copied().collect();
    spread.sort_unstable();
    println!("nginx: 40 streams over connections {spread:?}");
    assert_eq!(spread, [8, 16, 16]);
    drop(opened);

    // 200 calls one after the other, and a dropped stream cancels the work upstream.
    let client = client(&nginx.base_url(0), &ca);
    for i in 0..200 {
        assert_eq!(
            ask(&client, &format!("{i}")).await.unwrap(),
            format!("re: {i}")
        );
    }
    // Streams read to [DONE] end cleanly: nginx sees no stream cancelled by the client (the
    // 40 dropped above were, on purpose: only what it logged since counts).
    let logged = nginx.error_log().len();
    for answer in finish(open_slow_streams(&client, 3).await).await {
        assert_eq!(answer.unwrap(), SLOW_TEXT);
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let since = nginx.error_log()[logged..].to_owned();
    assert!(!since.contains("client canceled stream"), "{since}");
    let abandoned = upstream.abandoned();
    drop(open_slow_streams(&client, 1).await);
    until(
        "nginx to stop reading the upstream of a dropped stream",
        || upstream.abandoned() > abandoned,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_reload_with_streams_in_flight() {
    let Some((nginx, _upstream, ca)) = behind_nginx(&[site(16)]).await else {
        return;
    };
    let client = client(&nginx.base_url(0), &ca);
    goaway_with_streams_in_flight(&client, || nginx.reload(), "nginx -s reload").await;
    sequential_then_concurrent(&client, "nginx -s reload, after").await;
    assert!(
        nginx.error_log().contains("reconfiguring"),
        "{}",
        nginx.error_log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_closes_idle_connections_and_those_after_their_request_limit() {
    let idle = NginxSite {
        max_concurrent_streams: 16,
        keepalive_timeout: Duration::from_millis(400),
        ..NginxSite::default()
    };
    let few_requests = NginxSite {
        max_concurrent_streams: 16,
        keepalive_requests: 5,
        ..NginxSite::default()
    };
    let Some((nginx, _upstream, ca)) = behind_nginx(&[idle, few_requests]).await else {
        return;
    };
    let client = client(&nginx.base_url(0), &ca);
    assert_eq!(ask(&client, "first").await.unwrap(), "re: first");
    for round in 0..2 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        sequential_then_concurrent(&client, &format!("nginx keepalive_timeout, idle {round}"))
            .await;
    }
    // Every fifth request on a connection is its last (GOAWAY): 23 calls cross several.
    let client = self::client(&nginx.base_url(1), &ca);
    sequential_then_concurrent(&client, "nginx keepalive_requests 5").await;
    sequential_then_concurrent(&client, "nginx keepalive_requests 5, again").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_stopped_fails_calls_at_once_and_restarted_answers_them() {
    let Some((mut nginx, _upstream, ca)) = behind_nginx(&[site(16)]).await else {
        return;
    };
    let client = client(&nginx.base_url(0), &ca);
    stop_with_streams_in_flight(&client, || nginx.stop(), "nginx -s stop").await;
    nginx.restart();
    sequential_then_concurrent(&client, "nginx restarted").await;
}
