//! What the examples share: the pieces of HTTP/1.1 a client needs around `gptproto-proto`,
//! written the same sans-IO way (push bytes in, poll results out), so that a blocking program
//! and an async one drive them alike.
//!
//! - [`Target`]: where a base URL points (scheme, host, port).
//! - [`encode_request`]: the request `gptproto-proto` built, as HTTP/1.1 bytes to write.
//! - [`ResponseReader`]: the response's bytes in, its head and then its body pieces out,
//!   de-framed (`chunked`, `content-length`, or to the end of the connection).
//! - [`Dechunker`]: the `chunked` transfer coding, push/poll, bounded.
//! - [`Exchange`]: one attempt, push/poll: the response's bytes in; the answer's text as it
//!   arrives, then the completion (or the server's error, for the retry policy) out.
//! - [`tls_config`]: rustls trusting a PEM file's CA (a test's, a private one) or Mozilla's roots.
//! - [`Plan`] and [`Retries`]: the request to send and, after each [`Setback`], how long the
//!   core's retry policy says to wait (on the system clock, with `fastrand`'s randomness).
//!
//! The binaries are the I/O around them: `blocking` on `std::net`, `smol` on smol.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

/// Where requests go: from a base URL such as `https://gptproto.com/v1`.
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
    /// The target of `base_url`; an error names what is wrong with it.
    pub fn of(base_url: &str) -> Result<Self, String> {
        let uri: http::Uri = base_url
            .parse()
            .map_err(|error| format!("{base_url:?} is not a URL: {error}"))?;
        let tls = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(format!("{base_url:?}: use http:// or https://")),
        };
        let host = uri
            .host()
            .ok_or_else(|| format!("{base_url:?} has no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        Ok(Self { tls, host, port })
    }
}

