//! [`StreamDecoder`]: from the bytes of a streamed response to typed chunks.
//!
//! On top of the [SSE decoder](crate::sse): `data: [DONE]` ends the stream; an error object in
//! the data (OpenRouter, vLLM, llama.cpp) or an `event: error` becomes an [`ApiError`] with the
//! server's message and code; data that is not a chunk is an error quoting its start; empty
//! data (a keep-alive) is skipped; everything else decodes to a [`ChatCompletionChunk`].
//!
//! At the end of the body it checks that the stream is complete (`[DONE]`, or every choice
//! finished) and reports a truncated one as an error instead of a shorter answer. A last block
//! with no blank line after it is decoded if its data lines are whole (llama.cpp ends with
//! `data: [DONE]\n`); a line cut in the middle means the stream was cut.

use serde_json::Value;

use crate::accumulate::{ChunkAccumulator, StreamProgress};
use crate::api_error::ApiError;
use crate::sse::{SseDecoder, SseEvent};
use crate::wire::ChunkJsonError;
use crate::wire::{
    ChatCompletion, ChatCompletionChunk, ChunkView, ErrorObject, ObjectKind, decode_view_into,
};
use crate::{Error, ErrorKind, Text};

/// What a stream yields.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
// (On 32-bit targets the chunk is small enough for the lint not to fire.)
#[cfg_attr(
    target_pointer_width = "64",
    expect(
        clippy::large_enum_variant,
        reason = "chunks are the common case; boxing would cost an allocation per chunk"
    )
)]
pub enum StreamItem {
    /// A chunk of the answer.
    Chunk(ChatCompletionChunk),
    /// `data: [DONE]`: the server says the answer is complete. Nothing follows but, from a
    /// server that sends its usage last, a chunk of usage alone (`choices: []`); anything else
    /// after it is skipped.
    Done,
}

/// What [`StreamDecoder::poll_view`] lends: a chunk borrowing the decoder's current event.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum ViewItem<'a> {
    /// A chunk of the answer, valid until the decoder is polled again.
    Chunk(ChunkRef<'a>),
    /// `data: [DONE]`.
    Done,
}

/// A chunk lent by a decoder: a [`ChunkView`] (read it through `Deref`: `chunk.text()`,
/// `chunk.choices`) together with the event data it borrows, so that
/// [`to_chunk`](Self::to_chunk) shares that data instead of copying it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkRef<'a> {
    view: &'a ChunkView<'a>,
    source: &'a Text,
}

impl<'a> ChunkRef<'a> {
    /// The view itself.
    pub fn view(&self) -> &'a ChunkView<'a> {
        self.view
    }

    /// The owned chunk: the strings the view borrowed become shared slices of the event's
    /// data (no copy); unescaped ones are new strings.
    pub fn to_chunk(&self) -> ChatCompletionChunk {
        self.view.to_chunk(self.source)
    }
}

impl<'a> std::ops::Deref for ChunkRef<'a> {
    type Target = ChunkView<'a>;

    fn deref(&self) -> &ChunkView<'a> {
        self.view
    }
}

/// What [`StreamDecoder::step`] moved to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A chunk, decoded into the view slot.
    Chunk,
    /// `data: [DONE]`.
    Done,
}

