//! Decoding a transcript into the JSON result its `*.expected.json` records: the accumulated
//! completion, or the error described. Shared by the native corpus test (`tests/transcripts.rs`)
//! and the wasm32 one (`crates/wasm-tests`), so that both compare the same thing.

use bytes::Bytes;
use gptproto_proto::{Error, ErrorKind, StreamDecoder, StreamItem, ViewItem};
use serde_json::{Value, json};

/// The result of decoding `pieces`, as JSON.
pub(crate) fn decode(pieces: &[Bytes], views: bool) -> Value {
    let mut decoder = StreamDecoder::new().accumulating();
    let mut items = 0usize;
    let mut failed = false;
    let mut drain = |decoder: &mut StreamDecoder| loop {
        if failed {
            return;
        }
        let more = if views {
            match decoder.poll_view() {
                Ok(Some(ViewItem::Chunk(_) | ViewItem::Done)) => true,
                Ok(Some(_)) => true,
                Ok(None) => false,
                Err(_) => {
                    failed = true;
                    false
                }
            }
        } else {
            match decoder.poll_item() {
                Ok(Some(StreamItem::Chunk(_) | StreamItem::Done)) => true,
                Ok(Some(_)) => true,
                Ok(None) => false,
                Err(_) => {
                    failed = true;
                    false
                }
            }
        };
        if !more {
            return;
        }
        items += 1;
    };
    for piece in pieces {
        decoder.push(piece.clone());
        drain(&mut decoder);
    }
    decoder.finish();
    drain(&mut decoder);
    match decoder.into_completion() {
        Ok(completion) => json!({ "completion": completion }),
        Err(error) => json!({ "error": describe(&error) }),
    }
}

pub(crate) fn describe(error: &Error) -> Value {
    let mut out = json!({ "display": error.to_string() });
    match error.kind() {
        ErrorKind::Truncated { partial, chunks } => {
            out["kind"] = json!("truncated");
            out["chunks"] = json!(chunks);
            out["partial"] = json!(partial);
        }
        ErrorKind::Api(api) => {
            out["kind"] = json!("api");
            out["status"] = json!(api.status().map(|s| s.as_u16()));
            out["class"] = json!(format!("{:?}", api.kind()));
            out["message"] = json!(api.message());
            out["code"] = json!(api.code());
            out["type"] = json!(api.error_type());
        }
        ErrorKind::InvalidStreamData { .. } => out["kind"] = json!("invalid_stream_data"),
        other => out["kind"] = json!(format!("{other:?}")),
    }
    out
}

pub(crate) fn pieces(body: &Bytes, size: usize) -> Vec<Bytes> {
    (0..body.len())
        .step_by(size.max(1))
        .map(|start| body.slice(start..(start + size).min(body.len())))
        .collect()
}
