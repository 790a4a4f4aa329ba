//! `cargo xtask conformance`: the client proven against output it did not write.
//!
//! - **offline**: every transcript of the corpus (`crates/proto/tests/transcripts/`) through the
//!   decoder and accumulator against its expected result, and the shared SSE conformance cases;
//! - **live**: the public client, the `gptproto` CLI and the examples that drive the core
//!   without tokio against a real llama.cpp server with a real model ([`LocalModel`]):
//!   `xtask/tests/live/`, one named check per behaviour.
//!
//! `--offline` or `--live` runs one half.

use crate::local_model::{DEMO_KEY, LocalModel};
use crate::workspace::{build_cli, cargo, run, target_dir};

/// `cargo xtask conformance [--offline | --live]`.
pub(crate) fn command(args: &[String]) -> Result<(), String> {
    let (offline, live) = match args {
        [] => (true, true),
        [flag] if flag == "--offline" => (true, false),
        [flag] if flag == "--live" => (false, true),
        _ => return Err("usage: cargo xtask conformance [--offline | --live]".to_owned()),
    };
    if offline {
        run_offline()?;
    }
    if live {
        run_live()?;
    }
    Ok(())
}

/// The transcript corpus and the shared SSE cases, through proto's decoder and accumulator.
fn run_offline() -> Result<(), String> {
    eprintln!("\nxtask: conformance, offline: the transcript corpus and the SSE cases");
    // `--workspace`: the workspace test build's features, so its artifacts are reused.
    run(cargo().args([
        "test",
        "--workspace",
        "--test",
        "transcripts",
        "--test",
        "sse_conformance",
    ]))
}

/// The live checks (`xtask/tests/live/`) against one local model server.
fn run_live() -> Result<(), String> {
    eprintln!(
        "\nxtask: conformance, live: the client, the CLI and the examples against the local model"
    );
    let cli = build_cli()?;
    // Built before the server starts, so compiling does not eat into the server's time; the
    // examples' binaries with their integration test (the build `cargo xtask test` made).
    run(cargo().args([
        "test",
        "--workspace",
        "--test",
        "live",
        "--test",
        "programs",
        "--no-run",
        "--quiet",
    ]))?;
    let examples = target_dir().join("debug");
    let server = LocalModel::start(None, DEMO_KEY)?;
    let checks = run(cargo()
        .args(["test", "--workspace", "--test", "live", "--quiet"])
        .env("GPTPROTO_CONFORMANCE_BASE_URL", server.base_url())
        .env("GPTPROTO_CONFORMANCE_KEY", DEMO_KEY)
        .env("GPTPROTO_CONFORMANCE_CLI", &cli)
        .env("GPTPROTO_CONFORMANCE_EXAMPLES", &examples));
    drop(server);
    checks
}