/// Decodes a streamed chat completion: push bytes in, poll [`StreamItem`]s out.
///
/// With [`accumulating`](Self::accumulating) it also folds every chunk into a
/// [`ChatCompletion`] ([`into_completion`](Self::into_completion)), and a truncation error then
/// carries what arrived.
///
/// [`poll_item`](Self::poll_item) yields owned chunks; [`poll_view`](Self::poll_view) lends a
/// borrowed [`ChunkView`] instead, which costs no allocation: the fast path when the chunks are
/// only read (printing text as it arrives, accumulating).
///
/// ```
/// use gptproto_proto::{StreamDecoder, StreamItem};
///
/// let mut decoder = StreamDecoder::new().accumulating();
/// decoder.push(&b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"}}]}\n\n"[..]);
/// decoder.push(&b": keep-alive\n\ndata: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n"[..]);
/// decoder.finish(); // the server closed without [DONE]: complete, every choice finished
/// let mut texts = Vec::new();
/// while let Some(item) = decoder.poll_item()? {
///     if let StreamItem::Chunk(chunk) = item {
///         texts.extend(chunk.text().map(str::to_owned));
///     }
/// }
/// assert_eq!(texts, ["Hi"]);
/// assert_eq!(decoder.into_completion()?.text(), Some("Hi"));
/// # Ok::<(), gptproto_proto::Error>(())
/// ```
#[derive(Debug)]
pub struct StreamDecoder {
    /// The chunk [`poll_view`](Self::poll_view) decoded last. It borrows `current`'s bytes;
    /// its lifetime is erased because a struct cannot name its own field's lifetime.
    ///
    /// Invariants: the view is reset to the default (borrowing nothing) before `current` is
    /// replaced, and it is only lent out behind `&mut self`, so the bytes it borrows outlive
    /// every use. (A `Text`'s bytes live in a shared heap buffer, or are static: moving the
    /// decoder does not move them.) It is boxed, and the box reused, so that moving the
    /// decoder by value never carries references to `current` in its own fields: Rust's
    /// aliasing model (checked by Miri in CI) would then forbid freeing `current` during such
    /// a move, for instance in `into_completion(self)`.
    view: Option<Box<ChunkView<'static>>>,
    sse: SseDecoder,
    progress: StreamProgress,
    accumulator: Option<ChunkAccumulator>,
    /// The data of the event whose chunk was decoded last (what views borrow).
    current: Text,
    /// That event's type when it was not the default `message` (for error messages).
    current_type: Option<Text>,
    end: End,
    failure: Option<Error>,
    /// The most bytes the accumulated answer may hold ([`Self::max_answer_bytes`]).
    max_answer: usize,
}

/// The default of [`StreamDecoder::max_answer_bytes`]: 64 MiB, as much as the facade reads of a
/// non-streamed body.
pub const DEFAULT_MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Still reading.
    Open,
    /// `[DONE]` was yielded; only a chunk of usage is read after it (some servers send the
    /// usage last), the rest is skipped; at most [`AFTER_DONE_LIMIT`] bytes are taken.
    AfterDone { pushed: usize },
    /// Nothing more is read.
    Done,
    /// The body ended; the unterminated tail has been looked at.
    TailHandled,
    /// The body ended and completeness was checked.
    Checked,
}

/// The most bytes a decoder takes after `[DONE]` (then it takes no more).
pub const AFTER_DONE_LIMIT: usize = 64 * 1024;

