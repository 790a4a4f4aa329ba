//! HTTP/1.1 for an embedder with a bare socket (feature `http1`): the request a [`Call`] gives,
//! as bytes to write ([`encode_request`]), and the response's bytes, read back into the call
//! ([`ResponseReader`]: the head parsed with `httparse`, the body de-framed: `chunked`,
//! `content-length`, or to the connection's end). Push in, poll out, every buffer bounded; no
//! I/O. One request per connection (`connection: close`): what a connection pool would add is
//! the embedder's.
//!
//! ```
//! use std::time::{Duration, SystemTime};
//! use gptproto_proto::call::{Call, CallOptions, Event, Start};
//! use gptproto_proto::exchange::ClientConfig;
//! use gptproto_proto::http1::{ResponseReader, encode_request};
//! use gptproto_proto::ChatRequest;
//!
//! let config = ClientConfig::builder().base_url("http://127.0.0.1:8080/v1").build()?;
//! let request = ChatRequest::new("m").user("hi").stream(true);
//! let start = Start { now: Duration::ZERO, wall_clock: SystemTime::UNIX_EPOCH, seed: 1 };
//! let mut call = Call::chat(&config, &request, CallOptions::default(), start)?;
//! let transmit = call.poll_transmit().expect("the first attempt");
//! let bytes = encode_request(&transmit.request); // write them to the connection
//! assert!(bytes.starts_with(b"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:8080\r\n"));
//!
//! // What the connection gives, in any pieces:
//! let mut reader = ResponseReader::new();
//! reader.push(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n");
//! reader.push(b"30\r\ndata: {\"choices\":[{\"delta\":{\"content\":\"Hi\"}}]}\n\n\r\n");
//! reader.push(b"e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n");
//! reader.deliver(&mut call);
//! let mut text = String::new();
//! while let Some(event) = call.poll_event() {
//!     if let Event::Chunk(chunk) = event {
//!         text.push_str(chunk.text().unwrap_or(""));
//!     }
//! }
//! assert_eq!(text, "Hi");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! [`Call`]: crate::call::Call

mod chunked;

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};

use crate::call::{Call, IoErrorKind};
pub use chunked::{Dechunker, Piece};

/// The most bytes a response head may take.
pub const MAX_HEAD: usize = 64 * 1024;
/// The most header lines a response head may have.
const MAX_HEADERS: usize = 100;

