//! [`FrameServer`]: an HTTP/2 server over TLS that writes its frames itself, for what a real
//! server does rarely and hyper's server cannot be made to do on cue: a GOAWAY whose last
//! stream id is below streams the client already sent, and streams refused with
//! `REFUSED_STREAM` (RFC 9113 §8.7: both mean "not processed, safe to send again").
//!
//! It reads frames without decoding header blocks (a request is complete at its END_STREAM)
//! and answers `200` with a small JSON body, the header block written in HPACK by hand.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::TestCa;

const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const WINDOW_UPDATE: u8 = 0x8;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;
const END_HEADERS: u8 = 0x4;
const REFUSED_STREAM: u32 = 0x7;
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The body of every answer.
pub const FRAME_SERVER_BODY: &str = r#"{"answered":true}"#;

/// What a [`FrameServer`] does.
#[derive(Debug, Clone, Copy)]
pub enum FrameScript {
    /// On its first connection, once `streams` requests have arrived: a GOAWAY (`NO_ERROR`)
    /// whose last stream id is the first request's, that request answered, the connection
    /// closed. Later connections answer every request.
    GoawayAfter {
        /// How many requests to wait for.
        streams: usize,
    },
    /// Refuses the first `first` streams (over all connections) with `REFUSED_STREAM`, then
    /// answers.
    Refuse {
        /// How many streams to refuse.
        first: usize,
    },
    /// The first connection answers nothing until the test says ([`FrameServer::lower_limit`],
    /// [`FrameServer::goaway_answering_first`]); later connections answer every request.
    Held,
    /// Every connection allows this many concurrent streams (`SETTINGS_MAX_CONCURRENT_STREAMS`)
    /// and answers each request `answer_after` its end; a request past the limit on its
    /// connection is refused (`REFUSED_STREAM`) and counted ([`FrameServer::over_limit`]).
    Limit {
        /// The streams allowed.
        streams: u32,
        /// How long each answer waits.
        answer_after: std::time::Duration,
    },
    /// Every connection gives each stream a zero send window (`SETTINGS_INITIAL_WINDOW_SIZE`
    /// = 0): the client can send a request's headers but not its body. After `open_after`, if
    /// given, a WINDOW_UPDATE opens the stream's window; else it stays shut.
    ZeroWindow {
        /// When the window opens, from the request's headers.
        open_after: Option<std::time::Duration>,
    },
}

/// What a test tells a [`FrameScript::Held`] connection.
#[derive(Debug, Clone, Copy)]
enum Command {
    LowerLimit(u32),
    GoawayAnsweringFirst,
}

/// A running frame-level HTTP/2 server. Stops when dropped.
#[derive(Debug)]
pub struct FrameServer {
    address: SocketAddr,
    ca: TestCa,
    seen: Arc<Mutex<Vec<(usize, u32)>>>,
    answered: Arc<AtomicUsize>,
    over_limit: Arc<AtomicUsize>,
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
    task: tokio::task::JoinHandle<()>,
}

struct Shared {
    script: FrameScript,
    seen: Arc<Mutex<Vec<(usize, u32)>>>,
    answered: Arc<AtomicUsize>,
    refused: AtomicUsize,
    over_limit: Arc<AtomicUsize>,
    /// For the first connection of a [`FrameScript::Held`] server.
    commands: Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<Command>>>,
}