/// The next thing in the stream, before chunk decoding.
enum Next {
    Done,
    /// A chunk's data, now in `current`.
    Data,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamDecoder {
    /// A decoder with the SSE decoder's default buffer limit.
    pub fn new() -> Self {
        Self::with_sse(SseDecoder::new())
    }

    /// A decoder over a configured [`SseDecoder`] (its buffer limit, say).
    pub fn with_sse(sse: SseDecoder) -> Self {
        Self {
            sse: sse.with_error_field(true),
            progress: StreamProgress::default(),
            accumulator: None,
            view: None,
            current: Text::new(),
            current_type: None,
            end: End::Open,
            failure: None,
            max_answer: DEFAULT_MAX_ANSWER_BYTES,
        }
    }

    /// The most an [`accumulating`](Self::accumulating) decoder keeps of the answer, in bytes
    /// ([`ChunkAccumulator::retained_bytes`]; [`DEFAULT_MAX_ANSWER_BYTES`] by default). A chunk
    /// that takes it past the limit ends the stream with an error for which
    /// [`Error::is_answer_limit`] is true, carrying the answer accumulated so far (that chunk
    /// included): a server that streams forever cannot grow the decoder's memory without bound.
    ///
    /// ```
    /// use gptproto_proto::StreamDecoder;
    ///
    /// let mut decoder = StreamDecoder::new().accumulating().max_answer_bytes(1024);
    /// let chunk = |text: &str| {
    ///     format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n")
    /// };
    /// decoder.push(chunk("Hi"));
    /// decoder.push(chunk(&"and on ".repeat(200)));
    /// let error = loop {
    ///     match decoder.poll_item() {
    ///         Ok(Some(_)) => continue,
    ///         Ok(None) => unreachable!("the second chunk passes the limit"),
    ///         Err(error) => break error,
    ///     }
    /// };
    /// assert!(error.is_answer_limit());
    /// let partial = error.partial().and_then(|answer| answer.text()).unwrap();
    /// assert!(partial.starts_with("Hiand on"));
    /// ```
    #[must_use]
    pub fn max_answer_bytes(mut self, bytes: usize) -> Self {
        self.max_answer = bytes;
        self
    }

    /// Also folds every chunk into a [`ChatCompletion`].
    #[must_use]
    pub fn accumulating(mut self) -> Self {
        let mut accumulator = ChunkAccumulator::new();
        if let Some(n) = self.progress.expected_choices {
            accumulator = accumulator.expect_choices(n);
        }
        self.accumulator = Some(accumulator);
        self
    }

    /// Expects `n` choices (the request's `n`): without `[DONE]`, the stream is complete only
    /// when that many choices finished.
    #[must_use]
    pub fn expect_choices(mut self, n: u32) -> Self {
        self.progress.expected_choices = Some(n);
        self.accumulator = self
            .accumulator
            .map(|accumulator| accumulator.expect_choices(n));
        self
    }

    /// Queues a chunk of the body (not copied).
    pub fn push(&mut self, bytes: impl Into<bytes::Bytes>) {
        match &mut self.end {
            End::Open => self.sse.push(bytes),
            End::AfterDone { pushed } => {
                let bytes = bytes.into();
                *pushed += bytes.len();
                if *pushed <= AFTER_DONE_LIMIT {
                    self.sse.push(bytes);
                } else {
                    self.end = End::Done;
                }
            }
            _ => {}
        }
    }

    /// Signals the end of the body.
    pub fn finish(&mut self) {
        if matches!(self.end, End::Open | End::AfterDone { .. }) {
            self.sse.finish();
        }
    }

    /// The next item, `Ok(None)` when more input is needed or the stream is over, or the error
    /// that ended it (the server's, undecodable data, or truncation at the end of the body).
    /// Errors are final: polling again returns the same error.
    #[must_use = "items are only produced by polling"]
    pub fn poll_item(&mut self) -> Result<Option<StreamItem>, Error> {
        match self.advance()? {
            None => Ok(None),
            Some(Next::Done) => Ok(Some(StreamItem::Done)),
            Some(Next::Data) => {
                let Self {
                    current,
                    current_type,
                    progress,
                    accumulator,
                    failure,
                    max_answer,
                    ..
                } = self;
                let mut view = ChunkView::default();
                decode(
                    current,
                    current_type,
                    &mut view,
                    progress,
                    (accumulator, *max_answer),
                    failure,
                )?;
                let chunk = view.to_chunk(current);
                // The owned chunk shares what it needs of the event's buffer; the decoder lets
                // go of it, so that a stream waiting for its next event holds no socket read
                // it is done with (a few KiB each, with hundreds of streams open).
                *current = Text::default();
                Ok(Some(StreamItem::Chunk(chunk)))
            }
        }
    }

    /// Like [`poll_item`](Self::poll_item), but lends the chunk as a [`ChunkRef`] borrowing
    /// the decoder's current event: no allocation for a typical chunk.
    #[must_use = "items are only produced by polling"]
    pub fn poll_view(&mut self) -> Result<Option<ViewItem<'_>>, Error> {
        Ok(match self.step()? {
            None => None,
            Some(Step::Done) => Some(ViewItem::Done),
            Some(Step::Chunk) => Some(ViewItem::Chunk(self.lent())),
        })
    }

