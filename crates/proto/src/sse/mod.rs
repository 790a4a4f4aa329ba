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

use std::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

pub use event::SseEvent;

use crate::{Error, Text};

/// The default cap on buffered bytes (line and data together): 16 MiB.
pub const DEFAULT_BUFFER_LIMIT: usize = 16 * 1024 * 1024;

const BOM: &[u8; 3] = b"\xEF\xBB\xBF";

/// The allocation unit for lines that arrive split across chunks.
const LINE_SLAB: usize = 8 * 1024;

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

/// A line of the stream, without its terminator.
enum Line {
    Blank,
    Text(Bytes),
    /// A `data:` line that makes a whole event by itself: the block had no other field and a
    /// blank line follows (consumed).
    Event(Bytes),
}

#[derive(Debug, Default)]
enum DataBuffer {
    #[default]
    Empty,
    /// One data line, still a slice of the input.
    One(Bytes),
    /// Several data lines joined with `\n`.
    Many(BytesMut),
}

impl DataBuffer {
    fn len(&self) -> usize {
        match self {
            Self::Empty => 0,
            Self::One(line) => line.len(),
            Self::Many(lines) => lines.len(),
        }
    }

    fn push_line(&mut self, value: Bytes) {
        match self {
            Self::Empty => *self = Self::One(value),
            Self::One(first) => {
                let mut lines = BytesMut::with_capacity(first.len() + 1 + value.len());
                lines.extend_from_slice(first);
                lines.extend_from_slice(b"\n");
                lines.extend_from_slice(&value);
                *self = Self::Many(lines);
            }
            Self::Many(lines) => {
                lines.extend_from_slice(b"\n");
                lines.extend_from_slice(&value);
            }
        }
    }

    fn take(&mut self) -> Option<Text> {
        let bytes = match std::mem::take(self) {
            Self::Empty => return None,
            Self::One(line) => line,
            Self::Many(lines) => lines.freeze(),
        };
        // SAFETY: `push_line` only receives values that `utf8_text` checked or repaired, and
        // joining UTF-8 strings with `\n` keeps them UTF-8.
        Some(unsafe { Text::from_utf8_unchecked(bytes) })
    }
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

    /// Moves on to a queued chunk when the current one is used up. Returns whether there is
    /// input to parse.
    #[inline]
    fn refill(&mut self) -> bool {
        if self.input.is_empty() {
            match self.queued.pop_front() {
                Some(chunk) => self.input = chunk,
                None => return false,
            }
        }
        true
    }

    /// Strips one leading UTF-8 BOM, which may arrive split across chunks. Returns whether the
    /// question is settled (false: the input so far is a strict prefix of the BOM).
    fn settle_bom(&mut self) -> bool {
        let BomState::Matched(mut matched) = self.bom else {
            return true;
        };
        while self.refill() {
            let chunk = &mut self.input;
            while matched < BOM.len() && chunk.first() == Some(&BOM[matched]) {
                chunk.advance(1);
                matched += 1;
            }
            if matched == BOM.len() {
                self.bom = BomState::Settled;
                return true;
            }
            if !chunk.is_empty() {
                // A byte that does not continue the BOM: give back what looked like one.
                return self.settle_without_bom(matched);
            }
        }
        if self.finished {
            return self.settle_without_bom(matched);
        }
        self.bom = BomState::Matched(matched);
        false
    }

    fn settle_without_bom(&mut self, matched: usize) -> bool {
        if matched > 0 {
            let rest = std::mem::replace(&mut self.input, Bytes::from_static(&BOM[..matched]));
            if !rest.is_empty() {
                self.queued.push_front(rest);
            }
        }
        self.bom = BomState::Settled;
        true
    }

    /// The next complete line, without its terminator, or `None` when the input runs out first.
    /// A used-up input slice is let go either way: an empty `Bytes` still holds its buffer (a
    /// whole socket read, often), which a stream waiting for its next event should not keep.
    #[inline]
    fn next_line(&mut self) -> Result<Option<Line>, Error> {
        let line = self.scan_line();
        if self.input.is_empty() {
            self.input = Bytes::new();
        }
        line
    }

