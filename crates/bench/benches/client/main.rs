//! The client benchmarks, side by side in one run on a loopback server: gptproto against
//! async-openai 0.43 (reqwest) and against reading the raw body with hyper.
//!
//! ```text
//! cargo bench -p gptproto-bench    # all three; BENCH_ROUNDS=n changes rounds,
//!                                   # BENCH_ONLY=streamed|in-flight|rss runs one
//! ```
//!
//! 1. One stream of 100,000 chunks (28.9 MB, written in 16 KiB pieces) consumed as typed chunks.
//! 2. Non-streamed requests, 64 in flight.
//! 3. Peak RSS with 1,000 streams open at once, each client in a process of its own.
//!
//! Under `cargo test --benches` each runs once, smaller, as a smoke test.

#[path = "../../../proto/benches/common/mod.rs"]
#[allow(dead_code)]
mod corpus;
mod peers;
mod rss;
mod server;

use std::sync::Arc;

use bytes::Bytes;

use crate::corpus::paired::{Contender, Work, compare, compare_work, measuring};
use crate::peers::Target;
use crate::server::Script;

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|arg| arg == "--list") {
        return;
    }
    if let Some(at) = args.iter().position(|arg| arg == rss::CHILD) {
        rss::child(&args[at + 1..]);
        return;
    }
    if let Some(at) = args.iter().position(|arg| arg == rss::SERVE) {
        rss::serve(args.get(at + 1).is_some_and(|arg| arg == "tls"));
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the clients' runtime");
    // BENCH_ONLY=streamed|in-flight|rss runs one of them (for profiling).
    let only = std::env::var("BENCH_ONLY").ok();
    let runs = |name: &str| only.as_deref().is_none_or(|only| only == name);
    if runs("streamed") {
        streamed(&runtime);
    }
    if runs("in-flight") {
        in_flight(&runtime);
    }
    if runs("rss") {
        rss::compare(if measuring() { 1000 } else { 100 });
    }
}

/// One stream of 100,000 chunks, consumed as typed chunks.
fn streamed(runtime: &tokio::runtime::Runtime) {
    let stream = corpus::stream();
    let pieces = corpus::pieces(&stream, 16 * 1024);
    let target = Target::plain(server::start(Script::Stream(Arc::new(pieces))));
    let gptproto = peers::gptproto(&target);
    let openai = peers::openai(&target);
    let raw = peers::raw(&target);
    // What listens in production: a tracing subscriber (the fmt layer at info: the client's
    // spans are made, nothing is printed), and OpenTelemetry's metrics (a client built once
    // the SDK's meter provider is global records each call's).
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::sink)
        .finish();
    let subscriber = tracing::Dispatch::new(subscriber);
    let (_metrics, metered) = metered(&target);
    let chunks = corpus::EVENTS as u64 - 1; // all but [DONE]
    let text = runtime.block_on(peers::gptproto_completion(&gptproto));
    assert!(text > 0);
    let contenders = vec![
        Contender {
            name: "gptproto: ChatStream, typed chunks (Stream::next)",
            run: Box::new(|| {
                let n = runtime.block_on(peers::gptproto_chunks(&gptproto));
                assert_eq!(n, chunks);
                n
            }),
        },
        Contender {
            name: "gptproto: typed chunks, a tracing subscriber listening",
            run: Box::new(|| {
                let n = tracing::dispatcher::with_default(&subscriber, || {
                    runtime.block_on(peers::gptproto_chunks(&gptproto))
                });
                assert_eq!(n, chunks);
                n
            }),
        },
        Contender {
            name: "gptproto: typed chunks, OpenTelemetry metrics recorded",
            run: Box::new(|| {
                let n = runtime.block_on(peers::gptproto_chunks(&metered));
                assert_eq!(n, chunks);
                n
            }),
        },
        Contender {
            name: "gptproto: ChatStream::next_with (chunks lent, not built)",
            run: Box::new(|| {
                let n = runtime.block_on(peers::gptproto_lent(&gptproto));
                assert_eq!(n, chunks);
                n
            }),
        },
        Contender {
            name: "gptproto: ChatStream::into_completion",
            run: Box::new(|| {
                let n = runtime.block_on(peers::gptproto_completion(&gptproto));
                assert_eq!(n, text);
                n
            }),
        },
        Contender {
            name: "async-openai 0.43 create_stream, typed chunks",
            run: Box::new(|| {
                let n = runtime.block_on(peers::openai_chunks(&openai));
                assert_eq!(n, chunks);
                n
            }),
        },
        Contender {
            name: "raw hyper body read (floor)",
            run: Box::new(|| {
                let n = runtime.block_on(peers::raw_body(&raw, &target, true));
                assert_eq!(n, stream.len() as u64);
                n
            }),
        },
    ];
    compare(
        "One stream of 100,000 chunks over loopback HTTP/1.1",
        stream.len(),
        21,
        contenders,
    );
}

