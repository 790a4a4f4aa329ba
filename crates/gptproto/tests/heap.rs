//! The heap after many calls, measured by dhat: once the client is warm (its first call made),
//! a thousand more calls — JSON and streamed, answered from memory — leave the heap with not
//! one block more than before. Nothing accumulates per call: no cache, no log, no leak.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::StreamExt;
use gptproto::{ChatRequest, Client, HttpConnector, ResponseBody, TransportError};
use gptproto_testkit::fixtures::{chunk, completion};
use gptproto_transport::BoxFuture;
use http_body_util::{BodyExt, Full};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// Answers every request from memory, keeping nothing.
#[derive(Debug)]
struct Answering {
    json: Bytes,
    sse: Bytes,
}

impl HttpConnector for Answering {
    fn send(
        &self,
        request: http::Request<Bytes>,
    ) -> BoxFuture<'static, Result<http::Response<ResponseBody>, TransportError>> {
        let streamed = request.body().windows(13).any(|w| w == b"\"stream\":true");
        let (content_type, body) = if streamed {
            ("text/event-stream", self.sse.clone())
        } else {
            ("application/json", self.json.clone())
        };
        Box::pin(async move {
            Ok(http::Response::builder()
                .header("content-type", content_type)
                .body(Full::new(body).map_err(|never| match never {}).boxed())
                .expect("a response"))
        })
    }
}

async fn calls(client: &Client, n: usize) {
    for _ in 0..n {
        let answer = client.chat(ChatRequest::new("m").user("hi")).await.unwrap();
        assert_eq!(answer.text(), Some("done"));
        let mut stream = client
            .chat_stream(ChatRequest::new("m").user("hi"))
            .await
            .unwrap();
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            text += chunk.unwrap().text().unwrap_or_default();
        }
        assert_eq!(text, "done");
    }
}

#[test]
fn a_thousand_calls_after_warm_up_retain_no_heap_block() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let sse = format!(
        "data: {}\n\ndata: {}\n\ndata: [DONE]\n\n",
        chunk("do", None),
        chunk("ne", Some("stop"))
    );
    let connector = Answering {
        json: Bytes::from(completion(&["done"]).to_string()),
        sse: Bytes::from(sse),
    };
    let client = Client::builder()
        .ignore_env()
        .base_url("https://heap.test/v1")
        .api_key("sk-test")
        .connector(Arc::new(connector))
        .build()
        .unwrap();
    runtime.block_on(calls(&client, 10));
    let warm = dhat::HeapStats::get();
    runtime.block_on(calls(&client, 1000));
    let after = dhat::HeapStats::get();
    println!(
        "after warm-up: {} blocks, {} bytes; after 1,000 JSON and 1,000 streamed calls: {} blocks, {} bytes ({} allocations made meanwhile)",
        warm.curr_blocks,
        warm.curr_bytes,
        after.curr_blocks,
        after.curr_bytes,
        after.total_blocks - warm.total_blocks
    );
    dhat::assert_eq!(after.curr_blocks, warm.curr_blocks);
    dhat::assert_eq!(after.curr_bytes, warm.curr_bytes);
}
