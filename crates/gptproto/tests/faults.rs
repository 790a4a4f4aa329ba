//! The fault matrix: every fault of the test kit's `FaultProxy` (below TLS and HTTP/2 framing)
//! × {HTTP/1.1, HTTP/2} over TLS × {streamed, not} × where it strikes, each cell with the
//! outcome it must have. Faults strike the first connection only; a retry gets a clean one.
//!
//! The positions are the test server's marks (offsets in the bytes it wrote, TLS records
//! included): before the head, inside the head's record, inside a `data:` line (the line's
//! first half delivered), between a line and its blank line, after `[DONE]` (for a JSON
//! body: inside it, and after its last byte but before the body's end). The table of results
//! is printed (`--nocapture`) and kept in docs/reliability.md.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream;
use gptproto::transport::{HyperTransport, KeepAlive};
use gptproto::{ChatRequest, Client, Error, Proxy, Roots, TimeoutKind};
use gptproto_testkit::fixtures::{chunk, completion};
use gptproto_testkit::{
    At, ConnectionPlan, Fault, FaultProxy, Reply, Shape, TestServer, TlsOptions,
};

/// The streamed answer's pieces, each written on its own: a whole event, a line's first half,
/// its second half, the blank line, the last event, `[DONE]`.
fn sse_pieces() -> Vec<String> {
    let second = format!("data: {}", chunk("lo", None));
    let (first_half, second_half) = second.split_at(second.len() / 2);
    vec![
        format!("data: {}\n\n", chunk("Hel", None)),
        first_half.to_owned(),
        format!("{second_half}\n"),
        "\n".to_owned(),
        format!("data: {}\n\n", chunk("!", Some("stop"))),
        "data: [DONE]\n\n".to_owned(),
    ]
}

const PACE: Duration = Duration::from_millis(40);

