//! Adversarial servers (`cargo xtask adversarial`): each row a hostile server on loopback
//! (hand-written HTTP/1.1 from this process) and the client, with its default limits, in a
//! child process of its own, whose peak resident memory (`VmHWM`), CPU time and outcome are
//! measured. The client runs with no retries (one attempt is measured) and, for the trickle, a
//! 10 s body timeout instead of the default 2 h.

use std::io::Write as _;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use gptproto::{ChatRequest, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SCENARIOS: [(&str, &str); 9] = [
    (
        "endless",
        "an endless stream of chunks, as fast as the client reads",
    ),
    ("trickle", "a 1-byte-per-second trickle"),
    (
        "headers",
        "huge headers: 20,000 header lines (1.1 MB) in the head",
    ),
    (
        "gigabyte",
        "a 1 GiB non-streamed body (Content-Length 1 GiB)",
    ),
    ("line", "a 64 MiB line (one `data:` line, no newline)"),
    ("empty", "5 million empty events (`data:` and a blank line)"),
    (
        "nested",
        "JSON nested 100,000 deep in a non-streamed answer",
    ),
    (
        "nested-chunk",
        "JSON nested 100,000 deep in a streamed chunk",
    ),
    ("gzip", "a body sent with Content-Encoding: gzip"),
];

const SSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n";

/// Reads the request's head and body (by its content-length).
async fn read_request(stream: &mut TcpStream) {
    let mut request = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let Ok(read) = stream.read(&mut buffer).await else {
            return;
        };
        if read == 0 {
            return;
        }
        request.extend_from_slice(&buffer[..read]);
        if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&request[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                return;
            }
        }
    }
}

fn chunk(text: &str) -> String {
    format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n")
}

fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Plays `scenario` on one connection until the client goes away.
async fn play(scenario: &str, mut stream: TcpStream) -> std::io::Result<()> {
    read_request(&mut stream).await;
    match scenario {
        "endless" => {
            stream.write_all(SSE_HEAD).await?;
            let batch = chunk("endless ").repeat(256);
            loop {
                stream.write_all(batch.as_bytes()).await?;
            }
        }
        "trickle" => {
            stream.write_all(SSE_HEAD).await?;
            for byte in chunk("slow ").bytes().cycle() {
                stream.write_all(&[byte]).await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Ok(())
        }
        "headers" => {
            let mut head = String::from("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n");
            for i in 0..20_000 {
                head += &format!("x-header-{i}: {}\r\n", "v".repeat(40));
            }
            head += "content-length: 2\r\n\r\n{}";
            stream.write_all(head.as_bytes()).await
        }
        "gigabyte" => {
            let size = 1u64 << 30;
            stream
                .write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {size}\r\n\r\n").as_bytes())
                .await?;
            let block = vec![b' '; 1 << 20];
            for _ in 0..1024 {
                stream.write_all(&block).await?;
            }
            Ok(())
        }
        "line" => {
            stream.write_all(SSE_HEAD).await?;
            stream.write_all(b"data: ").await?;
            let block = vec![b'a'; 1 << 20];
            for _ in 0..64 {
                stream.write_all(&block).await?;
            }
            stream.write_all(b"\n\n").await
        }
        "empty" => {
            stream.write_all(SSE_HEAD).await?;
            let batch = "data:\n\n".repeat(100_000);
            for _ in 0..50 {
                stream.write_all(batch.as_bytes()).await?;
            }
            stream.write_all(chunk("after them").as_bytes()).await?;
            stream.write_all(b"data: [DONE]\n\n").await
        }
        "nested" => {
            let body = format!(
                "{{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{{\"index\":0,\"message\":{{\"role\":\"assistant\",\"content\":\"hi\"}},\"finish_reason\":\"stop\",\"deep\":{}}}]}}",
                nested(100_000)
            );
            stream
                .write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len()).as_bytes())
                .await
        }
        "nested-chunk" => {
            stream.write_all(SSE_HEAD).await?;
            let event = format!(
                "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"x\"}},\"deep\":{}}}]}}\n\ndata: [DONE]\n\n",
                nested(100_000)
            );
            stream.write_all(event.as_bytes()).await
        }
        "gzip" => {
            // A gzip member's header and some deflate bytes: what a compressing server sends.
            let mut body = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03];
            body.extend(std::iter::repeat_n(0xedu8, 1024));
            stream
                .write_all(format!("HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-encoding: gzip\r\ncontent-length: {}\r\n\r\n", body.len()).as_bytes())
                .await?;
            stream.write_all(&body).await
        }
        other => panic!("no scenario {other}"),
    }
}

