//! The batch benchmarks (`cargo bench -p gptproto-bench --bench batch`):
//!
//! - **pacing**: 5,000 requests against the test kit's rate-limited API (limits enforced per
//!   second, latency 50–500 ms), whose limits need at least W_min ≈ 60 s; the wall time over
//!   W_min and the share answered 429, with the limits given, told by the headers, and probed
//!   without headers. Each run's requests and tokens per second go to
//!   `target/bench-batch/<scenario>-<run>.csv` (the plot in docs/batch.png is drawn from them).
//! - **overhead**: `gptproto batch` (the release binary, as a process) over 1,000,000 generated
//!   lines against an unlimited, instant loopback server: requests per second and the peak RSS.
//!
//! `BENCH_ONLY=given|headers|probed|overhead` runs one; `BENCH_RUNS=n` (3) the runs of each.
//! Under `cargo test --benches` (no `--bench` argument) each runs once, small (100 requests in
//! about a second, 2,000 lines through the debug binary), as a smoke test.

// The client benchmarks' lean server (only its JSON answer is used here).
#[path = "../client/server.rs"]
#[allow(
    dead_code,
    reason = "the streaming scripts and TLS serve the client benchmarks"
)]
mod server;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gptproto::{ChatRequest, Client, Proxy};
use gptproto_testkit::{LimitedApi, Limits};

/// Measuring (`cargo bench`), or a smoke test (`cargo test --benches`).
fn measuring() -> bool {
    std::env::args().any(|arg| arg == "--bench")
}

/// The pacing runs' size: (requests, requests per minute): 60 s, or 1 s as a smoke test.
fn pacing_size() -> (usize, u64) {
    if measuring() {
        (5_000, 5_000)
    } else {
        (100, 6_000)
    }
}
/// The prompt of request `i`: about 200 characters.
fn prompt(i: usize) -> String {
    format!(
        "req-{i}: {}",
        "Label this support ticket by its topic. ".repeat(5)
    )
}
const MAX_TOKENS: u32 = 100;

fn main() {
    let only = std::env::var("BENCH_ONLY").ok();
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(if measuring() { 3 } else { 1 });
    let (requests, rpm) = pacing_size();
    let wanted = |name: &str| only.as_deref().is_none_or(|only| only == name);
    let out = target_dir().join("bench-batch");
    std::fs::create_dir_all(&out).expect("target/bench-batch");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    // The tokens per minute that make tokens bind as hard as requests: the server's charge of
    // the 5,000 requests, spread over 60 s.
    let tokens: u64 = (0..requests)
        .map(|i| {
            let body = serde_json::json!({"messages": [{"role": "user", "content": prompt(i)}]});
            gptproto_testkit::server_prompt_tokens(&body) + u64::from(MAX_TOKENS)
        })
        .sum();
    let tpm = tokens * rpm / requests as u64;
    println!(
        "Pacing: {requests} requests (prompts of ~200 characters, max_tokens {MAX_TOKENS}), server limits {rpm} RPM and {tpm} TPM enforced per second, latency 50-500 ms; W_min = max(requests / RPM, tokens / TPM) = {:.1} s",
        requests as f64 / (rpm as f64 / 60.0)
    );
    println!(
        "{:<40} {:>10} {:>10} {:>8} {:>10}",
        "scenario", "wall", "W / W_min", "429s", "429 share"
    );
    for (name, given, headers) in [
        ("given", true, true),
        ("headers", false, true),
        ("probed", false, false),
    ] {
        if !wanted(name) {
            continue;
        }
        let mut ratios = Vec::new();
        for run in 1..=runs {
            let (wall, w_min, rejected) = runtime.block_on(pacing(
                given,
                headers,
                rpm,
                tpm,
                &out.join(format!("{name}-{run}.csv")),
            ));
            let ratio = wall / w_min;
            ratios.push(ratio);
            println!(
                "{:<40} {:>9.1}s {:>10.3} {:>8} {:>9.2}%",
                format!("{name} (run {run})"),
                wall,
                ratio,
                rejected,
                rejected as f64 / requests as f64 * 100.0
            );
        }
        ratios.sort_by(f64::total_cmp);
        println!(
            "{:<40} {:>10} {:>10.3}",
            format!("{name}: median"),
            "",
            ratios[ratios.len() / 2]
        );
    }
    if wanted("overhead") {
        overhead(&out, runs);
    }
}

