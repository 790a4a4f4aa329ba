//! Project automation: `cargo xtask <command>`.
//!
//! - `test`: the whole test suite, as CI runs it (the README's test command).
//! - `invariants`: the architecture and tidy invariants alone.
//! - `local-model [--port P]`: a real llama.cpp server with a small chat model on loopback.
//! - `demo`: the `gptproto` CLI streaming an answer from that server (the README's main command).
//! - `codegen [--check]`: the request's JSON Schema and the spec-coverage report in `docs/`.
//! - `conformance [--offline | --live]`: the transcript corpus, then the client and the CLI
//!   against that server.

mod codegen;
mod conformance;
mod invariants;
mod local_model;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("invariants") => invariants::check_all(),
        Some("local-model") => local_model_command(&args[1..]),
        Some("demo") => demo(),
        Some("conformance") => conformance::command(&args[1..]),
        Some("codegen") => codegen::command(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\ncommands:\n  test                    run every test (what CI runs)\n  invariants              check the architecture and tidy invariants\n  local-model [--port P]  run a local llama.cpp model server until Ctrl-C\n  demo                    the gptproto CLI streaming a chat from the local model\n  conformance [--offline | --live]\n                          the transcript corpus; the client and CLI against the local model\n  codegen [--check]       regenerate (or check) the generated files in docs/"
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
    run(cargo().args(["build", "--quiet", "-p", "gptproto-cli"]))?;
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
        let mut command = cargo();
        command
            .args(["run", "--quiet", "-p", "gptproto-cli", "--"])
            .args(&args)
            .env_remove("GPTPROTO_API_KEY")
            .env_remove("GPTPROTO_BASE_URL")
            .env_remove("GPTPROTO_MODEL");
        let status = command
            .status()
            .map_err(|error| format!("cannot run the CLI: {error}"))?;
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

/// Arguments as a shell would need them.
fn shown(args: &[&str]) -> String {
    args.iter()
        .map(|arg| {
            if arg.contains([' ', '"', '{', '?']) {
                format!("'{arg}'")
            } else {
                (*arg).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    command.current_dir(project_root());
    command
}

pub(crate) fn run(command: &mut Command) -> Result<(), String> {
    eprintln!("xtask: running {command:?}");
    let status = command
        .status()
        .map_err(|error| format!("cannot run {command:?}: {error}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{command:?} failed: {status}"))
    }
}

pub(crate) fn project_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace root")
        .to_path_buf()
}
