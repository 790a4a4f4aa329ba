//! An incremental, sans-IO Server-Sent Events decoder ([WHATWG algorithm]).
//!
//! Push bytes in as they arrive, split anywhere (inside a CRLF, a UTF-8 sequence or the BOM),
//! and poll events out. Lines that arrive whole are sliced out of the pushed [`Bytes`] without
//! copying; only lines split across pushes are copied, once, into a reusable buffer.
//!
//! The bytes the decoder holds on to (the current unterminated line plus the data of the event
//! being built) are capped by [`SseDecoder::with_buffer_limit`] (16 MiB by default); going over
//! is an error, never unbounded growth.
//!
//! [WHATWG algorithm]: https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation

mod event;
mod fields;
mod lines;

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

pub use event::SseEvent;

use crate::{Error, Text};
use fields::DataBuffer;

/// The default cap on buffered bytes (line and data together): 16 MiB.
pub const DEFAULT_BUFFER_LIMIT: usize = 16 * 1024 * 1024;

/// Decodes a byte stream into [`SseEvent`]s: push in, poll out.
///
/// Call [`push`](Self::push) with each chunk of the body, then [`poll_event`](Self::poll_event)
/// until it returns `Ok(None)` (it needs more input). At the end of the body call
/// [`finish`](Self::finish) and poll until `Ok(None)` once more. Chunks may be split anywhere.
///
/// ```
/// use gptproto_proto::sse::SseDecoder;
///
/// let mut decoder = SseDecoder::new();
/// let mut data = Vec::new();
/// for chunk in ["data: hel", "lo\r", "\n\r\nda", "ta: [DONE]\n\n"] {
///     decoder.push(chunk.as_bytes().to_vec());
///     while let Some(event) = decoder.poll_event()? {
///         data.push(event.data().to_string());
///     }
/// }
/// decoder.finish();
/// assert!(decoder.poll_event()?.is_none());
/// assert_eq!(data, ["hello", "[DONE]"]);
/// # Ok::<(), gptproto_proto::Error>(())
/// ```
///
/// Errors are final: after the buffer limit is exceeded, every poll returns the same error.
#[derive(Debug)]
pub struct SseDecoder {
    /// The chunk being parsed (empty when there is none).
    input: Bytes,
    /// Chunks pushed while `input` still had bytes; never holds an empty chunk.
    queued: VecDeque<Bytes>,
    /// The start of a line whose terminator has not arrived yet.
    partial_line: BytesMut,
    /// The previous line ended in CR: a leading LF belongs to it.
    after_cr: bool,
    /// Inside a comment line that started in an earlier chunk: skip to its end, keep nothing.
    in_comment: bool,
    /// How many bytes of a leading BOM have been matched, until the BOM question is settled.
    bom: BomState,
    data: DataBuffer,
    event_type: Option<Text>,
    block_retry: Option<u64>,
    id_buffer: Text,
    /// `id_buffer` changed since it was last committed to `last_event_id`.
    id_pending: bool,
    last_event_id: Text,
    reconnection_time: Option<u64>,
    buffer_limit: usize,
    error_field: bool,
    finished: bool,
    discarded_at_end: Option<DiscardedAtEnd>,
    failure: Option<Error>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BomState {
    Matched(usize),
    Settled,
}

/// What an unterminated block at the end of the stream held when the decoder discarded it.
///
/// The WHATWG algorithm drops a block that no blank line closed. Some servers end their stream
/// that way (llama.cpp sends `data: [DONE]\n` and closes), and a stream cut by a network failure
/// ends mid-block too; callers that must tell the two apart look here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscardedAtEnd {
    /// The data lines the block had completed, joined with `\n`.
    pub data: Option<Text>,
    /// The length of a last line that had no terminator (0 when the input ended on one).
    pub partial_line_len: usize,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl SseDecoder {
    /// A decoder with the default buffer limit ([`DEFAULT_BUFFER_LIMIT`]).
    pub fn new() -> Self {
        Self {
            input: Bytes::new(),
            queued: VecDeque::new(),
            partial_line: BytesMut::new(),
            after_cr: false,
            in_comment: false,
            bom: BomState::Matched(0),
            data: DataBuffer::Empty,
            event_type: None,
            block_retry: None,
            id_buffer: Text::new(),
            id_pending: false,
            last_event_id: Text::new(),
            reconnection_time: None,
            buffer_limit: DEFAULT_BUFFER_LIMIT,
            error_field: false,
            finished: false,
            discarded_at_end: None,
            failure: None,
        }
    }

    /// Sets the cap on buffered bytes: the unterminated line plus the data of the event being
    /// built. A stream that needs more fails with an error for which
    /// [`Error::is_buffer_limit`] is true.
    #[must_use]
    pub fn with_buffer_limit(mut self, bytes: usize) -> Self {
        self.buffer_limit = bytes;
        self
    }

    /// The cap on buffered bytes.
    pub fn buffer_limit(&self) -> usize {
        self.buffer_limit
    }

    /// Reads an `error:` field (not part of the standard, which ignores unknown fields) as a
    /// data line of an event of type `error`. Old llama.cpp servers reported failures that way.
    #[must_use]
    pub fn with_error_field(mut self, enabled: bool) -> Self {
        self.error_field = enabled;
        self
    }

    /// Queues a chunk of the stream. The bytes are not copied; nothing is parsed until polled.
    ///
    /// Pushing after [`finish`](Self::finish) is an error, the same in every build: the bytes
    /// are refused and polling returns [`ErrorKind::Misuse`](crate::ErrorKind::Misuse), rather
    /// than the stream silently missing them.
    pub fn push(&mut self, chunk: impl Into<Bytes>) {
        let chunk = chunk.into();
        if self.finished {
            if self.failure.is_none() && !chunk.is_empty() {
                self.failure = Some(Error::misuse("bytes pushed after finish"));
            }
            return;
        }
        if chunk.is_empty() {
            return;
        }
        if self.input.is_empty() {
            self.input = chunk;
        } else {
            self.queued.push_back(chunk);
        }
    }

    /// Queues a copy of `chunk`; prefer [`push`](Self::push) when the bytes are already owned.
    pub fn push_slice(&mut self, chunk: &[u8]) {
        self.push(Bytes::copy_from_slice(chunk));
    }

    /// Signals the end of the stream. Polling then drains what is queued and discards an
    /// unterminated last block (see [`discarded_at_end`](Self::discarded_at_end)).
    pub fn finish(&mut self) {
        self.finished = true;
    }

    /// Whether [`finish`](Self::finish) was called and every queued byte has been polled.
    pub fn is_finished(&self) -> bool {
        self.finished && self.input.is_empty() && self.queued.is_empty()
    }

    /// The next event, `Ok(None)` when more input is needed (or the stream is over), or the
    /// error that ended decoding.
    ///
    /// Call it until it returns `Ok(None)` after every [`push`](Self::push) and after
    /// [`finish`](Self::finish).
    #[must_use = "events are only produced by polling"]
    pub fn poll_event(&mut self) -> Result<Option<SseEvent>, Error> {
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        if self.bom != BomState::Settled && !self.settle_bom() {
            return Ok(None);
        }
        loop {
            match self.next_line() {
                Ok(Some(line)) => {
                    if let Some(event) = self.interpret_line(line) {
                        return Ok(Some(event));
                    }
                }
                Ok(None) => {
                    if self.finished {
                        self.discard_unterminated_block();
                    }
                    return Ok(None);
                }
                Err(error) => {
                    self.input = Bytes::new();
                    self.queued.clear();
                    self.partial_line = BytesMut::new();
                    self.data = DataBuffer::Empty;
                    self.failure = Some(error.clone());
                    return Err(error);
                }
            }
        }
    }

    /// The last event id the stream committed (set by `id:` and committed at the end of a block).
    pub fn last_event_id(&self) -> &Text {
        &self.last_event_id
    }

    /// The reconnection time in milliseconds from the last valid `retry:` field, if any.
    pub fn reconnection_time(&self) -> Option<u64> {
        self.reconnection_time
    }

    /// What the unterminated last block held, once the stream is finished and it was dropped.
    pub fn discarded_at_end(&self) -> Option<&DiscardedAtEnd> {
        self.discarded_at_end.as_ref()
    }
}

#[cfg(test)]
mod tests;
