//! `Client::batch` against the test kit's rate-limited API over real TCP: paced by the limits
//! given, told by the headers, or probed; every request answered exactly once; 429s, 5xx and
//! dropped connections retried, permanent errors not; a wrong key stops the run; streamed
//! requests accumulated; a slow consumer holds the batch back; the response's head exposed.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gptproto::batch::StopReason;
use gptproto::{ChatRequest, Client, Proxy};
use gptproto_testkit::{LimitedApi, Limits, Reply, TestServer};
use serde_json::json;

fn client(server: &TestServer) -> Client {
    Client::builder()
        .ignore_env()
        .base_url(server.base_url())
        .api_key("sk-batch")
        .proxy(Proxy::none())
        .build()
        .unwrap()
}

fn requests(count: usize, max_tokens: u32) -> Vec<(String, ChatRequest)> {
    (0..count)
        .map(|i| {
            let id = format!("req-{i}");
            let request = ChatRequest::new("qwen-turbo")
                .user(format!("{id}: label this support ticket, please"))
                .max_tokens(max_tokens);
            (id, request)
        })
        .collect()
}

/// Every id answered once, and the server answered each once.
fn exactly_once(results: &[gptproto::batch::BatchResult], api: &LimitedApi, count: usize) {
    let ids: HashSet<&str> = results.iter().map(|r| r.custom_id.as_str()).collect();
    assert_eq!(ids.len(), count, "one result per id");
    assert_eq!(results.len(), count);
    for result in results {
        assert!(
            result.outcome.is_ok(),
            "{}: {:?}",
            result.custom_id,
            result.outcome
        );
    }
    let served = api.served();
    assert_eq!(served.answered.len(), count);
    assert!(
        served.answered.values().all(|&times| times == 1),
        "answered twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn given_the_limits_a_batch_is_paced_without_a_429() {
    // 1,200 requests a minute: 20 a second; 100 requests need 5 s.
    let (server, api) = LimitedApi::serve(Limits {
        requests_per_minute: 1_200,
        tokens_per_minute: 1_000_000,
        latency: (Duration::from_millis(20), Duration::from_millis(120)),
        ..Limits::default()
    })
    .await;
    let started = Instant::now();
    let results: Vec<_> = client(&server)
        .batch()
        .requests_per_minute(1_200)
        .tokens_per_minute(1_000_000)
        .run_iter(requests(100, 10))
        .collect()
        .await;
    let took = started.elapsed();
    exactly_once(&results, &api, 100);
    assert_eq!(api.served().rate_limited, 0);
    assert!(
        took >= Duration::from_millis(4_900) && took < Duration::from_secs(8),
        "took {took:?} for a 5 s floor"
    );
    let usage = results[0].usage().expect("usage");
    assert!(usage.prompt_tokens > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn told_by_the_headers_a_batch_learns_the_limits() {
    let (server, api) = LimitedApi::serve(Limits {
        requests_per_minute: 1_800,
        ..Limits::default()
    })
    .await;
    let mut batch = client(&server).batch().run_iter(requests(90, 10));
    let mut results = Vec::new();
    while let Some(result) = batch.next().await {
        results.push(result);
    }
    exactly_once(&results, &api, 90);
    assert_eq!(batch.rates_per_minute().0, Some(1_800.0));
    let served = api.served();
    assert!(served.rate_limited <= 2, "{} 429s", served.rate_limited);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_headers_429s_are_retried_and_every_request_answered_once() {
    let (server, api) = LimitedApi::serve(Limits {
        requests_per_minute: 3_000,
        headers: false,
        ..Limits::default()
    })
    .await;
    let mut batch = client(&server).batch().run_iter(requests(300, 10));
    let mut results = Vec::new();
    while let Some(result) = batch.next().await {
        results.push(result);
    }
    exactly_once(&results, &api, 300);
    let stats = batch.stats();
    assert_eq!(stats.succeeded, 300);
    assert_eq!(stats.rate_limited, api.served().rate_limited);
    assert_eq!(stats.sent, 300 + stats.retried);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_dropped_connections_are_retried() {
    let (server, api) = LimitedApi::serve(Limits {
        server_errors: 0.2,
        dropped: 0.1,
        ..Limits::default()
    })
    .await;
    let results: Vec<_> = client(&server)
        .batch()
        .concurrency(16)
        .max_retries(20)
        .run_iter(requests(60, 10))
        .collect()
        .await;
    exactly_once(&results, &api, 60);
    assert!(api.served().failed > 0, "the server failed some");
    assert!(results.iter().any(|r| r.attempts > 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_errors_are_not_retried() {
    let server = TestServer::start(|request| {
        let body: serde_json::Value = request.json();
        let text = body["messages"][0]["content"].as_str().unwrap_or_default().to_owned();
        if text.starts_with("req-3:") {
            Reply::json(400, &json!({"error": {"message": "bad request", "type": "invalid_request_error"}}))
        } else if text.starts_with("req-5:") {
            Reply::json(429, &json!({"error": {"message": "You exceeded your current quota", "type": "insufficient_quota", "code": "insufficient_quota"}}))
        } else {
            Reply::json(200, &gptproto_testkit::fixtures::completion(&["ok"]))
        }
    })
    .await;
    let results: Vec<_> = client(&server)
        .batch()
        .run_iter(requests(8, 10))
        .collect()
        .await;
    assert_eq!(results.len(), 8);
    for result in &results {
        match result.custom_id.as_str() {
            "req-3" | "req-5" => {
                let error = result.outcome.as_ref().unwrap_err();
                assert_eq!(result.attempts, 1, "{}: {error}", result.custom_id);
            }
            _ => assert!(result.outcome.is_ok()),
        }
    }
    assert_eq!(server.requests().len(), 8, "nothing was sent twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_stops_the_run_after_the_requests_in_flight() {
    let server = TestServer::start(|_| {
        Reply::json(
            401,
            &json!({"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}),
        )
        .delayed(Duration::from_millis(20))
    })
    .await;
    let mut batch = client(&server).batch().run_iter(requests(10_000, 10));
    let mut results = Vec::new();
    while let Some(result) = batch.next().await {
        results.push(result);
    }
    assert!(matches!(
        batch.stop_reason(),
        Some(StopReason::Unauthorized(_))
    ));
    assert!(!results.is_empty());
    assert!(
        results
            .iter()
            .all(|r| r.outcome.as_ref().unwrap_err().is_auth())
    );
    // The probe sends one request before any answer: the first 401 stops everything.
    assert_eq!(
        server.requests().len(),
        1,
        "{} requests sent",
        server.requests().len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_requests_are_accumulated() {
    let (server, api) = LimitedApi::serve(Limits::default()).await;
    let streamed: Vec<_> = requests(5, 10)
        .into_iter()
        .map(|(id, request)| (id, request.stream(true)))
        .collect();
    let results: Vec<_> = client(&server).batch().run_iter(streamed).collect().await;
    exactly_once(&results, &api, 5);
    for result in &results {
        let (answer, _) = result.outcome.as_ref().unwrap();
        assert!(answer.text().unwrap().starts_with("answer to req-"));
        assert!(result.usage().is_some(), "the usage chunk is kept");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_consumer_that_stops_polling_stops_the_batch() {
    let (server, api) = LimitedApi::serve(Limits::default()).await;
    let mut batch = client(&server)
        .batch()
        .concurrency(4)
        .run_iter(requests(1_000, 10));
    let first = batch.next().await.expect("a result");
    assert!(first.outcome.is_ok());
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Nothing is sent while nobody polls: at most the concurrency went out.
    let sent = server.requests().len();
    assert!(sent <= 5, "{sent} requests sent while nobody polled");
    drop(batch);
    assert!(api.served().answered.len() <= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_gives_its_response_head() {
    let server = TestServer::start(|_| {
        Reply::json(200, &gptproto_testkit::fixtures::completion(&["hi"]))
            .header("x-request-id", "req-42")
            .header("x-ratelimit-limit-requests", "500")
            .header("x-ratelimit-reset-requests", "120ms")
    })
    .await;
    let (answer, meta) = client(&server)
        .chat(ChatRequest::new("m").user("hi"))
        .with_response()
        .await
        .unwrap();
    assert_eq!(answer.text(), Some("hi"));
    assert_eq!(meta.request_id(), Some("req-42"));
    assert_eq!(meta.rate_limits().limit_requests, Some(500));
    assert_eq!(
        meta.rate_limits().reset_requests,
        Some(Duration::from_millis(120))
    );
    assert_eq!(meta.status(), 200);
    let (stream, meta) = client(&server)
        .chat_stream(ChatRequest::new("m").user("hi"))
        .with_response()
        .await
        .unwrap();
    assert_eq!(meta.request_id(), Some("req-42"));
    assert_eq!(stream.into_completion().await.unwrap().text(), Some("hi"));
}

/// Two models in one batch, one of them refusing for 3 s (429, `retry-after: 3`): the other's
/// lines are not held back — each model's limits are its own — and every line is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_rate_limited_holds_back_only_its_own_lines() {
    let started = Instant::now();
    let server = TestServer::start(move |request| {
        let body: serde_json::Value = request.json();
        if body["model"] == "busy" && started.elapsed() < Duration::from_secs(3) {
            return Reply::json(
                429,
                &json!({"error": {"message": "Rate limit reached for busy", "type": "requests", "code": "rate_limit_exceeded"}}),
            )
            .header("retry-after", "3");
        }
        Reply::json(200, &gptproto_testkit::fixtures::completion(&["ok"]))
    })
    .await;
    let lines: Vec<(String, ChatRequest)> = requests(20, 10)
        .into_iter()
        .enumerate()
        .map(|(i, (id, mut request))| {
            request.model = if i % 2 == 0 { "busy" } else { "free" }.to_owned();
            (id, request)
        })
        .collect();
    let mut batch = client(&server)
        .batch()
        .requests_per_minute(6_000)
        .run_iter(lines);
    let mut done_at = Vec::new();
    while let Some(result) = batch.next().await {
        assert!(
            result.outcome.is_ok(),
            "{}: {:?}",
            result.custom_id,
            result.outcome
        );
        let index: usize = result.custom_id.trim_start_matches("req-").parse().unwrap();
        done_at.push((index % 2 == 1, started.elapsed()));
    }
    assert_eq!(done_at.len(), 20);
    let last_free = done_at
        .iter()
        .filter(|(free, _)| *free)
        .map(|(_, at)| *at)
        .max()
        .unwrap();
    let first_busy = done_at
        .iter()
        .filter(|(free, _)| !*free)
        .map(|(_, at)| *at)
        .min()
        .unwrap();
    assert!(
        last_free < Duration::from_secs(2),
        "the free model's lines waited for the busy one's 429: done by {last_free:?}"
    );
    assert!(first_busy >= Duration::from_secs(3), "{first_busy:?}");
}
