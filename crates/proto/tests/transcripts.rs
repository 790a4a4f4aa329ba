//! The transcript corpus: one recorded-style stream per provider behaviour (`tests/transcripts/
//! *.sse`), each with the result a user should get (`*.expected.json`): the accumulated
//! completion, or the error. Every transcript is decoded whole, in pieces of several sizes
//! (1 byte up), through owned chunks and through views; all must give the expected result.
//!
//! After a deliberate change, `UPDATE_TRANSCRIPTS=1 cargo test --test transcripts` rewrites the
//! expected results; review the diff like code.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use gptproto_proto::{Error, ErrorKind, StreamDecoder, StreamItem, ViewItem};
use serde_json::{Value, json};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts")
}

/// The result of decoding `pieces`, as JSON.
fn decode(pieces: &[Bytes], views: bool) -> Value {
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

fn describe(error: &Error) -> Value {
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

fn pieces(body: &Bytes, size: usize) -> Vec<Bytes> {
    (0..body.len())
        .step_by(size.max(1))
        .map(|start| body.slice(start..(start + size).min(body.len())))
        .collect()
}

fn check(path: &Path) -> Result<(), String> {
    let body = Bytes::from(std::fs::read(path).unwrap());
    let whole = decode(std::slice::from_ref(&body), false);
    for size in [1, 2, 3, 7, 64, 500] {
        for views in [false, true] {
            let got = decode(&pieces(&body, size), views);
            if got != whole {
                return Err(format!(
                    "pieces of {size} bytes (views: {views}) give\n{got:#}\nbut whole gives\n{whole:#}"
                ));
            }
        }
    }
    let expected_path = path.with_extension("expected.json");
    let mut expected: Value =
        serde_json::from_str(&std::fs::read_to_string(&expected_path).unwrap()).unwrap();
    if std::env::var_os("UPDATE_TRANSCRIPTS").is_some() {
        expected["result"] = whole;
        let text = serde_json::to_string_pretty(&expected).unwrap() + "\n";
        std::fs::write(&expected_path, text).unwrap();
        return Ok(());
    }
    if expected["result"] != whole {
        return Err(format!(
            "expected\n{:#}\ngot\n{whole:#}",
            expected["result"]
        ));
    }
    Ok(())
}

#[test]
fn every_transcript_gives_its_expected_result_however_it_is_split() {
    let mut names: Vec<PathBuf> = std::fs::read_dir(corpus())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sse"))
        .collect();
    names.sort();
    assert!(
        names.len() >= 26,
        "the corpus has {} transcripts",
        names.len()
    );
    let failures: Vec<String> = names
        .iter()
        .filter_map(|path| {
            check(path)
                .err()
                .map(|why| format!("{}: {why}", path.file_name().unwrap().to_string_lossy()))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_transcript_has_an_expected_result_and_a_behaviour() {
    for entry in std::fs::read_dir(corpus()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "sse") {
            let expected: Value = serde_json::from_str(
                &std::fs::read_to_string(path.with_extension("expected.json")).unwrap(),
            )
            .unwrap();
            assert!(expected["behaviour"].is_string(), "{}", path.display());
            assert!(
                expected["result"].is_object() || std::env::var_os("UPDATE_TRANSCRIPTS").is_some(),
                "{} has no expected result",
                path.display()
            );
        }
    }
}
