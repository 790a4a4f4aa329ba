//! Project automation: `cargo xtask <command>`.
//!
//! - `test`: the whole test suite, as CI runs it (the README's test command).
//! - `invariants`: the architecture and tidy invariants alone.
//! - `local-model [--port P]`: a real llama.cpp server with a small chat model on loopback.
//! - `demo`: the `gptproto` CLI streaming an answer from that server (the README's main command).
//! - `codegen [--check]`: the request's JSON Schema and the spec-coverage report in `docs/`.
//! - `public-api [--check]`: each published library's public API, one item a line, in
//!   `docs/api/` (rustdoc JSON from the nightly toolchain).
//! - `wasm-test [--node-only]`: gptproto on wasm32 under Node and headless Chromium.
//! - `browser-demo [--check]`: `examples/browser/`'s page streaming from the local model (with
//!   `--check`, driven by headless Chromium, a screenshot saved).
//! - `plot-batch RPM TPM`: `docs/batch.png` from the batch benchmark's series (matplotlib).
//! - `bench-cli [--quick]`: the `gptproto` command as whole processes (release build) against a
//!   raw read and async-openai, for 1, 1,000 and 100,000 chunks (`crates/bench/benches/cli`);
//!   `--quick` runs a few rounds.
//! - `soak [--minutes M]`: the client over TLS, HTTP/1.1 and HTTP/2, with faults mixed in, for M
//!   minutes (2 by default), memory, descriptors, tasks and connections sampled
//!   (`crates/soak`).
//! - `adversarial`: hostile servers (endless, trickling, huge heads, 1 GiB bodies, 64 MiB lines,
//!   deep JSON, gzip) against the client, each measured in a child process (release build).
//! - `fuzz --pack`: the hash-named inputs of `fuzz/corpus/<target>/` moved into its archive.
//! - `fuzz [--minutes M] [--runs N] [--targets a,b] [--sanitizer address|none] [--minimize]`:
//!   every fuzz target, then a table of libFuzzer's figures (nightly, cargo-fuzz).
//! - `conformance [--offline | --live]`: the transcript corpus, then the client and the CLI
//!   against that server.

mod browser;
mod codegen;
mod conformance;
mod cycles;
mod fuzz;
mod invariants;
mod local_model;
mod plot;
mod public_api;
mod roots;
mod wasm;
mod webdriver;
mod workspace;

use std::process::{Command, ExitCode};

use workspace::{build_cli, cargo, run, shown};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("invariants") => invariants::check_all(),
        Some("local-model") => local_model_command(&args[1..]),
        Some("demo") => demo(),
        Some("conformance") => conformance::command(&args[1..]),
        Some("codegen") => codegen::command(&args[1..]),
        Some("public-api") => public_api::command(&args[1..]),
        Some("wasm-test") => wasm::command(&args[1..]),
        Some("browser-demo") => browser::command(&args[1..]),
        Some("plot-batch") => plot::command(&args[1..]),
        Some("fuzz") if args.get(1).is_some_and(|arg| arg == "--pack") => fuzz::pack_folders(),
        Some("fuzz") => fuzz::command(&args[1..]),
        Some("soak") => soak(&args[1..]),
        Some("bench-cli") => bench_cli(&args[1..]),
        Some("adversarial") => run(cargo().args([
            "run",
            "--release",
            "--quiet",
            "-p",
            "gptproto-soak",
            "--bin",
            "adversarial",
        ])),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\ncommands:\n  test                    run every test (what CI runs)\n  invariants              check the architecture and tidy invariants\n  local-model [--port P]  run a local llama.cpp model server until Ctrl-C\n  demo                    the gptproto CLI streaming a chat from the local model\n  conformance [--offline | --live]\n                          the transcript corpus; the client and CLI against the local model\n  codegen [--check]       regenerate (or check) the generated files in docs/
  public-api [--check]    the published libraries' public API listings in docs/api/ (nightly)
  wasm-test [--node-only] the wasm32 tests under Node and headless Chromium
  browser-demo [--check]  the wasm client in a page, streaming from the local model
  plot-batch RPM TPM      docs/batch.png from the batch benchmark's series
  fuzz --pack             the hash-named corpus inputs moved into each target's archive
  fuzz [--minutes M] [--runs N] [--targets a,b] [--sanitizer address|none] [--minimize]
                          every fuzz target in turn, then its figures (nightly)
  bench-cli [--quick]     the gptproto command, whole processes, against a raw read and async-openai
  soak [--minutes M]      the client under faults for M minutes (2), its resources sampled
  adversarial             hostile servers against the client: outcome, peak RSS, CPU (release)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Every test of the workspace, the exhaustive ones included, then the doc tests.