    /// Moves to the next item: a chunk decoded into the view slot (lent by [`lent`](Self::lent)
    /// until the next step), `[DONE]`, or `None` (more input, or the end). Nothing is borrowed,
    /// so that a caller can decide what to do before it borrows the chunk.
    pub(crate) fn step(&mut self) -> Result<Option<Step>, Error> {
        match self.advance()? {
            None => Ok(None),
            Some(Next::Done) => Ok(Some(Step::Done)),
            Some(Next::Data) => {
                let Self {
                    current,
                    current_type,
                    progress,
                    accumulator,
                    failure,
                    view,
                    max_answer,
                    ..
                } = self;
                let slot: &mut ChunkView<'static> = view.get_or_insert_with(Box::default);
                // SAFETY: only the lifetime changes. What is decoded into the slot borrows
                // `current`'s bytes, which stay put until `current` is replaced, and
                // `interpret` and `release` clear `view` first; the view is lent out (by
                // `lent`) for no longer than a borrow of `self`.
                let slot = unsafe {
                    std::mem::transmute::<&mut ChunkView<'static>, &mut ChunkView<'_>>(slot)
                };
                decode(
                    current,
                    current_type,
                    slot,
                    progress,
                    (accumulator, *max_answer),
                    failure,
                )?;
                Ok(Some(Step::Chunk))
            }
        }
    }

