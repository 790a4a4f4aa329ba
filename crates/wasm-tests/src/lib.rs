//! The sans-IO core as a WebAssembly module that imports nothing: it runs in any wasm host
//! (wasmtime, wasmer, a plugin system, Node or a browser without wasm-bindgen's glue).
//! `cargo xtask wasm-test` builds it for `wasm32-unknown-unknown` and checks with Node that
//! `WebAssembly.Module.imports` is empty, then decodes a stream through it.
//!
//! The interface is three C functions over the module's memory:
//! - `gptproto_alloc(len) -> ptr`: a buffer of `len` bytes for the caller to fill;
//! - `gptproto_decode(ptr, len) -> ptr`: decodes the SSE body in the buffer (and frees it), and
//!   returns a result: a little-endian `u32` length, then that many bytes of JSON — `{"text":
//!   ..., "finish_reason": ...}` for a completion, `{"error": ...}` for a failure;
//! - `gptproto_free(ptr, len)`: frees a buffer (a result's is its length + 4).

use bytes::Bytes;
use gptproto_proto::{StreamDecoder, StreamItem};
use serde_json::json;

/// A buffer of `len` zero bytes, owned by the caller until it is given back.
#[unsafe(no_mangle)]
pub extern "C" fn gptproto_alloc(len: usize) -> *mut u8 {
    Box::into_raw(vec![0u8; len].into_boxed_slice()).cast::<u8>()
}

/// Frees a buffer from [`gptproto_alloc`] or [`gptproto_decode`].
///
/// # Safety
/// `ptr` and `len` are a buffer this module returned and nothing else freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gptproto_free(ptr: *mut u8, len: usize) {
    // SAFETY: the caller gives back a buffer of `len` bytes this module boxed.
    drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) });
}

/// Decodes the SSE body in the buffer (taking it back), into a length-prefixed JSON result.
///
/// # Safety
/// `ptr` and `len` are a buffer from [`gptproto_alloc`], not yet freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn gptproto_decode(ptr: *mut u8, len: usize) -> *mut u8 {
    // SAFETY: the caller hands back a buffer of `len` bytes from `gptproto_alloc`.
    let body = unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) };
    let result = decode(Bytes::from(body.into_vec())).to_string();
    let mut out = Vec::with_capacity(4 + result.len());
    let length = u32::try_from(result.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&length.to_le_bytes());
    out.extend_from_slice(result.as_bytes());
    Box::into_raw(out.into_boxed_slice()).cast::<u8>()
}

/// A whole SSE body through the stream decoder: the answer's text and finish reason, or the
/// error.
pub fn decode(body: Bytes) -> serde_json::Value {
    let mut decoder = StreamDecoder::new().accumulating();
    decoder.push(body);
    decoder.finish();
    loop {
        match decoder.poll_item() {
            Ok(Some(StreamItem::Done) | None) => break,
            Ok(Some(_)) => {}
            Err(error) => return json!({ "error": error.to_string() }),
        }
    }
    match decoder.into_completion() {
        Ok(completion) => json!({
            "text": completion.text().unwrap_or_default(),
            "finish_reason": completion.choices.first().and_then(|choice| choice.finish_reason.clone()),
        }),
        Err(error) => json!({ "error": error.to_string() }),
    }
}

// The exports' round trip, natively: what CI runs under Miri (the raw pointers and boxes of
// the C interface are this crate's only unsafe code).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    /// Calls the module as its host does: allocate, write the body, decode, read the
    /// length-prefixed result, free both buffers.
    fn call(body: &[u8]) -> serde_json::Value {
        let input = gptproto_alloc(body.len());
        // SAFETY: `input` is a fresh buffer of `body.len()` bytes; `gptproto_decode` takes it
        // back; the result is read within its length prefix and freed once.
        unsafe {
            std::ptr::copy_nonoverlapping(body.as_ptr(), input, body.len());
            let output = gptproto_decode(input, body.len());
            let mut length = [0u8; 4];
            std::ptr::copy_nonoverlapping(output, length.as_mut_ptr(), 4);
            let length = u32::from_le_bytes(length) as usize;
            let result = std::slice::from_raw_parts(output.add(4), length).to_vec();
            gptproto_free(output, 4 + length);
            serde_json::from_slice(&result).expect("the result is JSON")
        }
    }

    #[test]
    fn the_exports_decode_a_stream_and_report_errors() {
        let body = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";
        assert_eq!(
            call(body),
            json!({"text": "Hello", "finish_reason": "stop"})
        );
        let cut = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"He";
        assert!(
            call(cut)["error"].as_str().unwrap().contains("ended early"),
            "{}",
            call(cut)
        );
        assert!(call(b"")["error"].is_string());
        let empty = gptproto_alloc(0);
        // SAFETY: a buffer of 0 bytes from `gptproto_alloc`, freed once.
        unsafe { gptproto_free(empty, 0) };
    }
}
