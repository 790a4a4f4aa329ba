//! The client against the in-repo test server, over real TCP (and TLS): answers, streams, each
//! error class, retries, timeouts, broken and stalled streams, cancellation, concurrency,
//! redirects, and secrets kept out of everything printed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gptproto::{AuthScheme, ChatRequest, Client, Proxy, Roots, TimeoutKind};
use gptproto_testkit::fixtures::{self, chunk, story};
use gptproto_testkit::{Ending, Reply, TestCa, TestServer};
use serde_json::{Value, json};

const KEY: &str = "sk-test-0123456789abcdef";

fn client(server: &TestServer) -> Client {
    let mut builder = Client::builder()
        .ignore_env()
        .base_url(server.base_url())
        .api_key(KEY)
        .proxy(Proxy::none());
    if let Some(ca) = server.ca() {
        builder = builder.roots(Roots::Custom(ca.root_store()));
    }
    builder.build().unwrap()
}

fn completion(text: &str) -> Value {
    fixtures::completion(&[text])
}

fn request() -> ChatRequest {
    ChatRequest::new("qwen-turbo").user("who are you?")
}

/// [`request`] streamed and folded into its completion.
async fn streamed(client: &Client) -> gptproto::Result<gptproto::ChatCompletion> {
    client.chat_stream(request()).await?.into_completion().await
}

#[tokio::test]
async fn a_chat_completion_with_the_hosts_auth_scheme_or_the_one_chosen() {
    let server = TestServer::start(|_| Reply::json(200, &completion("I am Qwen."))).await;
    let answer = client(&server).chat(request()).await.unwrap();
    assert_eq!(answer.text(), Some("I am Qwen."));
    assert_eq!(answer.usage.unwrap().total_tokens, 8);
    let sent = &server.requests()[0];
    assert_eq!(sent.method, http::Method::POST);
    assert_eq!(sent.uri.path(), "/v1/chat/completions");
    // Not GPTProto's host: Bearer, as every other server expects.
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.json()["messages"][0]["content"], "who are you?");
    assert_eq!(sent.json().get("stream"), None);

    // GPTProto's raw key, chosen.
    let raw = Client::builder()
        .ignore_env()
        .base_url(server.base_url())
        .api_key(KEY)
        .auth_scheme(AuthScheme::Raw)
        .proxy(Proxy::none())
        .build()
        .unwrap();
    raw.chat(request()).await.unwrap();
    assert_eq!(server.requests()[1].header("authorization"), Some(KEY));
}

#[tokio::test]
async fn bearer_auth_and_per_call_headers_and_extra_fields() {
    let server = TestServer::start(|_| Reply::json(200, &completion("ok"))).await;
    let client = Client::builder()
        .ignore_env()
        .base_url(server.base_url())
        .api_key(KEY)
        .auth_scheme(AuthScheme::Bearer)
        .header("x-team", "default")
        .proxy(Proxy::none())
        .build()
        .unwrap();
    client
        .chat(request())
        .header("x-team", "override")
        .extra_body("enable_thinking", false)
        .extra_body("top_k", 20)
        .await
        .unwrap();
    let sent = &server.requests()[0];
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(sent.header("x-team"), Some("override"));
    assert_eq!(sent.json()["enable_thinking"], false);
    assert_eq!(sent.json()["top_k"], 20);
}

#[tokio::test]
async fn a_stream_arrives_as_typed_chunks() {
    let server = TestServer::start(|_| Reply::sse(&story(5))).await;
    let mut stream = client(&server).chat_stream(request()).await.unwrap();
    let mut text = String::new();
    while let Some(chunk) = stream.next().await {
        text += chunk.unwrap().text().unwrap_or_default();
    }
    assert_eq!(text, "w0 w1 w2 w3 w4 ");
    assert_eq!(stream.chunks_received(), 6);
    let sent = server.requests()[0].json();
    assert_eq!(sent["stream"], true);
    assert_eq!(sent["stream_options"]["include_usage"], true);
    assert_eq!(
        server.requests()[0].header("accept"),
        Some("text/event-stream")
    );
}

#[tokio::test]
async fn a_stream_folds_into_a_completion_and_reads_as_text_deltas() {
    let server = TestServer::start(|_| Reply::sse(&story(4)).in_pieces(7)).await;
    let client = client(&server);
    let completion = streamed(&client).await.unwrap();
    assert_eq!(completion.text(), Some("w0 w1 w2 w3 "));
    let deltas: Vec<String> = client
        .chat_stream(request())
        .await
        .unwrap()
        .text_deltas()
        .map(Result::unwrap)
        .collect()
        .await;
    assert_eq!(deltas, ["w0 ", "w1 ", "w2 ", "w3 "]);
}

