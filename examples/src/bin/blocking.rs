//! gptproto's sans-IO core on `std::net` alone: no async runtime, no tokio, no hyper.
//!
//! `cargo run -p gptproto-examples --bin blocking -- BASE_URL PROMPT [--ca FILE] [--timeout
//! SECS]`, the key in `GPTPROTO_API_KEY`. The core's call decides what to send, where, when to
//! try again and when to give up; this program connects, writes, reads, and sleeps.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gptproto_examples::{Args, Target, connect_failure, is_wait_over, show, tls_config};
use gptproto_proto::call::IoErrorKind;
use gptproto_proto::http1::{ResponseReader, encode_request};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("blocking: {error}");
            ExitCode::FAILURE
        }
    }
}

/// A connection: TCP, and TLS over it for `https://`.
trait Connection: Read + Write {
    /// The TCP stream underneath (for the read's wait).
    fn tcp(&self) -> &TcpStream;
}

impl Connection for TcpStream {
    fn tcp(&self) -> &TcpStream {
        self
    }
}

impl Connection for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn tcp(&self) -> &TcpStream {
        &self.sock
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse()?;
    let tls = tls_config(args.ca.as_deref())?;
    let clock = Instant::now();
    let mut call = args.call()?;
    let mut open: Option<(Box<dyn Connection>, ResponseReader)> = None;
    let mut buffer = vec![0; 16 * 1024];
    loop {
        if let Some(outcome) = show(&mut call, "blocking") {
            return outcome;
        }
        if !call.awaits_head() && !call.wants_body() {
            open = None;
        }
        if let Some(transmit) = call.poll_transmit() {
            open = None;
            let target = Target::of(transmit.request.uri())?;
            match connect(&target, &tls) {
                Ok(mut connection) => {
                    match connection.write_all(&encode_request(&transmit.request)) {
                        Ok(()) => open = Some((connection, ResponseReader::new())),
                        Err(error) => {
                            call.handle_io_error(IoErrorKind::Request, &error.to_string())
                        }
                    }
                }
                Err(error) => call.handle_io_error(connect_failure(&error), &error.to_string()),
            }
        }
        call.handle_timeout(clock.elapsed());
        // Read until the call's next deadline (or sleep to it with nothing to read).
        let wait = call.poll_timeout().map(|at| {
            at.saturating_sub(clock.elapsed())
                .max(Duration::from_millis(1))
        });
        match &mut open {
            Some((connection, reader)) => {
                connection.tcp().set_read_timeout(wait)?;
                match connection.read(&mut buffer) {
                    Ok(0) => reader.eof(),
                    Ok(read) => reader.push(&buffer[..read]),
                    Err(error) if is_wait_over(&error) => {}
                    // A peer that closes without TLS's close_notify: the framing decides.
                    Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => reader.eof(),
                    Err(error) => {
                        let kind = if reader.has_head() {
                            IoErrorKind::Body
                        } else {
                            IoErrorKind::Request
                        };
                        call.handle_io_error(kind, &error.to_string());
                    }
                }
                reader.deliver(&mut call);
            }
            None => std::thread::sleep(wait.unwrap_or(Duration::ZERO)),
        }
        call.handle_timeout(clock.elapsed());
    }
}

/// A connection to `target`.
fn connect(
    target: &Target,
    tls: &Arc<rustls::ClientConfig>,
) -> std::io::Result<Box<dyn Connection>> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))?;
    tcp.set_nodelay(true)?;
    if !target.tls {
        return Ok(Box::new(tcp));
    }
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    let session =
        rustls::ClientConnection::new(tls.clone(), name).map_err(std::io::Error::other)?;
    let mut stream = rustls::StreamOwned::new(session, tcp);
    // The handshake now, so that a certificate that is not trusted is a connect failure.
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock)?;
    }
    Ok(Box::new(stream))
}
