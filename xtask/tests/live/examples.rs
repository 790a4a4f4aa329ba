//! The examples that drive the sans-IO core without tokio (`examples/src/bin/`), as programs
//! against the same server: each must stream an answer and report its usage.

use std::path::Path;
use std::process::Command;

use crate::{MODEL, Report, clip, ensure};

/// `blocking` (std::net) and `smol`, from the directory `cargo` built them in.
pub(crate) fn example_checks(directory: &Path, base_url: &str, key: &str, report: &mut Report) {
    for (name, program) in [
        ("examples: blocking (std::net)", "blocking"),
        ("examples: smol", "smol"),
    ] {
        report.check_now(name, || {
            let program = directory.join(format!("{program}{}", std::env::consts::EXE_SUFFIX));
            let output = Command::new(&program)
                .arg(base_url)
                .arg("Name three colours.")
                .env("GPTPROTO_API_KEY", key)
                .env("GPTPROTO_MODEL", MODEL)
                .output()
                .map_err(|error| format!("cannot run {}: {error}", program.display()))?;
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            // The usage line: the stream ended with `[DONE]` after a usage chunk.
            let tokens = stderr.lines().find_map(|line| {
                line.strip_suffix(" tokens")?
                    .rsplit(' ')
                    .next()?
                    .parse::<u64>()
                    .ok()
            });
            ensure(
                output.status.success() && !stdout.trim().is_empty() && tokens.is_some(),
                || format!("{}: stdout {stdout:?}, stderr {stderr:?}", output.status),
            )?;
            Ok(format!(
                "exit 0, {} tokens: {:?}",
                tokens.unwrap_or_default(),
                clip(stdout.trim())
            ))
        });
    }
}