/// `request` as HTTP/1.1 bytes: the request line, `Host`, its headers, `Content-Length`,
/// `Connection: close` (one request per connection keeps the examples short), the body.
pub fn encode_request(request: &http::Request<Bytes>) -> Vec<u8> {
    let uri = request.uri();
    let path = uri.path_and_query().map_or("/", |path| path.as_str());
    let mut bytes = format!("{} {path} HTTP/1.1\r\n", request.method()).into_bytes();
    if let Some(authority) = uri.authority() {
        bytes.extend_from_slice(format!("host: {authority}\r\n").as_bytes());
    }
    for (name, value) in request.headers() {
        bytes.extend_from_slice(name.as_str().as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    let length = request.body().len();
    bytes.extend_from_slice(
        format!("content-length: {length}\r\nconnection: close\r\n\r\n").as_bytes(),
    );
    bytes.extend_from_slice(request.body());
    bytes
}

/// The most bytes a response head may take.
const MAX_HEAD: usize = 64 * 1024;
/// The most bytes a chunk-size line may take.
const MAX_SIZE_LINE: usize = 1024;

/// What [`ResponseReader::poll`] gives.
#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// The status and headers (once, first).
    Head(http::StatusCode, http::HeaderMap),
    /// A piece of the body.
    Body(Bytes),
    /// The body is complete.
    End,
}

/// A response read from its bytes: push what the connection gives, poll the head and then the
/// body's pieces, de-framed. At the connection's end call [`eof`](Self::eof) and poll again:
/// a body that the framing says is incomplete is then an error, never a shorter body.
#[derive(Debug, Default)]
pub struct ResponseReader {
    buffer: BytesMut,
    state: ReaderState,
    eof: bool,
}

#[derive(Debug, Default)]
enum ReaderState {
    #[default]
    Head,
    Chunked(Dechunker),
    Length(u64),
    UntilClose,
    Done,
}

impl ResponseReader {
    /// A reader waiting for a response head.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues what the connection gave.
    pub fn push(&mut self, bytes: &[u8]) {
        match &mut self.state {
            ReaderState::Chunked(dechunker) => dechunker.push(bytes),
            _ => self.buffer.extend_from_slice(bytes),
        }
    }

    /// The connection ended.
    pub fn eof(&mut self) {
        self.eof = true;
        if let ReaderState::Chunked(dechunker) = &mut self.state {
            dechunker.eof();
        }
    }

    /// The next thing read, `Ok(None)` when more bytes are needed.
    pub fn poll(&mut self) -> Result<Option<Read>, String> {
        match &mut self.state {
            ReaderState::Head => self.poll_head(),
            ReaderState::Chunked(dechunker) => match dechunker.poll()? {
                Some(Piece::Data(data)) => Ok(Some(Read::Body(data))),
                Some(Piece::End) => {
                    self.state = ReaderState::Done;
                    Ok(Some(Read::End))
                }
                None => Ok(None),
            },
            ReaderState::Length(0) => {
                self.state = ReaderState::Done;
                Ok(Some(Read::End))
            }
            ReaderState::Length(remaining) => {
                if self.buffer.is_empty() {
                    return if self.eof {
                        Err(format!(
                            "the connection closed {remaining} bytes before the body's end"
                        ))
                    } else {
                        Ok(None)
                    };
                }
                let take = self
                    .buffer
                    .len()
                    .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                *remaining -= take as u64;
                Ok(Some(Read::Body(self.buffer.split_to(take).freeze())))
            }
            ReaderState::UntilClose => {
                if !self.buffer.is_empty() {
                    return Ok(Some(Read::Body(self.buffer.split().freeze())));
                }
                if self.eof {
                    self.state = ReaderState::Done;
                    return Ok(Some(Read::End));
                }
                Ok(None)
            }
            ReaderState::Done => Ok(None),
        }
    }

    fn poll_head(&mut self) -> Result<Option<Read>, String> {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut response = httparse::Response::new(&mut headers);
        let length = match response.parse(&self.buffer) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) if self.buffer.len() > MAX_HEAD => {
                return Err(format!("the response head exceeds {MAX_HEAD} bytes"));
            }
            Ok(httparse::Status::Partial) if self.eof => {
                return Err("the connection closed before a response head".to_owned());
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(error) => return Err(format!("the response head does not parse: {error}")),
        };
        let status = http::StatusCode::from_u16(response.code.unwrap_or(0))
            .map_err(|error| format!("response status: {error}"))?;
        let mut map = http::HeaderMap::new();
        for header in response.headers.iter() {
            let name = http::HeaderName::from_bytes(header.name.as_bytes())
                .map_err(|error| format!("header {:?}: {error}", header.name))?;
            let value = http::HeaderValue::from_bytes(header.value)
                .map_err(|error| format!("header {name}: {error}"))?;
            map.append(name, value);
        }
        self.buffer.advance(length);
        let chunked = map
            .get(http::header::TRANSFER_ENCODING)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.to_ascii_lowercase().contains("chunked"));
        let declared = map
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok());
        self.state = if chunked {
            let mut dechunker = Dechunker::new();
            dechunker.push(&self.buffer.split());
            if self.eof {
                dechunker.eof();
            }
            ReaderState::Chunked(dechunker)
        } else if let Some(length) = declared {
            ReaderState::Length(length)
        } else {
            ReaderState::UntilClose
        };
        Ok(Some(Read::Head(status, map)))
    }
}

/// What a [`Dechunker`] gives.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// Data of a chunk (a chunk may come in several pieces).
    Data(Bytes),
    /// The last chunk and the trailers were read.
    End,
}

/// The `chunked` transfer coding, sans-IO: push the encoded bytes, poll the data. Chunk sizes
/// of any length are streamed (a piece as soon as its bytes are in); a size line is bounded.
#[derive(Debug, Default)]
pub struct Dechunker {
    input: BytesMut,
    state: ChunkState,
    eof: bool,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Reading a size line (`1a;ext\r\n`).
    #[default]
    Size,
    /// This many data bytes to go in the current chunk.
    Data(u64),
    /// The CRLF after a chunk's data.
    DataEnd,
    /// Trailer lines after the last chunk, until an empty line.
    Trailers,
    Done,
}