impl FrameServer {
    /// Serves `script` on a loopback port, with a certificate for `localhost` from a fresh CA.
    pub async fn start(script: FrameScript) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let ca = TestCa::new();
        let mut config = ca.server_config();
        config.alpn_protocols = vec![b"h2".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let (commands, received) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            script,
            seen: Arc::default(),
            answered: Arc::default(),
            refused: AtomicUsize::new(0),
            over_limit: Arc::default(),
            commands: Mutex::new(Some(received)),
        });
        let (seen, answered) = (shared.seen.clone(), shared.answered.clone());
        let over_limit = shared.over_limit.clone();
        let task = tokio::spawn(async move {
            let mut index = 0;
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, shared) = (acceptor.clone(), shared.clone());
                let connection = index;
                index += 1;
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(tcp).await {
                        let _ = serve(tls, connection, &shared).await;
                    }
                });
            }
        });
        Self {
            address,
            ca,
            seen,
            answered,
            over_limit,
            commands,
            task,
        }
    }

    /// [`FrameScript::Limit`]: requests that arrived past their connection's stream limit.
    pub fn over_limit(&self) -> usize {
        self.over_limit.load(Ordering::SeqCst)
    }

    /// [`FrameScript::Held`]: the first connection lowers its `SETTINGS_MAX_CONCURRENT_STREAMS`
    /// to `limit` (a server under load, or reconfigured).
    pub fn lower_limit(&self, limit: u32) {
        let _ = self.commands.send(Command::LowerLimit(limit));
    }

    /// [`FrameScript::Held`]: the first connection sends a GOAWAY (`NO_ERROR`) whose last
    /// stream id is its first request's, answers that request and closes.
    pub fn goaway_answering_first(&self) {
        let _ = self.commands.send(Command::GoawayAnsweringFirst);
    }

    /// `https://localhost:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("https://localhost:{}/v1", self.address.port())
    }

    /// The CA to trust.
    pub fn ca(&self) -> &TestCa {
        &self.ca
    }

    /// Every complete request received: (connection index, stream id), in order.
    pub fn streams(&self) -> Vec<(usize, u32)> {
        self.seen.lock().expect("not poisoned").clone()
    }

    /// How many requests were answered.
    pub fn answered(&self) -> usize {
        self.answered.load(Ordering::SeqCst)
    }
}

impl Drop for FrameServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve<S>(io: S, connection: usize, shared: &Shared) -> std::io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut reader, mut writer) = tokio::io::split(io);
    let mut preface = [0; PREFACE.len()];
    reader.read_exact(&mut preface).await?;
    if preface != PREFACE {
        return Ok(());
    }
    let initial = match shared.script {
        FrameScript::Limit { streams, .. } => settings(streams),
        // SETTINGS_INITIAL_WINDOW_SIZE (0x4) = 0, and 100 streams.
        FrameScript::ZeroWindow { .. } => [settings(100), vec![0, 4, 0, 0, 0, 0]].concat(),
        _ => settings(100),
    };
    write_frame(&mut writer, SETTINGS, 0, 0, &initial).await?;
    // Frames are read by a task of their own, so that waiting for one can be put aside for a
    // test's command without losing half a frame.
    let (frames, mut incoming) = tokio::sync::mpsc::channel(64);
    tokio::spawn(async move {
        while let Ok(frame) = read_frame(&mut reader).await {
            if frames.send(frame).await.is_err() {
                return;
            }
        }
    });
    let held = matches!(shared.script, FrameScript::Held) && connection == 0;
    let mut commands = if held {
        shared.commands.lock().expect("not poisoned").take()
    } else {
        None
    };
    let mut complete = Vec::new();
    // Limit: answers due (when, stream); ZeroWindow: windows to open (when, stream).
    let mut due: Vec<(tokio::time::Instant, u32)> = Vec::new();
    loop {
        let next_due = due.iter().map(|(at, _)| *at).min();
        let frame = match (&mut commands, next_due) {
            (None, Some(at)) => tokio::select! {
                frame = incoming.recv() => frame,
                () = tokio::time::sleep_until(at) => {
                    let now = tokio::time::Instant::now();
                    let (ready, later): (Vec<_>, Vec<_>) = due.drain(..).partition(|(at, _)| *at <= now);
                    due = later;
                    for (_, stream) in ready {
                        if let FrameScript::ZeroWindow { .. } = shared.script {
                            write_frame(&mut writer, WINDOW_UPDATE, 0, stream, &65_535u32.to_be_bytes()).await?;
                        } else {
                            answer(&mut writer, stream, shared).await?;
                        }
                    }
                    continue;
                }
            },
            (Some(commands), _) => tokio::select! {
                frame = incoming.recv() => frame,
                command = commands.recv() => {
                    match command {
                        Some(Command::LowerLimit(limit)) => {
                            write_frame(&mut writer, SETTINGS, 0, 0, &settings(limit)).await?;
                        }
                        Some(Command::GoawayAnsweringFirst) => {
                            let last = complete.first().copied().unwrap_or(0);
                            write_frame(&mut writer, GOAWAY, 0, 0, &goaway(last)).await?;
                            if last != 0 {
                                answer(&mut writer, last, shared).await?;
                            }
                            writer.shutdown().await?;
                            return Ok(());
                        }
                        None => {}
                    }
                    continue;
                }
            },
            (None, None) => incoming.recv().await,
        };
        let Some((kind, flags, stream, payload)) = frame else {
            return Ok(());
        };
        match kind {
            SETTINGS if flags & ACK == 0 => write_frame(&mut writer, SETTINGS, ACK, 0, &[]).await?,
            PING if flags & ACK == 0 => write_frame(&mut writer, PING, ACK, 0, &payload).await?,
            HEADERS if flags & END_STREAM == 0 => {
                if let FrameScript::ZeroWindow {
                    open_after: Some(after),
                } = shared.script
                {
                    due.push((tokio::time::Instant::now() + after, stream));
                }
                continue;
            }
            HEADERS | DATA if flags & END_STREAM != 0 => {
                shared
                    .seen
                    .lock()
                    .expect("not poisoned")
                    .push((connection, stream));
                complete.push(stream);
            }
            _ => continue,
        }
        match shared.script {
            FrameScript::Held if held => {}
            FrameScript::GoawayAfter { streams } if connection == 0 => {
                if complete.len() < streams {
                    continue;
                }
                let last = complete[0];
                write_frame(&mut writer, GOAWAY, 0, 0, &goaway(last)).await?;
                answer(&mut writer, last, shared).await?;
                writer.shutdown().await?;
                return Ok(());
            }
            FrameScript::Limit {
                streams,
                answer_after,
            } => {
                for stream in std::mem::take(&mut complete) {
                    if due.len() >= streams as usize {
                        shared.over_limit.fetch_add(1, Ordering::SeqCst);
                        refuse(&mut writer, stream).await?;
                    } else {
                        due.push((tokio::time::Instant::now() + answer_after, stream));
                    }
                }
            }
            FrameScript::Refuse { first }
                if !complete.is_empty()
                    && shared.refused.fetch_add(1, Ordering::SeqCst) < first =>
            {
                for stream in complete.drain(..) {
                    refuse(&mut writer, stream).await?;
                }
            }
            _ => {
                for stream in std::mem::take(&mut complete) {
                    answer(&mut writer, stream, shared).await?;
                }
            }
        }
    }
}

