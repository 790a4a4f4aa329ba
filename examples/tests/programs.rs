//! The two examples, run as programs against the test kit's server over real TCP and TLS: the
//! first attempt is answered 429 with a `retry-after-ms`, the second streams the answer in
//! small pieces. Each must print the whole answer, after one retry.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use gptproto_testkit::fixtures::story;
use gptproto_testkit::{Reply, TestServer};
use serde_json::json;

/// A server that refuses the first request of each pair with 429, then streams 12 words.
async fn server(tls: bool) -> TestServer {
    let seen = Arc::new(AtomicUsize::new(0));
    let handler = move |_: &gptproto_testkit::Recorded| {
        if seen.fetch_add(1, Ordering::SeqCst).is_multiple_of(2) {
            Reply::json(
                429,
                &json!({"error": {"message": "slow down", "code": "rate_limit_exceeded"}}),
            )
            .header("retry-after-ms", "50")
        } else {
            Reply::sse(&story(12))
                .in_pieces(37)
                .paced(Duration::from_millis(2))
        }
    };
    if tls {
        TestServer::start_tls(handler).await
    } else {
        TestServer::start(handler).await
    }
}

/// The example `program` asking `server`, trusting its CA.
fn command(program: &str, server: &TestServer) -> Command {
    let mut command = Command::new(program);
    command
        .arg(server.base_url())
        .arg("who are you?")
        .env("GPTPROTO_API_KEY", "sk-example")
        .env_remove("GPTPROTO_MODEL");
    let ca_file;
    if let Some(ca) = server.ca() {
        ca_file =
            std::env::temp_dir().join(format!("gptproto-example-ca-{}.pem", std::process::id()));
        std::fs::write(&ca_file, ca.root_pem()).unwrap();
        command.arg("--ca").arg(&ca_file);
    }
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_examples_print_the_answer_after_a_retried_429_over_tcp_and_tls() {
    let expected: String = (0..12).map(|i| format!("w{i} ")).collect();
    for tls in [false, true] {
        let server = server(tls).await;
        for program in [env!("CARGO_BIN_EXE_blocking"), env!("CARGO_BIN_EXE_smol")] {
            let mut command = command(program, &server);
            // The server goes on serving while the program runs.
            let output = tokio::task::spawn_blocking(move || command.output())
                .await
                .unwrap()
                .expect("the example runs");
            let stdout = String::from_utf8_lossy(&output.stdout);
            let stderr = String::from_utf8_lossy(&output.stderr);
            println!(
                "$ {program} {} (tls: {tls})\n{stdout}{stderr}",
                server.base_url()
            );
            assert!(output.status.success(), "{program}: {stderr}");
            assert_eq!(stdout.trim_end(), expected.trim_end(), "{program}");
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