impl Dechunker {
    /// A de-framer at the start of a body.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues encoded bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.input.extend_from_slice(bytes);
    }

    /// The encoded input ended.
    pub fn eof(&mut self) {
        self.eof = true;
    }

    /// The next piece, `Ok(None)` when more bytes are needed (or after [`Piece::End`]).
    pub fn poll(&mut self) -> Result<Option<Piece>, String> {
        loop {
            match self.state {
                ChunkState::Size => {
                    let Some(line) = self.line()? else {
                        return self.need_more("a chunk size");
                    };
                    let size = line.split(|byte| *byte == b';').next().unwrap_or_default();
                    let size = std::str::from_utf8(size)
                        .ok()
                        .map(str::trim)
                        .and_then(|size| u64::from_str_radix(size, 16).ok())
                        .ok_or_else(|| {
                            format!("bad chunk size line {:?}", String::from_utf8_lossy(&line))
                        })?;
                    self.state = if size == 0 {
                        ChunkState::Trailers
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(remaining) => {
                    if self.input.is_empty() {
                        return self.need_more("a chunk's data");
                    }
                    let take = self
                        .input
                        .len()
                        .min(usize::try_from(remaining).unwrap_or(usize::MAX));
                    let data = self.input.split_to(take).freeze();
                    let left = remaining - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                    return Ok(Some(Piece::Data(data)));
                }
                ChunkState::DataEnd => {
                    if self.input.len() < 2 {
                        return self.need_more("the end of a chunk");
                    }
                    if &self.input[..2] != b"\r\n" {
                        return Err("a chunk's data is not followed by CRLF".to_owned());
                    }
                    self.input.advance(2);
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let Some(line) = self.line()? else {
                        return self.need_more("the trailers");
                    };
                    if line.is_empty() {
                        self.state = ChunkState::Done;
                        return Ok(Some(Piece::End));
                    }
                }
                ChunkState::Done => return Ok(None),
            }
        }
    }

    /// A CRLF-terminated line from the input (without it), if whole.
    fn line(&mut self) -> Result<Option<Bytes>, String> {
        match self.input.windows(2).position(|pair| pair == b"\r\n") {
            Some(end) => {
                let line = self.input.split_to(end).freeze();
                self.input.advance(2);
                Ok(Some(line))
            }
            None if self.input.len() > MAX_SIZE_LINE => Err(format!(
                "a chunk-size or trailer line exceeds {MAX_SIZE_LINE} bytes"
            )),
            None => Ok(None),
        }
    }

    fn need_more(&self, what: &str) -> Result<Option<Piece>, String> {
        if self.eof {
            Err(format!("the body ended inside {what}"))
        } else {
            Ok(None)
        }
    }
}

/// The most bytes of an error body read.
const MAX_ERROR_BODY: usize = 1024 * 1024;

/// What an [`Exchange`] gives.
#[derive(Debug)]
pub enum Event {
    /// Text of the answer's first choice, as it arrives.
    Text(String),
    /// The whole answer, once the body has ended (a stream cut short is a [`Failure`] instead).
    Answer(Box<gptproto_proto::ChatCompletion>),
    /// The server answered with an error status: for the retry policy to judge.
    Refused(gptproto_proto::ApiError),
}

/// Why an attempt failed while reading its response.
#[derive(Debug)]
pub enum Failure {
    /// The HTTP framing broke (or the connection closed early).
    Http(String),
    /// The core's error: a truncated stream, undecodable data, an error inside the stream.
    Proto(gptproto_proto::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Http(message) => f.write_str(message),
            Self::Proto(error) => std::fmt::Display::fmt(error, f),
        }
    }
}

impl std::error::Error for Failure {}

impl From<gptproto_proto::Error> for Failure {
    fn from(error: gptproto_proto::Error) -> Self {
        Self::Proto(error)
    }
}

/// One attempt of a streamed chat completion, sans-IO: push what the connection gives (and
/// [`eof`](Self::eof) at its end), poll [`Event`]s until `Ok(None)`.
#[derive(Debug, Default)]
pub struct Exchange {
    reader: ResponseReader,
    decoder: Option<gptproto_proto::StreamDecoder>,
    head: Option<(http::StatusCode, http::HeaderMap)>,
    error_body: Vec<u8>,
    body_ended: bool,
    done: bool,
}

