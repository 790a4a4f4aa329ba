//! [`ChatStream`]: a streamed answer, read from the connection only as fast as it is consumed.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use gptproto_proto::ChunkRef;
use gptproto_proto::call::Event;
use gptproto_proto::wire::{ChatCompletion, ChatCompletionChunk};

use crate::driver::Driver;
use crate::error::{Error, Result};
use crate::telemetry::CallRecord;

/// A streamed chat completion: a [`Stream`] of [`ChatCompletionChunk`]s.
///
/// Nothing is read from the connection until the stream is polled, and one body frame at a time:
/// a slow consumer slows the server down (TCP backpressure); there is no background task and no
/// unbounded buffer. Dropping the stream closes the connection.
///
/// The stream ends after `[DONE]`, or when the body ends with every choice finished; a body
/// that ends any other way, or breaks, ends the stream with an error for which
/// [`Error::is_truncated`] is true and [`Error::partial`] holds what arrived.
///
/// ```no_run
/// # async fn demo(client: gptproto::Client) -> Result<(), gptproto::Error> {
/// use futures_util::StreamExt;
/// use gptproto::ChatRequest;
///
/// let mut stream = client
///     .chat_stream(ChatRequest::new("qwen-turbo").user("Tell me a story"))
///     .await?;
/// while let Some(chunk) = stream.next().await {
///     print!("{}", chunk?.text().unwrap_or_default());
/// }
/// # Ok(())
/// # }
/// ```
pub struct ChatStream {
    /// The call, whose answer's head came: it reads the body as the stream is polled.
    driver: Driver,
    request_id: Option<String>,
    ended: bool,
    /// The call's telemetry, ended with the stream (dropped before its end: cancelled).
    record: Option<Box<CallRecord>>,
}

impl fmt::Debug for ChatStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChatStream")
            .field("chunks", &self.driver.call().chunks())
            .field("request_id", &self.request_id)
            .field("ended", &self.ended)
            .finish()
    }
}

impl ChatStream {
    /// The stream of a call whose answer's head came, carrying its telemetry record on.
    pub(crate) fn new(driver: Driver, record: Option<Box<CallRecord>>) -> Self {
        let request_id = driver
            .call()
            .response_head()
            .and_then(|(_, headers)| gptproto_proto::exchange::request_id(headers, None));
        let mut stream = Self {
            driver,
            request_id,
            ended: false,
            record,
        };
        stream.note_chunks();
        stream
    }

    /// Tells the record how many chunks were decoded.
    fn note_chunks(&mut self) {
        if let Some(record) = &mut self.record {
            record.chunks_seen(self.driver.call().chunks());
        }
    }

    /// The request id the server gave in the response head, if any.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// How many chunks arrived so far.
    pub fn chunks_received(&self) -> u64 {
        self.driver.call().chunks()
    }

    /// Everything received so far, accumulated.
    pub fn snapshot(&self) -> ChatCompletion {
        self.driver.call().snapshot().unwrap_or_default()
    }