/// `request` as HTTP/1.1 bytes: the request line, `host`, its headers, `content-length`,
/// `connection: close`, the body.
pub fn encode_request(request: &http::Request<Bytes>) -> Vec<u8> {
    let uri = request.uri();
    let path = uri.path_and_query().map_or("/", |path| path.as_str());
    let body = request.body();
    let mut bytes = Vec::with_capacity(256 + body.len());
    bytes.extend_from_slice(request.method().as_str().as_bytes());
    bytes.push(b' ');
    bytes.extend_from_slice(path.as_bytes());
    bytes.extend_from_slice(b" HTTP/1.1\r\n");
    if let Some(authority) = uri.authority() {
        bytes.extend_from_slice(b"host: ");
        bytes.extend_from_slice(authority.as_str().as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    for (name, value) in request.headers() {
        bytes.extend_from_slice(name.as_str().as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    bytes.extend_from_slice(b"connection: close\r\n\r\n");
    bytes.extend_from_slice(body);
    bytes
}

/// The response's bytes broke HTTP/1.1: a head that does not parse or is too large, bad
/// chunked framing, or a connection that closed inside a head or a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramingError(String);

impl fmt::Display for FramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for FramingError {}

impl FramingError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

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
/// body's pieces, de-framed — or [`deliver`](Self::deliver) them to a call. At the
/// connection's end call [`eof`](Self::eof): a body the framing says is incomplete is then an
/// error, never a shorter body.
#[derive(Debug, Default)]
pub struct ResponseReader {
    buffer: BytesMut,
    state: State,
    eof: bool,
}

#[derive(Debug, Default)]
enum State {
    #[default]
    Head,
    Chunked(Dechunker),
    Length(u64),
    UntilClose,
    Done,
    Failed,
}

impl ResponseReader {
    /// A reader waiting for a response head.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues what the connection gave.
    pub fn push(&mut self, bytes: &[u8]) {
        match &mut self.state {
            State::Chunked(dechunker) => dechunker.push(bytes),
            State::Done | State::Failed => {}
            _ => self.buffer.extend_from_slice(bytes),
        }
    }

    /// The connection ended.
    pub fn eof(&mut self) {
        self.eof = true;
        if let State::Chunked(dechunker) = &mut self.state {
            dechunker.eof();
        }
    }

    /// Whether the head has been read.
    pub fn has_head(&self) -> bool {
        !matches!(self.state, State::Head)
    }

    /// Whether the response is over: its body ended, or its framing broke.
    pub fn is_over(&self) -> bool {
        matches!(self.state, State::Done | State::Failed)
    }

    /// The next thing read, `Ok(None)` when more bytes are needed (or the response is over).
    /// An error is final.
    pub fn poll(&mut self) -> Result<Option<Read>, FramingError> {
        let read = self.next();
        if read.is_err() {
            self.state = State::Failed;
        }
        read
    }

    /// Hands everything read so far to `call`: the head, the body's pieces and its end, or the
    /// framing's error (as the connection's failure, which the call classifies).
    pub fn deliver(&mut self, call: &mut Call) {
        loop {
            let had_head = self.has_head();
            match self.poll() {
                Ok(Some(Read::Head(status, headers))) => call.handle_head(status, headers),
                Ok(Some(Read::Body(bytes))) => call.push_body(bytes),
                Ok(Some(Read::End)) => call.handle_end(),
                Ok(None) => return,
                Err(error) => {
                    let kind = if had_head {
                        IoErrorKind::Body
                    } else {
                        IoErrorKind::Request
                    };
                    return call.handle_io_error(kind, &error.to_string());
                }
            }
        }
    }

    fn next(&mut self) -> Result<Option<Read>, FramingError> {
        match &mut self.state {
            State::Head => self.poll_head(),
            State::Chunked(dechunker) => match dechunker.poll()? {
                Some(Piece::Data(data)) => Ok(Some(Read::Body(data))),
                Some(Piece::End) => {
                    self.state = State::Done;
                    Ok(Some(Read::End))
                }
                None => Ok(None),
            },
            State::Length(0) => {
                self.state = State::Done;
                Ok(Some(Read::End))
            }
            State::Length(remaining) => {
                if self.buffer.is_empty() {
                    return if self.eof {
                        Err(FramingError::new(format!(
                            "the connection closed {remaining} bytes before the body's end"
                        )))
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
            State::UntilClose => {
                if !self.buffer.is_empty() {
                    return Ok(Some(Read::Body(self.buffer.split().freeze())));
                }
                if self.eof {
                    self.state = State::Done;
                    return Ok(Some(Read::End));
                }
                Ok(None)
            }
            State::Done | State::Failed => Ok(None),
        }
    }

    fn poll_head(&mut self) -> Result<Option<Read>, FramingError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let length = match response.parse(&self.buffer) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) if self.buffer.len() > MAX_HEAD => {
                return Err(FramingError::new(format!(
                    "the response head exceeds {MAX_HEAD} bytes"
                )));
            }
            Ok(httparse::Status::Partial) if self.eof => {
                return Err(FramingError::new(
                    "the connection closed before a response head",
                ));
            }
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(error) => {
                return Err(FramingError::new(format!(
                    "the response head does not parse: {error}"
                )));
            }
        };
        let status = http::StatusCode::from_u16(response.code.unwrap_or(0))
            .map_err(|error| FramingError::new(format!("response status: {error}")))?;
        let mut map = http::HeaderMap::with_capacity(response.headers.len());
        for header in response.headers.iter() {
            let name = http::HeaderName::from_bytes(header.name.as_bytes())
                .map_err(|error| FramingError::new(format!("header {:?}: {error}", header.name)))?;
            let value = http::HeaderValue::from_bytes(header.value)
                .map_err(|error| FramingError::new(format!("header {name}: {error}")))?;
            map.append(name, value);
        }
        self.buffer.advance(length);
        // An interim response (100 Continue, 103 Early Hints) is not the answer: skipped.
        if status.is_informational() {
            return self.poll_head();
        }
        let chunked = map
            .get_all(http::header::TRANSFER_ENCODING)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .any(|value| value.to_ascii_lowercase().contains("chunked"));
        let declared = map
            .get(http::header::CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.trim().parse::<u64>());
        self.state = if chunked {
            let mut dechunker = Dechunker::new();
            dechunker.push(&self.buffer.split());
            if self.eof {
                dechunker.eof();
            }
            State::Chunked(dechunker)
        } else if status == http::StatusCode::NO_CONTENT || status == http::StatusCode::NOT_MODIFIED
        {
            State::Length(0)
        } else {
            match declared {
                Some(Ok(length)) => State::Length(length),
                Some(Err(_)) => {
                    return Err(FramingError::new("the content-length is not a number"));
                }
                None => State::UntilClose,
            }
        };
        Ok(Some(Read::Head(status, map)))
    }
}

#[cfg(test)]
mod tests;
