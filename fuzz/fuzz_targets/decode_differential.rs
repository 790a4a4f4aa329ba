//! The fast decoders against serde_json on the same bytes: the chunk decoder
//! (`ChatCompletionChunk::from_json`) must accept exactly what serde_json's derived decoder
//! accepts and give an equal chunk; the completion decoder (what `classify_response` reads a
//! 2xx JSON body with, before its slow path through a `serde_json::Value`) must give what
//! serde_json gives through a `Value` (where a repeated key is the last one's, as servers'
//! JSON is read everywhere else), and fail only where that fails.
//!
//! The input is the JSON text (any bytes; invalid UTF-8 is replaced, as a body would be
//! rejected). serde_json limits nesting to 128 from the document's root, while the fast
//! decoders hand unknown values to serde_json from their own root: inputs nested that deep are
//! out of this comparison (the fast decoders' own depth limit is fuzzed by `sse_split`).
#![no_main]

use gptproto_proto::Text;
use gptproto_proto::exchange::classify_response;
use gptproto_proto::wire::{ChatCompletion, ChatCompletionChunk};
use http::{HeaderMap, HeaderValue, StatusCode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|raw: &[u8]| {
    let text = String::from_utf8_lossy(raw);
    if text.bytes().filter(|&b| b == b'[' || b == b'{').count() > 100 {
        return;
    }

    let fast = ChatCompletionChunk::from_json(&Text::from(text.as_ref()));
    let serde = serde_json::from_str::<ChatCompletionChunk>(&text);
    match (fast, serde) {
        (Ok(fast), Ok(serde)) => assert_eq!(fast, serde, "the chunk decoders differ"),
        (Err(_), Err(_)) => {}
        (fast, serde) => panic!("chunk: fast {fast:?} but serde {serde:?}"),
    }

    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let classified = classify_response(StatusCode::OK, &headers, text.as_bytes());
    let serde = serde_json::from_str::<serde_json::Value>(text.trim_start())
        .and_then(serde_json::from_value::<ChatCompletion>);
    match (classified, serde) {
        (Ok(fast), Ok(serde)) => assert_eq!(fast, serde, "the completion decoders differ"),
        // An error object in a 200 is the server's error, whatever serde makes of it.
        (Err(error), _) if error.is_api() => {}
        (Err(error), Err(_)) => assert!(error.is_protocol(), "{error}"),
        (classified, serde) => panic!("completion: classified {classified:?} but serde {serde:?}"),
    }
});