    fn scan_line(&mut self) -> Result<Option<Line>, Error> {
        let block_is_empty = self.block_is_empty();
        loop {
            if !self.refill() {
                return Ok(None);
            }
            let chunk = &mut self.input;
            if self.after_cr {
                self.after_cr = false;
                if chunk[0] == b'\n' {
                    chunk.advance(1);
                    if chunk.is_empty() {
                        continue;
                    }
                }
            }
            if self.partial_line.is_empty() && !self.in_comment && matches!(chunk[0], b'\n' | b'\r')
            {
                // A blank line, the end of most events: no search, no slice.
                self.after_cr = consume_terminator(chunk);
                return Ok(Some(Line::Blank));
            }
            let found = memchr::memchr2(b'\n', b'\r', chunk);
            if self.in_comment
                || (found.is_none() && self.partial_line.is_empty() && chunk[0] == b':')
            {
                // A comment (a keep-alive, say) split across chunks: nothing of it is kept.
                self.in_comment = found.is_none();
                match found {
                    None => self.input = Bytes::new(),
                    Some(end) => {
                        chunk.advance(end);
                        self.after_cr = consume_terminator(chunk);
                    }
                }
                continue;
            }
            let Some(end) = found else {
                check_limit(
                    self.buffer_limit,
                    &self.data,
                    self.partial_line.len() + chunk.len(),
                )?;
                if self.partial_line.capacity() - self.partial_line.len() < chunk.len() {
                    // Lines split across chunks are gathered in slabs, not one allocation each.
                    self.partial_line.reserve(chunk.len().max(LINE_SLAB));
                }
                self.partial_line.extend_from_slice(chunk);
                self.input = Bytes::new();
                continue;
            };
            if self.partial_line.is_empty() && chunk[0] == b':' {
                // A whole comment line: skipped, never buffered (so never counted in the limit,
                // as when it arrives split).
                chunk.advance(end);
                self.after_cr = consume_terminator(chunk);
                continue;
            }
            // `data: <value>\n\n` with nothing else pending in the block (nearly every event of a
            // chat stream): the whole event at once, its blank line consumed too.
            let whole_event =
                chunk[end] == b'\n' && chunk.get(end + 1) == Some(&b'\n') && block_is_empty;
            let line = if self.partial_line.is_empty() {
                check_limit(self.buffer_limit, &self.data, end)?;
                chunk.split_to(end)
            } else {
                check_limit(self.buffer_limit, &self.data, self.partial_line.len() + end)?;
                self.partial_line.extend_from_slice(&chunk[..end]);
                chunk.advance(end);
                self.partial_line.split().freeze()
            };
            if whole_event && line.starts_with(b"data:") {
                chunk.advance(2);
                return Ok(Some(Line::Event(line)));
            }
            self.after_cr = consume_terminator(chunk);
            return Ok(Some(if line.is_empty() {
                Line::Blank
            } else {
                Line::Text(line)
            }));
        }
    }

