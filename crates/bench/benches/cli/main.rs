//! The `gptproto` command as users run it — a whole process, start-up included, with its
//! defaults — against a raw read of the same bytes and against a program streaming with
//! async-openai, each a process of its own, side by side in paired rounds.
//!
//! ```text
//! cargo xtask bench-cli            # builds the release binary, then runs this
//! BENCH_ROUNDS=n BENCH_CHUNKS=1,1000,100000 BENCH_ONLY_CONTENDER=<name part> GPTPROTO_BIN=<path>
//! GPTPROTO_BASE_BIN=<path>         # also an earlier build, each row of it beside the same row
//! target/release/deps/cli-<hash> --serve 100000   # the server alone, to profile by hand
//! ```
//!
//! For 1, 1,000 and 100,000 chunks (one loopback server each, plain HTTP/1.1): the raw read (a
//! hyper client reading the body to its end, no parsing: the floor), `gptproto chat --json`
//! with the history on and off, plain text to a pipe with the history on and off, markdown on
//! a pseudoterminal, and async-openai printing the text to a pipe. Each row: the median wall
//! time, chunks per second, and the median of its per-round ratio to the raw read. Under
//! `cargo test --benches` it runs one round of each, as a smoke test that prints the table.

#[path = "../client/server.rs"]
#[allow(dead_code)] // Its TLS server serves the client benchmarks.
mod server;

mod children;

#[path = "../../../proto/benches/common/mod.rs"]
#[allow(dead_code)] // The decoding benchmarks' corpus is not used here.
mod corpus;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use bytes::Bytes;

