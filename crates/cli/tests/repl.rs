//! The interactive chat on a pseudoterminal (stdin, stdout and stderr all the terminal), typed
//! into as a person would: slash commands, a message of several lines, Ctrl-C cancelling an
//! answer on its way without leaving, Ctrl-D leaving, and what was typed remembered.

#![cfg(unix)]

use std::io::Write;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gptproto_testkit::fixtures::chunk;
use gptproto_testkit::{Reply, TestServer};
use serde_json::{Value, json};

#[path = "support/pty.rs"]
mod pty;

/// What the terminal shows, read as it comes.
#[derive(Clone, Default)]
struct Screen(Arc<Mutex<String>>);

impl Screen {
    async fn wait_for(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.0.lock().unwrap().contains(text) {
            assert!(
                Instant::now() < deadline,
                "{text:?} never shown; the screen:\n{}",
                self.0.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_until(&self, ready: impl Fn(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready(&self.0.lock().unwrap()) {
            assert!(
                Instant::now() < deadline,
                "never ready; the screen:\n{}",
                self.0.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // The prompt is drawn before the terminal reads: give it a moment.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    /// How often `text` was shown.
    fn count(&self, text: &str) -> usize {
        self.0.lock().unwrap().matches(text).count()
    }
}

/// `gptproto ARGS` with a new pseudoterminal as its stdin, stdout, stderr and controlling
/// terminal (a session of its own, so that a typed ^C is a SIGINT to it, as in a shell); what
/// it shows, and the keyboard.
fn chat_on_a_terminal(
    args: &[&str],
    server: &TestServer,
    dir: &std::path::Path,
) -> (tokio::process::Child, Screen, std::fs::File) {
    chat_at(args, &server.base_url(), dir)
}

/// [`chat_on_a_terminal`] with the server at `base_url`.
fn chat_at(
    args: &[&str],
    base_url: &str,
    dir: &std::path::Path,
) -> (tokio::process::Child, Screen, std::fs::File) {
    let (terminal, controller) = pty::open();
    let screen = Screen::default();
    let mut reader = controller.try_clone().unwrap();
    let shown = screen.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(read) = std::io::Read::read(&mut reader, &mut buffer) {
            if read == 0 {
                break;
            }
            shown
                .0
                .lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buffer[..read]));
        }
    });
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gptproto"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .env("GPTPROTO_API_KEY", "sk-repl")
        .env("GPTPROTO_BASE_URL", base_url)
        .env("GPTPROTO_HISTORY", dir.join("history.db"))
        .stdin(Stdio::from(terminal.try_clone().unwrap()))
        .stdout(Stdio::from(terminal.try_clone().unwrap()))
        .stderr(Stdio::from(terminal))
        .kill_on_drop(true);
    // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
    unsafe {
        command.pre_exec(|| {
            rustix::process::setsid()?;
            // SAFETY: descriptor 0 is the terminal, open for the whole call.
            let terminal = std::os::fd::BorrowedFd::borrow_raw(0);
            rustix::process::ioctl_tiocsctty(terminal)?;
            Ok(())
        });
    }
    (command.spawn().unwrap(), screen, controller)
}

/// Ctrl-D typed: the chat ends, with status 0, within 20 s.
async fn leaves_with_ctrl_d(child: &mut tokio::process::Child, keys: &mut std::fs::File) {
    keys.write_all(b"\x04").unwrap();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_several_lines_ctrl_c_and_ctrl_d() {
    let server = TestServer::start(|request| {
        let reply = Reply::sse(&[
            chunk(&format!("answer {}", request.index + 1), None),
            chunk("", Some("stop")),
        ]);
        // The fourth answer takes long: it is cancelled.
        if request.index == 3 {
            reply.delayed(Duration::from_secs(30))
        } else {
            reply
        }
    })
    .await;
    let dir = std::env::temp_dir().join(format!("gptproto-repl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let started = Instant::now();
    let (mut child, screen, mut keys) =
        chat_on_a_terminal(&["chat", "-s", "Be brief."], &server, &dir);
    let mut type_in = |text: &str| keys.write_all(text.as_bytes()).unwrap();

    // Each line typed at its prompt (typed ahead, a line editor may drop it when it sets the
    // terminal's mode).
    let mut prompts = 0;
    for (keys, shown) in [
        ("hello\r", "answer 1"),
        ("/model qwen-plus\r", "model: qwen-plus"),
        ("/system Be terse.\r", "system message set"),
        ("again\r", "answer 2"),
        ("\"\"\"\r", ""),
        ("line one\r", ""),
        ("line two\r", ""),
        ("\"\"\"\r", "answer 3"),
        ("/nonsense\r", "no command /nonsense"),
    ] {
        prompts += 1;
        screen
            .wait_until(|screen| {
                screen.matches("> ").count() + screen.matches("… ").count() >= prompts
            })
            .await;
        type_in(keys);
        screen.wait_for(shown).await;
    }

    // An answer on its way, cancelled: the chat goes on.
    screen
        .wait_until(|screen| screen.matches("> ").count() + screen.matches("… ").count() > prompts)
        .await;
    type_in("slow\r");
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.requests().len() < 4 {
        assert!(Instant::now() < deadline, "the fourth request never came");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ^C typed at the terminal.
    type_in("\x03");
    screen.wait_for("(cancelled)").await;
    screen
        .wait_until(|screen| {
            screen.matches("> ").count() + screen.matches("… ").count() > prompts + 1
        })
        .await;
    type_in("/save ");
    type_in(dir.join("saved.json").to_str().unwrap());
    type_in("\r");
    screen.wait_for("saved to").await;
    screen
        .wait_until(|screen| {
            screen.matches("> ").count() + screen.matches("… ").count() > prompts + 2
        })
        .await;
    leaves_with_ctrl_d(&mut child, &mut keys).await;
    assert!(
        started.elapsed() < Duration::from_secs(25),
        "not held by the cancelled answer"
    );
    assert_eq!(screen.count("answer 4"), 0);

    let requests: Vec<Value> = server
        .requests()
        .iter()
        .map(|request| serde_json::from_slice(&request.body).unwrap())
        .collect();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[0]["model"], "qwen-turbo");
    assert_eq!(requests[1]["model"], "qwen-plus");
    assert_eq!(
        requests[1]["messages"],
        json!([
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "hello"},
            {"role": "assistant", "content": "answer 1"},
            {"role": "user", "content": "again"},
        ])
    );
    assert_eq!(requests[2]["messages"][5]["content"], "line one\nline two");
    // The cancelled message was taken back: the saved conversation ends with answer 3.
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("saved.json")).unwrap()).unwrap();
    let saved = saved.as_array().unwrap();
    assert_eq!(saved.len(), 7);
    assert_eq!(saved[6]["content"], "answer 3");
    // What was typed is remembered for the next time.
    let remembered = std::fs::read_to_string(dir.join("input-history.txt")).unwrap();
    assert!(
        remembered.contains("again") && remembered.contains("/model qwen-plus"),
        "{remembered}"
    );

    // `chat -c` at a terminal: the conversation is shown, then goes on.
    let (mut resumed, again, mut keys) = chat_on_a_terminal(&["chat", "-c"], &server, &dir);
    again.wait_for("answer 3").await;
    for earlier in ["> hello", "answer 1", "> again", "answer 2", "line one"] {
        assert!(again.count(earlier) >= 1, "{earlier:?} shown again");
    }
    again
        .wait_until(|screen| screen.matches("> ").count() >= 4)
        .await;
    leaves_with_ctrl_d(&mut resumed, &mut keys).await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The REPL against nginx (TLS, HTTP/2) that closes idle connections after 2 s: a question, a
/// pause longer than that while the user "types", a second question. The lines are read off
/// the runtime's thread, so the runtime reads nginx's GOAWAY and the close meanwhile, and the
/// second question goes on a new connection: answered, with the default retries and with none
/// (`--max-retries 0`), no transport error shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_longer_than_the_servers_idle_timeout_costs_nothing() {
    let upstream = TestServer::start(|request| {
        Reply::json(
            200,
            &gptproto_testkit::fixtures::completion(&[&format!("answer {}", request.index + 1)]),
        )
    })
    .await;
    let ca = gptproto_testkit::TestCa::new();
    let site = gptproto_testkit::NginxSite {
        keepalive_timeout: Duration::from_secs(2),
        ..gptproto_testkit::NginxSite::default()
    };
    let Some(nginx) = gptproto_testkit::Nginx::start(&ca, upstream.address(), &[site]) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("gptproto-repl-idle-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cacert = dir.join("ca.pem");
    std::fs::write(&cacert, ca.root_pem()).unwrap();
    let cacert = cacert.to_str().unwrap().to_owned();
    for retries in [None, Some("0")] {
        let mut args = vec!["chat", "--no-stream", "--no-log", "-v", "--cacert", &cacert];
        if let Some(retries) = retries {
            args.extend(["--max-retries", retries]);
        }
        let asked = upstream.requests().len();
        let (mut child, screen, mut keys) = chat_at(&args, &nginx.base_url(0), &dir);
        screen
            .wait_until(|screen| screen.matches("> ").count() >= 1)
            .await;
        keys.write_all(b"hello\r").unwrap();
        screen.wait_for(&format!("answer {}", asked + 1)).await;
        screen
            .wait_until(|screen| screen.matches("> ").count() >= 2)
            .await;
        // Longer than nginx's keep-alive: it closes the connection meanwhile.
        tokio::time::sleep(Duration::from_secs(4)).await;
        keys.write_all(b"again\r").unwrap();
        screen.wait_for(&format!("answer {}", asked + 2)).await;
        let shown = screen.0.lock().unwrap().clone();
        for unwanted in ["transport error", "broken pipe", "gptproto: "] {
            assert!(
                !shown.contains(unwanted),
                "{unwanted:?} with {retries:?} retries; the screen:\n{shown}"
            );
        }
        screen
            .wait_until(|screen| screen.matches("> ").count() >= 3)
            .await;
        leaves_with_ctrl_d(&mut child, &mut keys).await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
