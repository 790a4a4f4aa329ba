//! `gptproto batch` as a process against the test kit's rate-limited API over real TCP: the
//! answers written once per id, resumed after a torn line, a `kill -9` or Ctrl-C; bad input
//! refused before any request; a wrong key stopping the run; permanent failures not retried;
//! shards covering every id once; an oversized request not deadlocked; progress on a pipe.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use gptproto_testkit::{LimitedApi, Limits, Reply, TestServer};
use serde_json::{Value, json};

#[cfg(unix)]
#[path = "support/pty.rs"]
mod pty;

const KEY: &str = "sk-batch-test-0123456789";

/// A scratch folder with an input file.
struct Job {
    dir: PathBuf,
}

#[derive(Debug)]
struct Run {
    status: i32,
    stderr: String,
}

impl Job {
    fn new(name: &str, lines: &[String]) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "gptproto-batch-{name}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("in.jsonl"), lines.join("\n") + "\n").unwrap();
        Self { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn command(&self, server: &TestServer, args: &[&str]) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gptproto"));
        command
            .arg("batch")
            .arg(self.path("in.jsonl"))
            .arg("-o")
            .arg(self.path("out.jsonl"))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("GPTPROTO_API_KEY", KEY)
            .env("GPTPROTO_BASE_URL", server.base_url())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    async fn run(&self, server: &TestServer, args: &[&str]) -> Run {
        let output = tokio::time::timeout(
            Duration::from_secs(120),
            self.command(server, args).output(),
        )
        .await
        .expect("the batch finishes")
        .expect("the binary runs");
        let run = Run {
            status: output.status.code().expect("exited"),
            stderr: String::from_utf8(output.stderr).unwrap(),
        };
        println!(
            "$ gptproto batch {}\n[exit {}]\n{}",
            args.join(" "),
            run.status,
            run.stderr
        );
        run
    }

    /// The lines of an output file, as JSON.
    fn lines(&self, name: &str) -> Vec<Value> {
        std::fs::read_to_string(self.path(name))
            .unwrap_or_default()
            .lines()
            .map(|line| serde_json::from_str(line).expect("a whole JSON line"))
            .collect()
    }

    /// custom_id → how many lines of `name` have it.
    fn ids(&self, name: &str) -> HashMap<String, usize> {
        let mut ids = HashMap::new();
        for line in self.lines(name) {
            *ids.entry(line["custom_id"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        ids
    }
}

/// `count` lines in OpenAI's batch format, ids `req-<i>`.
fn batch_lines(count: usize) -> Vec<String> {
    (0..count)
        .map(|i| {
            json!({"custom_id": format!("req-{i}"), "method": "POST", "url": "/v1/chat/completions",
                "body": {"model": "qwen-turbo", "max_tokens": 10,
                    "messages": [{"role": "user", "content": format!("req-{i}: label this ticket")}]}})
            .to_string()
        })
        .collect()
}

/// The total tokens of the answers written.
fn tokens_used(job: &Job) -> u64 {
    job.lines("out.jsonl")
        .iter()
        .map(|line| {
            line["response"]["body"]["usage"]["total_tokens"]
                .as_u64()
                .unwrap()
        })
        .sum()
}

fn assert_each_once(job: &Job, count: usize) {
    let ids = job.ids("out.jsonl");
    assert_eq!(ids.len(), count, "every id answered");
    assert!(ids.values().all(|&lines| lines == 1), "one line per id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_is_answered_once_in_openais_output_format() {
    let (server, api) = LimitedApi::serve(Limits {
        requests_per_minute: 6_000,
        ..Limits::default()
    })
    .await;
    let mut lines = batch_lines(40);
    // The cookbook's format: a bare body, with and without an id.
    lines.push(json!({"custom_id": "bare", "model": "qwen-turbo", "messages": [{"role": "user", "content": "bare one"}]}).to_string());
    lines.push(json!({"messages": [{"role": "user", "content": "no id"}]}).to_string());
    let job = Job::new("once", &lines);
    let run = job
        .run(&server, &["--rpm", "6000", "-m", "qwen-turbo"])
        .await;
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_each_once(&job, 42);
    let ids = job.ids("out.jsonl");
    assert!(ids.contains_key("bare") && ids.contains_key("line-42"));
    let line = &job.lines("out.jsonl")[0];
    assert!(line["id"].as_str().unwrap().starts_with("batch_req_"));
    assert_eq!(line["response"]["status_code"], 200);
    assert_eq!(line["response"]["body"]["object"], "chat.completion");
    assert!(line["error"].is_null());
    assert!(
        !job.path("out.errors.jsonl").exists(),
        "no errors file when nothing failed"
    );
    assert_eq!(api.served().rate_limited, 0);
    assert!(
        run.stderr.contains("42 succeeded, 0 failed"),
        "{}",
        run.stderr
    );
    // Run again: everything is done, nothing is sent.
    let before = server.requests().len();
    let again = job
        .run(&server, &["--rpm", "6000", "-m", "qwen-turbo"])
        .await;
    assert_eq!(again.status, 0);
    assert_eq!(server.requests().len(), before, "nothing sent twice");
    assert!(
        again.stderr.contains("42 already done, 0 to send"),
        "{}",
        again.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_torn_last_line_is_cut_and_the_rest_resumed() {
    let (server, api) = LimitedApi::serve(Limits::default()).await;
    let job = Job::new("torn", &batch_lines(30));
    // A crash left 10 whole lines and half of the 11th.
    let first = Job::new("torn-first", &batch_lines(10));
    assert_eq!(first.run(&server, &[]).await.status, 0);
    let mut written = std::fs::read_to_string(first.path("out.jsonl")).unwrap();
    written.push_str(r#"{"id":"batch_req_x","custom_id":"req-10","respo"#);
    std::fs::write(job.path("out.jsonl"), written).unwrap();
    let run = job.run(&server, &[]).await;
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("cut a torn last line"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("10 already done, 20 to send"),
        "{}",
        run.stderr
    );
    assert_each_once(&job, 30);
    assert_eq!(
        api.served().answered.len(),
        30,
        "the first 10 were not sent again"
    );
    assert!(api.served().answered.values().all(|&times| times == 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_at_random_moments_then_rerun_every_id_has_exactly_one_line() {
    let (server, api) = LimitedApi::serve(Limits {
        requests_per_minute: 3_000,
        latency: (Duration::from_millis(20), Duration::from_millis(200)),
        ..Limits::default()
    })
    .await;
    let job = Job::new("kill", &batch_lines(200));
    for _ in 0..3 {
        let mut child = job.command(&server, &["--rpm", "3000"]).spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(300 + fastrand::u64(..700))).await;
        child.start_kill().unwrap(); // SIGKILL
        let status = child.wait().await.unwrap();
        assert!(!status.success(), "killed mid-run: {status:?}");
    }
    let run = job.run(&server, &["--rpm", "3000"]).await;
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_each_once(&job, 200);
    // Sent again only what was in flight when killed: at most a few per kill.
    let answered: u32 = api.served().answered.values().sum();
    assert!(
        (200..200 + 3 * 64).contains(&answered),
        "{answered} answers for 200 ids"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_lets_the_requests_in_flight_finish_and_says_how_to_resume() {
    let (server, api) = LimitedApi::serve(Limits {
        requests_per_minute: 1_200,
        latency: (Duration::from_millis(300), Duration::from_millis(300)),
        ..Limits::default()
    })
    .await;
    let job = Job::new("sigint", &batch_lines(500));
    let child = job.command(&server, &["--rpm", "1200"]).spawn().unwrap();
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-s", "INT", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    println!("{stderr}");
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("to resume: "), "{stderr}");
    // Everything the server answered was written: the in-flight requests were waited for.
    let written = job.ids("out.jsonl");
    assert!(!written.is_empty() && written.len() < 500);
    let answered = api.served().answered.len();
    assert_eq!(written.len(), answered, "answered but not written");
    let run = job.run(&server, &["--rpm", "1200"]).await;
    assert_eq!(run.status, 0);
    assert_each_once(&job, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_exits_2_naming_each_line_before_any_request() {
    let server = TestServer::start(|_| Reply::json(200, &json!({}))).await;
    let mut lines = batch_lines(5);
    lines[1] = "{not json".to_owned();
    lines[3] = lines[0].clone(); // a duplicate id
    lines.push(
        json!({"custom_id": "e", "url": "/v1/embeddings", "body": {"model": "m", "input": "x"}})
            .to_string(),
    );
    lines.push(json!({"custom_id": "t", "body": {"model": "m", "messages": []}, "url": "/v1/chat/completions"}).to_string());
    let job = Job::new("bad", &lines);
    let run = job.run(&server, &[]).await;
    assert_eq!(run.status, 2, "{}", run.stderr);
    for expected in [
        "line 2: not JSON",
        "line 4: custom_id \"req-0\" is on an earlier line too",
        "line 6: url must be",
        "line 7: invalid request: messages",
    ] {
        assert!(
            run.stderr.contains(expected),
            "{expected:?} in {}",
            run.stderr
        );
    }
    assert!(server.requests().is_empty(), "nothing was sent");
    // The output may not be the input.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_gptproto"))
        .arg("batch")
        .arg(job.path("in.jsonl"))
        .arg("-o")
        .arg(job.path("in.jsonl"))
        .env("GPTPROTO_API_KEY", KEY)
        .env("GPTPROTO_BASE_URL", server.base_url())
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("must not be the input"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_stops_the_run_with_exit_3_after_few_requests() {
    let server = TestServer::start(|_| {
        Reply::json(
            401,
            &json!({"error": {"message": "Incorrect API key provided", "code": "invalid_api_key"}}),
        )
    })
    .await;
    let job = Job::new("auth", &batch_lines(1_000));
    let run = job.run(&server, &[]).await;
    assert_eq!(run.status, 3, "{}", run.stderr);
    assert!(run.stderr.contains("refused the key"), "{}", run.stderr);
    assert!(
        server.requests().len() <= 2,
        "{} requests",
        server.requests().len()
    );
    assert!(!run.stderr.contains(KEY));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_failures_go_to_the_errors_file_unretried_and_exit_8() {
    let server = TestServer::start(|request| {
        let body = request.json();
        let text = body["messages"][0]["content"].as_str().unwrap_or_default().to_owned();
        if text.starts_with("req-2:") {
            Reply::json(400, &json!({"error": {"message": "bad value", "type": "invalid_request_error", "code": "invalid_value"}}))
                .header("x-request-id", "req-abc")
        } else {
            Reply::json(200, &gptproto_testkit::fixtures::completion(&["ok"]))
        }
    })
    .await;
    let job = Job::new("permanent", &batch_lines(6));
    let run = job.run(&server, &[]).await;
    assert_eq!(run.status, 8, "{}", run.stderr);
    assert_eq!(server.requests().len(), 6, "not retried");
    let errors = job.lines("out.errors.jsonl");
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["custom_id"], "req-2");
    assert_eq!(errors[0]["error"]["code"], "invalid_value");
    assert_eq!(errors[0]["response"]["status_code"], 400);
    assert_eq!(errors[0]["response"]["request_id"], "req-abc");
    assert_eq!(job.ids("out.jsonl").len(), 5);
    assert!(run.stderr.contains("--retry-errors"), "{}", run.stderr);
    // A rerun skips it; with --retry-errors it is sent again.
    assert_eq!(job.run(&server, &[]).await.status, 0);
    assert_eq!(server.requests().len(), 6);
    assert_eq!(job.run(&server, &["--retry-errors"]).await.status, 8);
    assert_eq!(server.requests().len(), 7);
    assert_eq!(
        job.lines("out.errors.jsonl").len(),
        1,
        "one line for the id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_shards_in_parallel_cover_every_id_once() {
    let (server, api) = LimitedApi::serve(Limits::default()).await;
    let job = Job::new("shards", &batch_lines(400));
    let runs: Vec<_> = (0..4)
        .map(|k| {
            let mut command = job.command(&server, &["--shard", &format!("{k}/4")]);
            command.spawn().unwrap().wait_with_output()
        })
        .collect();
    for output in futures_util::future::join_all(runs).await {
        let output = output.unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let mut all = HashMap::new();
    for k in 0..4 {
        let name = format!("out.shard-{k}-of-4.jsonl");
        let ids = job.ids(&name);
        assert!(ids.len() > 50, "shard {k} took {}", ids.len());
        for (id, count) in ids {
            *all.entry(id).or_insert(0) += count;
        }
    }
    assert_eq!(all.len(), 400);
    assert!(all.values().all(|&count| count == 1));
    assert!(api.served().answered.values().all(|&times| times == 1));
    // auto/N reads the pod's index.
    let mut command = job.command(&server, &["--shard", "auto/4"]);
    command.env("JOB_COMPLETION_INDEX", "2");
    let output = command.output().await.unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&output.stderr).contains("in shard 2/4"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_larger_than_the_token_window_is_sent_not_deadlocked() {
    // 60,000 tokens a minute: a window of 1,000; one request reserves 5,000.
    let (server, api) = LimitedApi::serve(Limits {
        tokens_per_minute: 60_000,
        ..Limits::default()
    })
    .await;
    let mut lines = batch_lines(3);
    lines.insert(
        1,
        json!({"custom_id": "huge", "body": {"model": "m", "max_tokens": 5000,
        "messages": [{"role": "user", "content": "huge"}]}, "url": "/v1/chat/completions"})
        .to_string(),
    );
    let job = Job::new("huge", &lines);
    let run = job.run(&server, &["--tpm", "60000"]).await;
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_each_once(&job, 4);
    assert_eq!(api.served().rate_limited, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_pipe_progress_is_a_plain_line_and_a_summary() {
    let (server, _api) = LimitedApi::serve(Limits {
        requests_per_minute: 600,
        ..Limits::default()
    })
    .await;
    // 10 a second: 110 requests take 11 s, past the first status line at 10 s.
    let job = Job::new("plain", &batch_lines(110));
    let run = job.run(&server, &["--rpm", "600"]).await;
    assert_eq!(run.status, 0, "{}", run.stderr);
    let status_lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|line| line.contains(" done (") && line.contains("req/s"))
        .collect();
    assert!(!status_lines.is_empty(), "{}", run.stderr);
    assert!(run.stderr.contains("effective rate"), "{}", run.stderr);
    assert!(
        !run.stderr.contains('\u{1b}'),
        "no terminal codes on a pipe"
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_progress_is_a_bar() {
    let (server, _api) = LimitedApi::serve(Limits {
        requests_per_minute: 1_200,
        ..Limits::default()
    })
    .await;
    let job = Job::new("bar", &batch_lines(40));
    let (terminal, mut screen) = pty::open();
    // What the terminal shows, read while the batch runs (the pty's buffer is small).
    let reader = std::thread::spawn(move || {
        let mut shown = Vec::new();
        let mut buffer = [0u8; 4096];
        while let Ok(read) = std::io::Read::read(&mut screen, &mut buffer) {
            if read == 0 {
                break;
            }
            shown.extend_from_slice(&buffer[..read]);
            if String::from_utf8_lossy(&shown).contains("effective rate") {
                break;
            }
        }
        String::from_utf8_lossy(&shown).into_owned()
    });
    let mut command = job.command(&server, &["--rpm", "1200"]);
    command.env("TERM", "xterm").stderr(terminal);
    let status = command.status().await.unwrap();
    assert_eq!(status.code(), Some(0));
    let shown = reader.join().unwrap();
    println!("{shown}");
    assert!(shown.contains("/40"), "a bar with the total: {shown:?}");
    assert!(shown.contains("ETA"), "{shown:?}");
    assert!(shown.contains("40 succeeded"), "{shown:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_budget_stops_dispatching_before_it_would_be_passed() {
    let (server, api) = LimitedApi::serve(Limits::default()).await;
    let job = Job::new("budget", &batch_lines(100));
    // Each request reserves about 20 prompt tokens + 10: a budget of 300 lets some go, not all.
    let run = job
        .run(&server, &["--budget-tokens", "300", "--concurrency", "1"])
        .await;
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert!(run.stderr.contains("--budget-tokens"), "{}", run.stderr);
    let done = job.ids("out.jsonl").len();
    assert!((1..100).contains(&done), "{done} answered");
    let used = tokens_used(&job);
    assert!(used <= 300, "{used} tokens used");
    assert_eq!(api.served().answered.len(), done);
    // Raised, it resumes and finishes.
    let rest = job.run(&server, &[]).await;
    assert_eq!(rest.status, 0);
    assert_each_once(&job, 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_limits_in_flight_stays_near_what_the_server_works_on_and_streams_count_usage() {
    // The issue's run: no limits given, none told, no 429s, a server working on 4 requests at
    // once. The pace once doubled without bound, 194 requests in flight.
    let (server, api) = LimitedApi::serve(Limits {
        headers: false,
        latency: (Duration::from_millis(100), Duration::from_millis(100)),
        slots: Some(4),
        ..Limits::default()
    })
    .await;
    // Every other line streamed, as a batch file can ask: its usage counts all the same.
    let lines: Vec<String> = batch_lines(240)
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let mut line: Value = serde_json::from_str(&line).unwrap();
            line["body"]["stream"] = json!(i % 2 == 0);
            line.to_string()
        })
        .collect();
    let job = Job::new("slots", &lines);
    let run = job.run(&server, &[]).await;
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_each_once(&job, 240);
    let served = api.served();
    // The slow start may overshoot by a round before the latency shows the queue.
    assert!(
        served.most_held <= 20,
        "{} held by a server of 4 slots",
        served.most_held
    );
    let most: usize = run
        .stderr
        .lines()
        .find_map(|line| line.strip_prefix("gptproto batch: at most "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no concurrency in {}", run.stderr));
    assert!((4..=12).contains(&most), "{most}");
    // 5 completion tokens an answer, streamed or not.
    assert!(run.stderr.contains(" 1200 out;"), "{}", run.stderr);
    // The pace printed is within reach of what was sent: at most twice what went in a second
    // (40 a second at most, 2,400 a minute; a second's burst of answers a little more).
    if let Some(paced) = run.stderr.split("paced at ").nth(1) {
        let paced: f64 = paced.split(')').next().unwrap().parse().unwrap();
        assert!(paced <= 2.5 * 2_400.0, "paced at {paced}: {}", run.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cost_budget_stops_dispatching_before_it_would_be_passed() {
    let (server, api) = LimitedApi::serve(Limits::default()).await;
    let job = Job::new("cost", &batch_lines(100));
    // A unit a token: each request reserves about 20 prompt tokens + 10 (max_tokens), and
    // its answer reports its prompt + 5.
    std::fs::write(
        job.path("config.toml"),
        "[prices.\"qwen-turbo\"]\ninput = 1000000\noutput = 1000000\n",
    )
    .unwrap();
    let output = job
        .command(&server, &["--max-cost", "300", "--concurrency", "1"])
        .env("GPTPROTO_CONFIG", job.path("config.toml"))
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    println!("{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("at most "),
        "the estimate before the run: {stderr}"
    );
    assert!(
        stderr.contains("stopped before passing --max-cost"),
        "{stderr}"
    );
    let done = job.ids("out.jsonl").len();
    assert!((1..100).contains(&done), "{done} answered");
    let used = tokens_used(&job);
    assert!(used <= 300, "{used} tokens used at a unit each");
    assert!(
        stderr.contains(&format!("gptproto batch: cost {used}.0000")),
        "{stderr}"
    );
    assert_eq!(api.served().answered.len(), done);
    // Without prices, --max-cost is refused before any request.
    let refused = job.run(&server, &["--max-cost", "1"]).await;
    assert_eq!(refused.status, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("--max-cost needs prices"),
        "{}",
        refused.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_whose_model_is_missing_move_to_the_fallback_and_say_who_answered() {
    // A provider without the lines' model: 404 model_not_found; the fallback answers.
    let server = TestServer::start(|request| {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let model = body["model"].as_str().unwrap_or_default().to_owned();
        if model == "qwen-turbo" {
            return Reply::json(
                404,
                &json!({"error": {"code": "model_not_found", "message": "no qwen-turbo here"}}),
            );
        }
        let mut answer = gptproto_testkit::fixtures::completion(&["fine"]);
        answer["model"] = json!(model);
        Reply::json(200, &answer)
    })
    .await;
    let job = Job::new("fallback", &batch_lines(20));
    let run = job.run(&server, &["--fallback", "qwen-plus"]).await;
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_each_once(&job, 20);
    assert!(
        job.lines("out.jsonl")
            .iter()
            .all(|line| line["response"]["body"]["model"] == "qwen-plus"),
        "every answer names the fallback"
    );
    assert!(
        run.stderr.contains("20 lines moved to a fallback model"),
        "{}",
        run.stderr
    );
    // Each line asked its model once (a 404 is not retried), then the fallback once.
    assert_eq!(server.requests().len(), 40);
    // Without a fallback, the same lines fail as the 404 says.
    let job = Job::new("nofallback", &batch_lines(3));
    let run = job.run(&server, &[]).await;
    assert_eq!(run.status, 8, "{}", run.stderr);
}

/// The issue's run against LiteLLM: a model allowed far less than the limit given (`--rpm` ten
/// times too high), every answer saying `x-ratelimit-limit-requests`, and 429s that say nothing
/// of when to come back. The limit given was the truth: 25 of 60 lines failed as 429 after
/// their retries. A limit given is a ceiling: the server's lower one paces the run, and an
/// unexplained 429 waits, so that every line is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_limit_given_too_high_is_lowered_by_the_servers_and_no_line_fails() {
    let (server, api) = LimitedApi::serve(Limits {
        requests_per_minute: 600,
        window: Duration::from_secs(2),
        remaining: false,
        hints: false,
        ..Limits::default()
    })
    .await;
    let job = Job::new("ceiling", &batch_lines(60));
    let run = job
        .run(&server, &["--rpm", "6000", "--max-retries", "3"])
        .await;
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_each_once(&job, 60);
    let served = api.served();
    // The first answers tell the limit; the few 429s before they do are waited out.
    assert!(served.rate_limited <= 20, "{} 429s", served.rate_limited);
    assert!(
        run.stderr.contains("60 succeeded, 0 failed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("of 6000 given (paced at 600: the server's limit"),
        "{}",
        run.stderr
    );
}
