//! The history through the binary: each exchange recorded, a conversation continued with
//! `-c` and `--cid`, `logs` listing, searching and showing, processes writing at once losing
//! nothing, `--no-log`, and a corrupted database degrading to a warning.

use std::path::PathBuf;

use gptproto_testkit::fixtures::completion;
use gptproto_testkit::{Reply, TestServer};
use serde_json::{Value, json};

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("gptproto-history-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("history.db")
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[path = "support/run.rs"]
mod support;

use support::Run;

/// `gptproto ARGS` against `server`, its history and configuration in `dir`.
async fn gptproto(dir: &Dir, server: &TestServer, args: &[&str]) -> Run {
    let (db, config, url) = (dir.db(), dir.0.join("config.toml"), server.base_url());
    support::gptproto(
        args,
        &[
            ("GPTPROTO_HISTORY", db.as_os_str()),
            ("GPTPROTO_CONFIG", config.as_os_str()),
            ("GPTPROTO_BASE_URL", url.as_ref()),
            ("GPTPROTO_API_KEY", "sk-history-test".as_ref()),
        ],
    )
    .await
}

/// A server answering "answer N" to its Nth request (from 1), with usage.
async fn numbered() -> TestServer {
    TestServer::start(|request| {
        Reply::json(
            200,
            &completion(&[&format!("answer {}", request.index + 1)]),
        )
        .header("x-request-id", &format!("req-{}", request.index + 1))
    })
    .await
}

fn logs(run: &Run) -> Vec<Value> {
    assert_eq!(run.status, 0, "{run:?}");
    serde_json::from_str::<Value>(&run.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

#[tokio::test]
async fn exchanges_are_recorded_continued_listed_and_searched() {
    let dir = Dir::new("continue");
    let server = numbered().await;
    assert_eq!(
        gptproto(&dir, &server, &["chat", "-s", "Be brief.", "Name a colour"])
            .await
            .status,
        0
    );
    // Continued: the server gets the whole conversation, then the new prompt.
    let run = gptproto(&dir, &server, &["chat", "-c", "And a fruit?"]).await;
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "answer 2\n"),
        "{run:?}"
    );
    let sent: Value = serde_json::from_slice(&server.requests()[1].body).unwrap();
    assert_eq!(
        sent["messages"],
        json!([
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Name a colour"},
            {"role": "assistant", "content": "answer 1"},
            {"role": "user", "content": "And a fruit?"},
        ])
    );
    // Another conversation.
    assert_eq!(
        gptproto(&dir, &server, &["chat", "--no-stream", "Something else"])
            .await
            .status,
        0
    );

    let all = logs(&gptproto(&dir, &server, &["logs", "--json"]).await);
    assert_eq!(all.len(), 3);
    let (newest, first) = (&all[0], &all[2]);
    assert_eq!(newest["prompt"], "Something else");
    assert_eq!(first["response"], "answer 1");
    assert_eq!(first["input_tokens"], 5);
    assert_eq!(first["output_tokens"], 3);
    assert_eq!(first["finish_reason"], "stop");
    assert_eq!(first["request_id"], "req-1");
    assert_eq!(newest["request_id"], "req-3");
    assert!(first["first_token_ms"].is_number() && first["duration_ms"].is_number());
    assert!(newest["first_token_ms"].is_null(), "not streamed");
    assert_eq!(all[1]["conversation"], first["conversation"]);
    assert_ne!(newest["conversation"], first["conversation"]);

    // --cid continues a given conversation; -q searches; --cid lists one conversation.
    let cid = first["conversation"].as_str().unwrap().to_owned();
    let run = gptproto(&dir, &server, &["chat", "--cid", &cid, "And a third?"]).await;
    assert_eq!(run.status, 0, "{run:?}");
    let sent: Value = serde_json::from_slice(&server.requests()[3].body).unwrap();
    assert_eq!(sent["messages"].as_array().unwrap().len(), 6);
    let found = logs(&gptproto(&dir, &server, &["logs", "--json", "-q", "fruit"]).await);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["prompt"], "And a fruit?");
    let conversation = logs(&gptproto(&dir, &server, &["logs", "--json", "--cid", &cid]).await);
    assert_eq!(conversation.len(), 3);
    let two = logs(&gptproto(&dir, &server, &["logs", "--json", "-n", "2"]).await);
    assert_eq!(two.len(), 2);

    // Text: oldest first; `logs show` whole.
    let run = gptproto(&dir, &server, &["logs", "-n", "1"]).await;
    assert!(
        run.stdout.contains("> And a third?") && run.stdout.contains("answer 4"),
        "{run:?}"
    );
    let id = found[0]["id"].as_i64().unwrap().to_string();
    let shown = gptproto(&dir, &server, &["logs", "show", &id, "--json"]).await;
    let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(shown["request"]["messages"][3]["content"], "And a fruit?");
    assert_eq!(
        shown["response"]["choices"][0]["message"]["content"],
        "answer 2"
    );
    let run = gptproto(&dir, &server, &["logs", "show", "999"]).await;
    assert_eq!(run.status, 2, "{run:?}");
    // Nothing to continue in a conversation that is not there.
    let run = gptproto(&dir, &server, &["chat", "--cid", "nope", "hi"]).await;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(run.stderr.contains("conversation nope"), "{run:?}");
}

