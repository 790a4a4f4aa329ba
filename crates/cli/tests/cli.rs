//! The `gptproto` binary against the in-repo test server over real TCP: what it prints, what it
//! sends, and each exit status scripts rely on.

use std::process::Stdio;
use std::time::Duration;

use gptproto_testkit::fixtures::{chunk_with as chunk, completion};
use gptproto_testkit::{Ending, Reply, TestServer};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

#[cfg(unix)]
#[path = "support/pty.rs"]
mod pty;

const KEY: &str = "sk-cli-test-0123456789abcdef";

/// What a run of the binary left behind.
#[derive(Debug)]
struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

/// Runs `gptproto chat ARGS` against `server` with the key in the environment and `stdin`
/// piped in; nothing from the caller's environment leaks in.
async fn chat(server: &TestServer, args: &[&str], stdin: &str) -> Run {
    gptproto(server, "chat", args, stdin).await
}

/// Runs `gptproto SUBCOMMAND ARGS` as [`chat`] does.
async fn gptproto(server: &TestServer, subcommand: &str, args: &[&str], stdin: &str) -> Run {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gptproto"));
    command
        .arg(subcommand)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GPTPROTO_API_KEY", KEY)
        .env("GPTPROTO_BASE_URL", server.base_url())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().expect("the gptproto binary runs");
    let mut input = child.stdin.take().expect("piped stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("write stdin");
    drop(input);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the binary finishes")
        .expect("the binary's output");
    let run = Run {
        status: output.status.code().expect("exited, not killed"),
        stdout: String::from_utf8(output.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("UTF-8 stderr"),
    };
    // Shown with `--nocapture`: the transcript of each run.
    println!(
        "$ gptproto {subcommand} {}\n[exit {}]\n{}{}",
        args.join(" "),
        run.status,
        run.stdout,
        run.stderr
    );
    run
}

/// A streamed answer: some reasoning, then "I am Qwen." in three pieces.
fn streamed_answer() -> Vec<Value> {
    vec![
        chunk(
            json!({"role": "assistant", "reasoning_content": "Thinking about it."}),
            None,
        ),
        chunk(json!({"content": "I am "}), None),
        chunk(json!({"content": "Qwen"}), None),
        chunk(json!({"content": "."}), None),
        chunk(json!({}), Some("stop")),
    ]
}

fn api_error(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({"error": {"message": message, "type": "invalid_request_error", "code": code, "param": null}}),
    )
    .header("x-request-id", "req-cli-42")
}

fn assert_key_absent(run: &Run) {
    assert!(!run.stdout.contains(KEY), "key on stdout: {run:?}");
    assert!(!run.stderr.contains(KEY), "key on stderr: {run:?}");
    assert!(
        !run.stderr.contains("0123456789abcdef"),
        "part of the key on stderr: {run:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_the_answer_to_stdout_and_the_reasoning_to_stderr() {
    let server = TestServer::start(|_| Reply::sse(&streamed_answer()).in_pieces(7)).await;
    let run = chat(&server, &["who are you?"], "").await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(run.stdout, "I am Qwen.\n");
    assert!(run.stderr.contains("Thinking about it."), "{run:?}");
    let sent = &server.requests()[0];
    assert_eq!(sent.uri.path(), "/v1/chat/completions");
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str()),
        "--auth auto: Bearer, this is not GPTProto's host"
    );
    let body = sent.json();
    assert_eq!(body["model"], "qwen-turbo");
    assert_eq!(body["stream"], true);
    assert_eq!(
        body["messages"],
        json!([{"role": "user", "content": "who are you?"}])
    );
    assert_key_absent(&run);
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_the_prompt_from_stdin_when_absent_or_dash() {
    let server = TestServer::start(|_| Reply::sse(&streamed_answer())).await;
    for args in [&["-"][..], &[][..]] {
        let run = chat(&server, args, "what is 2+2?\n").await;
        assert_eq!(run.status, 0, "{run:?}");
        assert_eq!(run.stdout, "I am Qwen.\n");
    }
    for sent in server.requests() {
        assert_eq!(sent.json()["messages"][0]["content"], "what is 2+2?\n");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_prints_the_accumulated_completion_as_one_document() {
    let server = TestServer::start(|_| Reply::sse(&streamed_answer()).in_pieces(1)).await;
    let run = chat(&server, &["--json", "who are you?"], "").await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(
        run.stdout.lines().count(),
        1,
        "one document: {}",
        run.stdout
    );
    let printed: Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
    assert_eq!(printed["object"], "chat.completion");
    assert_eq!(printed["id"], "chatcmpl-1");
    assert_eq!(printed["choices"][0]["message"]["content"], "I am Qwen.");
    assert_eq!(
        printed["choices"][0]["message"]["reasoning_content"],
        "Thinking about it."
    );
    assert_eq!(printed["choices"][0]["finish_reason"], "stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_stream_asks_for_and_prints_a_whole_answer() {
    let server = TestServer::start(|_| Reply::json(200, &completion(&["I am Qwen."]))).await;
    let run = chat(&server, &["--no-stream", "who are you?"], "").await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(run.stdout, "I am Qwen.\n");
    assert_ne!(server.requests()[0].json()["stream"], true);

    let run = chat(&server, &["--no-stream", "--json", "who are you?"], "").await;
    assert_eq!(run.status, 0, "{run:?}");
    let printed: Value = serde_json::from_str(&run.stdout).expect("stdout is JSON");
    assert_eq!(printed["usage"]["total_tokens"], 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn several_choices_are_printed_one_after_another() {
    let server = TestServer::start(|_| Reply::json(200, &completion(&["one", "two"]))).await;
    let run = chat(&server, &["--no-stream", "-n", "2", "count"], "").await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(run.stdout, "--- choice 0 ---\none\n--- choice 1 ---\ntwo\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn every_option_reaches_the_request_body() {
    let server = TestServer::start(|_| Reply::sse(&streamed_answer())).await;
    let image = std::env::temp_dir().join(format!("gptproto-cli-test-{}.png", std::process::id()));
    std::fs::write(&image, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let image_path = image.to_str().unwrap();
    let run = chat(
        &server,
        &[
            "-m",
            "qwen-plus",
            "-s",
            "Be brief.",
            "--auth",
            "bearer",
            "--max-tokens",
            "64",
            "-n",
            "1",
            "--temperature",
            "0.5",
            "--top-p",
            "0.9",
            "--stop",
            "END",
            "--stop",
            "STOP",
            "--seed",
            "7",
            "--response-format",
            "json_object",
            "--image",
            image_path,
            "--image",
            "https://example.com/cat.png",
            "--extra",
            r#"{"enable_thinking":true,"top_k":20}"#,
            "describe",
        ],
        "",
    )
    .await;
    std::fs::remove_file(&image).unwrap();
    assert_eq!(run.status, 0, "{run:?}");
    let sent = &server.requests()[0];
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = sent.json();
    assert_eq!(body["model"], "qwen-plus");
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    let parts = &body["messages"][1]["content"];
    assert_eq!(parts[0], json!({"type": "text", "text": "describe"}));
    assert_eq!(
        parts[1]["image_url"]["url"],
        "data:image/png;base64,iVBORw0KGgpub3QgcmVhbGx5"
    );
    assert_eq!(parts[2]["image_url"]["url"], "https://example.com/cat.png");
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["n"], 1);
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["stop"], json!(["END", "STOP"]));
    assert_eq!(body["seed"], 7);
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    assert_eq!(body["enable_thinking"], true);
    assert_eq!(body["top_k"], 20);
}

#[tokio::test(flavor = "multi_thread")]
async fn response_format_json_schema_reads_a_schema_file() {
    let server = TestServer::start(|_| Reply::json(200, &completion(&[r#"{"name":"Ada"}"#]))).await;
    let dir = std::env::temp_dir().join(format!("gptproto-cli-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let schema =
        json!({"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]});
    let bare = dir.join("person.schema.json");
    std::fs::write(&bare, schema.to_string()).unwrap();
    let whole = dir.join("whole.json");
    std::fs::write(
        &whole,
        json!({"name": "someone", "schema": schema, "strict": true}).to_string(),
    )
    .unwrap();
    let not_json = dir.join("broken.json");
    std::fs::write(&not_json, "{").unwrap();

    let arg = format!("json_schema={}", bare.display());
    let run = chat(
        &server,
        &["--no-stream", "--response-format", &arg, "hi"],
        "",
    )
    .await;
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "{\"name\":\"Ada\"}\n"),
        "{run:?}"
    );
    let arg = format!("json_schema={}", whole.display());
    let run = chat(
        &server,
        &["--no-stream", "--response-format", &arg, "hi"],
        "",
    )
    .await;
    assert_eq!(run.status, 0, "{run:?}");
    let sent: Vec<Value> = server
        .requests()
        .iter()
        .map(|request| request.json())
        .collect();
    assert_eq!(
        sent[0]["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "person", "schema": schema}})
    );
    assert_eq!(
        sent[1]["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "someone", "schema": schema, "strict": true}})
    );

    let arg = format!("json_schema={}", not_json.display());
    let run = chat(&server, &["--response-format", &arg, "hi"], "").await;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(run.stderr.contains("broken.json: not JSON"), "{run:?}");
    assert_eq!(server.requests().len(), 2);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_raw_sends_gptprotos_raw_key_header() {
    let server = TestServer::start(|_| Reply::sse(&streamed_answer())).await;
    let run = chat(&server, &["--auth", "raw", "hi"], "").await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(server.requests()[0].header("authorization"), Some(KEY));
}

/// The command with `args`, its environment only `PATH` and `variables`, stdin empty.
async fn alone(args: &[&str], variables: &[(&str, &str)]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_gptproto"))
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(variables.iter().copied())
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn no_key_for_gptproto_exits_2_naming_where_a_key_goes_before_any_request() {
    let output = alone(&["chat", "hi"], &[]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for named in ["GPTPROTO_API_KEY", "--api-key", "gptproto.com"] {
        assert!(stderr.contains(named), "{named:?} in {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_that_refuses_the_credentials_is_named_and_exits_2_at_once() {
    let proxy = gptproto_testkit::TestProxy::answering("407 Proxy Authentication Required").await;
    let url = proxy.url().replace("http://", "http://me:hunter2@");
    let base_url = format!("https://{}:443/v1", gptproto_testkit::PROXIED_HOST);
    let args = [
        "chat",
        "--no-log",
        "--api-key",
        KEY,
        "--base-url",
        &base_url,
        "hi",
    ];
    let output = alone(&args, &[("HTTPS_PROXY", &url)]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    for said in [proxy.url().as_str(), "(from HTTPS_PROXY)", "answered 407"] {
        assert!(stderr.contains(said), "{said:?} in {stderr}");
    }
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(!stderr.contains("attempts"), "not retried: {stderr}");
    assert_eq!(proxy.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn plain_http_to_a_lan_host_needs_allow_insecure_http_which_the_refusal_names() {
    let base_url = format!("http://{}:8000/v1", gptproto_testkit::PROXIED_HOST);
    let args = ["chat", "--no-log", "--api-key", KEY, "--max-retries", "0"];
    let refused = alone(&[&args[..], &["--base-url", &base_url, "hi"]].concat(), &[]).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("refusing plain http://"), "{stderr}");
    assert!(stderr.contains("--allow-insecure-http"), "{stderr}");
    // Allowed, the request goes: the name resolves nowhere, a network error (exit 5).
    let allowed = [
        &args[..],
        &["--allow-insecure-http", "--base-url", &base_url, "hi"],
    ]
    .concat();
    let sent = alone(&allowed, &[]).await;
    let stderr = String::from_utf8_lossy(&sent.stderr);
    assert_eq!(sent.status.code(), Some(5), "{stderr}");
    assert!(!stderr.contains("refusing"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_404_names_the_url_asked_for_and_the_likely_mistake_in_the_base_url() {
    let server = TestServer::start(|_| api_error(404, "not_found", "Not Found")).await;
    let root = server.base_url().trim_end_matches("/v1").to_owned();
    for (base_url, said) in [
        (
            format!("{root}/v1/chat/completions"),
            format!("--base-url {root}/v1)"),
        ),
        (root.clone(), "has no version".to_owned()),
        (format!("{root}/v1"), "check the base URL".to_owned()),
    ] {
        let run = chat(
            &server,
            &["--max-retries", "0", "--base-url", &base_url, "hi"],
            "",
        )
        .await;
        assert_eq!(run.status, 6, "{run:?}");
        assert!(
            run.stderr.contains(&format!(
                "the server has nothing at {base_url}/chat/completions"
            )),
            "{run:?}"
        );
        assert!(run.stderr.contains(&said), "{said:?} in {run:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn http_to_a_tls_port_says_to_use_https_whatever_the_tls_server_answers() {
    // A rustls server sends a TLS alert: not HTTP at all.
    let tls = TestServer::start_tls(|_| Reply::json(200, &json!({}))).await;
    let url = format!("http://127.0.0.1:{}/v1", tls.address().port());
    let run = chat(&tls, &["--base-url", &url, "hi"], "").await;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(run.stderr.contains("did not answer in HTTP"), "{run:?}");
    assert!(run.stderr.contains("https://"), "{run:?}");
    assert_eq!(tls.requests().len(), 0, "nothing reached the server's HTTP");
    // nginx answers in HTTP: a 400 saying "The plain HTTP request was sent to HTTPS port".
    let upstream = TestServer::start(|_| Reply::json(200, &json!({}))).await;
    let ca = gptproto_testkit::TestCa::new();
    let Some(nginx) = gptproto_testkit::Nginx::start(
        &ca,
        upstream.address(),
        &[gptproto_testkit::NginxSite::default()],
    ) else {
        return;
    };
    let url = nginx.base_url(0).replacen("https://", "http://", 1);
    let run = chat(&upstream, &["--base-url", &url, "hi"], "").await;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("the server at {url}/chat/completions speaks TLS")),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains(&format!("--base-url {}", nginx.base_url(0))),
        "{run:?}"
    );
    assert_eq!(upstream.requests().len(), 0, "{run:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_key_is_no_key() {
    // For GPTProto: the usage error, naming where the empty key came from.
    for (args, variables, named) in [
        (&["chat", "--api-key", "", "hi"][..], &[][..], "--api-key"),
        (
            &["chat", "hi"][..],
            &[("GPTPROTO_API_KEY", "  ")][..],
            "GPTPROTO_API_KEY",
        ),
    ] {
        let output = alone(args, variables).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(
            stderr.contains(&format!("the key from {named} is empty")),
            "{stderr}"
        );
    }
    // For a local server: no Authorization header at all, rather than `Bearer `.
    let server = TestServer::start(|_| Reply::sse(&streamed_answer())).await;
    let run = chat(&server, &["--api-key", "", "hi"], "").await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(server.requests()[0].header("authorization"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn usage_and_input_errors_exit_2_before_any_request() {
    let server = TestServer::start(|_| Reply::sse(&streamed_answer())).await;
    let cases: &[(&[&str], &str, &str)] = &[
        (&["--extra", "{not json", "hi"], "", "--extra is not JSON"),
        (
            &["--extra", "[1,2]", "hi"],
            "",
            "--extra must be a JSON object",
        ),
        (
            &["--image", "/nonexistent/cat.png", "hi"],
            "",
            "/nonexistent/cat.png",
        ),
        (&["--image", "notes.txt", "hi"], "", "not a URL"),
        (&["--temperature", "warm", "hi"], "", "warm"),
        (&["--response-format", "yaml", "hi"], "", "yaml"),
        (
            &[
                "--response-format",
                "json_schema=/nonexistent/person.json",
                "hi",
            ],
            "",
            "/nonexistent/person.json",
        ),
        (
            &["--response-format", "json_schema=", "hi"],
            "",
            "json_schema=FILE",
        ),
        (&["--timeout", "0", "hi"], "", "--timeout"),
        (&["--timeout=-1", "hi"], "", "--timeout"),
        (&["--base-url", "ftp://example.com/v1", "hi"], "", "ftp"),
        (&[], "   \n", "the prompt is empty"),
        (&["--bogus", "hi"], "", "--bogus"),
    ];
    for (args, stdin, named) in cases {
        let run = chat(&server, args, stdin).await;
        assert_eq!(run.status, 2, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains(named),
            "{args:?} should name {named:?}: {run:?}"
        );
        assert!(run.stdout.is_empty(), "{args:?}: {run:?}");
    }
    assert!(server.requests().is_empty(), "nothing was sent");
}

#[tokio::test(flavor = "multi_thread")]
async fn authentication_and_permission_errors_exit_3_naming_status_code_message_and_request_id() {
    for status in [401, 403] {
        let server = TestServer::start(move |_| {
            api_error(status, "invalid_api_key", "Incorrect API key provided")
        })
        .await;
        let run = chat(&server, &["hi"], "").await;
        assert_eq!(run.status, 3, "{run:?}");
        for named in [
            &status.to_string()[..],
            "invalid_api_key",
            "Incorrect API key provided",
            "req-cli-42",
        ] {
            assert!(run.stderr.contains(named), "{named}: {}", run.stderr);
        }
        assert_eq!(server.requests().len(), 1, "not retried");
        assert_key_absent(&run);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn rate_limiting_exits_4_after_the_retries_honouring_retry_after() {
    let server = TestServer::start(|_| {
        api_error(429, "rate_limit_exceeded", "Slow down").header("retry-after-ms", "20")
    })
    .await;
    let run = chat(&server, &["--max-retries", "2", "hi"], "").await;
    assert_eq!(run.status, 4, "{run:?}");
    assert_eq!(
        server.requests().len(),
        3,
        "the first attempt and two retries"
    );
    assert!(
        run.stderr.contains("429") && run.stderr.contains("Slow down"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_retried_failure_that_then_succeeds_exits_0() {
    let server = TestServer::start(|request| {
        if request.index == 0 {
            api_error(503, "overloaded", "Try again").header("retry-after", "0")
        } else {
            Reply::sse(&streamed_answer())
        }
    })
    .await;
    let run = chat(&server, &["hi"], "").await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(run.stdout, "I am Qwen.\n");
    assert_eq!(server.requests().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn server_network_and_timeout_failures_exit_5() {
    // 500 after the retries.
    let server =
        TestServer::start(|_| api_error(500, "internal_error", "Boom").header("retry-after", "0"))
            .await;
    let run = chat(&server, &["--max-retries", "1", "hi"], "").await;
    assert_eq!(run.status, 5, "{run:?}");
    assert!(
        run.stderr.contains("500") && run.stderr.contains("Boom"),
        "{}",
        run.stderr
    );
    assert_eq!(server.requests().len(), 2);

    // Nothing listening.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let url = format!("http://127.0.0.1:{port}/v1");
    let run = chat(
        &server,
        &["--base-url", &url, "--max-retries", "0", "hi"],
        "",
    )
    .await;
    assert_eq!(run.status, 5, "{run:?}");

    // No response within the total deadline.
    let slow =
        TestServer::start(|_| Reply::sse(&streamed_answer()).delayed(Duration::from_secs(30)))
            .await;
    let run = chat(&slow, &["--timeout", "0.3", "--max-retries", "0", "hi"], "").await;
    assert_eq!(run.status, 5, "{run:?}");
    assert!(
        run.stderr
            .contains("timed out: the call did not finish within 300ms"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_broken_mid_stream_exits_5_after_printing_what_arrived() {
    let mut body = gptproto_testkit::sse_body(&streamed_answer()[..3]);
    body.truncate(body.rfind("data: [DONE]").unwrap());
    let server =
        TestServer::start(move |_| Reply::sse_raw(body.clone()).ending(Ending::Abort)).await;
    let run = chat(&server, &["hi"], "").await;
    assert_eq!(run.status, 5, "{run:?}");
    assert!(run.stdout.starts_with("I am Qwen"), "{run:?}");
    assert_eq!(
        server.requests().len(),
        1,
        "a started stream is never retried"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stalled_stream_exits_5_when_the_total_deadline_passes() {
    let mut body = gptproto_testkit::sse_body(&streamed_answer()[..2]);
    body.truncate(body.rfind("data: [DONE]").unwrap());
    let server =
        TestServer::start(move |_| Reply::sse_raw(body.clone()).ending(Ending::Stall)).await;
    let run = chat(&server, &["--timeout", "0.5", "hi"], "").await;
    assert_eq!(run.status, 5, "{run:?}");
    assert!(run.stdout.starts_with("I am "), "{run:?}");
    assert!(run.stderr.contains("within 500ms"), "{}", run.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn rejected_requests_exit_6() {
    for (status, code, message) in [
        (400, "invalid_parameter", "temperature must be at most 2"),
        (
            400,
            "data_inspection_failed",
            "Input data may contain inappropriate content.",
        ),
        (404, "model_not_found", "The model `nope` does not exist"),
    ] {
        let server = TestServer::start(move |_| api_error(status, code, message)).await;
        let run = chat(&server, &["hi"], "").await;
        assert_eq!(run.status, 6, "{code}: {run:?}");
        for named in [&status.to_string()[..], code, message, "req-cli-42"] {
            assert!(run.stderr.contains(named), "{named}: {}", run.stderr);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_event_inside_the_stream_exits_by_its_class() {
    let body = format!(
        "data: {}\n\ndata: {}\n\n",
        chunk(json!({"content": "I am"}), None),
        json!({"error": {"message": "Output data may contain inappropriate content.", "code": "data_inspection_failed", "type": "content_filter"}})
    );
    let server = TestServer::start(move |_| Reply::sse_raw(body.clone())).await;
    let run = chat(&server, &["hi"], "").await;
    assert_eq!(run.status, 6, "{run:?}");
    assert!(
        run.stderr.contains("data_inspection_failed"),
        "{}",
        run.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn protocol_errors_exit_7() {
    // A stream that ends cleanly but early: no finish reason, no [DONE].
    let mut truncated = gptproto_testkit::sse_body(&streamed_answer()[..3]);
    truncated.truncate(truncated.rfind("data: [DONE]").unwrap());
    // Undecodable data.
    let malformed = format!(
        "data: {}\n\ndata: {{\"choices\": [oops\n\n",
        chunk(json!({"content": "I"}), None)
    );
    // A 200 whose body is not a completion.
    for reply in [
        Reply::sse_raw(truncated),
        Reply::sse_raw(malformed),
        Reply::bytes(200, "application/json", "<html>gateway</html>"),
    ] {
        let server = TestServer::start(move |_| reply.clone()).await;
        for args in [&["hi"][..], &["--json", "hi"][..]] {
            let run = chat(&server, args, "").await;
            assert_eq!(run.status, 7, "{args:?}: {run:?}");
            assert!(run.stderr.contains("gptproto: "), "{run:?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn verbose_diagnostics_never_show_the_key() {
    let server = TestServer::start(|request| {
        if request.index % 2 == 0 {
            api_error(429, "rate_limit_exceeded", "Slow down").header("retry-after", "0")
        } else {
            Reply::sse(&streamed_answer())
        }
    })
    .await;
    for verbosity in ["-v", "-vv"] {
        let run = chat(&server, &[verbosity, "hi"], "").await;
        assert_eq!(run.status, 0, "{run:?}");
        assert!(
            run.stderr.contains("gen_ai.request.model=\"qwen-turbo\""),
            "diagnostics printed: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains('\x1b'),
            "no colour codes off a terminal: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("retry"),
            "the retry is reported: {}",
            run.stderr
        );
        assert_key_absent(&run);
    }
    // The key given on the command line is not echoed either, even in an error.
    let run = chat(
        &server,
        &[
            "-vv",
            "--api-key",
            KEY,
            "--base-url",
            "http://127.0.0.1:1/v1",
            "--max-retries",
            "0",
            "hi",
        ],
        "",
    )
    .await;
    assert_eq!(run.status, 5, "{run:?}");
    assert_key_absent(&run);
}

/// On a terminal with no prompt, `gptproto chat` holds a conversation: each turn carries the
/// earlier questions and answers, and an empty line ends it.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread")]
async fn with_no_prompt_on_a_terminal_it_keeps_the_conversation() {
    let server = TestServer::start(|request| {
        let turn = request.index + 1;
        Reply::sse(&[
            chunk(
                json!({"role": "assistant", "content": format!("answer {turn}")}),
                None,
            ),
            chunk(json!({}), Some("stop")),
        ])
    })
    .await;
    let (terminal, mut typing) = pty::open();
    std::io::Write::write_all(&mut typing, b"hello\nand again\n\n").unwrap();

    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_gptproto"))
        .args(["chat", "-s", "Be brief."])
        .env_clear()
        .env("GPTPROTO_API_KEY", KEY)
        .env("GPTPROTO_BASE_URL", server.base_url())
        .stdin(terminal)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the gptproto binary runs");
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the conversation ends")
        .unwrap();
    drop(typing);
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert_eq!(stdout, "answer 1\nanswer 2\n");
    let requests = server.requests();
    assert_eq!(requests.len(), 2, "two turns, then the empty line ended it");
    assert_eq!(
        requests[1].json()["messages"],
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "answer 1"},
            {"role": "user", "content": "and again"},
        ])
    );
}

#[tokio::test]
async fn an_untrusted_certificate_is_not_retried_and_cacert_trusts_a_private_ca() {
    let server = TestServer::start_tls(|_| Reply::sse(&streamed_answer())).await;
    let run = chat(&server, &["hi"], "").await;
    assert_eq!(run.status, 5, "{}", run.stderr);
    for expected in [
        "not trusted",
        "webpki-roots",
        "UnknownIssuer",
        "--cacert FILE",
    ] {
        assert!(
            run.stderr.contains(expected),
            "{expected:?} in {}",
            run.stderr
        );
    }
    assert!(
        !run.stderr.contains("attempts"),
        "not retried: {}",
        run.stderr
    );
    assert_eq!(server.connections(), 1, "one TLS handshake, no retries");

    let dir = std::env::temp_dir().join(format!("gptproto-cacert-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, server.ca().unwrap().root_pem()).unwrap();
    let run = chat(&server, &["--cacert", ca.to_str().unwrap(), "hi"], "").await;
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(run.stdout, "I am Qwen.\n");

    // A file that is not a certificate: exit 2 naming it, before any request.
    let bad = dir.join("not-a-ca.pem");
    std::fs::write(&bad, "hello").unwrap();
    let run = chat(&server, &["--cacert", bad.to_str().unwrap(), "hi"], "").await;
    assert_eq!(run.status, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("not-a-ca.pem") && run.stderr.contains("no certificate"),
        "{}",
        run.stderr
    );
    assert_eq!(server.requests().len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn models_lists_ids_or_the_json_with_chats_exit_statuses() {
    let list = json!({"object": "list", "data": [
        {"id": "qwen-turbo", "object": "model", "owned_by": "qwen"},
        {"id": "qwen-plus", "object": "model", "owned_by": "qwen"}
    ]});
    let answer = list.clone();
    let server = TestServer::start(move |request| {
        assert_eq!(request.method, http::Method::GET);
        assert_eq!(request.uri.path(), "/v1/models");
        Reply::json(200, &answer)
    })
    .await;
    let run = gptproto(&server, "models", &[], "").await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(run.stdout, "qwen-turbo\nqwen-plus\n");
    let run = gptproto(&server, "models", &["--json"], "").await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(serde_json::from_str::<Value>(&run.stdout).unwrap(), list);
    assert_key_absent(&run);
    for (reply, status) in [
        (
            api_error(401, "invalid_api_key", "Incorrect API key provided"),
            3,
        ),
        (
            api_error(429, "rate_limit_exceeded", "Slow down").header("x-should-retry", "false"),
            4,
        ),
        (
            api_error(500, "server_error", "Oops").header("x-should-retry", "false"),
            5,
        ),
        (Reply::bytes(200, "text/html", "<html>proxy</html>"), 7),
    ] {
        let server = TestServer::start(move |_| reply.clone()).await;
        let run = gptproto(&server, "models", &[], "").await;
        assert_eq!(run.status, status, "{run:?}");
        assert!(run.stdout.is_empty());
        assert_key_absent(&run);
    }
}

#[tokio::test]
async fn completions_for_each_shell() {
    let server = TestServer::start(|_| Reply::json(200, &completion(&["unused"]))).await;
    for (shell, marker) in [
        ("bash", "complete -F _gptproto"),
        ("zsh", "#compdef gptproto"),
        ("fish", "complete -c gptproto"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let run = gptproto(&server, "completions", &[shell], "").await;
        assert_eq!(run.status, 0, "{run:?}");
        assert!(
            run.stdout.contains(marker),
            "{shell}: {}",
            &run.stdout[..200.min(run.stdout.len())]
        );
        for command in ["chat", "batch", "models"] {
            assert!(run.stdout.contains(command), "{shell} completes {command}");
        }
    }
    let run = gptproto(&server, "completions", &["tcsh"], "").await;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(server.requests().is_empty());
}

/// The user message the server received, of its only request.
fn sent_prompt(server: &TestServer) -> String {
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let body: Value = serde_json::from_slice(&requests[0].body).unwrap();
    body["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn dry_run_prints_the_request_with_the_key_redacted_and_sends_nothing() {
    let server = TestServer::start(|_| Reply::sse(&streamed_answer())).await;
    let run = chat(
        &server,
        &["--dry-run", "--temperature", "0.3", "who are you?"],
        "",
    )
    .await;
    assert_eq!(run.status, 0, "{run:?}");
    assert!(server.requests().is_empty());
    let shown: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(shown["method"], "POST");
    assert_eq!(
        shown["url"],
        format!("{}/chat/completions", server.base_url())
    );
    assert_eq!(shown["headers"]["authorization"], "<redacted>");
    assert_eq!(shown["headers"]["content-type"], "application/json");
    assert_eq!(shown["body"]["model"], "qwen-turbo");
    assert_eq!(shown["body"]["temperature"], 0.3);
    assert_eq!(shown["body"]["stream"], true);
    assert_eq!(shown["body"]["messages"][0]["content"], "who are you?");
    assert_key_absent(&run);
    // An invalid request is refused as it would be: exit 2, nothing sent.
    let run = chat(&server, &["--dry-run", "-n", "0", "hi"], "").await;
    assert_eq!(run.status, 2, "{run:?}");
}

#[tokio::test]
async fn extract_prints_the_first_code_block_only() {
    let answer = "Run this:\n\n```bash\nls -la | wc -l\n```\n\nor ```python\nprint(1)\n```\n";
    let server = TestServer::start(move |_| {
        Reply::sse(&[
            chunk(json!({"content": &answer[..20]}), None),
            chunk(json!({"content": &answer[20..]}), Some("stop")),
        ])
    })
    .await;
    let run = chat(&server, &["-x", "how many files?"], "").await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(run.stdout, "ls -la | wc -l\n");
    let plain = TestServer::start(|_| Reply::json(200, &completion(&["No code, sorry."]))).await;
    let run = chat(&plain, &["--extract", "--no-stream", "hi"], "").await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(run.stdout, "No code, sorry.\n");
    assert!(run.stderr.contains("no fenced code block"), "{run:?}");
}

#[tokio::test]
async fn usage_prints_tokens_first_token_and_rate_on_stderr() {
    let mut events = streamed_answer();
    events.push(
        json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1,
        "model": "qwen-turbo", "choices": [],
        "usage": {"prompt_tokens": 12, "completion_tokens": 4, "total_tokens": 16}}),
    );
    let server =
        TestServer::start(move |_| Reply::sse(&events).delayed(Duration::from_millis(100))).await;
    let run = chat(&server, &["-u", "who are you?"], "").await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(run.stdout, "I am Qwen.\n");
    let line = run.stderr.lines().last().unwrap();
    assert!(
        line.starts_with("usage: 12 tokens in, 4 out, first token after 0."),
        "{line}"
    );
    assert!(
        line.contains(" tokens/s; ") && line.ends_with(" s in all"),
        "{line}"
    );
    let first: f64 = line
        .split("after ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(first >= 0.1, "{line}");
}

#[tokio::test]
async fn files_are_attached_under_their_names_and_binary_or_huge_ones_refused() {
    let dir = std::env::temp_dir().join(format!("gptproto-cli-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let notes = dir.join("notes.txt");
    std::fs::write(&notes, "line one\nline two\n").unwrap();
    let server = TestServer::start(|_| Reply::sse(&streamed_answer())).await;
    let notes = notes.to_str().unwrap();
    let run = chat(&server, &["-f", notes, "Summarise"], "").await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(
        sent_prompt(&server),
        format!("Summarise\n\n{notes}:\n```\nline one\nline two\n```")
    );
    // `-f -`: standard input is the file.
    let server = TestServer::start(|_| Reply::sse(&streamed_answer())).await;
    let run = chat(&server, &["-f", "-", "What is this?"], "fn main() {}").await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(
        sent_prompt(&server),
        "What is this?\n\nstdin:\n```\nfn main() {}\n```"
    );

    let binary = dir.join("image.bin");
    std::fs::write(&binary, [0x89, b'P', b'N', b'G', 0, 0, 1]).unwrap();
    let huge = dir.join("huge.txt");
    std::fs::write(&huge, "x".repeat(1024 * 1024 + 1)).unwrap();
    let latin1 = dir.join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9").unwrap();
    for (path, said) in [
        (binary.to_str().unwrap(), "a binary file"),
        (huge.to_str().unwrap(), "larger than 1024 KiB"),
        (latin1.to_str().unwrap(), "not UTF-8 text"),
        ("/nonexistent/file.txt", "cannot read it"),
    ] {
        let run = chat(&server, &["-f", path, "hi"], "").await;
        assert_eq!(run.status, 2, "{run:?}");
        assert!(
            run.stderr.contains(path) && run.stderr.contains(said),
            "{run:?}"
        );
    }
    assert_eq!(server.requests().len(), 1, "nothing more was sent");
    std::fs::remove_dir_all(&dir).unwrap();
}