/// A SETTINGS payload: `SETTINGS_MAX_CONCURRENT_STREAMS` = `limit`.
fn settings(limit: u32) -> Vec<u8> {
    let mut payload = vec![0, 3];
    payload.extend_from_slice(&limit.to_be_bytes());
    payload
}

/// A GOAWAY payload: `last` stream id, `NO_ERROR`.
fn goaway(last: u32) -> Vec<u8> {
    let mut payload = last.to_be_bytes().to_vec();
    payload.extend_from_slice(&0u32.to_be_bytes());
    payload
}

/// `RST_STREAM` with `REFUSED_STREAM`: the stream was not processed.
async fn refuse<W: AsyncWrite + Unpin>(writer: &mut W, stream: u32) -> std::io::Result<()> {
    write_frame(writer, RST_STREAM, 0, stream, &REFUSED_STREAM.to_be_bytes()).await
}

/// `200`, `content-type: application/json`, and [`FRAME_SERVER_BODY`].
async fn answer<W: AsyncWrite + Unpin>(
    writer: &mut W,
    stream: u32,
    shared: &Shared,
) -> std::io::Result<()> {
    // HPACK: ":status: 200" is static entry 8; content-type (static name 31) a literal value
    // without indexing: 0x0f 0x10, then the value's length and bytes.
    let content_type = b"application/json";
    let mut block = vec![0x88, 0x0f, 0x10, content_type.len() as u8];
    block.extend_from_slice(content_type);
    write_frame(writer, HEADERS, END_HEADERS, stream, &block).await?;
    write_frame(
        writer,
        DATA,
        END_STREAM,
        stream,
        FRAME_SERVER_BODY.as_bytes(),
    )
    .await?;
    shared.answered.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<(u8, u8, u32, Vec<u8>)> {
    let mut head = [0; 9];
    reader.read_exact(&mut head).await?;
    let length = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
    let stream = u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff;
    let mut payload = vec![0; length];
    reader.read_exact(&mut payload).await?;
    Ok((head[3], head[4], stream, payload))
}

async fn write_frame<W: AsyncWrite + Unpin>(
    writer: &mut W,
    kind: u8,
    flags: u8,
    stream: u32,
    payload: &[u8],
) -> std::io::Result<()> {
    let length = (payload.len() as u32).to_be_bytes();
    let mut frame = vec![length[1], length[2], length[3], kind, flags];
    frame.extend_from_slice(&stream.to_be_bytes());
    frame.extend_from_slice(payload);
    writer.write_all(&frame).await?;
    writer.flush().await
}
