//! Answers rendered as markdown on a terminal (the binary's stdout a pseudoterminal), against
//! committed expected screens (`tests/data/answer.*`: with colour, and with `NO_COLOR`); and
//! the same answer piped, unchanged byte for byte.

#![cfg(unix)]

use std::process::Stdio;
use std::time::Duration;

use gptproto_testkit::fixtures::chunk;
use gptproto_testkit::{Reply, TestServer};

#[path = "support/pty.rs"]
mod pty;

const ANSWER: &str = include_str!("data/answer.md");

/// The answer streamed in pieces of 7 bytes (cut anywhere: inside words, table rows, the
/// code), each its own event.
fn streamed() -> Reply {
    let characters: Vec<char> = ANSWER.chars().collect();
    let mut events: Vec<_> = characters
        .chunks(7)
        .map(|piece| chunk(&piece.iter().collect::<String>(), None))
        .collect();
    events.push(chunk("", Some("stop")));
    Reply::sse(&events)
}

fn command(server: &TestServer) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_gptproto"));
    command
        .args(["chat", "--no-log", "show the stock"])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GPTPROTO_API_KEY", "sk-markdown")
        .env("GPTPROTO_BASE_URL", server.base_url())
        .env("COLUMNS", "60")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// What the terminal showed (its line ends as written, `\r\n` made `\n`).
async fn on_a_terminal(server: &TestServer, colour: bool) -> String {
    let (terminal, mut screen) = pty::open();
    let reader = std::thread::spawn(move || {
        let mut shown = Vec::new();
        let mut buffer = [0u8; 4096];
        // EIO once the program has exited and no one holds the terminal.
        while let Ok(read) = std::io::Read::read(&mut screen, &mut buffer) {
            if read == 0 {
                break;
            }
            shown.extend_from_slice(&buffer[..read]);
        }
        String::from_utf8(shown).unwrap().replace("\r\n", "\n")
    });
    let mut command = command(server);
    command.stdout(terminal);
    if !colour {
        command.env("NO_COLOR", "1");
    }
    let child = command.spawn().unwrap();
    drop(command);
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    reader.join().unwrap()
}

/// Compares with the committed screen (`GPTPROTO_BLESS=1` writes it instead).
fn expect(shown: &str, file: &str) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(file);
    if std::env::var_os("GPTPROTO_BLESS").is_some() {
        std::fs::write(&path, shown).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        shown,
        expected,
        "the screen differs from {}:\n{shown}\n(run with GPTPROTO_BLESS=1 to accept it)",
        path.display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_and_a_code_block_render_as_the_committed_screens() {
    let server = TestServer::start(|_| streamed()).await;
    let plain = on_a_terminal(&server, false).await;
    assert!(!plain.contains('\x1b'), "NO_COLOR: no escape at all");
    expect(&plain, "answer.no-color.txt");
    let coloured = on_a_terminal(&server, true).await;
    assert!(coloured.contains("\x1b[38;2;"), "the code is highlighted");
    expect(&coloured, "answer.ansi");
    // Every line within the width (escapes take none).
    for line in plain.lines() {
        assert!(line.chars().count() <= 60, "{line:?}");
    }
}

#[tokio::test]
async fn piped_the_answer_is_byte_for_byte_what_was_sent() {
    let server = TestServer::start(|_| streamed()).await;
    let mut piped = command(&server);
    let output = piped.stdout(Stdio::piped()).output().await.unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), ANSWER);
    // `--raw` on a terminal: the same bytes.
    let (terminal, mut screen) = pty::open();
    let reader = std::thread::spawn(move || {
        let mut shown = Vec::new();
        let _ = std::io::Read::read_to_end(&mut screen, &mut shown);
        String::from_utf8_lossy(&shown).replace("\r\n", "\n")
    });
    let mut command = command(&server);
    command.arg("--raw").stdout(terminal);
    let status = command.status().await.unwrap();
    assert_eq!(status.code(), Some(0));
    drop(command);
    assert_eq!(reader.join().unwrap(), ANSWER);
}