impl Exchange {
    /// An attempt whose request was written.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues what the connection gave.
    pub fn push(&mut self, bytes: &[u8]) {
        self.reader.push(bytes);
    }

    /// The connection ended.
    pub fn eof(&mut self) {
        self.reader.eof();
    }

    /// The next event, `Ok(None)` when more bytes are needed (or once the attempt is over).
    pub fn poll(&mut self) -> Result<Option<Event>, Failure> {
        use gptproto_proto::StreamItem;
        loop {
            if self.done {
                return Ok(None);
            }
            // What the decoder already has comes before more of the body.
            if let Some(decoder) = &mut self.decoder {
                match decoder.poll_item()? {
                    Some(StreamItem::Chunk(chunk)) => {
                        if let Some(text) = chunk.text().filter(|text| !text.is_empty()) {
                            return Ok(Some(Event::Text(text.to_owned())));
                        }
                        continue;
                    }
                    Some(_) => continue,
                    None if self.body_ended => {
                        self.done = true;
                        let decoder = self.decoder.take().expect("checked above");
                        return Ok(Some(Event::Answer(Box::new(decoder.into_completion()?))));
                    }
                    None => {}
                }
            }
            match self.reader.poll().map_err(Failure::Http)? {
                None => return Ok(None),
                Some(Read::Head(status, headers)) => {
                    if status.is_success() {
                        self.decoder = Some(gptproto_proto::StreamDecoder::new().accumulating());
                    }
                    self.head = Some((status, headers));
                }
                Some(Read::Body(bytes)) => match &mut self.decoder {
                    Some(decoder) => decoder.push(bytes),
                    None if self.error_body.len() + bytes.len() > MAX_ERROR_BODY => {
                        return Err(Failure::Http(format!(
                            "an error body over {MAX_ERROR_BODY} bytes"
                        )));
                    }
                    None => self.error_body.extend_from_slice(&bytes),
                },
                Some(Read::End) => {
                    self.body_ended = true;
                    if let Some(decoder) = &mut self.decoder {
                        // Its last chunks (a block without its blank line) come out now.
                        decoder.finish();
                        continue;
                    }
                    self.done = true;
                    let (status, headers) = self.head.take().unwrap_or_default();
                    let error =
                        gptproto_proto::exchange::api_error(status, &headers, &self.error_body);
                    return Ok(Some(Event::Refused(error)));
                }
            }
        }
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

/// The command line both examples take: `BASE_URL PROMPT [--ca FILE]`, the key from
/// `GPTPROTO_API_KEY` (or none, for a local server).
#[derive(Debug)]
pub struct Args {
    /// The API's base URL.
    pub base_url: String,
    /// The question.
    pub prompt: String,
    /// A PEM file of CA certificates to trust instead of Mozilla's roots.
    pub ca: Option<String>,
    /// The model (`GPTPROTO_MODEL`, default `qwen-turbo`).
    pub model: String,
}

impl Args {
    /// From the process's arguments and environment; an error says the usage.
    pub fn parse() -> Result<Self, String> {
        let usage = "usage: BASE_URL PROMPT [--ca FILE] (the key in GPTPROTO_API_KEY)";
        let mut words = std::env::args().skip(1);
        let base_url = words.next().ok_or(usage)?;
        let prompt = words.next().ok_or(usage)?;
        let ca = match (words.next().as_deref(), words.next()) {
            (None, _) => None,
            (Some("--ca"), Some(path)) => Some(path),
            _ => return Err(usage.to_owned()),
        };
        let model = std::env::var("GPTPROTO_MODEL").unwrap_or_else(|_| "qwen-turbo".to_owned());
        Ok(Self {
            base_url,
            prompt,
            ca,
            model,
        })
    }

    /// The client configuration (the key from `GPTPROTO_API_KEY`, when set).
    pub fn config(&self) -> Result<gptproto_proto::exchange::ClientConfig, gptproto_proto::Error> {
        let mut config = gptproto_proto::exchange::ClientConfig::builder().base_url(&self.base_url);
        if let Ok(key) = std::env::var("GPTPROTO_API_KEY") {
            config = config.api_key(key);
        }
        config.build()
    }
}

/// What a program sends and where: from the [`Args`].
#[derive(Debug)]
pub struct Plan {
    /// Where the request goes.
    pub target: Target,
    /// rustls' configuration, for `https://`.
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// The streamed chat request, as HTTP/1.1 bytes.
    pub request: Vec<u8>,
}

impl Plan {
    /// The request `args` asks for, built by the core.
    pub fn of(args: &Args) -> Result<Self, Box<dyn std::error::Error>> {
        let target = Target::of(&args.base_url)?;
        let tls = target
            .tls
            .then(|| tls_config(args.ca.as_deref()))
            .transpose()?;
        let chat = gptproto_proto::ChatRequest::new(args.model.as_str())
            .user(args.prompt.as_str())
            .stream(true);
        let request = encode_request(&args.config()?.build_request(&chat)?);
        Ok(Self {
            target,
            tls,
            request,
        })
    }
}

/// Why an attempt gave no answer, in the terms the retry policy judges.
#[derive(Debug)]
pub enum Setback {
    /// The server answered with an error status.
    Refused(gptproto_proto::ApiError),
    /// No connection, or it failed before the request was written: the request was not sent.
    Unreachable(std::io::Error),
}

impl std::fmt::Display for Setback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(error) => std::fmt::Display::fmt(error, f),
            Self::Unreachable(error) => std::fmt::Display::fmt(error, f),
        }
    }
}

