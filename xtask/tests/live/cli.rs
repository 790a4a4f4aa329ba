//! The `gptproto` CLI as scripts use it, against the same server.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::{MODEL, PIXEL_PNG, Report, clip, ensure};

/// The `gptproto` CLI as scripts use it.
pub(crate) fn cli_checks(cli: &Path, base_url: &str, key: &str, report: &mut Report) {
    let chat = |args: &[&str]| -> Result<(Option<i32>, String, String), String> {
        let output = Command::new(cli)
            .arg("chat")
            .args(["--base-url", base_url, "--model", MODEL])
            .args(args)
            .env_remove("GPTPROTO_API_KEY")
            .env_remove("GPTPROTO_BASE_URL")
            .env_remove("GPTPROTO_MODEL")
            .output()
            .map_err(|error| format!("cannot run {}: {error}", cli.display()))?;
        Ok((
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        ))
    };
    let key = ["--api-key", key];

    report.check_now("cli: streamed text", || {
        let (status, stdout, stderr) =
            chat(&[&key[..], &["--max-tokens", "24", "Who are you?"]].concat())?;
        ensure(status == Some(0) && !stdout.trim().is_empty(), || {
            format!("exit {status:?}, stdout {stdout:?}, stderr {stderr:?}")
        })?;
        Ok(format!("exit 0: {:?}", clip(stdout.trim())))
    });

    report.check_now("cli: --json -n 2", || {
        let mut results = Vec::new();
        for extra in [&[][..], &["--no-stream"][..]] {
            let args = [
                &key[..],
                &["--json", "-n", "2", "--max-tokens", "8"],
                extra,
                &["Hi"],
            ]
            .concat();
            let (status, stdout, stderr) = chat(&args)?;
            ensure(status == Some(0), || format!("exit {status:?}: {stderr}"))?;
            let json: Value = serde_json::from_str(&stdout).map_err(|error| {
                format!("stdout is not one JSON document ({error}): {stdout:?}")
            })?;
            let choices = json["choices"].as_array().map_or(0, Vec::len);
            ensure(
                json["object"] == "chat.completion"
                    && choices == 2
                    && json["usage"]["completion_tokens"].is_u64(),
                || format!("not a complete chat.completion: {stdout}"),
            )?;
            results.push(json["usage"]["completion_tokens"].clone());
        }
        Ok(format!(
            "chat.completion with 2 choices and usage, streamed and not ({} / {} tokens)",
            results[0], results[1]
        ))
    });

    report.check_now("cli: --stop", || {
        let args = [
            &key[..],
            &[
                "--stop",
                "e",
                "--temperature",
                "0",
                "--max-tokens",
                "64",
                "Write a sentence about the sea.",
            ],
        ]
        .concat();
        let (status, stdout, stderr) = chat(&args)?;
        ensure(status == Some(0) && !stdout.contains('e'), || {
            format!("exit {status:?}, stdout {stdout:?}, stderr {stderr:?}")
        })?;
        Ok(format!("exit 0, stopped: {:?}", stdout.trim()))
    });

    report.check_now("cli: models", || {
        let output = Command::new(cli)
            .args(["models", "--base-url", base_url])
            .args(key)
            .env_remove("GPTPROTO_API_KEY")
            .env_remove("GPTPROTO_BASE_URL")
            .output()
            .map_err(|error| format!("cannot run {}: {error}", cli.display()))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        ensure(
            output.status.code() == Some(0) && !stdout.trim().is_empty(),
            || format!("exit {:?}, stdout {stdout:?}", output.status.code()),
        )?;
        Ok(format!("exit 0: {}", stdout.trim().replace('\n', ", ")))
    });

    report.check_now("cli: wrong key exits 3", || {
        let (status, stdout, stderr) = chat(&["--api-key", "sk-wrong", "hi"])?;
        ensure(status == Some(3) && stdout.is_empty(), || {
            format!("exit {status:?}, stdout {stdout:?}, stderr {stderr:?}")
        })?;
        ensure(
            stderr.contains("401") && !stderr.contains("sk-wrong"),
            || format!("stderr {stderr:?}"),
        )?;
        Ok(format!("exit 3: {}", stderr.trim()))
    });

    report.check_now("cli: image to a text-only model", || {
        let image =
            std::env::temp_dir().join(format!("gptproto-conformance-{}.png", std::process::id()));
        std::fs::write(&image, PIXEL_PNG)
            .map_err(|error| format!("cannot write {}: {error}", image.display()))?;
        let image = image.to_string_lossy();
        let args = [
            &key[..],
            &["--image", &image, "--max-retries", "0", "What is this?"],
        ]
        .concat();
        let (status, _, stderr) = chat(&args)?;
        ensure(
            status == Some(5) && stderr.contains("image input is not supported"),
            || format!("exit {status:?}, stderr {stderr:?}"),
        )?;
        Ok(format!("exit 5: {}", clip(stderr.trim())))
    });

    report.check_now("cli: --fallback PROFILE:MODEL past a provider down", || {
        // The command's provider is a port nothing listens on; the profile's is the real one.
        let down = format!("http://127.0.0.1:{}/v1", crate::closed_port()?);
        let dir =
            std::env::temp_dir().join(format!("gptproto-live-fallback-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|error| format!("{}: {error}", dir.display()))?;
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!("[profiles.local]\nbase-url = \"{base_url}\"\napi-key-env = \"LIVE_KEY\"\n"),
        )
        .map_err(|error| format!("{}: {error}", config.display()))?;
        let output = Command::new(cli)
            .args(["chat", "--no-log", "--base-url", &down, "--api-key", "sk-x"])
            .args([
                "--model",
                "missing-model",
                "--max-retries",
                "0",
                "-u",
                "--max-tokens",
                "8",
            ])
            .args(["--fallback", &format!("local:{MODEL}"), "Who are you?"])
            .env_remove("GPTPROTO_API_KEY")
            .env_remove("GPTPROTO_BASE_URL")
            .env_remove("GPTPROTO_PROFILE")
            .env("GPTPROTO_CONFIG", &config)
            .env("LIVE_KEY", key[1])
            .output()
            .map_err(|error| format!("cannot run {}: {error}", cli.display()))?;
        let _ = std::fs::remove_dir_all(&dir);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
        );
        ensure(
            output.status.code() == Some(0)
                && !stdout.trim().is_empty()
                // (llama.cpp names the model it loaded: its file.)
                && stderr.contains("; answered by "),
            || {
                format!(
                    "exit {:?}, stdout {stdout:?}, stderr {stderr:?}",
                    output.status.code()
                )
            },
        )?;
        Ok(format!("exit 0, {}", clip(stderr.trim())))
    });
}