fn reply(streamed: bool) -> Reply {
    let pieces = if streamed {
        sse_pieces()
    } else {
        let json = completion(&["Hello!"]).to_string();
        let (a, b) = json.split_at(json.len() / 2);
        vec![a.to_owned(), b.to_owned()]
    };
    let cuts: Vec<usize> = pieces
        .iter()
        .scan(0, |end, piece| {
            *end += piece.len();
            Some(*end)
        })
        .collect();
    let body = pieces.concat();
    let reply = if streamed {
        Reply::sse_raw(body)
    } else {
        Reply::bytes(200, "application/json", body)
    };
    reply
        .cut_at(&cuts)
        .paced(PACE)
        .linger(Duration::from_millis(300))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Position {
    BeforeHead,
    InHead,
    /// Streamed: a `data:` line half delivered. JSON: half the body delivered.
    InLine,
    /// Streamed only: the line whole, its blank line not.
    BeforeBlank,
    /// Streamed: after `[DONE]`. JSON: after its last byte, before the body's end.
    AfterEnd,
}

impl Position {
    /// The server's mark: 0 the head, 1 + i before piece i, then the end.
    fn at(self, streamed: bool) -> At {
        let (index, plus) = match (self, streamed) {
            (Self::BeforeHead, _) => (0, 0),
            (Self::InHead, _) => (0, 12),
            (Self::InLine, true) => (3, 0),
            (Self::BeforeBlank, true) => (4, 0),
            (Self::AfterEnd, true) => (7, 0),
            (Self::InLine, false) => (2, 0),
            (Self::AfterEnd, false) => (3, 0),
            (Self::BeforeBlank, false) => unreachable!("no such position in a JSON body"),
        };
        At::Mark { index, plus }
    }
}

/// What a cell must end with.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// The whole answer, with this many requests reaching the server.
    Answer { requests: usize },
    /// A broken body: a truncation error with this partial text (streamed), never retried.
    Truncated { partial: Option<&'static str> },
    /// A timeout of this kind, with this partial text, after this many requests.
    Timeout {
        kind: TimeoutKind,
        partial: Option<&'static str>,
        requests: usize,
    },
}

#[derive(Debug, Clone, Copy)]
struct Cell {
    http2: bool,
    streamed: bool,
    position: Position,
    fault: Fault,
}

impl Cell {
    fn expected(self) -> Outcome {
        use Position::*;
        let partial = self.streamed.then_some("Hel");
        match (self.fault, self.position) {
            // No head: a connection error (the request may have reached the server), retried
            // on a new connection.
            (Fault::Reset | Fault::Close | Fault::SlowClose(_), BeforeHead | InHead) => {
                Outcome::Answer { requests: 2 }
            }
            // No head: the response timeout, retried on a new connection (HTTP/1.1 drops the
            // stalled one; over HTTP/2 the retry asks for a connection of its own, where the
            // stalled one would stall it too).
            (Fault::Stall, BeforeHead | InHead) => Outcome::Answer { requests: 2 },
            // `[DONE]` arrived: the answer is whole, whatever happens after.
            (_, AfterEnd) if self.streamed => Outcome::Answer { requests: 1 },
            (Fault::Reset | Fault::Close | Fault::SlowClose(_), _) => Outcome::Truncated {
                partial: if self.streamed { partial } else { None },
            },
            (Fault::Stall, _) => Outcome::Timeout {
                kind: TimeoutKind::Idle,
                partial,
                requests: 1,
            },
        }
    }
}

struct Observed {
    outcome: Result<String, Error>,
    requests: usize,
    took: Duration,
    /// TLS connections the server accepted.
    connections: usize,
    /// Writes the proxy made to the client.
    segments: usize,
}

fn text_of(partial: Option<&gptproto::ChatCompletion>) -> Option<String> {
    partial.and_then(|answer| answer.text()).map(str::to_owned)
}

/// The client's settings that a cell changes.
#[derive(Debug, Clone, Copy)]
struct Settings {
    retries: u32,
    response_timeout: Duration,
    /// HTTP/2 PINGs as set on the transport (`None`: the transport's defaults).
    keep_alive: Option<KeepAlive>,
}

const SETTINGS: Settings = Settings {
    retries: 1,
    response_timeout: Duration::from_secs(2),
    keep_alive: None,
};

async fn run(cell: Cell, shape: Option<Shape>) -> Observed {
    run_with(cell, shape, SETTINGS).await
}

async fn run_with(cell: Cell, shape: Option<Shape>, settings: Settings) -> Observed {
    let options = TlsOptions {
        http2: cell.http2,
        ..TlsOptions::default()
    };
    let streamed = cell.streamed;
    let server = Arc::new(TestServer::start_tls_with(options, move |_| reply(streamed)).await);
    let marks = server.clone();
    let plan = {
        let at = cell.position.at(cell.streamed);
        let fault = cell.fault;
        move |connection: usize| match (&shape, connection) {
            (Some(shape), _) => ConnectionPlan {
                to_client: shape.clone(),
                to_server: shape.clone(),
            },
            (None, 0) => ConnectionPlan {
                to_client: Shape {
                    fault: Some((at, fault)),
                    ..Shape::default()
                },
                ..ConnectionPlan::default()
            },
            (None, _) => ConnectionPlan::default(),
        }
    };
    let proxy = FaultProxy::start(server.address(), plan, move |peer| marks.marks(peer)).await;
    let roots = Roots::Custom(server.ca().expect("TLS").root_store());
    let builder = Client::builder()
        .ignore_env()
        .base_url(format!("https://localhost:{}/v1", proxy.address().port()))
        .api_key("sk-test")
        .response_timeout(settings.response_timeout)
        .idle_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(30))
        .max_retries(settings.retries);
    let client = match settings.keep_alive {
        None => builder.proxy(Proxy::none()).roots(roots).build(),
        Some(keep_alive) => builder
            .connector(Arc::new(
                HyperTransport::builder()
                    .proxy(Proxy::none())
                    .roots(roots)
                    .http2_keep_alive(Some(keep_alive))
                    .build()
                    .unwrap(),
            ))
            .build(),
    }
    .unwrap();
    let request = ChatRequest::new("m").user("hi");
    let started = Instant::now();
    let outcome = if cell.streamed {
        async {
            let mut stream = client.chat_stream(request).await?;
            let mut chunks = Vec::new();
            while let Some(chunk) = stream.next().await {
                chunks.push(serde_json::to_string(&chunk?).unwrap());
            }
            Ok(chunks.join("\n"))
        }
        .await
    } else {
        client
            .chat(request)
            .await
            .map(|answer| serde_json::to_string(&answer).unwrap())
    };
    Observed {
        outcome,
        requests: server.requests().len(),
        took: started.elapsed(),
        connections: server.connections(),
        segments: proxy.segments_to_clients(),
    }
}