/// How an attempt ended.
#[derive(Debug)]
pub enum Outcome {
    /// The answer was printed.
    Answered,
    /// No answer: for the retry policy to judge.
    Setback(Setback),
}

impl Exchange {
    /// Prints what has arrived (the text to stdout, the token count to stderr) and says how the
    /// attempt ended once it has: `Ok(None)` while it needs more bytes.
    pub fn print_progress(
        &mut self,
        program: &str,
    ) -> Result<Option<Outcome>, Box<dyn std::error::Error>> {
        use std::io::Write as _;
        while let Some(event) = self.poll()? {
            match event {
                Event::Text(text) => print!("{text}"),
                Event::Answer(completion) => {
                    println!();
                    if let Some(usage) = completion.usage {
                        eprintln!("{program}: {} tokens", usage.total_tokens);
                    }
                    return Ok(Some(Outcome::Answered));
                }
                Event::Refused(error) => {
                    return Ok(Some(Outcome::Setback(Setback::Refused(error))));
                }
            }
        }
        std::io::stdout().flush()?;
        Ok(None)
    }
}

/// The core's [`RetryPolicy`](gptproto_proto::retry::RetryPolicy) and the retries made so far.
#[derive(Debug)]
pub struct Retries {
    policy: gptproto_proto::retry::RetryPolicy,
    made: u32,
    program: &'static str,
}

impl Retries {
    /// The default policy, for the program named `program` (in what it prints).
    pub fn new(program: &'static str) -> Self {
        Self {
            policy: gptproto_proto::retry::RetryPolicy::default(),
            made: 0,
            program,
        }
    }

    /// How long to wait before trying again after `setback`, or the error to give up with.
    /// The time and the randomness are this program's: the system clock and `fastrand`.
    pub fn after(
        &mut self,
        setback: Setback,
    ) -> Result<std::time::Duration, Box<dyn std::error::Error>> {
        use gptproto_proto::retry::{Failure, RetryDecision};
        let failure = match &setback {
            Setback::Refused(error) => Failure::Response(error),
            Setback::Unreachable(_) => Failure::Connect,
        };
        let now = std::time::SystemTime::now();
        match self
            .policy
            .decide(self.made, &failure, now, fastrand::f64())
        {
            RetryDecision::Retry { after } => {
                eprintln!("{}: {setback}; again in {after:?}", self.program);
                self.made += 1;
                Ok(after)
            }
            RetryDecision::GiveUp { .. } => Err(match setback {
                Setback::Refused(error) => error.into(),
                Setback::Unreachable(error) => error.into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests;
