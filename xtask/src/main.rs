//! Project automation: `cargo xtask <command>`.
//!
//! - `test`: the whole test suite, as CI runs it (the README's test command).
//! - `invariants`: the architecture and tidy invariants alone.

mod invariants;

use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("test") => test(),
        Some("invariants") => invariants::check_all(),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\ncommands:\n  test        run every test (what CI runs)\n  invariants  check the architecture and tidy invariants"
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