/// The observed outcome in the terms of [`Outcome`], or what did not fit.
fn classify(observed: &Observed) -> Result<Outcome, String> {
    match &observed.outcome {
        Ok(_) => Ok(Outcome::Answer {
            requests: observed.requests,
        }),
        Err(error) if error.is_timeout() => Ok(Outcome::Timeout {
            kind: error.timeout_kind().ok_or(format!("{error}"))?,
            partial: leak(text_of(error.partial())),
            requests: observed.requests,
        }),
        Err(error) if error.is_truncated() && observed.requests == 1 => Ok(Outcome::Truncated {
            partial: leak(text_of(error.partial())),
        }),
        Err(error) => Err(format!(
            "{error:#} (requests: {}, may have reached the server: {})",
            observed.requests,
            error.may_have_reached_server()
        )),
    }
}

fn leak(text: Option<String>) -> Option<&'static str> {
    text.map(|text| &*Box::leak(text.into_boxed_str()))
}

fn cells() -> Vec<Cell> {
    let mut cells = Vec::new();
    for http2 in [false, true] {
        for streamed in [true, false] {
            let positions: &[Position] = if streamed {
                &[
                    Position::BeforeHead,
                    Position::InHead,
                    Position::InLine,
                    Position::BeforeBlank,
                    Position::AfterEnd,
                ]
            } else {
                &[
                    Position::BeforeHead,
                    Position::InHead,
                    Position::InLine,
                    Position::AfterEnd,
                ]
            };
            for &position in positions {
                for fault in [
                    Fault::Reset,
                    Fault::Close,
                    Fault::SlowClose(Duration::from_millis(300)),
                    Fault::Stall,
                ] {
                    cells.push(Cell {
                        http2,
                        streamed,
                        position,
                        fault,
                    });
                }
            }
        }
    }
    cells
}

