//! Fallbacks over real TCP against the test kit: a missing model, a model that is down and one
//! slow to its head each give way to the next under the call's one deadline; an invalid request
//! does not; a stream fails over before its head; another client (another provider) is tried.

use std::time::{Duration, Instant};

use gptproto::{ChatRequest, Client, Proxy};
use gptproto_testkit::fixtures::{chunk, completion};
use gptproto_testkit::{Recorded, Reply, TestServer};
use serde_json::{Value, json};

/// A provider whose models behave as their names say: `missing` (404 model_not_found), `down`
/// (503), `bad` (400 invalid), `slow` (the head after 5 s), anything else answers, naming
/// itself as the model that answered.
async fn provider() -> TestServer {
    TestServer::start(|request: &Recorded| {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let model = body["model"].as_str().unwrap_or_default().to_owned();
        let error = |status: u16, code: &str| {
            Reply::json(status, &json!({"error": {"code": code, "message": format!("{code}: {model}")}}))
        };
        match model.as_str() {
            "missing" => error(404, "model_not_found"),
            "down" => error(503, "service_unavailable"),
            "bad" => error(400, "invalid_parameter"),
            "slow" => Reply::json(200, &completion(&["late"])).delayed(Duration::from_secs(5)),
            _ if body["stream"] == true => Reply::sse(&[
                json!({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": model,
                    "choices": [{"index": 0, "delta": {"role": "assistant", "content": "streamed"}, "finish_reason": null}]}),
                chunk("", Some("stop")),
            ]),
            _ => {
                let mut answer = completion(&["answered"]);
                answer["model"] = json!(model);
                Reply::json(200, &answer)
            }
        }
    })
    .await
}

fn client(server: &TestServer) -> Client {
    Client::builder()
        .ignore_env()
        .base_url(server.base_url())
        .api_key("sk-failover")
        .proxy(Proxy::none())
        .retry_jitter_seed(1)
        .build()
        .unwrap()
}

fn asked(server: &TestServer) -> Vec<String> {
    server
        .requests()
        .iter()
        .map(|request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            body["model"].as_str().unwrap().to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_missing_or_down_model_gives_way_to_the_next_and_the_answer_says_who_answered() {
    let server = provider().await;
    let client = client(&server);
    let answer = client
        .chat(ChatRequest::new("missing").user("hi"))
        .max_retries(1)
        .fallback("down")
        .fallback("good")
        .await
        .unwrap();
    assert_eq!(answer.model, "good");
    // The 404 is not retried, the 503 is (once), then the next model.
    assert_eq!(asked(&server), ["missing", "down", "down", "good"]);
}

#[tokio::test]
async fn an_invalid_request_does_not_fail_over() {
    let server = provider().await;
    let error = client(&server)
        .chat(ChatRequest::new("bad").user("hi"))
        .fallback("good")
        .await
        .unwrap_err();
    assert_eq!(error.status().map(|status| status.as_u16()), Some(400));
    assert_eq!(asked(&server), ["bad"]);
    // The last model's error, when every one failed over.
    let server = provider().await;
    let error = client(&server)
        .chat(ChatRequest::new("missing").user("hi"))
        .max_retries(0)
        .fallback("down")
        .await
        .unwrap_err();
    assert_eq!(
        error.status().map(|status| status.as_u16()),
        Some(503),
        "{error}"
    );
}

#[tokio::test]
async fn a_model_slow_to_its_head_gives_way_within_the_one_deadline() {
    let server = provider().await;
    let started = Instant::now();
    let answer = client(&server)
        .chat(ChatRequest::new("slow").user("hi"))
        .max_retries(0)
        .response_timeout(Duration::from_millis(300))
        .timeout(Duration::from_secs(3))
        .fallback("good")
        .await
        .unwrap();
    assert_eq!(answer.model, "good");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The one deadline covers every model: spent on the first, none is left for the next.
    let server = provider().await;
    let started = Instant::now();
    let error = client(&server)
        .chat(ChatRequest::new("slow").user("hi"))
        .max_retries(0)
        .timeout(Duration::from_millis(400))
        .fallback("good")
        .await
        .unwrap_err();
    assert!(error.is_timeout(), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(asked(&server), ["slow"]);
}

#[tokio::test]
async fn a_stream_fails_over_before_its_head_and_another_provider_is_tried() {
    let first = provider().await;
    let second = provider().await;
    let (stream, meta) = client(&first)
        .chat_stream(ChatRequest::new("missing").user("hi"))
        .fallback_on(&client(&second), "other-provider-model")
        .with_response()
        .await
        .unwrap();
    let answer = stream.into_completion().await.unwrap();
    assert_eq!(answer.model, "other-provider-model");
    assert_eq!(answer.text(), Some("streamed"));
    assert_eq!(meta.status().as_u16(), 200);
    assert_eq!(asked(&first), ["missing"]);
    assert_eq!(asked(&second), ["other-provider-model"]);
}