fn test() -> Result<(), String> {
    invariants::check_all()?;
    run(cargo().args([
        "test",
        "--workspace",
        "--all-targets",
        "--",
        "--include-ignored",
    ]))?;
    run(cargo().args(["test", "--workspace", "--doc"]))?;
    Ok(())
}

/// `cargo xtask bench-cli [--quick]`: the release binary built, then the whole-process
/// benchmark of the command (its figures go in docs/performance.md).
fn bench_cli(args: &[String]) -> Result<(), String> {
    let quick = match args {
        [] => false,
        [flag] if flag == "--quick" => true,
        _ => return Err("usage: cargo xtask bench-cli [--quick]".to_owned()),
    };
    run(cargo().args(["build", "--release", "--quiet", "-p", "gptproto-cli"]))?;
    let mut bench = cargo();
    bench.args(["bench", "--quiet", "-p", "gptproto-bench", "--bench", "cli"]);
    if quick {
        bench.env("BENCH_ROUNDS", "5");
    }
    run(&mut bench)
}

/// `cargo xtask soak [--minutes M]`: the soak run (`crates/soak`), built as the tests build it.
fn soak(args: &[String]) -> Result<(), String> {
    let minutes = match args {
        [] => "2".to_owned(),
        [flag, minutes] if flag == "--minutes" => minutes.clone(),
        _ => return Err("usage: cargo xtask soak [--minutes M]".to_owned()),
    };
    run(cargo()
        .args(["run", "--quiet", "-p", "gptproto-soak", "--", "--minutes"])
        .arg(minutes))
}

/// `cargo xtask local-model [--port P]`: runs the server until Ctrl-C (which stops both).
fn local_model_command(args: &[String]) -> Result<(), String> {
    let port = match args {
        [] => None,
        [flag, port] if flag == "--port" => Some(
            port.parse()
                .map_err(|_| format!("--port {port}: not a port number"))?,
        ),
        _ => return Err("usage: cargo xtask local-model [--port P]".to_owned()),
    };
    let server = local_model::LocalModel::start(port, local_model::DEMO_KEY)?;
    println!("base URL: {}", server.base_url());
    println!("API key:  {}", local_model::DEMO_KEY);
    println!(
        "try:      cargo run -q -p gptproto-cli -- chat --base-url {} --api-key {} \"who are you?\"",
        server.base_url(),
        local_model::DEMO_KEY
    );
    println!("(Ctrl-C stops the server)");
    server.wait()
}

/// `cargo xtask demo`: the CLI streaming an answer from the local model, then the same
/// question answered as one JSON document with its usage; the server is stopped after.
fn demo() -> Result<(), String> {
    let cli = build_cli()?;
    let server = local_model::LocalModel::start(None, local_model::DEMO_KEY)?;
    let base_url = server.base_url();
    let chat = |extra: &[&str]| -> Result<(), String> {
        let mut args = vec![
            "chat",
            "--base-url",
            &base_url,
            "--api-key",
            local_model::DEMO_KEY,
            "--max-tokens",
            "256",
        ];
        args.extend_from_slice(extra);
        args.push("who are you?");
        eprintln!("\n$ gptproto {}", shown(&args));
        let status = Command::new(&cli)
            .args(&args)
            .env_remove("GPTPROTO_API_KEY")
            .env_remove("GPTPROTO_BASE_URL")
            .env_remove("GPTPROTO_MODEL")
            .status()
            .map_err(|error| format!("cannot run {}: {error}", cli.display()))?;
        println!();
        if status.success() {
            Ok(())
        } else {
            Err(format!("the CLI failed: {status}"))
        }
    };
    chat(&[])?;
    chat(&[
        "--json",
        "--extra",
        r#"{"stream_options":{"include_usage":true}}"#,
    ])?;
    drop(server);
    eprintln!("xtask: demo done; the local model server is stopped");
    Ok(())
}