    /// The chunk the last [`step`](Self::step) decoded: call it only after a
    /// [`Step::Chunk`].
    pub(crate) fn lent(&self) -> ChunkRef<'_> {
        // The slot's lifetime is narrowed to the borrow of `self` (see `step`).
        let view: &ChunkView<'_> = self
            .view
            .as_deref()
            .expect("a step that gave a chunk decoded it into the slot");
        ChunkRef {
            view,
            source: &self.current,
        }
    }

    /// Moves to the next chunk's data (into `current`), `[DONE]`, or the end.
    fn advance(&mut self) -> Result<Option<Next>, Error> {
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        let result = self.next();
        if let Err(error) = &result {
            self.failure = Some(error.clone());
        }
        result
    }

    #[inline]
    fn next(&mut self) -> Result<Option<Next>, Error> {
        loop {
            match self.end {
                End::Done | End::Checked => return Ok(None),
                End::AfterDone { .. } => return Ok(self.usage_after_done()),
                End::Open => {
                    if let Some(event) = self.sse.poll_event()? {
                        if let Some(next) = self.interpret(event)? {
                            return Ok(Some(next));
                        }
                        continue;
                    }
                    if !self.sse.is_finished() {
                        self.release();
                        return Ok(None);
                    }
                    self.end = End::TailHandled;
                    let tail = self.sse.discarded_at_end().cloned();
                    if let Some(tail) = tail {
                        if tail.partial_line_len > 0 {
                            self.end = End::Checked;
                            return Err(self.truncated());
                        }
                        if let Some(data) = tail.data
                            && let Some(next) = self.interpret(SseEvent::message(data))?
                        {
                            return Ok(Some(next));
                        }
                    }
                }
                End::TailHandled => {
                    self.end = End::Checked;
                    if !self.progress().is_complete() {
                        return Err(self.truncated());
                    }
                }
            }
        }
    }

    /// After `[DONE]`: the next chunk that carries usage and nothing else (`choices: []`),
    /// now in `current`; whatever else comes is skipped (a second `[DONE]`, keep-alives,
    /// data that is not a chunk), and never fails a stream already complete.
    #[cold]
    fn usage_after_done(&mut self) -> Option<Next> {
        loop {
            let data = match self.sse.poll_event() {
                Ok(Some(event)) => event.into_data(),
                // An event the body's end cut before its blank line (as llama.cpp ends its
                // `[DONE]`), once.
                _ if self.sse.is_finished() && matches!(self.end, End::AfterDone { .. }) => {
                    self.end = End::Done;
                    match self
                        .sse
                        .discarded_at_end()
                        .and_then(|tail| tail.data.clone())
                    {
                        Some(data) => data,
                        None => break,
                    }
                }
                _ => break,
            };
            let usage_only =
                serde_json::from_str::<crate::wire::ChatCompletionChunk>(data.trim_ascii())
                    .is_ok_and(|chunk| {
                        chunk.usage.is_some() && chunk.choices.is_empty() && chunk.extra.is_empty()
                    });
            if usage_only {
                if let Some(view) = &mut self.view {
                    **view = ChunkView::default();
                }
                self.current = data;
                self.current_type = None;
                return Some(Next::Data);
            }
        }
        self.release();
        None
    }

    /// Lets go of the last event's data while waiting for input: a stream waiting for its
    /// next event holds no socket read it is done with (a few KiB each, with hundreds of
    /// streams open). The view borrowing it is cleared first (the invariant of `view`).
    fn release(&mut self) {
        if self.current.is_empty() {
            return;
        }
        if let Some(view) = &mut self.view {
            **view = ChunkView::default();
        }
        self.current = Text::default();
    }

    fn truncated(&self) -> Error {
        let partial = self.accumulator.as_ref().map(ChunkAccumulator::snapshot);
        self.progress().truncated(partial)
    }

    /// Sorts an event: `[DONE]`, an error, a keep-alive (skipped), or a chunk's data.
    #[inline]
    fn interpret(&mut self, event: SseEvent) -> Result<Option<Next>, Error> {
        if event.event_type() == "error" {
            return Err(stream_error(event.data()));
        }
        self.current_type = (!event.is_message()).then(|| Text::from(event.event_type()));
        let data = event.into_data();
        let trimmed = data.trim_ascii();
        if trimmed.is_empty() {
            return Ok(None);
        }
        if trimmed == "[DONE]" {
            self.progress.done = true;
            if let Some(accumulator) = &mut self.accumulator {
                accumulator.mark_done();
            }
            self.end = End::AfterDone { pushed: 0 };
            return Ok(Some(Next::Done));
        }
        // The view borrows `current`: reset it before `current` changes (the invariant of
        // `view`); the box stays for the next chunk.
        if let Some(view) = &mut self.view {
            **view = ChunkView::default();
        }
        self.current = data;
        Ok(Some(Next::Data))
    }

    /// What is known of the stream's completeness: the accumulator's when accumulating.
    fn progress(&self) -> &StreamProgress {
        self.accumulator
            .as_ref()
            .map_or(&self.progress, ChunkAccumulator::progress)
    }

    /// Whether `[DONE]` was seen.
    pub fn saw_done(&self) -> bool {
        self.progress().done
    }

    /// How many chunks were decoded.
    pub fn chunks(&self) -> u64 {
        self.progress().chunks
    }

    /// Whether the stream is complete so far: `[DONE]` seen, or every choice finished.
    pub fn is_complete(&self) -> bool {
        self.progress().is_complete()
    }

    /// The underlying SSE decoder (last event id, reconnection time).
    pub fn sse(&self) -> &SseDecoder {
        &self.sse
    }

    /// The outline of the answer so far (id, model, finish reasons, usage: no text copied),
    /// when [`accumulating`](Self::accumulating).
    pub fn outline(&self) -> Option<crate::accumulate::AnswerOutline<'_>> {
        self.accumulator.as_ref().map(ChunkAccumulator::outline)
    }

    /// The accumulated completion so far, when [`accumulating`](Self::accumulating).
    pub fn snapshot(&self) -> Option<ChatCompletion> {
        self.accumulator.as_ref().map(ChunkAccumulator::snapshot)
    }

    /// The accumulated completion: an error if the stream failed or is not complete (the
    /// truncation error carries what arrived). Without [`accumulating`](Self::accumulating),
    /// the completion has no choices.
    pub fn into_completion(self) -> Result<ChatCompletion, Error> {
        if let Some(failure) = self.failure {
            return Err(failure);
        }
        match self.accumulator {
            Some(accumulator) => accumulator.finish(),
            None if self.progress.is_complete() => Ok(ChatCompletion::default()),
            None => Err(self.progress.truncated(Some(ChatCompletion::default()))),
        }
    }
}