/// A client that records OpenTelemetry's GenAI metrics: built once the SDK's meter provider
/// (with an in-memory exporter, read at the end) is the global one.
fn metered(
    target: &Target,
) -> (
    opentelemetry_sdk::metrics::SdkMeterProvider,
    gptproto::Client,
) {
    use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(InMemoryMetricExporter::default()).build())
        .build();
    opentelemetry::global::set_meter_provider(provider.clone());
    let client = peers::gptproto(target);
    (provider, client)
}

/// Requests per iteration, and how many are in flight at once.
const IN_FLIGHT: usize = 64;

/// Non-streamed requests, 64 in flight: 64 tasks, each sending its share one after another.
fn in_flight(runtime: &tokio::runtime::Runtime) {
    let requests = if measuring() { 64 * 100 } else { 64 * 2 };
    let completion = serde_json::json!({
        "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion",
        "created": 1741570283, "model": "qwen-turbo", "system_fingerprint": "fp_eb9dce56a8",
        "choices": [{"index": 0, "message": {"role": "assistant",
            "content": "I am Qwen, a large language model created by Alibaba Cloud. How can I help you today?",
            "refusal": null}, "logprobs": null, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 21, "total_tokens": 33}
    });
    let completion = Bytes::from(completion.to_string());
    let body_len = completion.len() as u64;
    let target = Target::plain(server::start(Script::Json(completion)));
    let gptproto = peers::gptproto(&target);
    let openai = peers::openai(&target);
    let raw = peers::raw(&target);
    let per_task = requests / IN_FLIGHT;
    let contenders = vec![
        Contender {
            name: "gptproto: Client::chat",
            run: Box::new(|| {
                runtime.block_on(fan_out(per_task, || {
                    let client = gptproto.clone();
                    async move { peers::gptproto_chat(&client).await }
                }))
            }),
        },
        Contender {
            name: "async-openai 0.43 chat().create",
            run: Box::new(|| {
                runtime.block_on(fan_out(per_task, || {
                    let client = openai.clone();
                    async move { peers::openai_chat(&client).await }
                }))
            }),
        },
        Contender {
            name: "raw hyper request + body read (floor)",
            run: Box::new(|| {
                runtime.block_on(fan_out(per_task, || {
                    let client = raw.clone();
                    let target = target.clone();
                    async move {
                        assert_eq!(peers::raw_body(&client, &target, false).await, body_len);
                        1
                    }
                }))
            }),
        },
    ];
    compare_work(
        "Non-streamed requests, 64 in flight, over loopback HTTP/1.1",
        Work::Requests(requests),
        21,
        contenders,
    );
}

/// Runs `per_task` calls in each of `IN_FLIGHT` spawned tasks; returns the sum of results.
async fn fan_out<F, Fut>(per_task: usize, call: F) -> u64
where
    F: Fn() -> Fut,
    Fut: Future<Output = u64> + Send + 'static,
{
    let mut tasks = Vec::with_capacity(IN_FLIGHT);
    for _ in 0..IN_FLIGHT {
        let calls: Vec<Fut> = (0..per_task).map(|_| call()).collect();
        tasks.push(tokio::spawn(async move {
            let mut total = 0;
            for call in calls {
                total += call.await;
            }
            total
        }));
    }
    let mut total = 0;
    for task in tasks {
        total += task.await.expect("a task");
    }
    assert_eq!(total, (IN_FLIGHT * per_task) as u64, "every call answered");
    total
}
