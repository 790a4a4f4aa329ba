//! End to end: the `gptproto` binary with `OTEL_EXPORTER_OTLP_ENDPOINT` pointed at an OTLP/HTTP
//! receiver on loopback (protobuf, decoded with `opentelemetry-proto`), checked field by field:
//! the call span and the GenAI metrics, flushed before the process exits.

use std::time::Duration;

use gptproto_testkit::fixtures::chunk;
use gptproto_testkit::opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use gptproto_testkit::opentelemetry_proto::tonic::metrics::v1::metric;
use gptproto_testkit::{OtlpReceiver, Received, Reply, TestServer};
use serde_json::json;

const KEY: &str = "sk-otel-test-0123456789abcdef";

#[path = "support/run.rs"]
mod support;

/// Runs `gptproto ARGS` against `server`, exporting to `receiver`; the exit status and stderr.
async fn run(server: &TestServer, receiver: &OtlpReceiver, args: &[&str]) -> (i32, String) {
    let (url, endpoint) = (server.base_url(), receiver.endpoint());
    let run = support::gptproto(
        args,
        &[
            ("GPTPROTO_API_KEY", KEY.as_ref()),
            ("GPTPROTO_BASE_URL", url.as_ref()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_ref()),
        ],
    )
    .await;
    (run.status, run.stderr)
}

fn value(value: &AnyValue) -> String {
    match &value.value {
        Some(any_value::Value::StringValue(text)) => text.clone(),
        Some(any_value::Value::IntValue(int)) => int.to_string(),
        Some(any_value::Value::DoubleValue(double)) => double.to_string(),
        Some(any_value::Value::BoolValue(bool)) => bool.to_string(),
        other => format!("{other:?}"),
    }
}

fn attribute<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
}

fn text(attributes: &[KeyValue], key: &str) -> Option<String> {
    attribute(attributes, key).map(value)
}

fn service_name(received: &Received) -> Option<String> {
    let resource = received
        .traces
        .first()?
        .resource_spans
        .first()?
        .resource
        .as_ref()?;
    text(&resource.attributes, "service.name")
}

/// Every span received.
fn spans(
    received: &Received,
) -> Vec<gptproto_testkit::opentelemetry_proto::tonic::trace::v1::Span> {
    received
        .traces
        .iter()
        .flat_map(|request| &request.resource_spans)
        .flat_map(|resource| &resource.scope_spans)
        .flat_map(|scope| scope.spans.clone())
        .collect()
}

/// The histogram data points of the metric `name` in the last export that has it.
fn histogram(
    received: &Received,
    name: &str,
) -> Vec<gptproto_testkit::opentelemetry_proto::tonic::metrics::v1::HistogramDataPoint> {
    let mut found = Vec::new();
    for request in &received.metrics {
        for resource in &request.resource_metrics {
            for scope in &resource.scope_metrics {
                for metric in scope.metrics.iter().filter(|metric| metric.name == name) {
                    if let Some(metric::Data::Histogram(histogram)) = &metric.data {
                        found = histogram.data_points.clone();
                    }
                }
            }
        }
    }
    found
}