/// Decodes the chunk in `current` into `view` (in its default state), checks it for an error
/// object, and folds it in (into the accumulator, if any, whose size is checked against the
/// limit given with it). The decoder's fields are passed apart so that the view can borrow
/// `current`. An error is also kept in `failure`.
#[inline(always)]
fn decode<'a>(
    current: &'a Text,
    current_type: &Option<Text>,
    view: &mut ChunkView<'a>,
    progress: &mut StreamProgress,
    (accumulator, max_answer): (&mut Option<ChunkAccumulator>, usize),
    failure: &mut Option<Error>,
) -> Result<(), Error> {
    let error = match decode_view_into(current, view) {
        Ok(()) => match chunk_error(view) {
            None => {
                // The accumulator keeps its own progress; only track it here without one.
                match accumulator {
                    Some(accumulator) => {
                        accumulator.push_view(view);
                        if accumulator.retained_bytes() > max_answer {
                            answer_limit(accumulator, max_answer)
                        } else {
                            return Ok(());
                        }
                    }
                    None => {
                        progress.observe(view);
                        return Ok(());
                    }
                }
            }
            Some(error) => ApiError::in_stream(error).into(),
        },
        Err(error) => undecodable(current, current_type.as_deref(), error),
    };
    *failure = Some(error.clone());
    Err(error)
}

/// The error for an answer past the limit, with what was accumulated (moved into it: an
/// answer at the limit is not copied).
#[cold]
fn answer_limit(accumulator: &mut ChunkAccumulator, limit: usize) -> Error {
    Error::new(ErrorKind::AnswerLimit {
        limit,
        chunks: accumulator.chunks(),
        partial: Some(Box::new(accumulator.take_snapshot())),
    })
}

/// The error for data that is not a chunk: an error object in another shape, or else
/// undecodable data, quoted.
#[cold]
fn undecodable(data: &Text, event_type: Option<&str>, error: ChunkJsonError) -> Error {
    if let Some(error) = serde_json::from_str::<Value>(data)
        .ok()
        .as_ref()
        .and_then(ErrorObject::from_body)
    {
        return ApiError::in_stream(error).into();
    }
    Error::new(ErrorKind::InvalidStreamData {
        event_type: event_type.unwrap_or("message").to_owned(),
        reason: error.0,
        data_prefix: crate::text::prefix(data),
    })
}

/// The error a chunk carries: a truthy `error` field (OpenRouter, vLLM) or an
/// `"object":"error"` body (older vLLM).
fn chunk_error(chunk: &ChunkView<'_>) -> Option<ErrorObject> {
    if chunk.extra.is_empty() {
        return None;
    }
    if let Some(error) = chunk.extra.get("error") {
        if matches!(error, Value::Null | Value::Bool(false)) {
            return None;
        }
        let mut body = serde_json::Map::new();
        body.insert("error".to_owned(), error.clone());
        return ErrorObject::from_body(&Value::Object(body));
    }
    if chunk.object == ObjectKind::Other("error".to_owned()) {
        let mut body = chunk.extra.as_map().clone();
        body.insert("object".to_owned(), Value::from("error"));
        return ErrorObject::from_body(&Value::Object(body));
    }
    None
}

/// The error an `event: error` reports: its data as an error object, or as the message.
fn stream_error(data: &Text) -> Error {
    let error = serde_json::from_str::<Value>(data)
        .ok()
        .and_then(|value| {
            ErrorObject::from_body(&value).or_else(|| {
                value
                    .is_object()
                    .then(|| serde_json::from_value::<ErrorObject>(value).unwrap_or_default())
            })
        })
        .unwrap_or_else(|| ErrorObject {
            message: data.to_string(),
            ..ErrorObject::default()
        });
    ApiError::in_stream(error).into()
}

#[cfg(test)]
mod tests;
