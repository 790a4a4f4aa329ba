//! gptproto's sans-IO core on `std::net` alone: no async runtime, no tokio, no hyper.
//!
//! `cargo run -p gptproto-examples --bin blocking -- BASE_URL PROMPT [--ca FILE]`, the key in
//! `GPTPROTO_API_KEY`. It builds the request with the core, writes it as HTTP/1.1 (through
//! rustls for `https://`), pushes every byte it reads into the [`Exchange`] and polls it until
//! it needs more, printing the answer as it arrives; on an error status it asks the core's
//! retry policy whether and when to try again, and sleeps that long on its own clock.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;

use gptproto_examples::{Args, Exchange, Outcome, Plan, Retries, Setback, Target};

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("blocking: {error}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let plan = Plan::of(&Args::parse()?)?;
    let mut retries = Retries::new("blocking");
    loop {
        let setback = match connect(&plan.target, plan.tls.clone()) {
            Ok(mut connection) => match attempt(&mut *connection, &plan.request)? {
                Outcome::Answered => return Ok(()),
                Outcome::Setback(setback) => setback,
            },
            Err(error) => Setback::Unreachable(error),
        };
        std::thread::sleep(retries.after(setback)?);
    }
}

/// A connection to `target`: TCP, and TLS over it for `https://`.
fn connect(
    target: &Target,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
) -> std::io::Result<Box<dyn ReadWrite>> {
    let tcp = TcpStream::connect((target.host.as_str(), target.port))?;
    tcp.set_nodelay(true)?;
    let Some(config) = tls else {
        return Ok(Box::new(tcp));
    };
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    let session = rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?;
    Ok(Box::new(rustls::StreamOwned::new(session, tcp)))
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// One attempt: writes the request, reads the response, printing the answer as it arrives;
/// `Err` when it failed past retrying (a broken stream, a connection lost mid-answer).
fn attempt(
    connection: &mut dyn ReadWrite,
    request: &[u8],
) -> Result<Outcome, Box<dyn std::error::Error>> {
    if let Err(error) = connection
        .write_all(request)
        .and_then(|()| connection.flush())
    {
        return Ok(Outcome::Setback(Setback::Unreachable(error)));
    }
    let mut exchange = Exchange::new();
    let mut buffer = vec![0; 16 * 1024];
    loop {
        if let Some(outcome) = exchange.print_progress("blocking")? {
            return Ok(outcome);
        }
        match connection.read(&mut buffer) {
            Ok(0) => exchange.eof(),
            Ok(read) => exchange.push(&buffer[..read]),
            // A peer that closes without TLS's close_notify: the framing decides whether the
            // body was whole.
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => exchange.eof(),
            Err(error) => return Err(error.into()),
        }
    }
}
