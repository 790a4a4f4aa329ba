//! gptproto's sans-IO core on smol: the same loop as `blocking`, awaiting instead of blocking,
//! with no tokio anywhere in the build.
//!
//! `cargo run -p gptproto-examples --bin smol -- BASE_URL PROMPT [--ca FILE]`, the key in
//! `GPTPROTO_API_KEY`.

use std::process::ExitCode;

use futures_lite::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use gptproto_examples::{Args, Exchange, Outcome, Plan, Retries, Setback, Target};

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

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let plan = Plan::of(&Args::parse()?)?;
    let mut retries = Retries::new("smol");
    loop {
        let setback = match connect(&plan.target, plan.tls.clone()).await {
            Ok(mut connection) => match attempt(&mut *connection, &plan.request).await? {
                Outcome::Answered => return Ok(()),
                Outcome::Setback(setback) => setback,
            },
            Err(error) => Setback::Unreachable(error),
        };
        smol::Timer::after(retries.after(setback)?).await;
    }
}

/// A connection to `target`: TCP, and TLS over it for `https://`.
async fn connect(
    target: &Target,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
) -> std::io::Result<Box<dyn Connection>> {
    let tcp = smol::net::TcpStream::connect((target.host.as_str(), target.port)).await?;
    tcp.set_nodelay(true)?;
    let Some(config) = tls else {
        return Ok(Box::new(tcp));
    };
    let name = rustls::pki_types::ServerName::try_from(target.host.clone())
        .map_err(|error| std::io::Error::new(std::io::ErrorKind::InvalidInput, error))?;
    let stream = futures_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await?;
    Ok(Box::new(stream))
}

/// One attempt, as `blocking`'s.
async fn attempt(
    connection: &mut dyn Connection,
    request: &[u8],
) -> Result<Outcome, Box<dyn std::error::Error>> {
    let written = match connection.write_all(request).await {
        Ok(()) => connection.flush().await,
        Err(error) => Err(error),
    };
    if let Err(error) = written {
        return Ok(Outcome::Setback(Setback::Unreachable(error)));
    }
    let mut exchange = Exchange::new();
    let mut buffer = vec![0; 16 * 1024];
    loop {
        if let Some(outcome) = exchange.print_progress("smol")? {
            return Ok(outcome);
        }
        match connection.read(&mut buffer).await {
            Ok(0) => exchange.eof(),
            Ok(read) => exchange.push(&buffer[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => exchange.eof(),
            Err(error) => return Err(error.into()),
        }
    }
}