fn name(cell: &Cell) -> String {
    format!(
        "{} | {} | {:?} | {:?}",
        if cell.http2 { "HTTP/2" } else { "HTTP/1.1" },
        if cell.streamed { "streamed" } else { "JSON" },
        cell.position,
        cell.fault
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_at_every_position_ends_as_required() {
    let cells = cells();
    let results: Vec<(Cell, Observed)> = stream::iter(cells)
        .map(|cell| async move { (cell, run(cell, None).await) })
        .buffer_unordered(6)
        .collect()
        .await;
    let mut failures = Vec::new();
    println!("| protocol | body | position | fault | required | observed | time |");
    println!("|---|---|---|---|---|---|---:|");
    let mut results = results;
    results.sort_by_key(|(cell, _)| name(cell));
    for (cell, observed) in &results {
        let expected = cell.expected();
        let got = classify(observed);
        let ok = got.as_ref() == Ok(&expected);
        println!(
            "| {} | {expected:?} | {} | {:.2} s |",
            name(cell),
            match &got {
                Ok(outcome) if ok => "as required".to_owned(),
                Ok(outcome) => format!("{outcome:?}"),
                Err(other) => other.clone(),
            },
            observed.took.as_secs_f64()
        );
        if !ok {
            failures.push(format!(
                "{}: expected {expected:?}, got {got:?}",
                name(cell)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sliced_delayed_and_throttled_bytes_give_the_same_answer() {
    let shapes = [
        (
            "slicer (1–7-byte segments)",
            Shape {
                slicer: Some(7),
                ..Shape::default()
            },
        ),
        (
            "latency 10 ms + up to 20 ms of jitter a read",
            Shape {
                latency: Duration::from_millis(10),
                jitter: Duration::from_millis(20),
                ..Shape::default()
            },
        ),
        (
            "64 KiB/s",
            Shape {
                bytes_per_second: Some(64 * 1024),
                ..Shape::default()
            },
        ),
    ];
    for http2 in [false, true] {
        for streamed in [true, false] {
            let cell = Cell {
                http2,
                streamed,
                position: Position::BeforeHead,
                fault: Fault::Reset,
            };
            let clean = run(cell, Some(Shape::default())).await;
            let clean = clean.outcome.expect("the clean run answers");
            for (shape_name, shape) in &shapes {
                let shaped = run(cell, Some(shape.clone())).await;
                assert_eq!(shaped.requests, 1, "{shape_name}");
                // One connection: a new HTTP/1.1 origin's probe carries its first request.
                assert_eq!(shaped.connections, 1, "{shape_name}");
                if shape.slicer.is_some() {
                    // Thousands of bytes (the handshake, the answer) in segments of 1–7.
                    assert!(
                        shaped.segments > 300,
                        "{shape_name}: {} writes",
                        shaped.segments
                    );
                }
                assert_eq!(
                    shaped.outcome.as_ref().expect("answers"),
                    &clean,
                    "{shape_name}, http2 {http2}, streamed {streamed}: not the clean run's answer"
                );
                println!(
                    "{shape_name} | {} | {}: identical to the clean run ({:.2} s)",
                    if http2 { "HTTP/2" } else { "HTTP/1.1" },
                    if streamed { "streamed" } else { "JSON" },
                    shaped.took.as_secs_f64()
                );
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_before_the_head_may_have_reached_the_server_and_is_retryable() {
    // Without retries, the error itself: a network error that may have reached the server (it
    // did: the server recorded the request), and that the default policy retries.
    for http2 in [false, true] {
        for fault in [Fault::Reset, Fault::Close] {
            let cell = Cell {
                http2,
                streamed: true,
                position: Position::BeforeHead,
                fault,
            };
            let observed = run_with(
                cell,
                None,
                Settings {
                    retries: 0,
                    ..SETTINGS
                },
            )
            .await;
            let error = observed.outcome.expect_err("no head came");
            assert!(
                error.is_network() && !error.is_truncated(),
                "{}: {error:#}",
                name(&cell)
            );
            assert!(error.may_have_reached_server(), "{}", name(&cell));
            assert_eq!(observed.requests, 1, "{}", name(&cell));
            assert!(
                error
                    .transport_error()
                    .is_some_and(gptproto::TransportError::is_retryable),
                "{}: {error:#}",
                name(&cell)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_connection_gone_silent_is_found_by_its_pings_and_not_used_again() {
    // The stall of the matrix's HTTP/2 "before the head" cell, with a response timeout long
    // enough for the PINGs to act: the stalled connection is closed when its PING goes
    // unanswered, and the retry goes on a new one.
    let keep_alive = KeepAlive::new(Duration::from_millis(300), Duration::from_millis(300));
    for streamed in [true, false] {
        let cell = Cell {
            http2: true,
            streamed,
            position: Position::BeforeHead,
            fault: Fault::Stall,
        };
        let settings = Settings {
            response_timeout: Duration::from_secs(20),
            keep_alive: Some(keep_alive),
            ..SETTINGS
        };
        let observed = run_with(cell, None, settings).await;
        assert!(observed.outcome.is_ok(), "{:?}", observed.outcome.err());
        assert_eq!(observed.requests, 2);
        assert!(
            observed.took < Duration::from_secs(5),
            "{:?}",
            observed.took
        );
        println!(
            "HTTP/2 {}: a stalled connection found by PING; answered on a new one in {:.2} s",
            if streamed { "streamed" } else { "JSON" },
            observed.took.as_secs_f64()
        );
    }
}

#[tokio::test]
async fn a_window_that_never_opens_ends_at_the_response_timeout() {
    use gptproto_testkit::{FrameScript, FrameServer};
    // HTTP/2 at frame level: SETTINGS_INITIAL_WINDOW_SIZE = 0 and no WINDOW_UPDATE ever: the
    // request's body cannot be sent. The call ends at its response timeout, not never.
    let server = FrameServer::start(FrameScript::ZeroWindow { open_after: None }).await;
    let client = Client::builder()
        .ignore_env()
        .base_url(server.base_url())
        .api_key("sk-test")
        .proxy(Proxy::none())
        .roots(Roots::Custom(server.ca().root_store()))
        .response_timeout(Duration::from_secs(1))
        .max_retries(0)
        .build()
        .unwrap();
    let started = Instant::now();
    let error = client
        .chat(ChatRequest::new("m").user("hi"))
        .await
        .unwrap_err();
    assert_eq!(
        error.timeout_kind(),
        Some(TimeoutKind::Response),
        "{error:#}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(server.answered(), 0);
}