/// One pacing run: (wall seconds, W_min seconds, 429s).
async fn pacing(given: bool, headers: bool, rpm: u64, tpm: u64, csv: &Path) -> (f64, f64, u64) {
    let (requests, _) = pacing_size();
    let (server, api) = LimitedApi::serve(Limits {
        requests_per_minute: rpm,
        tokens_per_minute: tpm,
        headers,
        latency: (Duration::from_millis(50), Duration::from_millis(500)),
        completion_tokens: 20,
        ..Limits::default()
    })
    .await;
    let client = Client::builder()
        .ignore_env()
        .base_url(server.base_url())
        .api_key("sk-bench")
        .proxy(Proxy::none())
        .build()
        .expect("a client");
    let mut batch = client.batch().max_retries(50);
    if given {
        batch = batch.requests_per_minute(rpm).tokens_per_minute(tpm);
    }
    let inputs = (0..requests).map(|i| {
        let request = ChatRequest::new("qwen-turbo")
            .user(prompt(i))
            .max_tokens(MAX_TOKENS);
        (format!("req-{i}"), request)
    });
    let started = Instant::now();
    let mut results = batch.run_iter(inputs);
    let mut failed = 0;
    while let Some(result) = results.next().await {
        if result.outcome.is_err() {
            failed += 1;
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let served = api.served();
    assert_eq!(failed, 0, "every request answered");
    assert_eq!(served.answered.len(), requests);
    let charged: u64 = served.admitted.iter().map(|(_, tokens)| tokens).sum();
    let w_min = (requests as f64 / (rpm as f64 / 60.0)).max(charged as f64 / (tpm as f64 / 60.0));
    write_series(csv, &served.admitted);
    (wall, w_min, served.rate_limited)
}

/// Requests and tokens admitted per second: `second,requests,tokens`.
fn write_series(path: &Path, admitted: &[(f64, u64)]) {
    let seconds = admitted
        .iter()
        .map(|(at, _)| *at)
        .fold(0.0, f64::max)
        .ceil() as usize
        + 1;
    let mut per_second = vec![(0u64, 0u64); seconds];
    for (at, tokens) in admitted {
        let slot = &mut per_second[*at as usize];
        slot.0 += 1;
        slot.1 += tokens;
    }
    let mut file = std::fs::File::create(path).expect("the CSV");
    writeln!(file, "second,requests,tokens").unwrap();
    for (second, (requests, tokens)) in per_second.iter().enumerate() {
        writeln!(file, "{second},{requests},{tokens}").unwrap();
    }
}

/// `gptproto batch` over a million lines against an instant, unlimited server.
fn overhead(out: &Path, runs: usize) {
    let lines: usize = if measuring() { 1_000_000 } else { 2_000 };
    let Some(cli) = cli_binary() else {
        println!("\nRunner overhead: skipped (no gptproto binary: `cargo build -p gptproto-cli`)");
        return;
    };
    let input = out.join(format!("input-{lines}.jsonl"));
    if !input.exists() {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&input).unwrap());
        for i in 0..lines {
            writeln!(
                file,
                r#"{{"custom_id":"req-{i}","method":"POST","url":"/v1/chat/completions","body":{{"model":"qwen-turbo","max_tokens":16,"messages":[{{"role":"user","content":"Label ticket {i}: my order never came."}}]}}}}"#
            )
            .unwrap();
        }
    }
    let answer = serde_json::json!({
        "id": "chatcmpl-b", "object": "chat.completion", "created": 1, "model": "qwen-turbo",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "shipping"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 1, "total_tokens": 21}
    });
    let address = server::start(server::Script::Json(answer.to_string().into()));
    println!(
        "\nRunner overhead: gptproto batch over {lines} lines, an instant unlimited loopback server (HTTP/1.1) in this process"
    );
    println!(
        "{:<24} {:>10} {:>14} {:>12}",
        "run", "wall", "requests/s", "peak RSS"
    );
    let mut rates = Vec::new();
    let mut peaks = Vec::new();
    for run in 1..=runs {
        let output = out.join(format!("overhead-{run}.jsonl"));
        let _ = std::fs::remove_file(&output);
        let _ = std::fs::remove_file(out.join(format!("overhead-{run}.errors.jsonl")));
        let started = Instant::now();
        let mut child = Command::new(&cli)
            .arg("batch")
            .arg(&input)
            .arg("-o")
            .arg(&output)
            .args([
                "--rpm",
                "1000000000",
                "--tpm",
                "1000000000000",
                "--progress",
                "none",
            ])
            .args(["--concurrency", "256"])
            .env_clear()
            .env("GPTPROTO_API_KEY", "sk-bench")
            .env("GPTPROTO_BASE_URL", format!("http://{address}/v1"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the CLI runs");
        let pid = child.id();
        let mut peak_kib = 0;
        let status = loop {
            if let Some(kib) = vm_hwm(pid) {
                peak_kib = peak_kib.max(kib);
            }
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let wall = started.elapsed().as_secs_f64();
        let mut stderr = String::new();
        std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert!(status.success(), "{stderr}");
        let written = std::fs::read_to_string(&output).unwrap().lines().count();
        assert_eq!(written, lines, "{stderr}");
        // A run's output is 300 MB: not kept.
        let _ = std::fs::remove_file(&output);
        let rate = lines as f64 / wall;
        rates.push(rate);
        peaks.push(peak_kib);
        println!(
            "{:<24} {:>9.1}s {:>14.0} {:>8.1} MiB",
            format!("run {run}"),
            wall,
            rate,
            peak_kib as f64 / 1024.0
        );
    }
    rates.sort_by(f64::total_cmp);
    peaks.sort_unstable();
    println!(
        "{:<24} {:>10} {:>14.0} {:>8.1} MiB",
        "median",
        "",
        rates[rates.len() / 2],
        peaks[peaks.len() / 2] as f64 / 1024.0
    );
}

/// `VmHWM` of a process, in KiB (its peak resident memory so far).
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        line.strip_prefix("VmHWM:")?
            .trim()
            .strip_suffix("kB")?
            .trim()
            .parse()
            .ok()
    })
}

/// The CLI to measure: measuring, the release binary, built here with this workspace's cargo;
/// as a smoke test, the debug binary the workspace's tests built (cargo is not run from inside
/// `cargo test`), if there is one.
fn cli_binary() -> Option<PathBuf> {
    if !measuring() {
        let debug = target_dir().join("debug/gptproto");
        return debug.exists().then_some(debug);
    }
    let status = Command::new(env!("CARGO"))
        .args(["build", "--release", "-q", "-p", "gptproto-cli"])
        .current_dir(workspace())
        .status()
        .expect("cargo runs");
    assert!(status.success(), "the release CLI builds");
    Some(target_dir().join("release/gptproto"))
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"))
}
