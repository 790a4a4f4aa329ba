//! The sans-IO core on wasm32, executed in Node and in headless Chromium: the transcript corpus
//! split finely, a streamed `fetch` decoded as it arrives, a 429 classified and its retry
//! decided with the host's clock, a stream cut in the middle of an event.
//!
//! Run by `cargo xtask wasm-test` (which starts the test kit's server).
#![cfg(target_arch = "wasm32")]

use std::time::Duration;

use bytes::Bytes;
use gptproto_proto::exchange::{ApiErrorKind, api_error};
use gptproto_proto::retry::{Failure, RetryDecision, RetryPolicy};
use gptproto_proto::{StreamDecoder, StreamItem};
use serde_json::Value;
use wasm_bindgen_test::wasm_bindgen_test;

#[path = "support/host.rs"]
mod host;
#[path = "../../proto/tests/support/transcript.rs"]
mod transcript;

include!(concat!(env!("OUT_DIR"), "/corpus.rs"));

#[wasm_bindgen_test]
fn every_transcript_gives_its_native_result_in_pieces_of_1_and_7_bytes() {
    assert!(
        CORPUS.len() >= 26,
        "the corpus has {} transcripts",
        CORPUS.len()
    );
    for (name, body, expected) in CORPUS {
        let expected: Value = serde_json::from_str(expected).expect("expected JSON");
        let body = Bytes::from_static(body);
        for size in [1, 7] {
            for views in [false, true] {
                let got = transcript::decode(&transcript::pieces(&body, size), views);
                assert_eq!(
                    got, expected["result"],
                    "{name} in pieces of {size} bytes (views: {views})"
                );
            }
        }
    }
}

/// Polls every item the decoder has, returning the texts of the chunks among them.
fn drain(decoder: &mut StreamDecoder) -> Result<Vec<String>, gptproto_proto::Error> {
    let mut texts = Vec::new();
    while let Some(item) = decoder.poll_item()? {
        if let StreamItem::Chunk(chunk) = item {
            texts.push(chunk.text().unwrap_or_default().to_owned());
        }
    }
    Ok(texts)
}

#[wasm_bindgen_test]
async fn a_streamed_fetch_is_decoded_as_it_arrives() {
    let id = host::unique("core-hold");
    let server = host::server();
    let response = host::post(
        &format!("{server}/hold/{id}/v1/chat/completions"),
        &host::streamed_request("hi"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let reader = host::reader(&response);
    let mut decoder = StreamDecoder::new().accumulating();
    // The server holds everything after `first ` until it is released: a client that waits
    // for the whole body never sees a chunk here (the server gives up after 20 s).
    let mut before_release = Vec::new();
    while before_release.is_empty() {
        let piece = host::read(&reader)
            .await
            .expect("the body reads")
            .expect("the body goes on past its first event");
        decoder.push(Bytes::from(piece));
        before_release = drain(&mut decoder).expect("valid chunks");
    }
    assert_eq!(before_release, ["first "]);
    let released = host::post(&format!("{server}/release/{id}"), "").await;
    assert_eq!(released.status(), 204);
    let mut after_release = Vec::new();
    while let Some(piece) = host::read(&reader).await.expect("the body reads") {
        decoder.push(Bytes::from(piece));
        after_release.extend(drain(&mut decoder).expect("valid chunks"));
    }
    decoder.finish();
    after_release.extend(drain(&mut decoder).expect("valid chunks"));
    assert_eq!(after_release.concat(), "second third");
    let completion = decoder.into_completion().expect("a whole answer");
    assert_eq!(completion.text(), Some("first second third"));
}

#[wasm_bindgen_test]
async fn a_429_is_classified_and_its_retry_decided_with_the_hosts_clock() {
    let id = host::unique("core-retry");
    let url = format!("{}/retry/{id}/v1/chat/completions", host::server());
    let response = host::post(&url, &host::streamed_request("again")).await;
    let status = http::StatusCode::from_u16(response.status()).expect("a status");
    let headers = host::headers(&response);
    assert!(
        headers.contains_key("retry-after"),
        "retry-after is exposed to the page: {headers:?}"
    );
    let body = wasm_bindgen_futures::JsFuture::from(response.text().expect("a body"))
        .await
        .expect("the body reads")
        .as_string()
        .expect("text");
    let api = api_error(status, &headers, body.as_bytes());
    assert_eq!(api.kind(), ApiErrorKind::RateLimited);
    // `retry-after` is an HTTP date 2 s ahead (to the second): only a real clock gives a wait
    // of 1 to 2 s (the Unix epoch would give the policy's cap, a wrong clock anything).
    let decision = RetryPolicy::default().decide(0, &Failure::Response(&api), host::now(), 0.5);
    let RetryDecision::Retry { after } = decision else {
        panic!("a rate limit is retried: {decision:?}");
    };
    assert!(
        after > Duration::from_millis(900) && after <= Duration::from_millis(2100),
        "waits {after:?}"
    );
    host::sleep(after).await;
    let again = host::post(&url, &host::streamed_request("again")).await;
    assert_eq!(again.status(), 200);
    let reader = host::reader(&again);
    let mut decoder = StreamDecoder::new().accumulating();
    while let Some(piece) = host::read(&reader).await.expect("the body reads") {
        decoder.push(Bytes::from(piece));
        drain(&mut decoder).expect("valid chunks");
    }
    decoder.finish();
    drain(&mut decoder).expect("valid chunks");
    let completion = decoder.into_completion().expect("a whole answer");
    assert_eq!(completion.text(), Some("attempt 2: echo: again"));
}

#[wasm_bindgen_test]
async fn a_stream_cut_mid_event_is_an_error_not_a_shorter_answer() {
    let url = format!("{}/cut/v1/chat/completions", host::server());
    let response = host::post(&url, &host::streamed_request("cut")).await;
    let reader = host::reader(&response);
    let mut decoder = StreamDecoder::new().accumulating();
    let mut texts = Vec::new();
    while let Some(piece) = host::read(&reader).await.expect("the body reads") {
        decoder.push(Bytes::from(piece));
        texts.extend(drain(&mut decoder).expect("the first event is valid"));
    }
    assert_eq!(texts, ["cut "]);
    decoder.finish();
    let error = drain(&mut decoder)
        .err()
        .or_else(|| decoder.into_completion().err())
        .expect("a cut stream is an error");
    assert!(error.is_truncated(), "{error}");
}