#[tokio::test]
async fn a_streamed_chat_exports_its_span_and_metrics() {
    let receiver = OtlpReceiver::start().await;
    let server = TestServer::start(|_| {
        Reply::sse(&[
            chunk("I am ", None),
            chunk("Qwen.", Some("stop")),
            json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
                   "model": "qwen-turbo", "choices": [],
                   "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}}),
        ])
        .delayed(Duration::from_millis(50))
    })
    .await;
    let (status, stderr) = run(
        &server,
        &receiver,
        &[
            "chat",
            "--model",
            "qwen-turbo",
            "--temperature",
            "0.2",
            "who are you?",
        ],
    )
    .await;
    assert_eq!(status, 0, "{stderr}");
    // The process flushed before exiting: everything is there already.
    let received = receiver.received();
    assert!(received.refused.is_empty(), "{:?}", received.refused);
    assert_eq!(service_name(&received).as_deref(), Some("gptproto"));
    let spans = spans(&received);
    let call = spans
        .iter()
        .find(|span| span.name == "chat qwen-turbo")
        .unwrap_or_else(|| panic!("no call span in {spans:#?}"));
    // SPAN_KIND_CLIENT
    assert_eq!(call.kind, 3);
    assert!(call.end_time_unix_nano > call.start_time_unix_nano);
    let port = server.address().port().to_string();
    for (key, expected) in [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "openai"),
        ("gen_ai.request.model", "qwen-turbo"),
        ("gen_ai.request.temperature", "0.2"),
        ("gen_ai.request.stream", "true"),
        ("server.address", "127.0.0.1"),
        ("server.port", port.as_str()),
        ("gen_ai.response.id", "chatcmpl-1"),
        ("gen_ai.response.model", "qwen-turbo"),
        ("gen_ai.response.finish_reasons", r#"["stop"]"#),
        ("gen_ai.usage.input_tokens", "12"),
        ("gen_ai.usage.output_tokens", "4"),
    ] {
        assert_eq!(
            text(&call.attributes, key).as_deref(),
            Some(expected),
            "{key}: {call:#?}"
        );
    }
    // Typed, not text: integers and doubles as OTLP's own.
    assert!(matches!(
        attribute(&call.attributes, "gen_ai.usage.input_tokens").and_then(|v| v.value.clone()),
        Some(any_value::Value::IntValue(12))
    ));
    let first = match attribute(&call.attributes, "gen_ai.response.time_to_first_chunk")
        .and_then(|v| v.value.clone())
    {
        Some(any_value::Value::DoubleValue(seconds)) => seconds,
        other => panic!("time to first chunk: {other:?}"),
    };
    let total = (call.end_time_unix_nano - call.start_time_unix_nano) as f64 / 1e9;
    assert!(first >= 0.05 && first <= total, "{first} of {total}");
    assert_eq!(text(&call.attributes, "error.type"), None);
    assert!(
        text(&call.attributes, "gen_ai.input.messages").is_none(),
        "content is off by default"
    );

    let duration = histogram(&received, "gen_ai.client.operation.duration");
    assert_eq!(duration.len(), 1, "{duration:#?}");
    assert_eq!(duration[0].count, 1);
    assert_eq!(duration[0].explicit_bounds.len(), 14);
    assert_eq!(
        text(&duration[0].attributes, "gen_ai.request.model").as_deref(),
        Some("qwen-turbo")
    );
    let tokens = histogram(&received, "gen_ai.client.token.usage");
    let sum_of = |kind: &str| {
        tokens
            .iter()
            .find(|point| text(&point.attributes, "gen_ai.token.type").as_deref() == Some(kind))
            .and_then(|point| point.sum)
    };
    assert_eq!(sum_of("input"), Some(12.0));
    assert_eq!(sum_of("output"), Some(4.0));
    let first_chunk = histogram(&received, "gen_ai.client.operation.time_to_first_chunk");
    assert_eq!(first_chunk[0].count, 1);
    let per_chunk = histogram(&received, "gen_ai.client.operation.time_per_output_chunk");
    assert_eq!(per_chunk[0].count, 2, "3 chunks: 2 after the first");
}

#[tokio::test]
async fn a_refused_key_exports_an_error_span_without_the_key() {
    let receiver = OtlpReceiver::start().await;
    let server = TestServer::start(|_| {
        Reply::json(
            401,
            &json!({"error": {"message": "Invalid API Key", "type": "invalid_request_error"}}),
        )
    })
    .await;
    let (status, _) = run(&server, &receiver, &["chat", "hi"]).await;
    assert_eq!(status, 3);
    let received = receiver.received();
    let spans = spans(&received);
    let call = spans
        .iter()
        .find(|span| text(&span.attributes, "gen_ai.operation.name").as_deref() == Some("chat"))
        .unwrap_or_else(|| panic!("no call span in {spans:#?}"));
    assert_eq!(text(&call.attributes, "error.type").as_deref(), Some("401"));
    // STATUS_CODE_ERROR
    assert_eq!(call.status.as_ref().map(|status| status.code), Some(2));
    let duration = histogram(&received, "gen_ai.client.operation.duration");
    assert_eq!(
        text(&duration[0].attributes, "error.type").as_deref(),
        Some("401")
    );
    assert!(!format!("{received:?}").contains("0123456789abcdef"));
}

#[tokio::test]
async fn batch_exports_a_span_per_request() {
    let receiver = OtlpReceiver::start().await;
    let server =
        TestServer::start(|_| Reply::json(200, &gptproto_testkit::fixtures::completion(&["ok"])))
            .await;
    let dir = std::env::temp_dir().join(format!("gptproto-otel-batch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input = dir.join("requests.jsonl");
    let lines: String = (0..3)
        .map(|i| {
            format!(
                "{}\n",
                json!({"custom_id": format!("r{i}"), "method": "POST", "url": "/v1/chat/completions",
                       "body": {"model": "qwen-turbo", "messages": [{"role": "user", "content": "hi"}]}})
            )
        })
        .collect();
    std::fs::write(&input, lines).unwrap();
    let output = dir.join("answers.jsonl");
    let (status, stderr) = run(
        &server,
        &receiver,
        &[
            "batch",
            input.to_str().unwrap(),
            "-o",
            output.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(status, 0, "{stderr}");
    let received = receiver.received();
    let calls = spans(&received)
        .into_iter()
        .filter(|span| span.name == "chat qwen-turbo")
        .count();
    assert_eq!(calls, 3);
    assert_eq!(
        histogram(&received, "gen_ai.client.operation.duration")[0].count,
        3
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
