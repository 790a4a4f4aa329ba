//! Running the `gptproto` binary as a test does: a clean environment, no input, a deadline.

use std::ffi::OsStr;
use std::process::Stdio;
use std::time::Duration;

/// What a run of the binary left behind.
#[derive(Debug)]
pub(crate) struct Run {
    pub(crate) status: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

/// `gptproto ARGS` with only PATH and `env` in its environment and nothing on stdin; the
/// transcript is printed (shown with `--nocapture`).
pub(crate) async fn gptproto(args: &[&str], env: &[(&str, &OsStr)]) -> Run {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gptproto"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("the binary finishes")
        .expect("the binary runs");
    let run = Run {
        status: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    println!(
        "$ gptproto {}\n[exit {}]\n{}{}",
        args.join(" "),
        run.status,
        run.stdout,
        run.stderr
    );
    run
}
