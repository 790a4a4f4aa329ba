//! Lists the transcript corpus (crates/proto/tests/transcripts) for the wasm32 tests, which have
//! no file system: `$OUT_DIR/corpus.rs` holds each transcript and its expected result, compiled
//! in.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let corpus = manifest.join("../proto/tests/transcripts");
    println!("cargo::rerun-if-changed={}", corpus.display());
    let mut names: Vec<PathBuf> = std::fs::read_dir(&corpus)
        .unwrap_or_else(|error| panic!("{}: {error}", corpus.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sse"))
        .collect();
    names.sort();
    let mut out = String::from(
        "/// Each transcript: its name, its SSE body and its `*.expected.json`.\n\
         pub const CORPUS: &[(&str, &[u8], &str)] = &[\n",
    );
    for path in &names {
        let expected = path.with_extension("expected.json");
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("a UTF-8 name");
        writeln!(
            out,
            "    ({name:?}, include_bytes!({:?}), include_str!({:?})),",
            path.canonicalize().expect("the transcript exists"),
            expected
                .canonicalize()
                .expect("every transcript has an expected result"),
        )
        .expect("writing to a String");
    }
    out.push_str("];\n");
    let target = PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("corpus.rs");
    std::fs::write(&target, out).expect("write the corpus list");
}