#[tokio::test]
async fn no_log_and_the_profiles_switch_record_nothing() {
    let dir = Dir::new("nolog");
    let server = numbered().await;
    assert_eq!(
        gptproto(&dir, &server, &["chat", "--no-log", "hi"])
            .await
            .status,
        0
    );
    assert!(!dir.db().exists());
    std::fs::write(
        dir.0.join("config.toml"),
        "[profiles.default]\nlog = false\n",
    )
    .unwrap();
    assert_eq!(gptproto(&dir, &server, &["chat", "hi"]).await.status, 0);
    assert!(!dir.db().exists());
    let run = gptproto(&dir, &server, &["chat", "-c", "more"]).await;
    assert_eq!(run.status, 2, "{run:?}");
}

#[tokio::test]
async fn processes_writing_at_once_lose_nothing() {
    let dir = Dir::new("concurrent");
    let server = numbered().await;
    let runs = (0..8).map(|i| {
        let prompt = format!("question {i}");
        let (dir, server) = (&dir, &server);
        async move { gptproto(dir, server, &["chat", &prompt]).await }
    });
    for run in futures_util::future::join_all(runs).await {
        assert_eq!(run.status, 0, "{run:?}");
        assert!(!run.stderr.contains("warning"), "{run:?}");
    }
    let all = logs(&gptproto(&dir, &server, &["logs", "--json", "-n", "100"]).await);
    let mut prompts: Vec<String> = all
        .iter()
        .map(|row| row["prompt"].as_str().unwrap().to_owned())
        .collect();
    prompts.sort();
    assert_eq!(
        prompts,
        (0..8).map(|i| format!("question {i}")).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_corrupted_database_is_a_warning_and_the_chat_goes_on() {
    let dir = Dir::new("corrupt");
    let server = numbered().await;
    std::fs::write(
        dir.db(),
        b"this is not a SQLite database, not at all, not even its header",
    )
    .unwrap();
    let run = gptproto(&dir, &server, &["chat", "hi"]).await;
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "answer 1\n"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("warning") && run.stderr.contains(&dir.db().display().to_string()),
        "{run:?}"
    );
    // `logs` on it: an error naming it.
    let run = gptproto(&dir, &server, &["logs"]).await;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr.contains(&dir.db().display().to_string()),
        "{run:?}"
    );
}