/// The child: one call to `url`, then its outcome and its own figures on one line.
async fn client_side(scenario: &str, url: &str) {
    let mut builder = Client::builder()
        .ignore_env()
        .base_url(url)
        .api_key("sk-adversarial")
        .max_retries(0);
    if scenario == "trickle" {
        builder = builder.body_timeout(Duration::from_secs(10));
    }
    let client = builder.build().expect("a client");
    let streamed = !matches!(scenario, "headers" | "gigabyte" | "nested" | "gzip");
    let request = ChatRequest::new("m").user("hi");
    let outcome = if streamed {
        match client.chat_stream(request).await {
            Ok(mut stream) => {
                let mut chunks = 0u64;
                let mut end = None;
                while let Some(chunk) = stream.next().await {
                    match chunk {
                        Ok(_) => chunks += 1,
                        Err(error) => {
                            end = Some(describe(&error));
                            break;
                        }
                    }
                }
                end.unwrap_or_else(|| format!("ended cleanly after {chunks} chunks"))
            }
            Err(error) => describe(&error),
        }
    } else {
        match client.chat(request).await {
            Ok(answer) => format!("answered: {:?}", answer.text()),
            Err(error) => describe(&error),
        }
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .map_or("?".to_owned(), |value| value.trim().to_owned());
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are the 14th and 15th fields (the 12th and 13th after the name).
    let cpu_ms = (ticks(11) + ticks(12)) * 10;
    println!("RESULT\t{outcome}\t{peak}\t{cpu_ms}");
}

fn describe(error: &gptproto::Error) -> String {
    let kinds = [
        ("is_answer_limit", error.is_answer_limit()),
        ("is_buffer_limit", error.is_buffer_limit()),
        ("is_timeout", error.is_timeout()),
        ("is_protocol", error.is_protocol()),
        ("is_network", error.is_network()),
    ];
    let kinds: Vec<&str> = kinds
        .iter()
        .filter(|(_, yes)| *yes)
        .map(|(name, _)| *name)
        .collect();
    let mut text = format!("{error:#}");
    if text.len() > 110 {
        let mut end = 110;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text += "…";
    }
    format!("{} — {text}", kinds.join(", "))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    if let [flag, scenario, url] = args.as_slice()
        && flag == "--client"
    {
        runtime.block_on(client_side(scenario, url));
        return ExitCode::SUCCESS;
    }
    let only: Vec<&str> = args.iter().map(String::as_str).collect();
    println!("| server | outcome | client's peak RSS | client's CPU time | wall time |");
    println!("|---|---|---:|---:|---:|");
    let mut failed = false;
    for (scenario, description) in SCENARIOS {
        if !only.is_empty() && !only.contains(&scenario) {
            continue;
        }
        let result = runtime.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
            let url = format!(
                "http://127.0.0.1:{}/v1",
                listener.local_addr().expect("bound").port()
            );
            let server = tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(async move {
                        let _ = play(scenario, stream).await;
                    });
                }
            });
            let started = Instant::now();
            let child =
                tokio::process::Command::new(std::env::current_exe().expect("this program"))
                    .args(["--client", scenario, &url])
                    .output();
            let output = tokio::time::timeout(Duration::from_secs(300), child).await;
            server.abort();
            (output, started.elapsed())
        });
        let (output, took) = result;
        let line = match output {
            Ok(Ok(output)) => String::from_utf8_lossy(&output.stdout)
                .lines()
                .find_map(|line| line.strip_prefix("RESULT\t").map(str::to_owned))
                .unwrap_or_else(|| {
                    failed = true;
                    format!(
                        "no result: {} {}",
                        output.status,
                        String::from_utf8_lossy(&output.stderr)
                            .lines()
                            .last()
                            .unwrap_or("")
                    )
                }),
            Ok(Err(error)) => {
                failed = true;
                format!("cannot run the client: {error}")
            }
            Err(_) => {
                failed = true;
                "no end within 300 s".to_owned()
            }
        };
        let mut parts = line.split('\t');
        let (outcome, peak, cpu) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or("?"),
            parts.next().unwrap_or("?"),
        );
        println!(
            "| {description} | {outcome} | {peak} | {cpu} ms | {:.1} s |",
            took.as_secs_f64()
        );
        let _ = std::io::stdout().flush();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
