//! The GenAI metrics (feature `otel`) through OpenTelemetry's SDK and its in-memory exporter:
//! operation duration, token usage by type, time to first chunk and per output chunk for
//! streams, `error.type` on failures. Each test uses a model name of its own, the meter
//! provider being global to the process.

use std::sync::OnceLock;
use std::time::Duration;

use gptproto::{ChatRequest, Client, Proxy};
use gptproto_testkit::fixtures::{self, story};
use gptproto_testkit::{Reply, TestServer, sse_body};
use opentelemetry::KeyValue;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, HistogramDataPoint, MetricData};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use serde_json::json;

fn exporter() -> &'static (InMemoryMetricExporter, SdkMeterProvider) {
    static EXPORTER: OnceLock<(InMemoryMetricExporter, SdkMeterProvider)> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemoryMetricExporter::default();
        let provider = SdkMeterProvider::builder()
            .with_reader(PeriodicReader::builder(exporter.clone()).build())
            .build();
        opentelemetry::global::set_meter_provider(provider.clone());
        (exporter, provider)
    })
}

fn client(server: &TestServer) -> Client {
    exporter();
    Client::builder()
        .ignore_env()
        .base_url(server.base_url())
        .api_key("sk-test")
        .proxy(Proxy::none())
        .build()
        .unwrap()
}

/// A histogram's data points of `model`, by metric name: (attributes, count, sum, bounds).
#[derive(Debug)]
struct Point {
    attributes: Vec<(String, String)>,
    count: u64,
    sum: f64,
    bounds: Vec<f64>,
}

impl Point {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }
}

fn points(name: &str, model: &str) -> Vec<Point> {
    let (exporter, provider) = exporter();
    provider.force_flush().unwrap();
    let metrics = exporter.get_finished_metrics().unwrap();
    // The last export holds the cumulative state.
    let last = metrics.last().expect("an export");
    let mut found = Vec::new();
    for scope in last.scope_metrics() {
        assert_eq!(scope.scope().name(), "gptproto");
        for metric in scope.metrics().filter(|metric| metric.name() == name) {
            let attributes = |point: &mut dyn Iterator<Item = &KeyValue>| -> Vec<(String, String)> {
                point
                    .map(|kv| (kv.key.to_string(), kv.value.to_string()))
                    .collect()
            };
            match metric.data() {
                AggregatedMetrics::F64(MetricData::Histogram(histogram)) => {
                    for point in histogram.data_points() {
                        found.push(point_of(
                            point,
                            attributes(&mut point.attributes()),
                            f64::from,
                        ));
                    }
                }
                AggregatedMetrics::U64(MetricData::Histogram(histogram)) => {
                    for point in histogram.data_points() {
                        found.push(point_of(point, attributes(&mut point.attributes()), |v| {
                            v as f64
                        }));
                    }
                }
                other => panic!("{name} is not a histogram: {other:?}"),
            }
        }
    }
    found.retain(|point| point.attribute("gen_ai.request.model") == Some(model));
    found
}

fn point_of<T: Copy>(
    point: &HistogramDataPoint<T>,
    attributes: Vec<(String, String)>,
    value: impl Fn(T) -> f64,
) -> Point {
    Point {
        attributes,
        count: point.count(),
        sum: value(point.sum()),
        bounds: point.bounds().collect(),
    }
}

#[tokio::test]
async fn a_call_records_its_duration_and_tokens() {
    let server = TestServer::start(|_| {
        Reply::json(200, &fixtures::completion(&["hi"])).delayed(Duration::from_millis(60))
    })
    .await;
    let model = "metrics-plain";
    client(&server)
        .chat(ChatRequest::new(model).user("hi"))
        .await
        .unwrap();
    let duration = points("gen_ai.client.operation.duration", model);
    assert_eq!(duration.len(), 1, "{duration:#?}");
    let point = &duration[0];
    assert_eq!(point.count, 1);
    assert!((0.06..5.0).contains(&point.sum), "{point:?}");
    assert_eq!(point.bounds[0], 0.01);
    assert_eq!(point.bounds.len(), 14);
    for (key, value) in [
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "openai"),
        ("gen_ai.response.model", "qwen-turbo"),
        ("server.address", "127.0.0.1"),
    ] {
        assert_eq!(point.attribute(key), Some(value), "{key}: {point:?}");
    }
    assert_eq!(point.attribute("error.type"), None);
    let tokens = points("gen_ai.client.token.usage", model);
    let of = |kind: &str| {
        tokens
            .iter()
            .find(|point| point.attribute("gen_ai.token.type") == Some(kind))
            .map(|point| (point.count, point.sum))
    };
    assert_eq!(of("input"), Some((1, 5.0)));
    assert_eq!(of("output"), Some((1, 3.0)));
    assert_eq!(tokens[0].bounds.last(), Some(&67108864.0));
    // No chunk metrics for a call that did not stream.
    assert!(points("gen_ai.client.operation.time_to_first_chunk", model).is_empty());
}

#[tokio::test]
async fn a_stream_records_time_to_first_chunk_and_per_chunk() {
    let events = story(4);
    let body = sse_body(&events);
    let cuts: Vec<usize> = body.match_indices("\n\n").map(|(at, _)| at + 2).collect();
    let server = TestServer::start(move |_| {
        Reply::sse(&events)
            .cut_at(&cuts)
            .delayed(Duration::from_millis(100))
            .paced(Duration::from_millis(30))
    })
    .await;
    let model = "metrics-stream";
    client(&server)
        .chat_stream(ChatRequest::new(model).user("hi"))
        .await
        .unwrap()
        .into_completion()
        .await
        .unwrap();
    let first = points("gen_ai.client.operation.time_to_first_chunk", model);
    assert_eq!(first.len(), 1, "{first:#?}");
    assert_eq!(first[0].count, 1);
    assert!(first[0].sum >= 0.1, "{:?}", first[0]);
    let per_chunk = points("gen_ai.client.operation.time_per_output_chunk", model);
    // 5 chunks: 4 after the first, each about 30 ms after the one before.
    assert_eq!(per_chunk[0].count, 4, "{per_chunk:#?}");
    assert!(per_chunk[0].sum >= 0.08, "{per_chunk:#?}");
    assert_eq!(per_chunk[0].bounds[1], 0.025);
    let duration = points("gen_ai.client.operation.duration", model);
    assert!(
        duration[0].sum >= first[0].sum + per_chunk[0].sum - 0.01,
        "{duration:#?}"
    );
}

#[tokio::test]
async fn failures_record_their_error_type_and_no_tokens() {
    let server =
        TestServer::start(|_| Reply::json(401, &json!({"error": {"message": "Invalid API Key"}})))
            .await;
    let model = "metrics-401";
    client(&server)
        .chat(ChatRequest::new(model).user("hi"))
        .await
        .unwrap_err();
    let duration = points("gen_ai.client.operation.duration", model);
    assert_eq!(duration.len(), 1);
    assert_eq!(duration[0].attribute("error.type"), Some("401"));
    assert!(points("gen_ai.client.token.usage", model).is_empty());
}
