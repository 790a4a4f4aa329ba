//! The two examples, run as programs against the test kit's server over real TCP and TLS. Each
//! drives the core's call machine and nothing else: a 429 with `retry-after-ms` is waited out
//! and retried, a 307 followed, a stream that stalls ends at `--timeout` with what arrived,
//! and a 401 is not retried.

use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use gptproto_testkit::fixtures::story;
use gptproto_testkit::{Ending, Recorded, Reply, TestServer};
use serde_json::json;

const PROGRAMS: [&str; 2] = [env!("CARGO_BIN_EXE_blocking"), env!("CARGO_BIN_EXE_smol")];

/// The story the server streams: 12 words.
fn answer() -> Reply {
    Reply::sse(&story(12))
        .in_pieces(37)
        .paced(Duration::from_millis(2))
}

fn expected() -> String {
    (0..12)
        .map(|i| format!("w{i} "))
        .collect::<String>()
        .trim_end()
        .to_owned()
}

/// A server whose n-th request (from 0) gets `script(n)`.
async fn server(tls: bool, script: fn(usize, &Recorded) -> Reply) -> TestServer {
    let seen = Arc::new(AtomicUsize::new(0));
    let handler = move |request: &Recorded| script(seen.fetch_add(1, Ordering::SeqCst), request);
    if tls {
        TestServer::start_tls(handler).await
    } else {
        TestServer::start(handler).await
    }
}

/// What `program` printed asking `server`, with `extra` arguments, trusting its CA; and how
/// long it took.
async fn run(program: &'static str, server: &TestServer, extra: &[&str]) -> (Output, Duration) {
    let mut command = Command::new(program);
    command
        .arg(server.base_url())
        .arg("who are you?")
        .args(extra)
        .env("GPTPROTO_API_KEY", "sk-example")
        .env_remove("GPTPROTO_MODEL");
    if let Some(ca) = server.ca() {
        let file = std::env::temp_dir().join(format!(
            "gptproto-example-ca-{}-{}.pem",
            std::process::id(),
            server.address().port()
        ));
        std::fs::write(&file, ca.root_pem()).unwrap();
        command.arg("--ca").arg(&file);
    }
    let started = Instant::now();
    // The server goes on serving while the program runs.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("the example runs");
    let took = started.elapsed();
    println!(
        "$ {program} {} {} -> {:?} in {took:?}\n{}{}",
        server.base_url(),
        extra.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output, took)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_ms_is_waited_out_then_answered() {
    for tls in [false, true] {
        let server = server(tls, |n, _| {
            if n.is_multiple_of(2) {
                Reply::json(
                    429,
                    &json!({"error": {"message": "slow down", "code": "rate_limit_exceeded"}}),
                )
                .header("retry-after-ms", "50")
            } else {
                answer()
            }
        })
        .await;
        for program in PROGRAMS {
            let (output, _) = run(program, &server, &[]).await;
            let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
            assert!(output.status.success(), "{program}: {stderr}");
            assert_eq!(stdout.trim_end(), expected(), "{program}");
            assert!(
                stderr.contains("slow down") && stderr.contains("again in 50ms"),
                "{stderr}"
            );
        }
        let requests = server.requests();
        assert_eq!(requests.len(), 4, "a 429 and an answer for each example");
        assert_eq!(
            requests[1].header("authorization"),
            Some("Bearer sk-example")
        );
        assert_eq!(requests[1].json()["stream"], true);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_307_is_followed_with_the_same_request() {
    for tls in [false, true] {
        let server = server(tls, |_, request| {
            if request.uri.path() == "/v1/chat/completions" {
                Reply::bytes(307, "text/plain", "moved").header("location", "/v2/chat")
            } else {
                answer()
            }
        })
        .await;
        for program in PROGRAMS {
            let (output, _) = run(program, &server, &[]).await;
            assert!(
                output.status.success(),
                "{program}: {}",
                text(&output.stderr)
            );
            assert_eq!(text(&output.stdout).trim_end(), expected(), "{program}");
        }
        let requests = server.requests();
        assert_eq!(requests.len(), 4);
        assert_eq!(requests[1].uri.path(), "/v2/chat");
        assert_eq!(
            requests[1].body, requests[0].body,
            "the same body, redirected"
        );
        assert_eq!(
            requests[1].header("authorization"),
            Some("Bearer sk-example"),
            "the same origin: the key goes along"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_that_stalls_ends_at_the_timeout_with_what_arrived() {
    for tls in [false, true] {
        let server = server(tls, |_, _| {
            // Four words, then nothing: no [DONE], no end of the body.
            let words: String = story(12)[..4]
                .iter()
                .map(|event| format!("data: {event}\n\n"))
                .collect();
            Reply::sse_raw(words).in_pieces(37).ending(Ending::Stall)
        })
        .await;
        for program in PROGRAMS {
            let (output, took) = run(program, &server, &["--timeout", "1.5"]).await;
            let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
            assert!(!output.status.success(), "{program}");
            assert_eq!(
                stdout.trim_end(),
                "w0 w1 w2 w3",
                "{program}: the partial answer"
            );
            assert!(
                stderr.contains("timed out: the call did not finish within 1.5s"),
                "{program}: {stderr}"
            );
            assert!(
                took >= Duration::from_millis(1500) && took < Duration::from_secs(10),
                "{program}: {took:?}"
            );
        }
        assert_eq!(
            server.requests().len(),
            2,
            "a stream that started is not retried"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_is_not_retried() {
    for tls in [false, true] {
        let server = server(tls, |_, _| {
            Reply::json(
                401,
                &json!({"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}),
            )
        })
        .await;
        for program in PROGRAMS {
            let (output, _) = run(program, &server, &[]).await;
            let stderr = text(&output.stderr);
            assert!(!output.status.success(), "{program}");
            assert!(
                stderr.contains("HTTP 401") && stderr.contains("Incorrect API key provided"),
                "{program}: {stderr}"
            );
            assert!(!stderr.contains("again in"), "{program}: {stderr}");
        }
        assert_eq!(server.requests().len(), 2, "one request each");
    }
}