#[tokio::test]
async fn a_locked_database_is_a_warning_and_the_chat_goes_on() {
    let dir = Dir::new("locked");
    let server = numbered().await;
    assert_eq!(gptproto(&dir, &server, &["chat", "first"]).await.status, 0);
    // Another process holds the write lock past the wait.
    let holder = rusqlite::Connection::open(dir.db()).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let run = gptproto(&dir, &server, &["chat", "second"]).await;
    assert_eq!(
        (run.status, run.stdout.as_str()),
        (0, "answer 2\n"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("warning") && run.stderr.contains("locked"),
        "{run:?}"
    );
    holder.execute_batch("COMMIT").unwrap();
    drop(holder);
    let all = logs(&gptproto(&dir, &server, &["logs", "--json"]).await);
    assert_eq!(
        all.len(),
        1,
        "the second exchange was not recorded, and said so"
    );
}

#[tokio::test]
async fn costs_at_the_configured_prices_are_shown_recorded_and_totalled() {
    let dir = Dir::new("cost");
    // 1,000,000 tokens in (400,000 of them cached), 500,000 out (100,000 reasoning) a time:
    // round figures for the prices below.
    let server = TestServer::start(|request| {
        let mut answer = completion(&[&format!("answer {}", request.index + 1)]);
        answer["model"] = json!("qwen-turbo-2025-04-28");
        answer["usage"] = json!({
            "prompt_tokens": 1_000_000, "completion_tokens": 500_000, "total_tokens": 1_500_000,
            "prompt_tokens_details": {"cached_tokens": 400_000},
            "completion_tokens_details": {"reasoning_tokens": 100_000}
        });
        Reply::json(200, &answer)
    })
    .await;
    let config = dir.0.join("config.toml");
    std::fs::write(
        &config,
        "[prices.\"qwen-turbo\"]\ninput = 0.05\noutput = 0.2\ncached-input = 0.01\n\n\
         [profiles.work.prices.\"qwen-turbo\"]\ninput = 0.5\noutput = 2\n",
    )
    .unwrap();
    // 600,000 × 0.05 + 400,000 × 0.01 + 500,000 × 0.2, per million: 0.134.
    let run = gptproto(&dir, &server, &["chat", "--no-stream", "-u", "hi"]).await;
    assert_eq!(run.status, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("1000000 tokens in (400000 cached), 500000 out (100000 reasoning)"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("cost 0.1340 at qwen-turbo's price"),
        "{run:?}"
    );
    // The profile's prices over the file's: 1,000,000 × 0.5 + 500,000 × 2, per million.
    let run = gptproto(
        &dir,
        &server,
        &["--profile", "work", "chat", "--no-stream", "-u", "again"],
    )
    .await;
    assert!(run.stderr.contains("cost 1.5000"), "{run:?}");
    let rows = logs(&gptproto(&dir, &server, &["logs", "--json"]).await);
    let costs: Vec<f64> = rows
        .iter()
        .map(|row| row["cost"].as_f64().unwrap())
        .collect();
    assert!(
        (costs[0] - 1.5).abs() < 1e-9 && (costs[1] - 0.134).abs() < 1e-9,
        "{costs:?}"
    );
    let totals = logs(
        &gptproto(
            &dir,
            &server,
            &["logs", "--usage", "--by", "profile", "--json"],
        )
        .await,
    );
    assert_eq!(totals.len(), 2, "{totals:?}");
    let all_cached: i64 = totals
        .iter()
        .map(|t| t["cached_tokens"].as_i64().unwrap())
        .sum();
    let all_reasoning: i64 = totals
        .iter()
        .map(|t| t["reasoning_tokens"].as_i64().unwrap())
        .sum();
    assert_eq!((all_cached, all_reasoning), (800_000, 200_000));
    let table = gptproto(&dir, &server, &["logs", "--usage", "--since", "1d"]).await;
    assert!(table.stdout.contains("qwen-turbo-2025-04-28"), "{table:?}");
    assert!(table.stdout.contains("1.6340"), "{table:?}");
    let future = gptproto(&dir, &server, &["logs", "--usage", "--since", "2999-01-01"]).await;
    assert!(future.stdout.contains("no exchanges"), "{future:?}");
    let prices = gptproto(&dir, &server, &["prices"]).await;
    assert!(
        prices.stdout.contains("qwen-turbo") && prices.stdout.contains("0.01"),
        "{prices:?}"
    );
    // A price that cannot be used is refused before any request, naming the file and model.
    std::fs::write(&config, "[prices.\"m\"]\ninput = -1\noutput = 1\n").unwrap();
    let run = gptproto(&dir, &server, &["chat", "hi"]).await;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr.contains("config.toml") && run.stderr.contains("the price of m: input = -1"),
        "{run:?}"
    );
}

#[tokio::test]
async fn a_missing_model_falls_over_and_the_history_records_who_answered() {
    let dir = Dir::new("fallback");
    let server = TestServer::start(|request| {
        let body: Value = serde_json::from_slice(&request.body).unwrap();
        let model = body["model"].as_str().unwrap_or_default().to_owned();
        if model == "missing" {
            return Reply::json(
                404,
                &json!({"error": {"code": "model_not_found", "message": "no such model"}}),
            );
        }
        let mut answer = completion(&[&format!("answered by {model}")]);
        answer["model"] = json!(model);
        Reply::json(200, &answer)
    })
    .await;
    let run = gptproto(
        &dir,
        &server,
        &[
            "chat",
            "--no-stream",
            "-u",
            "-v",
            "-m",
            "missing",
            "--fallback",
            "backup",
            "hi",
        ],
    )
    .await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(run.stdout.trim(), "answered by backup");
    assert!(run.stderr.contains("; answered by backup"), "{run:?}");
    assert!(
        run.stderr.contains("failing over to the next model"),
        "-v says so: {run:?}"
    );
    let rows = logs(&gptproto(&dir, &server, &["logs", "--json"]).await);
    assert_eq!(rows[0]["model"], "backup");
    // The profile's fallbacks, when no flag gives any.
    std::fs::write(
        dir.0.join("config.toml"),
        "[profiles.default]\nmodel = \"missing\"\nfallback = [\"second\"]\n",
    )
    .unwrap();
    let run = gptproto(&dir, &server, &["chat", "--no-stream", "hi"]).await;
    assert_eq!(run.stdout.trim(), "answered by second", "{run:?}");
}

/// A conversation continued with `-c` on a server that keeps DeepSeek's rule (an earlier turn's
/// `reasoning_content` in the input is a 400): the answer's reasoning is recorded, and sent
/// back or not by the provider's profile (`--provider`, or a profile's `provider`).
#[tokio::test]
async fn a_continued_conversation_sends_reasoning_back_as_the_provider_requires() {
    use gptproto_testkit::providers::{REASONING, deepseek_reasoning};

    let dir = Dir::new("reasoning");
    let server = TestServer::start(|request| deepseek_reasoning(request, "Hi!")).await;
    let run = gptproto(&dir, &server, &["chat", "--provider", "deepseek", "Hello"]).await;
    assert_eq!((run.status, run.stdout.as_str()), (0, "Hi!\n"), "{run:?}");
    assert!(run.stderr.contains(REASONING), "shown: {run:?}");
    std::fs::write(
        dir.0.join("config.toml"),
        "[profiles.default]\nprovider = \"deepseek\"\n",
    )
    .unwrap();
    let run = gptproto(&dir, &server, &["chat", "-c", "--no-stream", "And you?"]).await;
    assert_eq!((run.status, run.stdout.as_str()), (0, "Hi!\n"), "{run:?}");
    let sent = server.requests()[1].json();
    assert_eq!(sent["messages"][1]["content"], "Hi!");
    assert!(
        sent["messages"][1].get("reasoning_content").is_none(),
        "{sent}"
    );
    // OpenRouter's profile sends reasoning back: this server refuses it.
    let run = gptproto(
        &dir,
        &server,
        &["chat", "-c", "--provider", "openrouter", "Again?"],
    )
    .await;
    assert_eq!(run.status, 6, "the server's refusal: {run:?}");
    assert!(
        run.stderr.contains("remove the reasoning_content"),
        "{run:?}"
    );
    let sent = server.requests()[2].json();
    assert_eq!(
        sent["messages"][3]["reasoning_content"], REASONING,
        "{sent}"
    );
    // A provider that is none is named, with the known ones.
    std::fs::write(
        dir.0.join("config.toml"),
        "[profiles.default]\nprovider = \"deepsek\"\n",
    )
    .unwrap();
    let run = gptproto(&dir, &server, &["chat", "Hello"]).await;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(
        run.stderr.contains("unknown provider \"deepsek\"") && run.stderr.contains("deepseek"),
        "{run:?}"
    );
    let run = gptproto(&dir, &server, &["chat", "--provider", "nope", "Hello"]).await;
    assert_eq!(run.status, 2, "{run:?}");
    assert!(run.stderr.contains("unknown provider \"nope\""), "{run:?}");
}

/// `--no-stream` with thinking asked for (a profile's `extra`), on a server that thinks only
/// when streamed: answered, its reasoning shown and its usage counted.
#[tokio::test]
async fn thinking_not_streamed_is_answered_where_the_server_thinks_only_when_streamed() {
    use gptproto_testkit::providers::{REASONING, thinks_only_streamed};

    let dir = Dir::new("thinking");
    let server = TestServer::start(|request| thinks_only_streamed(request, "4")).await;
    std::fs::write(
        dir.0.join("config.toml"),
        "[profiles.default]\nextra = { enable_thinking = true }\n",
    )
    .unwrap();
    let run = gptproto(&dir, &server, &["chat", "--no-stream", "-u", "2+2?"]).await;
    assert_eq!((run.status, run.stdout.as_str()), (0, "4\n"), "{run:?}");
    assert!(run.stderr.contains(REASONING), "{run:?}");
    assert!(run.stderr.contains("6 out (4 reasoning)"), "{run:?}");
    assert_eq!(server.requests().len(), 2);
}

/// `--fallback PROFILE:MODEL`: another profile's provider (its base URL, key, provider), and a
/// model with a colon of its own (Ollama's `qwen2.5:0.5b`) left whole.
#[tokio::test]
async fn a_fallback_on_another_profiles_provider() {
    let dir = Dir::new("profile-fallback");
    let down = TestServer::start(|_| {
        Reply::json(
            503,
            &json!({"error": {"message": "overloaded", "type": "server_error"}}),
        )
    })
    .await;
    let other = TestServer::start(|request| {
        let model = request.json()["model"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let mut answer = completion(&[&format!(
            "{model} via {}",
            request.header("authorization").unwrap_or("-")
        )]);
        answer["model"] = json!(model);
        Reply::json(200, &answer)
    })
    .await;
    std::fs::write(
        dir.0.join("config.toml"),
        format!(
            "[profiles.backup]\nbase-url = \"{}\"\napi-key-env = \"BACKUP_KEY\"\n",
            other.base_url()
        ),
    )
    .unwrap();
    let (db, config, url) = (dir.db(), dir.0.join("config.toml"), down.base_url());
    let env = [
        ("GPTPROTO_HISTORY", db.as_os_str()),
        ("GPTPROTO_CONFIG", config.as_os_str()),
        ("GPTPROTO_BASE_URL", url.as_ref()),
        ("GPTPROTO_API_KEY", "sk-main".as_ref()),
        ("BACKUP_KEY", "sk-backup".as_ref()),
    ];
    let args = [
        "chat",
        "--no-stream",
        "--max-retries",
        "0",
        "-u",
        "--fallback",
        "backup:qwen2.5:0.5b",
        "hi",
    ];
    let run = support::gptproto(&args, &env).await;
    assert_eq!(run.status, 0, "{run:?}");
    assert_eq!(run.stdout.trim(), "qwen2.5:0.5b via Bearer sk-backup");
    // The profile's provider answered: an unknown server (a loopback test server).
    assert!(
        run.stderr.contains("answered by qwen2.5:0.5b (unknown)"),
        "{run:?}"
    );
    assert_eq!(down.requests().len(), 1);
    // Not a profile of the file: the whole is a model's name, on the same provider.
    let args = [
        "chat",
        "--no-stream",
        "--max-retries",
        "0",
        "--fallback",
        "nope:m",
        "hi",
    ];
    let run = support::gptproto(&args, &env).await;
    assert_eq!(run.status, 5, "{run:?}");
    assert_eq!(down.requests().len(), 3);
    let sent = down.requests()[2].json();
    assert_eq!(sent["model"], "nope:m");
}