use crate::server::Script;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|arg| arg == "--list") {
        return;
    }
    if let Some(at) = args.iter().position(|arg| arg == children::RAW_READ) {
        return children::raw_read(&args[at + 1]);
    }
    if let Some(at) = args.iter().position(|arg| arg == children::OPENAI) {
        return children::openai_stream(&args[at + 1]);
    }
    // `--serve N`: the streaming server alone, for N chunks, until killed (to profile the
    // command by hand: `perf record gptproto chat --base-url http://<address>/v1 ...`).
    if let Some(at) = args.iter().position(|arg| arg == "--serve") {
        let chunks = args[at + 1].parse().expect("--serve <chunks>");
        let address = serve(chunks);
        println!("http://{address}/v1");
        loop {
            std::thread::park();
        }
    }
    let measuring = corpus::paired::measuring();
    let binary = gptproto_binary(measuring);
    let sizes: Vec<usize> = std::env::var("BENCH_CHUNKS")
        .ok()
        .map(|sizes| {
            sizes
                .split(',')
                .filter_map(|size| size.parse().ok())
                .collect()
        })
        .unwrap_or_else(|| vec![1, 1_000, 100_000]);
    let scratch = std::env::temp_dir().join(format!("gptproto-bench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).expect("a scratch folder");
    println!(
        "\nthe gptproto command: {} ({})",
        binary.display(),
        if measuring {
            "measured"
        } else {
            "smoke run: one round"
        }
    );
    for chunks in sizes {
        let rounds = if chunks >= 100_000 { 15 } else { 31 };
        let address = serve(chunks);
        let mut contenders = contenders(&binary, &format!("http://{address}"), &scratch, "");
        // An earlier build's rows, measured in the same paired rounds (a before/after
        // comparison that the machine's drift between runs does not blur).
        if let Some(base) = std::env::var_os("GPTPROTO_BASE_BIN") {
            let base =
                contenders_of_build(Path::new(&base), &format!("http://{address}"), &scratch);
            contenders.extend(base);
        }
        run(chunks, rounds, contenders);
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// The release binary (`cargo xtask bench-cli` builds it), or the one beside this test's
/// build in a smoke run; `GPTPROTO_BIN` names another.
fn gptproto_binary(measuring: bool) -> PathBuf {
    if let Some(path) = std::env::var_os("GPTPROTO_BIN") {
        return PathBuf::from(path);
    }
    // This executable is `target/<profile>/deps/cli-<hash>`.
    let exe = std::env::current_exe().expect("this executable");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let target = profile_dir.parent().expect("target");
    let binary = if measuring {
        target.join("release").join("gptproto")
    } else {
        profile_dir.join("gptproto")
    };
    assert!(
        binary.exists(),
        "{} is missing: build it first (`cargo xtask bench-cli` does)",
        binary.display()
    );
    binary
}

/// One process to run and how its output is taken.
struct Contender {
    name: String,
    command: Command,
    /// Its standard output is a pseudoterminal (read until it closes), not a pipe.
    terminal: bool,
}

/// The rows of the `gptproto` command alone, named `(base)`.
fn contenders_of_build(binary: &Path, origin: &str, scratch: &Path) -> Vec<Contender> {
    contenders(binary, origin, scratch, " (base)")
        .into_iter()
        .filter(|contender| contender.name.starts_with("gptproto"))
        .collect()
}

fn contenders(binary: &Path, origin: &str, scratch: &Path, suffix: &str) -> Vec<Contender> {
    let this = std::env::current_exe().expect("this executable");
    let chat = |name: &str, flags: &[&str], history: bool, terminal: bool| {
        let mut command = Command::new(binary);
        command
            .args(["chat", "--base-url"])
            .arg(format!("{origin}/v1"))
            .args(["--api-key", "sk-bench", "-m", "qwen-turbo"])
            .args(flags)
            .arg("who are you?")
            .env_clear()
            .env("HOME", scratch)
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GPTPROTO_CONFIG", scratch.join("none.toml"))
            .env("GPTPROTO_HISTORY", scratch.join("history.db"))
            .env("TERM", "xterm-256color")
            .env("COLUMNS", "100");
        if !history {
            command.arg("--no-log");
        }
        Contender {
            name: format!("{name}{suffix}"),
            command,
            terminal,
        }
    };
    let child = |name: &str, mode: &str| {
        let mut command = Command::new(&this);
        command.arg(mode).arg(origin);
        Contender {
            name: name.to_owned(),
            command,
            terminal: false,
        }
    };
    vec![
        child("raw hyper read, no parsing (floor)", children::RAW_READ),
        chat(
            "gptproto chat --json (history on: the default)",
            &["--json"],
            true,
            false,
        ),
        chat("gptproto chat --json --no-log", &["--json"], false, false),
        chat(
            "gptproto chat, text to a pipe (history on)",
            &[],
            true,
            false,
        ),
        chat("gptproto chat, text to a pipe, --no-log", &[], false, false),
        chat(
            "gptproto chat, markdown on a terminal, --no-log",
            &[],
            false,
            true,
        ),
        child("async-openai 0.43, text to a pipe", children::OPENAI),
    ]
}

/// Runs `contender` once, start to exit, its output read to the end.
fn once(contender: &mut Contender) {
    let status = if contender.terminal {
        let (terminal, mut controller) = pty();
        let mut child = contender
            .command
            .stdin(Stdio::null())
            .stdout(terminal)
            .stderr(Stdio::null())
            .spawn()
            .expect("the command starts");
        // The command keeps what it was given: let go of the terminal's side here, or the
        // screen never reaches its end.
        contender.command.stdout(Stdio::null());
        // The terminal's screen, read until the program is gone (EIO then).
        let mut screen = Vec::new();
        let _ = controller.read_to_end(&mut screen);
        let status = child.wait().expect("the command ends");
        assert!(!screen.is_empty(), "{}: nothing shown", contender.name);
        status
    } else {
        let output = contender
            .command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("the command runs");
        assert!(
            output.status.success(),
            "{}: {}",
            contender.name,
            String::from_utf8_lossy(&output.stderr)
        );
        output.status
    };
    assert!(status.success(), "{} failed", contender.name);
}

/// A pseudoterminal: (the side the program writes to, the side read).
fn pty() -> (std::fs::File, std::fs::File) {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let controller = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("a pseudoterminal");
    grantpt(&controller).expect("grantpt");
    unlockpt(&controller).expect("unlockpt");
    let path = ptsname(&controller, Vec::new()).expect("ptsname");
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path.to_str().expect("a path"))
        .expect("the terminal side");
    (terminal, std::fs::File::from(controller))
}

/// Paired rounds of `contenders`, the first (the raw read) the one the others are compared to.
fn run(chunks: usize, rounds: usize, contenders: Vec<Contender>) {
    let names: Vec<String> = contenders
        .iter()
        .map(|contender| contender.name.clone())
        .collect();
    let contenders = contenders
        .into_iter()
        .zip(&names)
        .map(|(mut contender, name)| corpus::paired::Contender {
            name,
            run: Box::new(move || {
                once(&mut contender);
                0
            }),
        })
        .collect();
    let title = "whole processes";
    corpus::paired::compare_work(
        title,
        corpus::paired::Work::Chunks(chunks),
        rounds,
        contenders,
    );
}

/// A streamed answer of `chunks` chunks of text (the first with the role), then a finishing
/// chunk, a usage chunk and `[DONE]`: what a real server sends.
fn stream_of(chunks: usize) -> Bytes {
    const WORDS: [&str; 8] = [
        " the", " model", " answers", " with", " tokens", ",", " one", ".",
    ];
    let head = r#"{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1741570283,"model":"qwen-turbo","system_fingerprint":"fp_bench","choices":[{"index":0,"delta":"#;
    let mut out = String::with_capacity(chunks * 200 + 1024);
    for i in 0..chunks {
        let delta = if i == 0 {
            r#"{"role":"assistant","content":"Hello"}"#.to_owned()
        } else {
            format!(r#"{{"content":"{}"}}"#, WORDS[i % WORDS.len()])
        };
        out.push_str(&format!(
            "data: {head}{delta},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
        ));
    }
    out.push_str(&format!(
        "data: {head}{{}},\"logprobs\":null,\"finish_reason\":\"stop\"}}]}}\n\n"
    ));
    out.push_str(&format!(
        "data: {{\"id\":\"chatcmpl-bench\",\"object\":\"chat.completion.chunk\",\"created\":1741570283,\"model\":\"qwen-turbo\",\"choices\":[],\"usage\":{{\"prompt_tokens\":12,\"completion_tokens\":{chunks},\"total_tokens\":{}}}}}\n\n",
        chunks + 12
    ));
    out.push_str("data: [DONE]\n\n");
    Bytes::from(out)
}

/// The bench's streaming server for an answer of `chunks` chunks, written in 16 KiB pieces as
/// the client benchmark writes its stream.
fn serve(chunks: usize) -> std::net::SocketAddr {
    let pieces = corpus::pieces(&stream_of(chunks), 16 * 1024);
    server::start(Script::Stream(Arc::new(pieces)))
}
