//! The transcript corpus: one recorded-style stream per provider behaviour (`tests/transcripts/
//! *.sse`), each with the result a user should get (`*.expected.json`): the accumulated
//! completion, or the error. Every transcript is decoded whole, in pieces of several sizes
//! (1 byte up), through owned chunks and through views; all must give the expected result.
//!
//! After a deliberate change, `UPDATE_TRANSCRIPTS=1 cargo test --test transcripts` rewrites the
//! expected results; review the diff like code.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde_json::Value;

// Shared with the wasm32 tests (crates/wasm-tests), which decode the same corpus in a browser.
#[path = "support/transcript.rs"]
mod transcript;
use transcript::{decode, pieces};

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts")
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