#[tokio::test]
async fn one_byte_writes() {
    let server = TestServer::start(|_| Reply::sse(&story(20)).in_pieces(1)).await;
    let completion = streamed(&client(&server)).await.unwrap();
    assert_eq!(completion.text().unwrap().split_whitespace().count(), 20);
}

#[tokio::test]
async fn a_server_that_ignores_stream_true_still_streams() {
    let server = TestServer::start(|_| Reply::json(200, &completion("all at once"))).await;
    let mut stream = client(&server).chat_stream(request()).await.unwrap();
    let first = stream.next().await.unwrap().unwrap();
    assert_eq!(first.text(), Some("all at once"));
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn each_error_class() {
    type Check = fn(&gptproto::Error) -> bool;
    let cases: Vec<(u16, Value, Check)> = vec![
        (
            401,
            json!({"error": {"message": "Invalid signature", "type": "401"}}),
            gptproto::Error::is_auth,
        ),
        (
            403,
            json!({"error": {"message": "no access", "type": "permission_error"}}),
            gptproto::Error::is_auth,
        ),
        (
            403,
            json!({"error": {"message": "Insufficient balance", "code": "insufficient_balance"}}),
            gptproto::Error::is_insufficient_balance,
        ),
        (
            400,
            json!({"error": {"code": "data_inspection_failed", "message": "Input data may contain inappropriate content.", "type": "data_inspection_failed"}, "request_id": "r-7"}),
            gptproto::Error::is_content_policy,
        ),
        (
            400,
            json!({"error": {"message": "bad", "type": "invalid_request_error", "param": "messages"}}),
            gptproto::Error::is_rejected,
        ),
        (
            404,
            json!({"error": {"message": "no such model"}}),
            gptproto::Error::is_rejected,
        ),
    ];
    for (status, body, predicate) in cases {
        let reply = Reply::json(status, &body).header("x-request-id", "req-123");
        let server = TestServer::start(move |_| reply.clone()).await;
        let error = client(&server).chat(request()).await.unwrap_err();
        assert!(predicate(&error), "{status}: {error}");
        assert_eq!(error.status().unwrap().as_u16(), status);
        assert_eq!(error.request_id(), Some("req-123"));
        assert_eq!(server.requests().len(), 1, "{status} is not retried");
        let text = error.to_string();
        assert!(
            text.contains(&status.to_string()) && text.contains("req-123"),
            "{text}"
        );
    }
}

#[tokio::test]
async fn an_http_error_is_returned_by_chat_stream_not_as_the_first_item() {
    let server = TestServer::start(|_| {
        Reply::json(
            401,
            &json!({"error": {"message": "Invalid signature", "type": "401"}}),
        )
    })
    .await;
    let error = client(&server).chat_stream(request()).await.unwrap_err();
    assert!(error.is_auth());
}

#[tokio::test]
async fn rate_limits_are_retried_honouring_retry_after_ms() {
    let server = TestServer::start(|request| {
        if request.index == 0 {
            Reply::json(
                429,
                &json!({"error": {"message": "slow down", "type": "rate_limit_error"}}),
            )
            .header("retry-after-ms", "300")
        } else {
            Reply::json(200, &completion("after waiting"))
        }
    })
    .await;
    let started = Instant::now();
    let answer = client(&server).chat(request()).await.unwrap();
    assert_eq!(answer.text(), Some("after waiting"));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn retry_after_in_seconds_is_honoured_too() {
    let server = TestServer::start(|request| {
        if request.index == 0 {
            Reply::json(503, &json!({"error": {"message": "busy"}})).header("retry-after", "1")
        } else {
            Reply::json(200, &completion("ok"))
        }
    })
    .await;
    let started = Instant::now();
    client(&server).chat(request()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn server_errors_are_retried_twice_then_reported() {
    let server = TestServer::start(|_| {
        Reply::json(500, &json!({"error": {"message": "boom"}})).header("retry-after-ms", "10")
    })
    .await;
    let error = client(&server).chat(request()).await.unwrap_err();
    assert!(error.is_server_error());
    assert_eq!(error.attempts(), 3);
    assert_eq!(server.requests().len(), 3);
    assert!(error.to_string().contains("after 3 attempts"), "{error}");
}

#[tokio::test]
async fn quota_429s_and_x_should_retry_false_are_not_retried() {
    let server = TestServer::start(|_| {
        Reply::json(429, &json!({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}))
    })
    .await;
    let error = client(&server).chat(request()).await.unwrap_err();
    assert!(error.is_insufficient_balance() && !error.is_rate_limited());
    assert_eq!(server.requests().len(), 1);

    let server =
        TestServer::start(|_| Reply::json(503, &json!({})).header("x-should-retry", "false")).await;
    client(&server).chat(request()).await.unwrap_err();
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn max_retries_per_call() {
    let server =
        TestServer::start(|_| Reply::json(500, &json!({})).header("retry-after-ms", "1")).await;
    let error = client(&server)
        .chat(request())
        .max_retries(0)
        .await
        .unwrap_err();
    assert_eq!(error.attempts(), 1);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn a_mid_stream_disconnect_is_an_error_saying_what_arrived() {
    let server = TestServer::start(|_| {
        let body = gptproto_testkit::sse_body(&story(3));
        let cut = body.find("w2").unwrap();
        Reply::sse_raw(body[..cut].to_owned()).ending(Ending::Abort)
    })
    .await;
    let mut stream = client(&server).chat_stream(request()).await.unwrap();
    let mut texts = Vec::new();
    let error = loop {
        match stream.next().await.unwrap() {
            Ok(chunk) => texts.push(chunk.text().unwrap_or_default().to_owned()),
            Err(error) => break error,
        }
    };
    assert_eq!(texts, ["w0 ", "w1 "]);
    assert!(error.is_truncated() && error.is_network(), "{error}");
    assert_eq!(error.partial().unwrap().text(), Some("w0 w1 "));
    assert!(error.to_string().contains("after 2 chunks"), "{error}");
    assert_eq!(
        server.requests().len(),
        1,
        "a started stream is never retried"
    );
    assert!(
        stream.next().await.is_none(),
        "the stream ends after its error"
    );
}

#[tokio::test]
async fn a_stream_that_ends_early_is_truncated_not_shorter() {
    let server =
        TestServer::start(|_| Reply::sse_raw(format!("data: {}\n\n", chunk("only this", None))))
            .await;
    let error = streamed(&client(&server)).await.unwrap_err();
    assert!(
        error.is_truncated() && error.is_protocol() && !error.is_network(),
        "{error}"
    );
    assert_eq!(error.partial().unwrap().text(), Some("only this"));
}

#[tokio::test]
async fn a_stalled_stream_trips_the_idle_timeout() {
    let server = TestServer::start(|_| {
        Reply::sse_raw(format!("data: {}\n\n", chunk("first", None))).ending(Ending::Stall)
    })
    .await;
    let mut stream = client(&server)
        .chat_stream(request())
        .idle_timeout(Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(stream.next().await.unwrap().unwrap().text(), Some("first"));
    let error = stream.next().await.unwrap().unwrap_err();
    assert_eq!(error.timeout_kind(), Some(TimeoutKind::Idle), "{error}");
    assert!(error.is_timeout());
}

#[tokio::test]
async fn keep_alives_do_not_extend_the_total_deadline() {
    // A comment every 50 ms keeps the connection "active" forever; the total deadline still
    // ends the call.
    let server = TestServer::start(|_| {
        Reply::sse_raw(": keep-alive\n\n".repeat(200))
            .in_pieces(14)
            .paced(Duration::from_millis(50))
    })
    .await;
    let started = Instant::now();
    let error = client(&server)
        .chat_stream(request())
        .timeout(Duration::from_millis(600))
        .idle_timeout(Duration::from_millis(200))
        .await
        .unwrap()
        .into_completion()
        .await
        .unwrap_err();
    assert_eq!(error.timeout_kind(), Some(TimeoutKind::Total), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn a_slow_response_head_times_out_and_is_retried() {
    let server = TestServer::start(|request| {
        if request.index == 0 {
            Reply::json(200, &completion("late")).delayed(Duration::from_secs(5))
        } else {
            Reply::json(200, &completion("on time"))
        }
    })
    .await;
    let answer = client(&server)
        .chat(request())
        .response_timeout(Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(answer.text(), Some("on time"));
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test]
async fn a_slow_response_head_without_retries_is_a_response_timeout() {
    let server = TestServer::start(|_| {
        Reply::json(200, &completion("late")).delayed(Duration::from_secs(5))
    })
    .await;
    let error = client(&server)
        .chat(request())
        .response_timeout(Duration::from_millis(200))
        .max_retries(0)
        .await
        .unwrap_err();
    assert_eq!(error.timeout_kind(), Some(TimeoutKind::Response), "{error}");
}

#[tokio::test]
async fn dropping_a_stream_closes_the_connection_and_the_client_goes_on() {
    let server = TestServer::start(|request| {
        if request.index == 0 {
            Reply::sse(&story(200))
                .in_pieces(64)
                .paced(Duration::from_millis(5))
        } else {
            Reply::json(200, &completion("next"))
        }
    })
    .await;
    let client = client(&server);
    let mut stream = client.chat_stream(request()).await.unwrap();
    for _ in 0..3 {
        stream.next().await.unwrap().unwrap();
    }
    drop(stream);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.abandoned(), 1, "the server saw the stream go away");
    assert_eq!(client.chat(request()).await.unwrap().text(), Some("next"));
}

#[tokio::test]
async fn dropping_the_call_cancels_it() {
    let server = TestServer::start(|_| {
        Reply::sse(&story(100))
            .in_pieces(64)
            .paced(Duration::from_millis(20))
    })
    .await;
    let client = client(&server);
    let call = client.chat_stream(request()).into_future();
    let stream = call.await.unwrap();
    let collect = stream.into_completion();
    assert!(
        tokio::time::timeout(Duration::from_millis(200), collect)
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.abandoned(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_concurrent_streams() {
    let server = TestServer::start(|_| Reply::sse(&story(20)).in_pieces(64)).await;
    let client = client(&server);
    let tasks: Vec<_> = (0..300)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { streamed(&client).await })
        })
        .collect();
    for task in tasks {
        let completion = task.await.unwrap().unwrap();
        assert_eq!(completion.text().unwrap().split_whitespace().count(), 20);
    }
    assert_eq!(server.requests().len(), 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_streams_held_open_at_once_over_http2() {
    // Each stream stays open after its first chunk: all 300 must be open at the same time.
    // The server allows 200 streams per connection (hyper's default); the client puts at most
    // 100 on each, so 300 open streams take 3 connections, and none waits for another to end.
    let server = TestServer::start_tls(|_| {
        Reply::sse_raw(format!("data: {}\n\n", chunk("hi", None))).ending(Ending::Stall)
    })
    .await;
    let client = client(&server);
    let open = (0..300).map(|_| async {
        let mut stream = client.chat_stream(request()).await.unwrap();
        let first = stream.next().await.unwrap().unwrap();
        assert_eq!(first.text(), Some("hi"));
        stream
    });
    let streams = tokio::time::timeout(
        Duration::from_secs(30),
        futures_util::future::join_all(open),
    )
    .await
    .expect("all 300 streams open at once");
    assert_eq!(streams.len(), 300);
    assert_eq!(server.connections(), 3);
    assert!(
        server
            .requests()
            .iter()
            .all(|request| request.version == http::Version::HTTP_2)
    );
}

#[tokio::test]
async fn a_redirect_to_another_origin_does_not_carry_the_authorization_header() {
    let target = TestServer::start(|_| Reply::json(200, &completion("moved"))).await;
    let location = format!("{}/chat/completions", target.base_url());
    let origin =
        TestServer::start(move |_| Reply::json(307, &json!({})).header("location", &location))
            .await;
    let answer = client(&origin).chat(request()).await.unwrap();
    assert_eq!(answer.text(), Some("moved"));
    let received = &target.requests()[0];
    assert_eq!(
        received.header("authorization"),
        None,
        "the key stays with its origin"
    );
    assert_eq!(
        received.json()["model"],
        "qwen-turbo",
        "the body follows a 307"
    );

    // The same origin keeps it.
    let same = TestServer::start(|request| {
        if request.uri.path() == "/v1/chat/completions" {
            Reply::json(308, &json!({})).header("location", "/v2/chat/completions")
        } else {
            Reply::json(200, &completion("v2"))
        }
    })
    .await;
    client(&same).chat(request()).await.unwrap();
    assert_eq!(
        same.requests()[1].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
}

#[tokio::test]
async fn tls_with_the_test_ca_and_an_untrusted_certificate_refused() {
    let server = TestServer::start_tls(|_| Reply::sse(&story(3))).await;
    let completion = streamed(&client(&server)).await.unwrap();
    assert_eq!(completion.text(), Some("w0 w1 w2 "));
    assert_eq!(server.requests()[0].version, http::Version::HTTP_2);

    let untrusted = Client::builder()
        .ignore_env()
        .base_url(server.base_url())
        .api_key(KEY)
        .roots(Roots::Custom(TestCa::new().root_store()))
        .proxy(Proxy::none())
        .build()
        .unwrap();
    // With the default retries: a certificate that is not trusted is not retried.
    let error = untrusted.chat(request()).await.unwrap_err();
    assert!(
        error.is_certificate() && error.is_connect() && !error.may_have_reached_server(),
        "{error}"
    );
    assert_eq!(error.attempts(), 1, "{error}");
    assert!(error.to_string().contains("not trusted"), "{error}");
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn invalid_requests_never_leave() {
    let server = TestServer::start(|_| Reply::json(200, &completion("x"))).await;
    let error = client(&server)
        .chat(ChatRequest::new("qwen-turbo"))
        .await
        .unwrap_err();
    assert!(error.is_validation() && !error.may_have_reached_server());
    assert!(error.to_string().contains("messages"), "{error}");
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn connection_failures_are_retried_then_reported() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = Client::builder()
        .ignore_env()
        .base_url(format!("http://127.0.0.1:{port}/v1"))
        .proxy(Proxy::none())
        .build()
        .unwrap();
    let error = client.chat(request()).await.unwrap_err();
    assert!(error.is_connect() && error.is_network(), "{error}");
    assert_eq!(error.attempts(), 3);
}

#[tokio::test]
async fn the_key_is_never_printed() {
    let server =
        TestServer::start(|_| Reply::json(401, &json!({"error": {"message": "Invalid API Key"}})))
            .await;
    let client = client(&server);
    let error = client.chat(request()).await.unwrap_err();
    for text in [
        format!("{client:?}"),
        format!("{error}"),
        format!("{error:?}"),
    ] {
        assert!(!text.contains("0123456789abcdef"), "{text}");
    }

    // Nor in the logs, at the most verbose level.
    let logs = Arc::new(std::sync::Mutex::new(Vec::<u8>::new()));
    let writer = {
        let logs = logs.clone();
        move || LogWriter(logs.clone())
    };
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(writer)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = TestServer::start(|_| Reply::sse(&story(2))).await;
    streamed(&self::client(&server)).await.unwrap();
    let logs = String::from_utf8(logs.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("gen_ai.request.model"), "{logs}");
    assert!(!logs.contains("0123456789abcdef"), "{logs}");
}

struct LogWriter(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_call_can_clear_the_clients_deadline() {
    let server = TestServer::start(|_| {
        Reply::json(200, &completion("late")).delayed(Duration::from_millis(300))
    })
    .await;
    let client = Client::builder()
        .ignore_env()
        .base_url(server.base_url())
        .proxy(Proxy::none())
        .timeout(Duration::from_millis(100))
        .max_retries(0)
        .build()
        .unwrap();
    let error = client.chat(request()).await.unwrap_err();
    assert_eq!(error.timeout_kind(), Some(TimeoutKind::Total), "{error}");
    let answer = client.chat(request()).timeout(None).await.unwrap();
    assert_eq!(answer.text(), Some("late"));
}

/// The built-in transport's settings do not exist on a builder with a connector of one's own
/// (`ClientBuilder`'s `compile_fail` doc test); the call's settings do.
#[test]
fn a_connector_of_ones_own_takes_every_setting_of_the_calls() {
    let connector: Arc<dyn gptproto::HttpConnector> = Arc::new(
        gptproto::transport::HyperTransport::builder()
            .build()
            .unwrap(),
    );
    let client = Client::builder()
        .ignore_env()
        .base_url("http://127.0.0.1:1/v1")
        .connector(connector)
        .timeout(Duration::from_secs(1))
        .response_timeout(None)
        .max_retries(0)
        .build()
        .unwrap();
    assert_eq!(
        client.call_options().timeouts.total,
        Some(Duration::from_secs(1))
    );
    assert_eq!(client.call_options().timeouts.response, None);
    assert_eq!(client.call_options().retry.max_retries, 0);
}

#[tokio::test]
async fn a_stream_reads_its_body_to_the_end_after_done() {
    // The body ends 50 ms after [DONE] (its last chunk, or END_STREAM, comes after): the stream
    // reads to there, so the exchange ends cleanly: over HTTP/1.1 the connection goes back to
    // the pool, over HTTP/2 the stream is not reset.
    let reply = || Reply::sse(&story(3)).linger(Duration::from_millis(50));
    for server in [
        TestServer::start(move |_| reply()).await,
        TestServer::start_tls(move |_| reply()).await,
    ] {
        let client = client(&server);
        for _ in 0..3 {
            let completion = streamed(&client).await.unwrap();
            assert_eq!(completion.text(), Some("w0 w1 w2 "));
            let mut stream = client.chat_stream(request()).await.unwrap();
            while let Some(chunk) = stream.next().await {
                chunk.unwrap();
            }
        }
        assert_eq!(server.abandoned(), 0, "{}", server.base_url());
        assert_eq!(server.connections(), 1, "{}", server.base_url());
    }
}

#[tokio::test]
async fn models_are_listed_with_the_clients_auth_and_errors() {
    let server = TestServer::start(|request| {
        assert_eq!(request.method, http::Method::GET);
        Reply::json(
            200,
            &json!({"object": "list", "data": [
                {"id": "qwen-turbo", "object": "model", "created": 1700000000, "owned_by": "qwen"},
                {"id": "qwen-plus", "object": "model"}
            ]}),
        )
    })
    .await;
    let models = client(&server).models().await.unwrap();
    let ids: Vec<&str> = models.data.iter().map(|model| model.id.as_str()).collect();
    assert_eq!(ids, ["qwen-turbo", "qwen-plus"]);
    let recorded = &server.requests()[0];
    assert_eq!(recorded.uri.path(), "/v1/models");
    assert_eq!(recorded.headers["authorization"], format!("Bearer {KEY}"));

    let refused =
        TestServer::start(|_| Reply::json(401, &json!({"error": {"message": "Invalid API Key"}})))
            .await;
    let error = client(&refused).models().await.unwrap_err();
    assert!(error.is_auth(), "{error}");
    let broken = TestServer::start(|_| Reply::bytes(200, "text/html", "<html>")).await;
    let error = client(&broken).models().await.unwrap_err();
    assert!(error.is_protocol(), "{error}");
}

/// A call not streamed with thinking on, to a server that thinks only when streamed (the
/// scripted DashScope): answered, reasoning and usage included — on any host by sending it
/// again streamed after the 400, on DashScope's profile streamed from the start.
#[tokio::test]
async fn thinking_not_streamed_is_answered_where_the_server_thinks_only_when_streamed() {
    use gptproto::Provider;
    use gptproto_testkit::providers::{REASONING, thinks_only_streamed};

    let server = TestServer::start(|request| thinks_only_streamed(request, "4")).await;
    let thinking = ChatRequest::new("qwen3-32b")
        .user("2+2?")
        .enable_thinking(true);
    let check = |completion: &gptproto::ChatCompletion| {
        assert_eq!(completion.text(), Some("4"));
        assert_eq!(
            completion.choices[0].message.reasoning_text(),
            Some(REASONING)
        );
        let usage = completion.usage.as_ref().expect("usage asked for");
        assert_eq!((usage.total_tokens, usage.reasoning_tokens()), (15, 4));
    };
    // An unknown server: refused, then sent again streamed (not a retry: no wait).
    let started = Instant::now();
    check(&client(&server).chat(thinking.clone()).await.unwrap());
    assert!(started.elapsed() < Duration::from_millis(400));
    let sent: Vec<Value> = server.requests().iter().map(|r| r.json()).collect();
    assert_eq!(sent.len(), 2);
    assert_ne!(sent[0]["stream"], true);
    assert_eq!(sent[1]["stream"], true);
    assert_eq!(sent[1]["stream_options"]["include_usage"], true);
    assert_eq!(sent[1]["enable_thinking"], true);
    // DashScope's profile: streamed from the first request.
    server.clear_requests();
    let dashscope = Client::builder()
        .ignore_env()
        .base_url(server.base_url())
        .provider(Provider::DashScope)
        .api_key(KEY)
        .proxy(Proxy::none())
        .build()
        .unwrap();
    check(&dashscope.chat(thinking).await.unwrap());
    let sent = server.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].json()["stream"], true);
    assert_eq!(sent[0].header("accept"), Some("text/event-stream"));
}