    /// The next chunk, without needing `StreamExt`.
    pub async fn next_chunk(&mut self) -> Option<Result<ChatCompletionChunk>> {
        std::future::poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The next chunk, lent to `look` rather than built: what `look` returns is the item.
    /// Nothing is allocated per chunk unless `look` does — for a consumer that writes each
    /// chunk out (its text to a terminal, a count) and keeps the answer by
    /// [`snapshot`](Self::snapshot) at the end.
    ///
    /// ```no_run
    /// # async fn demo(client: gptproto::Client) -> Result<(), gptproto::Error> {
    /// use gptproto::ChatRequest;
    ///
    /// let mut stream = client
    ///     .chat_stream(ChatRequest::new("qwen-turbo").user("Tell me a story"))
    ///     .await?;
    /// while let Some(shown) = stream
    ///     .next_with(|chunk| print!("{}", chunk.text().unwrap_or_default()))
    ///     .await
    /// {
    ///     shown?; // a broken stream ends with its error
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn next_with<T>(
        &mut self,
        mut look: impl FnMut(ChunkRef<'_>) -> T,
    ) -> Option<Result<T>> {
        std::future::poll_fn(|cx| self.poll_next_with(cx, &mut look)).await
    }

    /// [`next_with`](Self::next_with) as a poll, for a caller that does something of its own
    /// while the stream waits on the network (flushing what it wrote, say).
    pub fn poll_next_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut look: impl FnMut(ChunkRef<'_>) -> T,
    ) -> Poll<Option<Result<T>>> {
        self.poll_with(cx, |chunk| Polled::Item(look(chunk)))
    }

    /// Reads the stream to its end and returns the accumulated answer (decoding chunks in
    /// place, without building owned chunks).
    pub async fn into_completion(mut self) -> Result<ChatCompletion> {
        std::future::poll_fn(|cx| self.poll_to_end(cx)).await?;
        Ok(self.driver.call_mut().take_completion()?)
    }

    /// The text deltas of the first choice, as they arrive.
    pub fn text_deltas(self) -> TextDeltas {
        TextDeltas { stream: self }
    }

    fn poll_to_end(&mut self, cx: &mut Context<'_>) -> Poll<Result<()>> {
        loop {
            match ready!(self.poll_with(cx, |_| Polled::<()>::Skip)) {
                Some(Err(error)) => return Poll::Ready(Err(error)),
                Some(Ok(())) => {}
                None => return Poll::Ready(Ok(())),
            }
        }
    }

    /// The one poll loop of the stream: hands each chunk to `take`, reading the body when the
    /// call needs more of it, until an item, the end, or an error (which ends it).
    fn poll_with<T>(
        &mut self,
        cx: &mut Context<'_>,
        mut take: impl FnMut(ChunkRef<'_>) -> Polled<T>,
    ) -> Poll<Option<Result<T>>> {
        loop {
            if self.ended {
                return Poll::Ready(None);
            }
            let polled = match self.driver.call_mut().poll_event() {
                Some(Event::Chunk(chunk)) => take(chunk),
                Some(Event::Done) => {
                    self.end();
                    return Poll::Ready(None);
                }
                Some(Event::Failed(error)) => {
                    let error = self.driver.error(error);
                    return Poll::Ready(Some(Err(self.fail(error))));
                }
                Some(_) => continue,
                None => {
                    // The chunks of the last read are all handed out: noted once for all.
                    self.note_chunks();
                    ready!(self.poll_input(cx));
                    continue;
                }
            };
            if let Polled::Item(item) = polled {
                if self
                    .record
                    .as_ref()
                    .is_some_and(|record| record.awaits_first_chunk())
                {
                    // The time to the first chunk: when it is handed out.
                    self.note_chunks();
                }
                return Poll::Ready(Some(Ok(item)));
            }
        }
    }

    /// Reads the body on, in the call's span (the transport's events belong to the call), and
    /// tells the record when a read arrived.
    fn poll_input(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(record) = &mut self.record else {
            return self.driver.poll_input(cx);
        };
        let polled = {
            let _entered = record.span().enter();
            self.driver.poll_input(cx)
        };
        if polled.is_ready() {
            record.read_arrived();
        }
        polled
    }

    /// Ends the stream: what is left of the body is dropped (closing the exchange, unless the
    /// body had ended).
    fn end(&mut self) {
        self.ended = true;
        self.note_chunks();
        if let Some(record) = &mut self.record
            && let Some(outline) = self.driver.call().outline()
        {
            record.answered(&outline, || self.driver.call().snapshot());
        }
    }

    /// Ends the stream with `error`.
    fn fail(&mut self, error: Error) -> Error {
        self.ended = true;
        self.note_chunks();
        let span = self.record.as_ref().map(|record| record.span().clone());
        let _entered = span.as_ref().map(tracing::Span::enter);
        tracing::debug!(%error, "stream ended with an error");
        if let Some(record) = &mut self.record {
            record.failed(&error);
        }
        error
    }
}

impl Drop for ChatStream {
    /// The chunks of the last read are noted (a stream dropped before its end is recorded as
    /// cancelled by its record, with every chunk it decoded).
    fn drop(&mut self) {
        self.note_chunks();
    }
}

impl Stream for ChatStream {
    type Item = Result<ChatCompletionChunk>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut()
            .poll_with(cx, |chunk| Polled::Item(chunk.to_chunk()))
    }
}

/// What one look at a chunk gave.
enum Polled<T> {
    /// An item to hand out.
    Item(T),
    /// Nothing to hand out from this chunk: look again.
    Skip,
}

/// The text deltas of a [`ChatStream`]'s first choice, as owned strings.
#[derive(Debug)]
pub struct TextDeltas {
    stream: ChatStream,
}

impl TextDeltas {
    /// The underlying stream (for its snapshot and request id).
    pub fn stream(&self) -> &ChatStream {
        &self.stream
    }
}

impl Stream for TextDeltas {
    type Item = Result<String>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().stream.poll_with(cx, |chunk| {
            match chunk.text().filter(|text| !text.is_empty()) {
                Some(text) => Polled::Item(text.to_owned()),
                None => Polled::Skip,
            }
        })
    }
}
