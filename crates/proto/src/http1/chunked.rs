//! [`Dechunker`]: the `chunked` transfer coding, push in, poll out.

use bytes::{Buf, Bytes, BytesMut};

use super::FramingError;

/// The most bytes a chunk-size or trailer line may take.
const MAX_LINE: usize = 1024;
/// The most bytes of trailer lines.
const MAX_TRAILERS: usize = 16 * 1024;

/// What a [`Dechunker`] gives.
#[derive(Debug, PartialEq, Eq)]
pub enum Piece {
    /// Data of a chunk (a chunk may come in several pieces).
    Data(Bytes),
    /// The last chunk and the trailers were read.
    End,
}

/// The `chunked` transfer coding: push the encoded bytes, poll the data. A chunk of any size is
/// streamed (a piece as soon as its bytes are in); a size or trailer line is bounded.
#[derive(Debug, Default)]
pub struct Dechunker {
    input: BytesMut,
    state: ChunkState,
    trailers: usize,
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
        if self.state != ChunkState::Done {
            self.input.extend_from_slice(bytes);
        }
    }

    /// The encoded input ended.
    pub fn eof(&mut self) {
        self.eof = true;
    }

    /// The next piece, `Ok(None)` when more bytes are needed (or after [`Piece::End`]).
    pub fn poll(&mut self) -> Result<Option<Piece>, FramingError> {
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
                        .filter(|size| !size.is_empty() && size.len() <= 16)
                        .and_then(|size| u64::from_str_radix(size, 16).ok())
                        .ok_or_else(|| {
                            FramingError::new(format!(
                                "bad chunk size line {:?}",
                                String::from_utf8_lossy(&line)
                            ))
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
                        return Err(FramingError::new("a chunk's data is not followed by CRLF"));
                    }
                    self.input.advance(2);
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let Some(line) = self.line()? else {
                        return self.need_more("the trailers");
                    };
                    self.trailers += line.len() + 2;
                    if self.trailers > MAX_TRAILERS {
                        return Err(FramingError::new(format!(
                            "the trailers exceed {MAX_TRAILERS} bytes"
                        )));
                    }
                    if line.is_empty() {
                        self.state = ChunkState::Done;
                        self.input = BytesMut::new();
                        return Ok(Some(Piece::End));
                    }
                }
                ChunkState::Done => return Ok(None),
            }
        }
    }

    /// A CRLF-terminated line from the input (without it), if whole.
    fn line(&mut self) -> Result<Option<Bytes>, FramingError> {
        match memchr::memmem::find(&self.input, b"\r\n") {
            Some(end) if end <= MAX_LINE => {
                let line = self.input.split_to(end).freeze();
                self.input.advance(2);
                Ok(Some(line))
            }
            None if self.input.len() <= MAX_LINE => Ok(None),
            _ => Err(FramingError::new(format!(
                "a chunk-size or trailer line exceeds {MAX_LINE} bytes"
            ))),
        }
    }

    fn need_more(&self, what: &str) -> Result<Option<Piece>, FramingError> {
        if self.eof {
            Err(FramingError::new(format!("the body ended inside {what}")))
        } else {
            Ok(None)
        }
    }
}
