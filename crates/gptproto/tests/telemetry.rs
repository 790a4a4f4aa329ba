//! The call span against the GenAI semantic conventions, through a `tracing` layer that keeps
//! every span's fields and events: a plain call, a stream with usage and its time to first
//! chunk, a 429 then a success (the retry is an event), a 401, a dropped stream, content
//! capture off and on, and the key in none of it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use gptproto::{ChatRequest, Client, Proxy, ResponseFormat};
use gptproto_testkit::fixtures::{self, chunk, story};
use gptproto_testkit::{Reply, TestServer};
use serde_json::{Value, json};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const KEY: &str = "sk-test-0123456789abcdef";

/// A span as it ended: its name, fields, events (each with its fields), and how often it
/// closed.
#[derive(Debug, Clone, Default)]
struct SpanRecord {
    name: String,
    fields: BTreeMap<String, String>,
    events: Vec<BTreeMap<String, String>>,
    closed: u32,
}

impl SpanRecord {
    fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<SpanRecord>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S> tracing_subscriber::Layer<S> for Capture
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attributes: &Attributes<'_>, id: &Id, context: Context<'_, S>) {
        let mut record = SpanRecord {
            name: attributes.metadata().name().to_owned(),
            ..SpanRecord::default()
        };
        attributes.record(&mut Fields(&mut record.fields));
        context.span(id).unwrap().extensions_mut().insert(record);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, context: Context<'_, S>) {
        let span = context.span(id).unwrap();
        let mut extensions = span.extensions_mut();
        let record = extensions.get_mut::<SpanRecord>().unwrap();
        values.record(&mut Fields(&mut record.fields));
    }

    fn on_event(&self, event: &tracing::Event<'_>, context: Context<'_, S>) {
        let Some(span) = context.event_span(event) else {
            return;
        };
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let mut extensions = span.extensions_mut();
        extensions
            .get_mut::<SpanRecord>()
            .unwrap()
            .events
            .push(fields);
    }

    fn on_close(&self, id: Id, context: Context<'_, S>) {
        let span = context.span(&id).unwrap();
        let mut record = span.extensions_mut().remove::<SpanRecord>().unwrap();
        record.closed += 1;
        self.0.lock().unwrap().push(record);
    }
}

impl Capture {
    /// Runs `test` with this layer as the thread's subscriber (the tests run on a current-thread
    /// runtime: every span of the call is seen).
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let subscriber = tracing_subscriber::registry()
            .with(self.clone())
            .with(tracing_subscriber::filter::LevelFilter::TRACE);
        tracing::subscriber::set_default(subscriber)
    }

    /// The call spans that ended.
    fn calls(&self) -> Vec<SpanRecord> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|span| span.get("gen_ai.operation.name") == Some("chat"))
            .cloned()
            .collect()
    }

    /// The one call span that ended.
    fn call(&self) -> SpanRecord {
        let calls = self.calls();
        assert_eq!(calls.len(), 1, "{calls:#?}");
        calls.into_iter().next().unwrap()
    }
}

fn client(server: &TestServer) -> Client {
    builder(server).build().unwrap()
}

fn builder(server: &TestServer) -> gptproto::ClientBuilder {
    Client::builder()
        .ignore_env()
        .base_url(server.base_url())
        .api_key(KEY)
        .proxy(Proxy::none())
        .capture_message_content(false)
}

