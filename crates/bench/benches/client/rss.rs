//! Peak RSS with many streams open at once. Each client runs in a fresh process of its own
//! (this benchmark binary, re-run with [`CHILD`]), opens the streams concurrently, waits for
//! every stream's first chunk, then reports its peak resident set (`VmHWM`).

use std::net::SocketAddr;
use std::process::Command;

use bytes::Bytes;
use futures_util::future::join_all;

use crate::peers;
use crate::server::{self, Script};

/// The argument that makes this binary a measured child: `CHILD <client> <address> <streams>`.
pub(crate) const CHILD: &str = "--rss-child";

/// The argument that makes this binary only the stalling server, printing its address, so a
/// child can be run apart (under heaptrack, say): `SERVE`, then `CHILD <client> <address> <n>`.
pub(crate) const SERVE: &str = "--rss-server";

const CLIENTS: [&str; 3] = ["gptproto", "async-openai", "raw-hyper"];

/// Rounds: each client measured this many times, alternating.
const ROUNDS: usize = 3;

/// Runs each client in its own process, `ROUNDS` times alternating, and prints the medians.
pub(crate) fn compare(streams: usize) {
    raise_open_files_limit();

    let address = server::start(Script::Stall(first_chunk()));
    let mut peaks = vec![Vec::new(); CLIENTS.len()];
    let mut baselines = vec![Vec::new(); CLIENTS.len()];
    for _ in 0..ROUNDS {
        for (i, client) in CLIENTS.iter().enumerate() {
            let (baseline, peak) = measure(client, address, streams);
            baselines[i].push(baseline);
            peaks[i].push(peak);
        }
    }
    println!(
        "\nPeak RSS with {streams} streams open at once ({ROUNDS} processes per client, median)"
    );
    println!(
        "{:<60} {:>14} {:>14} {:>14}",
        "client", "peak (VmHWM)", "before streams", "peak / first"
    );
    let first_peak = median(&mut peaks[0].clone());
    for (i, client) in CLIENTS.iter().enumerate() {
        let peak = median(&mut peaks[i]);
        println!(
            "{:<60} {:>10.1} MiB {:>10.1} MiB {:>13.2}x",
            client,
            peak as f64 / 1024.0,
            median(&mut baselines[i]) as f64 / 1024.0,
            peak as f64 / first_peak as f64
        );
    }
}

/// The one chunk each held stream receives before the server stalls.
fn first_chunk() -> Bytes {
    Bytes::from(format!(
        "data: {}\n\n",
        serde_json::json!({
            "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion.chunk",
            "created": 1741570283, "model": "qwen-turbo",
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": "I am"}, "finish_reason": null}]
        })
    ))
}

/// Runs only the stalling server, printing its address, until killed.
pub(crate) fn serve() {
    raise_open_files_limit();
    println!("{}", server::start(Script::Stall(first_chunk())));
    loop {
        std::thread::park();
    }
}

fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

/// Runs one child; returns its RSS before the streams and its peak, in KiB.
fn measure(client: &str, address: SocketAddr, streams: usize) -> (u64, u64) {
    let output = Command::new(std::env::current_exe().expect("this binary"))
        .args([CHILD, client, &address.to_string(), &streams.to_string()])
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{client}: {}{}",
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    let field = |name: &str| -> u64 {
        stdout
            .split_whitespace()
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
            .unwrap_or_else(|| panic!("{client} reported no {name}: {stdout}"))
    };
    (field("baseline_kib"), field("peak_kib"))
}

/// A line of `/proc/self/status`, in KiB.
fn status_kib(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| {
            line.strip_prefix(name)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no {name} in /proc/self/status"))
}

fn raise_open_files_limit() {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
}

/// The measured child: opens `streams` streams with `client` at once, holds them all, and
/// prints its RSS before and its peak after.
pub(crate) fn child(args: &[String]) {
    raise_open_files_limit();
    let [client, address, streams] = args else {
        panic!("usage: {CHILD} <client> <address> <streams>");
    };
    let address: SocketAddr = address.parse().expect("an address");
    let streams: usize = streams.parse().expect("a stream count");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let baseline = status_kib("VmRSS:");
    let opened = runtime.block_on(async {
        match client.as_str() {
            "gptproto" => {
                let client = peers::gptproto(address);
                let held = join_all((0..streams).map(|_| peers::gptproto_open(&client))).await;
                held.len()
            }
            "async-openai" => {
                let client = peers::openai(address);
                let held = join_all((0..streams).map(|_| peers::openai_open(&client))).await;
                held.len()
            }
            "raw-hyper" => {
                let client = peers::raw();
                let held = join_all((0..streams).map(|_| peers::raw_open(&client, address))).await;
                held.len()
            }
            other => panic!("unknown client {other}"),
        }
    });
    // The streams were all open at the peak; they close as the block above ends.
    assert_eq!(opened, streams);
    println!("baseline_kib={baseline} peak_kib={}", status_kib("VmHWM:"));
}