    /// Applies one line to the block being built; a blank line dispatches it.
    fn interpret_line(&mut self, line: Line) -> Option<SseEvent> {
        let mut line = match line {
            Line::Blank => return self.dispatch(),
            Line::Text(line) => line,
            Line::Event(mut line) => {
                let skip = if line.get(5) == Some(&b' ') { 6 } else { 5 };
                line.advance(skip);
                return Some(SseEvent {
                    event_type: None,
                    data: utf8_text(line),
                    last_event_id: self.last_event_id_for_event(),
                    retry: None,
                });
            }
        };
        if line.starts_with(b"data:") {
            let skip = if line.get(5) == Some(&b' ') { 6 } else { 5 };
            line.advance(skip);
            self.push_data(line);
            return None;
        }
        if line[0] == b':' {
            return None;
        }
        let (name, mut value) = match memchr::memchr(b':', &line) {
            Some(colon) => {
                let mut value = line.clone();
                value.advance(colon + 1);
                line.truncate(colon);
                (line, value)
            }
            None => (line, Bytes::new()),
        };
        if value.first() == Some(&b' ') {
            value.advance(1);
        }
        match &name[..] {
            b"data" => self.push_data(value),
            b"event" => self.event_type = (!value.is_empty()).then(|| utf8_text(value)),
            b"id" if !value.contains(&0) => {
                self.id_buffer = utf8_text(value);
                self.id_pending = true;
            }
            b"error" if self.error_field => {
                self.event_type = Some(Text::from_static("error"));
                self.push_data(value);
            }
            b"retry" => {
                if let Some(millis) = parse_retry(&value) {
                    self.reconnection_time = Some(millis);
                    self.block_retry = Some(millis);
                }
            }
            _ => {}
        }
        None
    }

    /// Appends a data value (the leading space already stripped).
    fn push_data(&mut self, value: Bytes) {
        self.data.push_line(utf8_text(value).into_bytes());
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        if self.id_pending {
            self.last_event_id = self.id_buffer.clone();
            self.id_pending = false;
        }
        let event_type = self.event_type.take();
        let retry = self.block_retry.take();
        let data = self.data.take()?;
        Some(SseEvent {
            event_type,
            data,
            last_event_id: self.last_event_id_for_event(),
            retry,
        })
    }

    /// The committed last event id, for an event. Most streams never set one: skip the
    /// (indirect) clone of an empty one.
    fn last_event_id_for_event(&self) -> Text {
        if self.last_event_id.is_empty() {
            Text::new()
        } else {
            self.last_event_id.clone()
        }
    }

    /// Whether the block being built has no field yet (no data, type, id or retry).
    #[inline]
    fn block_is_empty(&self) -> bool {
        matches!(self.data, DataBuffer::Empty)
            && self.event_type.is_none()
            && self.block_retry.is_none()
            && !self.id_pending
    }

    fn discard_unterminated_block(&mut self) {
        let data = self.data.take();
        let partial_line_len = self.partial_line.len();
        self.partial_line.clear();
        self.event_type = None;
        self.block_retry = None;
        if data.is_some() || partial_line_len > 0 {
            self.discarded_at_end = Some(DiscardedAtEnd {
                data,
                partial_line_len,
            });
        }
    }
}

/// Steps over the CR, LF or CRLF that starts `chunk`. Returns whether a CR ended the chunk,
/// in which case an LF starting the next chunk belongs to it.
#[inline]
fn consume_terminator(chunk: &mut Bytes) -> bool {
    let terminator = chunk[0];
    chunk.advance(1);
    if terminator == b'\r' {
        match chunk.first() {
            Some(b'\n') => chunk.advance(1),
            Some(_) => {}
            None => return true,
        }
    }
    false
}

/// Fails when a line of `line_len` bytes plus the data already buffered exceed `limit`.
fn check_limit(limit: usize, data: &DataBuffer, line_len: usize) -> Result<(), Error> {
    if line_len.saturating_add(data.len()) > limit {
        return Err(Error::buffer_limit(limit));
    }
    Ok(())
}

/// UTF-8 text of a field value, invalid sequences replaced with U+FFFD.
fn utf8_text(value: Bytes) -> Text {
    match simdutf8::basic::from_utf8(&value) {
        // SAFETY: just checked.
        Ok(_) => unsafe { Text::from_utf8_unchecked(value) },
        Err(_) => Text::from(String::from_utf8_lossy(&value).into_owned()),
    }
}

/// A `retry:` value counts only when it is all ASCII digits (no sign, space or separator).
fn parse_retry(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    // Digits that overflow are still a number: clamp rather than drop the field.
    Some(value.iter().fold(0u64, |millis, digit| {
        millis
            .saturating_mul(10)
            .saturating_add(u64::from(digit - b'0'))
    }))
}

#[cfg(test)]
mod tests;
