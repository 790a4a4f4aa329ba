//! What the two examples share, none of it protocol or policy: their command line, the call
//! they make (the core's [`Call`], which decides every attempt, retry, redirect and deadline),
//! TLS with rustls, where a request goes, how an I/O failure counts, and what they print.
//!
//! The binaries are the I/O around the call: `blocking` on `std::net`, `smol` on smol. Each
//! loop is the same: print what the call says, send what it gives (HTTP/1.1 bytes from the
//! core's `http1` module, over TCP or TLS), push what the connection reads into the core's
//! [`ResponseReader`](gptproto_proto::http1::ResponseReader), and sleep until the call's next
//! deadline, telling it the time.

use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use gptproto_proto::ChatRequest;
use gptproto_proto::call::{Call, CallOptions, Event, IoErrorKind, Start};
use gptproto_proto::exchange::ClientConfig;

/// The command line both examples take: `BASE_URL PROMPT [--ca FILE] [--timeout SECS]`, the
/// key from `GPTPROTO_API_KEY` (or none, for a local server).
#[derive(Debug)]
pub struct Args {
    /// The API's base URL.
    pub base_url: String,
    /// The question.
    pub prompt: String,
    /// A PEM file of CA certificates to trust instead of Mozilla's roots.
    pub ca: Option<String>,
    /// The whole call's deadline.
    pub timeout: Option<Duration>,
    /// The model (`GPTPROTO_MODEL`, default `qwen-turbo`).
    pub model: String,
}

const USAGE: &str =
    "usage: BASE_URL PROMPT [--ca FILE] [--timeout SECS] (the key in GPTPROTO_API_KEY)";

impl Args {
    /// From the process's arguments and environment; an error says the usage.
    pub fn parse() -> Result<Self, String> {
        Self::from_words(std::env::args().skip(1))
    }

    fn from_words(words: impl IntoIterator<Item = String>) -> Result<Self, String> {
        let mut words = words.into_iter();
        let base_url = words.next().ok_or(USAGE)?;
        let prompt = words.next().ok_or(USAGE)?;
        let (mut ca, mut timeout) = (None, None);
        while let Some(flag) = words.next() {
            let value = words
                .next()
                .ok_or_else(|| format!("{flag} needs a value; {USAGE}"))?;
            match flag.as_str() {
                "--ca" => ca = Some(value),
                "--timeout" => {
                    let seconds = value
                        .parse::<f64>()
                        .ok()
                        .and_then(|seconds| Duration::try_from_secs_f64(seconds).ok())
                        .filter(|timeout| !timeout.is_zero())
                        .ok_or_else(|| {
                            format!("--timeout {value}: give a positive number of seconds")
                        })?;
                    timeout = Some(seconds);
                }
                _ => return Err(format!("unknown option {flag}; {USAGE}")),
            }
        }
        let model = std::env::var("GPTPROTO_MODEL").unwrap_or_else(|_| "qwen-turbo".to_owned());
        Ok(Self {
            base_url,
            prompt,
            ca,
            timeout,
            model,
        })
    }

    /// The streamed chat call the arguments ask for, starting now (time 0 on the program's
    /// clock), with the default retries and deadlines and `--timeout` as the total.
    pub fn call(&self) -> Result<Call, Box<dyn std::error::Error>> {
        let mut config = ClientConfig::builder().base_url(&self.base_url);
        if let Ok(key) = std::env::var("GPTPROTO_API_KEY") {
            config = config.api_key(key);
        }
        let request = ChatRequest::new(self.model.as_str())
            .user(self.prompt.as_str())
            .stream(true);
        let mut options = CallOptions::default();
        options.timeouts.total = self.timeout;
        let start = Start {
            now: Duration::ZERO,
            wall_clock: SystemTime::now(),
            seed: fastrand::u64(..),
        };
        Ok(Call::chat(&config.build()?, &request, options, start)?)
    }
}

/// Where a request goes: from its URI (the call's, which a redirect may have changed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https` or `http`.
    pub tls: bool,
    /// The host name or address.
    pub host: String,
    /// The port (443 or 80 unless given).
    pub port: u16,
}

impl Target {
    /// The target of `uri`.
    pub fn of(uri: &http::Uri) -> Result<Self, String> {
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("{uri}: use http:// or https://")),
        };
        let host = uri
            .host()
            .ok_or_else(|| format!("{uri} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Self { tls, host, port })
    }
}

/// rustls trusting the CA certificates of the PEM file `ca` if given, else Mozilla's roots.
pub fn tls_config(ca: Option<&str>) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let pem = std::fs::read(path).map_err(|error| format!("{path}: {error}"))?;
            use rustls::pki_types::pem::PemObject;
            for certificate in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
                let certificate = certificate.map_err(|error| format!("{path}: {error}"))?;
                roots
                    .add(certificate)
                    .map_err(|error| format!("{path}: {error}"))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// How a failure to connect counts for the call: a certificate that is not trusted will not
/// become trusted by trying again; anything else may pass.
pub fn connect_failure(error: &std::io::Error) -> IoErrorKind {
    let untrusted = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|tls| matches!(tls, rustls::Error::InvalidCertificate(_)));
    if untrusted {
        IoErrorKind::Unusable
    } else {
        IoErrorKind::Connect
    }
}

/// Whether a read failed only because its wait (the call's next deadline) passed.
pub fn is_wait_over(error: &std::io::Error) -> bool {
    matches!(
        error.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// Prints what the call says (the answer's text on stdout as it arrives; retries and the
/// token count on stderr), until it has nothing more: `Some` once the call is over, with its
/// outcome.
pub fn show(call: &mut Call, program: &str) -> Option<Result<(), Box<dyn std::error::Error>>> {
    let mut stdout = std::io::stdout().lock();
    while let Some(event) = call.poll_event() {
        match event {
            Event::Retrying { error, after, .. } => {
                eprintln!("{program}: {error}; again in {after:?}");
            }
            Event::Chunk(chunk) => {
                let _ = write!(stdout, "{}", chunk.text().unwrap_or(""));
                let _ = stdout.flush();
            }
            Event::Done => {
                let _ = writeln!(stdout);
                if let Some(usage) = call.outline().and_then(|outline| outline.usage) {
                    eprintln!("{program}: {} tokens", usage.total_tokens);
                }
                return Some(Ok(()));
            }
            Event::Failed(error) => {
                let _ = writeln!(stdout);
                return Some(Err(error.into()));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests;