#[tokio::test]
async fn a_plain_call_carries_the_conventions_attributes() {
    let capture = Capture::default();
    let _guard = capture.install();
    let server = TestServer::start(|_| Reply::json(200, &fixtures::completion(&["a", "b"]))).await;
    let request = ChatRequest::new("qwen-turbo")
        .user("who are you?")
        .max_tokens(50)
        .temperature(0.5)
        .top_p(0.9)
        .stop(vec!["END".to_owned(), "STOP".to_owned()])
        .seed(42)
        .n(2)
        .response_format(ResponseFormat::JsonObject);
    client(&server).chat(request).await.unwrap();
    let span = capture.call();
    let port = server.address().port().to_string();
    for (field, value) in [
        ("otel.name", "chat qwen-turbo"),
        ("otel.kind", "client"),
        ("gen_ai.operation.name", "chat"),
        ("gen_ai.provider.name", "openai"),
        ("gen_ai.request.model", "qwen-turbo"),
        ("gen_ai.request.stream", "false"),
        ("gen_ai.request.max_tokens", "50"),
        ("gen_ai.request.temperature", "0.5"),
        ("gen_ai.request.top_p", "0.9"),
        ("gen_ai.request.stop_sequences", r#"["END","STOP"]"#),
        ("gen_ai.request.seed", "42"),
        ("gen_ai.request.choice.count", "2"),
        ("gen_ai.output.type", "json"),
        ("server.address", "127.0.0.1"),
        ("server.port", port.as_str()),
        ("gen_ai.response.id", "chatcmpl-1"),
        ("gen_ai.response.model", "qwen-turbo"),
        ("gen_ai.response.finish_reasons", r#"["stop","stop"]"#),
        ("gen_ai.usage.input_tokens", "5"),
        ("gen_ai.usage.output_tokens", "3"),
    ] {
        assert_eq!(span.get(field), Some(value), "{field} in {span:#?}");
    }
    for absent in [
        "error.type",
        "otel.status_code",
        "gen_ai.response.time_to_first_chunk",
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
    ] {
        assert_eq!(span.get(absent), None, "{absent} in {span:#?}");
    }
    assert_eq!(span.name, "chat");
    assert_eq!(span.closed, 1);
}

#[tokio::test]
async fn a_stream_records_its_usage_and_time_to_first_chunk() {
    let capture = Capture::default();
    let _guard = capture.install();
    let mut events = story(3);
    events.push(json!({
        "id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "qwen-turbo",
        "choices": [],
        "usage": {"prompt_tokens": 11, "completion_tokens": 4, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 8},
                  "completion_tokens_details": {"reasoning_tokens": 2}}
    }));
    // The head after 150 ms, then an event every 50 ms (each its own piece).
    let body = gptproto_testkit::sse_body(&events);
    let cuts: Vec<usize> = body.match_indices("\n\n").map(|(at, _)| at + 2).collect();
    let server = TestServer::start(move |_| {
        Reply::sse(&events)
            .cut_at(&cuts)
            .delayed(Duration::from_millis(150))
            .paced(Duration::from_millis(50))
    })
    .await;
    // Streaming asks for usage (`stream_options.include_usage`).
    let request = ChatRequest::new("qwen-turbo").user("a story").stream(true);
    let started = std::time::Instant::now();
    let answer = client(&server)
        .chat_stream(request)
        .await
        .unwrap()
        .into_completion()
        .await
        .unwrap();
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(answer.text(), Some("w0 w1 w2 "));
    let span = capture.call();
    assert_eq!(span.get("gen_ai.request.stream"), Some("true"));
    assert_eq!(span.get("gen_ai.usage.input_tokens"), Some("11"));
    assert_eq!(span.get("gen_ai.usage.output_tokens"), Some("4"));
    assert_eq!(span.get("gen_ai.usage.cache_read.input_tokens"), Some("8"));
    assert_eq!(span.get("gen_ai.usage.reasoning.output_tokens"), Some("2"));
    assert_eq!(span.get("gen_ai.response.model"), Some("qwen-turbo"));
    assert_eq!(
        span.get("gen_ai.response.finish_reasons"),
        Some(r#"["stop"]"#)
    );
    let first: f64 = span
        .get("gen_ai.response.time_to_first_chunk")
        .unwrap()
        .parse()
        .unwrap();
    // After the head's delay, and well before the whole stream's end (4 more chunks, 50 ms
    // apart).
    assert!(first >= 0.15, "time to first chunk {first}");
    assert!(
        first < elapsed - 0.1,
        "time to first chunk {first} of {elapsed}"
    );
    assert_eq!(span.get("error.type"), None);
    assert_eq!(span.closed, 1);
}

#[tokio::test]
async fn a_429_then_a_success_shows_the_retry_as_an_event() {
    let capture = Capture::default();
    let _guard = capture.install();
    let server = TestServer::start(|request| {
        if request.index == 0 {
            Reply::json(
                429,
                &json!({"error": {"message": "slow down", "type": "rate_limit_error"}}),
            )
            .header("retry-after-ms", "20")
        } else {
            Reply::json(200, &fixtures::completion(&["after waiting"]))
        }
    })
    .await;
    client(&server)
        .chat(ChatRequest::new("qwen-turbo").user("hi"))
        .await
        .unwrap();
    let span = capture.call();
    let retry = span
        .events
        .iter()
        .find(|event| event.get("message").map(String::as_str) == Some("retrying"))
        .unwrap_or_else(|| panic!("no retry event in {span:#?}"));
    assert_eq!(retry.get("attempt").map(String::as_str), Some("1"));
    assert_eq!(retry.get("error.type").map(String::as_str), Some("429"));
    let delay: f64 = retry["delay_s"].parse().unwrap();
    assert!((0.019..0.021).contains(&delay), "{delay}");
    assert_eq!(
        span.get("error.type"),
        None,
        "the call succeeded: {span:#?}"
    );
    assert_eq!(span.get("gen_ai.response.id"), Some("chatcmpl-1"));
}

#[tokio::test]
async fn a_401_is_an_error_type_and_status() {
    let capture = Capture::default();
    let _guard = capture.install();
    let server = TestServer::start(|_| {
        Reply::json(
            401,
            &json!({"error": {"message": "Invalid API Key", "type": "invalid_request_error"}}),
        )
    })
    .await;
    let error = client(&server)
        .chat(ChatRequest::new("qwen-turbo").user("hi"))
        .await
        .unwrap_err();
    assert!(error.is_auth());
    assert_eq!(error.error_type(), "401");
    let span = capture.call();
    assert_eq!(span.get("error.type"), Some("401"));
    assert_eq!(span.get("otel.status_code"), Some("ERROR"));
    assert!(
        span.get("otel.status_description")
            .unwrap()
            .contains("Invalid API Key"),
        "{span:#?}"
    );
    assert_eq!(span.get("gen_ai.response.id"), None);
}

#[tokio::test]
async fn a_dropped_stream_closes_its_span_as_cancelled() {
    let capture = Capture::default();
    let _guard = capture.install();
    let server =
        TestServer::start(|_| Reply::sse(&story(50)).paced(Duration::from_millis(20))).await;
    let mut stream = client(&server)
        .chat_stream(ChatRequest::new("qwen-turbo").user("a long story"))
        .await
        .unwrap();
    stream.next().await.unwrap().unwrap();
    assert!(
        capture.calls().is_empty(),
        "the span is open while the stream is"
    );
    drop(stream);
    let span = capture.call();
    assert_eq!(span.get("error.type"), Some("cancelled"));
    assert_eq!(span.get("otel.status_code"), Some("ERROR"));
    assert!(span.get("gen_ai.response.time_to_first_chunk").is_some());
    assert_eq!(span.closed, 1);

    // And a call dropped before its answer.
    let slow = TestServer::start(|_| {
        Reply::json(200, &fixtures::completion(&["late"])).delayed(Duration::from_secs(5))
    })
    .await;
    let client = client(&slow);
    let call = client.chat(ChatRequest::new("qwen-turbo").user("hi"));
    assert!(
        tokio::time::timeout(Duration::from_millis(50), call)
            .await
            .is_err()
    );
    let spans = capture.calls();
    assert_eq!(spans.len(), 2, "{spans:#?}");
    assert_eq!(spans[1].get("error.type"), Some("cancelled"));
}

#[tokio::test]
async fn a_stream_cut_short_is_stream_truncated() {
    let capture = Capture::default();
    let _guard = capture.install();
    // One chunk, no finish reason, no `[DONE]`.
    let server =
        TestServer::start(|_| Reply::sse_raw(format!("data: {}\n\n", chunk("Hel", None)))).await;
    let error = client(&server)
        .chat_stream(ChatRequest::new("qwen-turbo").user("hi"))
        .await
        .unwrap()
        .into_completion()
        .await
        .unwrap_err();
    assert!(error.is_truncated());
    assert_eq!(capture.call().get("error.type"), Some("stream_truncated"));
}

#[tokio::test]
async fn content_is_captured_only_when_asked_and_the_key_never() {
    let capture = Capture::default();
    let _guard = capture.install();
    let server = TestServer::start(|request| {
        let streamed = serde_json::from_slice::<Value>(&request.body).unwrap()["stream"] == true;
        if streamed {
            Reply::sse(&story(2))
        } else {
            Reply::json(200, &fixtures::completion(&["The answer."]))
        }
    })
    .await;
    let request = || {
        ChatRequest::new("qwen-turbo")
            .system("Be brief.")
            .user("What is the question?")
            .tools([gptproto::Tool::function("lookup").description("Looks things up")])
    };
    // Off (the test builder says so, whatever the environment).
    client(&server).chat(request()).await.unwrap();
    let off = capture.call();
    for field in [
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.tool.definitions",
    ] {
        assert_eq!(off.get(field), None, "{field}");
    }
    // On, for a plain call and a stream.
    let capturing = builder(&server)
        .capture_message_content(true)
        .build()
        .unwrap();
    capturing.chat(request()).await.unwrap();
    capturing
        .chat_stream(request())
        .await
        .unwrap()
        .into_completion()
        .await
        .unwrap();
    let spans = capture.calls();
    assert_eq!(spans.len(), 3);
    for span in &spans[1..] {
        let json =
            |field: &str| -> Value { serde_json::from_str(span.get(field).unwrap()).unwrap() };
        assert_eq!(
            json("gen_ai.system_instructions"),
            json!([{"type": "text", "content": "Be brief."}])
        );
        assert_eq!(
            json("gen_ai.input.messages"),
            json!([{"role": "user", "parts": [{"type": "text", "content": "What is the question?"}]}])
        );
        assert_eq!(
            json("gen_ai.tool.definitions"),
            json!([{"type": "function", "name": "lookup", "description": "Looks things up"}])
        );
    }
    assert_eq!(
        serde_json::from_str::<Value>(spans[1].get("gen_ai.output.messages").unwrap()).unwrap(),
        json!([{"role": "assistant", "parts": [{"type": "text", "content": "The answer."}], "finish_reason": "stop"}])
    );
    assert_eq!(
        serde_json::from_str::<Value>(spans[2].get("gen_ai.output.messages").unwrap()).unwrap(),
        json!([{"role": "assistant", "parts": [{"type": "text", "content": "w0 w1 "}], "finish_reason": "stop"}])
    );
    // The key is in no field and no event, captured or not, failed or not.
    let failing =
        TestServer::start(|_| Reply::json(401, &json!({"error": {"message": "no"}}))).await;
    let _ = builder(&failing)
        .capture_message_content(true)
        .build()
        .unwrap()
        .chat(request())
        .await;
    let all = capture.0.lock().unwrap().clone();
    assert!(all.len() >= 4);
    for span in all {
        let text = format!("{span:?}");
        assert!(!text.contains("0123456789abcdef"), "{text}");
    }
}

#[tokio::test]
async fn without_a_subscriber_nothing_is_recorded_and_calls_work() {
    let server = TestServer::start(|_| Reply::sse(&story(3))).await;
    let answer = client(&server)
        .chat_stream(ChatRequest::new("qwen-turbo").user("hi"))
        .await
        .unwrap()
        .into_completion()
        .await
        .unwrap();
    assert_eq!(answer.text(), Some("w0 w1 w2 "));
}

/// A call with fallbacks is one span (`gptproto.failover`) over its attempts' spans: each move
/// to the next model an event in it, and at its end the model and server that answered.
#[tokio::test]
async fn a_failover_is_a_span_with_each_failed_attempt_an_event_and_who_answered() {
    let capture = Capture::default();
    let _guard = capture.install();
    let server = TestServer::start(|request| {
        let model = request.json()["model"].as_str().unwrap().to_owned();
        if model == "missing" {
            return Reply::json(
                404,
                &json!({"error": {"code": "model_not_found", "message": "The model `missing` does not exist"}}),
            );
        }
        let mut answer = fixtures::completion(&["answered"]);
        answer["model"] = json!(model);
        Reply::json(200, &answer)
    })
    .await;
    let (answer, meta) = client(&server)
        .chat(ChatRequest::new("missing").user("hi"))
        .fallback("good")
        .with_response()
        .await
        .unwrap();
    assert_eq!(answer.model, "good");
    assert_eq!(meta.model(), Some("good"));
    assert_eq!(meta.provider(), gptproto::Provider::Unknown);
    let spans = capture.0.lock().unwrap().clone();
    let failover = spans
        .iter()
        .find(|span| span.name == "gptproto.failover")
        .expect("a failover span");
    assert_eq!(failover.get("gen_ai.request.model"), Some("missing"));
    assert_eq!(failover.get("gen_ai.response.model"), Some("good"));
    assert_eq!(failover.get("gptproto.failover.attempts"), Some("2"));
    assert_eq!(failover.get("gen_ai.provider.name"), Some("openai"));
    assert_eq!(failover.get("server.address"), Some("127.0.0.1"));
    assert_eq!(failover.get("otel.name"), Some("chat missing"));
    let moves: Vec<_> = failover
        .events
        .iter()
        .filter(|event| {
            event.get("message").map(String::as_str) == Some("failing over to the next model")
        })
        .collect();
    assert_eq!(moves.len(), 1, "{:#?}", failover.events);
    assert_eq!(moves[0].get("model").map(String::as_str), Some("missing"));
    assert_eq!(moves[0].get("next").map(String::as_str), Some("good"));
    assert_eq!(moves[0].get("error.type").map(String::as_str), Some("404"));
    // Each attempt has its own span, as any call.
    let attempts: Vec<_> = spans
        .iter()
        .filter(|span| span.name == "chat")
        .map(|span| {
            span.get("gen_ai.request.model")
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    assert_eq!(attempts, ["missing", "good"]);
}
