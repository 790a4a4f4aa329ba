//! gptproto's sans-IO core on smol: the same loop as `blocking`, awaiting instead of blocking,
//! with no tokio anywhere in the build.
//!
//! `cargo run -p gptproto-examples --bin smol -- BASE_URL PROMPT [--ca FILE] [--timeout SECS]`,
//! the key in `GPTPROTO_API_KEY`.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, FutureExt};
use gptproto_examples::{Args, Target, connect_failure, show, tls_config};
use gptproto_proto::call::IoErrorKind;
use gptproto_proto::http1::{ResponseReader, encode_request};

fn main() -> ExitCode {
    match smol::block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("smol: {error}");
            ExitCode::FAILURE
        }
    }
}

trait Connection: AsyncRead + AsyncWrite + Unpin {}
impl<T: AsyncRead + AsyncWrite + Unpin> Connection for T {}

/// What the wait for the connection or the deadline gave.
enum Woke {
    Read(std::io::Result<usize>),
    Deadline,
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse()?;
    let tls = tls_config(args.ca.as_deref())?;
    let clock = Instant::now();
    let mut call = args.call()?;
    let mut open: Option<(Box<dyn Connection>, ResponseReader)> = None;
    let mut buffer = vec![0; 16 * 1024];
    loop {
        if let Some(outcome) = show(&mut call, "smol") {
            return outcome;
        }
        if !call.awaits_head() && !call.wants_body() {
            open = None;
        }
        if let Some(transmit) = call.poll_transmit() {
            open = None;
            let target = Target::of(transmit.request.uri())?;
            match connect(&target, &tls).await {
                Ok(mut connection) => {
                    match connection
                        .write_all(&encode_request(&transmit.request))
                        .await
                    {
                        Ok(()) => open = Some((connection, ResponseReader::new())),
                        Err(error) => {
                            call.handle_io_error(IoErrorKind::Request, &error.to_string());
                        }
                    }
                }
                Err(error) => call.handle_io_error(connect_failure(&error), &error.to_string()),
            }
        }
        call.handle_timeout(clock.elapsed());
        // The call's next deadline, as a timer (none: a wait with no end).
        let next = call.poll_timeout();
        let deadline = async {
            match next {
                Some(at) => {
                    smol::Timer::at(clock + at.max(clock.elapsed() + Duration::from_millis(1)))
                        .await;
                }
                None => std::future::pending::<()>().await,
            }
            Woke::Deadline
        };
        match &mut open {
            Some((connection, reader)) => {
                let read = async { Woke::Read(connection.read(&mut buffer).await) };
                match read.or(deadline).await {
                    Woke::Read(Ok(0)) => reader.eof(),
                    Woke::Read(Ok(read)) => reader.push(&buffer[..read]),
                    Woke::Read(Err(error)) if error.kind() == std::io::ErrorKind::UnexpectedEof => {
                        reader.eof();
                    }
                    Woke::Read(Err(error)) => {
                        let kind = if reader.has_head() {
                            IoErrorKind::Body
                        } else {
                            IoErrorKind::Request
                        };
                        call.handle_io_error(kind, &error.to_string());
                    }
                    Woke::Deadline => {}
                }
                reader.deliver(&mut call);
            }
            // Nothing to read: wait for the deadline (with none, the call has something to say).
            None if next.is_some() => {
                deadline.await;
            }
            None => {}
        }
        call.handle_timeout(clock.elapsed());
    }
}

/// A connection to `target`: TCP, and TLS over it for `https://`.
async fn connect(
    target: &Target,
    tls: &Arc<rustls::ClientConfig>,
) -> std::io::Result<Box<dyn Connection>> {
    let tcp = smol::net::TcpStream::connect((target.host.as_str(), target.port)).await?;
    tcp.set_nodelay(true)?;
    if !target.tls {
        return Ok(Box::new(tcp));
    }
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    let stream = futures_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await?;
    Ok(Box::new(stream))
}
