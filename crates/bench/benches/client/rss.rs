//! Peak RSS with many streams open at once. Each client runs in a fresh process of its own
//! (this benchmark binary, re-run with [`CHILD`]), opens the streams concurrently, waits for
//! every stream's first chunk, then reports its peak resident set (`VmHWM`).

use std::path::{Path, PathBuf};
use std::process::Command;

use bytes::Bytes;
use futures_util::future::join_all;

use gptproto_testkit::TestCa;

use crate::peers::{self, Target};
use crate::server::{self, Script};

/// The argument that makes this binary a measured child:
/// `CHILD <client> <origin> <streams> [<CA PEM file>]`.
pub(crate) const CHILD: &str = "--rss-child";

/// The argument that makes this binary only the stalling server, printing its address, so a
/// child can be run apart (under heaptrack, say): `SERVE [tls]`, then
/// `CHILD <client> <origin> <n> [<CA PEM file>]` with what it printed.
pub(crate) const SERVE: &str = "--rss-server";

const CLIENTS: [&str; 3] = ["gptproto", "async-openai", "raw-hyper"];

/// Rounds: each client measured this many times, alternating.
const ROUNDS: usize = 3;

/// Runs each client in its own process, `ROUNDS` times alternating, and prints the medians:
/// over plain HTTP/1.1, then over TLS with HTTP/2 and HTTP/1.1 offered by ALPN.
pub(crate) fn compare(streams: usize) {
    raise_open_files_limit();
    let plain = Target::plain(server::start(Script::Stall(first_chunk())));
    compare_at(&plain, &CLIENTS, streams, "loopback HTTP/1.1");
    let ca = TestCa::new();
    let tls = Target::tls(
        server::start_tls(Script::Stall(first_chunk()), &ca),
        ca.root_pem(),
    );
    // No raw floor here: hyper-util's pool puts every stream on one HTTP/2 connection, and
    // past the server's 200 concurrent streams the rest wait for one to end, which held
    // streams never do.
    compare_at(
        &tls,
        &CLIENTS[..2],
        streams,
        "loopback TLS, h2 and http/1.1 offered by ALPN",
    );
}

fn compare_at(target: &Target, clients: &[&str], streams: usize, setting: &str) {
    let ca_file = target.ca_pem.as_ref().map(|_| ca_file(target));
    let mut peaks = vec![Vec::new(); clients.len()];
    let mut baselines = vec![Vec::new(); clients.len()];
    for _ in 0..ROUNDS {
        for (i, client) in clients.iter().enumerate() {
            let (baseline, peak) = measure(client, target, ca_file.as_deref(), streams);
            baselines[i].push(baseline);
            peaks[i].push(peak);
        }
    }
    if let Some(path) = ca_file {
        let _ = std::fs::remove_file(path);
    }
    println!(
        "\nPeak RSS with {streams} streams open at once, {setting} ({ROUNDS} processes per client, median)"
    );
    println!(
        "{:<60} {:>14} {:>14} {:>14}",
        "client", "peak (VmHWM)", "before streams", "peak / first"
    );
    let first_peak = median(&mut peaks[0].clone());
    for (i, client) in clients.iter().enumerate() {
        let peak = median(&mut peaks[i].clone());
        println!(
            "{:<60} {:>10.1} MiB {:>10.1} MiB {:>13.2}x   (runs: {})",
            client,
            peak as f64 / 1024.0,
            median(&mut baselines[i]) as f64 / 1024.0,
            peak as f64 / first_peak as f64,
            peaks[i]
                .iter()
                .map(|kib| format!("{:.1}", *kib as f64 / 1024.0))
                .collect::<Vec<_>>()
                .join(", ")
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

/// Runs only the stalling server, printing its origin (and, with TLS, the file of the CA to
/// trust) for a child run apart, until killed.
pub(crate) fn serve(tls: bool) {
    raise_open_files_limit();
    if tls {
        let ca = TestCa::new();
        let target = Target::tls(
            server::start_tls(Script::Stall(first_chunk()), &ca),
            ca.root_pem(),
        );
        println!("{} {}", target.origin, ca_file(&target).display());
    } else {
        let target = Target::plain(server::start(Script::Stall(first_chunk())));
        println!("{}", target.origin);
    }
    loop {
        std::thread::park();
    }
}

/// Writes the target's CA certificate where a child can read it; returns the file's path.
fn ca_file(target: &Target) -> PathBuf {
    let path = std::env::temp_dir().join(format!("gptproto-bench-ca-{}.pem", std::process::id()));
    let pem = target.ca_pem.as_deref().expect("a TLS target");
    std::fs::write(&path, pem).expect("write the CA file");
    path
}

fn median(values: &mut [u64]) -> u64 {
    values.sort_unstable();
    values[values.len() / 2]
}

/// Runs one child; returns its RSS before the streams and its peak, in KiB.
fn measure(client: &str, target: &Target, ca_file: Option<&Path>, streams: usize) -> (u64, u64) {
    let mut command = Command::new(std::env::current_exe().expect("this binary"));
    command.args([CHILD, client, &target.origin, &streams.to_string()]);
    if let Some(path) = ca_file {
        command.arg(path);
    }
    let output = command.output().expect("the child runs");
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
    let (client, origin, streams, ca_file) = match args {
        [client, origin, streams] => (client, origin, streams, None),
        [client, origin, streams, ca_file] => (client, origin, streams, Some(ca_file)),
        _ => panic!("usage: {CHILD} <client> <origin> <streams> [<CA PEM file>]"),
    };
    let target = Target {
        origin: origin.clone(),
        ca_pem: ca_file.map(|path| std::fs::read_to_string(path).expect("the CA file")),
    };
    let streams: usize = streams.parse().expect("a stream count");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let baseline = status_kib("VmRSS:");
    let opened = runtime.block_on(async {
        match client.as_str() {
            "gptproto" => {
                let client = peers::gptproto(&target);
                let held = join_all((0..streams).map(|_| peers::gptproto_open(&client))).await;
                held.len()
            }
            "async-openai" => {
                let client = peers::openai(&target);
                let held = join_all((0..streams).map(|_| peers::openai_open(&client))).await;
                held.len()
            }
            "raw-hyper" => {
                let client = peers::raw(&target);
                let held = join_all((0..streams).map(|_| peers::raw_open(&client, &target))).await;
                held.len()
            }
            other => panic!("unknown client {other}"),
        }
    });
    // The streams were all open at the peak; they close as the block above ends.
    assert_eq!(opened, streams);
    println!("baseline_kib={baseline} peak_kib={}", status_kib("VmHWM:"));
}
